//! The server's options: the JSON given to `aigw_server_start`, or the
//! `"server"` object of the config file `aigw serve` reads.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{DEFAULT_BODY_LIMIT, check_timeout};
use crate::error::{Error, Result};

/// Where the server listens unless told otherwise (a free port on loopback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Largest `max_connections`: each open request holds a thread.
pub const MAX_CONNECTIONS_LIMIT: usize = 100_000;
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// hyper cannot parse a head with a read buffer smaller than this.
pub const MIN_HEAD_BYTES: usize = 8192;
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 5_000;

/// Validated server options.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// Required as `cf-aig-authorization: Bearer <token>` on every request.
    pub auth_token: Option<String>,
    /// Request bodies over this are answered 413.
    pub max_body_bytes: u64,
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Longest request head (request line and headers); longer gets 431.
    pub max_head_bytes: usize,
    /// A request head must be complete within this long of its first byte
    /// (or of the connection opening).
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after
    /// this long without a new request starting.
    pub idle_timeout: Duration,
    /// A request body must arrive whole within this long of its head (408).
    pub body_timeout: Duration,
    /// On stop, in-flight requests get this long to finish before they are
    /// cancelled.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            auth_token: None,
            max_body_bytes: DEFAULT_BODY_LIMIT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            header_timeout: Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
            body_timeout: Duration::from_millis(DEFAULT_BODY_TIMEOUT_MS),
            shutdown_grace: Duration::from_millis(DEFAULT_SHUTDOWN_GRACE_MS),
        }
    }
}

// The token is a credential: Debug never shows it.
impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("listen", &self.listen)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_head_bytes", &self.max_head_bytes)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    listen: Option<String>,
    auth_token: Option<String>,
    max_body_bytes: Option<u64>,
    max_connections: Option<u64>,
    max_head_bytes: Option<u64>,
    header_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
}

impl ServerOptions {
    /// Parses options JSON; `None`, empty text and `{}` give the defaults.
    /// Unknown keys and bad values are `InvalidConfig`, naming the key.
    pub fn parse(json: Option<&str>) -> Result<ServerOptions> {
        let text = json.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return ServerOptions::default().checked();
        }
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid_config(format!("server options: {e}")))?;
        ServerOptions::from_value(&value)
    }

    /// Options from an already parsed JSON value (the config file's
    /// `"server"` object).
    pub fn from_value(value: &serde_json::Value) -> Result<ServerOptions> {
        let invalid = |m: String| Error::invalid_config(format!("server options: {m}"));
        // Serde's message for a wrong type quotes the offending value, which
        // could be the token: say only where the problem is.
        let raw = RawOptions::deserialize(value).map_err(|e| {
            let text = e.to_string();
            if text.starts_with("unknown field") {
                invalid(text)
            } else {
                invalid(format!(
                    "expected an object of listen, auth_token, max_body_bytes, max_connections, \
                     max_head_bytes, header_timeout_ms, idle_timeout_ms, body_timeout_ms, \
                     shutdown_grace_ms with the right types ({})",
                    type_hint(&text)
                ))
            }
        })?;
        let mut o = ServerOptions::default();
        if let Some(listen) = raw.listen {
            o.listen = parse_listen(&listen).map_err(invalid)?;
        }
        if let Some(token) = raw.auth_token {
            o.auth_token = Some(token);
        }
        if let Some(n) = raw.max_body_bytes {
            if n == 0 {
                return Err(invalid("max_body_bytes must be at least 1".into()));
            }
            o.max_body_bytes = n;
        }
        if let Some(n) = raw.max_connections {
            if n == 0 || n > MAX_CONNECTIONS_LIMIT as u64 {
                return Err(invalid(format!(
                    "max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT}, got {n}"
                )));
            }
            o.max_connections = n as usize;
        }
        if let Some(n) = raw.max_head_bytes {
            if n < MIN_HEAD_BYTES as u64 || n > 16 * 1024 * 1024 {
                return Err(invalid(format!(
                    "max_head_bytes must be between {MIN_HEAD_BYTES} and 16777216, got {n}"
                )));
            }
            o.max_head_bytes = n as usize;
        }
        let ms = |what: &str, v: Option<u64>, default: Duration| -> Result<Duration> {
            match v {
                None => Ok(default),
                Some(0) => Err(invalid(format!("{what} must be at least 1"))),
                Some(n) => Ok(Duration::from_millis(
                    check_timeout(what, n).map_err(invalid)?,
                )),
            }
        };
        o.header_timeout = ms("header_timeout_ms", raw.header_timeout_ms, o.header_timeout)?;
        o.idle_timeout = ms("idle_timeout_ms", raw.idle_timeout_ms, o.idle_timeout)?;
        o.body_timeout = ms("body_timeout_ms", raw.body_timeout_ms, o.body_timeout)?;
        if let Some(n) = raw.shutdown_grace_ms {
            o.shutdown_grace =
                Duration::from_millis(check_timeout("shutdown_grace_ms", n).map_err(invalid)?);
        }
        o.checked()
    }

    /// The rules between options: a server reachable from other machines
    /// must ask for a token.
    pub fn checked(self) -> Result<ServerOptions> {
        if let Some(token) = &self.auth_token {
            if token.is_empty() || token.chars().any(|c| c.is_ascii_control()) {
                return Err(Error::invalid_config(
                    "server options: auth_token must be non-empty, without control characters",
                ));
            }
        }
        if !self.listen.ip().is_loopback() && self.auth_token.is_none() {
            return Err(Error::invalid_config(format!(
                "server options: listen address {} is not loopback; set auth_token to serve it",
                self.listen
            )));
        }
        Ok(self)
    }
}

