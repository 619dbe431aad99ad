//! Token accounting whatever shape the answer has, on both send paths, and
//! error events after a stream committed (logged and counted as failures).

use std::io::{Read, Write};
use std::net::TcpListener;

use aigw::log::LogFilter;
use aigw::sse::SseEvent;
use aigw::{Config, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;
use common::gateway_from;
use serde_json::Value;

mod common;

fn gateway(base: &str) -> Gateway {
    let json = format!(r#"{{"providers":{{"openai":{{"base_url":"{base}"}}}}}}"#);
    gateway_from(&json)
}

fn chat(body: &str, event_id: &str) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("Authorization", "Bearer sk-test-key").unwrap();
    r.set_header("cf-aig-event-id", event_id).unwrap();
    r.body = body.as_bytes().to_vec();
    r
}

fn record(gw: &Gateway, event_id: &str) -> Value {
    let filter = LogFilter::parse(Some(&format!(r#"{{"event_id":"{event_id}"}}"#))).unwrap();
    let all: Vec<Value> = serde_json::from_str(&gw.logs_json(&filter)).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

#[derive(Default)]
struct Collect {
    events: Vec<String>,
}

impl StreamSink for Collect {
    fn on_response(&mut self, _: &Response) -> bool {
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.events.push(e.data.to_string());
        true
    }
}

const STREAMED: &str =
    r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;

#[test]
fn send_reads_usage_from_an_event_stream_answer() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&format!("{}/v1", mock.url()));
    let mut req = chat(STREAMED, "whole-sse");
    req.set_header("x-mock", "events=7").unwrap();
    let response = gw.send(&req).unwrap();
    assert!(String::from_utf8_lossy(&response.body).contains("data: [DONE]"));
    let rec = record(&gw, "whole-sse");
    assert_eq!(rec["tokens_out"], 7, "{rec}");
    assert_eq!(rec["tokens_in"], (STREAMED.len() / 4 + 1) as u64, "{rec}");
    assert!(rec["cost"].as_f64().unwrap() > 0.0, "{rec}");
}

#[test]
fn send_stream_reads_usage_from_a_json_answer() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&format!("{}/v1", mock.url()));
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let mut sink = Collect::default();
    gw.send_stream(&chat(body, "stream-json"), &mut sink)
        .unwrap();
    assert!(sink.events.is_empty(), "a JSON answer has no events");
    let rec = record(&gw, "stream-json");
    assert_eq!(rec["stream"], true);
    assert!(rec["tokens_in"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["tokens_out"].as_u64().unwrap() > 0, "{rec}");
}

/// `connections` connections, each answered with a stream whose second
/// event is an error.
fn error_after_content_upstream(connections: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for _ in 0..connections {
            answer_with_late_error(listener.accept().unwrap().0);
        }
    });
    (url, handle)
}

fn answer_with_late_error(mut conn: std::net::TcpStream) {
    {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if conn.read(&mut byte).unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_lowercase();
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).unwrap();
        let events = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "event: error\n",
            "data: {\"error\":{\"message\":\"overloaded mid-stream\"}}\n\n",
        );
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{events}",
            events.len()
        );
        conn.write_all(answer.as_bytes()).unwrap();
    }
}

#[test]
fn an_error_event_after_commit_is_a_failure_in_logs_and_metrics() {
    let (url, upstream) = error_after_content_upstream(1);
    let gw = gateway(&url);
    let mut sink = Collect::default();
    let head = gw
        .send_stream(&chat(STREAMED, "late-error"), &mut sink)
        .unwrap();
    upstream.join().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(sink.events.len(), 2, "both events were delivered");
    let rec = record(&gw, "late-error");
    assert_eq!(rec["success"], false, "{rec}");
    let error = rec["error"].as_str().unwrap();
    assert!(error.contains("overloaded mid-stream"), "{error}");
    let metrics: Value = serde_json::from_str(&gw.metrics_json()).unwrap();
    assert!(
        metrics.to_string().contains("\"errors\":1"),
        "the metrics count it as an error: {metrics}"
    );
}

#[test]
fn a_stream_with_a_late_error_is_not_cached() {
    let (url, upstream) = error_after_content_upstream(2);
    let json = format!(r#"{{"cache_ttl_s":60,"providers":{{"openai":{{"base_url":"{url}"}}}}}}"#);
    let gw = Gateway::new(Config::parse(Some(&json)).unwrap()).unwrap();
    for round in ["first", "second"] {
        let head = gw
            .send_stream(&chat(STREAMED, round), &mut Collect::default())
            .unwrap();
        assert_eq!(
            head.header("cf-aig-cache-status"),
            Some("MISS"),
            "{round}: a failed stream must not be replayed from the cache"
        );
    }
    upstream.join().unwrap();
}
