//! The gateway through its Rust API, against the project's mock provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigw::{CancelToken, ErrorKind, Gateway, Request};
use aigw_mock::MockServer;
use common::{closed_port, gateway_from as gateway, json_of as json, request};

mod common;

/// A gateway whose openai, huggingface, replicate and workers-ai upstreams
/// are the mock, plus a `custom-down` provider on a closed port.
fn mock_gateway(mock: &MockServer, extra: &str) -> Gateway {
    gateway(&format!(
        r#"{{"account_id":"acct","providers":{{
            "openai":{{"base_url":"{u}/v1"}},
            "huggingface":{{"base_url":"{u}/models"}},
            "replicate":{{"base_url":"{u}/v1"}},
            "workers-ai":{{"base_url":"{u}/client/v4/accounts/acct/ai/run"}},
            "custom-down":{{"base_url":"http://127.0.0.1:{down}/v1"}}
        }}{extra}}}"#,
        u = mock.url(),
        down = closed_port()
    ))
}

/// Whether echoed headers hold `name: value` (names compared
/// case-insensitively, as HTTP does; the transport sends them lowercase).
fn has_header(headers: &[(String, String)], name: &str, value: &str) -> bool {
    headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
}

fn universal(steps: &str) -> Request {
    request("POST", "", &[("Content-Type", "application/json")], steps)
}

#[test]
fn provider_endpoint_forwards_path_query_headers_and_body() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let r = gw
        .send(&request(
            "POST",
            "openai/chat/completions?trace=1",
            &[
                ("Authorization", "Bearer sk-test"),
                ("x-mock", "echo"),
                ("cf-aig-max-attempts", "2"),
                ("CF-AIG-Backoff", "linear"),
                ("X-Custom", "yes"),
            ],
            r#"{"model":"gpt-4o-mini"}"#,
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.step, 0);
    assert_eq!(
        r.header("cf-aig-step"),
        None,
        "only Universal responses carry cf-aig-step"
    );
    let echo = json(&r);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/v1/chat/completions");
    assert_eq!(echo["query"], "trace=1");
    assert_eq!(echo["body"], r#"{"model":"gpt-4o-mini"}"#);
    let headers: Vec<(String, String)> = serde_json::from_value(echo["headers"].clone()).unwrap();
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    assert!(
        has_header(&headers, "Authorization", "Bearer sk-test"),
        "{headers:?}"
    );
    assert!(has_header(&headers, "X-Custom", "yes"));
    assert!(
        !headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("cf-aig-")),
        "{headers:?}"
    );
    assert!(has("host"));
}

#[test]
fn built_in_shapes_route_to_their_paths() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let cases = [
        (
            "huggingface/bigcode/starcoder",
            "/models/bigcode/starcoder",
            "generated_text",
        ),
        ("replicate/predictions", "/v1/predictions", "status"),
        (
            "workers-ai/@cf/meta/llama-2-7b",
            "/client/v4/accounts/acct/ai/run/@cf/meta/llama-2-7b",
            "result",
        ),
        (
            "openai/v1/chat/completions",
            "/v1/chat/completions",
            "choices",
        ),
    ];
    for (path, upstream_path, key) in cases {
        let r = gw
            .send(&request("POST", path, &[], r#"{"inputs":"hi"}"#))
            .unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-mock-path"), Some(upstream_path), "{path}");
        let body = json(&r);
        let found = if body.is_array() {
            body[0].get(key).is_some()
        } else {
            body.get(key).is_some()
        };
        assert!(found, "{path}: {body}");
    }
}

#[test]
fn universal_falls_back_to_the_next_step() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let r = gw
        .send(&universal(
            r#"[
              {"provider":"huggingface","endpoint":"bigcode/starcoder",
               "headers":{"x-mock":"status=503","Authorization":"Bearer hf"},"query":{"inputs":"x"}},
              {"provider":"openai","endpoint":"chat/completions","authorization":"Bearer oa",
               "headers":{"x-mock":"echo"},"query":{"model":"gpt-4o-mini","messages":[]}}
            ]"#,
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.step, 1);
    assert_eq!(r.header("cf-aig-step"), Some("1"));
    let echo = json(&r);
    assert_eq!(echo["path"], "/v1/chat/completions");
    // The step's query goes upstream byte for byte as written.
    assert_eq!(echo["body"], r#"{"model":"gpt-4o-mini","messages":[]}"#);
    let headers: Vec<(String, String)> = serde_json::from_value(echo["headers"].clone()).unwrap();
    assert!(
        has_header(&headers, "Authorization", "Bearer oa"),
        "{headers:?}"
    );
    assert!(
        has_header(&headers, "Content-Type", "application/json"),
        "{headers:?}"
    );
    assert_eq!(mock.requests(), 2);
}

#[test]
fn when_every_step_fails_the_latest_http_response_is_returned() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let r = gw
        .send(&universal(
            r#"[
              {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"status=500"},"query":{}},
              {"provider":"huggingface","endpoint":"m","headers":{"x-mock":"status=404"},"query":{}},
              {"provider":"custom-down","endpoint":"chat/completions","query":{}}
            ]"#,
        ))
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.step, 1);
    assert_eq!(r.header("cf-aig-step"), Some("1"));
    assert_eq!(json(&r)["error"]["code"], 404);
}

