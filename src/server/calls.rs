//! The gateway calls running on connection threads (see `connection`): no
//! one polls their client socket meanwhile, so this registry cancels them
//! when the client leaves (one epoll set, watched by one thread that sleeps
//! until a client hangs up) or when the server's grace is over.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::call::cancel::CancelToken;

/// The epoll key that tells the watcher to exit.
const STOP: u64 = u64::MAX;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One watched connection: the call running on it, and whether its client
/// has hung up (a later call on it is cancelled at once). A detached call
/// (see [`Watch::detach`]) has an entry of its own, listed in `detached`
/// of its connection's entry.
#[derive(Default)]
struct Entry {
    running: Option<CancelToken>,
    hung_up: bool,
    detached: Vec<u64>,
}

#[derive(Default)]
struct State {
    next: u64,
    conns: HashMap<u64, Entry>,
    cancelled: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Client sockets of connections running calls, keyed by connection;
    /// `None` when epoll is not available (then only the grace cancels).
    epoll: Option<OwnedFd>,
    /// Written once to stop the watcher.
    stop: Option<OwnedFd>,
}

impl Inner {
    fn hung_up(&self, key: u64) {
        let mut s = lock(&self.state);
        let Some(entry) = s.conns.get_mut(&key) else {
            return;
        };
        entry.hung_up = true;
        if let Some(token) = &entry.running {
            token.trigger();
        }
        let detached = entry.detached.clone();
        for token in detached
            .iter()
            .filter_map(|k| s.conns.get(k)?.running.as_ref())
        {
            token.trigger();
        }
    }
}

/// See the module comment.
pub struct Calls {
    inner: Arc<Inner>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

/// A connection known to [`Calls`], from [`Calls::watch`]. Its socket is
/// put in the epoll set at its first call and stays there across the
/// connection's calls (two `epoll_ctl` per connection, not per request),
/// until the connection ends, wherever it moves: the server's hyper
/// connections do not read a client mid-message (`half_close`), so this
/// is what notices a hang-up while a stream goes out. Dropped before the
/// socket closes, so the removal never hits a reused fd.
pub struct Watch {
    inner: Arc<Inner>,
    key: u64,
    fd: RawFd,
    in_epoll: bool,
}

fn epoll_ctl(epoll: &OwnedFd, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> bool {
    let mut event = libc::epoll_event { events, u64: key };
    // SAFETY: a valid epoll fd, an fd the caller keeps open, a valid event.
    unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut event) == 0 }
}

impl Calls {
    /// Starts the watcher thread; without epoll or a thread, calls are
    /// still registered and cancelled at the end of the grace.
    pub fn new() -> Calls {
        // SAFETY: plain syscalls; each result is checked before use.
        let (epoll, stop) = unsafe {
            let e = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let s = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            (
                (e >= 0).then(|| OwnedFd::from_raw_fd(e)),
                (s >= 0).then(|| OwnedFd::from_raw_fd(s)),
            )
        };
        let (epoll, stop) = match (epoll, stop) {
            (Some(e), Some(s))
                if epoll_ctl(
                    &e,
                    libc::EPOLL_CTL_ADD,
                    s.as_raw_fd(),
                    libc::EPOLLIN as u32,
                    STOP,
                ) =>
            {
                (Some(e), Some(s))
            }
            _ => (None, None),
        };
        let inner = Arc::new(Inner {
            state: Mutex::default(),
            epoll,
            stop,
        });
        let watcher = inner.epoll.as_ref().and_then(|_| {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("aigw-serve-hangups".into())
                .spawn(move || watch(&inner))
                .ok()
        });
        Calls {
            inner,
            watcher: Mutex::new(watcher),
        }
    }

    /// Registers a connection whose client socket is `client`.
    pub fn watch(&self, client: RawFd) -> Watch {
        let key = {
            let mut s = lock(&self.inner.state);
            s.next += 1;
            let key = s.next;
            s.conns.insert(key, Entry::default());
            key
        };
        Watch {
            inner: Arc::clone(&self.inner),
            key,
            fd: client,
            in_epoll: false,
        }
    }
}

