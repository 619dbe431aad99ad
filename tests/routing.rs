//! Route walks driving `Gateway::run_steps` through the plan seam, against
//! the mock. The adapter here does what compat planning does for
//! `dynamic/<route>` (minus translating between dialects: every provider
//! here speaks the OpenAI format), so the walk, the run loop and cooldowns
//! are tested together. Requests through `dynamic/` itself need compat.

use std::time::Duration;

use aigw::call::exchange::CallRecord;
use aigw::error::Result;
use aigw::gateway::{Finished, NextStep, Plan, PlannedStep, StepSource, Verdict, read_whole};
use aigw::routing::{ModelChoice, Outcome, RequestFacts, RouteWalk, route_headers};
use aigw::transport::io_scope::IoScope;
use aigw::{ErrorKind, Gateway, Request, Response};
use aigw_mock::MockServer;
use common::gateway_from;
use serde_json::{Map, Value, json};

mod common;

/// Steps from a route walk: each choice planned as a request to
/// `{provider}/chat/completions` with `model` replaced, its timeout and
/// retries as the step's controls.
struct RouteSteps<'a> {
    gw: &'a Gateway,
    walk: RouteWalk<'a>,
    body: Value,
    current: Option<PlannedStep>,
    tried: usize,
}

impl RouteSteps<'_> {
    fn plan(&self, choice: &ModelChoice) -> Result<PlannedStep> {
        let mut body = self.body.clone();
        body["model"] = json!(choice.model);
        let mut request = Request::new("POST", &format!("{}/chat/completions", choice.provider))?;
        request.set_header("Content-Type", "application/json")?;
        request.set_header("cf-aig-max-attempts", &choice.max_attempts().to_string())?;
        if let Some(ms) = choice.timeout_ms {
            request.set_header("cf-aig-request-timeout", &ms.to_string())?;
        }
        request.body = body.to_string().into_bytes();
        let mut step = self.gw.plan(&request)?.steps.remove(0);
        step.index = self.tried;
        step.response_headers = route_headers(self.walk.route_name(), choice).to_vec();
        Ok(step)
    }
}

impl StepSource for RouteSteps<'_> {
    fn next_step(&mut self) -> Result<Option<NextStep<'_>>> {
        let previous = self.current.is_some().then_some(Outcome::Failed);
        let Some(choice) = self.walk.next(previous)? else {
            return Ok(None);
        };
        self.current = Some(self.plan(&choice)?);
        self.tried += 1;
        Ok(self.current.as_ref().map(|step| NextStep {
            step,
            last: !self.walk.may_follow(),
        }))
    }
}

const ROUTE: &str = r#""routes": {"support": {"elements": [
    {"id": "start", "type": "start", "outputs": {"next": {"elementId": "plan"}}},
    {"id": "plan", "type": "conditional",
     "properties": {"condition": {"metadata.plan": {"$eq": "paid"}}},
     "outputs": {"true": {"elementId": "big"}, "false": {"elementId": "budget"}}},
    {"id": "budget", "type": "rate_limit",
     "properties": {"limitType": "count", "key": "metadata.user_id", "limit": 1, "interval": 60},
     "outputs": {"success": {"elementId": "small"}}},
    {"id": "big", "type": "model",
     "properties": {"provider": "openai", "model": "gpt-big", "timeout": 300, "retries": 1},
     "outputs": {"success": {"elementId": "end"}, "fallback": {"elementId": "small"}}},
    {"id": "small", "type": "model",
     "properties": {"provider": "custom-small", "model": "gpt-small"},
     "outputs": {"success": {"elementId": "end"}}},
    {"id": "end", "type": "end"}
]}}"#;