#[test]
fn no_response_at_all_is_an_error_listing_every_step_without_credentials() {
    let gw = gateway(&format!(
        r#"{{"providers":{{"custom-a":{{"base_url":"http://127.0.0.1:{}"}},"custom-b":{{"base_url":"http://127.0.0.1:{}"}}}}}}"#,
        closed_port(),
        closed_port()
    ));
    let e = gw
        .send(&universal(
            r#"[{"provider":"custom-a","endpoint":"x","authorization":"Bearer sk-SECRET123","query":{}},
                {"provider":"custom-b","endpoint":"y","headers":{"api-key":"SECRET456"},"query":{},
                 "config":{"maxAttempts":2}}]"#,
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect);
    assert!(e.message.contains("step 0 (custom-a"), "{}", e.message);
    assert!(e.message.contains("step 1 (custom-b"), "{}", e.message);
    assert!(e.message.contains("connection refused"), "{}", e.message);
    assert!(e.message.contains("after 2 attempts"), "{}", e.message);
    assert!(!e.message.contains("SECRET"), "{}", e.message);
}

#[test]
fn retries_until_success_within_max_attempts() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let ok = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "fail=2,key=retry-ok"),
                ("cf-aig-max-attempts", "3"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(mock.requests_for_key("retry-ok"), 3);

    // Two attempts are not enough: the last 503 comes back.
    let spent = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "fail=2,key=retry-spent"),
                ("cf-aig-max-attempts", "2"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(spent.status, 503);
    assert_eq!(mock.requests_for_key("retry-spent"), 2);
}

#[test]
fn non_retryable_statuses_are_not_retried() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let r = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "status=400,key=nr"),
                ("cf-aig-max-attempts", "5"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(mock.requests_for_key("nr"), 1);
    for status in [408, 429, 500, 502] {
        let key = format!("r{status}");
        let r = gw
            .send(&request(
                "POST",
                "openai/chat/completions",
                &[
                    ("x-mock", &format!("status={status},key={key}")),
                    ("cf-aig-max-attempts", "2"),
                ],
                "{}",
            ))
            .unwrap();
        assert_eq!(r.status, status);
        assert_eq!(mock.requests_for_key(&key), 2, "{status} is retried");
    }
}

#[test]
fn backoff_waits_grow_as_configured() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    // Waits 100 + 200 + 400 ms exponentially, 100 * 3 constantly.
    for (backoff, min_ms, max_ms) in [("exponential", 700, 3000), ("constant", 300, 650)] {
        let started = Instant::now();
        let r = gw
            .send(&request(
                "POST",
                "openai/chat/completions",
                &[
                    ("x-mock", &format!("fail=3,key=b-{backoff}")),
                    ("cf-aig-max-attempts", "4"),
                    ("cf-aig-retry-delay", "100"),
                    ("cf-aig-backoff", backoff),
                ],
                "{}",
            ))
            .unwrap();
        let ms = started.elapsed().as_millis();
        assert_eq!(r.status, 200);
        assert!((min_ms..max_ms).contains(&ms), "{backoff}: {ms} ms");
    }
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let started = Instant::now();
    let r = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "fail=1,status=429,retry_after=1,key=ra"),
                ("cf-aig-max-attempts", "2"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // When the attempts are spent, the caller sees the upstream's own headers.
    let spent = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "status=429,retry_after=0"),
                ("cf-aig-max-attempts", "2"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(spent.status, 429);
    assert_eq!(spent.header("retry-after"), Some("0"));

    let capped = mock_gateway(&mock, r#","retry_after_cap_ms":100"#);
    let started = Instant::now();
    let r = capped
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "fail=1,status=503,retry_after=30,key=ra2"),
                ("cf-aig-max-attempts", "2"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(90) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn request_timeout_counts_to_first_byte_and_falls_back() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let started = Instant::now();
    let e = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[("x-mock", "stall=5000"), ("cf-aig-request-timeout", "200")],
            "{}",
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.message.contains("200 ms"), "{}", e.message);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let r = gw
        .send(&universal(
            r#"[{"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"stall=5000"},
                 "query":{},"config":{"requestTimeout":200}},
                {"provider":"openai","endpoint":"chat/completions","query":{}}]"#,
        ))
        .unwrap();
    assert_eq!(r.step, 1);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );

    // A slow body after a prompt head is not a timeout.
    let r = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "stream,events=3,delay_ms=150"),
                ("cf-aig-request-timeout", "200"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("[DONE]"));
}

