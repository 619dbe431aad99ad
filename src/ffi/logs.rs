//! Logs and metrics of a gateway, and the strings they are handed out in.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use crate::ffi::gateway::aigw_gateway;
use crate::ffi::{Failure, aigw_status, ffi_boundary, try_opt_str, try_out, try_ref};
use crate::observe::log::LogFilter;

/// Receives each log record as JSON (`record_json`, `len` bytes, also
/// NUL-terminated), borrowed for the duration of the call.
///
/// Runs on the thread that made the request, right before its send returns,
/// so it may run on several threads at once: it must be thread-safe, and so
/// must `userdata`. It must not call `aigw_gateway_set_log_callback` on the
/// same gateway (that call waits for running callbacks to finish).
pub type aigw_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, record_json: *const c_char, len: usize)>;

/// Formats of `aigw_gateway_metrics`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum aigw_metrics_format {
    /// `{"series":[{"provider","model","requests","errors","cache_hits",
    /// "tokens_in","tokens_out","cost","latency":{...}}]}`
    AIGW_METRICS_JSON = 0,
    /// The Prometheus text exposition format (0.0.4).
    AIGW_METRICS_PROMETHEUS = 1,
}

/// The C function and its userdata. The caller promised (see
/// `aigw_log_callback`) that both may be used from any thread.
struct CCallback {
    function: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    userdata: usize,
}

impl CCallback {
    fn call(&self, json: &str) {
        // Records are JSON text: serde escapes control characters, so there
        // is no NUL inside.
        if let Ok(text) = CString::new(json) {
            // SAFETY: the caller's function with its own userdata; the text
            // lives through the call.
            unsafe { (self.function)(self.userdata as *mut c_void, text.as_ptr(), json.len()) }
        }
    }
}

/// Sets the function that receives every log record (see
/// `aigw_log_callback`), replacing any earlier one; NULL `cb` removes it.
///
/// Safe while other threads send: when this returns, the previous callback
/// is not running anywhere and will not be called again, so its userdata
/// may be released. Records skipped with `cf-aig-collect-log: false` never
/// reach it. `gw` NULL is `AIGW_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_gateway_set_log_callback(
    gw: *const aigw_gateway,
    cb: aigw_log_callback,
    userdata: *mut c_void,
) -> aigw_status {
    ffi_boundary!(status {
        // Shared borrow only: other threads may be sending through the
        // gateway (and hold `&` to it) right now.
        let gw = try_ref!(gw)?;
        let callback = cb.map(|function| {
            let c = CCallback {
                function,
                userdata: userdata as usize,
            };
            Arc::new(move |json: &str| c.call(json)) as Arc<crate::observe::log::LogCallback>
        });
        gw.inner.set_log_callback(callback);
        Ok(())
    })
}

fn hand_out(text: String) -> *mut c_char {
    CString::new(text)
        .unwrap_or_else(|e| {
            let cleaned: Vec<u8> = e.into_vec().into_iter().filter(|b| *b != 0).collect();
            CString::new(cleaned).unwrap_or_default()
        })
        .into_raw()
}

/// The most recent log records (up to the config's `log_capacity`, default
/// 1000) as a JSON array, oldest first.
///
/// `filter_json` may be NULL or "" for all records, or a JSON object with
/// any of `"provider"`, `"model"`, `"event_id"` (strings), `"success"`,
/// `"cached"` (booleans), `"metadata"` (an object: every entry must match)
/// and `"limit"` (keep only the newest n). A malformed filter is
/// `AIGW_ERR_INVALID_ARGUMENT`. On `AIGW_OK`, `*out_json` receives a
/// NUL-terminated string the caller frees with `aigw_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_gateway_logs(
    gw: *const aigw_gateway,
    filter_json: *const c_char,
    out_json: *mut *mut c_char,
) -> aigw_status {
    ffi_boundary!(status {
        let gw = try_ref!(gw)?;
        let out_json = try_out!(out_json)?;
        let filter = LogFilter::parse(try_opt_str!(filter_json)?)?;
        out_json.put(hand_out(gw.inner.logs_json(&filter)));
        Ok(())
    })
}

/// The gateway's metrics, per provider and model: requests, errors, cache
/// hits, tokens in and out, cost, and a latency histogram.
///
/// `format` is `AIGW_METRICS_JSON` or `AIGW_METRICS_PROMETHEUS`; anything
/// else is `AIGW_ERR_INVALID_ARGUMENT`. On `AIGW_OK`, `*out` receives a
/// NUL-terminated string the caller frees with `aigw_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_gateway_metrics(
    gw: *const aigw_gateway,
    format: c_int,
    out: *mut *mut c_char,
) -> aigw_status {
    ffi_boundary!(status {
        let gw = try_ref!(gw)?;
        let out = try_out!(out)?;
        let text = match format {
            f if f == aigw_metrics_format::AIGW_METRICS_JSON as c_int => gw.inner.metrics_json(),
            f if f == aigw_metrics_format::AIGW_METRICS_PROMETHEUS as c_int => {
                gw.inner.metrics_prometheus()
            }
            other => return Err(Failure::invalid(format!("unknown metrics format {other}"))),
        };
        out.put(hand_out(text));
        Ok(())
    })
}

/// Frees a string the library handed out (`aigw_gateway_logs`,
/// `aigw_gateway_metrics`). NULL is a no-op. Never pass it to `free()`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_string_free(s: *mut c_char) {
    ffi_boundary!({
        if !s.is_null() {
            // SAFETY: made by CString::into_raw in `hand_out`, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
