//! `aigw_server`: the loopback HTTP server over a gateway.

use std::ffi::c_char;

use crate::ffi::error::aigw_error;
use crate::ffi::gateway::aigw_gateway;
use crate::ffi::{Handle, aigw_status, ffi_boundary, try_opt_str, try_out, try_ref};
use crate::server::{Server, ServerOptions};

/// A running HTTP server that sends every request it receives through one
/// gateway, as `aigw_send_stream` would, and writes the answer back.
///
/// Made by `aigw_server_start`, freed (and stopped) by `aigw_server_free`.
/// The gateway must outlive the server: free the server first. The handle
/// may be read (`aigw_server_port`) from any thread; it must not be used
/// during or after `aigw_server_free`.
pub struct aigw_server {
    inner: Server,
}

// Read from any thread (`aigw_server_port`): shared borrows only.
impl Handle for aigw_server {}

/// Starts an HTTP/1.1 server on `options.listen` serving `gw`.
///
/// `options_json` may be NULL or "{}" for the defaults: `listen`
/// ("127.0.0.1:0", a free loopback port), `auth_token` (none),
/// `max_body_bytes` (32 MiB), `max_connections` (1024), `max_head_bytes`
/// (64 KiB), `header_timeout_ms` (10000), `idle_timeout_ms` (60000),
/// `body_timeout_ms` (60000), `shutdown_grace_ms` (5000). Unknown keys and
/// bad values are `AIGW_ERR_INVALID_CONFIG` naming the key; so is a `listen`
/// address that is not loopback without an `auth_token`, or one that cannot
/// be bound. URLs are `/v1/{account_id}/{gateway}/{path}` and `/{path}`
/// (the Universal Endpoint at `/v1/{account_id}/{gateway}` and `/`).
///
/// The server runs on threads of its own; it returns once it is listening.
/// `gw` is borrowed: it must stay alive until `aigw_server_free` has
/// returned. Several servers may share one gateway. On `AIGW_OK`, `*out`
/// receives the server; on failure `*out` is untouched and `*error` (if
/// `error` is not NULL) receives an error to free with `aigw_error_free`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_server_start(
    gw: *const aigw_gateway,
    options_json: *const c_char,
    out: *mut *mut aigw_server,
    error: *mut *mut aigw_error,
) -> aigw_status {
    ffi_boundary!(status(error) {
        let gw = try_ref!(gw)?;
        let out = try_out!(out)?;
        let options = ServerOptions::parse(try_opt_str!(options_json)?)?;
        // SAFETY: the caller keeps the gateway alive until the server is
        // freed (documented above).
        let server = unsafe { Server::start_borrowed(&gw.inner, options) }?;
        out.put(aigw_server { inner: server }.into_raw());
        Ok(())
    })
}

/// The TCP port the server is bound to (the real one when `listen` asked
/// for port 0); 0 if `s` is NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_server_port(s: *const aigw_server) -> u16 {
    ffi_boundary!({ try_ref!(s).map_or(0, |s| s.inner.port()) })
}

/// Stops and frees a server. NULL is a no-op.
///
/// Stops accepting at once, lets requests in flight finish for up to
/// `shutdown_grace_ms`, then cancels the rest (their clients see the
/// connection close) and joins every thread the server started, so it
/// returns within about `shutdown_grace_ms` plus 100 ms. Afterwards the
/// gateway is no longer used by the server and may be freed. `s` must not
/// be used afterwards, nor concurrently from another thread.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_server_free(s: *mut aigw_server) {
    ffi_boundary!({
        // SAFETY: NULL or made by aigw_server_start, freed once by the caller.
        unsafe { aigw_server::free(s) }
    })
}
