//! The loopback HTTP server against the mock provider, with raw sockets (to
//! control every byte) and curl (a real client).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aigw::server::{Server, ServerOptions};
use aigw::{Config, ErrorKind, Gateway};
use aigw_mock::MockServer;
use common::{closed_port, gateway_from};
use serde_json::Value;

mod common;

fn gateway(mock: &MockServer, extra: &str) -> Arc<Gateway> {
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{u}/v1"}},"huggingface":{{"base_url":"{f}/models"}},
            "replicate":{{"base_url":"{u}/v1"}},
            "custom-down":{{"base_url":"http://127.0.0.1:{down}"}}}}{extra}}}"#,
        u = mock.url(),
        f = mock.fault_url("status=503"),
        down = closed_port()
    );
    Arc::new(gateway_from(&json))
}

fn serve(gw: &Arc<Gateway>, options: &str) -> Server {
    Server::start(Arc::clone(gw), ServerOptions::parse(Some(options)).unwrap()).unwrap()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response (head, then a chunked or sized body) off a stream.
fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                if s.read(&mut byte)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                line.push(byte[0]);
            }
            let size = usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            s.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = get("content-length") {
        let mut b = vec![0; len.parse().unwrap()];
        s.read_exact(&mut b)?;
        body = b;
    } else {
        s.read_to_end(&mut body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = connect(port);
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    s.write_all(text.as_bytes()).unwrap();
    read_answer(&mut s).unwrap()
}

fn post(port: u16, path: &str, body: &str) -> Answer {
    request(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str =
    r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// Waits until `f` holds, for at most `limit`.
/// Writes a chat POST with `body` on `s`; `mock` (if not empty) is the
/// request's `x-mock` directive.
fn write_chat(s: &mut TcpStream, mock: &str, body: &str) {
    let directive = if mock.is_empty() {
        String::new()
    } else {
        format!("x-mock: {mock}\r\n")
    };
    write!(
        s,
        "POST /openai/chat/completions HTTP/1.1\r\nHost: x\r\n{directive}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn hosted_and_short_urls_reach_the_provider() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let port = server.port();
    for path in [
        "/v1/ACCOUNT_TAG/GATEWAY/openai/chat/completions",
        "/openai/chat/completions",
    ] {
        let a = post(port, path, CHAT);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        assert_eq!(
            a.json()["choices"][0]["message"]["content"],
            "Hello from the aigw mock."
        );
        assert_eq!(a.header("x-mock-path"), Some("/v1/chat/completions"));
        assert!(a.header("cf-aig-log-id").is_some());
    }
    // The query string goes upstream with the path.
    let a = request(port, "GET", "/openai/models?limit=2&after=x", &[], "");
    assert_eq!(a.header("x-mock-path"), Some("/v1/models?limit=2&after=x"));
}

#[test]
fn headers_cross_the_hop_except_hop_by_hop_host_and_token() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"auth_token":"gw-token"}"#);
    let a = request(
        server.port(),
        "POST",
        "/v1/a/g/openai/chat/completions",
        &[
            ("x-mock", "echo"),
            ("Authorization", "Bearer sk-provider"),
            ("cf-aig-authorization", "Bearer gw-token"),
            ("X-Custom", "kept"),
            ("Connection", "keep-alive, X-Dropped"),
            ("X-Dropped", "hop"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic eA=="),
            ("cf-aig-metadata", r#"{"user":"u1"}"#),
        ],
        CHAT,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let echo = a.json();
    let headers: Vec<(String, String)> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_ascii_lowercase(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |n: &str| headers.iter().any(|(k, _)| k == n);
    let value = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("authorization"), Some("Bearer sk-provider"));
    assert_eq!(value("x-custom"), Some("kept"));
    // The upstream's own host, not ours.
    assert_eq!(value("host"), Some(&mock.url()["http://".len()..]));
    for gone in [
        "cf-aig-authorization",
        "x-dropped",
        "keep-alive",
        "te",
        "proxy-authorization",
        "cf-aig-metadata",
    ] {
        assert!(!has(gone), "{gone} was forwarded: {headers:?}");
    }
    assert_eq!(echo["body"], CHAT);
}

#[test]
fn streams_are_written_as_they_arrive() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    let body = CHAT_STREAM;
    write!(
        s,
        "POST /v1/a/g/openai/chat/completions HTTP/1.1\r\nHost: x\r\nx-mock: delay_ms=300,events=4\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The first event comes long before the stream's end (4 x 300 ms).
    while !String::from_utf8_lossy(&got).contains("tok0") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    let first = started.elapsed();
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(
        first < Duration::from_millis(900),
        "first event after {first:?}"
    );
    while !String::from_utf8_lossy(&got).contains("[DONE]") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    let text = String::from_utf8_lossy(&got);
    for i in 0..4 {
        assert!(text.contains(&format!("tok{i} ")), "{text}");
    }
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    for _ in 0..3 {
        write_chat(&mut s, "", CHAT);
        let a = read_answer(&mut s).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["object"], "chat.completion");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    // A whole answer goes out before its call has finished its records; the
    // next request, already read by then, must still get its own answer.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    let first = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"first"}]}"#;
    let second = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"second"}]}"#;
    let mut both = Vec::new();
    for body in [first, second] {
        write!(
            both,
            "POST /openai/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    }
    s.write_all(&both).unwrap();
    for model in ["gpt-4o-mini", "gpt-4o"] {
        let a = read_answer(&mut s).unwrap();
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["model"], model, "{}", a.text());
    }
    assert!(
        eventually(Duration::from_secs(2), || {
            let logs: Value = serde_json::from_str(&gw.logs_json(&Default::default())).unwrap();
            logs.as_array().is_some_and(|a| a.len() == 2)
        }),
        "{}",
        gw.logs_json(&Default::default())
    );
    assert_eq!(mock.requests(), 2);
}

#[test]
fn one_connection_alternates_streams_and_whole_answers() {
    // A stream moves the connection to another thread; the requests after
    // it are served there, whole or streamed.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    for round in 0..3 {
        for body in [CHAT, CHAT_STREAM] {
            write_chat(&mut s, "", body);
            let a = read_answer(&mut s).unwrap();
            assert_eq!(a.status, 200, "round {round}");
            if body == CHAT {
                assert_eq!(a.json()["object"], "chat.completion");
                assert!(a.header("content-length").is_some());
            } else {
                assert_eq!(a.header("transfer-encoding"), Some("chunked"));
                let text = a.text();
                assert!(text.contains("tok1") && text.contains("[DONE]"), "{text}");
            }
        }
    }
    assert_eq!(mock.requests(), 6);
}

#[test]
fn universal_endpoint_falls_back_at_both_urls() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let steps = r#"[{"provider":"huggingface","endpoint":"bigcode/starcoder","query":{"inputs":"x"}},
                    {"provider":"openai","endpoint":"chat/completions","authorization":"Bearer t",
                     "query":{"model":"gpt-4o-mini","messages":[]}}]"#;
    for path in ["/v1/ACCOUNT_TAG/GATEWAY", "/v1/ACCOUNT_TAG/GATEWAY/", "/"] {
        let a = post(server.port(), path, steps);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        assert_eq!(a.header("cf-aig-step"), Some("1"), "{path}");
        assert_eq!(a.json()["object"], "chat.completion");
    }
}

