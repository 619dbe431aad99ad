//! Proxy settings from the environment, read when a gateway is created.
//!
//! What ureq 3.5.2 (our transport) does, from its `proxy.rs` and
//! `unversioned/transport/connect.rs`:
//! - `Proxy::try_from_env()` takes the first of `ALL_PROXY`, `all_proxy`,
//!   `HTTPS_PROXY`, `https_proxy`, `HTTP_PROXY`, `http_proxy` that parses, and
//!   uses that one proxy for every scheme.
//! - An `http://` proxy is always a CONNECT tunnel, for `http://` targets too:
//!   ureq never sends absolute-form requests (`POST http://host/... HTTP/1.1`).
//!   So the proxy here speaks CONNECT, and the test checks the CONNECT line.
//! - Loopback targets are not exempt; only `NO_PROXY`/`no_proxy` (exact host,
//!   `.suffix`, `*.suffix`, `prefix*`, `*`; no ports, no CIDR) bypasses it.
//!
//! Everything is in ONE test because it changes the process environment, and
//! this binary holds no other test that could read it concurrently.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use aigw::{ErrorKind, Gateway, Request};
use aigw_mock::MockServer;
use common::{SeenRequest as ProxyRequest, gateway_from};

mod common;

const PROXY_VARS: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

const SECRET_HEADER: &str = "Bearer sk-SECRET-PROXY";

// ---------------------------------------------------------------- the proxy

/// A CONNECT proxy on 127.0.0.1 that only tunnels to 127.0.0.1. Any other
/// request (absolute-form included) is recorded and answered 501, so a
/// client that tried absolute-form would fail loudly rather than pass.
struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<ProxyRequest>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let accept_thread = thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let seen = Arc::clone(&seen2);
                thread::spawn(move || {
                    let _ = serve(client, &seen);
                });
            }
        });
        Proxy {
            port,
            seen,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<ProxyRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(client: TcpStream, seen: &Mutex<Vec<ProxyRequest>>) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let request_line = request_line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    seen.lock().unwrap().push(ProxyRequest {
        request_line: request_line.clone(),
        headers,
        body: Vec::new(),
    });

    let mut out = client.try_clone()?;
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // Never tunnel anywhere but this machine's loopback.
    let upstream = match (method, target.strip_prefix("127.0.0.1:")) {
        ("CONNECT", Some(port)) => port
            .parse::<u16>()
            .ok()
            .and_then(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, p)).ok()),
        _ => None,
    };
    let Some(upstream) = upstream else {
        out.write_all(
            b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    };
    out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    client.set_read_timeout(None)?;

    // Whatever the client sent after the head is already in `reader`'s buffer.
    let mut up_writer = upstream.try_clone()?;
    let buffered = reader.buffer().to_vec();
    up_writer.write_all(&buffered)?;
    let to_upstream = thread::spawn(move || {
        let mut reader = reader.into_inner();
        let _ = io::copy(&mut reader, &mut up_writer);
        let _ = up_writer.shutdown(Shutdown::Write);
    });
    let mut up_reader = upstream;
    let _ = io::copy(&mut up_reader, &mut out);
    let _ = out.shutdown(Shutdown::Write);
    let _ = to_upstream.join();
    Ok(())
}

// ---------------------------------------------------------------- helpers

