//! Cache, rate limit, logs and metrics through the Rust API, against the
//! mock provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aigw::log::LogFilter;
use aigw::sse::SseEvent;
use aigw::{ErrorKind, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;
use common::{gateway_from, logs, prometheus_parser};
use serde_json::Value;

mod common;

fn gateway(mock: &MockServer, extra: &str) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{u}/v1"}},"anthropic":{{"base_url":"{u}"}},
            "google-ai-studio":{{"base_url":"{u}"}}}}{extra}}}"#,
        u = mock.url()
    );
    gateway_from(&json)
}

fn chat(headers: &[(&str, &str)], body: &str) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("Authorization", "Bearer sk-test-key").unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = body.as_bytes().to_vec();
    r
}

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

#[derive(Default)]
struct Events {
    heads: usize,
    bytes: Vec<u8>,
    data: Vec<String>,
}

impl StreamSink for Events {
    fn on_response(&mut self, _: &Response) -> bool {
        self.heads += 1;
        true
    }
    fn on_data(&mut self, d: &[u8]) -> bool {
        self.bytes.extend_from_slice(d);
        true
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.data.push(e.data.to_string());
        true
    }
}

// ---- cache ----------------------------------------------------------------

#[test]
fn cache_miss_then_hit_and_skip() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cache_ttl_s":60"#);
    let first = gw.send(&chat(&[], BODY)).unwrap();
    assert_eq!(first.header("cf-aig-cache-status"), Some("MISS"));
    let second = gw.send(&chat(&[], BODY)).unwrap();
    assert_eq!(second.header("cf-aig-cache-status"), Some("HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(mock.requests(), 1);
    assert_ne!(
        first.header("cf-aig-log-id"),
        second.header("cf-aig-log-id")
    );

    let skipped = gw
        .send(&chat(&[("cf-aig-skip-cache", "true")], BODY))
        .unwrap();
    assert_eq!(skipped.header("cf-aig-cache-status"), None);
    assert_eq!(mock.requests(), 2);
    // A different body is a different entry.
    gw.send(&chat(&[], r#"{"model":"gpt-4o-mini","messages":[]}"#))
        .unwrap();
    assert_eq!(mock.requests(), 3);
}

#[test]
fn cache_is_off_by_default_and_per_request_ttl_turns_it_on() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let r = gw.send(&chat(&[], BODY)).unwrap();
    assert_eq!(r.header("cf-aig-cache-status"), None);
    gw.send(&chat(&[], BODY)).unwrap();
    assert_eq!(mock.requests(), 2);
    let a = gw.send(&chat(&[("cf-aig-cache-ttl", "60")], BODY)).unwrap();
    let b = gw.send(&chat(&[("cf-aig-cache-ttl", "60")], BODY)).unwrap();
    assert_eq!(
        (
            a.header("cf-aig-cache-status"),
            b.header("cf-aig-cache-status")
        ),
        (Some("MISS"), Some("HIT"))
    );
    assert_eq!(mock.requests(), 3);
}

#[test]
fn credentials_never_share_an_entry() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cache_ttl_s":60"#);
    let mut other = chat(&[], BODY);
    other.headers.retain(|(n, _)| n != "Authorization");
    other
        .set_header("Authorization", "Bearer sk-other-key")
        .unwrap();
    gw.send(&chat(&[], BODY)).unwrap();
    let r = gw.send(&other).unwrap();
    assert_eq!(r.header("cf-aig-cache-status"), Some("MISS"));
    assert_eq!(mock.requests(), 2);
}

#[test]
fn custom_keys_ttl_expiry_and_failures_not_stored() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    // A custom key opts in and replaces the computed key: different bodies share it.
    let a = gw
        .send(&chat(&[("cf-aig-cache-key", "greeting")], BODY))
        .unwrap();
    let b = gw
        .send(&chat(
            &[("cf-aig-cache-key", "greeting")],
            r#"{"model":"x"}"#,
        ))
        .unwrap();
    assert_eq!(b.header("cf-aig-cache-status"), Some("HIT"));
    assert_eq!(a.body, b.body);
    assert_eq!(mock.requests(), 1);

    // TTL expiry.
    let short = [("cf-aig-cache-ttl", "1"), ("cf-aig-cache-key", "short")];
    gw.send(&chat(&short, BODY)).unwrap();
    assert_eq!(
        gw.send(&chat(&short, BODY))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("HIT")
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        gw.send(&chat(&short, BODY))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("MISS")
    );

    // Non-2xx answers are never stored.
    let failing = [("cf-aig-cache-key", "fails"), ("x-mock", "status=500")];
    let before = mock.requests();
    for _ in 0..2 {
        let r = gw.send(&chat(&failing, BODY)).unwrap();
        assert_eq!(r.status, 500);
        assert_eq!(r.header("cf-aig-cache-status"), Some("MISS"));
    }
    assert_eq!(mock.requests(), before + 2);
}