fn error_of(a: &Answer) -> (i64, String) {
    let j = a.json();
    assert_eq!(j["success"], false, "{j}");
    (
        j["error"][0]["code"].as_i64().unwrap(),
        j["error"][0]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn failures_without_an_upstream_answer_map_to_statuses() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","max_request_body_bytes":100"#);
    let server = serve(&gw, "{}");
    let port = server.port();

    let a = post(port, "/nope/chat/completions", CHAT);
    assert_eq!((a.status, error_of(&a).0), (400, 5), "{}", a.text());
    assert!(error_of(&a).1.contains("nope"));
    let a = post(port, "/openai/../secrets", "{}");
    assert_eq!((a.status, error_of(&a).0), (400, 4), "{}", a.text());
    let a = post(port, "/v1/only-account", "{}");
    assert_eq!((a.status, error_of(&a).0), (400, 4), "{}", a.text());
    let a = request(port, "GET", "/", &[], "");
    assert_eq!((a.status, error_of(&a).0), (400, 4), "{}", a.text());
    let a = request(
        port,
        "POST",
        "/openai/chat/completions",
        &[("cf-aig-max-attempts", "99")],
        "{}",
    );
    assert_eq!((a.status, error_of(&a).0), (400, 4), "{}", a.text());
    let a = post(port, "/custom-down/chat/completions", CHAT);
    assert_eq!((a.status, error_of(&a).0), (502, 6), "{}", a.text());
    let a = request(
        port,
        "POST",
        "/openai/chat/completions",
        &[("x-mock", "stall=3000"), ("cf-aig-request-timeout", "100")],
        "{}",
    );
    assert_eq!((a.status, error_of(&a).0), (504, 7), "{}", a.text());
    // The gateway's own body limit (100 bytes here).
    let big = format!(r#"{{"model":"m","pad":"{}"}}"#, "x".repeat(200));
    let a = post(port, "/openai/chat/completions", &big);
    assert_eq!((a.status, error_of(&a).0), (413, 11), "{}", a.text());
    // An upstream's own error answer passes through unchanged.
    let a = request(
        port,
        "POST",
        "/openai/chat/completions",
        &[("x-mock", "status=418")],
        "{}",
    );
    assert_eq!(a.status, 418);
    assert_eq!(a.json()["error"]["message"], "mock status 418");
}

#[test]
fn a_header_too_long_for_the_upstream_is_a_400_before_sending() {
    // The server takes heads up to max_head_bytes; a line to the upstream
    // may be at most 32 KiB (the transport's output buffer).
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"max_head_bytes":200000}"#);
    let secret = "v".repeat(40_000);
    let a = request(
        server.port(),
        "POST",
        "/openai/chat/completions",
        &[("x-big", &secret)],
        CHAT,
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let (code, message) = error_of(&a);
    assert_eq!(code, 4, "AIGW_ERR_INVALID_REQUEST");
    assert!(
        message.contains("header \"x-big\"") && message.contains("32768"),
        "{message}"
    );
    assert!(
        !message.contains("vvvv"),
        "the value stays out of the message"
    );
    assert_eq!(mock.requests(), 0, "nothing was sent upstream");
    // Lines up to the limit still go through, several of them too.
    let line = "w".repeat(30_000);
    let a = request(
        server.port(),
        "POST",
        "/openai/chat/completions",
        &[("x-a", &line), ("x-b", &line)],
        CHAT,
    );
    assert_eq!(a.status, 200, "{}", a.text());
}

#[test]
fn the_gateway_rate_limit_is_a_429_with_retry_after() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","rate_limit":{"limit":1,"interval_s":3600}"#);
    let server = serve(&gw, "{}");
    assert_eq!(
        post(server.port(), "/openai/chat/completions", CHAT).status,
        200
    );
    let a = post(server.port(), "/openai/chat/completions", CHAT);
    assert_eq!(a.status, 429);
    let (code, message) = error_of(&a);
    assert_eq!(code, 10);
    let ms: u64 = message
        .split("allowed in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    let secs: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(secs, ms.div_ceil(1000).max(1));
    assert!((1..=3600).contains(&secs));
    assert_eq!(mock.requests(), 1);
}

#[test]
fn compat_paths_get_the_callers_error_format() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let body = r#"{"model":"no-such-provider/x","messages":[{"role":"user","content":"hi"}]}"#;
    let a = post(server.port(), "/compat/chat/completions", body);
    assert_eq!(a.status, 400, "{}", a.text());
    let j = a.json();
    assert!(j["error"]["message"].is_string(), "{j}");
    assert_eq!(j["error"]["type"], "invalid_request_error", "{j}");
    assert!(j["error"]["code"].is_string(), "{j}");
    for path in ["/compat/messages", "/v1/a/g/compat/v1/messages"] {
        let a = post(server.port(), path, body);
        assert_eq!(a.status, 400, "{}", a.text());
        let j = a.json();
        assert_eq!(j["type"], "error", "{j}");
        assert_eq!(j["error"]["type"], "invalid_request_error", "{j}");
        assert!(j["error"]["message"].is_string(), "{j}");
    }
    assert_eq!(mock.requests(), 0);
}

#[test]
fn auth_token_is_required_when_set() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"auth_token":"s3cret"}"#);
    let port = server.port();
    for presented in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("Bearer s3cret2"),
    ] {
        let headers: Vec<(&str, &str)> = presented
            .map(|p| vec![("cf-aig-authorization", p)])
            .unwrap_or_default();
        let a = request(port, "POST", "/openai/chat/completions", &headers, CHAT);
        assert_eq!(a.status, 401, "{presented:?}");
        assert_eq!(error_of(&a).0, 2009);
        assert!(!a.text().contains("s3cret"));
    }
    let a = request(port, "POST", "/compat/messages", &[], CHAT);
    assert_eq!(
        (a.status, a.json()["error"]["type"].clone()),
        (401, "authentication_error".into())
    );
    assert_eq!(mock.requests(), 0, "no upstream contact without the token");
    let a = request(
        port,
        "POST",
        "/openai/chat/completions",
        &[("cf-aig-authorization", "Bearer s3cret")],
        CHAT,
    );
    assert_eq!(a.status, 200);
    let seen = mock.last_request().unwrap();
    assert!(seen.header("cf-aig-authorization").is_none());

    // Without a token, nothing is asked.
    let open = serve(&gw, "{}");
    assert_eq!(
        post(open.port(), "/openai/chat/completions", CHAT).status,
        200
    );
}

