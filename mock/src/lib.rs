//! `aigw-mock`: a mock model provider for aigw's tests and demo.
//!
//! A small thread-per-connection HTTP/1.1 server on 127.0.0.1 that answers
//! like OpenAI, Anthropic, Replicate, Workers AI, Google AI Studio or Hugging
//! Face (chosen by path), and misbehaves on request: error statuses, stalls,
//! dropped connections, broken or stalled streams. See README.md for the
//! directives.
//!
//! ```no_run
//! let mock = aigw_mock::MockServer::start().unwrap();
//! let base_url = format!("{}/v1", mock.url());            // a healthy provider
//! let failing = format!("{}/v1", mock.fault_url("status=503")); // a failing one
//! # let _ = (base_url, failing);
//! ```

mod answers;
mod completions;
mod connection;
mod dialects;
mod directives;
mod http;
mod state;
mod stream;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use state::Shared;

/// A request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query as received, including any `/_mock/...` prefix.
    pub target: String,
    /// Headers in the order received, names in their original case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A running mock server. Dropping it stops the server: the listening port
/// is released, open connections are shut down and stalls end.
pub struct MockServer {
    port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub fn start() -> io::Result<MockServer> {
        Self::start_on(0)
    }

    /// Starts a server on 127.0.0.1:`port` (0 picks a free port).
    pub fn start_on(port: u16) -> io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name("aigw-mock-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(MockServer {
            port,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/_mock/<directives>`: a base URL whose every
    /// request carries `directives` (append the provider path, e.g. `/v1`).
    pub fn fault_url(&self, directives: &str) -> String {
        format!("{}/_mock/{directives}", self.url())
    }

    /// Requests served so far (the `/_mock/stats` and `/_mock/reset`
    /// endpoints are not counted; malformed requests are not either).
    pub fn requests(&self) -> u64 {
        self.shared.total()
    }

    /// Requests served so far with this counter key (`key=K`, or by default
    /// the full directive text, or "" for requests without directives).
    pub fn requests_for_key(&self, key: &str) -> u64 {
        self.shared.for_key(key)
    }

    /// The most recent counted request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.last()
    }

    /// Client connections open right now (a test can watch an upstream
    /// connection close).
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections()
    }

    /// Clears the counters (so `fail=N` starts over) and the recorded request.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop();
        // The accept loop is blocked in accept(); a connection wakes it and it
        // sees the stop flag. Join only if that worked, so drop never hangs.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let woke = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept_thread.take()
            && woke
        {
            let _ = handle.join();
        }
        // After the join no new connection can be registered.
        self.shared.shut_down_connections();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.is_stopped() {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // E.g. out of file descriptors: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(id) = shared.register(&stream) else {
            continue;
        };
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("aigw-mock-conn".into())
            .spawn(move || {
                connection::serve(stream, &conn_shared);
                conn_shared.forget(id);
            });
        if spawned.is_err() {
            shared.forget(id);
        }
    }
}
