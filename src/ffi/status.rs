//! Status codes, their names, and the library version.

use std::ffi::c_char;

use crate::error::ErrorKind;
use crate::ffi::ffi_boundary;

/// The result of a call. `AIGW_OK` is zero; every other value is a failure
/// whose meaning is fixed by the ABI. Functions that can fail for rich
/// reasons also offer an `aigw_error` with a message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum aigw_status {
    /// Success.
    AIGW_OK = 0,
    /// A required pointer was NULL.
    AIGW_ERR_NULL_ARGUMENT = 1,
    /// Bad UTF-8, bad header name, or a value out of range.
    AIGW_ERR_INVALID_ARGUMENT = 2,
    /// The gateway config JSON is malformed or inconsistent.
    AIGW_ERR_INVALID_CONFIG = 3,
    /// Bad path, malformed Universal body, or bad `cf-aig-*` value.
    AIGW_ERR_INVALID_REQUEST = 4,
    /// The provider slug is not built in and not configured.
    AIGW_ERR_UNKNOWN_PROVIDER = 5,
    /// No upstream could be reached (DNS, refused, reset).
    AIGW_ERR_CONNECT = 6,
    /// Every attempt timed out.
    AIGW_ERR_TIMEOUT = 7,
    /// TLS handshake or certificate failure.
    AIGW_ERR_TLS = 8,
    /// The upstream spoke malformed HTTP.
    AIGW_ERR_PROTOCOL = 9,
    /// The gateway's own rate limit refused the request.
    AIGW_ERR_RATE_LIMITED = 10,
    /// A request or response body is over the configured limit.
    AIGW_ERR_BODY_TOO_LARGE = 11,
    /// A callback returned non-zero.
    AIGW_ERR_ABORTED = 12,
    /// The request's cancel handle was triggered.
    AIGW_ERR_CANCELLED = 13,
    /// A stream broke after data was delivered.
    AIGW_ERR_STREAM_INTERRUPTED = 14,
    /// An internal bug, caught at the boundary. Please report it.
    AIGW_ERR_PANIC = 15,
}

impl aigw_status {
    pub(crate) fn from_kind(kind: ErrorKind) -> aigw_status {
        use aigw_status::*;
        match kind {
            ErrorKind::InvalidArgument => AIGW_ERR_INVALID_ARGUMENT,
            ErrorKind::InvalidConfig => AIGW_ERR_INVALID_CONFIG,
            ErrorKind::InvalidRequest => AIGW_ERR_INVALID_REQUEST,
            ErrorKind::UnknownProvider => AIGW_ERR_UNKNOWN_PROVIDER,
            ErrorKind::Connect => AIGW_ERR_CONNECT,
            ErrorKind::Timeout => AIGW_ERR_TIMEOUT,
            ErrorKind::Tls => AIGW_ERR_TLS,
            ErrorKind::Protocol => AIGW_ERR_PROTOCOL,
            ErrorKind::RateLimited => AIGW_ERR_RATE_LIMITED,
            ErrorKind::BodyTooLarge => AIGW_ERR_BODY_TOO_LARGE,
            ErrorKind::Aborted => AIGW_ERR_ABORTED,
            ErrorKind::Cancelled => AIGW_ERR_CANCELLED,
            ErrorKind::StreamInterrupted => AIGW_ERR_STREAM_INTERRUPTED,
        }
    }
}

/// A short English description of a status code.
///
/// Returns static text: never NULL, never to be freed. Unknown codes give
/// "unknown status". Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_status_str(status: std::ffi::c_int) -> *const c_char {
    ffi_boundary!(on_panic(c"internal error".as_ptr()) {
        match status {
            0 => c"ok".as_ptr(),
            1 => c"a required pointer was NULL".as_ptr(),
            2 => c"invalid argument".as_ptr(),
            3 => c"invalid gateway config".as_ptr(),
            4 => c"invalid request".as_ptr(),
            5 => c"unknown provider".as_ptr(),
            6 => c"could not connect to any upstream".as_ptr(),
            7 => c"timed out".as_ptr(),
            8 => c"TLS failure".as_ptr(),
            9 => c"upstream protocol error".as_ptr(),
            10 => c"rate limited by the gateway".as_ptr(),
            11 => c"body too large".as_ptr(),
            12 => c"aborted by a callback".as_ptr(),
            13 => c"cancelled".as_ptr(),
            14 => c"stream interrupted".as_ptr(),
            15 => c"internal error (panic caught)".as_ptr(),
            _ => c"unknown status".as_ptr(),
        }
    })
}

/// The library version, e.g. "0.1.0": the same as `AIGW_VERSION_MAJOR`,
/// `AIGW_VERSION_MINOR` and `AIGW_VERSION_PATCH` when the header matches the
/// library. Static text: never NULL, never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_version() -> *const c_char {
    ffi_boundary!(on_panic(c"".as_ptr()) {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
    })
}
