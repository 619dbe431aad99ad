//! Streaming (server-sent events) answers, OpenAI chat-completion-chunk
//! style, with the stream faults: error first, break, stall, slow writes.
//!
//! The body always uses chunked transfer encoding, so a client can tell a
//! stream that was cut (no terminating zero-length chunk) from one that ended.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::answers::unix_now;
use crate::http;
use crate::state::{Paused, Shared};

/// Everything that shapes one streamed answer.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    /// Number of `tok<i>` content events.
    pub events: u64,
    pub delay_ms: u64,
    pub error_first: bool,
    pub error_data_first: bool,
    pub break_after: Option<u64>,
    pub stall_after: Option<u64>,
    pub crlf: bool,
    pub byte_per_write: bool,
    /// The request asked for `"stream_options": {"include_usage": true}`.
    pub include_usage: bool,
    pub model: String,
    pub number: u64,
    pub prompt_tokens: u64,
    /// A dialect's own events (see `dialects`), instead of OpenAI chunks.
    pub events_override: Option<Vec<String>>,
}

/// How a streamed answer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The terminating chunk was written; the connection can be reused.
    Complete,
    /// The stream was cut on purpose (or the server stopped); close now.
    Cut,
}

impl StreamPlan {
    /// How many events the stream holds in total.
    fn len(&self) -> u64 {
        if let Some(events) = &self.events_override {
            return events.len() as u64;
        }
        if self.error_first || self.error_data_first {
            // A provider that fails at once sends the error and ends.
            1
        } else {
            self.events + u64::from(self.include_usage) + 1
        }
    }

    /// The `i`th event, framed as SSE with the chosen line ending.
    fn event(&self, i: u64) -> String {
        let nl = if self.crlf { "\r\n" } else { "\n" };
        if let Some(events) = &self.events_override {
            let e = &events[i as usize];
            return if self.crlf {
                e.replace('\n', nl)
            } else {
                e.clone()
            };
        }
        let error = r#"{"error":{"message":"mock stream error"}}"#;
        if self.error_first {
            return format!("event: error{nl}data: {error}{nl}{nl}");
        }
        if self.error_data_first {
            return format!("data: {error}{nl}{nl}");
        }
        let id = format!("chatcmpl-mock-{}", self.number);
        let data = if i < self.events {
            let mut delta = json!({"content": format!("tok{i} ")});
            if i == 0 {
                delta["role"] = json!("assistant");
            }
            let finish = if i + 1 == self.events {
                json!("stop")
            } else {
                json!(null)
            };
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": unix_now(),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            })
            .to_string()
        } else if self.include_usage && i == self.events {
            let completion = self.events;
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": unix_now(),
                "model": self.model,
                "choices": [],
                "usage": {
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": completion,
                    "total_tokens": self.prompt_tokens + completion
                }
            })
            .to_string()
        } else {
            "[DONE]".to_string()
        };
        format!("data: {data}{nl}{nl}")
    }
}

/// Writes the head and the events, one chunk (and one flush) per event.
pub fn write_stream(
    out: &TcpStream,
    shared: &Shared,
    status: u16,
    mut headers: Vec<(String, String)>,
    plan: &StreamPlan,
) -> io::Result<Ended> {
    headers.push(("Content-Type".into(), "text/event-stream".into()));
    headers.push(("Cache-Control".into(), "no-cache".into()));
    headers.push(("Transfer-Encoding".into(), "chunked".into()));
    let mut w = out;
    http::write_head(&mut w, status, &headers)?;

    let total = plan.len();
    for i in 0..=total {
        if plan.break_after == Some(i) {
            // Cut mid-body: no terminating chunk, the client sees EOF.
            return Ok(Ended::Cut);
        }
        if plan.stall_after == Some(i) {
            // Hold the connection open, silent, until someone gives up.
            shared.pause(Duration::MAX, Some(out));
            return Ok(Ended::Cut);
        }
        if i == total {
            break;
        }
        if i > 0 && plan.delay_ms > 0 {
            let waited = shared.pause(Duration::from_millis(plan.delay_ms), Some(out));
            if waited != Paused::Elapsed {
                return Ok(Ended::Cut);
            }
        }
        let event = plan.event(i);
        let chunk = format!("{:X}\r\n{event}\r\n", event.len());
        http::write_body(&mut w, chunk.as_bytes(), plan.byte_per_write)?;
    }
    http::write_body(&mut w, b"0\r\n\r\n", plan.byte_per_write)?;
    Ok(Ended::Complete)
}
