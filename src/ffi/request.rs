//! `aigw_request`: method, gateway path, headers, body and cancel handle.

use std::ffi::c_char;

use crate::call::request::Request;
use crate::ffi::cancel::aigw_cancel;
use crate::ffi::{Failure, aigw_status, ffi_boundary, finish, mut_arg, ref_arg, str_arg};

/// A request to send through a gateway.
///
/// Made by `aigw_request_new`, freed by `aigw_request_free`. Not thread-safe
/// while being changed: set its parts from one thread. Sending only reads it,
/// so one finished request may be sent again, and several threads may send
/// the same request at once as long as none changes it meanwhile.
pub struct aigw_request {
    pub(crate) inner: Request,
}

fn status_of(result: Result<(), Failure>) -> aigw_status {
    match result {
        Ok(()) => aigw_status::AIGW_OK,
        Err(f) => f.status,
    }
}

/// Creates a request.
///
/// `method` is an HTTP method ("POST", "GET", ...). `path` is what follows
/// the gateway root in the hosted gateway's URL: "" or "/" for the Universal
/// Endpoint (POST), or "<provider>/<endpoint>[?query]", such as
/// "openai/chat/completions". The path is checked when the request is sent.
/// Both strings are copied. On `AIGW_OK`, `*out` receives a request to free
/// with `aigw_request_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_new(
    method: *const c_char,
    path: *const c_char,
    out: *mut *mut aigw_request,
) -> aigw_status {
    ffi_boundary!(aigw_status::AIGW_ERR_PANIC, {
        let result = (|| {
            // SAFETY: NULL or NUL-terminated strings per the contract.
            let method = unsafe { str_arg(method, "method") }?;
            let path = unsafe { str_arg(path, "path") }?;
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            let request = Request::new(method, path)?;
            Ok(Box::into_raw(Box::new(aigw_request { inner: request })))
        })();
        // SAFETY: `out` was checked non-NULL; no error object is asked for.
        unsafe { finish(result, out, std::ptr::null_mut()) }
    })
}

/// Adds a header. Setting a name again adds another value.
///
/// Headers are forwarded upstream, except the gateway's own `cf-aig-*`
/// controls (consumed, never forwarded) and the transport's framing headers
/// (Host, Content-Length, Transfer-Encoding, Connection, ...). Name and value
/// are copied. A name that is not an HTTP token, or a value holding CR, LF,
/// NUL or other control characters, is `AIGW_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_set_header(
    req: *mut aigw_request,
    name: *const c_char,
    value: *const c_char,
) -> aigw_status {
    ffi_boundary!(aigw_status::AIGW_ERR_PANIC, {
        status_of((|| {
            // SAFETY: NULL or live handle / C strings per the contract.
            let req = unsafe { mut_arg(req, "req") }?;
            let name = unsafe { str_arg(name, "name") }?;
            let value = unsafe { str_arg(value, "value") }?;
            req.inner.set_header(name, value)?;
            Ok(())
        })())
    })
}

/// Sets the body, replacing any earlier one. The bytes are copied.
/// `body` may be NULL only when `len` is 0 (an empty body). A `len` over
/// `PTRDIFF_MAX` is `AIGW_ERR_INVALID_ARGUMENT`; one the process cannot
/// allocate is `AIGW_ERR_BODY_TOO_LARGE` (the earlier body is kept).
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_set_body(
    req: *mut aigw_request,
    body: *const u8,
    len: usize,
) -> aigw_status {
    ffi_boundary!(aigw_status::AIGW_ERR_PANIC, {
        status_of((|| {
            // SAFETY: NULL or a live handle per the contract.
            let req = unsafe { mut_arg(req, "req") }?;
            if len == 0 {
                req.inner.body.clear();
                return Ok(());
            }
            if body.is_null() {
                return Err(Failure::null("body"));
            }
            if len > isize::MAX as usize {
                return Err(Failure::invalid("len is too large"));
            }
            // Room first: a length no buffer could hold is a status, and
            // the caller's bytes are not touched before it is known.
            let mut copy = crate::alloc::try_with_capacity(len, "the request body")?;
            // SAFETY: `body` points to `len` readable bytes per the contract.
            let bytes = unsafe { std::slice::from_raw_parts(body, len) };
            copy.extend_from_slice(bytes);
            req.inner.body = copy;
            Ok(())
        })())
    })
}

/// Attaches a cancel handle: triggering it makes a send of this request
/// return `AIGW_ERR_CANCELLED`. NULL `c` detaches any handle. The request
/// keeps its own reference, so `c` may be freed at any time; triggering is
/// permanent, so use a new handle for each send meant to be cancelled alone.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_set_cancel(
    req: *mut aigw_request,
    c: *const aigw_cancel,
) -> aigw_status {
    ffi_boundary!(aigw_status::AIGW_ERR_PANIC, {
        status_of((|| {
            // SAFETY: NULL or live handles per the contract.
            let req = unsafe { mut_arg(req, "req") }?;
            req.inner.cancel = if c.is_null() {
                None
            } else {
                Some(unsafe { ref_arg(c, "c") }?.token.clone())
            };
            Ok(())
        })())
    })
}

/// Frees a request. NULL is a no-op. Responses already received stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_free(req: *mut aigw_request) {
    ffi_boundary!((), {
        if !req.is_null() {
            // SAFETY: made by aigw_request_new, freed once by the caller.
            drop(unsafe { Box::from_raw(req) });
        }
    })
}
