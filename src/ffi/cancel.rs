//! `aigw_cancel`: a handle that stops a send from any thread.

use crate::call::cancel::CancelToken;
use crate::ffi::{Handle, ffi_boundary};

/// A cancel handle. Attach it to a request with `aigw_request_set_cancel`;
/// `aigw_cancel_trigger` from any thread then makes the send return
/// `AIGW_ERR_CANCELLED` within about 100 ms, even while the upstream is
/// silent, and no further callbacks run.
///
/// Made by `aigw_cancel_new`, freed by `aigw_cancel_free`. Thread-safe.
pub struct aigw_cancel {
    pub(crate) token: CancelToken,
}

impl Handle for aigw_cancel {}

/// Creates an untriggered cancel handle, or NULL if memory ran out (or on an
/// internal error). Free it with `aigw_cancel_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_cancel_new() -> *mut aigw_cancel {
    ffi_boundary!({
        aigw_cancel {
            token: CancelToken::new(),
        }
        .into_raw()
    })
}

/// Triggers the handle: sends using it stop. Any thread, any time,
/// idempotent; a NULL handle is a no-op. Async-signal-safe (a single atomic
/// store), so it may be called from a SIGINT handler.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_cancel_trigger(c: *const aigw_cancel) {
    // No ffi_boundary (tests/ffi_boundary.rs lists this exception): nothing
    // here can panic, and catch_unwind is not async-signal-safe territory we
    // want to enter from a signal handler.
    // Nor try_ref!: its failure message allocates.
    // SAFETY: NULL or a live handle per the contract.
    if let Some(c) = unsafe { c.as_ref() } {
        c.token.trigger();
    }
}

/// Frees a cancel handle. NULL is a no-op. Requests it was attached to keep
/// their own reference, so this is safe while they are in use; the handle
/// itself must not be used (or triggered) afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_cancel_free(c: *mut aigw_cancel) {
    ffi_boundary!({
        // SAFETY: NULL or made by aigw_cancel_new, freed once by the caller.
        unsafe { aigw_cancel::free(c) }
    })
}
