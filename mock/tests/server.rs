//! End-to-end tests of the mock over real sockets.

mod client;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aigw_mock::MockServer;
use client::{Conn, post_json, request, sse_data};

const CHAT: &str = "/v1/chat/completions";
const CHAT_BODY: &str = r#"{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn openai_chat_answer_and_headers() {
    let mock = MockServer::start().unwrap();
    assert_eq!(mock.url(), format!("http://127.0.0.1:{}", mock.port()));
    let r = post_json(&mock, &format!("{CHAT}?x=1"), &[], CHAT_BODY);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-mock-request-count"), Some("1"));
    assert_eq!(r.header("x-mock-path"), Some("/v1/chat/completions?x=1"));
    let j = r.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["id"], "chatcmpl-mock-1");
    assert_eq!(j["model"], "gpt-test");
    assert_eq!(
        j["choices"][0]["message"]["content"],
        "Hello from the aigw mock."
    );
    let prompt = (CHAT_BODY.len() / 4 + 1) as u64;
    assert_eq!(j["usage"]["prompt_tokens"], prompt);
    assert_eq!(
        j["usage"]["total_tokens"].as_u64().unwrap(),
        prompt + j["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(mock.requests(), 1);
    assert_eq!(mock.requests_for_key(""), 1);
}

#[test]
fn provider_shapes_by_path() {
    let mock = MockServer::start().unwrap();
    let j = post_json(&mock, "/v1/messages", &[], r#"{"model":"claude"}"#).json();
    assert_eq!(j["type"], "message");
    assert_eq!(j["model"], "claude");
    assert!(j["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(j["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let j = post_json(
        &mock,
        "/v1/predictions",
        &[],
        r#"{"version":"v","input":{"prompt":"p"}}"#,
    )
    .json();
    assert_eq!(j["status"], "succeeded");
    assert_eq!(j["output"][0], "Hello from the aigw mock.");
    assert_eq!(j["input"]["prompt"], "p");

    let j = post_json(
        &mock,
        "/client/v4/accounts/a/ai/run/@cf/meta/llama",
        &[],
        "{}",
    )
    .json();
    assert_eq!(j["success"], true);
    assert_eq!(j["result"]["response"], "Hello from the aigw mock.");

    let j = post_json(&mock, "/v1/models/gemini-pro:generateContent", &[], "{}").json();
    assert_eq!(
        j["candidates"][0]["content"]["parts"][0]["text"],
        "Hello from the aigw mock."
    );
    assert!(j["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 0);

    let j = post_json(
        &mock,
        "/bigcode/starcoder",
        &[],
        r#"{"inputs":"console.log"}"#,
    )
    .json();
    assert_eq!(
        j[0]["generated_text"],
        "console.log Hello from the aigw mock."
    );
    let j = request(&mock, "GET", "/anything", &[], b"").json();
    assert_eq!(j[0]["generated_text"], "Hello from the aigw mock.");
}

#[test]
fn status_from_path_and_header_override() {
    let mock = MockServer::start().unwrap();
    let r = post_json(&mock, &format!("/_mock/status=503{CHAT}"), &[], CHAT_BODY);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-mock-path"), Some(CHAT));
    let j = r.json();
    assert_eq!(j["error"]["message"], "mock status 503");
    assert_eq!(j["error"]["type"], "mock_error");
    assert_eq!(j["error"]["code"], 503);
    assert_eq!(r.header("retry-after"), None);

    // The header is applied after the path, so it wins.
    let r = post_json(
        &mock,
        &format!("/_mock/status=503{CHAT}"),
        &[("x-mock", "status=429")],
        CHAT_BODY,
    );
    assert_eq!(r.status, 429);

    // A 2xx status is the normal answer with that status.
    let r = post_json(&mock, CHAT, &[("X-Mock", "status=201")], CHAT_BODY);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["object"], "chat.completion");
    assert_eq!(mock.requests(), 3);
}

#[test]
fn fail_counts_per_key_with_retry_after() {
    let mock = MockServer::start().unwrap();
    let dirs = "fail=2,key=k,retry_after=Wed, 21 Oct 2015 07:28:00 GMT";
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            let r = post_json(&mock, CHAT, &[("x-mock", dirs)], CHAT_BODY);
            if r.status == 503 {
                assert_eq!(
                    r.header("retry-after"),
                    Some("Wed, 21 Oct 2015 07:28:00 GMT")
                );
            } else {
                assert_eq!(r.header("retry-after"), None);
            }
            r.status
        })
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(mock.requests_for_key("k"), 3);

    // fail with status: the failure uses that status; default key is the list.
    let dirs = "fail=1,status=500,retry_after=2";
    let r = post_json(&mock, CHAT, &[("x-mock", dirs)], CHAT_BODY);
    assert_eq!((r.status, r.header("retry-after")), (500, Some("2")));
    assert_eq!(
        post_json(&mock, CHAT, &[("x-mock", dirs)], CHAT_BODY).status,
        200
    );
    assert_eq!(mock.requests_for_key(dirs), 2);

    // reset starts the count over.
    mock.reset();
    assert_eq!(mock.requests(), 0);
    assert_eq!(
        post_json(&mock, CHAT, &[("x-mock", "fail=1,key=k")], CHAT_BODY).status,
        503
    );
}

#[test]
fn stats_and_reset_endpoints_are_not_counted() {
    let mock = MockServer::start().unwrap();
    post_json(&mock, CHAT, &[], CHAT_BODY);
    post_json(&mock, &format!("/_mock/key=a{CHAT}"), &[], CHAT_BODY);
    post_json(&mock, &format!("/_mock/key=a{CHAT}"), &[], CHAT_BODY);
    let j = request(&mock, "GET", "/_mock/stats", &[], b"").json();
    assert_eq!(j["requests"], 3);
    assert_eq!(j["by_key"][""], 1);
    assert_eq!(j["by_key"]["a"], 2);
    let r = request(&mock, "POST", "/_mock/reset", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(mock.requests(), 0);
    assert_eq!(
        request(&mock, "GET", "/_mock/stats", &[], b"").json()["requests"],
        0
    );
}

#[test]
fn drop_closes_without_answer() {
    let mock = MockServer::start().unwrap();
    let mut conn = Conn::open(&mock);
    conn.send("POST", CHAT, &[("x-mock", "drop")], CHAT_BODY.as_bytes());
    assert!(conn.closed_silently());
    assert_eq!(mock.requests(), 1);

    // With fail=N, drop is the failure mode: first N dropped, then answers.
    for expect_drop in [true, true, false] {
        let mut conn = Conn::open(&mock);
        conn.send(
            "POST",
            CHAT,
            &[("x-mock", "fail=2,drop,key=d")],
            CHAT_BODY.as_bytes(),
        );
        if expect_drop {
            assert!(conn.closed_silently());
        } else {
            assert_eq!(conn.read().unwrap().status, 200);
        }
    }
}

#[test]
fn stall_delays_the_head() {
    let mock = MockServer::start().unwrap();
    let start = Instant::now();
    let r = post_json(&mock, CHAT, &[("x-mock", "stall=300")], CHAT_BODY);
    assert_eq!(r.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn long_stall_ends_when_server_dropped() {
    let mock = MockServer::start().unwrap();
    let mut conn = Conn::open(&mock);
    conn.send(
        "POST",
        CHAT,
        &[("x-mock", "stall=60000")],
        CHAT_BODY.as_bytes(),
    );
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    drop(mock);
    assert!(conn.closed_silently());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn drop_releases_port_and_idle_connections() {
    let mock = MockServer::start().unwrap();
    let port = mock.port();
    // An idle keep-alive connection must not keep the server alive.
    let mut idle = Conn::open(&mock);
    idle.send("GET", "/x", &[], b"");
    assert_eq!(idle.read().unwrap().status, 200);
    drop(mock);
    assert!(idle.closed_silently());
    let again = MockServer::start_on(port).expect("port released");
    assert_eq!(again.port(), port);
}

#[test]
fn extra_headers_and_body_size() {
    let mock = MockServer::start().unwrap();
    let r = post_json(
        &mock,
        "/_mock/header=X-One:1/v1/chat/completions",
        &[("x-mock", "header=X-Two: two, three,body_size=20000")],
        CHAT_BODY,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.header("x-two"), Some("two, three"));
    assert!(r.body.len() >= 20000, "{}", r.body.len());
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.starts_with("Hello from the aigw mock."));
}

#[test]
fn echo_reflects_the_request() {
    let mock = MockServer::start().unwrap();
    let r = request(
        &mock,
        "PUT",
        "/_mock/echo/v1/thing?a=1&b=2",
        &[("X-First", "1"), ("x-second", "two")],
        b"payload",
    );
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["method"], "PUT");
    assert_eq!(j["path"], "/v1/thing");
    assert_eq!(j["query"], "a=1&b=2");
    assert_eq!(j["body"], "payload");
    let headers: Vec<(String, String)> = j["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Host", "X-First", "x-second", "Content-Length"]);

    let last = mock.last_request().unwrap();
    assert_eq!(last.method, "PUT");
    assert_eq!(last.target, "/_mock/echo/v1/thing?a=1&b=2");
    assert_eq!(last.header("X-SECOND"), Some("two"));
    assert_eq!(last.body, b"payload");
    mock.reset();
    assert!(mock.last_request().is_none());
}

#[test]
fn unknown_directive_is_400_naming_it() {
    let mock = MockServer::start().unwrap();
    let r = post_json(&mock, CHAT, &[("x-mock", "status=500,explode")], CHAT_BODY);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("explode")
    );
}

#[test]
fn keep_alive_and_connection_close() {
    let mock = MockServer::start().unwrap();
    let mut conn = Conn::open(&mock);
    for i in 1..=3 {
        conn.send("POST", CHAT, &[], CHAT_BODY.as_bytes());
        let r = conn.read().unwrap();
        assert_eq!(
            r.header("x-mock-request-count"),
            Some(i.to_string().as_str())
        );
    }
    // Two pipelined requests in one write.
    let one =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    conn.send_raw(one.as_bytes());
    assert_eq!(conn.read().unwrap().header("x-mock-path"), Some("/a"));
    let r = conn.read().unwrap();
    assert_eq!(r.header("x-mock-path"), Some("/b"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(conn.closed_silently());
}

#[test]
fn chunked_request_body_and_expect_continue() {
    let mock = MockServer::start().unwrap();
    let mut conn = Conn::open(&mock);
    conn.send_raw(
        b"POST /_mock/echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
    );
    assert_eq!(conn.read().unwrap().json()["body"], "abcdefg");

    conn.send_raw(b"POST /_mock/echo/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let mut interim = [0u8; 25];
    conn.reader.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    conn.send_raw(b"hello");
    assert_eq!(conn.read().unwrap().json()["body"], "hello");
}

#[test]
fn malformed_requests_get_400_and_close() {
    let mock = MockServer::start().unwrap();
    for raw in [
        &b"NONSENSE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nXYZ\r\n",
    ] {
        let mut conn = Conn::open(&mock);
        conn.send_raw(raw);
        let r = conn.read().unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
        assert_eq!(r.header("connection"), Some("close"));
        assert!(conn.closed_silently());
    }
    let mut conn = Conn::open(&mock);
    let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    conn.send_raw(&huge);
    assert_eq!(conn.read().unwrap().status, 431);
    // Nothing malformed is counted, and the server still works.
    assert_eq!(mock.requests(), 0);
    assert_eq!(request(&mock, "GET", "/", &[], b"").status, 200);
}

#[test]
fn garbage_bytes_never_kill_the_server() {
    let mock = MockServer::start().unwrap();
    for seed in 0u32..50 {
        let mut s = TcpStream::connect(("127.0.0.1", mock.port())).unwrap();
        let bytes: Vec<u8> = (0..(seed * 37 % 500))
            .map(|i| (i.wrapping_mul(seed * 7919 + 13) >> 3) as u8)
            .collect();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    assert_eq!(request(&mock, "GET", "/ok", &[], b"").status, 200);
}

// ---- streaming -----------------------------------------------------------

fn stream_body(extra: &str) -> String {
    format!(r#"{{"model":"m","stream":true{extra}}}"#)
}

#[test]
fn stream_events_usage_and_done() {
    let mock = MockServer::start().unwrap();
    let body = stream_body(r#","stream_options":{"include_usage":true}"#);
    let r = post_json(&mock, CHAT, &[("x-mock", "events=3")], &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.complete);
    // One chunk per event.
    assert_eq!(r.chunks.len(), 5);
    let data = sse_data(&r.body);
    assert_eq!(data.len(), 5);
    for (i, d) in data[..3].iter().enumerate() {
        let j: serde_json::Value = serde_json::from_str(d).unwrap();
        assert_eq!(j["object"], "chat.completion.chunk");
        assert_eq!(j["choices"][0]["delta"]["content"], format!("tok{i} "));
    }
    let usage: serde_json::Value = serde_json::from_str(&data[3]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    assert_eq!(data[4], "[DONE]");
    assert!(r.text().ends_with("data: [DONE]\n\n"));

    // Default: 5 events, no usage; the `stream` directive works without a body.
    let r = request(&mock, "GET", "/_mock/stream/v1/chat/completions", &[], b"");
    let data = sse_data(&r.body);
    assert_eq!(data.len(), 6);
    assert_eq!(data[5], "[DONE]");
}

#[test]
fn stream_error_first_variants() {
    let mock = MockServer::start().unwrap();
    let r = post_json(&mock, CHAT, &[("x-mock", "error_first")], &stream_body(""));
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .starts_with("event: error\ndata: {\"error\":{\"message\":\"mock stream error\"}}\n\n")
    );
    let r = post_json(
        &mock,
        CHAT,
        &[("x-mock", "error_data_first")],
        &stream_body(""),
    );
    assert!(
        r.text()
            .starts_with("data: {\"error\":{\"message\":\"mock stream error\"}}\n\n")
    );
}

#[test]
fn stream_break_after_cuts_without_terminator() {
    let mock = MockServer::start().unwrap();
    let r = post_json(
        &mock,
        CHAT,
        &[("x-mock", "break_after=2")],
        &stream_body(""),
    );
    assert!(!r.complete);
    assert_eq!(r.chunks.len(), 2);
}

#[test]
fn stream_stall_after_holds_then_ends_on_drop() {
    let mock = MockServer::start().unwrap();
    let mut conn = Conn::open(&mock);
    conn.stream()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    conn.send(
        "POST",
        CHAT,
        &[("x-mock", "stall_after=1")],
        stream_body("").as_bytes(),
    );
    // The read timed out after one event: the head and first chunk arrived.
    let r = conn.read().unwrap();
    assert!(!r.complete);
    assert_eq!(r.chunks.len(), 1);
    let mut rest = Vec::new();
    assert!(conn.reader.read_to_end(&mut rest).is_err(), "still open");
    conn.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    drop(mock);
    let mut rest = Vec::new();
    let r = conn.reader.read_to_end(&mut rest);
    assert!(matches!(r, Ok(0)) || r.is_err());
}

#[test]
fn stream_stall_after_ends_when_client_leaves() {
    let mock = MockServer::start().unwrap();
    {
        let mut conn = Conn::open(&mock);
        conn.send(
            "POST",
            CHAT,
            &[("x-mock", "stall_after=0")],
            stream_body("").as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The stalled thread notices the client left; the server keeps serving.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(request(&mock, "GET", "/", &[], b"").status, 200);
}

#[test]
fn stream_delay_crlf_and_byte_per_write() {
    let mock = MockServer::start().unwrap();
    let start = Instant::now();
    let r = post_json(
        &mock,
        CHAT,
        &[("x-mock", "events=3,delay_ms=100,crlf,byte_per_write")],
        &stream_body(""),
    );
    // Three delays: between the 3 tokens and [DONE].
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert!(r.complete);
    let text = r.text();
    assert!(text.contains("\r\n\r\n"));
    assert!(text.ends_with("data: [DONE]\r\n\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'));
}

#[test]
fn concurrent_clients() {
    let mock = MockServer::start().unwrap();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let port = mock.port();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(
                    b"GET /_mock/stall=50/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(mock.requests(), 16);
    assert_eq!(mock.requests_for_key("stall=50"), 16);
}