#[test]
fn eviction_keeps_the_cache_within_its_byte_bound() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cache_ttl_s":60,"cache_max_bytes":300000"#);
    for i in 0..6 {
        let r = gw
            .send(&chat(
                &[
                    ("x-mock", "body_size=100000"),
                    ("cf-aig-cache-key", &format!("big{i}")),
                ],
                BODY,
            ))
            .unwrap();
        assert_eq!(r.header("cf-aig-cache-status"), Some("MISS"));
    }
    // At most two 100 KB entries fit in 300 KB: the oldest were evicted.
    let hits = (0..6)
        .filter(|i| {
            let r = gw
                .send(&chat(
                    &[
                        ("x-mock", "body_size=100000"),
                        ("cf-aig-cache-key", &format!("big{i}")),
                    ],
                    BODY,
                ))
                .unwrap();
            r.header("cf-aig-cache-status") == Some("HIT")
        })
        .count();
    assert!((1..=2).contains(&hits), "{hits} hits");

    // An entry count bound too.
    let gw = gateway(&mock, r#","cache_ttl_s":60,"cache_max_entries":2"#);
    for i in 0..5 {
        gw.send(&chat(&[("cf-aig-cache-key", &format!("n{i}"))], BODY))
            .unwrap();
    }
    let hits = (0..5)
        .filter(|i| {
            gw.send(&chat(&[("cf-aig-cache-key", &format!("n{i}"))], BODY))
                .unwrap()
                .header("cf-aig-cache-status")
                == Some("HIT")
        })
        .count();
    assert!(hits <= 2, "{hits} hits");
}

#[test]
fn streams_are_cached_and_replayed_with_events_intact() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cache_ttl_s":60"#);
    let body = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
    let mut first = Events::default();
    let head = gw
        .send_stream(&chat(&[("x-mock", "events=20")], body), &mut first)
        .unwrap();
    assert_eq!(head.header("cf-aig-cache-status"), Some("MISS"));
    let mut second = Events::default();
    let head = gw
        .send_stream(&chat(&[("x-mock", "events=20")], body), &mut second)
        .unwrap();
    assert_eq!(head.header("cf-aig-cache-status"), Some("HIT"));
    assert_eq!(mock.requests(), 1);
    assert_eq!(second.heads, 1);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.data, first.data);
    assert_eq!(second.data.len(), 22, "20 chunks, a usage chunk, [DONE]");
    // A plain send of the same request gets the stored stream body.
    let whole = gw.send(&chat(&[("x-mock", "events=20")], body)).unwrap();
    assert_eq!(whole.body, first.bytes);
}

#[test]
fn identical_concurrent_misses_make_one_upstream_call() {
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(gateway(&mock, r#","cache_ttl_s":60"#));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                gw.send(&chat(&[("x-mock", "stall=300,key=coalesce")], BODY))
                    .unwrap()
            })
        })
        .collect();
    let statuses: Vec<String> = threads
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .header("cf-aig-cache-status")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(mock.requests_for_key("coalesce"), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "MISS").count(),
        1,
        "{statuses:?}"
    );

    // When the call fails, waiters do not share the failure: each calls.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let gw = gw.clone();
            // (The cache key ignores x-mock, so the body must differ from above.)
            std::thread::spawn(move || {
                gw.send(&chat(
                    &[("x-mock", "stall=100,status=503,key=nocoalesce")],
                    r#"{"model":"fails"}"#,
                ))
                .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().status, 503);
    }
    assert_eq!(mock.requests_for_key("nocoalesce"), 4);
}

// ---- rate limit -------------------------------------------------------------

