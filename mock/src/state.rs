//! State shared by the accept loop, every connection thread and the
//! [`MockServer`](crate::MockServer) handle: request counters, the last
//! recorded request, the stop signal and the open connections.

use std::collections::{BTreeMap, HashMap};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::RecordedRequest;

#[derive(Default)]
struct Counters {
    total: u64,
    by_key: HashMap<String, u64>,
    last: Option<RecordedRequest>,
}

#[derive(Default)]
pub struct Shared {
    counters: Mutex<Counters>,
    stopped: Mutex<bool>,
    /// Signalled when `stopped` becomes true, so stalls end at once.
    stop_signal: Condvar,
    /// Clones of every open connection, so stopping can shut them down and
    /// wake threads blocked reading an idle keep-alive connection.
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
}

/// How a [`Shared::pause`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Paused {
    Elapsed,
    Stopped,
    ClientGone,
}

/// A poisoned lock only means another connection thread panicked; the data
/// (plain counters) is still usable, and the mock must keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Counts a request and records it as the last one. Returns the total so
    /// far and the count for `key`, both including this request.
    pub fn count(&self, key: &str, request: RecordedRequest) -> (u64, u64) {
        let mut c = lock(&self.counters);
        c.total += 1;
        let for_key = c.by_key.entry(key.to_string()).or_insert(0);
        *for_key += 1;
        let for_key = *for_key;
        c.last = Some(request);
        (c.total, for_key)
    }

    pub fn total(&self) -> u64 {
        lock(&self.counters).total
    }

    pub fn for_key(&self, key: &str) -> u64 {
        lock(&self.counters).by_key.get(key).copied().unwrap_or(0)
    }

    pub fn last(&self) -> Option<RecordedRequest> {
        lock(&self.counters).last.clone()
    }

    /// Total and per-key counts, keys sorted for stable output.
    pub fn snapshot(&self) -> (u64, BTreeMap<String, u64>) {
        let c = lock(&self.counters);
        (
            c.total,
            c.by_key.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        )
    }

    pub fn reset(&self) {
        *lock(&self.counters) = Counters::default();
    }

    pub fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Marks the server stopped, wakes every pause, and shuts down every open
    /// connection so blocked reads and writes return.
    pub fn stop(&self) {
        *lock(&self.stopped) = true;
        self.stop_signal.notify_all();
    }

    pub fn shut_down_connections(&self) {
        for stream in lock(&self.connections).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Remembers an open connection; returns its id for [`Self::forget`].
    pub fn register(&self, stream: &TcpStream) -> Option<u64> {
        let clone = stream.try_clone().ok()?;
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        lock(&self.connections).insert(id, clone);
        Some(id)
    }

    pub fn open_connections(&self) -> usize {
        lock(&self.connections).len()
    }

    pub fn forget(&self, id: u64) {
        lock(&self.connections).remove(&id);
    }

    /// Waits up to `duration`, ending early when the server stops or, if
    /// `client` is given, when the client closes its side.
    pub fn pause(&self, duration: Duration, client: Option<&TcpStream>) -> Paused {
        // A huge duration (Duration::MAX) means "until stopped or gone".
        let deadline = Instant::now().checked_add(duration);
        loop {
            {
                let mut stopped = lock(&self.stopped);
                if *stopped {
                    return Paused::Stopped;
                }
                let left = match deadline {
                    Some(d) => d.saturating_duration_since(Instant::now()),
                    None => Duration::MAX,
                };
                if left.is_zero() {
                    return Paused::Elapsed;
                }
                // Wake regularly to look at the client; a stop wakes us at once.
                let slice = left.min(Duration::from_millis(50));
                stopped = self
                    .stop_signal
                    .wait_timeout(stopped, slice)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                if *stopped {
                    return Paused::Stopped;
                }
            }
            if client.is_some_and(client_gone) {
                return Paused::ClientGone;
            }
        }
    }
}

/// Whether the peer has closed (or reset) the connection, without consuming
/// anything it may have sent.
fn client_gone(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let gone = match stream.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).is_err() || gone
}
