//! The core's error type. It knows nothing of C: the `ffi` layer maps
//! [`ErrorKind`] onto `aigw_status` codes one to one.

use std::fmt;

/// What went wrong, at the granularity a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A value given by the caller is malformed (bad UTF-8, bad header name, out of range).
    InvalidArgument,
    /// The gateway configuration is malformed or inconsistent.
    InvalidConfig,
    /// The request cannot be routed: bad path, malformed Universal body, bad `cf-aig-*` value.
    InvalidRequest,
    /// The provider slug is neither built in nor configured.
    UnknownProvider,
    /// No upstream could be reached (DNS, refused, reset).
    Connect,
    /// Every attempt timed out.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The upstream spoke malformed HTTP.
    Protocol,
    /// The gateway's own rate limit refused the request.
    RateLimited,
    /// A request or response body is over the configured limit.
    BodyTooLarge,
    /// A caller's callback asked to stop.
    Aborted,
    /// The request's cancel handle was triggered.
    Cancelled,
    /// A stream broke after data had been delivered.
    StreamInterrupted,
}

/// An error with a message fit to show a user: it names what failed and never
/// contains a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidConfig, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequest, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
