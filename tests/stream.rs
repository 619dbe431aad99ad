//! Streaming sends through the Rust API, against the mock provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aigw::sse::SseEvent;
use aigw::{CancelToken, ErrorKind, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;
use common::{closed_port, gateway_from};

mod common;

fn mock_gateway(mock: &MockServer, extra: &str) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{u}/v1"}},"huggingface":{{"base_url":"{u}/models"}},
            "custom-down":{{"base_url":"http://127.0.0.1:{down}"}}}}{extra}}}"#,
        u = mock.url(),
        down = closed_port()
    );
    gateway_from(&json)
}

/// Records everything the gateway delivers; can stop at a chosen callback.
#[derive(Default)]
struct Recorder {
    heads: Vec<Response>,
    bytes: Vec<u8>,
    data_calls: usize,
    events: Vec<(String, String, String)>,
    stop_in: Option<&'static str>,
    stop_after_events: Option<usize>,
    cancel_after_events: Option<(usize, CancelToken)>,
    calls_after_cancel: usize,
}

impl Recorder {
    fn note_cancelled(&mut self) {
        if let Some((_, token)) = &self.cancel_after_events {
            if token.is_triggered() {
                self.calls_after_cancel += 1;
            }
        }
    }
}

impl StreamSink for Recorder {
    fn on_response(&mut self, head: &Response) -> bool {
        self.note_cancelled();
        self.heads.push(head.clone());
        self.stop_in != Some("on_response")
    }
    fn on_data(&mut self, data: &[u8]) -> bool {
        self.note_cancelled();
        self.bytes.extend_from_slice(data);
        self.data_calls += 1;
        self.stop_in != Some("on_data")
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.note_cancelled();
        self.events
            .push((e.event.to_string(), e.data.to_string(), e.id.to_string()));
        if let Some((n, token)) = &self.cancel_after_events {
            if self.events.len() == *n {
                token.trigger();
            }
        }
        self.stop_in != Some("on_event") && self.stop_after_events != Some(self.events.len())
    }
}

fn chat(directives: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("x-mock", directives).unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = br#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#.to_vec();
    r
}

fn universal(body: &str) -> Request {
    let mut r = Request::new("POST", "").unwrap();
    r.body = body.as_bytes().to_vec();
    r
}

fn tokens(rec: &Recorder) -> Vec<String> {
    rec.events
        .iter()
        .filter(|(_, d, _)| d != "[DONE]")
        .map(|(_, d, _)| {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_stream_arrives_as_bytes_and_events() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(&chat("stream,events=5", &[]), &mut rec)
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(rec.heads.len(), 1);
    assert_eq!(tokens(&rec), ["tok0 ", "tok1 ", "tok2 ", "tok3 ", "tok4 "]);
    assert_eq!(rec.events.last().unwrap().1, "[DONE]");
    assert!(rec.events.iter().all(|(e, _, _)| e == "message"));
    // on_data saw the exact body: re-parsing it gives the same events.
    let text = String::from_utf8(rec.bytes.clone()).unwrap();
    assert_eq!(text.matches("data: ").count(), rec.events.len());
}

#[test]
fn ten_thousand_events_and_one_byte_reads() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    gw.send_stream(&chat("stream,events=10000", &[]), &mut rec)
        .unwrap();
    assert_eq!(tokens(&rec).len(), 10_000);
    assert_eq!(tokens(&rec)[9_999], "tok9999 ");

    let mut rec = Recorder::default();
    gw.send_stream(&chat("stream,events=20,byte_per_write,crlf", &[]), &mut rec)
        .unwrap();
    assert_eq!(tokens(&rec).len(), 20);
}

#[test]
fn non_sse_bodies_stream_through_on_data_only() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let mut req = Request::new("POST", "openai/chat/completions").unwrap();
    req.set_header("x-mock", "body_size=200000").unwrap();
    let head = gw.send_stream(&req, &mut rec).unwrap();
    assert_eq!(head.status, 200);
    assert!(rec.events.is_empty());
    assert!(rec.bytes.len() >= 200_000);
    serde_json::from_slice::<serde_json::Value>(&rec.bytes).unwrap();
}

#[test]
fn error_first_events_fall_back_in_both_forms() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    for form in ["error_first", "error_data_first"] {
        let mut rec = Recorder::default();
        let body = format!(
            r#"[{{"provider":"openai","endpoint":"chat/completions","headers":{{"x-mock":"stream,{form}"}},"query":{{"stream":true}}}},
                {{"provider":"openai","endpoint":"chat/completions","headers":{{"x-mock":"stream,events=3"}},"query":{{"stream":true}}}}]"#
        );
        let head = gw.send_stream(&universal(&body), &mut rec).unwrap();
        assert_eq!(head.step, 1, "{form}");
        assert_eq!(head.header("cf-aig-step"), Some("1"));
        assert_eq!(
            rec.heads.len(),
            1,
            "on_response fires once, for the serving step"
        );
        assert_eq!(rec.heads[0].step, 1);
        assert_eq!(
            tokens(&rec),
            ["tok0 ", "tok1 ", "tok2 "],
            "{form}: nothing of step 0 delivered"
        );
        assert!(!String::from_utf8_lossy(&rec.bytes).contains("mock stream error"));
    }
}

