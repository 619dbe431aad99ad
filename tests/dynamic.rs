//! `"model": "dynamic/<route>"` through the unified API, against the mock's
//! OpenAI, Anthropic and Gemini dialects: every element type, budgets,
//! fallback, streams, cooldowns, the route headers and the log record.

#[allow(dead_code)]
#[path = "redis_server/mod.rs"]
mod redis_server;

use std::sync::Arc;

use aigw::{ErrorKind, Gateway, Response};
use aigw_mock::MockServer;
use common::{Recorder, caller_request as request, gateway_from, http_post, json_of, last_log};
use serde_json::{Value, json};

mod common;

/// Providers, each counted under its own mock key (`a`, `g`, `o`, `s`):
/// anthropic, google-ai-studio, openai and custom-small. `faults` adds
/// directives to one provider's base URL: `[("a", "status=503")]`.
fn gateway(mock: &MockServer, faults: &[(&str, &str)], routes: Value, extra: &str) -> Gateway {
    let base = |key: &str| {
        let fault = faults
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, f)| format!(",{f}"))
            .unwrap_or_default();
        format!("{}/_mock/key={key}{fault}", mock.url())
    };
    let text = format!(
        r#"{{"providers": {{
            "anthropic": {{"base_url": "{a}"}},
            "google-ai-studio": {{"base_url": "{g}"}},
            "openai": {{"base_url": "{o}/v1"}},
            "custom-small": {{"base_url": "{s}/v1"}}
        }}, "routes": {routes}{extra}}}"#,
        a = base("a"),
        g = base("g"),
        o = base("o"),
        s = base("s"),
    );
    gateway_from(&text)
}

fn model(id: &str, provider: &str, model: &str, next: &str, fallback: Option<&str>) -> Value {
    let mut outputs = json!({"success": {"elementId": next}});
    if let Some(f) = fallback {
        outputs["fallback"] = json!({"elementId": f});
    }
    json!({"id": id, "type": "model",
           "properties": {"provider": provider, "model": model, "retries": 0},
           "outputs": outputs})
}

fn start(next: &str) -> Value {
    json!({"id": "start", "type": "start", "outputs": {"next": {"elementId": next}}})
}

fn end() -> Value {
    json!({"id": "end", "type": "end"})
}

fn route(name: &str, elements: Vec<Value>) -> Value {
    json!({ name: {"elements": elements} })
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello."}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 64,
           "messages": [{"role": "user", "content": "Say hello."}]})
}

/// Every value of header `name` on the response.
fn all(r: &Response, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
        .collect()
}

fn assert_route_headers(r: &Response, route: &str, provider: &str, model: &str) {
    assert_eq!(all(r, "cf-aig-route"), [route]);
    assert_eq!(all(r, "cf-aig-provider"), [provider]);
    assert_eq!(all(r, "cf-aig-model"), [model]);
}

fn two_models() -> Value {
    route(
        "r",
        vec![
            start("first"),
            model(
                "first",
                "anthropic",
                "claude-3-5-haiku",
                "end",
                Some("second"),
            ),
            model(
                "second",
                "google-ai-studio",
                "gemini-2.0-flash",
                "end",
                None,
            ),
            end(),
        ],
    )
}

#[test]
fn messages_fall_back_from_anthropic_5xx_to_google() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[("a", "status=503")], two_models(), "");
    let r = gw
        .send(&request("compat/messages", &messages("dynamic/r"), &[]))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The caller's format (Anthropic Messages), served by Gemini.
    let body = json_of(&r);
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "Hello from the aigw mock.");
    assert_route_headers(&r, "r", "google-ai-studio", "gemini-2.0-flash");
    assert_eq!(mock.requests_for_key("a"), 1);
    assert_eq!(mock.requests_for_key("g"), 1);
    let up = mock.last_request().unwrap();
    assert!(up.target.contains("gemini-2.0-flash:generateContent"));
    assert_eq!(up.header("x-goog-api-key"), Some("sk-caller-key"));

    let log = last_log(&gw);
    assert_eq!(log["route"], "r");
    assert_eq!(
        log["route_elements"],
        json!(["start", "first", "second", "end"])
    );
    assert_eq!(log["provider"], "google-ai-studio");
    assert_eq!(log["model"], "gemini-2.0-flash");
    assert_eq!(log["success"], true);
}

