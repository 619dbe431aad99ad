//! The C ABI. One module per C type, as in rustls-ffi; this module holds the
//! guards every exported function goes through.
//!
//! Rules every function here keeps:
//! - No panic crosses the boundary: bodies run inside [`ffi_boundary!`], which
//!   turns a panic into `AIGW_ERR_PANIC` (or NULL / 0 where a function
//!   returns no status).
//! - A required pointer that is NULL is `AIGW_ERR_NULL_ARGUMENT`; a string
//!   that is not UTF-8 is `AIGW_ERR_INVALID_ARGUMENT`.
//! - Out-parameters are written only on `AIGW_OK`.

#![allow(non_camel_case_types)]
// Exported functions take raw pointers from C, which cannot see Rust's
// `unsafe`; each documents its pointer contract in the header instead.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod cancel;
pub mod error;
pub mod gateway;
pub mod logs;
pub mod request;
pub mod response;
pub mod server;
pub mod status;
pub mod stream;

use std::ffi::{CStr, c_char};

pub use status::aigw_status;

/// Runs a body, turning a panic into `$on_panic`.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
}
pub(crate) use ffi_boundary;

/// A failure at the boundary: a status and a message for `aigw_error`.
/// Core errors convert into it; NULL pointers, which the core never sees,
/// are made here.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: aigw_status,
    pub message: String,
}

impl Failure {
    pub fn null(what: &str) -> Failure {
        Failure {
            status: aigw_status::AIGW_ERR_NULL_ARGUMENT,
            message: format!("{what} is NULL"),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            status: aigw_status::AIGW_ERR_INVALID_ARGUMENT,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Failure {
        Failure {
            status: aigw_status::from_kind(e.kind),
            message: e.message,
        }
    }
}

/// Borrows a required C string as UTF-8 text. `what` names the argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not valid UTF-8")))
}

/// Borrows a required pointer as a reference.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// Borrows a required pointer mutably.
///
/// # Safety
/// `ptr` is NULL or points to a live `T`, not aliased, for `'a`.
pub(crate) unsafe fn mut_arg<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// Ends a call that hands out a value: on success writes it through `out`
/// and returns `AIGW_OK` (out-parameters are written only then); on failure
/// stores an `aigw_error` through `error`, if that is not NULL, and returns
/// the failure's status.
///
/// # Safety
/// `out` is writable when `result` is `Ok` (callers check it for NULL
/// first); `error` is NULL or writable.
pub(crate) unsafe fn finish<T>(
    result: Result<T, Failure>,
    out: *mut T,
    error: *mut *mut error::aigw_error,
) -> aigw_status {
    match result {
        Ok(value) => {
            // SAFETY: per the caller's contract.
            unsafe { out.write(value) };
            aigw_status::AIGW_OK
        }
        // SAFETY: per the caller's contract.
        Err(failure) => unsafe { error::report(error, failure) },
    }
}