#[test]
fn a_public_address_needs_a_token() {
    let e = ServerOptions::parse(Some(r#"{"listen":"0.0.0.0:0"}"#)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidConfig);
    assert!(e.message.contains("auth_token"), "{}", e.message);
}

#[test]
fn oversized_bodies_get_413() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"max_body_bytes":1000}"#);
    let big = "x".repeat(5000);
    let a = post(server.port(), "/openai/chat/completions", &big);
    assert_eq!((a.status, error_of(&a).0), (413, 11));
    // Chunked, with no length announced: counted as it arrives.
    let mut s = connect(server.port());
    write!(
        s,
        "POST /openai/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    for _ in 0..3 {
        write!(s, "190\r\n{}\r\n", "y".repeat(400)).unwrap();
    }
    let a = read_answer(&mut s).unwrap();
    assert_eq!(a.status, 413);
    assert_eq!(mock.requests(), 0);
    assert_eq!(
        post(server.port(), "/openai/chat/completions", CHAT).status,
        200
    );
}

#[test]
fn garbage_and_oversized_heads_are_refused_and_others_still_served() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"max_head_bytes":16384}"#);
    let port = server.port();
    let mut garbage = connect(port);
    garbage
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = garbage.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(got.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");

    let mut huge = connect(port);
    let _ = write!(
        huge,
        "GET /openai/models HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let mut got = Vec::new();
    let _ = huge.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(got.is_empty() || text.starts_with("HTTP/1.1 431"), "{text}");

    assert_eq!(post(port, "/openai/chat/completions", CHAT).status, 200);
    assert_eq!(mock.requests(), 1);
}

#[test]
fn slow_clients_do_not_hold_up_others() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"header_timeout_ms":400,"idle_timeout_ms":400}"#);
    let port = server.port();
    // Twenty slow-loris clients: half a head, then a byte now and then.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(port);
            s.write_all(b"POST /openai/chat/completions HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    for s in &mut slow {
        let _ = s.write_all(b"X-Slow: 1");
    }
    let started = Instant::now();
    let a = post(port, "/openai/chat/completions", CHAT);
    assert_eq!(a.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The half-sent heads are given up on after the header timeout.
    let started = Instant::now();
    for s in &mut slow {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // An idle keep-alive connection is closed after idle_timeout_ms.
    let mut idle = connect(port);
    write_chat(&mut idle, "", CHAT);
    assert_eq!(read_answer(&mut idle).unwrap().status, 200);
    let started = Instant::now();
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn connections_over_the_limit_get_503() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, r#"{"max_connections":2}"#);
    let port = server.port();
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(port)).collect();
    // Both are served (accepted and answered) while they stay open.
    for s in &mut held {
        write_chat(s, "", CHAT);
        assert_eq!(read_answer(s).unwrap().status, 200);
    }
    let mut third = connect(port);
    let a = read_answer(&mut third).unwrap();
    assert_eq!(a.status, 503);
    assert!(a.text().contains("max_connections"));
    drop(held);
    assert!(eventually(Duration::from_secs(2), || {
        post(port, "/openai/chat/completions", CHAT).status == 200
    }));
}

