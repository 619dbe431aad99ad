//! Fault injection: a hostile upstream (tests/hostile/server.rs) misbehaves
//! in one way per test, and the gateway must answer with a definite status,
//! in bounded time, without holding more than its limits allow.

#[path = "hostile/server.rs"]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigw::sse::SseEvent;
use aigw::{CancelToken, ErrorKind, Gateway, Request, Response, StreamSink};
use common::gateway_from;
use server::{Hostile, LAST_CHUNK, SSE_HEAD, chunk, response};

mod common;

fn gateway(upstream: &Hostile, extra: &str) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"custom-h":{{"base_url":"{}/v1"}}}}{extra}}}"#,
        upstream.url()
    );
    gateway_from(&json)
}

fn request(headers: &[(&str, &str)]) -> Request {
    let mut r = Request::new("POST", "custom-h/chat/completions").unwrap();
    r.set_header("Content-Type", "application/json").unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = br#"{"model":"m","messages":[]}"#.to_vec();
    r
}

/// Counts what a stream delivers, keeping only bounded samples.
#[derive(Default)]
struct Counter {
    heads: usize,
    bytes: usize,
    events: usize,
    first_bytes: Vec<u8>,
    first_event: Option<String>,
}

impl StreamSink for Counter {
    fn on_response(&mut self, _: &Response) -> bool {
        self.heads += 1;
        true
    }
    fn on_data(&mut self, data: &[u8]) -> bool {
        self.bytes += data.len();
        if self.first_bytes.len() < 4096 {
            self.first_bytes.extend_from_slice(data);
        }
        true
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.events += 1;
        if self.first_event.is_none() {
            self.first_event = Some(e.data.to_string());
        }
        true
    }
}

/// Peak resident memory of this test process, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Generous bound on any single fault: the gateway must give up well within.
const BOUND: Duration = Duration::from_secs(20);
/// Memory the whole test process may reach while being flooded.
const MEMORY_BOUND_MB: u64 = 1024;

fn expect_error(gw: &Gateway, req: &Request, kind: ErrorKind) -> aigw::Error {
    let started = Instant::now();
    let e = gw.send(req).expect_err("the fault must be an error");
    assert_eq!(e.kind, kind, "{}", e.message);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    e
}

#[test]
fn reset_in_the_middle_of_the_head() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Ty");
        std::thread::sleep(Duration::from_millis(50));
        conn.reset_on_close();
    });
    let gw = gateway(&up, "");
    let e = expect_error(&gw, &request(&[]), ErrorKind::Connect);
    assert!(e.message.contains("custom-h"), "{}", e.message);
}

#[test]
fn reset_in_the_middle_of_the_body() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        std::thread::sleep(Duration::from_millis(50));
        conn.reset_on_close();
    });
    let gw = gateway(&up, "");
    // Whole: nothing was delivered, so it is a failed attempt.
    let e = expect_error(&gw, &request(&[]), ErrorKind::Connect);
    assert!(
        e.message.contains("while reading the body"),
        "{}",
        e.message
    );
    // Streamed: the 2xx head committed, so the break is an interruption.
    let mut sink = Counter::default();
    let e = gw.send_stream(&request(&[]), &mut sink).unwrap_err();
    assert_eq!(e.kind, ErrorKind::StreamInterrupted, "{}", e.message);
    assert_eq!((sink.heads, sink.bytes), (1, 10));
}

#[test]
fn bad_chunked_encoding_is_a_protocol_error() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-hex\r\nhello\r\n0\r\n\r\n");
        conn.drain(Duration::from_secs(5));
    });
    let gw = gateway(&up, "");
    expect_error(&gw, &request(&[]), ErrorKind::Protocol);
}

