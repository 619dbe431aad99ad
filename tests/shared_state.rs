//! Shared state on a real `redis-server`: gateways in separate processes
//! (this test binary re-run as a child, see `child_process`) share one rate
//! limit, one cache and one set of counters; Redis dying and coming back.

mod redis_server;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aigw::log::LogFilter;
use aigw::ratelimit::Technique;
use aigw::sse::SseEvent;
use aigw::store::{CooldownStore, CounterStore, Window};
use aigw::{Config, ErrorKind, Gateway, Request, Response, StreamSink};
use aigw_mock::MockServer;
use common::last_log;
use redis_server::RedisServer;
use serde_json::{Value, json};

mod common;

const CHILD_ENV: &str = "AIGW_SHARED_STATE_CHILD";
const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM_BODY: &str =
    r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// A gateway config: the mock as OpenAI, Redis as shared state, `extra`
/// top-level keys, `shared` extra keys of `shared_state`.
fn config(mock_url: &str, redis_url: &str, prefix: &str, extra: &str, shared: &str) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"base_url":"{mock_url}/v1"}}}},
            "shared_state":{{"redis_url":"{redis_url}","key_prefix":"{prefix}"{shared}}}{extra}}}"#
    )
}

fn chat(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = Request::new("POST", "openai/chat/completions").unwrap();
    r.set_header("Authorization", "Bearer sk-test-key").unwrap();
    for (n, v) in headers {
        r.set_header(n, v).unwrap();
    }
    r.body = body.as_bytes().to_vec();
    r
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn wait_until(epoch: u64) {
    let now = epoch_ms();
    if epoch > now {
        std::thread::sleep(Duration::from_millis(epoch - now));
    }
}

#[derive(Default)]
struct Events {
    data: Vec<String>,
}

impl StreamSink for Events {
    fn on_response(&mut self, _: &Response) -> bool {
        true
    }
    fn on_data(&mut self, _: &[u8]) -> bool {
        true
    }
    fn on_event(&mut self, e: &SseEvent<'_>) -> bool {
        self.data.push(e.data.to_string());
        true
    }
}

/// Runs jobs in child processes at once; returns what each printed.
fn run_children(jobs: &[Value]) -> Vec<Value> {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = jobs
        .iter()
        .map(|job| {
            Command::new(&exe)
                .args(["child_process", "--exact", "--ignored", "--nocapture"])
                .args(["--test-threads", "1", "--quiet"])
                .env(CHILD_ENV, job.to_string())
                .output_async()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "child failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = stdout
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .unwrap_or_else(|| panic!("no result from child: {stdout}"));
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// The child side: does the job in `AIGW_SHARED_STATE_CHILD` and prints
/// `RESULT <json>`. Run only by the tests below, as a separate process.
#[test]
#[ignore = "run as a child process by the other tests"]
fn child_process() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let job: Value = serde_json::from_str(&job).unwrap();
    let result = match job["kind"].as_str().unwrap() {
        "burst" => child_burst(&job),
        "send" => child_send(&job),
        "counter" => child_counter(&job),
        other => panic!("unknown job {other}"),
    };
    println!("RESULT {result}");
}

/// Many threads sending at once; counts what the rate limit let through.
fn child_burst(job: &Value) -> Value {
    let gw = Arc::new(Gateway::new(Config::parse(job["config"].as_str()).unwrap()).unwrap());
    let (admitted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = job["start_at_ms"].as_u64().unwrap();
    let threads: Vec<_> = (0..job["threads"].as_u64().unwrap())
        .map(|_| {
            let (gw, admitted, refused) = (gw.clone(), admitted.clone(), refused.clone());
            let n = job["per_thread"].as_u64().unwrap();
            std::thread::spawn(move || {
                wait_until(start);
                for _ in 0..n {
                    match gw.send(&chat(BODY, &[])) {
                        Ok(r) => {
                            assert_eq!(r.status, 200);
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.kind == ErrorKind::RateLimited => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    json!({"admitted": admitted.load(Ordering::Relaxed), "refused": refused.load(Ordering::Relaxed)})
}

/// One cached request, whole or streamed.
fn child_send(job: &Value) -> Value {
    let gw = Gateway::new(Config::parse(job["config"].as_str()).unwrap()).unwrap();
    let ttl = [("cf-aig-cache-ttl", "60")];
    if job["stream"].as_bool().unwrap() {
        let mut events = Events::default();
        let head = gw
            .send_stream(&chat(STREAM_BODY, &ttl), &mut events)
            .unwrap();
        json!({"status": head.status, "cache": head.header("cf-aig-cache-status"), "events": events.data})
    } else {
        let r = gw.send(&chat(BODY, &ttl)).unwrap();
        json!({"status": r.status, "cache": r.header("cf-aig-cache-status"),
               "body": String::from_utf8_lossy(&r.body)})
    }
}

/// The counter store itself (what route budgets count through): admits
/// cost amounts against a limit and charges spend, from many threads.
fn child_counter(job: &Value) -> Value {
    let config = Config::parse(job["config"].as_str()).unwrap();
    let store = aigw::store::shared::open(config.shared_state.as_ref().unwrap()).unwrap();
    let window = Window {
        interval: Duration::from_secs(3600),
        technique: Technique::Sliding,
    };
    let admitted = Arc::new(AtomicU64::new(0));
    let start = job["start_at_ms"].as_u64().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, admitted) = (store.clone(), admitted.clone());
            std::thread::spawn(move || {
                wait_until(start);
                for _ in 0..50 {
                    if store.admit("budget:cost", window, 10.0, 0.25, None)
                        == Ok(aigw::store::Admission::Admitted)
                    {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    store.charge("spend", window, 0.125, None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    json!({"admitted": admitted.load(Ordering::Relaxed)})
}

fn burst_across_processes(technique: &str) {
    let redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    let prefix = format!("t-{technique}:");
    // A window far longer than the test, so no window edge falls inside it.
    let extra =
        format!(r#","rate_limit":{{"limit":50,"interval_s":31622400,"technique":"{technique}"}}"#);
    let config = config(&mock.url(), &redis.url(), &prefix, &extra, "");
    let job = json!({"kind": "burst", "config": config, "threads": 4, "per_thread": 20,
                     "start_at_ms": epoch_ms() + 1500});
    let results = run_children(&[job.clone(), job]);
    let admitted: u64 = results
        .iter()
        .map(|r| r["admitted"].as_u64().unwrap())
        .sum();
    let refused: u64 = results.iter().map(|r| r["refused"].as_u64().unwrap()).sum();
    assert_eq!(admitted, 50, "{results:?}");
    assert_eq!(refused, 110, "{results:?}");
    assert_eq!(mock.requests(), 50);
}

#[test]
fn fixed_rate_limit_is_exact_across_processes() {
    burst_across_processes("fixed");
}

#[test]
fn sliding_rate_limit_is_exact_across_processes() {
    burst_across_processes("sliding");
}

#[test]
fn counter_store_amounts_are_exact_across_processes() {
    let redis = RedisServer::start();
    let config = config("http://127.0.0.1:1", &redis.url(), "t-counter:", "", "");
    let job = json!({"kind": "counter", "config": config, "start_at_ms": epoch_ms() + 1500});
    let results = run_children(&[job.clone(), job]);
    let admitted: u64 = results
        .iter()
        .map(|r| r["admitted"].as_u64().unwrap())
        .sum();
    // 10.0 / 0.25 = 40 admissions among 400 tries, whoever made them.
    assert_eq!(admitted, 40, "{results:?}");
    let store = aigw::store::shared::open(
        Config::parse(Some(&config))
            .unwrap()
            .shared_state
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let window = Window {
        interval: Duration::from_secs(3600),
        technique: Technique::Sliding,
    };
    let (spend, next) = store.total("spend", window, None).unwrap();
    assert_eq!(spend, 400.0 * 0.125);
    assert!(next > Duration::from_secs(3500) && next <= Duration::from_secs(3600));
}

#[test]
fn cache_hits_cross_processes_plain_and_streamed() {
    let redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    let config = config(&mock.url(), &redis.url(), "t-cache:", "", "");
    for stream in [false, true] {
        mock.reset();
        let job = json!({"kind": "send", "config": config, "stream": stream});
        let first = run_children(std::slice::from_ref(&job)).remove(0);
        let second = run_children(&[job]).remove(0);
        assert_eq!(first["cache"], "MISS", "{first}");
        assert_eq!(second["cache"], "HIT", "{second}");
        assert_eq!(second["status"], 200);
        if stream {
            let events = second["events"].as_array().unwrap();
            assert!(events.len() > 2, "{second}");
            assert_eq!(first["events"], second["events"]);
        } else {
            assert!(second["body"].as_str().unwrap().contains("chat.completion"));
            assert_eq!(first["body"], second["body"]);
        }
        assert_eq!(mock.requests(), 1, "stream={stream}");
    }
}

#[test]
fn identical_misses_wait_for_one_fill() {
    let redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    // Generous Redis timeouts: on a loaded machine a round trip slower than
    // the default would fail open and count as a second fill.
    let config = config(
        &mock.url(),
        &redis.url(),
        "t-fill:",
        "",
        r#","connect_timeout_ms":5000,"command_timeout_ms":5000"#,
    );
    // Two gateways (as if two processes) in this process, 6 threads each.
    let gateways: Vec<Arc<Gateway>> = (0..2)
        .map(|_| Arc::new(Gateway::new(Config::parse(Some(&config)).unwrap()).unwrap()))
        .collect();
    let barrier = Arc::new(Barrier::new(12));
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let (gw, barrier) = (gateways[i % 2].clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = gw
                    .send(&chat(
                        BODY,
                        &[("cf-aig-cache-ttl", "60"), ("x-mock", "stall=300")],
                    ))
                    .unwrap();
                r.header("cf-aig-cache-status").unwrap().to_string()
            })
        })
        .collect();
    let statuses: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(mock.requests(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "MISS").count(), 1);
}

#[test]
fn every_key_has_the_prefix_and_an_expiry() {
    let redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    let mut con = redis.client();
    for technique in ["fixed", "sliding"] {
        let prefix = format!("keys-{technique}:");
        let extra = format!(
            r#","rate_limit":{{"limit":5,"interval_s":60,"technique":"{technique}"}},"cache_ttl_s":60"#
        );
        let config = Config::parse(Some(&config(
            &mock.url(),
            &redis.url(),
            &prefix,
            &extra,
            "",
        )))
        .unwrap();
        let store = aigw::store::shared::open(config.shared_state.as_ref().unwrap()).unwrap();
        let gw = Gateway::new(config).unwrap();
        for body in [BODY, STREAM_BODY] {
            gw.send(&chat(body, &[])).unwrap();
        }
        // Cool-downs and spend go through the same store.
        store
            .record_failure("openai/gpt-4o-mini", 1, Duration::from_secs(30), None)
            .unwrap();
        store
            .record_failure("openai/other", 3, Duration::from_secs(30), None)
            .unwrap();
        assert_eq!(
            store
                .cooling("openai/gpt-4o-mini", None)
                .unwrap()
                .map(|d| d > Duration::from_secs(29)),
            Some(true)
        );
        store
            .charge(
                "spend",
                Window {
                    interval: Duration::from_secs(60),
                    technique: Technique::Fixed,
                },
                0.5,
                None,
            )
            .unwrap();
    }
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert!(keys.len() >= 10, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with("keys-fixed:") || key.starts_with("keys-sliding:"),
            "{key}"
        );
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut con).unwrap();
        assert!(ttl > 0, "{key} has no expiry ({ttl})");
    }
    assert!(keys.iter().any(|k| k.contains(":cache:")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(":cooldown:")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(":failures:")), "{keys:?}");
}

#[test]
fn redis_killed_mid_run_fail_open_serves_and_says_so() {
    let mut redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    let extra = r#","rate_limit":{"limit":100,"interval_s":60},"cache_ttl_s":60"#;
    let gw = Gateway::new(
        Config::parse(Some(&config(
            &mock.url(),
            &redis.url(),
            "open:",
            extra,
            r#","on_error":"fail_open""#,
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        gw.send(&chat(BODY, &[]))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("MISS")
    );
    assert!(last_log(&gw).get("shared_state_error").is_none());
    redis.kill();
    for _ in 0..5 {
        let started = Instant::now();
        let r = gw.send(&chat(BODY, &[])).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("cf-aig-cache-status"),
            Some("MISS"),
            "served uncached"
        );
        let error = last_log(&gw)["shared_state_error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(error.contains("Redis at 127.0.0.1:"), "{error}");
    }
    assert_eq!(mock.requests(), 6);

    // Redis comes back on the same port: sharing resumes, no restart needed.
    let _redis = RedisServer::start_on(redis.port);
    std::thread::sleep(Duration::from_millis(700)); // past the connect back-off
    assert_eq!(
        gw.send(&chat(BODY, &[]))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("MISS")
    );
    assert!(
        last_log(&gw).get("shared_state_error").is_none(),
        "{}",
        last_log(&gw)
    );
    assert_eq!(
        gw.send(&chat(BODY, &[]))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("HIT")
    );
    let metrics: Value = serde_json::from_str(&gw.metrics_json()).unwrap();
    assert!(
        metrics["redis"]["errors"].as_u64().unwrap() >= 1,
        "{metrics}"
    );
    assert!(
        metrics["redis"]["round_trips"].as_u64().unwrap() >= 4,
        "{metrics}"
    );
    let prom = gw.metrics_prometheus();
    assert!(prom.contains("aigw_redis_round_trips_total "), "{prom}");
    assert!(
        prom.contains("aigw_redis_round_trip_seconds_bucket{le=\"+Inf\"}"),
        "{prom}"
    );
}

#[test]
fn redis_killed_mid_run_fail_closed_refuses_naming_redis() {
    let mut redis = RedisServer::start();
    let mock = MockServer::start().unwrap();
    let extra = r#","rate_limit":{"limit":100,"interval_s":60,"technique":"sliding"}"#;
    let url = redis.url().replace("redis://", "redis://user:s3cret-pw@");
    let gw = Gateway::new(
        Config::parse(Some(&config(
            &mock.url(),
            &redis.url(),
            "closed:",
            extra,
            r#","on_error":"fail_closed""#,
        )))
        .unwrap(),
    )
    .unwrap();
    gw.send(&chat(BODY, &[])).unwrap();
    redis.kill();
    for _ in 0..5 {
        let started = Instant::now();
        let e = gw.send(&chat(BODY, &[])).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.kind, ErrorKind::Connect, "{e}");
        assert!(e.message.contains("Redis at 127.0.0.1:"), "{e}");
    }
    assert_eq!(mock.requests(), 1);

    // A URL with credentials: they appear in no message, log or Debug.
    let gw = Gateway::new(
        Config::parse(Some(&config(
            &mock.url(),
            &url,
            "closed:",
            extra,
            r#","on_error":"fail_closed""#,
        )))
        .unwrap(),
    )
    .unwrap();
    let e = gw.send(&chat(BODY, &[])).unwrap_err();
    assert!(
        e.message.contains("Redis") && !e.message.contains("s3cret"),
        "{e}"
    );
    assert!(
        !gw.logs_json(&LogFilter::parse(Some("{}")).unwrap())
            .contains("s3cret")
    );
    assert!(!format!("{gw:?}").contains("s3cret"));
}

#[test]
fn a_redis_that_never_answers_costs_at_most_the_timeouts() {
    // Accepts connections (the kernel does) but never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}/0",
        silent.local_addr().unwrap().port()
    );
    let mock = MockServer::start().unwrap();
    let extra = r#","rate_limit":{"limit":100,"interval_s":60}"#;
    for (mode, ok) in [("fail_open", true), ("fail_closed", false)] {
        let shared =
            format!(r#","on_error":"{mode}","connect_timeout_ms":200,"command_timeout_ms":100"#);
        let gw = Gateway::new(
            Config::parse(Some(&config(&mock.url(), &url, "silent:", extra, &shared))).unwrap(),
        )
        .unwrap();
        for _ in 0..3 {
            let started = Instant::now();
            let result = gw.send(&chat(BODY, &[]));
            let took = started.elapsed();
            assert!(took < Duration::from_millis(700), "{mode}: {took:?}");
            assert_eq!(result.is_ok(), ok, "{mode}: {result:?}");
        }
    }
}

#[test]
fn rediss_speaks_tls() {
    let redis = RedisServer::start_tls();
    let mock = MockServer::start().unwrap();
    let extra = r#","cache_ttl_s":60"#;
    let closed = r#","on_error":"fail_closed","connect_timeout_ms":2000"#;
    let url = |fragment: &str| format!("rediss://127.0.0.1:{}/0{fragment}", redis.port);
    // `#insecure`: encrypted, certificate not verified (it is self-signed).
    let gw = Gateway::new(
        Config::parse(Some(&config(
            &mock.url(),
            &url("#insecure"),
            "tls:",
            extra,
            closed,
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        gw.send(&chat(BODY, &[]))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("MISS")
    );
    assert_eq!(
        gw.send(&chat(BODY, &[]))
            .unwrap()
            .header("cf-aig-cache-status"),
        Some("HIT")
    );
    // Verified against the platform roots, a self-signed certificate fails.
    let gw = Gateway::new(
        Config::parse(Some(&config(&mock.url(), &url(""), "tls:", extra, closed))).unwrap(),
    )
    .unwrap();
    let e = gw.send(&chat(BODY, &[])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    assert!(e.message.contains("Redis at 127.0.0.1:"), "{e}");
    // Plain redis:// to a TLS-only port does not hang either.
    let gw = Gateway::new(
        Config::parse(Some(&config(
            &mock.url(),
            &format!("redis://127.0.0.1:{}/0", redis.port),
            "tls:",
            extra,
            closed,
        )))
        .unwrap(),
    )
    .unwrap();
    let started = Instant::now();
    assert!(gw.send(&chat(BODY, &[])).is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The Redis store decides as the memory store does (the same amounts,
/// retry hints and cool-downs), on the server's clock.
#[test]
fn redis_store_matches_memory_semantics() {
    let redis = RedisServer::start();
    let config = Config::parse(Some(&config(
        "http://127.0.0.1:1",
        &redis.url(),
        "sem:",
        "",
        "",
    )))
    .unwrap();
    let store = aigw::store::shared::open(config.shared_state.as_ref().unwrap()).unwrap();
    let sliding = Window {
        interval: Duration::from_millis(1000),
        technique: Technique::Sliding,
    };
    let close = |a: Duration, b: u64| {
        let ms = a.as_millis() as i64;
        (ms - b as i64).abs() <= 60
    };
    store.charge("spend", sliding, 0.6, None).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    store.charge("spend", sliding, 0.3, None).unwrap();
    let (total, next) = store.total("spend", sliding, None).unwrap();
    assert!((total - 0.9).abs() < 1e-9, "{total}");
    assert!(close(next, 600), "{next:?}");
    // 0.5 more fits only once the 0.6 leaves.
    match store.admit("spend", sliding, 1.0, 0.5, None).unwrap() {
        aigw::store::Admission::Refused { retry_in } => {
            assert!(close(retry_in, 600), "{retry_in:?}")
        }
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(650));
    assert_eq!(
        store.admit("spend", sliding, 1.0, 0.5, None),
        Ok(aigw::store::Admission::Admitted)
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        store.total("spend", sliding, None).unwrap(),
        (0.0, Duration::ZERO)
    );

    // Fixed windows: the refusal says when the window ends.
    let fixed = Window {
        interval: Duration::from_secs(3600),
        technique: Technique::Fixed,
    };
    let into_hour = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 3600;
    if into_hour >= 3595 {
        // Too close to the window's edge for this check: wait past it.
        std::thread::sleep(Duration::from_secs(3601 - into_hour));
    }
    assert_eq!(
        store.admit("f", fixed, 2.0, 2.0, None),
        Ok(aigw::store::Admission::Admitted)
    );
    let secs_into_hour = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 3600;
    match store.admit("f", fixed, 2.0, 1.0, None).unwrap() {
        aigw::store::Admission::Refused { retry_in } => {
            let want = 3600 - secs_into_hour;
            assert!(
                retry_in.as_secs().abs_diff(want) <= 2,
                "{retry_in:?} vs {want} s"
            );
        }
        other => panic!("{other:?}"),
    }

    // Cool-downs: the third failure in a row starts one; a success resets.
    let cool = Duration::from_secs(30);
    assert_eq!(store.record_failure("p/m", 3, cool, None), Ok(false));
    assert_eq!(store.record_failure("p/m", 3, cool, None), Ok(false));
    store.record_success("p/m", None).unwrap();
    assert_eq!(store.record_failure("p/m", 3, cool, None), Ok(false));
    assert_eq!(store.record_failure("p/m", 3, cool, None), Ok(false));
    assert_eq!(store.record_failure("p/m", 3, cool, None), Ok(true));
    let left = store.cooling("p/m", None).unwrap().unwrap();
    assert!(left > Duration::from_secs(29) && left <= cool, "{left:?}");
    // Failures while cooling do not extend it.
    assert_eq!(store.record_failure("p/m", 1, cool, None), Ok(false));
    assert_eq!(store.cooling("other", None), Ok(None));
    store.record_success("p/m", None).unwrap();
    assert_eq!(store.cooling("p/m", None), Ok(None));
}
