//! Attacks a hostile caller or a careless config could mount: paths that
//! steer credentials to another host, and every way a secret could reach a
//! message or a log record.

#[path = "hostile/server.rs"]
mod server;

use aigw::log::LogFilter;
use aigw::{ErrorKind, Gateway, Request};
use common::gateway_from as gateway;
use server::{Hostile, response};

mod common;

fn ok_server() -> Hostile {
    Hostile::answering(response(
        "200 OK",
        &[("Content-Type", "application/json")],
        br#"{"ok":true}"#,
    ))
}

fn universal(steps: &str) -> Request {
    let mut r = Request::new("POST", "").unwrap();
    r.set_header("api-key", "SECRET-KEY").unwrap();
    r.set_header("Authorization", "Bearer SECRET-TOKEN")
        .unwrap();
    r.body = steps.as_bytes().to_vec();
    r
}

fn assert_refused(gw: &Gateway, req: &Request, provider: &str) -> String {
    let e = gw.send(req).expect_err("must be refused");
    assert_eq!(e.kind, ErrorKind::InvalidRequest, "{}", e.message);
    assert!(e.message.contains(provider), "{}", e.message);
    assert!(!e.message.contains("SECRET"), "{}", e.message);
    e.message
}

#[test]
fn azure_resource_cannot_pick_the_host() {
    // What a hostile path would reach: nothing must connect here.
    let trap = ok_server();
    let port = trap.port();
    let gw = gateway("{}");
    for path in [
        "azure-openai/localhost:/dep/chat/completions".to_string(),
        format!("azure-openai/x@127.0.0.1:{port}/dep/chat/completions"),
        "azure-openai/127.0.0.1/dep/chat/completions".to_string(),
        "azure-openai/a%2eb/dep/chat/completions".to_string(),
    ] {
        let mut req = Request::new("POST", &path).unwrap();
        req.set_header("api-key", "SECRET-KEY").unwrap();
        let m = assert_refused(&gw, &req, "azure-openai");
        assert!(m.contains("resource"), "{path}: {m}");
    }
    // Through a Universal step, where '#' is not refused by the path check.
    for endpoint in [
        format!("127.0.0.1:{port}#/dep/chat/completions"),
        format!("x@127.0.0.1:{port}#/dep/x"),
        "res/dep%2f..%2f..%2fx/chat".to_string(),
        "res/..%2e/x".to_string(),
        "res/dep:1/x".to_string(),
        "res/dep@h/x".to_string(),
    ] {
        let req = universal(&format!(
            r#"[{{"provider":"azure-openai","endpoint":"{endpoint}","query":{{}}}}]"#
        ));
        let m = assert_refused(&gw, &req, "azure-openai");
        assert!(m.contains("step 0"), "{m}");
    }
    assert_eq!(trap.connections(), 0, "a refused request reached the trap");
}

#[test]
fn dot_segments_are_refused_everywhere_also_escaped() {
    let up = ok_server();
    let gw = gateway(&format!(
        r#"{{"providers":{{"openai":{{"base_url":"{u}/v1"}},"custom-x":{{"base_url":"{u}/base"}}}}}}"#,
        u = up.url()
    ));
    for path in [
        "openai/%2e%2e/admin",
        "openai/.%2e/admin",
        "openai/%2E./admin",
        "openai/x/..%2fadmin",
        "custom-x/a/%2e%2e%2f%2e%2e/admin",
        "openai/a\\..\\admin",
    ] {
        let req = Request::new("GET", path).unwrap();
        assert_refused(&gw, &req, path.split('/').next().unwrap());
    }
    for endpoint in [
        "../admin",
        "chat/../../admin",
        "%2e%2e/admin",
        "x/.%2E/admin",
    ] {
        let req = universal(&format!(
            r#"[{{"provider":"openai","endpoint":"{endpoint}","query":{{}}}}]"#
        ));
        assert_refused(&gw, &req, "openai");
    }
    assert_eq!(up.connections(), 0);
    // Dots that are not a whole segment are fine.
    let req = Request::new("GET", "openai/models/gpt-4.1..x").unwrap();
    assert_eq!(gw.send(&req).unwrap().status, 200);
}

#[test]
fn base_url_userinfo_never_shows() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let gw = gateway(&format!(
        r#"{{"providers":{{"custom-u":{{"base_url":"http://user:PASSWORD-SECRET@127.0.0.1:{port}/v1"}}}}}}"#
    ));
    let req = Request::new("POST", "custom-u/chat").unwrap();
    let e = gw.send(&req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{}", e.message);
    assert!(
        e.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("SECRET") && !e.message.contains("user"),
        "{}",
        e.message
    );
    let logs = gw.logs_json(&LogFilter::default());
    assert!(logs.contains("127.0.0.1"), "{logs}");
    assert!(!logs.contains("SECRET"), "{logs}");
}