#[test]
fn a_client_leaving_mid_stream_cancels_the_upstream_request() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    write_chat(&mut s, "stall_after=2", CHAT_STREAM);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("tok1") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(mock.open_connections(), 1, "the upstream stream is open");
    s.shutdown(Shutdown::Both).unwrap();
    drop(s);
    assert!(
        eventually(Duration::from_secs(2), || mock.open_connections() == 0),
        "the upstream connection stayed open"
    );
    // The log says what happened to the request.
    assert!(eventually(Duration::from_secs(2), || {
        gw.logs_json(&Default::default())
            .contains("\"success\":false")
    }));
}

#[test]
fn a_client_leaving_before_the_answer_cancels_the_upstream_request() {
    // The call runs on the connection's thread; its client's hang-up must
    // still cancel it, long before the upstream answers.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    write_chat(&mut s, "stall=4000", CHAT);
    assert!(eventually(Duration::from_secs(2), || mock
        .open_connections()
        == 1));
    let left = Instant::now();
    drop(s);
    assert!(
        eventually(Duration::from_secs(2), || {
            gw.logs_json(&Default::default()).contains("cancelled")
        }),
        "the call was not cancelled: {}",
        gw.logs_json(&Default::default())
    );
    assert!(left.elapsed() < Duration::from_secs(2));
    // The connection thread goes on serving others.
    assert_eq!(
        post(server.port(), "/openai/chat/completions", CHAT).status,
        200
    );
}

