//! HTTP to the upstreams: pooled ureq agents per gateway, with a TCP layer
//! that cancel tokens (`cancel`) and deadlines (`io_scope`) can interrupt.
//! Depends on config, error and http only; the only user of ureq.

pub mod cancel;
pub mod io_scope;
mod resolve;
mod tcp;

use std::fs;
use std::io;

use ureq::http;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use io_scope::Fired;

/// The response head and a body still to be read from the socket.
pub type UpstreamResponse = http::Response<ureq::Body>;

/// The HTTP client of one gateway. Cloning shares the connection pools.
///
/// The idle connections are split over up to [`POOL_SHARDS`] ureq agents,
/// each calling thread using one of them. ureq's pool is one mutex per
/// agent, held while it purges and scans its idle list and probes the
/// chosen connection with a recv(2), on every checkout and every return:
/// with 64 threads on one agent (`aigw serve` at 64 connections), strace
/// showed four futex calls per request, all on that lock.
#[derive(Debug, Clone)]
pub struct Upstream {
    agents: std::sync::Arc<[ureq::Agent]>,
}

/// Most pools one gateway splits its idle connections into.
const POOL_SHARDS: usize = 64;

/// How many shards a per-host idle limit is split into: each keeps at
/// least one connection per host.
fn pool_shards(max_idle_per_host: usize) -> usize {
    max_idle_per_host.clamp(1, POOL_SHARDS)
}

/// The shard of the calling thread: threads take shards in turn, the first
/// time they send, and keep it.
fn thread_shard(shards: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static TICKET: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TICKET.try_with(|t| *t).unwrap_or(0) % shards
}

impl Upstream {
    pub fn new(config: &Config) -> Result<Upstream> {
        let root_certs = match &config.ca_file {
            None => RootCerts::PlatformVerifier,
            Some(path) => RootCerts::from(platform_roots_and(path)?),
        };
        let shards = pool_shards(config.max_idle_connections_per_host);
        let per_shard = config.max_idle_connections_per_host.div_ceil(shards);
        let agent_config = ureq::Agent::config_builder()
            // Every status is a response for the gateway to judge, not an error.
            .http_status_as_error(false)
            // The gateway forwards what the provider said, redirects included.
            .max_redirects(0)
            .user_agent(concat!("aigw/", env!("CARGO_PKG_VERSION")))
            // ureq keeps 3 idle connections per host by default: with more
            // threads than that sending to one provider, every extra thread
            // would reconnect each time.
            .max_idle_connections_per_host(per_shard)
            .max_idle_connections(per_shard.saturating_mul(8))
            // ureq zeroes a 128 KiB output buffer per connection: 32 KiB (still
            // request heads of 32 KiB) keeps 1,000 streams through `aigw serve`
            // under 256 MiB.
            .output_buffer_size(OUTPUT_BUFFER)
            // Its 128 KiB input buffer is zeroed too, per connection: 72 KiB
            // keeps each stream through `aigw serve` 56 KiB lighter. It must
            // stay above ureq's 64 KiB response-head limit, or a head over
            // that limit fills the buffer and reads as a disconnect instead
            // of a head too large.
            .input_buffer_size(72 * 1024)
            .tls_config(TlsConfig::builder().root_certs(root_certs).build())
            .build();
        // ureq's default chain with our TCP link in place of its own. The
        // proxy link reads the standard *_proxy environment variables via the
        // config's default proxy.
        let resolver = resolve::CachedResolver::default();
        let agents = (0..shards)
            .map(|_| {
                let connector =
                    ().chain(ConnectProxyConnector::default())
                        .chain(tcp::CancellableTcpConnector)
                        .chain(RustlsConnector::default());
                ureq::Agent::with_parts(agent_config.clone(), connector, resolver.clone())
            })
            .collect();
        Ok(Upstream { agents })
    }