#[test]
fn dropped_connections_are_retried() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let r = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", "fail=1,drop,key=dr"),
                ("cf-aig-max-attempts", "2"),
            ],
            "{}",
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(mock.requests_for_key("dr"), 2);
    let e = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[("x-mock", "drop")],
            "{}",
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{}", e.message);
}

#[test]
fn precedence_step_over_request_over_gateway() {
    let mock = MockServer::start().unwrap();
    // Gateway says 1 attempt, the request says 2, the step says 3: three
    // attempts are needed, so only the step's setting can make this succeed.
    let gw = mock_gateway(&mock, r#","max_attempts":1"#);
    let body = r#"[{"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"fail=2,key=p1"},
                    "query":{},"config":{"maxAttempts":3}}]"#;
    let mut req = universal(body);
    req.set_header("cf-aig-max-attempts", "2").unwrap();
    assert_eq!(gw.send(&req).unwrap().status, 200);
    assert_eq!(mock.requests_for_key("p1"), 3);

    // A step's cf-aig-* header also beats the request's.
    let body = r#"[{"provider":"openai","endpoint":"chat/completions",
                    "headers":{"x-mock":"fail=2,key=p2","cf-aig-max-attempts":"3"},"query":{}}]"#;
    let mut req = universal(body);
    req.set_header("cf-aig-max-attempts", "1").unwrap();
    assert_eq!(gw.send(&req).unwrap().status, 200);

    // The request's header beats the gateway's default.
    let req = request(
        "POST",
        "openai/chat/completions",
        &[("x-mock", "fail=1,key=p3"), ("cf-aig-max-attempts", "2")],
        "{}",
    );
    assert_eq!(gw.send(&req).unwrap().status, 200);
    // And the gateway's default applies when nothing overrides it.
    let req = request(
        "POST",
        "openai/chat/completions",
        &[("x-mock", "fail=1,key=p4")],
        "{}",
    );
    assert_eq!(gw.send(&req).unwrap().status, 503);
}

#[test]
fn body_limits() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(
        &mock,
        r#","max_response_body_bytes":1000,"max_request_body_bytes":100"#,
    );
    let e = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[("x-mock", "body_size=5000")],
            "{}",
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BodyTooLarge);
    let e = gw
        .send(&request(
            "POST",
            "openai/chat/completions",
            &[],
            &"x".repeat(101),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BodyTooLarge);
    assert_eq!(mock.requests(), 1, "an oversized request never leaves");
}

#[test]
fn bad_requests_fail_before_the_network() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    let cases: &[(Request, ErrorKind)] = &[
        (
            request("POST", "nosuch/x", &[], ""),
            ErrorKind::UnknownProvider,
        ),
        (
            request("POST", "custom-unset/x", &[], ""),
            ErrorKind::UnknownProvider,
        ),
        (
            request("POST", "openai/a b", &[], ""),
            ErrorKind::InvalidRequest,
        ),
        (request("GET", "", &[], ""), ErrorKind::InvalidRequest),
        (universal("not json"), ErrorKind::InvalidRequest),
        (universal("[]"), ErrorKind::InvalidRequest),
        (
            universal(r#"[{"endpoint":"x"}]"#),
            ErrorKind::InvalidRequest,
        ),
        (
            universal(r#"[{"provider":"nosuch","endpoint":"x"}]"#),
            ErrorKind::UnknownProvider,
        ),
        (
            request("POST", "openai/x", &[("cf-aig-max-attempts", "9")], ""),
            ErrorKind::InvalidRequest,
        ),
        (
            request("POST", "openai/x", &[("cf-aig-backoff", "sideways")], ""),
            ErrorKind::InvalidRequest,
        ),
    ];
    for (req, kind) in cases {
        assert_eq!(
            gw.send(req).unwrap_err().kind,
            *kind,
            "{} {:?}",
            req.path,
            String::from_utf8_lossy(&req.body)
        );
    }
    assert_eq!(mock.requests(), 0);
}

#[test]
fn custom_providers_and_keep_alive_pooling() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&format!(
        r#"{{"providers":{{"custom-local":{{"base_url":"{}/v1/"}}}}}}"#,
        mock.url()
    ));
    for _ in 0..20 {
        let r = gw
            .send(&request(
                "POST",
                "custom-local/v1/chat/completions",
                &[],
                "{}",
            ))
            .unwrap();
        assert_eq!(r.header("x-mock-path"), Some("/v1/chat/completions"));
    }
}