impl Watch {
    /// A call is about to run on this connection's thread: cancelled if the
    /// client hangs up (or already has, or the grace is over).
    pub fn start(&mut self, token: CancelToken) {
        {
            let mut s = lock(&self.inner.state);
            let cancelled = s.cancelled;
            let entry = s.conns.entry(self.key).or_default();
            if cancelled || entry.hung_up {
                token.trigger();
            }
            entry.running = Some(token);
        }
        if !self.in_epoll {
            // One report is enough: the connection is done with then.
            let events = (libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
            self.in_epoll = self
                .inner
                .epoll
                .as_ref()
                .is_some_and(|e| epoll_ctl(e, libc::EPOLL_CTL_ADD, self.fd, events, self.key));
        }
    }

    /// The call has ended.
    pub fn end(&mut self) {
        if let Some(entry) = lock(&self.inner.state).conns.get_mut(&self.key) {
            entry.running = None;
        }
    }

    /// The connection is about to move to another thread while its call
    /// goes on here (a stream): the running call moves to an entry of its
    /// own, held by the returned guard until the call ends, so that the
    /// connection's next call can start meanwhile. The client's hang-up and
    /// the grace still cancel it.
    pub fn detach(&mut self) -> Detached {
        let mut s = lock(&self.inner.state);
        s.next += 1;
        let key = s.next;
        let running = match s.conns.get_mut(&self.key) {
            Some(e) => {
                e.detached.push(key);
                e.running.take()
            }
            None => None,
        };
        s.conns.insert(
            key,
            Entry {
                running,
                ..Entry::default()
            },
        );
        Detached {
            inner: Arc::clone(&self.inner),
            key,
            parent: self.key,
        }
    }

    fn unwatch(&mut self) {
        if let (true, Some(epoll)) = (self.in_epoll, &self.inner.epoll) {
            epoll_ctl(epoll, libc::EPOLL_CTL_DEL, self.fd, 0, 0);
        }
        self.in_epoll = false;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.unwatch();
        lock(&self.inner.state).conns.remove(&self.key);
    }
}

/// A call whose connection moved away (see [`Watch::detach`]); the call is
/// forgotten when this is dropped.
pub struct Detached {
    inner: Arc<Inner>,
    key: u64,
    parent: u64,
}

impl Drop for Detached {
    fn drop(&mut self) {
        let mut s = lock(&self.inner.state);
        s.conns.remove(&self.key);
        if let Some(parent) = s.conns.get_mut(&self.parent) {
            parent.detached.retain(|k| *k != self.key);
        }
    }
}

impl Calls {
    /// Cancels every running call and any started later.
    pub fn cancel_all(&self) {
        let mut s = lock(&self.inner.state);
        s.cancelled = true;
        for token in s.conns.values().filter_map(|e| e.running.as_ref()) {
            token.trigger();
        }
    }

    /// Ends the watcher thread and waits for it.
    pub fn stop(&self) {
        if let Some(stop) = &self.inner.stop {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd.
            unsafe { libc::write(stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        if let Some(h) = lock(&self.watcher).take() {
            let _ = h.join();
        }
    }
}

fn watch(inner: &Inner) {
    let Some(epoll) = &inner.epoll else { return };
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
    loop {
        // SAFETY: a valid epoll fd and a buffer of `events.len()` events.
        let n = unsafe {
            libc::epoll_wait(
                epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                -1,
            )
        };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for event in &events[..n as usize] {
            let key = event.u64;
            if key == STOP {
                return;
            }
            inner.hung_up(key);
        }
    }
}

impl Drop for Calls {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hang_up_cancels_the_running_and_the_detached_calls() {
        let calls = Calls::new();
        let mut watch = calls.watch(-1);
        let stream = CancelToken::new();
        watch.start(stream.clone());
        let detached = watch.detach();
        // The connection's next call starts while the stream goes on.
        watch.end();
        let next = CancelToken::new();
        watch.start(next.clone());
        calls.inner.hung_up(watch.key);
        assert!(stream.is_triggered() && next.is_triggered());

        // A call that ended is no longer listed with its connection.
        let key = detached.key;
        drop(detached);
        let s = lock(&calls.inner.state);
        assert!(!s.conns.contains_key(&key));
        assert!(s.conns[&watch.key].detached.is_empty());
    }
}
