//! TLS to upstreams: `ca_file` adds a private CA to the trusted roots, a
//! server signed by an untrusted CA (or with the wrong name) is refused with
//! `ErrorKind::Tls`, and a `ca_file` that cannot be used is a config error.
//!
//! Every certificate is made here with rcgen; the HTTPS server is a small
//! rustls server on 127.0.0.1.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aigw::{Config, ErrorKind, Gateway, Request};
use common::SeenRequest as Seen;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

mod common;

const BODY: &str = r#"{"id":"chatcmpl-tls","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"over tls"},"finish_reason":"stop"}]}"#;
const SECRET_HEADER: &str = "Bearer sk-SECRET-TLS";

// ---------------------------------------------------------------- certificates

/// A test CA and one server certificate it signed.
struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
    server_key_pem: String,
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (params, key, cert.pem())
}

/// A CA named `ca_name` and a server certificate for `names` signed by it.
fn make_pki(ca_name: &str, names: &[&str]) -> Pki {
    let (ca_params, ca_key, ca_pem) = make_ca(ca_name);
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].to_string());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem,
        server_chain: vec![cert.der().clone()],
        server_key_der: key.serialize_der(),
        server_key_pem: key.serialize_pem(),
    }
}

/// A file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &[u8]) -> TempFile {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "aigw-tls-{}-{tag}-{nanos}-{seq}.pem",
            std::process::id()
        ));
        fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------- HTTPS server

/// An HTTPS/1.1 server on 127.0.0.1 answering every request with 200 and
/// [`BODY`], keeping the connection alive unless asked to close.
struct HttpsServer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl HttpsServer {
    fn start(pki: &Pki) -> HttpsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.server_chain.clone(), key)
            .unwrap();
        let config = Arc::new(config);

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let accept_thread = thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let (config, seen) = (Arc::clone(&config), Arc::clone(&seen2));
                thread::spawn(move || {
                    let _ = serve(tcp, config, &seen);
                });
            }
        });
        HttpsServer {
            port,
            seen,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the loop sees the flag.
        let _ = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(tcp: TcpStream, config: Arc<ServerConfig>, seen: &Mutex<Vec<Seen>>) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    // The handshake runs on the first read; a client that rejects the
    // certificate makes that read fail and the connection ends here.
    let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line)? == 0 {
            break;
        }
        let request_line = request_line.trim_end().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line has a colon");
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut request = Seen {
            request_line,
            headers,
            body: Vec::new(),
        };
        let length: usize = request
            .header("content-length")
            .map(|v| v.parse().expect("numeric content-length"))
            .unwrap_or(0);
        assert!(
            request.header("transfer-encoding").is_none(),
            "the test server reads Content-Length bodies only"
        );
        request.body = vec![0; length];
        stream.read_exact(&mut request.body)?;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        seen.lock().unwrap().push(request);

        let out = stream.get_mut();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{BODY}",
            BODY.len(),
            if close { "Connection: close\r\n" } else { "" },
        )?;
        out.flush()?;
        if close {
            break;
        }
    }
    let out = stream.get_mut();
    out.conn.send_close_notify();
    let _ = out.flush();
    Ok(())
}

// ---------------------------------------------------------------- helpers

fn gateway(base_url: &str, ca_file: Option<&str>) -> Result<Gateway, aigw::Error> {
    let mut config = serde_json::json!({
        "providers": { "custom-tls": { "base_url": base_url } },
        "request_timeout_ms": 10000,
        "max_attempts": 1,
    });
    if let Some(path) = ca_file {
        config["ca_file"] = path.into();
    }
    Gateway::new(Config::parse(Some(&config.to_string()))?)
}

fn chat_request() -> Request {
    let mut req = Request::new("POST", "custom-tls/chat/completions").unwrap();
    req.set_header("Content-Type", "application/json").unwrap();
    req.set_header("Authorization", SECRET_HEADER).unwrap();
    req.body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec();
    req
}