#[test]
fn eight_threads_share_one_gateway() {
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(mock_gateway(&mock, ""));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let r = if i % 2 == 0 {
                        gw.send(&request("POST", "openai/chat/completions", &[], "{}")).unwrap()
                    } else {
                        gw.send(&universal(&format!(
                            r#"[{{"provider":"openai","endpoint":"chat/completions","headers":{{"x-mock":"status=503"}},"query":{{}}}},
                                {{"provider":"huggingface","endpoint":"t{t}","query":{{"inputs":"{i}"}}}}]"#
                        )))
                        .unwrap()
                    };
                    assert_eq!(r.status, 200);
                    assert_eq!(r.step, if i % 2 == 0 { 0 } else { 1 });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mock.requests(), 8 * (13 + 12 * 2));
}

#[test]
fn cancel_interrupts_a_silent_upstream() {
    let mock = MockServer::start().unwrap();
    let gw = mock_gateway(&mock, "");
    for directive in ["stall=10000", "fail=5,key=cx", "stream,stall_after=1"] {
        let token = CancelToken::new();
        let mut req = request(
            "POST",
            "openai/chat/completions",
            &[
                ("x-mock", directive),
                ("cf-aig-max-attempts", "5"),
                ("cf-aig-retry-delay", "5000"),
            ],
            "{}",
        );
        req.cancel = Some(token.clone());
        let trigger = token.clone();
        let waiter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let at = Instant::now();
            trigger.trigger();
            at
        });
        let e = gw.send(&req).unwrap_err();
        let latency = waiter.join().unwrap().elapsed();
        assert_eq!(e.kind, ErrorKind::Cancelled, "{directive}: {}", e.message);
        assert!(
            e.message.contains("openai at 127.0.0.1"),
            "names where: {}",
            e.message
        );
        assert!(
            latency < Duration::from_millis(500),
            "{directive}: {latency:?}"
        );
    }
}

/// A raw upstream on 127.0.0.1. On each accepted connection (numbered
/// from 0) it answers every request with the pieces `answer(n)` gives,
/// 20 ms apart (an empty piece closes the connection), until the client
/// closes it.
fn raw_upstream(answer: fn(usize) -> Vec<Vec<u8>>) -> (u16, Arc<AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let n = count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut reader = BufReader::new(conn);
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    for (i, piece) in answer(n).iter().enumerate() {
                        if i > 0 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if piece.is_empty() || writer.write_all(piece).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, accepted)
}

fn json_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn raw_gateway(port: u16) -> Gateway {
    gateway(&format!(
        r#"{{"providers":{{"custom-raw":{{"base_url":"http://127.0.0.1:{port}/v1"}}}}}}"#
    ))
}

/// Two requests through `raw_upstream(answer)`, 100 ms apart (time for
/// whatever `answer` sends after its first piece): the second must be
/// answered on a new connection.
fn second_request_uses_a_new_connection(answer: fn(usize) -> Vec<Vec<u8>>) {
    let (port, accepted) = raw_upstream(answer);
    let gw = raw_gateway(port);
    let get = || gw.send(&request("POST", "custom-raw/chat/completions", &[], "{}"));
    assert_eq!(json(&get().unwrap())["connection"], 0);
    std::thread::sleep(Duration::from_millis(100));
    let second = get().unwrap();
    assert_eq!(json(&second)["connection"], 1, "{second:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn a_connection_with_bytes_after_its_answer_is_not_reused() {
    // Bytes nobody asked for arrive 20 ms after the first answer (once the
    // exchange is over): the next request must not read them as its answer.
    fn answer(n: usize) -> Vec<Vec<u8>> {
        let mut pieces = vec![json_answer(&format!("{{\"connection\":{n}}}"))];
        if n == 0 {
            pieces.push(json_answer("{\"stray\":true}"));
        }
        pieces
    }
    second_request_uses_a_new_connection(answer);
}

#[test]
fn a_connection_the_upstream_closed_is_not_reused() {
    // The upstream closes the connection 20 ms after its answer, without
    // having said so in a header.
    fn answer(n: usize) -> Vec<Vec<u8>> {
        vec![json_answer(&format!("{{\"connection\":{n}}}")), Vec::new()]
    }
    second_request_uses_a_new_connection(answer);
}

#[test]
fn a_connection_kept_alive_is_reused() {
    // The other side of the tests above: clean answers leave the
    // connection in the pool, and the next requests take it.
    fn answer(n: usize) -> Vec<Vec<u8>> {
        vec![json_answer(&format!("{{\"connection\":{n}}}"))]
    }
    let (port, accepted) = raw_upstream(answer);
    let gw = raw_gateway(port);
    for _ in 0..3 {
        let r = gw
            .send(&request("POST", "custom-raw/chat/completions", &[], "{}"))
            .unwrap();
        assert_eq!(json(&r)["connection"], 0);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
