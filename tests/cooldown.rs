//! Cooldowns through the Rust API against the mock: a provider and model
//! that keeps failing is skipped (unless it is the last choice left), one
//! success resets its count, and metrics show it.

use std::time::Duration;

use aigw::{Config, ErrorKind, Gateway, Request, Response};
use aigw_mock::MockServer;
use common::{closed_port, gateway_from, last_log, metrics, prometheus_parser};
use serde_json::{Value, json};

mod common;

/// openai is the mock; `custom-down` and `custom-gone` refuse connections.
fn gateway(mock: &MockServer, extra: &str) -> Gateway {
    let text = format!(
        r#"{{"providers":{{
            "openai":{{"base_url":"{u}/v1"}},
            "custom-down":{{"base_url":"http://127.0.0.1:{d1}/v1"}},
            "custom-gone":{{"base_url":"http://127.0.0.1:{d2}/v1"}}
        }}{extra}}}"#,
        u = mock.url(),
        d1 = closed_port(),
        d2 = closed_port()
    );
    gateway_from(&text)
}

const COOLDOWN: &str = r#","cooldown":{"after_failures":2,"seconds":30}"#;

/// A Universal step to `provider` asking for `model`, with mock directives.
fn step(provider: &str, model: &str, mock: &str) -> Value {
    json!({
        "provider": provider, "endpoint": "chat/completions",
        "headers": {"x-mock": mock},
        "query": {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    })
}

fn send(gw: &Gateway, steps: Value) -> aigw::error::Result<Response> {
    let mut r = Request::new("POST", "").unwrap();
    r.set_header("Content-Type", "application/json").unwrap();
    r.body = steps.to_string().into_bytes();
    gw.send(&r)
}

#[test]
fn a_failing_target_is_skipped_after_failures_in_a_row() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    let steps = || {
        json!([
            step("openai", "flaky-model", "status=503,key=flaky"),
            step("openai", "backup-model", "key=backup"),
        ])
    };
    for _ in 0..2 {
        let r = send(&gw, steps()).unwrap();
        assert_eq!((r.status, r.step), (200, 1));
    }
    assert_eq!(mock.requests_for_key("flaky"), 2);
    // Two 503s in a row: the third request skips the flaky model at once.
    let r = send(&gw, steps()).unwrap();
    assert_eq!((r.status, r.step), (200, 1));
    assert_eq!(
        mock.requests_for_key("flaky"),
        2,
        "the cooled-down step was sent"
    );
    assert_eq!(mock.requests_for_key("backup"), 3);
    let log = last_log(&gw);
    let skip = &log["attempts"][0];
    assert_eq!(skip["step"], 0);
    assert!(skip["status_code"].is_null());
    assert!(
        skip["error"].as_str().unwrap().contains("cooling down"),
        "{skip}"
    );
    assert_eq!(log["attempts"][1]["status_code"], 200);

    // Metrics: one skip, cooling now, in JSON and Prometheus.
    let m = metrics(&gw);
    let c = m["cooldowns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "flaky-model")
        .unwrap_or_else(|| panic!("{m}"));
    assert_eq!(c["provider"], "openai");
    assert_eq!(
        (c["started"].as_u64(), c["skips"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(c["cooling"], true);
    let left = c["cooling_seconds_left"].as_f64().unwrap();
    assert!(left > 25.0 && left <= 30.0, "{left}");
    let p = gw.metrics_prometheus();
    for line in [
        r#"aigw_cooldown_skips_total{provider="openai",model="flaky-model"} 1"#,
        r#"aigw_cooldowns_started_total{provider="openai",model="flaky-model"} 1"#,
        r#"aigw_cooldown_active{provider="openai",model="flaky-model"} 1"#,
        "# TYPE aigw_cooldown_active gauge",
    ] {
        assert!(p.lines().any(|l| l == line), "{line} not in\n{p}");
    }
    check_prometheus(&p);
    assert!(
        !m["cooldowns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["model"] == "backup-model"),
        "a healthy target has no cooldown: {m}"
    );

    // The same provider with another model is a different target.
    let r = send(
        &gw,
        json!([
            step("openai", "other-model", "key=other"),
            step("openai", "backup-model", "key=backup"),
        ]),
    )
    .unwrap();
    assert_eq!(r.step, 0);
}

#[test]
fn the_last_choice_left_is_never_skipped() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    let only = || json!([step("openai", "sick", "status=503,key=sick")]);
    for n in 1..=4 {
        // A single step: tried every time, its 503 returned as the answer.
        let r = send(&gw, only()).unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(mock.requests_for_key("sick"), n);
    }
    // Cooling as the first of two steps: skipped; as the last: tried.
    let r = send(
        &gw,
        json!([
            step("openai", "sick", "status=503,key=sick"),
            step("openai", "fine", "key=fine"),
        ]),
    )
    .unwrap();
    assert_eq!(r.step, 1);
    assert_eq!(mock.requests_for_key("sick"), 4);
    let r = send(
        &gw,
        json!([
            step("openai", "fine", "status=500,key=fine"),
            step("openai", "sick", "key=sick"),
        ]),
    )
    .unwrap();
    assert_eq!((r.status, r.step), (200, 1));
    assert_eq!(mock.requests_for_key("sick"), 5);
}

#[test]
fn one_success_resets_the_count() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    let with = |fault: &str| {
        json!([
            step("openai", "m", fault),
            step("openai", "backup", "key=backup"),
        ])
    };
    assert_eq!(send(&gw, with("status=502")).unwrap().step, 1);
    assert_eq!(
        send(&gw, with("key=ok")).unwrap().step,
        0,
        "one failure is not enough"
    );
    // The success reset the count: this is failure one, not two.
    assert_eq!(send(&gw, with("status=429")).unwrap().step, 1);
    assert_eq!(
        send(&gw, with("key=ok")).unwrap().step,
        0,
        "still not cooling"
    );
    assert_eq!(mock.requests_for_key("ok"), 2);
    // Two in a row (a 408 counts too): now it cools.
    assert_eq!(send(&gw, with("status=408")).unwrap().step, 1);
    assert_eq!(send(&gw, with("status=503")).unwrap().step, 1);
    assert_eq!(send(&gw, with("key=ok")).unwrap().step, 1, "skipped");
    assert_eq!(mock.requests_for_key("ok"), 2);
}

#[test]
fn answers_that_are_not_failures_do_not_count() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    let steps = || {
        json!([
            step("openai", "picky", "status=400,key=picky"),
            step("openai", "backup", "key=backup"),
        ])
    };
    for n in 1..=4 {
        // A 400 falls back but says nothing about the target's health.
        assert_eq!(send(&gw, steps()).unwrap().step, 1);
        assert_eq!(mock.requests_for_key("picky"), n);
    }
}

#[test]
fn cooldowns_are_off_by_default() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "");
    let steps = || {
        json!([
            step("openai", "flaky", "status=503,key=flaky"),
            step("openai", "backup", "key=backup"),
        ])
    };
    for n in 1..=5 {
        assert_eq!(send(&gw, steps()).unwrap().step, 1);
        assert_eq!(mock.requests_for_key("flaky"), n);
    }
    assert_eq!(metrics(&gw)["cooldowns"], json!([]));
    assert!(
        !gw.metrics_prometheus()
            .contains("aigw_cooldown_skips_total{")
    );
}