#[test]
fn a_served_first_model_ends_the_walk() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[], two_models(), "");
    let r = gw
        .send(&request("compat/chat/completions", &chat("dynamic/r"), &[]))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["object"], "chat.completion");
    assert_route_headers(&r, "r", "anthropic", "claude-3-5-haiku");
    assert_eq!(mock.requests_for_key("g"), 0);
    assert_eq!(
        mock.last_request().unwrap().header("x-api-key"),
        Some("sk-caller-key")
    );
    assert_eq!(
        last_log(&gw)["route_elements"],
        json!(["start", "first", "end"])
    );
}

#[test]
fn every_model_failing_returns_the_last_failure() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(
        &mock,
        &[("a", "status=503"), ("g", "status=500")],
        two_models(),
        "",
    );
    let r = gw
        .send(&request("compat/chat/completions", &chat("dynamic/r"), &[]))
        .unwrap();
    assert_eq!(r.status, 500);
    assert!(json_of(&r)["error"]["message"].is_string());
    let log = last_log(&gw);
    assert_eq!(log["success"], false);
    assert_eq!(log["route_elements"], json!(["start", "first", "second"]));
}

#[test]
fn a_model_timeout_falls_back() {
    let mock = MockServer::start().unwrap();
    let mut routes = two_models();
    routes["r"]["elements"][1]["properties"]["timeout"] = json!(200);
    routes["r"]["elements"][1]["properties"]["retries"] = json!(1);
    let gw = gateway(&mock, &[("a", "stall=3000")], routes, "");
    let started = std::time::Instant::now();
    let r = gw
        .send(&request("compat/chat/completions", &chat("dynamic/r"), &[]))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_route_headers(&r, "r", "google-ai-studio", "gemini-2.0-flash");
    // retries 1: two attempts of 200 ms each, then the fallback.
    assert_eq!(mock.requests_for_key("a"), 2);
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    let log = last_log(&gw);
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts[0]["error"].as_str().unwrap().contains("200 ms"));
}

#[test]
fn an_unknown_route_is_refused_before_upstream_contact() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[], two_models(), "");
    let e = gw
        .send(&request(
            "compat/chat/completions",
            &chat("dynamic/nope"),
            &[],
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownProvider);
    assert!(e.message.contains("\"nope\""), "{}", e.message);
    assert_eq!(mock.requests(), 0);
}

fn conditional_route() -> Value {
    route(
        "tiered",
        vec![
            start("tier"),
            json!({"id": "tier", "type": "conditional",
                   "properties": {"condition": {"metadata.plan": {"$eq": "paid"}}},
                   "outputs": {"true": {"elementId": "big"}, "false": {"elementId": "small"}}}),
            model("big", "openai", "gpt-4o", "end", None),
            model("small", "custom-small", "tiny", "end", None),
            end(),
        ],
    )
}