    /// The proxy (`host:port`) a request to `url` goes through, if any, for
    /// messages: a refused connection to a proxy must not read as the
    /// upstream's fault. Never includes the proxy's credentials.
    pub fn proxy_for(&self, url: &str) -> Option<String> {
        let proxy = self.agents[0].config().proxy()?;
        let uri: http::Uri = url.parse().ok()?;
        if proxy.is_no_proxy(&uri) {
            return None;
        }
        Some(format!("{}:{}", proxy.host(), proxy.port()))
    }

    /// Sends one request and returns once the response head has arrived.
    /// Deadlines and cancellation come from the thread's `IoScope`.
    pub fn start(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<UpstreamResponse, ureq::Error> {
        check_line_lengths(method, url, headers)?;
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let agent = &self.agents[thread_shard(self.agents.len())];
        if body.is_empty() {
            agent.run(builder.body(())?)
        } else {
            agent.run(builder.body(body)?)
        }
    }
}

/// ureq's output buffer per connection; each line of a request head must
/// fit in it.
const OUTPUT_BUFFER: usize = 32 * 1024;

/// A request-head line longer than [`OUTPUT_BUFFER`]: ureq would fail it
/// as "output too small" after connecting, which reads like the upstream's
/// fault; it is the request's.
#[derive(Debug)]
struct LineTooLong {
    what: String,
    len: usize,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request's {} is {} bytes; a request head line to the upstream may be at most {} bytes",
            self.what, self.len, OUTPUT_BUFFER
        )
    }
}

impl std::error::Error for LineTooLong {}

/// Checks each line ureq will write (the request line, each header) before
/// anything is sent. Only names go into the error, never values.
fn check_line_lengths(
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> Result<(), ureq::Error> {
    // "METHOD path-and-query HTTP/1.1\r\n"; the URL is longer than its
    // path, which keeps the estimate on the safe side.
    let request_line = method.len() + url.len() + 12;
    if request_line > OUTPUT_BUFFER {
        return Err(ureq::Error::Other(Box::new(LineTooLong {
            what: "URL".into(),
            len: url.len(),
        })));
    }
    for (name, value) in headers {
        let line = name.len() + value.len() + 4;
        if line > OUTPUT_BUFFER {
            return Err(ureq::Error::Other(Box::new(LineTooLong {
                what: format!("header {name:?}"),
                len: line,
            })));
        }
    }
    Ok(())
}

/// Where a URL connects to, as the transport itself reads it: scheme, host
/// (never the userinfo) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Lowercased; IPv6 literals keep their brackets.
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// Whether the URL wrote the port out.
    pub explicit_port: bool,
}

impl Origin {
    /// `host` or `host:port` as the URL wrote it, for messages.
    pub fn display(&self) -> String {
        if self.explicit_port {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.clone()
        }
    }
}

/// The port an http(s) URL without one connects to; `None` for any other
/// (lowercase) scheme.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Parses `url` with the same parser the transport uses to connect, so the
/// answer is where a request would really go. `None` for anything that is
/// not an absolute http(s) URL with a host.
pub fn origin_of(url: &str) -> Option<Origin> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = default_port(&scheme)?;
    let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
    let explicit = uri.port_u16();
    // An authority such as `host:` (empty port) or a non-numeric port.
    let authority = uri.authority()?.as_str();
    let after_host = authority.rsplit('@').next().unwrap_or("");
    if explicit.is_none() && after_host.len() != host.len() {
        return None;
    }
    Some(Origin {
        scheme,
        host,
        port: explicit.unwrap_or(default_port),
        explicit_port: explicit.is_some(),
    })
}

/// The platform's trusted roots plus every certificate in the PEM file.
fn platform_roots_and(path: &str) -> Result<Vec<Certificate<'static>>> {
    let pem =
        fs::read(path).map_err(|e| Error::invalid_config(format!("ca_file {path:?}: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(Error::invalid_config(format!("ca_file {path:?}: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid_config(format!(
            "ca_file {path:?} holds no PEM certificate"
        )));
    }
    // A platform without a readable store still trusts the given CA.
    let native = rustls_native_certs::load_native_certs();
    certs.extend(
        native
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
    );
    Ok(certs)
}