#[test]
fn connect_errors_and_timeouts_count_and_skips_are_listed_in_the_error() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    // Connection refused twice: custom-down/m cools down.
    let failing = || json!([step("custom-down", "m", ""), step("custom-gone", "n", ""),]);
    for _ in 0..2 {
        let e = send(&gw, failing()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connect);
        assert!(!e.message.contains("cooling"), "{}", e.message);
    }
    let e = send(&gw, failing()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect);
    assert!(
        e.message.contains("step 0 (custom-down at 127.0.0.1")
            && e.message.contains("skipped: cooling down for"),
        "{}",
        e.message
    );
    assert!(e.message.contains("step 1 (custom-gone"), "{}", e.message);

    // Timeouts (first byte) count too.
    let slow = || {
        let mut s = step("openai", "slow", "stall=2000,key=slow");
        s["config"] = json!({"requestTimeout": 100});
        json!([s, step("openai", "backup", "key=backup")])
    };
    for _ in 0..2 {
        assert_eq!(send(&gw, slow()).unwrap().step, 1);
    }
    let started = std::time::Instant::now();
    assert_eq!(send(&gw, slow()).unwrap().step, 1);
    assert!(
        started.elapsed() < Duration::from_millis(90),
        "the slow step was not skipped"
    );
    assert_eq!(mock.requests_for_key("slow"), 2);
}

