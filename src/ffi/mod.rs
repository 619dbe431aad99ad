//! The C ABI. One module per C type, as in rustls-ffi; this module holds the
//! guards every exported function goes through. It may use every core module;
//! nothing outside `ffi` uses it.
//!
//! Every exported function is written out (signature and doc comment stay
//! visible to cbindgen, which reads the source without expanding macros) and
//! its whole body is one [`ffi_boundary!`] call, so the function is its
//! argument conversion and nothing else:
//! - No panic crosses the boundary: the macro turns one into the return
//!   type's [`PanicValue`] (`AIGW_ERR_PANIC`, NULL, 0, nothing), unless the
//!   function documents another value (`on_panic(...)`).
//! - Pointers are taken through [`try_ref!`], [`try_mut!`], [`try_str!`],
//!   [`try_opt_str!`] and [`try_out!`]: a required pointer that is NULL is
//!   `AIGW_ERR_NULL_ARGUMENT` naming the argument; a string that is not UTF-8
//!   is `AIGW_ERR_INVALID_ARGUMENT`.
//! - Handles are boxed and freed through [`Handle`]; only [`ExclusiveHandle`]
//!   types (documented as not shared between threads) can be borrowed `&mut`,
//!   so a `&mut` to a shareable handle cannot be written.
//! - Out-parameters are written only on `AIGW_OK` ([`Out::put`] is the last
//!   step of a body).
//!
//! `tests/ffi_boundary.rs` checks that every exported function keeps to this.

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

/// What an exported function returns when its body panicked, chosen by its
/// return type (as rustls-ffi's `PanicOrDefault`): a status says
/// `AIGW_ERR_PANIC`, a pointer is NULL, a count is 0, `()` is nothing.
pub(crate) trait PanicValue {
    fn on_panic() -> Self;
}

impl PanicValue for aigw_status {
    fn on_panic() -> Self {
        aigw_status::AIGW_ERR_PANIC
    }
}

impl PanicValue for () {
    fn on_panic() -> Self {}
}

impl<T> PanicValue for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicValue for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

macro_rules! zero_on_panic {
    ($($t:ty),*) => {
        $(impl PanicValue for $t {
            fn on_panic() -> Self {
                0
            }
        })*
    };
}
zero_on_panic!(u16, i32, usize);

/// The whole body of an exported function: runs it, catching any panic.
///
/// - `ffi_boundary!({ ... })`: the block yields the return value; a panic
///   gives the return type's [`PanicValue`].
/// - `ffi_boundary!(on_panic(v) { ... })`: the same, for a function that
///   documents another value (a never-NULL string, a -1).
/// - `ffi_boundary!(status(error) { ... })` and `ffi_boundary!(status { ... })`:
///   for functions returning `aigw_status`; the block returns
///   `Result<(), Failure>` (so `?` works), `Ok` is `AIGW_OK`, a failure is
///   its status and, with `error`, an `aigw_error` stored through that
///   `aigw_error **` when it is not NULL.
macro_rules! ffi_boundary {
    (status($error:expr) $body:block) => {
        $crate::ffi::ffi_boundary!({
            // Made outside the `unsafe` block, so the body is checked as
            // safe code.
            let body = || -> Result<(), $crate::ffi::Failure> { $body };
            // SAFETY: `error` is NULL or a writable `aigw_error *` slot, the
            // contract of every function that takes one.
            unsafe { $crate::ffi::reply($error, body) }
        })
    };
    (status $body:block) => {
        $crate::ffi::ffi_boundary!(status(::std::ptr::null_mut()) $body)
    };
    (on_panic($on_panic:expr) $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $crate::ffi::PanicValue::on_panic(),
        }
    };
}
pub(crate) use ffi_boundary;

/// A C type handed out as `Box::into_raw` and freed once by its `*_free`
/// (rustls-ffi's `Castable` with box ownership, reduced to what we use).
/// Shared borrows only: see [`ExclusiveHandle`] for `&mut`.
pub(crate) trait Handle: Sized {
    /// Moves the value to the heap and hands it to C.
    fn into_raw(self) -> *mut Self {
        Box::into_raw(Box::new(self))
    }

    /// Drops a handle made by [`Handle::into_raw`]; NULL is a no-op.
    ///
    /// # Safety
    /// `ptr` is NULL or came from `into_raw` and is not used afterwards.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            // SAFETY: per the caller's contract.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }

    /// Borrows a required handle; NULL is `AIGW_ERR_NULL_ARGUMENT`.
    ///
    /// # Safety
    /// `ptr` is NULL or points to a live `Self` for `'a`.
    unsafe fn try_ref<'a>(ptr: *const Self, what: &str) -> Result<&'a Self, Failure> {
        // SAFETY: per the caller's contract.
        unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
    }
}

/// A handle documented as used by one thread at a time while it changes
/// (a request), so an exported function may borrow it `&mut`.
pub(crate) trait ExclusiveHandle: Handle {
    /// Borrows a required handle mutably; NULL is `AIGW_ERR_NULL_ARGUMENT`.
    ///
    /// # Safety
    /// `ptr` is NULL or points to a live `Self`, not aliased, for `'a`.
    unsafe fn try_mut<'a>(ptr: *mut Self, what: &str) -> Result<&'a mut Self, Failure> {
        // SAFETY: per the caller's contract.
        unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
    }
}

