//! Set-up the integration tests share: gateways from config text, ports that
//! refuse connections, requests, reading bodies, logs and metrics, a stream
//! recorder, raw HTTP to the loopback server, and the reference Prometheus
//! parser. It may use the `aigw` and `aigw-mock` crates; each test file
//! includes it with `mod common;`.

// Every test file compiles its own copy of this module and uses only part of
// it, so the helpers one file leaves unused are not dead code in the suite.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use aigw::log::LogFilter;
use aigw::sse::SseEvent;
use aigw::{Config, Gateway, Request, Response, StreamSink};
use serde_json::Value;

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A gateway from config JSON text, which must be valid.
pub fn gateway_from(json: &str) -> Gateway {
    Gateway::new(Config::parse(Some(json)).unwrap()).unwrap()
}

/// A request with headers and a text body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut r = Request::new(method, path).unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = body.as_bytes().to_vec();
    r
}

/// A POST of a JSON body with the caller's own key (`sk-caller-key`), as the
/// unified API tests send it.
pub fn caller_request(path: &str, body: &Value, headers: &[(&str, &str)]) -> Request {
    let mut r = Request::new("POST", path).unwrap();
    r.set_header("Authorization", "Bearer sk-caller-key")
        .unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = body.to_string().into_bytes();
    r
}

/// The response body as JSON; panics showing the body when it is not.
pub fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)))
}

/// The gateway's log records that match `filter` (a filter's JSON text).
pub fn logs(gw: &Gateway, filter: &str) -> Vec<Value> {
    serde_json::from_str(&gw.logs_json(&LogFilter::parse(Some(filter)).unwrap())).unwrap()
}

/// The latest log record.
pub fn last_log(gw: &Gateway) -> Value {
    logs(gw, "{}").last().unwrap().clone()
}

/// The gateway's metrics as JSON.
pub fn metrics(gw: &Gateway) -> Value {
    serde_json::from_str(&gw.metrics_json()).unwrap()
}

/// Records what a streaming send delivers: heads, bytes and events
/// (event name, data).
#[derive(Default)]
pub struct Recorder {
    pub heads: Vec<Response>,
    pub bytes: Vec<u8>,
    pub events: Vec<(String, String)>,
}

impl StreamSink for Recorder {
    fn on_response(&mut self, head: &Response) -> bool {
        self.heads.push(head.clone());
        true
    }
    fn on_data(&mut self, data: &[u8]) -> bool {
        self.bytes.extend_from_slice(data);
        true
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.events.push((e.event.to_string(), e.data.to_string()));
        true
    }
}

impl Recorder {
    /// The events' data as JSON, `[DONE]` left out.
    pub fn chunks(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }
}

/// The head (and body, where read) of one request a test's own upstream
/// received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SeenRequest {
    /// The first value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 POST of a JSON body to the loopback server on `port`; the
/// raw answer, read until the server closes.
pub fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Runs `check` (Python reading the exposition text on stdin) with the
/// reference parser, prometheus_client from PyPI. `None` when it is not
/// installed, which CI does not allow.
pub fn prometheus_parser(check: &str, text: &str) -> Option<Output> {
    let has_parser = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_parser {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install prometheus_client (pip)"
        );
        eprintln!(
            "prometheus_client not installed: `pip install prometheus_client` to run the parser check"
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}