#[test]
fn conditions_read_the_request_metadata() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[], conditional_route(), "");
    let paid = gw
        .send(&request(
            "compat/chat/completions",
            &chat("dynamic/tiered"),
            &[("cf-aig-metadata", r#"{"plan":"paid"}"#)],
        ))
        .unwrap();
    assert_route_headers(&paid, "tiered", "openai", "gpt-4o");
    let free = gw
        .send(&request(
            "compat/chat/completions",
            &chat("dynamic/tiered"),
            &[("cf-aig-metadata", r#"{"plan":"free"}"#)],
        ))
        .unwrap();
    assert_route_headers(&free, "tiered", "custom-small", "tiny");
    let sent: Value = serde_json::from_slice(&mock.last_request().unwrap().body).unwrap();
    assert_eq!(sent["model"], "tiny");
    assert_eq!(mock.requests_for_key("o"), 1);
    assert_eq!(mock.requests_for_key("s"), 1);
    assert_eq!(
        last_log(&gw)["route_elements"],
        json!(["start", "tier", "small", "end"])
    );
}

#[test]
fn a_30_70_split_holds_over_many_requests() {
    let mock = MockServer::start().unwrap();
    let routes = route(
        "split",
        vec![
            start("pct"),
            json!({"id": "pct", "type": "percentage",
                   "outputs": {"30%": {"elementId": "a"}, "else": {"elementId": "b"}}}),
            model("a", "openai", "gpt-4o", "end", None),
            model("b", "custom-small", "tiny", "end", None),
            end(),
        ],
    );
    let gw = gateway(&mock, &[], routes, r#", "route_seed": 42"#);
    let n = 400;
    for _ in 0..n {
        let r = gw
            .send(&request(
                "compat/chat/completions",
                &chat("dynamic/split"),
                &[],
            ))
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let a = mock.requests_for_key("o");
    assert_eq!(a + mock.requests_for_key("s"), n);
    // Binomial(400, 0.3): mean 120, sd 9.2; 4.5 sd either side.
    assert!((80..=160).contains(&a), "{a} of {n} took the 30% branch");
}

fn count_budget(limit: u64, fallback: bool) -> Value {
    let mut outputs = json!({"success": {"elementId": "big"}});
    if fallback {
        outputs["fallback"] = json!({"elementId": "small"});
    }
    route(
        "budgeted",
        vec![
            start("budget"),
            json!({"id": "budget", "type": "rate_limit",
                   "properties": {"limitType": "count", "key": "metadata.user_id",
                                  "limit": limit, "interval": 3600, "technique": "fixed"},
                   "outputs": outputs}),
            model("big", "openai", "gpt-4o", "end", None),
            model("small", "custom-small", "tiny", "end", None),
            end(),
        ],
    )
}

fn as_user(gw: &Gateway, user: &str) -> aigw::error::Result<Response> {
    gw.send(&request(
        "compat/chat/completions",
        &chat("dynamic/budgeted"),
        &[("cf-aig-metadata", &format!(r#"{{"user_id":"{user}"}}"#))],
    ))
}

#[test]
fn a_count_budget_without_fallback_refuses_per_user_with_no_upstream_contact() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[], count_budget(2, false), "");
    for _ in 0..2 {
        assert_eq!(as_user(&gw, "alice").unwrap().status, 200);
    }
    let before = mock.requests();
    let e = as_user(&gw, "alice").unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert!(e.message.contains("budgeted"), "{}", e.message);
    assert!(e.message.contains("budget"), "{}", e.message);
    assert_eq!(mock.requests(), before, "a refusal contacts no upstream");
    // Another user has a budget of their own.
    assert_eq!(as_user(&gw, "bob").unwrap().status, 200);
    let log = last_log(&gw);
    assert_eq!(
        log["route_elements"],
        json!(["start", "budget", "big", "end"])
    );
}

#[test]
fn a_count_budget_with_fallback_moves_to_the_fallback_model() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[], count_budget(1, true), "");
    assert_route_headers(
        &as_user(&gw, "alice").unwrap(),
        "budgeted",
        "openai",
        "gpt-4o",
    );
    let r = as_user(&gw, "alice").unwrap();
    assert_route_headers(&r, "budgeted", "custom-small", "tiny");
    assert_eq!(
        last_log(&gw)["route_elements"],
        json!(["start", "budget", "small", "end"])
    );
}

#[test]
fn a_cost_budget_is_charged_after_the_response() {
    let mock = MockServer::start().unwrap();
    let mut routes = count_budget(0, true);
    let props = &mut routes["budgeted"]["elements"][1]["properties"];
    props["limitType"] = json!("cost");
    props["limit"] = json!(0.3);
    let gw = gateway(&mock, &[], routes, "");
    let spend = |user: &str| {
        gw.send(&request(
            "compat/chat/completions",
            &chat("dynamic/budgeted"),
            &[
                ("cf-aig-metadata", &format!(r#"{{"user_id":"{user}"}}"#)),
                ("cf-aig-custom-cost", r#"{"total_cost":0.25}"#),
            ],
        ))
        .unwrap()
    };
    // $0 and then $0.25 spent: both under $0.30, both admitted.
    assert_eq!(spend("alice").header("cf-aig-model"), Some("gpt-4o"));
    assert_eq!(spend("alice").header("cf-aig-model"), Some("gpt-4o"));
    // $0.50 spent: the budget sends alice to the fallback.
    assert_eq!(spend("alice").header("cf-aig-model"), Some("tiny"));
    // bob's spend is his own.
    assert_eq!(spend("bob").header("cf-aig-model"), Some("gpt-4o"));
}

#[test]
fn concurrent_requests_against_a_count_budget_admit_exactly_the_limit() {
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(gateway(&mock, &[], count_budget(5, false), ""));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || as_user(&gw, "carol").map(|r| r.status))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let admitted = results.iter().filter(|r| matches!(r, Ok(200))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.kind == ErrorKind::RateLimited))
        .count();
    assert_eq!((admitted, refused), (5, 11));
    assert_eq!(mock.requests(), 5);
}

#[test]
fn a_stream_through_a_route_falls_back_before_its_first_event() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, &[("a", "error_first")], two_models(), "");
    let mut body = chat("dynamic/r");
    body["stream"] = json!(true);
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(&request("compat/chat/completions", &body, &[]), &mut rec)
        .unwrap();
    assert_eq!(head.status, 200);
    assert_route_headers(&head, "r", "google-ai-studio", "gemini-2.0-flash");
    assert_eq!(rec.heads.len(), 1, "one head reaches the caller");
    let text: String = rec
        .events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .filter_map(|(_, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    // The mock streams five content events: tok0 .. tok4.
    assert_eq!(text, "tok0 tok1 tok2 tok3 tok4 ");
    assert_eq!(rec.events.last().unwrap().1, "[DONE]");
    assert_eq!(mock.requests_for_key("a"), 1);
    let log = last_log(&gw);
    assert_eq!(log["stream"], true);
    assert_eq!(log["route"], "r");
    assert_eq!(log["provider"], "google-ai-studio");
}

#[test]
fn a_cooling_model_element_is_skipped_unless_it_is_the_last_choice() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(
        &mock,
        &[("a", "status=503")],
        two_models(),
        r#", "cooldown": {"after_failures": 1, "seconds": 60}"#,
    );
    let send = || {
        gw.send(&request("compat/chat/completions", &chat("dynamic/r"), &[]))
            .unwrap()
    };
    assert_eq!(send().header("cf-aig-provider"), Some("google-ai-studio"));
    assert_eq!(mock.requests_for_key("a"), 1);
    // anthropic is cooling down: skipped, as if it had failed at once.
    assert_eq!(send().header("cf-aig-provider"), Some("google-ai-studio"));
    assert_eq!(mock.requests_for_key("a"), 1);
    let log = last_log(&gw);
    assert!(
        log["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cooling down")
    );
    assert_eq!(
        log["route_elements"],
        json!(["start", "first", "second", "end"])
    );

    // As the only model of a route it is still tried.
    let only = route(
        "only",
        vec![
            start("first"),
            model("first", "anthropic", "claude-3-5-haiku", "end", None),
            end(),
        ],
    );
    let gw = gateway(
        &mock,
        &[("a", "status=503")],
        only,
        r#", "cooldown": {"after_failures": 1, "seconds": 60}"#,
    );
    for _ in 0..2 {
        let r = gw
            .send(&request(
                "compat/chat/completions",
                &chat("dynamic/only"),
                &[],
            ))
            .unwrap();
        assert_eq!(r.status, 503);
    }
    assert_eq!(mock.requests_for_key("a"), 3);
}

#[test]
fn embeddings_go_through_a_route() {
    let mock = MockServer::start().unwrap();
    let routes = route(
        "emb",
        vec![
            start("first"),
            model("first", "openai", "text-embedding-3-small", "end", None),
            end(),
        ],
    );
    let gw = gateway(&mock, &[], routes, "");
    let r = gw
        .send(&request(
            "compat/embeddings",
            &json!({"model": "dynamic/emb", "input": "hello"}),
            &[],
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_route_headers(&r, "emb", "openai", "text-embedding-3-small");
    let up = mock.last_request().unwrap();
    assert!(up.target.ends_with("/v1/embeddings"), "{}", up.target);
    let sent: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(sent["model"], "text-embedding-3-small");
}

#[test]
fn a_budget_store_that_fails_closed_refuses_naming_redis() {
    let mock = MockServer::start().unwrap();
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(
        &mock,
        &[],
        count_budget(5, true),
        &format!(
            r#", "shared_state": {{"redis_url": "redis://127.0.0.1:{port}/0", "on_error": "fail_closed"}}"#
        ),
    );
    let e = as_user(&gw, "dave").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect);
    assert!(e.message.contains("Redis"), "{}", e.message);
    assert!(
        e.message.contains("route budgeted: element budget"),
        "{}",
        e.message
    );
    assert_eq!(mock.requests(), 0);

    // Cooldowns live there too: a model element that may be skipped cannot
    // be checked, so the request is refused rather than sent blind.
    let gw = gateway(
        &mock,
        &[],
        two_models(),
        &format!(
            r#", "cooldown": {{"after_failures": 1, "seconds": 60}}, "shared_state": {{"redis_url": "redis://127.0.0.1:{port}/0", "on_error": "fail_closed"}}"#
        ),
    );
    let e = gw
        .send(&request("compat/chat/completions", &chat("dynamic/r"), &[]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect);
    assert!(e.message.contains("cooldown store"), "{}", e.message);
    assert!(e.message.contains("Redis"), "{}", e.message);
    assert_eq!(mock.requests(), 0);
}

#[test]
fn through_the_server_a_spent_route_budget_is_a_429_with_retry_after() {
    use aigw::server::{Server, ServerOptions};
    let mock = MockServer::start().unwrap();
    let gw = Arc::new(gateway(&mock, &[], count_budget(1, false), ""));
    let server = Server::start(gw, ServerOptions::parse(None).unwrap()).unwrap();
    let body = chat("dynamic/budgeted").to_string();
    let meta = ("cf-aig-metadata", r#"{"user_id":"erin"}"#);
    let ok = http_post(server.port(), "/compat/chat/completions", &[meta], &body);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.to_ascii_lowercase().contains("cf-aig-route: budgeted"),
        "{ok}"
    );
    let refused = http_post(server.port(), "/compat/chat/completions", &[meta], &body);
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    let lower = refused.to_ascii_lowercase();
    // A fixed window of an hour, aligned to the clock: the wait is what is
    // left of it, in whole seconds.
    let retry: u64 = lower
        .split("\r\nretry-after: ")
        .nth(1)
        .and_then(|v| v.split("\r\n").next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {refused}"));
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    // The caller's error format on compat paths.
    assert!(refused.contains("\"error\""), "{refused}");
    assert_eq!(mock.requests(), 1);
}

#[test]
fn two_gateways_on_one_redis_share_a_route_budget_exactly() {
    let redis = redis_server::RedisServer::start();
    let mock = MockServer::start().unwrap();
    let shared = format!(
        r#", "shared_state": {{"redis_url": "{}", "key_prefix": "dyn-{}:"}}"#,
        redis.url(),
        std::process::id()
    );
    let gws: Vec<Arc<Gateway>> = (0..2)
        .map(|_| Arc::new(gateway(&mock, &[], count_budget(3, false), &shared)))
        .collect();
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let gw = gws[i % 2].clone();
            std::thread::spawn(move || as_user(&gw, "frank").map(|r| r.status))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let admitted = results.iter().filter(|r| matches!(r, Ok(200))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.kind == ErrorKind::RateLimited))
        .count();
    assert_eq!((admitted, refused), (3, 9), "{results:?}");
    assert_eq!(mock.requests(), 3);
}
