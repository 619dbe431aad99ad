//! The server's threads: one per open connection (which also runs its
//! gateway calls) and one more per stream in flight, kept for reuse when
//! they finish. Spawning a thread each time cost tens of microseconds; a
//! fixed small pool would starve long streams (1,000 slow streams need 2,000
//! threads), so this pool has no upper bound of its own (`max_connections`
//! bounds it) and only caches idle threads, which exit after `IDLE_KEEP`
//! without work.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long an idle worker waits for the next request before it exits.
const IDLE_KEEP: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct Queue {
    /// Jobs handed to idle workers, each already counted out of `idle`.
    jobs: VecDeque<Job>,
    /// Workers waiting and not yet promised a job.
    idle: usize,
    stopping: bool,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<Queue>,
    wake: Condvar,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// A cached thread pool; [`Workers::join`] waits for every thread.
#[derive(Default)]
pub struct Workers {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Workers {
    /// Runs `job` on an idle worker, or on a new one when none is idle.
    pub fn run(&self, job: Job) -> std::io::Result<()> {
        {
            let mut q = lock(&self.inner.queue);
            if q.idle > 0 {
                q.idle -= 1;
                q.jobs.push_back(job);
                drop(q);
                self.inner.wake.notify_one();
                return Ok(());
            }
        }
        let inner = Arc::clone(&self.inner);
        let handle = std::thread::Builder::new()
            .name("aigw-serve".into())
            .spawn(move || worker(&inner, job))?;
        let mut handles = lock(&self.inner.handles);
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
        Ok(())
    }

    /// Tells idle workers to exit and waits for every worker; the caller has
    /// made sure the running jobs end (their connections are gone).
    pub fn join(&self) {
        lock(&self.inner.queue).stopping = true;
        self.inner.wake.notify_all();
        let handles = std::mem::take(&mut *lock(&self.inner.handles));
        for h in handles {
            let _ = h.join();
        }
    }
}

fn worker(inner: &Inner, first: Job) {
    let mut job = first;
    loop {
        job();
        let mut q = lock(&inner.queue);
        q.idle += 1;
        job = loop {
            if let Some(next) = q.jobs.pop_front() {
                break next;
            }
            if q.stopping {
                q.idle -= 1;
                return;
            }
            let (guard, timeout) = inner
                .wake
                .wait_timeout(q, IDLE_KEEP)
                .unwrap_or_else(|e| e.into_inner());
            q = guard;
            // A job promised to this worker is in `jobs` (taken above on the
            // next turn); with none there, the worker is still counted idle.
            if timeout.timed_out() && q.jobs.is_empty() {
                q.idle -= 1;
                return;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn reuses_an_idle_thread_and_grows_for_concurrent_jobs() {
        let pool = Workers::default();
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        pool.run(Box::new(move || {
            t.send(std::thread::current().id()).unwrap()
        }))
        .unwrap();
        let first = rx.recv().unwrap();
        // Let the worker park as idle before the next job.
        while lock(&pool.inner.queue).idle == 0 {
            std::thread::yield_now();
        }
        let t = tx.clone();
        pool.run(Box::new(move || {
            t.send(std::thread::current().id()).unwrap()
        }))
        .unwrap();
        assert_eq!(
            rx.recv().unwrap(),
            first,
            "the idle thread ran the second job"
        );

        // Ten jobs that wait for each other need ten threads at once.
        let started = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Arc::new(Mutex::new(go_rx));
        for _ in 0..10 {
            let (started, go_rx, tx) = (Arc::clone(&started), Arc::clone(&go_rx), tx.clone());
            pool.run(Box::new(move || {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 10 {
                    std::thread::yield_now();
                }
                let _ = lock(&go_rx).recv();
                tx.send(std::thread::current().id()).unwrap();
            }))
            .unwrap();
        }
        for _ in 0..10 {
            go_tx.send(()).unwrap();
        }
        let ids: std::collections::HashSet<_> = (0..10).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(ids.len(), 10);
        pool.join();
        assert!(lock(&pool.inner.handles).is_empty());
    }
}
