//! `aigw_send_stream`: the response body delivered through callbacks.

use std::ffi::{c_char, c_int, c_void};

use crate::call::response::Response;
use crate::call::stream::StreamSink;
use crate::ffi::error::aigw_error;
use crate::ffi::gateway::aigw_gateway;
use crate::ffi::request::aigw_request;
use crate::ffi::response::aigw_response;
use crate::ffi::{Handle, aigw_status, ffi_boundary, try_out, try_ref};
use crate::http::sse::SseEvent;

/// One Server-Sent Event, as passed to `on_event`.
///
/// Every pointer is borrowed for the duration of the callback only: copy what
/// you need to keep. The texts are UTF-8 and NOT NUL-terminated: use the
/// lengths.
#[repr(C)]
pub struct aigw_sse_event {
    /// The `event` field; "message" when the stream named none.
    pub event: *const c_char,
    /// Length of `event` in bytes.
    pub event_len: usize,
    /// The `data` lines, joined with '\n'.
    pub data: *const c_char,
    /// Length of `data` in bytes.
    pub data_len: usize,
    /// The last event id the stream set (it carries over to later events, as
    /// the SSE standard says); empty when the stream set none.
    pub id: *const c_char,
    /// Length of `id` in bytes (0 when there is none).
    pub id_len: usize,
}

/// Called once, when the serving response is chosen, with its head (status,
/// headers, `cf-aig-step`; empty body). `head` is borrowed for the duration
/// of the call. Return 0 to continue, non-zero to stop (`AIGW_ERR_ABORTED`).
pub type aigw_on_response =
    Option<unsafe extern "C" fn(userdata: *mut c_void, head: *const aigw_response) -> c_int>;

/// Called with raw body bytes, in order; every byte exactly once. `data` is
/// borrowed for the duration of the call. Return 0 to continue, non-zero to
/// stop (`AIGW_ERR_ABORTED`).
pub type aigw_on_data =
    Option<unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize) -> c_int>;

/// Called with each parsed event of a `text/event-stream` body, after the
/// `on_data` call that delivered its last byte. `event` is borrowed for the
/// duration of the call. Return 0 to continue, non-zero to stop
/// (`AIGW_ERR_ABORTED`).
pub type aigw_on_event =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const aigw_sse_event) -> c_int>;

/// The callbacks of a streaming send. Any of them may be NULL.
///
/// They run on the thread that called `aigw_send_stream`, one at a time,
/// before it returns; `userdata` is passed to each unchanged. A callback may
/// send other requests (through this or another gateway), but must not free
/// the gateway or request in use.
#[repr(C)]
pub struct aigw_stream_callbacks {
    /// Passed unchanged to every callback; the library never reads it.
    pub userdata: *mut c_void,
    /// Called once with the serving response's head; may be NULL.
    pub on_response: aigw_on_response,
    /// Called with raw body bytes, in order; may be NULL.
    pub on_data: aigw_on_data,
    /// Called with each parsed Server-Sent Event; may be NULL.
    pub on_event: aigw_on_event,
}

struct CallbackSink<'a> {
    callbacks: Option<&'a aigw_stream_callbacks>,
}

const EMPTY: *const c_char = c"".as_ptr();

fn text(s: &str) -> (*const c_char, usize) {
    if s.is_empty() {
        (EMPTY, 0)
    } else {
        (s.as_ptr().cast(), s.len())
    }
}

impl StreamSink for CallbackSink<'_> {
    fn on_response(&mut self, head: &Response) -> bool {
        let Some(cb) = self.callbacks else {
            return true;
        };
        let Some(f) = cb.on_response else { return true };
        let head = aigw_response::new(head.clone());
        // SAFETY: the caller's function pointer, with its userdata and a
        // response that lives through the call.
        unsafe { f(cb.userdata, &head) == 0 }
    }

    fn on_data(&mut self, data: &[u8]) -> bool {
        let Some(cb) = self.callbacks else {
            return true;
        };
        let Some(f) = cb.on_data else { return true };
        // SAFETY: as above; `data` lives through the call.
        unsafe { f(cb.userdata, data.as_ptr(), data.len()) == 0 }
    }

    fn on_event(&mut self, event: &SseEvent<'_>) -> bool {
        let Some(cb) = self.callbacks else {
            return true;
        };
        let Some(f) = cb.on_event else { return true };
        let (event_ptr, event_len) = text(&event.event);
        let (data, data_len) = text(&event.data);
        let (id, id_len) = text(&event.id);
        let c_event = aigw_sse_event {
            event: event_ptr,
            event_len,
            data,
            data_len,
            id,
            id_len,
        };
        // SAFETY: as above; the strings live through the call.
        unsafe { f(cb.userdata, &c_event) == 0 }
    }
}

/// Sends a request and streams the serving response through callbacks.
///
/// Blocks the calling thread; the callbacks run on it. Fallback and retries
/// happen only before anything is delivered: the stream commits to a step
/// when its response is 2xx and, for `text/event-stream`, its first event has
/// arrived and is not an error event (`event: error`, or `data:` holding a
/// JSON object with a top-level `error` key); other bodies commit at the 2xx
/// head. Until then a failing step falls back exactly as in `aigw_send`, and
/// nothing of a failed attempt reaches any callback. After commit, a broken
/// or stalled stream (see `stream_idle_timeout_ms`) ends the call with
/// `AIGW_ERR_STREAM_INTERRUPTED`; what was delivered stays delivered.
/// When every step fails, the most recent HTTP response is delivered through
/// the callbacks and the call returns `AIGW_OK`, as `aigw_send` does.
///
/// `cb` may be NULL (no callbacks). A callback returning non-zero stops the
/// transfer: `AIGW_ERR_ABORTED`. A triggered cancel handle ends the call
/// with `AIGW_ERR_CANCELLED` and no callback runs after that is observed.
///
/// On `AIGW_OK`, `*out` receives the head (status, headers, step; empty
/// body), freed with `aigw_response_free`. On failure `*out` is untouched
/// and `*error` (if `error` is not NULL) receives an error to free with
/// `aigw_error_free`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_send_stream(
    gw: *const aigw_gateway,
    req: *const aigw_request,
    cb: *const aigw_stream_callbacks,
    out: *mut *mut aigw_response,
    error: *mut *mut aigw_error,
) -> aigw_status {
    ffi_boundary!(status(error) {
        let gw = try_ref!(gw)?;
        let req = try_ref!(req)?;
        let out = try_out!(out)?;
        // SAFETY: NULL or a live callbacks struct for the whole call.
        let mut sink = CallbackSink {
            callbacks: unsafe { cb.as_ref() },
        };
        let head = gw.inner.send_stream(&req.inner, &mut sink)?;
        out.put(aigw_response::new(head).into_raw());
        Ok(())
    })
}