#[test]
fn a_cooldown_ends_after_its_seconds() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, r#","cooldown":{"after_failures":1,"seconds":1}"#);
    let with = |fault: &str| {
        json!([
            step("openai", "m", fault),
            step("openai", "backup", "key=backup"),
        ])
    };
    assert_eq!(send(&gw, with("status=503")).unwrap().step, 1);
    assert_eq!(send(&gw, with("key=ok")).unwrap().step, 1, "cooling");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(send(&gw, with("key=ok")).unwrap().step, 0, "cooled down");
    let m = metrics(&gw);
    assert_eq!(m["cooldowns"][0]["cooling"], false, "{m}");
}

#[test]
fn bad_cooldown_config_is_refused() {
    for bad in [
        r#"{"cooldown":{"after_failures":0,"seconds":30}}"#,
        r#"{"cooldown":{"after_failures":3,"seconds":0}}"#,
        r#"{"cooldown":{"after_failures":3,"seconds":86401}}"#,
        r#"{"cooldown":{"after_failures":3}}"#,
        r#"{"cooldown":{"after_failures":3,"seconds":30,"scope":"all"}}"#,
        r#"{"cooldown":true}"#,
    ] {
        let e = Config::parse(Some(bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{bad}");
        assert!(
            e.message.contains("cooldown") || e.message.contains("scope"),
            "{}",
            e.message
        );
    }
}

/// Counts the events of a streamed response.
#[derive(Default)]
struct Events {
    heads: Vec<Response>,
    events: usize,
}

impl aigw::StreamSink for Events {
    fn on_response(&mut self, head: &Response) -> bool {
        self.heads.push(head.clone());
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, _: &aigw::sse::SseEvent<'_>) -> bool {
        self.events += 1;
        true
    }
}

#[test]
fn streams_skip_a_cooling_target_and_a_committed_stream_resets() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, COOLDOWN);
    let stream = |fault: &str| {
        let mut steps = json!([
            step("openai", "m", fault),
            step("openai", "backup", "key=backup,stream,events=3"),
        ]);
        steps[0]["query"]["stream"] = json!(true);
        let mut r = Request::new("POST", "").unwrap();
        r.set_header("Content-Type", "application/json").unwrap();
        r.body = steps.to_string().into_bytes();
        let mut sink = Events::default();
        let head = gw.send_stream(&r, &mut sink).unwrap();
        (head.step, sink)
    };
    // A stream that fails before its first event counts as a failure ...
    assert_eq!(stream("status=503").0, 1);
    // ... and one that commits resets the count.
    let (step, sink) = stream("stream,events=2,key=ok");
    assert_eq!(
        (step, sink.events),
        (0, 2 + 1),
        "two content events and [DONE]"
    );
    assert_eq!(stream("status=503").0, 1);
    assert_eq!(stream("stream,key=ok").0, 0, "one failure since the reset");
    assert_eq!(stream("status=500").0, 1);
    assert_eq!(stream("status=503").0, 1);
    let (step, sink) = stream("stream,key=ok");
    assert_eq!(step, 1, "cooling: the backup streams");
    assert_eq!(sink.heads.len(), 1);
    assert!(sink.events >= 3, "{}", sink.events);
    assert_eq!(mock.requests_for_key("ok"), 2);
}

/// Parses the cooldown series with the reference parser (prometheus_client,
/// from PyPI), as the metrics test in features.rs does.
fn check_prometheus(text: &str) {
    let check = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
assert families["aigw_cooldown_skips"].type == "counter", families
assert families["aigw_cooldowns_started"].type == "counter", families
active = families["aigw_cooldown_active"]
assert active.type == "gauge", active
assert [s.value for s in active.samples] == [1.0], active.samples
print("prometheus ok")
"#;
    let Some(out) = prometheus_parser(check, text) else {
        return;
    };
    assert!(out.status.success(), "prometheus_client rejected:\n{text}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("prometheus ok"));
}
