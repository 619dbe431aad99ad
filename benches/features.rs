//! Cost of the in-process gateway features: the latency of a cache hit for
//! a 4 KiB and a 1 MiB response, and what writing a log record adds to a
//! request. Run: `cargo bench --bench features`. Prints figures only.

use std::time::{Duration, Instant};

use aigw::{Config, Gateway, Request};
use aigw_mock::MockServer;

fn gateway(mock: &MockServer, extra: &str) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}},"cache_ttl_s":3600{extra}}}"#,
        mock.url()
    );
    Gateway::new(Config::parse(Some(&json)).unwrap()).unwrap()
}

fn request(size: usize) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("Authorization", "Bearer sk-bench").unwrap();
    r.set_header("x-mock", &format!("body_size={size}"))
        .unwrap();
    r.body = format!(r#"{{"model":"gpt-4o-mini","size":{size}}}"#).into_bytes();
    r
}

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
    println!("aigw feature costs (single thread, in process)");
    for (label, size) in [("4 KiB", 4096), ("1 MiB", 1 << 20)] {
        let gw = gateway(&mock, "");
        let req = request(size);
        let first = gw.send(&req).unwrap();
        assert_eq!(first.header("cf-aig-cache-status"), Some("MISS"));
        let n = if size > 100_000 { 500 } else { 5000 };
        let (median, p99) = time(n, || {
            let r = gw.send(&req).unwrap();
            assert_eq!(r.body.len(), first.body.len());
        });
        let (miss_median, _) = time(50, || {
            let mut r = request(size);
            r.set_header("cf-aig-skip-cache", "true").unwrap();
            gw.send(&r).unwrap();
        });
        println!(
            "cache hit, {label:<6} body: median {:>8.1} µs  p99 {:>8.1} µs   (uncached request to the local mock: {:>8.1} µs)",
            us(median),
            us(p99),
            us(miss_median)
        );
    }

    // Logging cost: the same cache hit with and without a log record (and
    // with a callback that receives the JSON), so no network is involved.
    let with_logs = gateway(&mock, "");
    let without_logs = gateway(&mock, r#","collect_logs":false"#);
    let with_callback = gateway(&mock, "");
    with_callback.set_log_callback(Some(std::sync::Arc::new(|json: &str| {
        std::hint::black_box(json.len());
    })));
    let req = request(1024);
    for gw in [&with_logs, &without_logs, &with_callback] {
        gw.send(&req).unwrap();
    }
    let rounds = 20_000;
    let mut best = [f64::INFINITY; 3];
    for _ in 0..5 {
        for (i, gw) in [&without_logs, &with_logs, &with_callback]
            .iter()
            .enumerate()
        {
            let (median, _) = time(rounds / 5, || {
                gw.send(&req).unwrap();
            });
            best[i] = best[i].min(us(median));
        }
    }
    println!(
        "log record per request: {:>6.2} µs (cache hit {:.2} µs without logs, {:.2} µs with); with a JSON callback: {:>6.2} µs",
        best[1] - best[0],
        best[0],
        best[1],
        best[2] - best[0]
    );
}
