//! `aigw_gateway`: a configured gateway, and `aigw_send`.

use std::ffi::c_char;

use crate::call::gateway::Gateway;
use crate::config::Config;
use crate::ffi::error::aigw_error;
use crate::ffi::request::aigw_request;
use crate::ffi::response::aigw_response;
use crate::ffi::{Handle, aigw_status, ffi_boundary, try_opt_str, try_out, try_ref};

/// A configured gateway: providers, defaults, and a pool of upstream
/// connections.
///
/// Made by `aigw_gateway_new`, freed by `aigw_gateway_free`. Thread-safe: any
/// number of threads may send through one gateway at once, and they share its
/// connection pool. Freeing it while another thread is still sending through
/// it is a bug in the caller (as with any handle).
pub struct aigw_gateway {
    pub(crate) inner: Gateway,
}

// Shared between threads, so `Handle` (shared borrows) and never
// `ExclusiveHandle`.
impl Handle for aigw_gateway {}

/// Creates a gateway from a JSON config.
///
/// `config_json` may be NULL, "" or "{}" for the defaults; README lists
/// the keys. Unknown keys and
/// out-of-range values are `AIGW_ERR_INVALID_CONFIG`, with a message naming
/// the key. On `AIGW_OK`, `*out` receives a gateway the caller frees with
/// `aigw_gateway_free`. On failure `*out` is untouched and, if `error` is not
/// NULL, `*error` receives an error to free with `aigw_error_free`.
/// The config string is only read during the call.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_gateway_new(
    config_json: *const c_char,
    out: *mut *mut aigw_gateway,
    error: *mut *mut aigw_error,
) -> aigw_status {
    ffi_boundary!(status(error) {
        let out = try_out!(out)?;
        let config = Config::parse(try_opt_str!(config_json)?)?;
        let gateway = Gateway::new(config)?;
        out.put(aigw_gateway { inner: gateway }.into_raw());
        Ok(())
    })
}

/// Frees a gateway and closes its pooled connections. NULL is a no-op.
/// No call may be using the gateway, on any thread.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_gateway_free(gw: *mut aigw_gateway) {
    ffi_boundary!({
        // SAFETY: NULL or made by aigw_gateway_new, freed once by the caller.
        unsafe { aigw_gateway::free(gw) }
    })
}

/// Sends a request through the gateway and reads the whole response.
///
/// Blocks the calling thread. Returns `AIGW_OK` whenever an upstream HTTP
/// response is available, whatever its status (like `curl_easy_perform`);
/// for the Universal Endpoint, when every step failed and at least one
/// produced an HTTP response, that is the most recent one. Fails when no step
/// produced a response (`AIGW_ERR_CONNECT`, `AIGW_ERR_TIMEOUT`, ...; the
/// message lists each step's outcome), when the request is invalid, when a
/// body is over its limit, or when the request's cancel handle fires
/// (`AIGW_ERR_CANCELLED`).
///
/// On `AIGW_OK`, `*out` receives a response the caller frees with
/// `aigw_response_free`. `req` is only read: it may be sent again or freed
/// once this returns. On failure `*out` is untouched and `*error` (if `error`
/// is not NULL) receives an error to free with `aigw_error_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_send(
    gw: *const aigw_gateway,
    req: *const aigw_request,
    out: *mut *mut aigw_response,
    error: *mut *mut aigw_error,
) -> aigw_status {
    ffi_boundary!(status(error) {
        let gw = try_ref!(gw)?;
        let req = try_ref!(req)?;
        let out = try_out!(out)?;
        let response = gw.inner.send(&req.inner)?;
        out.put(aigw_response::new(response).into_raw());
        Ok(())
    })
}