/// openai (the big model) answers with `big_fault`; custom-small is healthy.
fn gateway(mock: &MockServer, big_fault: &str, extra: &str) -> Gateway {
    let text = format!(
        r#"{{"providers": {{
            "openai": {{"base_url": "{big}/v1"}},
            "custom-small": {{"base_url": "{u}/_mock/key=small/v1"}}
        }}, {ROUTE}{extra}}}"#,
        big = mock.fault_url(big_fault),
        u = mock.url()
    );
    gateway_from(&text)
}

struct Ran {
    result: Result<Response>,
    trace: CallRecord,
}

fn run_route(gw: &Gateway, metadata: Value) -> Ran {
    let metadata: Map<String, Value> = metadata.as_object().unwrap().clone();
    let body = json!({"model": "dynamic/support", "messages": [{"role": "user", "content": "hi"}]});
    let facts = RequestFacts {
        metadata: Some(&metadata),
        body: Some(&body),
    };
    let plan = Plan {
        steps: Vec::new(),
        universal: false,
        features: Default::default(),
        response_headers: Vec::new(),
        route: None,
    };
    let mut source = RouteSteps {
        gw,
        walk: gw.route_walk("support", facts).unwrap(),
        body: body.clone(),
        current: None,
        tried: 0,
    };
    let scope = IoScope::enter(None);
    let mut trace = CallRecord::new(std::time::Instant::now());
    let limit = gw.config().max_response_body_bytes;
    let finished = gw.run_steps(
        &plan,
        &mut source,
        &scope,
        &mut trace,
        &mut |step, upstream, state| match read_whole(&plan, step, upstream, limit, state) {
            Ok(r) if r.is_success() => Verdict::Served(r),
            Ok(r) => Verdict::Rejected(r),
            Err(e) => Verdict::Failed(e),
        },
    );
    let result = finished.map(|f| match f {
        Finished::Served(r) => {
            source.walk.next(Some(Outcome::Served)).unwrap();
            r
        }
        Finished::Exhausted(r) => r,
    });
    trace.route = Some(source.walk.record());
    Ran { result, trace }
}

fn model_sent(mock: &MockServer) -> String {
    let body: Value = serde_json::from_str(&mock.last_request().unwrap().body_text()).unwrap();
    body["model"].as_str().unwrap().to_string()
}

#[test]
fn a_paid_request_falls_back_after_5xx_retries() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "status=503,key=big", "");
    let ran = run_route(&gw, json!({"plan": "paid", "user_id": "u1"}));
    let r = ran.result.unwrap();
    assert_eq!((r.status, r.step), (200, 1));
    assert_eq!(
        mock.requests_for_key("big"),
        2,
        "retries: 1 gives two attempts"
    );
    assert_eq!(mock.requests_for_key("small"), 1);
    assert_eq!(model_sent(&mock), "gpt-small");
    assert_eq!(r.header("cf-aig-route"), Some("support"));
    assert_eq!(r.header("cf-aig-provider"), Some("custom-small"));
    assert_eq!(r.header("cf-aig-model"), Some("gpt-small"));
    let route = ran.trace.route.unwrap();
    assert_eq!(route.name, "support");
    assert_eq!(route.elements, ["start", "plan", "big", "small", "end"]);
    let statuses: Vec<Option<u16>> = ran.trace.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
}

#[test]
fn a_model_timeout_falls_back() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "stall=3000,key=big", "");
    let started = std::time::Instant::now();
    let ran = run_route(&gw, json!({"plan": "paid"}));
    assert_eq!(ran.result.unwrap().status, 200);
    // Two attempts of 300 ms each, then the fallback.
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
    assert!(
        ran.trace.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("300 ms")
    );
    assert_eq!(model_sent(&mock), "gpt-small");
}

