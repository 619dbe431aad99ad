//! Cancel tokens: a flag any thread may raise to stop a send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shareable cancel flag. Clones share the flag. Raising it is permanent:
/// a token is for one send (or a group of sends meant to stop together).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Raises the flag. Idempotent; safe from any thread, including signal
    /// handlers (it is a single atomic store).
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Release);
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}
