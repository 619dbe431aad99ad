//! `aigw_error`: a failure's status and message, handed to the caller.

use std::ffi::{CString, c_char};

use crate::ffi::{Failure, Handle, aigw_status, ffi_boundary, try_ref};

/// Why a call failed: a status and a message naming what failed (step,
/// provider, host, the timeout that fired). Messages never contain
/// credentials.
///
/// Made by the library when a call that takes `aigw_error **error` fails and
/// `error` is not NULL; owned by the caller, who frees it with
/// `aigw_error_free`. Immutable: may be read from any thread.
pub struct aigw_error {
    status: aigw_status,
    message: CString,
}

impl Handle for aigw_error {}

impl aigw_error {
    fn new(failure: Failure) -> aigw_error {
        // A message never holds NUL bytes (we write them), but be certain.
        let message = CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
        aigw_error {
            status: failure.status,
            message,
        }
    }
}

/// Stores `failure` through `out` (if the caller asked for errors) and
/// returns its status.
///
/// # Safety
/// `out` is NULL or a valid, writable `aigw_error *` slot.
pub(crate) unsafe fn report(out: *mut *mut aigw_error, failure: Failure) -> aigw_status {
    let status = failure.status;
    if !out.is_null() {
        // SAFETY: `out` is writable per the caller's contract.
        unsafe { out.write(aigw_error::new(failure).into_raw()) };
    }
    status
}

/// The status of an error; `AIGW_ERR_NULL_ARGUMENT` if `e` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_error_status(e: *const aigw_error) -> aigw_status {
    ffi_boundary!({ try_ref!(e).map_or(aigw_status::AIGW_ERR_NULL_ARGUMENT, |e| e.status) })
}

/// The error's message, NUL-terminated UTF-8.
///
/// Borrowed from `e`: valid until `aigw_error_free(e)`. Never NULL: if `e` is
/// NULL, returns a static empty string.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_error_message(e: *const aigw_error) -> *const c_char {
    ffi_boundary!(on_panic(c"".as_ptr()) {
        try_ref!(e).map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// Frees an error. NULL is a no-op. `e` must not be used afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_error_free(e: *mut aigw_error) {
    ffi_boundary!({
        // SAFETY: NULL or made by `report`, freed once by the caller.
        unsafe { aigw_error::free(e) }
    })
}