/// Turns a transport failure into the kind and a short reason. The reason
/// never quotes a URL (whose query may carry a key) or a header value.
pub fn classify(error: &ureq::Error, fired: Option<Fired>) -> (ErrorKind, String) {
    match fired {
        Some(Fired::Cancelled) => return (ErrorKind::Cancelled, "cancelled".into()),
        Some(Fired::FirstByteDeadline) => {
            return (
                ErrorKind::Timeout,
                "timed out waiting for the response".into(),
            );
        }
        Some(Fired::Idle) => return (ErrorKind::StreamInterrupted, "the stream stalled".into()),
        None => {}
    }
    use ureq::Error as E;
    match error {
        // ureq reports handshake and certificate failures as I/O errors
        // wrapping the rustls error.
        E::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            (ErrorKind::Tls, format!("TLS error: {e}"))
        }
        // Body readers wrap ureq's own errors (bad chunk framing, ...) in
        // an I/O error: judge the error inside.
        E::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) => {
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            {
                Some(inner) => classify(inner, fired),
                None => (io_kind(e), describe_io(e)),
            }
        }
        E::Io(e) => (io_kind(e), describe_io(e)),
        E::Timeout(t) => (ErrorKind::Timeout, format!("timed out ({t})")),
        E::HostNotFound => (ErrorKind::Connect, "host not found".into()),
        E::ConnectionFailed => (ErrorKind::Connect, "connection failed".into()),
        E::ConnectProxyFailed(_) | E::InvalidProxyUrl => {
            (ErrorKind::Connect, "proxy connection failed".into())
        }
        E::Tls(m) => (ErrorKind::Tls, format!("TLS error: {m}")),
        E::Rustls(e) => (ErrorKind::Tls, format!("TLS error: {e}")),
        E::Pem(_) => (ErrorKind::Tls, "TLS error: bad PEM".into()),
        E::TlsRequired | E::RequireHttpsOnly(_) => (ErrorKind::Tls, "TLS required".into()),
        E::BodyExceedsLimit(n) => (
            ErrorKind::BodyTooLarge,
            format!("body exceeds the limit of {n} bytes"),
        ),
        E::LargeResponseHeader(n, limit) => (
            ErrorKind::Protocol,
            format!("response head of {n} bytes exceeds {limit}"),
        ),
        E::Protocol(e) => (
            ErrorKind::Protocol,
            format!("malformed HTTP from upstream: {e}"),
        ),
        E::BadUri(_) => (
            ErrorKind::InvalidRequest,
            "the upstream URL is not valid".into(),
        ),
        E::Http(_) => (
            ErrorKind::InvalidRequest,
            "the request could not be built".into(),
        ),
        E::BodyStalled => (ErrorKind::StreamInterrupted, "the body stalled".into()),
        E::Other(e) if e.is::<LineTooLong>() => (ErrorKind::InvalidRequest, e.to_string()),
        _ => (ErrorKind::Protocol, "upstream transport error".into()),
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::InvalidData => ErrorKind::Protocol,
        // std's `read_to_end` reserves fallibly and reports this.
        io::ErrorKind::OutOfMemory => ErrorKind::BodyTooLarge,
        _ => ErrorKind::Connect,
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::UnexpectedEof => "connection closed before the response was complete".into(),
        io::ErrorKind::BrokenPipe => "connection closed while sending".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::OutOfMemory => "out of memory holding the body".into(),
        // OS and resolver texts ("Network is unreachable", "failed to
        // lookup address information: ...") carry no request data.
        _ => match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code).to_string(),
            None if e.get_ref().is_none() => format!("I/O error ({:?})", e.kind()),
            None => e.to_string(),
        },
    }
}