#[test]
fn a_failing_status_then_a_stream() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let body = r#"[{"provider":"custom-down","endpoint":"x","query":{}},
        {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"status=503"},"query":{"stream":true}},
        {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"stream,events=2"},"query":{"stream":true}}]"#;
    let head = gw.send_stream(&universal(body), &mut rec).unwrap();
    assert_eq!(head.step, 2);
    assert_eq!(rec.heads.len(), 1);
    assert_eq!(tokens(&rec).len(), 2);
}

#[test]
fn a_stream_broken_before_its_first_event_is_retried() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(
            &chat(
                "stream,fail=1,drop,key=b0,events=2",
                &[("cf-aig-max-attempts", "2")],
            ),
            &mut rec,
        )
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(mock.requests_for_key("b0"), 2);
    assert_eq!(tokens(&rec).len(), 2);
}

#[test]
fn after_commit_a_break_is_an_interrupted_stream() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let e = gw
        .send_stream(
            &chat(
                "stream,events=10,break_after=4",
                &[("cf-aig-max-attempts", "3")],
            ),
            &mut rec,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StreamInterrupted, "{}", e.message);
    assert_eq!(tokens(&rec).len(), 4, "what was delivered stays delivered");
    assert_eq!(mock.requests(), 1, "no retry after commit");
}

#[test]
fn after_commit_a_stall_hits_the_idle_timeout() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, r#","stream_idle_timeout_ms":300"#);
    let mut rec = Recorder::default();
    let started = Instant::now();
    let e = gw
        .send_stream(&chat("stream,events=10,stall_after=3", &[]), &mut rec)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StreamInterrupted);
    assert!(e.message.contains("stalled"), "{}", e.message);
    assert!(e.message.contains("300 ms"), "{}", e.message);
    assert_eq!(tokens(&rec).len(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Slow but steady streams are fine, and the step config can set it too.
    let mut rec = Recorder::default();
    let body = r#"[{"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"stream,events=4,delay_ms=100"},
                    "query":{"stream":true},"config":{"streamIdleTimeout":1000}}]"#;
    gw.send_stream(&universal(body), &mut rec).unwrap();
    assert_eq!(tokens(&rec).len(), 4);
}

#[test]
fn each_callback_can_abort() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    for (stop_in, heads, max_events) in
        [("on_response", 1, 0), ("on_data", 1, 0), ("on_event", 1, 1)]
    {
        let mut rec = Recorder {
            stop_in: Some(stop_in),
            ..Recorder::default()
        };
        let e = gw
            .send_stream(&chat("stream,events=50", &[]), &mut rec)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Aborted, "{stop_in}");
        assert!(e.message.contains(stop_in), "{}", e.message);
        assert_eq!(rec.heads.len(), heads);
        assert!(
            rec.events.len() <= max_events,
            "{stop_in}: {}",
            rec.events.len()
        );
    }
    let mut rec = Recorder {
        stop_after_events: Some(5),
        ..Recorder::default()
    };
    assert_eq!(
        gw.send_stream(&chat("stream,events=50", &[]), &mut rec)
            .unwrap_err()
            .kind,
        ErrorKind::Aborted
    );
    assert_eq!(rec.events.len(), 5);
}

#[test]
fn cancel_mid_stream_stops_callbacks() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let token = CancelToken::new();
    let mut req = chat("stream,events=100,delay_ms=5", &[]);
    req.cancel = Some(token.clone());
    let mut rec = Recorder {
        cancel_after_events: Some((3, token)),
        ..Recorder::default()
    };
    let e = gw.send_stream(&req, &mut rec).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert_eq!(rec.events.len(), 3);
    assert_eq!(rec.calls_after_cancel, 0);
}

#[test]
fn cancel_from_another_thread_in_every_phase() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    // Waiting for the head; sleeping between retries; mid-stream, silent.
    for directives in [
        "stall=10000",
        "fail=5,key=cancel-retry",
        "stream,events=5,stall_after=2",
    ] {
        let token = CancelToken::new();
        let mut req = chat(
            directives,
            &[("cf-aig-max-attempts", "5"), ("cf-aig-retry-delay", "5000")],
        );
        req.cancel = Some(token.clone());
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            token.trigger();
            Instant::now()
        });
        let mut rec = Recorder::default();
        let e = gw.send_stream(&req, &mut rec).unwrap_err();
        let returned = Instant::now();
        let latency = returned.duration_since(trigger.join().unwrap());
        assert_eq!(e.kind, ErrorKind::Cancelled, "{directives}");
        assert!(
            latency < Duration::from_millis(300),
            "{directives}: {latency:?}"
        );
    }
}

#[test]
fn all_steps_failing_delivers_the_latest_response() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let mut rec = Recorder::default();
    let body = r#"[{"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"status=429"},"query":{}}]"#;
    let head = gw.send_stream(&universal(body), &mut rec).unwrap();
    assert_eq!(head.status, 429);
    assert_eq!(rec.heads.len(), 1);
    assert!(String::from_utf8_lossy(&rec.bytes).contains("mock status 429"));
}

#[test]
fn several_threads_stream_through_one_gateway() {
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(mock_gateway(&mock, ""));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut rec = Recorder::default();
                    gw.send_stream(&chat("stream,events=50", &[]), &mut rec)
                        .unwrap();
                    assert_eq!(tokens(&rec).len(), 50);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
