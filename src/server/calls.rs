//! The gateway calls running on connection threads (see `connection`): no
//! one polls their client socket meanwhile, so this registry cancels them
//! when the client leaves (one epoll set, watched by one thread that sleeps
//! until a client hangs up) or when the server's grace is over.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::call::cancel::CancelToken;

/// The epoll key that tells the watcher to exit.
const STOP: u64 = u64::MAX;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct State {
    next: u64,
    running: Vec<(u64, CancelToken)>,
    cancelled: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Client sockets of running calls, keyed by call id; `None` when epoll
    /// is not available (then only the grace cancels).
    epoll: Option<OwnedFd>,
    /// Written once to stop the watcher.
    stop: Option<OwnedFd>,
}

impl Inner {
    fn cancel(&self, id: u64) {
        let s = lock(&self.state);
        if let Some((_, token)) = s.running.iter().find(|(n, _)| *n == id) {
            token.trigger();
        }
    }
}

/// See the module comment.
pub struct Calls {
    inner: Arc<Inner>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

/// A call registered with [`Calls::add`].
pub struct CallId {
    id: u64,
    /// The client socket, while it is watched.
    fd: Option<RawFd>,
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

    /// Registers a call about to run, cancelled if `client` hangs up.
    pub fn add(&self, token: CancelToken, client: RawFd) -> CallId {
        let id = {
            let mut s = lock(&self.inner.state);
            if s.cancelled {
                token.trigger();
            }
            s.next += 1;
            let id = s.next;
            s.running.push((id, token));
            id
        };
        // One report is enough: the call is cancelled then.
        let events = (libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
        let fd = self
            .inner
            .epoll
            .as_ref()
            .filter(|e| epoll_ctl(e, libc::EPOLL_CTL_ADD, client, events, id))
            .map(|_| client);
        CallId { id, fd }
    }

    /// Stops watching the call's client (its connection is about to move
    /// to a thread that polls it, or to close).
    pub fn unwatch(&self, call: &mut CallId) {
        if let (Some(fd), Some(epoll)) = (call.fd.take(), &self.inner.epoll) {
            epoll_ctl(epoll, libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
    }

    /// The call has ended.
    pub fn remove(&self, mut call: CallId) {
        self.unwatch(&mut call);
        let mut s = lock(&self.inner.state);
        if let Some(i) = s.running.iter().position(|(n, _)| *n == call.id) {
            s.running.swap_remove(i);
        }
    }

    /// Cancels every running call and any started later.
    pub fn cancel_all(&self) {
        let mut s = lock(&self.inner.state);
        s.cancelled = true;
        for (_, token) in &s.running {
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
            inner.cancel(key);
        }
    }
}

impl Drop for Calls {
    fn drop(&mut self) {
        self.stop();
    }
}