/// `try_ref!(ptr)`: borrows a required handle argument (`Result<&T, Failure>`,
/// the failure naming the argument).
macro_rules! try_ref {
    ($ptr:ident) => {
        // SAFETY: every exported function's contract: a handle argument is
        // NULL or a live handle from this library for the whole call.
        unsafe { $crate::ffi::Handle::try_ref($ptr, stringify!($ptr)) }
    };
}
pub(crate) use try_ref;

/// `try_mut!(ptr)`: borrows a required [`ExclusiveHandle`] argument mutably.
macro_rules! try_mut {
    ($ptr:ident) => {
        // SAFETY: as for `try_ref!`; an exclusive handle is documented as
        // not used by another thread while it is being changed.
        unsafe { $crate::ffi::ExclusiveHandle::try_mut($ptr, stringify!($ptr)) }
    };
}
pub(crate) use try_mut;

/// `try_str!(ptr)`: borrows a required C string argument as UTF-8.
macro_rules! try_str {
    ($ptr:ident) => {
        // SAFETY: a string argument is NULL or NUL-terminated and lives
        // through the call.
        unsafe { $crate::ffi::str_arg($ptr, stringify!($ptr)) }
    };
}
pub(crate) use try_str;

/// `try_opt_str!(ptr)`: an optional C string argument (NULL is `None`).
macro_rules! try_opt_str {
    ($ptr:ident) => {
        if $ptr.is_null() {
            Ok(None)
        } else {
            $crate::ffi::try_str!($ptr).map(Some)
        }
    };
}
pub(crate) use try_opt_str;

/// `try_out!(ptr)`: a required out-parameter, checked non-NULL.
macro_rules! try_out {
    ($ptr:ident) => {
        $crate::ffi::Out::new($ptr, stringify!($ptr))
    };
}
pub(crate) use try_out;

/// An out-parameter checked to be non-NULL. Writing it is the last step of
/// a successful call, so out-parameters are written only on `AIGW_OK`.
pub(crate) struct Out<T>(std::ptr::NonNull<T>);

impl<T> Out<T> {
    pub fn new(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
        std::ptr::NonNull::new(ptr)
            .map(Out)
            .ok_or_else(|| Failure::null(what))
    }

    /// Writes the value.
    pub fn put(self, value: T) {
        // SAFETY: non-NULL, and writable per every exported function's
        // contract for its out-parameters.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Ends a status call: `Ok` is `AIGW_OK`; a failure is stored through
/// `error`, if that is not NULL, and its status returned.
///
/// # Safety
/// `error` is NULL or writable.
pub(crate) unsafe fn reply(
    error: *mut *mut error::aigw_error,
    body: impl FnOnce() -> Result<(), Failure>,
) -> aigw_status {
    match body() {
        Ok(()) => aigw_status::AIGW_OK,
        // SAFETY: per the caller's contract.
        Err(failure) => unsafe { error::report(error, failure) },
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    // Functions shaped like exported ones, whose bodies panic or fail.
    extern "C" fn panics_with_status() -> aigw_status {
        ffi_boundary!(status {
            panic!("a bug");
        })
    }

    extern "C" fn panics_with_pointer() -> *const c_char {
        ffi_boundary!({
            if std::hint::black_box(true) {
                panic!("a bug");
            }
            c"never".as_ptr()
        })
    }

    extern "C" fn panics_with_count() -> usize {
        ffi_boundary!({ panic!("a bug") })
    }

    extern "C" fn panics_with_documented_value() -> i32 {
        ffi_boundary!(on_panic(-1) { panic!("a bug") })
    }

    extern "C" fn fails(
        fail: bool,
        out: *mut u32,
        error: *mut *mut error::aigw_error,
    ) -> aigw_status {
        ffi_boundary!(status(error) {
            let out = try_out!(out)?;
            if fail {
                return Err(Failure::invalid("asked to fail"));
            }
            out.put(7);
            Ok(())
        })
    }

    #[test]
    fn a_panic_becomes_the_return_types_value() {
        assert_eq!(panics_with_status(), aigw_status::AIGW_ERR_PANIC);
        assert!(panics_with_pointer().is_null());
        assert_eq!(panics_with_count(), 0);
        assert_eq!(panics_with_documented_value(), -1);
    }

    #[test]
    fn status_calls_write_out_only_on_ok_and_report_failures() {
        let mut out = 0u32;
        let mut err: *mut error::aigw_error = std::ptr::null_mut();
        assert_eq!(
            fails(true, &mut out, &mut err),
            aigw_status::AIGW_ERR_INVALID_ARGUMENT
        );
        assert_eq!(out, 0);
        assert_eq!(
            error::aigw_error_status(err),
            aigw_status::AIGW_ERR_INVALID_ARGUMENT
        );
        // SAFETY: a live error; its message lives until it is freed.
        let text = unsafe { CStr::from_ptr(error::aigw_error_message(err)) };
        assert_eq!(text, c"asked to fail");
        error::aigw_error_free(err);

        assert_eq!(
            fails(false, std::ptr::null_mut(), std::ptr::null_mut()),
            aigw_status::AIGW_ERR_NULL_ARGUMENT
        );
        let mut untouched: *mut error::aigw_error = std::ptr::null_mut();
        assert_eq!(fails(false, &mut out, &mut untouched), aigw_status::AIGW_OK);
        assert_eq!(out, 7);
        assert!(untouched.is_null(), "no error object on success");
    }
}
