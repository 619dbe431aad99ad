//! What the socket layer must watch while one send runs on this thread: its
//! cancel token and its deadlines.
//!
//! ureq pools connections per agent and gives a transport no handle on the
//! request it is serving, so per-request state cannot ride on the socket.
//! A send is blocking and runs entirely on the calling thread, so the state
//! lives in a thread-local stack for exactly the duration of the send
//! ([`IoScope`]). It is a stack because a callback may itself send. Nothing
//! outlives the call, so a caller that moves between threads between calls
//! (Go) is unaffected.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::transport::cancel::CancelToken;

/// Which of the scope's limits stopped the I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    Cancelled,
    /// The response head did not arrive in time (`requestTimeout`).
    FirstByteDeadline,
    /// No bytes arrived for the idle timeout while streaming a body.
    Idle,
}

#[derive(Debug, Default)]
pub struct IoState {
    cancel: Option<CancelToken>,
    deadline: Cell<Option<Instant>>,
    idle: Cell<Option<Duration>>,
    fired: Cell<Option<Fired>>,
}

impl IoState {
    /// Deadline for the response head; cleared once it has arrived.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }

    /// Longest silence allowed between reads; `None` waits forever.
    pub fn set_idle_timeout(&self, idle: Option<Duration>) {
        self.idle.set(idle);
    }

    /// What stopped the I/O, if one of our limits did. Cleared by
    /// [`IoState::reset_fired`] before each attempt.
    pub fn fired(&self) -> Option<Fired> {
        if self.is_cancelled() {
            return Some(Fired::Cancelled);
        }
        self.fired.get()
    }

    pub fn reset_fired(&self) {
        self.fired.set(None);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_triggered)
    }

    /// Checks the limits for a wait that started at `wait_started`.
    /// Returns how long the next blocking slice may last, or what fired.
    pub fn next_slice(&self, wait_started: Instant, for_read: bool) -> Result<Duration, Fired> {
        if self.is_cancelled() {
            self.fired.set(Some(Fired::Cancelled));
            return Err(Fired::Cancelled);
        }
        let now = Instant::now();
        let mut slice = POLL_SLICE;
        if let Some(deadline) = self.deadline.get() {
            if now >= deadline {
                self.fired.set(Some(Fired::FirstByteDeadline));
                return Err(Fired::FirstByteDeadline);
            }
            slice = slice.min(deadline - now);
        }
        if for_read {
            if let Some(idle) = self.idle.get() {
                let until = wait_started + idle;
                if now >= until {
                    self.fired.set(Some(Fired::Idle));
                    return Err(Fired::Idle);
                }
                slice = slice.min(until - now);
            }
        }
        // A zero timeout means "block forever" to setsockopt.
        Ok(slice.max(Duration::from_millis(1)))
    }
}

/// Longest a blocking socket call waits before looking at the cancel flag
/// again. Bounds cancel latency (the contract promises 100 ms) at the cost of
/// waking a silent socket 40 times a second.
pub const POLL_SLICE: Duration = Duration::from_millis(25);

thread_local! {
    static STACK: RefCell<Vec<Rc<IoState>>> = const { RefCell::new(Vec::new()) };
}

/// Installs an [`IoState`] for this thread until dropped.
pub struct IoScope {
    state: Rc<IoState>,
}

impl IoScope {
    pub fn enter(cancel: Option<CancelToken>) -> IoScope {
        let state = Rc::new(IoState {
            cancel,
            ..IoState::default()
        });
        STACK.with(|s| s.borrow_mut().push(state.clone()));
        IoScope { state }
    }

    pub fn state(&self) -> &IoState {
        &self.state
    }
}

impl Drop for IoScope {
    fn drop(&mut self) {
        STACK.with(|s| {
            let mut stack = s.borrow_mut();
            if let Some(pos) = stack.iter().rposition(|x| Rc::ptr_eq(x, &self.state)) {
                stack.remove(pos);
            }
        });
    }
}

/// The innermost scope's state on this thread, if a send is running.
pub fn current() -> Option<Rc<IoState>> {
    STACK.with(|s| s.borrow().last().cloned())
}
