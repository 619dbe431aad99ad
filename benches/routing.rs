//! Cost of evaluating a route per request, in process: a walk through a
//! condition, a percentage split and a count budget to its model choice,
//! next to a plain provider request to the mock for scale. Run:
//! `cargo bench --bench routing`. Prints figures only.

use std::time::{Duration, Instant};

use aigw::routing::{Outcome, RequestFacts};
use aigw::{Config, Gateway, Request};
use aigw_mock::MockServer;
use serde_json::{Map, Value, json};

const ROUTE: &str = r#""routes": {"bench": {"elements": [
    {"id": "start", "type": "start", "outputs": {"next": {"elementId": "plan"}}},
    {"id": "plan", "type": "conditional",
     "properties": {"condition": {"$and": [{"metadata.plan": {"$in": ["paid", "team"]}}, {"stream": {"$ne": true}}]}},
     "outputs": {"true": {"elementId": "split"}, "false": {"elementId": "small"}}},
    {"id": "split", "type": "percentage",
     "outputs": {"10%": {"elementId": "budget"}, "else": {"elementId": "budget"}}},
    {"id": "budget", "type": "rate_limit",
     "properties": {"limitType": "count", "key": "metadata.user_id", "limit": 1000000000000, "interval": 86400},
     "outputs": {"success": {"elementId": "large"}, "fallback": {"elementId": "small"}}},
    {"id": "large", "type": "model", "properties": {"provider": "openai", "model": "gpt-4o"},
     "outputs": {"success": {"elementId": "end"}, "fallback": {"elementId": "small"}}},
    {"id": "small", "type": "model", "properties": {"provider": "openai", "model": "gpt-4o-mini"},
     "outputs": {"success": {"elementId": "end"}}},
    {"id": "end", "type": "end"}
]}}"#;

/// Median and p99 of `n` timed calls.
fn time(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[n / 2], samples[n * 99 / 100])
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let mock = MockServer::start().unwrap();
    let text = format!(
        r#"{{"providers": {{"openai": {{"base_url": "{}/v1"}}}}, "collect_logs": false, {ROUTE}}}"#,
        mock.url()
    );
    let gw = Gateway::new(Config::parse(Some(&text)).unwrap()).unwrap();
    let metadata: Map<String, Value> = json!({"plan": "paid", "user_id": "u-42"})
        .as_object()
        .unwrap()
        .clone();
    let body = json!({"model": "dynamic/bench", "messages": [{"role": "user", "content": "hi"}]});
    println!("aigw route evaluation (single thread, in process)");
    let (median, p99) = time(200_000, || {
        let facts = RequestFacts {
            metadata: Some(&metadata),
            body: Some(&body),
        };
        let mut walk = gw.route_walk("bench", facts).unwrap();
        let choice = walk.next(None).unwrap().unwrap();
        assert_eq!(choice.model, "gpt-4o");
        walk.next(Some(Outcome::Served)).unwrap();
        std::hint::black_box(walk.record());
    });
    println!(
        "  walk (condition, split, budget, model; with the record): median {:.2} us, p99 {:.2} us",
        us(median),
        us(p99)
    );
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.body = br#"{"model":"gpt-4o-mini","messages":[]}"#.to_vec();
    let (median, p99) = time(5000, || {
        gw.send(&r).unwrap();
    });
    println!(
        "  for scale, a plain provider request to the mock: median {:.1} us, p99 {:.1} us",
        us(median),
        us(p99)
    );
}
