//! The `aigw serve` program: start, serve, stop on SIGTERM, bad configs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aigw_mock::MockServer;

const AIGW: &str = env!("CARGO_BIN_EXE_aigw");

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("aigw-serve-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn post(addr: &str, path: &str, headers: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_until_sigterm_then_exits_zero() {
    let mock = MockServer::start().unwrap();
    let config = temp_file(
        "ok.json",
        &format!(
            r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}},
                "server":{{"listen":"127.0.0.1:9","auth_token":"tok-1","max_body_bytes":4096}}}}"#,
            mock.url()
        ),
    );
    let (mut child, addr) = spawn_serve(&config);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let chat = r#"{"model":"gpt-4o-mini","messages":[]}"#;
    let denied = post(&addr, "/v1/a/g/openai/chat/completions", "", chat);
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    let ok = post(
        &addr,
        "/v1/a/g/openai/chat/completions",
        "cf-aig-authorization: Bearer tok-1\r\n",
        chat,
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("Hello from the aigw mock."), "{ok}");
    // The config's server options apply (max_body_bytes 4096).
    let big = post(
        &addr,
        "/openai/chat/completions",
        "cf-aig-authorization: Bearer tok-1\r\n",
        &"x".repeat(5000),
    );
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");

    let started = Instant::now();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
    let _ = std::fs::remove_file(config);
}

#[test]
fn bad_configs_and_arguments_fail_clearly() {
    let run = |args: &[&str]| {
        let out = Command::new(AIGW).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["serve", "--config", "/nonexistent/aigw.json"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/aigw.json"), "{err}");
    let bad = temp_file(
        "bad.json",
        r#"{"server":{"listen":"127.0.0.1:0","typo":1}}"#,
    );
    let (code, err) = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("typo"), "{err}");
    let secret = temp_file(
        "public.json",
        r#"{"server":{"auth_token":"hunter2-secret"}}"#,
    );
    let (code, err) = run(&[
        "serve",
        "--config",
        secret.to_str().unwrap(),
        "--listen",
        "nope",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--listen") && !err.contains("hunter2"),
        "{err}"
    );
    let (code, err) = run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("auth_token"), "{err}");
    let (code, _) = run(&["serve", "--bogus"]);
    assert_eq!(code, Some(2));
    let out = Command::new(AIGW)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("aigw serve [--config FILE] [--listen ADDR]")
    );
    for f in [bad, secret] {
        let _ = std::fs::remove_file(f);
    }
}

/// Starts `aigw serve --config FILE --listen 127.0.0.1:0`; the child and
/// its address.
fn spawn_serve(config: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(AIGW)
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("aigw listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    (child, addr)
}

/// After `n` requests at once, how many upstream connections the gateway
/// keeps open (idle in its pool).
fn upstream_connections_kept_after(mock: &MockServer, addr: &str, n: usize) -> usize {
    let chat = r#"{"model":"gpt-4o-mini","messages":[]}"#;
    let answers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    post(
                        addr,
                        "/openai/chat/completions",
                        "x-mock: stall=400\r\n",
                        chat,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    }
    // Connections over the pool's limit are closed as they come back.
    let mut last = mock.open_connections();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(100));
        let now = mock.open_connections();
        if now == last && settle.elapsed() > Duration::from_millis(300) {
            break;
        }
        last = now;
    }
    mock.open_connections()
}

#[test]
fn the_upstream_pool_keeps_a_connection_per_concurrent_request() {
    let n = 40;
    // More than the library's default of 32 idle connections per host.
    let mock = MockServer::start().unwrap();
    let config = temp_file(
        "pool.json",
        &format!(
            r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}}}}"#,
            mock.url()
        ),
    );
    let (mut child, addr) = spawn_serve(&config);
    let kept = upstream_connections_kept_after(&mock, &addr, n);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(kept, n, "every upstream connection stays pooled");

    // A config that sets the pool size keeps it.
    let mock = MockServer::start().unwrap();
    let small = temp_file(
        "pool-small.json",
        &format!(
            r#"{{"providers":{{"openai":{{"base_url":"{}/v1"}}}},
                "max_idle_connections_per_host":4}}"#,
            mock.url()
        ),
    );
    let (mut child, addr) = spawn_serve(&small);
    let kept = upstream_connections_kept_after(&mock, &addr, n);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(kept, 4, "the configured pool size applies");
    for f in [config, small] {
        let _ = std::fs::remove_file(f);
    }
}