#[test]
fn a_free_user_is_budgeted_and_refused_without_fallback() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "key=big", "");
    let ran = run_route(&gw, json!({"plan": "free", "user_id": "u1"}));
    assert_eq!(ran.result.unwrap().status, 200);
    assert_eq!(
        ran.trace.route.unwrap().elements,
        ["start", "plan", "budget", "small", "end"]
    );
    // u1's budget (1 per minute) is spent; u2 has their own.
    let refused = run_route(&gw, json!({"plan": "free", "user_id": "u1"}));
    let e = refused.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert!(
        e.message.contains("route support: element budget"),
        "{}",
        e.message
    );
    assert!(refused.trace.attempts.is_empty(), "nothing was sent");
    assert_eq!(
        run_route(&gw, json!({"plan": "free", "user_id": "u2"}))
            .result
            .unwrap()
            .status,
        200
    );
    assert_eq!(mock.requests_for_key("small"), 2);
    assert_eq!(mock.requests_for_key("big"), 0);
}

#[test]
fn a_cooling_model_element_is_skipped_for_its_fallback() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(
        &mock,
        "status=500,key=big",
        r#", "cooldown": {"after_failures": 2, "seconds": 30}"#,
    );
    // One paid request: two failed attempts of the big model start its cooldown.
    assert_eq!(
        run_route(&gw, json!({"plan": "paid"}))
            .result
            .unwrap()
            .status,
        200
    );
    assert_eq!(mock.requests_for_key("big"), 2);
    let ran = run_route(&gw, json!({"plan": "paid"}));
    assert_eq!(ran.result.unwrap().step, 1);
    assert_eq!(mock.requests_for_key("big"), 2, "skipped while cooling");
    assert!(
        ran.trace.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("cooling down")
    );
    assert_eq!(
        ran.trace.route.unwrap().elements,
        ["start", "plan", "big", "small", "end"]
    );
    let metrics: Value = serde_json::from_str(&gw.metrics_json()).unwrap();
    assert_eq!(metrics["cooldowns"][0]["model"], "gpt-big", "{metrics}");
    assert_eq!(metrics["cooldowns"][0]["skips"], 1, "{metrics}");
}

/// Collects a streamed response.
#[derive(Default)]
struct Collect {
    heads: Vec<Response>,
    events: Vec<String>,
}

impl aigw::StreamSink for Collect {
    fn on_response(&mut self, head: &Response) -> bool {
        self.heads.push(head.clone());
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, e: &aigw::sse::SseEvent<'_>) -> bool {
        self.events.push(e.data.to_string());
        true
    }
}

#[test]
fn a_stream_through_a_route_falls_back_before_its_first_event() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock, "status=503,key=big", "");
    let metadata: Map<String, Value> = json!({"plan": "paid"}).as_object().unwrap().clone();
    let body = json!({"model": "dynamic/support", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let facts = RequestFacts {
        metadata: Some(&metadata),
        body: Some(&body),
    };
    let plan = Plan {
        steps: Vec::new(),
        universal: false,
        features: Default::default(),
        response_headers: Vec::new(),
        route: None,
    };
    let mut source = RouteSteps {
        gw: &gw,
        walk: gw.route_walk("support", facts).unwrap(),
        body: body.clone(),
        current: None,
        tried: 0,
    };
    let scope = IoScope::enter(None);
    let mut trace = CallRecord::new(std::time::Instant::now());
    let mut sink = Collect::default();
    let head =
        aigw::stream::run_stream_steps(&gw, &plan, &mut source, &scope, &mut trace, &mut sink)
            .unwrap();
    assert_eq!((head.status, head.step), (200, 1));
    assert_eq!(
        sink.heads.len(),
        1,
        "only the serving head reaches the caller"
    );
    assert_eq!(sink.heads[0].header("cf-aig-model"), Some("gpt-small"));
    assert_eq!(sink.heads[0].header("cf-aig-route"), Some("support"));
    assert!(sink.events.len() >= 2, "{:?}", sink.events);
    assert_eq!(sink.events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(mock.requests_for_key("big"), 2);
    source.walk.next(Some(Outcome::Served)).unwrap();
    assert_eq!(
        source.walk.taken(),
        ["start", "plan", "big", "small", "end"]
    );
}