/// `HOST:PORT` with an IP address host (`localhost` is taken as 127.0.0.1).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let resolved = match text.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_string(),
    };
    resolved.parse().map_err(|_| {
        format!("listen must be IP:PORT (e.g. 127.0.0.1:8787 or [::1]:8787), got {text:?}")
    })
}

/// The "invalid type: ..., expected ..." part of a serde message, without
/// the value it quotes.
fn type_hint(text: &str) -> String {
    match (text.find("expected"), text.find(" at line")) {
        (Some(start), Some(end)) if end > start => text[start..end].to_string(),
        (Some(start), None) => text[start..].to_string(),
        _ => "malformed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn err(json: &str) -> String {
        let e = ServerOptions::parse(Some(json)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{json}");
        e.message
    }

    #[test]
    fn defaults_and_values() {
        let d = ServerOptions::parse(None).unwrap();
        assert_eq!(d, ServerOptions::default());
        assert_eq!(ServerOptions::parse(Some("{}")).unwrap(), d);
        let o = ServerOptions::parse(Some(
            r#"{"listen":"127.0.0.1:9","max_body_bytes":10,"max_connections":3,
                "header_timeout_ms":5,"idle_timeout_ms":6,"body_timeout_ms":7,
                "shutdown_grace_ms":0,"max_head_bytes":9000}"#,
        ))
        .unwrap();
        assert_eq!(o.listen.port(), 9);
        assert_eq!(o.max_body_bytes, 10);
        assert_eq!(o.max_connections, 3);
        assert_eq!(o.header_timeout, Duration::from_millis(5));
        assert_eq!(o.idle_timeout, Duration::from_millis(6));
        assert_eq!(o.body_timeout, Duration::from_millis(7));
        assert_eq!(o.shutdown_grace, Duration::ZERO);
        assert_eq!(o.max_head_bytes, 9000);
        assert_eq!(
            ServerOptions::parse(Some(r#"{"listen":"localhost:5"}"#))
                .unwrap()
                .listen
                .to_string(),
            "127.0.0.1:5"
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(err(r#"{"listen":"127.0.0.1:1","lisen":1}"#).contains("lisen"));
        assert!(err(r#"{"listen":"nowhere"}"#).contains("listen"));
        assert!(err(r#"{"max_connections":0}"#).contains("max_connections"));
        assert!(err(r#"{"max_body_bytes":0}"#).contains("max_body_bytes"));
        assert!(err(r#"{"max_head_bytes":100}"#).contains("max_head_bytes"));
        assert!(err(r#"{"header_timeout_ms":0}"#).contains("header_timeout_ms"));
        assert!(err("[1]").contains("server options"));
        assert!(err("{").contains("server options"));
    }

    #[test]
    fn public_listen_needs_a_token_and_never_shows_it() {
        assert!(err(r#"{"listen":"0.0.0.0:8787"}"#).contains("auth_token"));
        let o = ServerOptions::parse(Some(
            r#"{"listen":"0.0.0.0:8787","auth_token":"s3cret-token"}"#,
        ))
        .unwrap();
        assert!(!format!("{o:?}").contains("s3cret-token"));
        // A wrong type does not quote the value either.
        let m = err(r#"{"auth_token":["s3cret-token"]}"#);
        assert!(!m.contains("s3cret-token"), "{m}");
        assert!(err(r#"{"auth_token":""}"#).contains("auth_token"));
    }
}