#[test]
fn a_content_length_lie_cannot_smuggle_a_response_onto_a_pooled_connection() {
    let up = Hostile::start(|index, conn| {
        let mut n = 0;
        while conn.read_request().is_some() {
            if index == 0 && n == 0 {
                // Says 5 bytes, then sends a whole second response behind them.
                let mut lie = response("200 OK", &[], b"hello");
                lie.extend_from_slice(&response("200 OK", &[], b"SMUGGLED"));
                conn.write(&lie);
            } else {
                conn.write(&response(
                    "200 OK",
                    &[],
                    format!("real {index}.{n}").as_bytes(),
                ));
            }
            n += 1;
        }
    });
    let gw = gateway(&up, "");
    let first = gw.send(&request(&[])).unwrap();
    assert_eq!(first.body, b"hello");
    for _ in 0..3 {
        let next = gw.send(&request(&[])).unwrap();
        assert_eq!(next.status, 200);
        assert!(
            next.body.starts_with(b"real "),
            "got {:?}",
            String::from_utf8_lossy(&next.body)
        );
    }
}

#[test]
fn a_ten_megabyte_header_is_a_protocol_error() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        head.resize(head.len() + 10 * 1024 * 1024, b'a');
        head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        conn.write(&head);
    });
    let gw = gateway(&up, "");
    let e = expect_error(&gw, &request(&[]), ErrorKind::Protocol);
    assert!(e.message.contains("response head"), "{}", e.message);
    assert!(peak_rss_mb() < MEMORY_BOUND_MB);
}

#[test]
fn informational_responses_before_the_answer_are_skipped() {
    let up = Hostile::answering(
        [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            &response("200 OK", &[("X-Real", "yes")], b"{\"ok\":true}"),
        ]
        .concat(),
    );
    let gw = gateway(&up, "");
    let r = gw.send(&request(&[])).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-real"), Some("yes"));
    assert_eq!(r.body, b"{\"ok\":true}");
}

#[test]
fn a_slow_loris_head_hits_the_request_timeout() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
            if !conn.write(&[*b]) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let gw = gateway(&up, "");
    let started = Instant::now();
    let e = expect_error(
        &gw,
        &request(&[("cf-aig-request-timeout", "500")]),
        ErrorKind::Timeout,
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(e.message.contains("500 ms"), "{}", e.message);
}

#[test]
fn a_slow_loris_body_is_cut_by_the_idle_timeout_or_a_cancel() {
    // Silent after the head: the idle limit fires.
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab");
        std::thread::sleep(Duration::from_secs(10));
    });
    let gw = gateway(&up, "");
    let started = Instant::now();
    let e = gw
        .send(&request(&[("cf-aig-stream-idle-timeout", "300")]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{}", e.message);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A byte every 100 ms never trips an idle limit; a cancel still ends it.
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..100 {
            if !conn.write(b"x") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let gw = gateway(&up, "");
    let cancel = CancelToken::new();
    let mut req = request(&[("cf-aig-stream-idle-timeout", "300")]);
    req.cancel = Some(cancel.clone());
    let trigger = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            (cancel.trigger(), Instant::now()).1
        })
    };
    let e = gw.send(&req).unwrap_err();
    let fired = trigger.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{}", e.message);
    assert!(
        fired.elapsed() < Duration::from_millis(500),
        "{:?}",
        fired.elapsed()
    );
}

#[test]
fn a_gzip_bomb_is_passed_on_raw_not_inflated() {
    let bomb: &[u8] = include_bytes!("hostile/bomb.gz");
    let up = Hostile::answering(response(
        "200 OK",
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/json"),
        ],
        bomb,
    ));
    let gw = gateway(&up, "");
    let r = gw.send(&request(&[])).unwrap();
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.body.len(),
        bomb.len(),
        "64 MB inflated would be {}",
        64 << 20
    );
    assert_eq!(r.body, bomb);
    let mut sink = Counter::default();
    gw.send_stream(&request(&[]), &mut sink).unwrap();
    assert_eq!(sink.bytes, bomb.len());
}