#[test]
fn a_hang_up_cancels_a_later_call_on_a_kept_alive_connection() {
    // The client socket is watched per connection, across its calls: after
    // a whole answer and a stream (which moves the connection to another
    // thread and back), a hang-up still cancels the call then running.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let mut s = connect(server.port());
    write_chat(&mut s, "", CHAT);
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    write_chat(&mut s, "", CHAT_STREAM);
    let streamed = read_answer(&mut s).unwrap();
    assert_eq!(streamed.status, 200);
    assert!(streamed.text().contains("[DONE]"), "{}", streamed.text());
    write_chat(&mut s, "stall=4000", CHAT);
    // The third call runs once the mock has its request (upstream).
    assert!(eventually(Duration::from_secs(2), || mock.requests() == 3));
    let left = Instant::now();
    drop(s);
    assert!(
        eventually(Duration::from_secs(2), || {
            gw.logs_json(&Default::default()).contains("cancelled")
        }),
        "the third call was not cancelled: {}",
        gw.logs_json(&Default::default())
    );
    assert!(left.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_client_leaving_right_after_its_whole_answer_cancels_nothing() {
    // A whole answer is written before the call has finished its own
    // bookkeeping: the client going away then must not cancel the call,
    // which is logged as a success with its usage.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    for round in 1..=3 {
        let mut s = connect(server.port());
        write_chat(&mut s, "", CHAT);
        let answer = read_answer(&mut s).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        drop(s);
        assert!(
            eventually(Duration::from_secs(2), || {
                let logs: serde_json::Value =
                    serde_json::from_str(&gw.logs_json(&Default::default())).unwrap();
                logs.as_array().is_some_and(|a| a.len() == round)
            }),
            "round {round}: {}",
            gw.logs_json(&Default::default())
        );
    }
    let logs: serde_json::Value = serde_json::from_str(&gw.logs_json(&Default::default())).unwrap();
    for record in logs.as_array().unwrap() {
        assert_eq!(record["success"], true, "{record}");
        assert_eq!(record["status_code"], 200, "{record}");
        assert!(record["tokens_in"].as_u64().is_some(), "{record}");
        assert!(record.get("error").is_none(), "{record}");
    }
    assert_eq!(mock.requests(), 3);
}

#[test]
fn stopping_ends_requests_in_flight_within_the_grace() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let mut server = serve(&gw, r#"{"shutdown_grace_ms":200}"#);
    let mut s = connect(server.port());
    write_chat(&mut s, "stall_after=1", CHAT_STREAM);
    let mut buf = [0u8; 4096];
    assert!(s.read(&mut buf).unwrap() > 0);
    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        eventually(Duration::from_secs(2), || mock.open_connections() == 0),
        "the upstream connection stayed open"
    );
    // The port is released.
    assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
}

