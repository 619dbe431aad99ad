//! What shared state costs per request: the Redis-backed rate limit and
//! cache lookup against the in-memory stores, and against the floor, one
//! Redis round trip (`PING` with the same client, and `redis-benchmark`'s
//! own figure). Needs `redis-server` (and, for the floor line,
//! `redis-benchmark`). Run: `cargo bench --bench shared_state` (the rate
//! limit is sliding; `BENCH_TECHNIQUE=fixed` for fixed windows). Prints
//! figures only.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aigw::{Config, Gateway, Request};
use aigw_mock::MockServer;
use serde_json::Value;

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(child, port)
}

fn gateway(mock: &MockServer, shared: Option<u16>) -> Gateway {
    let technique = std::env::var("BENCH_TECHNIQUE").unwrap_or_else(|_| "sliding".into());
    let shared = shared
        .map(|port| {
            format!(r#","shared_state":{{"redis_url":"redis://127.0.0.1:{port}/0","key_prefix":"bench:"}}"#)
        })
        .unwrap_or_default();
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}},"cache_ttl_s":3600,
            "rate_limit":{{"limit":1000000000,"interval_s":3600,"technique":"{technique}"}}{shared}}}"#,
        mock.url()
    );
    Gateway::new(Config::parse(Some(&json)).unwrap()).unwrap()
}

fn request(body: &str, skip_cache: bool) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("Authorization", "Bearer sk-bench").unwrap();
    if skip_cache {
        r.set_header("cf-aig-skip-cache", "true").unwrap();
    }
    r.body = body.as_bytes().to_vec();
    r
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(n: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn round_trips(gw: &Gateway) -> u64 {
    let m: Value = serde_json::from_str(&gw.metrics_json()).unwrap();
    m["redis"]["round_trips"].as_u64().unwrap_or(0)
}

/// Requests per second over `threads` threads sending cache hits.
fn throughput(gw: &Arc<Gateway>, threads: usize, per_thread: usize) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || {
                let req = request(r#"{"model":"gpt-4o-mini","n":"hit"}"#, false);
                for _ in 0..per_thread {
                    gw.send(&req).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    (threads * per_thread) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let redis = start_redis();
    let mock = MockServer::start().unwrap();
    let n = 2000;

    let mut con = redis::Client::open(format!("redis://127.0.0.1:{}/0", redis.1))
        .unwrap()
        .get_connection()
        .unwrap();
    let ping = time(n, || {
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
    });
    println!("shared state costs (median of {n}, single thread, local Redis)");
    println!(
        "  Redis round trip (PING, redis crate):      {:8.1} us",
        us(ping)
    );
    if let Ok(out) = Command::new("redis-benchmark")
        .args([
            "-p",
            &redis.1.to_string(),
            "-t",
            "ping",
            "-n",
            "20000",
            "-c",
            "1",
            "-q",
        ])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().filter(|l| l.contains("PING")) {
            let line = line.rsplit('\r').next().unwrap_or(line).trim();
            println!("  redis-benchmark -c 1: {line}");
        }
    }

    for (label, shared) in [("memory", None), ("Redis", Some(redis.1))] {
        let gw = Arc::new(gateway(&mock, shared));
        let hit = request(r#"{"model":"gpt-4o-mini","n":"hit"}"#, false);
        gw.send(&hit).unwrap();
        let before = round_trips(&gw);
        let t_hit = time(n, || {
            gw.send(&hit).unwrap();
        });
        let hit_trips = (round_trips(&gw) - before) as f64 / n as f64;
        let limited = request(r#"{"model":"gpt-4o-mini","n":"limited"}"#, true);
        let before = round_trips(&gw);
        let t_limited = time(n, || {
            gw.send(&limited).unwrap();
        });
        let limited_trips = (round_trips(&gw) - before) as f64 / n as f64;
        let rps = throughput(&gw, 8, 500);
        println!(
            "  {label:6}: cache hit {:8.1} us ({hit_trips:.2} round trips), rate-limited upstream call {:8.1} us ({limited_trips:.2} round trips), hits at 8 threads {rps:9.0} req/s",
            us(t_hit),
            us(t_limited)
        );
    }
}
