//! The streaming commit point for the dialects the gateway knows: lifecycle
//! events are held until the first content event, so an error right after
//! them still falls back; known dialects must end with their end marker.

#[path = "hostile/server.rs"]
mod server;

use aigw::{ErrorKind, Gateway, Request};
use common::{Recorder, gateway_from};
use server::{Hostile, sse_server};

mod common;

/// `event: NAME` + `data: DATA` as one SSE event.
fn named(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn data(data: &str) -> String {
    format!("data: {data}\n\n")
}

fn anthropic_ok(tag: &str) -> Vec<String> {
    vec![
        named(
            "message_start",
            &format!(
                r#"{{"type":"message_start","message":{{"id":"{tag}","usage":{{"input_tokens":3}}}}}}"#
            ),
        ),
        named("ping", r#"{"type":"ping"}"#),
        named(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        named(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"hi from {tag}"}}}}"#
            ),
        ),
        named(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        named(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
        ),
        named("message_stop", r#"{"type":"message_stop"}"#),
    ]
}

fn chat_chunk(delta: &str) -> String {
    data(&format!(
        r#"{{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
    ))
}

/// A gateway with `custom-a` and `custom-b` on the two servers.
fn gateway(a: &Hostile, b: &Hostile) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"custom-a":{{"base_url":"{}"}},"custom-b":{{"base_url":"{}"}}}}}}"#,
        a.url(),
        b.url()
    );
    gateway_from(&json)
}

fn universal() -> Request {
    let mut r = Request::new("POST", "").unwrap();
    r.body = br#"[{"provider":"custom-a","endpoint":"v1/messages","query":{"stream":true}},
                 {"provider":"custom-b","endpoint":"v1/messages","query":{"stream":true}}]"#
        .to_vec();
    r
}

fn only(provider: &str) -> Request {
    let mut r = Request::new("POST", &format!("{provider}/v1/messages")).unwrap();
    r.body = br#"{"stream":true}"#.to_vec();
    r
}

/// Runs the Universal request and checks step 1 served with exactly its
/// own stream: nothing of step 0 reached the callbacks.
fn assert_fell_back(gw: &Gateway, served: &[String]) {
    let mut rec = Recorder::default();
    let head = gw.send_stream(&universal(), &mut rec).unwrap();
    assert_eq!(head.step, 1, "step 1 must serve");
    assert_eq!(rec.heads.len(), 1);
    assert_eq!(rec.heads[0].header("cf-aig-step"), Some("1"));
    assert_eq!(String::from_utf8_lossy(&rec.bytes), served.concat());
    assert_eq!(rec.events.len(), served.len());
}

#[test]
fn anthropic_error_after_message_start_falls_back() {
    let failing = sse_server(vec![
        named(
            "message_start",
            r#"{"type":"message_start","message":{"id":"A"}}"#,
        ),
        named("ping", r#"{"type":"ping"}"#),
        named(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
    ]);
    let good = anthropic_ok("B");
    let serving = sse_server(good.clone());
    assert_fell_back(&gateway(&failing, &serving), &good);
}

#[test]
fn responses_error_after_response_created_falls_back() {
    let failing = sse_server(vec![
        named(
            "response.created",
            r#"{"type":"response.created","response":{"id":"r1"}}"#,
        ),
        named("response.in_progress", r#"{"type":"response.in_progress"}"#),
        named(
            "error",
            r#"{"type":"error","code":"server_error","message":"boom"}"#,
        ),
    ]);
    let good = vec![
        named(
            "response.created",
            r#"{"type":"response.created","response":{"id":"r2"}}"#,
        ),
        named(
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","delta":"hi"}"#,
        ),
        named("response.completed", r#"{"type":"response.completed"}"#),
    ];
    let serving = sse_server(good.clone());
    assert_fell_back(&gateway(&failing, &serving), &good);
}

#[test]
fn chat_error_after_a_role_only_chunk_falls_back() {
    let failing = sse_server(vec![
        chat_chunk(r#"{"role":"assistant","content":""}"#),
        data(r#"{"error":{"message":"upstream overloaded"}}"#),
    ]);
    let good = vec![
        chat_chunk(r#"{"role":"assistant","content":""}"#),
        chat_chunk(r#"{"content":"hi"}"#),
        data("[DONE]"),
    ];
    let serving = sse_server(good.clone());
    assert_fell_back(&gateway(&failing, &serving), &good);
}

#[test]
fn lifecycle_without_content_then_the_end_falls_back() {
    // A stream cut cleanly after its lifecycle events delivered nothing.
    let failing = sse_server(vec![named(
        "message_start",
        r#"{"type":"message_start","message":{"id":"A"}}"#,
    )]);
    let good = anthropic_ok("B");
    let serving = sse_server(good.clone());
    assert_fell_back(&gateway(&failing, &serving), &good);
}

#[test]
fn held_lifecycle_events_are_delivered_in_order_after_commit() {
    let good = anthropic_ok("A");
    let a = sse_server(good.clone());
    let b = sse_server(vec![]);
    let gw = gateway(&a, &b);
    let mut rec = Recorder::default();
    let head = gw.send_stream(&only("custom-a"), &mut rec).unwrap();
    assert_eq!(head.status, 200);
    let names: Vec<&str> = rec.events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(String::from_utf8_lossy(&rec.bytes), good.concat());
}

#[test]
fn anthropic_stream_without_message_stop_is_interrupted() {
    let mut cut = anthropic_ok("A");
    cut.pop();
    let a = sse_server(cut.clone());
    let b = sse_server(vec![]);
    let gw = gateway(&a, &b);
    let mut rec = Recorder::default();
    let e = gw.send_stream(&only("custom-a"), &mut rec).unwrap_err();
    assert_eq!(e.kind, ErrorKind::StreamInterrupted, "{}", e.message);
    assert!(e.message.contains("message_stop"), "{}", e.message);
    // What was delivered stays delivered.
    assert_eq!(rec.events.len(), cut.len());
    let logs = gw.logs_json(&Default::default());
    assert!(logs.contains(r#""success":false"#), "{logs}");
}

#[test]
fn chat_stream_without_done_is_interrupted() {
    let a = sse_server(vec![
        chat_chunk(r#"{"role":"assistant","content":"hi"}"#),
        chat_chunk(r#"{"content":" there"}"#),
    ]);
    let b = sse_server(vec![]);
    let gw = gateway(&a, &b);
    let mut rec = Recorder::default();
    let e = gw.send_stream(&only("custom-a"), &mut rec).unwrap_err();
    assert_eq!(e.kind, ErrorKind::StreamInterrupted, "{}", e.message);
    assert!(e.message.contains("[DONE]"), "{}", e.message);
    assert_eq!(rec.events.len(), 2);
}

#[test]
fn unknown_streams_keep_committing_at_their_first_event_and_need_no_end_marker() {
    let a = sse_server(vec![named("message_start", "not json"), data("tick")]);
    let b = sse_server(vec![]);
    let gw = gateway(&a, &b);
    let mut rec = Recorder::default();
    gw.send_stream(&only("custom-a"), &mut rec).unwrap();
    assert_eq!(rec.events.len(), 2);
    // An unknown stream's error after its first event is delivered, not
    // a fallback: that event was the commit point.
    let a = sse_server(vec![data("tick"), named("error", "{}")]);
    let gw = gateway(&a, &b);
    let mut rec = Recorder::default();
    let head = gw.send_stream(&universal(), &mut rec).unwrap();
    assert_eq!(head.step, 0);
    assert_eq!(rec.events.len(), 2);
}