#[test]
fn stopping_cancels_a_whole_answer_still_waiting_for_its_head() {
    // The call runs on the connection's thread, not polled by anything:
    // the end of the grace must still cancel it.
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let mut server = serve(&gw, r#"{"shutdown_grace_ms":200}"#);
    let mut s = connect(server.port());
    write_chat(&mut s, "stall=10000", CHAT);
    assert!(eventually(Duration::from_secs(2), || mock
        .open_connections()
        == 1));
    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // The mock's stall does not watch its socket, so the log says it: the
    // call ended as cancelled, at the end of the grace.
    let log = gw.logs_json(&Default::default());
    assert!(
        log.contains("\"success\":false") && log.contains("cancelled"),
        "{log}"
    );
}

#[test]
fn curl_plain_and_streaming() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("curl not installed; skipped");
        return;
    }
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let server = serve(&gw, "{}");
    let url = format!(
        "http://127.0.0.1:{}/v1/ACCOUNT_TAG/GATEWAY/openai/chat/completions",
        server.port()
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", "POST", &url])
        .args(["--header", "Authorization: Bearer $TOKEN"])
        .args(["--header", "Content-Type: application/json"])
        .args(["--data", CHAT])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["choices"][0]["message"]["content"],
        "Hello from the aigw mock."
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "-N", "--fail-with-body", &url, "--data", CHAT_STREAM])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tok4") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
}

#[test]
fn the_config_server_object_is_checked_and_kept_secret() {
    let c = Config::parse(Some(
        r#"{"server":{"listen":"127.0.0.1:8787","auth_token":"tok-in-config"}}"#,
    ))
    .unwrap();
    let server = c.server.clone().unwrap();
    assert_eq!(server.listen.port(), 8787);
    assert_eq!(server.auth_token.as_deref(), Some("tok-in-config"));
    assert!(!format!("{c:?}").contains("tok-in-config"));
    let gw = Gateway::new(c).unwrap();
    assert!(!format!("{gw:?}").contains("tok-in-config"));
    for bad in [
        r#"{"server":{"listn":"127.0.0.1:1"}}"#,
        r#"{"server":{"listen":"0.0.0.0:1"}}"#,
        r#"{"server":[]}"#,
    ] {
        let e = Config::parse(Some(bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{bad}");
        assert!(e.message.contains("server"), "{bad}: {}", e.message);
    }
}