#[test]
fn rate_limit_refuses_without_contacting_upstream() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(
        &mock,
        r#","rate_limit":{"limit":3,"interval_s":60,"technique":"sliding"}"#,
    );
    for _ in 0..3 {
        gw.send(&chat(&[], BODY)).unwrap();
    }
    let started = Instant::now();
    let e = gw.send(&chat(&[], BODY)).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(50));
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert!(e.message.contains("3 requests per 60 s"), "{}", e.message);
    assert!(
        e.message.contains("next request is allowed in"),
        "{}",
        e.message
    );
    assert_eq!(mock.requests(), 3);
}

#[test]
fn cache_hits_do_not_count_against_the_rate_limit() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(
        &mock,
        r#","cache_ttl_s":60,"rate_limit":{"limit":2,"interval_s":60}"#,
    );
    for _ in 0..10 {
        assert_eq!(gw.send(&chat(&[], BODY)).unwrap().status, 200);
    }
    gw.send(&chat(&[], r#"{"model":"other"}"#)).unwrap();
    assert_eq!(
        gw.send(&chat(&[], r#"{"model":"third"}"#))
            .unwrap_err()
            .kind,
        ErrorKind::RateLimited
    );
    assert_eq!(mock.requests(), 2);
}

#[test]
fn rate_limit_is_exact_under_eight_threads() {
    let mock = MockServer::start().unwrap();
    for technique in ["fixed", "sliding"] {
        let gw = Arc::new(gateway(
            &mock,
            &format!(r#","rate_limit":{{"limit":40,"interval_s":3600,"technique":"{technique}"}}"#),
        ));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let gw = gw.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .filter(|_| gw.send(&chat(&[], BODY)).is_ok())
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // A fixed window may roll over mid-test only at an hour boundary.
        assert!(
            admitted == 40 || technique == "fixed" && admitted <= 80,
            "{technique}: {admitted}"
        );
    }
}

// ---- logs -------------------------------------------------------------------

#[test]
fn every_request_gets_a_record_with_tokens_cost_and_metadata() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let r = gw
        .send(&chat(
            &[
                ("cf-aig-metadata", r#"{"user":"u1","team":7,"beta":true}"#),
                ("cf-aig-event-id", "evt-42"),
            ],
            BODY,
        ))
        .unwrap();
    assert_eq!(r.header("cf-aig-event-id"), Some("evt-42"));
    let records = logs(&gw, r#"{"event_id":"evt-42"}"#);
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec["id"], r.header("cf-aig-log-id").unwrap());
    assert_eq!(rec["provider"], "openai");
    assert_eq!(rec["model"], "gpt-4o-mini");
    assert_eq!(rec["path"], "openai/chat/completions");
    assert_eq!(rec["status_code"], 200);
    assert_eq!(rec["success"], true);
    assert_eq!(rec["cached"], false);
    assert_eq!(rec["metadata"]["team"], 7);
    let tokens_in = (BODY.len() / 4 + 1) as u64;
    assert_eq!(rec["tokens_in"], tokens_in);
    assert_eq!(rec["tokens_out"], 7);
    let cost = rec["cost"].as_f64().unwrap();
    let want = tokens_in as f64 * 0.15e-6 + 7.0 * 0.60e-6;
    assert!((cost - want).abs() < 1e-12, "{cost} vs {want}");
    assert!(rec["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(rec["ttfb_ms"].as_f64().unwrap() <= rec["duration_ms"].as_f64().unwrap());
    assert_eq!(rec["attempts"].as_array().unwrap().len(), 1);
    assert!(rec["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(!serde_json::to_string(rec).unwrap().contains("sk-test-key"));
}

#[test]
fn usage_formats_plain_and_streamed() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let mut anthropic = Request::new("POST", "anthropic/v1/messages").unwrap();
    anthropic
        .set_header("cf-aig-event-id", "anthropic")
        .unwrap();
    anthropic.body = br#"{"model":"claude-3-5-haiku-latest","messages":[]}"#.to_vec();
    gw.send(&anthropic).unwrap();
    let rec = &logs(&gw, r#"{"event_id":"anthropic"}"#)[0];
    assert!(
        rec["tokens_in"].as_u64().unwrap() > 0 && rec["tokens_out"].as_u64().unwrap() > 0,
        "{rec}"
    );
    assert!(rec["cost"].as_f64().unwrap() > 0.0);

    let mut google = Request::new(
        "POST",
        "google-ai-studio/v1/models/gemini-1.5-flash:generateContent",
    )
    .unwrap();
    google.set_header("cf-aig-event-id", "google").unwrap();
    google.body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#.to_vec();
    gw.send(&google).unwrap();
    let rec = &logs(&gw, r#"{"event_id":"google"}"#)[0];
    assert_eq!(rec["model"], "gemini-1.5-flash");
    assert!(rec["tokens_in"].as_u64().unwrap() > 0, "{rec}");

    let body =
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
    gw.send_stream(
        &chat(
            &[("x-mock", "events=9"), ("cf-aig-event-id", "streamed")],
            body,
        ),
        &mut Events::default(),
    )
    .unwrap();
    let rec = &logs(&gw, r#"{"event_id":"streamed"}"#)[0];
    assert_eq!(rec["stream"], true);
    assert_eq!(rec["tokens_out"], 9);
    assert_eq!(rec["tokens_in"], (body.len() / 4 + 1) as u64);
    assert!(rec["cost"].as_f64().unwrap() > 0.0);
}

#[test]
fn custom_cost_collect_log_and_filters() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    gw.send(&chat(
        &[
            (
                "cf-aig-custom-cost",
                r#"{"per_token_in":0.001,"per_token_out":0.002}"#,
            ),
            ("cf-aig-event-id", "cc"),
        ],
        r#"{"model":"my-model"}"#,
    ))
    .unwrap();
    let rec = &logs(&gw, r#"{"event_id":"cc"}"#)[0];
    let want = (r#"{"model":"my-model"}"#.len() / 4 + 1) as f64 * 0.001 + 7.0 * 0.002;
    assert!((rec["cost"].as_f64().unwrap() - want).abs() < 1e-9);
    gw.send(&chat(
        &[
            ("cf-aig-custom-cost", r#"{"total_cost":1.5}"#),
            ("cf-aig-event-id", "tc"),
        ],
        BODY,
    ))
    .unwrap();
    assert_eq!(logs(&gw, r#"{"event_id":"tc"}"#)[0]["cost"], 1.5);

    gw.send(&chat(
        &[
            ("cf-aig-collect-log", "false"),
            ("cf-aig-event-id", "hidden"),
        ],
        BODY,
    ))
    .unwrap();
    assert!(logs(&gw, r#"{"event_id":"hidden"}"#).is_empty());

    gw.send(&chat(
        &[
            ("x-mock", "status=404"),
            ("cf-aig-metadata", r#"{"k":"v"}"#),
        ],
        BODY,
    ))
    .unwrap();
    assert_eq!(logs(&gw, r#"{"success":false}"#).len(), 1);
    assert_eq!(logs(&gw, r#"{"metadata":{"k":"v"}}"#).len(), 1);
    assert_eq!(logs(&gw, r#"{"provider":"openai","limit":2}"#).len(), 2);
    assert_eq!(logs(&gw, r#"{"model":"my-model"}"#).len(), 1);
    assert_eq!(logs(&gw, "{}").len(), 3);

    let bad = chat(
        &[(
            "cf-aig-metadata",
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#,
        )],
        BODY,
    );
    assert_eq!(gw.send(&bad).unwrap_err().kind, ErrorKind::InvalidRequest);
}

#[test]
fn fallback_attempts_and_errors_are_recorded() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let mut u = Request::new("POST", "").unwrap();
    u.set_header("cf-aig-event-id", "fb").unwrap();
    u.body = br#"[{"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"status=503"},
                  "config":{"maxAttempts":2},"query":{"model":"gpt-4o"}},
                 {"provider":"anthropic","endpoint":"v1/messages","query":{"model":"claude-3-haiku"}}]"#
        .to_vec();
    let r = gw.send(&u).unwrap();
    assert_eq!(r.step, 1);
    let rec = &logs(&gw, r#"{"event_id":"fb"}"#)[0];
    assert_eq!(rec["step"], 1);
    assert_eq!(rec["provider"], "anthropic");
    assert_eq!(rec["model"], "claude-3-haiku");
    let attempts = rec["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts[1]["step"], 0);
    assert_eq!(attempts[2]["step"], 1);

    let e = gw
        .send(&chat(
            &[("x-mock", "drop"), ("cf-aig-event-id", "dropped")],
            BODY,
        ))
        .unwrap_err();
    let rec = &logs(&gw, r#"{"event_id":"dropped"}"#)[0];
    assert_eq!(rec["success"], false);
    assert_eq!(rec["status_code"], Value::Null);
    assert_eq!(rec["error"], e.message.as_str());
}

#[test]
fn payloads_only_when_configured_and_never_credentials() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    gw.send(&chat(&[], BODY)).unwrap();
    assert!(logs(&gw, "{}")[0].get("request_body").is_none());

    let gw = gateway(&mock, r#","log_payloads":true"#);
    gw.send(&chat(&[], BODY)).unwrap();
    let rec = &logs(&gw, "{}")[0];
    assert_eq!(rec["request_body"], BODY);
    assert!(
        rec["response_body"]
            .as_str()
            .unwrap()
            .contains("chat.completion")
    );
    let mut u = Request::new("POST", "").unwrap();
    u.body = br#"[{"provider":"openai","endpoint":"chat/completions","authorization":"Bearer sk-SECRET-U",
                  "headers":{"api-key":"SECRET-K"},"query":{}}]"#
        .to_vec();
    gw.send(&u).unwrap();
    let all = gw.logs_json(&LogFilter::default());
    assert!(!all.contains("SECRET"), "{all}");
    gw.send(&chat(
        &[
            ("cf-aig-collect-log-payload", "false"),
            ("cf-aig-event-id", "nopayload"),
        ],
        BODY,
    ))
    .unwrap();
    assert!(
        logs(&gw, r#"{"event_id":"nopayload"}"#)[0]
            .get("request_body")
            .is_none()
    );
}

#[test]
fn the_log_callback_sees_every_record_and_can_be_replaced_while_sending() {
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(gateway(&mock, r#","log_capacity":5"#));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    gw.set_log_callback(Some(Arc::new(move |json: &str| {
        s.lock().unwrap().push(json.to_string())
    })));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    gw.send(&chat(&[], BODY)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 40);
    assert_eq!(
        logs(&gw, "{}").len(),
        5,
        "the ring keeps log_capacity records"
    );
    let ids: Vec<String> = logs(&gw, "{}")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "newest last, ids sortable");

    // Replace the callback while other threads send.
    let gw2 = gw.clone();
    let sender = std::thread::spawn(move || {
        for _ in 0..50 {
            gw2.send(&chat(&[], BODY)).unwrap();
        }
    });
    let second = Arc::new(Mutex::new(0usize));
    for _ in 0..20 {
        let s = second.clone();
        gw.set_log_callback(Some(Arc::new(move |_: &str| *s.lock().unwrap() += 1)));
        gw.set_log_callback(None);
    }
    sender.join().unwrap();
    assert!(seen.lock().unwrap().len() >= 40);
}

// ---- metrics ----------------------------------------------------------------

#[test]
fn metrics_count_per_provider_and_model_and_parse_as_prometheus() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cache_ttl_s":60"#);
    for _ in 0..3 {
        gw.send(&chat(&[], BODY)).unwrap();
    }
    gw.send(&chat(&[("x-mock", "status=500")], r#"{"model":"gpt-4o"}"#))
        .unwrap();
    let json: Value = serde_json::from_str(&gw.metrics_json()).unwrap();
    let series = json["series"].as_array().unwrap();
    let mini = series.iter().find(|s| s["model"] == "gpt-4o-mini").unwrap();
    assert_eq!(mini["requests"], 3);
    assert_eq!(mini["cache_hits"], 2);
    assert_eq!(mini["errors"], 0);
    assert_eq!(
        mini["tokens_out"], 7,
        "tokens count what providers billed, not cache hits"
    );
    let big = series.iter().find(|s| s["model"] == "gpt-4o").unwrap();
    assert_eq!(big["errors"], 1);

    let text = gw.metrics_prometheus();
    assert!(
        text.contains(r#"aigw_requests_total{provider="openai",model="gpt-4o-mini"} 3"#),
        "{text}"
    );
    // Parse it with the reference parser (prometheus_client, from PyPI).
    let check = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
assert families["aigw_requests"].type == "counter", families
assert families["aigw_request_duration_seconds"].type == "histogram"
total = sum(s.value for s in families["aigw_requests"].samples if s.name == "aigw_requests_total")
assert total == 4, total
print("prometheus ok", len(families))
"#;
    let Some(out) = prometheus_parser(check, &text) else {
        return;
    };
    assert!(out.status.success(), "prometheus_client rejected:\n{text}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("prometheus ok"));
}
