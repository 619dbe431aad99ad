//! Cost of the unified API's translation: `compat/chat/completions` to an
//! Anthropic upstream against aigw's pass-through of the equivalent
//! Messages request to the same upstream (the mock, on 127.0.0.1), whole
//! and streamed (time to first event), plus the translation alone (plan and
//! answer, no network) for about 1 KB each way.
//! Run: `cargo bench --bench compat`. Prints figures only.

use std::time::{Duration, Instant};

use aigw::sse::SseEvent;
use aigw::{Config, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;
use serde_json::json;

fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut s: Vec<Duration> = (0..n).map(|_| f()).collect();
    s.sort();
    s[n / 2]
}

fn timed(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A conversation of about 1 KB.
fn text() -> String {
    "The quick brown fox jumps over the lazy dog. ".repeat(20)
}

fn requests(stream: bool) -> (Request, Request) {
    let t = text();
    let mut native = Request::new("POST", "anthropic/v1/messages").unwrap();
    native.set_header("x-api-key", "sk-bench").unwrap();
    native
        .set_header("anthropic-version", "2023-06-01")
        .unwrap();
    native.set_header("x-mock", "body_size=1024").unwrap();
    native.body = json!({"model": "claude-3-5-haiku", "max_tokens": 256, "stream": stream,
        "system": "Be brief.", "messages": [{"role": "user", "content": t}]})
    .to_string()
    .into_bytes();
    let mut compat = Request::new("POST", "compat/chat/completions").unwrap();
    compat
        .set_header("Authorization", "Bearer sk-bench")
        .unwrap();
    compat.set_header("x-mock", "body_size=1024").unwrap();
    compat.body =
        json!({"model": "anthropic/claude-3-5-haiku", "max_tokens": 256, "stream": stream,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": t}]})
        .to_string()
        .into_bytes();
    (native, compat)
}

/// Records when the first event arrived.
struct First {
    start: Instant,
    first: Option<Duration>,
}

impl StreamSink for First {
    fn on_response(&mut self, _: &Response) -> bool {
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, _: &SseEvent<'_>) -> bool {
        self.first.get_or_insert(self.start.elapsed());
        true
    }
}

fn main() {
    let mock = MockServer::start().unwrap();
    let cfg = format!(
        r#"{{"providers":{{"anthropic":{{"base_url":"{}"}}}},"collect_logs":false}}"#,
        mock.url()
    );
    let gw = Gateway::new(Config::parse(Some(&cfg)).unwrap()).unwrap();
    let n = 2000;
    println!("aigw unified API: translation cost (single thread, mock upstream on 127.0.0.1)");

    let (native, compat) = requests(false);
    for r in [&native, &compat] {
        assert_eq!(gw.send(r).unwrap().status, 200);
    }
    let a = median(n, || timed(|| drop(gw.send(&native).unwrap())));
    let b = median(n, || timed(|| drop(gw.send(&compat).unwrap())));
    println!(
        "  whole, ~1 KB each way: pass-through {:.1} us, compat {:.1} us, added {:.1} us",
        us(a),
        us(b),
        us(b) - us(a)
    );

    let plan = median(n, || timed(|| drop(gw.plan(&compat).unwrap())));
    let plan_native = median(n, || timed(|| drop(gw.plan(&native).unwrap())));
    let tree = median(n, || {
        timed(|| drop(serde_json::from_slice::<serde_json::Value>(&compat.body).unwrap()))
    });
    let value: serde_json::Value = serde_json::from_slice(&compat.body).unwrap();
    let read = median(n, || {
        timed(|| {
            drop(aigw::compat::openai::parse_chat_request(&value, "claude-3-5-haiku").unwrap())
        })
    });
    let req = aigw::compat::openai::parse_chat_request(&value, "claude-3-5-haiku").unwrap();
    let write = median(n, || {
        timed(|| drop(aigw::compat::anthropic::build_request(&req).unwrap()))
    });
    println!(
        "  of which: body into a serde_json::Value {:.2} us, Value into the hub {:.2} us, hub into a Messages body {:.2} us",
        us(tree),
        us(read),
        us(write)
    );
    println!(
        "  planning alone: pass-through {:.2} us, compat (parse, check, write the Messages body) {:.2} us",
        us(plan_native),
        us(plan)
    );

    // The same upstream body the compat request sends, sent natively: what
    // the upstream side costs, apart from translation.
    let planned = gw.plan(&compat).unwrap();
    let mut same = native.clone();
    same.body = planned.steps[0].body.clone();
    let c = median(n, || timed(|| drop(gw.send(&same).unwrap())));
    let step = planned.steps[0].compat.clone().unwrap();
    let canned = gw.send(&same).unwrap();
    let back = median(n, || {
        let mut r = canned.clone();
        timed(|| step.translate_whole(&mut r).unwrap())
    });
    println!(
        "  the translated body sent natively {:.1} us; translating the answer back alone {:.2} us",
        us(c),
        us(back)
    );

    let (native, compat) = requests(true);
    let ttfe = |r: &Request| {
        median(n / 2, || {
            let mut sink = First {
                start: Instant::now(),
                first: None,
            };
            gw.send_stream(r, &mut sink).unwrap();
            sink.first.unwrap()
        })
    };
    let a = ttfe(&native);
    let b = ttfe(&compat);
    println!(
        "  stream, time to first event: pass-through {:.1} us, compat {:.1} us, added {:.1} us",
        us(a),
        us(b),
        us(b) - us(a)
    );
}
