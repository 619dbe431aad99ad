//! `aigw_request`: method, gateway path, headers, body and cancel handle.

use std::ffi::c_char;

use crate::call::request::Request;
use crate::ffi::cancel::aigw_cancel;
use crate::ffi::{
    ExclusiveHandle, Failure, Handle, aigw_status, ffi_boundary, try_mut, try_out, try_ref, try_str,
};

/// A request to send through a gateway.
///
/// Made by `aigw_request_new`, freed by `aigw_request_free`. Not thread-safe
/// while being changed: set its parts from one thread. Sending only reads it,
/// so one finished request may be sent again, and several threads may send
/// the same request at once as long as none changes it meanwhile.
pub struct aigw_request {
    pub(crate) inner: Request,
}

impl Handle for aigw_request {}
// Changed from one thread at a time (documented above), so its setters may
// borrow it `&mut`.
impl ExclusiveHandle for aigw_request {}

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
    ffi_boundary!(status {
        let method = try_str!(method)?;
        let path = try_str!(path)?;
        let out = try_out!(out)?;
        let request = Request::new(method, path)?;
        out.put(aigw_request { inner: request }.into_raw());
        Ok(())
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
    ffi_boundary!(status {
        let req = try_mut!(req)?;
        let name = try_str!(name)?;
        let value = try_str!(value)?;
        req.inner.set_header(name, value)?;
        Ok(())
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
    ffi_boundary!(status {
        let req = try_mut!(req)?;
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
        // Room first: a length no buffer could hold is a status, and the
        // caller's bytes are not touched before it is known.
        let mut copy = crate::alloc::try_with_capacity(len, "the request body")?;
        // SAFETY: `body` points to `len` readable bytes per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(body, len) };
        copy.extend_from_slice(bytes);
        req.inner.body = copy;
        Ok(())
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
    ffi_boundary!(status {
        let req = try_mut!(req)?;
        // NULL detaches, so `c` is optional here.
        req.inner.cancel = try_ref!(c).ok().map(|c| c.token.clone());
        Ok(())
    })
}

/// Frees a request. NULL is a no-op. Responses already received stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_request_free(req: *mut aigw_request) {
    ffi_boundary!({
        // SAFETY: NULL or made by aigw_request_new, freed once by the caller.
        unsafe { aigw_request::free(req) }
    })
}