#[test]
fn query_string_keys_are_redacted_in_logs() {
    let up = ok_server();
    for payloads in [false, true] {
        let gw = gateway(&format!(
            r#"{{"providers":{{"google-ai-studio":{{"base_url":"{}"}}}},"log_payloads":{payloads}}}"#,
            up.url()
        ));
        let mut req = Request::new(
            "POST",
            "google-ai-studio/v1beta/models/gemini-2.0-flash:generateContent?key=AIza-SECRET&alt=sse&api_key=SECRET2&access_token=SECRET3",
        )
        .unwrap();
        req.body = br#"{"contents":[]}"#.to_vec();
        assert_eq!(gw.send(&req).unwrap().status, 200);
        let logs = gw.logs_json(&LogFilter::default());
        assert!(!logs.contains("SECRET"), "{logs}");
        assert!(
            logs.contains("generateContent?key=[REDACTED]&alt=sse&api_key=[REDACTED]"),
            "{logs}"
        );
    }
    // The upstream still got the key.
    assert!(up.heads()[0].contains("key=AIza-SECRET"));
}

#[test]
fn redaction_holds_for_bodies_a_stricter_parser_rejects() {
    let up = ok_server();
    let gw = gateway(&format!(
        r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}},"log_payloads":true}}"#,
        up.url()
    ));
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    for query in [
        format!(r#"{{"messages":{deep}}}"#),
        r#"{"text":"\ud800"}"#.to_string(),
    ] {
        let req = universal(&format!(
            r#"[{{"provider":"openai","endpoint":"chat/completions","authorization":"Bearer sk-SECRET-AUTH",
                "headers":{{"x-api-key":"SECRET-HEADER","x-trace":"keep-me"}},"query":{query}}}]"#
        ));
        let r = gw.send(&req).unwrap();
        assert_eq!(r.status, 200);
    }
    let logs = gw.logs_json(&LogFilter::default());
    assert!(!logs.contains("SECRET"), "{logs}");
    assert!(logs.contains("[REDACTED]"), "{logs}");
}

#[test]
fn malformed_control_values_are_not_quoted() {
    let up = ok_server();
    let gw = gateway(&format!(
        r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}}}}"#,
        up.url()
    ));
    for (name, value) in [
        ("cf-aig-max-attempts", "SEKRIT-CTRL"),
        ("cf-aig-request-timeout", "SEKRIT-CTRL"),
        ("cf-aig-request-timeout", "99999999999999999999999999SEKRIT"),
        ("cf-aig-backoff", "SEKRIT-CTRL"),
        ("cf-aig-skip-cache", "SEKRIT-CTRL"),
        ("cf-aig-custom-cost", r#"{"SEKRIT-CTRL":1}"#),
        ("cf-aig-metadata", r#"{"SEKRIT-CTRL":{}}"#),
        ("cf-aig-cache-ttl", "SEKRIT-CTRL"),
    ] {
        let mut req = Request::new("POST", "openai/chat/completions").unwrap();
        req.set_header(name, value).unwrap();
        let e = gw.send(&req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{name}");
        assert!(e.message.contains(name), "{}", e.message);
        assert!(!e.message.contains("SEKRIT"), "{name}: {}", e.message);
    }
    let logs = gw.logs_json(&LogFilter::default());
    assert!(!logs.contains("SEKRIT"), "{logs}");
    assert_eq!(up.connections(), 0);
}

#[test]
fn duplicate_keys_in_a_universal_step_are_refused() {
    let gw = gateway("{}");
    for (steps, needle) in [
        (
            r#"[{"provider":"openai","provider":"custom-evil","endpoint":"x"}]"#,
            "provider",
        ),
        (
            r#"{"provider":"openai","endpoint":"x","endpoint":"y"}"#,
            "endpoint",
        ),
        (
            r#"[{"provider":"openai","endpoint":"x","headers":{"x-a":"1","x-a":"2"}}]"#,
            "x-a",
        ),
        (
            r#"[{"provider":"openai","endpoint":"x","config":{"maxAttempts":1,"maxAttempts":5}}]"#,
            "maxAttempts",
        ),
    ] {
        let e = gw.send(&universal(steps)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{steps}");
        assert!(
            e.message.contains("step 0") && e.message.contains(needle),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("duplicate") || e.message.contains("twice"),
            "{}",
            e.message
        );
    }
}

#[test]
fn impossible_body_lengths_are_a_status_not_an_abort() {
    use aigw::ffi::request::{aigw_request_free, aigw_request_new, aigw_request_set_body};
    use aigw::ffi::status::aigw_status;
    let mut req = std::ptr::null_mut();
    let (method, path) = (c"POST", c"openai/chat/completions");
    assert_eq!(
        aigw_request_new(method.as_ptr(), path.as_ptr(), &mut req),
        aigw_status::AIGW_OK
    );
    let byte = 0u8;
    assert_eq!(
        aigw_request_set_body(req, &byte, 1 << 62),
        aigw_status::AIGW_ERR_BODY_TOO_LARGE
    );
    assert_eq!(
        aigw_request_set_body(req, &byte, usize::MAX),
        aigw_status::AIGW_ERR_INVALID_ARGUMENT
    );
    assert_eq!(aigw_request_set_body(req, &byte, 1), aigw_status::AIGW_OK);
    aigw_request_free(req);
}