#[test]
fn a_twenty_megabyte_event_is_body_too_large() {
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        let mut ok = conn.write(SSE_HEAD) && conn.write(&chunk(b"data: "));
        let piece = vec![b'a'; 1 << 20];
        for _ in 0..20 {
            ok = ok && conn.write(&chunk(&piece));
        }
        if ok {
            conn.write(&chunk(b"\n\n"));
            conn.write(LAST_CHUNK);
        }
    });
    let gw = gateway(&up, "");
    let started = Instant::now();
    let mut sink = Counter::default();
    let e = gw.send_stream(&request(&[]), &mut sink).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BodyTooLarge, "{}", e.message);
    assert!(e.message.contains("stream event"), "{}", e.message);
    assert!(started.elapsed() < BOUND);
    assert_eq!(
        sink.events, 0,
        "nothing of the oversized event is delivered"
    );
    assert!(peak_rss_mb() < MEMORY_BOUND_MB);
}

#[test]
fn a_million_tiny_events_all_arrive() {
    const EVENTS: usize = 1_000_000;
    let up = Hostile::start(|_, conn| {
        conn.read_request();
        let batch = b"data: x\n\n".repeat(10_000);
        let mut ok = conn.write(SSE_HEAD);
        for _ in 0..EVENTS / 10_000 {
            ok = ok && conn.write(&chunk(&batch));
        }
        if ok {
            conn.write(LAST_CHUNK);
        }
    });
    let gw = gateway(&up, "");
    let started = Instant::now();
    let mut sink = Counter::default();
    gw.send_stream(&request(&[]), &mut sink).unwrap();
    assert_eq!(sink.events, EVENTS);
    assert_eq!(sink.bytes, EVENTS * 9);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    assert!(peak_rss_mb() < MEMORY_BOUND_MB);
}

#[test]
fn invalid_utf8_in_headers_and_events_is_replaced_not_fatal() {
    let body: &[u8] = b"data: caf\xe9 \xff\n\n";
    let up = Hostile::start(move |_, conn| {
        while conn.read_request().is_some() {
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Bad: \xff\xfe\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !(conn.write(head) && conn.write(&chunk(body)) && conn.write(LAST_CHUNK)) {
                return;
            }
        }
    });
    let gw = gateway(&up, "");
    let mut sink = Counter::default();
    let head = gw.send_stream(&request(&[]), &mut sink).unwrap();
    assert_eq!(head.header("x-bad"), Some("\u{FFFD}\u{FFFD}"));
    assert_eq!(sink.first_bytes, body, "bytes pass through as sent");
    assert_eq!(sink.first_event.as_deref(), Some("caf\u{FFFD} \u{FFFD}"));
    let whole = gw.send(&request(&[])).unwrap();
    assert_eq!(whole.body, body);
}

#[test]
fn retry_after_in_the_far_future_is_capped() {
    for retry_after in ["99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let up = Hostile::start(move |_, conn| {
            while conn.read_request().is_some() {
                seen.fetch_add(1, Ordering::SeqCst);
                let r = response(
                    "503 Service Unavailable",
                    &[("Retry-After", retry_after)],
                    b"busy",
                );
                if !conn.write(&r) {
                    return;
                }
            }
        });
        let gw = gateway(&up, r#","max_attempts":2,"retry_after_cap_ms":300"#);
        let started = Instant::now();
        let r = gw.send(&request(&[])).unwrap();
        let took = started.elapsed();
        assert_eq!(r.status, 503);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{retry_after}");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{retry_after}: {took:?}"
        );
    }
}

#[test]
fn expect_100_continue_from_the_caller_does_not_stall_the_send() {
    // Like most servers behind a load balancer: it never sends
    // `100 Continue`, it just waits for the body and answers.
    let up = Hostile::answering(response("200 OK", &[], b"{\"ok\":true}"));
    let gw = gateway(&up, "");
    let started = Instant::now();
    let r = gw.send(&request(&[("Expect", "100-continue")])).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let heads = up.heads();
    assert!(
        heads
            .iter()
            .all(|h| !h.to_ascii_lowercase().contains("\r\nexpect:")),
        "{heads:?}"
    );
    let mut sink = Counter::default();
    gw.send_stream(&request(&[("expect", "100-continue")]), &mut sink)
        .unwrap();
    assert_eq!(sink.first_bytes, b"{\"ok\":true}");
}