/// Sets or removes proxy variables.
fn set_env(vars: &[(&str, Option<&str>)]) {
    for (name, value) in vars {
        // SAFETY: this binary runs a single test, and none of the threads it
        // starts (mock server, proxy) reads the environment.
        unsafe {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

fn clear_proxy_env() {
    set_env(&PROXY_VARS.map(|n| (n, None)));
}

/// Restores the proxy variables as they were, even if the test panics.
struct EnvGuard(Vec<(&'static str, Option<String>)>);

impl EnvGuard {
    fn save() -> EnvGuard {
        EnvGuard(
            PROXY_VARS
                .iter()
                .map(|n| (*n, std::env::var(n).ok()))
                .collect(),
        )
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        let vars: Vec<(&str, Option<&str>)> =
            self.0.iter().map(|(n, v)| (*n, v.as_deref())).collect();
        set_env(&vars);
    }
}

fn gateway(base_url: &str) -> Gateway {
    let config = serde_json::json!({
        "providers": { "custom-up": { "base_url": base_url } },
        "request_timeout_ms": 10000,
        "max_attempts": 1,
    });
    gateway_from(&config.to_string())
}

fn chat_request() -> Request {
    let mut req = Request::new("POST", "custom-up/chat/completions").unwrap();
    req.set_header("Content-Type", "application/json").unwrap();
    req.set_header("Authorization", SECRET_HEADER).unwrap();
    req.body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec();
    req
}

/// Sends and checks the mock answered; returns the proxy requests it caused.
fn send_ok(gw: &Gateway, mock: &MockServer, proxy: &Proxy, what: &str) -> Vec<ProxyRequest> {
    let (mock_before, proxy_before) = (mock.requests(), proxy.seen().len());
    let resp = gw
        .send(&chat_request())
        .unwrap_or_else(|e| panic!("{what}: send failed: {e:?}"));
    assert_eq!(
        resp.status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(
        mock.requests(),
        mock_before + 1,
        "{what}: upstream hit once"
    );
    let last = mock.last_request().unwrap();
    assert_eq!(last.target, "/v1/chat/completions", "{what}");
    assert_eq!(last.header("authorization"), Some(SECRET_HEADER), "{what}");
    proxy.seen()[proxy_before..].to_vec()
}

// ---------------------------------------------------------------- the test

#[test]
fn proxy_environment() {
    let _restore = EnvGuard::save();
    clear_proxy_env();

    let mock = MockServer::start().unwrap();
    let proxy = Proxy::start();
    let base_url = format!("{}/v1", mock.url());
    let connect_line = format!("CONNECT 127.0.0.1:{} HTTP/1.1", mock.port());

    // A gateway made while no proxy is set goes direct.
    let direct = gateway(&base_url);
    let via = send_ok(&direct, &mock, &proxy, "no proxy set");
    assert!(via.is_empty(), "no proxy set, yet the proxy saw {via:?}");

    // HTTP_PROXY / http_proxy: the request is tunnelled through the proxy.
    set_env(&[
        ("HTTP_PROXY", Some(&proxy.url())),
        ("http_proxy", Some(&proxy.url())),
    ]);
    let proxied = gateway(&base_url);
    let via = send_ok(&proxied, &mock, &proxy, "HTTP_PROXY set");
    assert_eq!(via.len(), 1, "HTTP_PROXY set: proxy saw {via:?}");
    assert_eq!(via[0].request_line, connect_line);
    assert_eq!(
        via[0].header("host"),
        Some(format!("127.0.0.1:{}", mock.port()).as_str())
    );
    // The credential rides inside the tunnel, not in the proxy's view.
    assert!(
        via[0].header("authorization").is_none(),
        "the proxy must not see the upstream credential: {:?}",
        via[0]
    );
    assert!(via[0].header("proxy-authorization").is_none());

    // The environment is read when the gateway is created, not per send.
    let via = send_ok(&direct, &mock, &proxy, "gateway made before HTTP_PROXY");
    assert!(via.is_empty(), "old gateway went via the proxy: {via:?}");

    // NO_PROXY naming the host bypasses the proxy; `*` bypasses it for all.
    for no_proxy in ["127.0.0.1", "example.invalid,127.0.0.1", "*"] {
        set_env(&[("NO_PROXY", Some(no_proxy)), ("no_proxy", Some(no_proxy))]);
        let bypass = gateway(&base_url);
        let via = send_ok(&bypass, &mock, &proxy, &format!("NO_PROXY={no_proxy}"));
        assert!(via.is_empty(), "NO_PROXY={no_proxy}: proxy saw {via:?}");
    }
    // NO_PROXY naming only other hosts leaves this one proxied.
    set_env(&[
        ("NO_PROXY", Some("example.invalid")),
        ("no_proxy", Some("example.invalid")),
    ]);
    let via = send_ok(
        &gateway(&base_url),
        &mock,
        &proxy,
        "NO_PROXY=example.invalid",
    );
    assert_eq!(via.len(), 1, "NO_PROXY=example.invalid: proxy saw {via:?}");
    assert_eq!(via[0].request_line, connect_line);
    set_env(&[("NO_PROXY", None), ("no_proxy", None)]);

    // Proxy credentials in the URL become Proxy-Authorization on CONNECT.
    let with_creds = format!("http://aigw-user:pr0xy-pw@127.0.0.1:{}", proxy.port);
    set_env(&[
        ("HTTP_PROXY", Some(&with_creds)),
        ("http_proxy", Some(&with_creds)),
    ]);
    let via = send_ok(&gateway(&base_url), &mock, &proxy, "proxy with credentials");
    assert_eq!(via.len(), 1);
    assert_eq!(via[0].request_line, connect_line);
    // base64("aigw-user:pr0xy-pw")
    assert_eq!(
        via[0].header("proxy-authorization"),
        Some("Basic YWlndy11c2VyOnByMHh5LXB3")
    );

    // A proxy that cannot be reached is a connect error, and the message
    // quotes neither the proxy password nor a request header.
    let dead_port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://aigw-user:pr0xy-pw@127.0.0.1:{dead_port}");
    set_env(&[("HTTP_PROXY", Some(&dead)), ("http_proxy", Some(&dead))]);
    let (mock_before, proxy_before) = (mock.requests(), proxy.seen().len());
    let err = gateway(&base_url)
        .send(&chat_request())
        .expect_err("an unreachable proxy must fail the send");
    assert_eq!(err.kind, ErrorKind::Connect, "{err:?}");
    let via = format!("via proxy 127.0.0.1:{dead_port}");
    assert!(err.message.contains(&via), "names the proxy: {err:?}");
    for secret in ["pr0xy-pw", "SECRET"] {
        assert!(!err.message.contains(secret), "leaks {secret}: {err:?}");
    }
    assert_eq!(mock.requests(), mock_before, "no direct fallback");
    assert_eq!(proxy.seen().len(), proxy_before);

    // A proxy that refuses the tunnel is a connect error too. This proxy
    // refuses any target but 127.0.0.1, so give the upstream as `localhost`.
    set_env(&[
        ("HTTP_PROXY", Some(&proxy.url())),
        ("http_proxy", Some(&proxy.url())),
    ]);
    let by_name = format!("http://localhost:{}/v1", mock.port());
    let err = gateway(&by_name)
        .send(&chat_request())
        .expect_err("a refused CONNECT must fail the send");
    assert_eq!(err.kind, ErrorKind::Connect, "{err:?}");
    assert!(!err.message.contains("SECRET"), "{err:?}");
    let via = proxy.seen();
    assert_eq!(
        via.last().unwrap().request_line,
        format!("CONNECT localhost:{} HTTP/1.1", mock.port())
    );
    assert_eq!(mock.requests(), mock_before, "no direct fallback");

    drop(proxy);
    drop(mock);
}