fn assert_no_secret(message: &str) {
    assert!(
        !message.contains("SECRET") && !message.contains("sk-"),
        "error message leaks a header value: {message:?}"
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn ca_file_trusts_private_ca_by_name_and_by_ip() {
    let pki = make_pki("aigw test CA", &["localhost", "127.0.0.1"]);
    let server = HttpsServer::start(&pki);
    let ca = TempFile::new("ca", pki.ca_pem.as_bytes());

    for host in ["localhost", "127.0.0.1"] {
        let base_url = format!("https://{host}:{}/v1", server.port);
        let gw = gateway(&base_url, Some(ca.path())).unwrap();
        let before = server.seen().len();
        // Twice on one gateway: the second may ride a pooled TLS connection.
        for _ in 0..2 {
            let resp = gw
                .send(&chat_request())
                .unwrap_or_else(|e| panic!("send to {base_url} failed: {e:?}"));
            assert_eq!(resp.status, 200, "via {host}");
            assert_eq!(String::from_utf8_lossy(&resp.body), BODY, "via {host}");
        }
        let seen = server.seen();
        assert_eq!(seen.len(), before + 2, "via {host}: {seen:?}");
        let last = seen.last().unwrap();
        assert_eq!(last.request_line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(last.header("authorization"), Some(SECRET_HEADER));
        assert!(
            String::from_utf8_lossy(&last.body).contains(r#""content":"hi""#),
            "body forwarded: {last:?}"
        );
    }
}

#[test]
fn without_ca_file_private_ca_is_a_tls_error() {
    let pki = make_pki("aigw untrusted CA", &["localhost", "127.0.0.1"]);
    let server = HttpsServer::start(&pki);

    for host in ["localhost", "127.0.0.1"] {
        let base_url = format!("https://{host}:{}/v1", server.port);
        let gw = gateway(&base_url, None).unwrap();
        let err = gw
            .send(&chat_request())
            .expect_err("a server signed by an unknown CA must be refused");
        assert_eq!(err.kind, ErrorKind::Tls, "via {host}: {err:?}");
        let lower = err.message.to_lowercase();
        assert!(
            lower.contains("certificate") || lower.contains("issuer"),
            "message should name the certificate problem: {:?}",
            err.message
        );
        assert_no_secret(&err.message);
    }
    // Nothing, the credential included, was sent over the untrusted link.
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}

#[test]
fn ca_file_with_another_ca_is_a_tls_error() {
    let pki = make_pki("aigw server CA", &["localhost", "127.0.0.1"]);
    let server = HttpsServer::start(&pki);
    let (_, _, other_ca_pem) = make_ca("aigw other CA");
    let other = TempFile::new("other-ca", other_ca_pem.as_bytes());

    let base_url = format!("https://127.0.0.1:{}/v1", server.port);
    let err = gateway(&base_url, Some(other.path()))
        .unwrap()
        .send(&chat_request())
        .expect_err("ca_file adds roots, it does not trust every server");
    assert_eq!(err.kind, ErrorKind::Tls, "{err:?}");
    assert_no_secret(&err.message);
    assert!(server.seen().is_empty());
}

#[test]
fn certificate_for_another_name_is_a_tls_error() {
    // Signed by the trusted CA, but for neither localhost nor 127.0.0.1.
    let pki = make_pki("aigw test CA", &["upstream.invalid"]);
    let server = HttpsServer::start(&pki);
    let ca = TempFile::new("ca", pki.ca_pem.as_bytes());

    for host in ["localhost", "127.0.0.1"] {
        let base_url = format!("https://{host}:{}/v1", server.port);
        let err = gateway(&base_url, Some(ca.path()))
            .unwrap()
            .send(&chat_request())
            .expect_err("a certificate for another name must be refused");
        assert_eq!(err.kind, ErrorKind::Tls, "via {host}: {err:?}");
        let lower = err.message.to_lowercase();
        assert!(
            lower.contains("certificate") || lower.contains("name"),
            "message should name the certificate problem: {:?}",
            err.message
        );
        assert_no_secret(&err.message);
    }
    assert!(server.seen().is_empty());
}

#[test]
fn ca_file_that_is_missing_is_invalid_config() {
    let missing = std::env::temp_dir().join(format!(
        "aigw-tls-{}-does-not-exist.pem",
        std::process::id()
    ));
    assert!(!Path::new(&missing).exists());
    let path = missing.to_str().unwrap();
    let Err(err) = gateway("https://127.0.0.1:9/v1", Some(path)) else {
        panic!("a missing ca_file must be refused");
    };
    assert_eq!(err.kind, ErrorKind::InvalidConfig, "{err:?}");
    assert!(err.message.contains(path), "names the path: {err:?}");
}

#[test]
fn ca_file_without_a_certificate_is_invalid_config() {
    let pki = make_pki("aigw test CA", &["localhost"]);
    let cases: [(&str, &[u8]); 3] = [
        ("empty", b""),
        ("text", b"this is not a certificate\n"),
        // PEM, but only a private key.
        ("key-only", pki.server_key_pem.as_bytes()),
    ];
    for (tag, contents) in cases {
        let file = TempFile::new(tag, contents);
        let Err(err) = gateway("https://127.0.0.1:9/v1", Some(file.path())) else {
            panic!("{tag}: a ca_file with no certificate must be refused");
        };
        assert_eq!(err.kind, ErrorKind::InvalidConfig, "{tag}: {err:?}");
        assert!(
            err.message.contains(file.path()),
            "{tag}: names the path: {err:?}"
        );
        // The key itself must not be echoed back.
        assert!(
            !err.message.contains("PRIVATE KEY"),
            "{tag}: {:?}",
            err.message
        );
    }
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    // The mock speaks plain HTTP/1.1; the handshake cannot succeed.
    let mock = aigw_mock::MockServer::start().unwrap();
    let base_url = format!("https://127.0.0.1:{}/v1", mock.port());
    let err = gateway(&base_url, None)
        .unwrap()
        .send(&chat_request())
        .expect_err("a TLS handshake with a plain HTTP server must fail");
    assert_eq!(err.kind, ErrorKind::Tls, "{err:?}");
    assert_no_secret(&err.message);
    assert_eq!(mock.requests(), 0, "no HTTP request was completed");
}
