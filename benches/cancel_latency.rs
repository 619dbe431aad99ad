//! How long a triggered cancel takes to end a send, in each phase where the
//! upstream is silent. Run: `cargo bench --bench cancel_latency`.
//! Prints figures (median and max over several runs); asserts nothing.

use std::time::{Duration, Instant};

use aigw::sse::SseEvent;
use aigw::{CancelToken, Config, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;

struct Ignore;

impl StreamSink for Ignore {
    fn on_response(&mut self, _: &Response) -> bool {
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, _: &SseEvent<'_>) -> bool {
        true
    }
}

/// `delay` varies from run to run so the trigger lands at different points
/// of the transport's 25 ms wake-up cycle.
fn latency(gw: &Gateway, directives: &str, stream: bool, delay: Duration) -> Duration {
    let token = CancelToken::new();
    let mut req = Request::new("POST", "openai/chat/completions").unwrap();
    req.set_header("x-mock", directives).unwrap();
    req.set_header("cf-aig-max-attempts", "5").unwrap();
    req.set_header("cf-aig-retry-delay", "5000").unwrap();
    req.body = br#"{"model":"m"}"#.to_vec();
    req.cancel = Some(token.clone());
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(delay);
        token.trigger();
        Instant::now()
    });
    let result = if stream {
        gw.send_stream(&req, &mut Ignore).map(|_| ())
    } else {
        gw.send(&req).map(|_| ())
    };
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    assert_eq!(result.unwrap_err().kind, aigw::ErrorKind::Cancelled);
    returned.saturating_duration_since(triggered)
}

fn main() {
    let mock = MockServer::start().unwrap();
    let config = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}}}}"#,
        mock.url()
    );
    let gw = Gateway::new(Config::parse(Some(&config)).unwrap()).unwrap();
    println!("aigw cancel latency: trigger to return, 15 runs each");
    let mut n = 0;
    for (phase, directives, stream) in [
        (
            "waiting for the response head",
            "stall=60000".to_string(),
            false,
        ),
        ("sleeping between retries", String::new(), false),
        (
            "mid-stream, upstream silent",
            "stream,events=5,stall_after=2".to_string(),
            true,
        ),
    ] {
        let mut runs: Vec<Duration> = (0..15)
            .map(|_| {
                n += 1;
                let directives = if directives.is_empty() {
                    format!("fail=5,key=bench{n}")
                } else {
                    directives.clone()
                };
                latency(
                    &gw,
                    &directives,
                    stream,
                    Duration::from_millis(150 + (n * 7 % 25)),
                )
            })
            .collect();
        runs.sort();
        println!(
            "{phase:<32} median {:>6.1} ms   max {:>6.1} ms",
            runs[runs.len() / 2].as_secs_f64() * 1e3,
            runs[runs.len() - 1].as_secs_f64() * 1e3
        );
    }
}
