//! The server's own answers: a failure with no upstream response becomes an
//! HTTP status and a JSON body, in the gateway's format or, on `compat/`
//! paths, in the caller's.

use serde_json::json;

use crate::error::{Error, ErrorKind};
use crate::ffi::aigw_status;

/// An answer the server makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Which error body a path's caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `{"success":false,"error":[{"code":N,"message":"..."}]}`
    Gateway,
    /// `{"error":{"message","type","code"}}`
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`
    Anthropic,
}

impl ErrorFormat {
    /// For a gateway path (query included or not).
    pub fn for_path(path: &str) -> ErrorFormat {
        let path = path.split('?').next().unwrap_or("");
        let path = path.trim_start_matches('/').trim_end_matches('/');
        match path.strip_prefix("compat/") {
            Some("messages" | "v1/messages") => ErrorFormat::Anthropic,
            Some(_) => ErrorFormat::OpenAi,
            None => ErrorFormat::Gateway,
        }
    }
}

/// The HTTP status for a failure that produced no upstream response.
pub fn status_for(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::RateLimited => 429,
        ErrorKind::InvalidRequest | ErrorKind::InvalidArgument | ErrorKind::UnknownProvider => 400,
        ErrorKind::BodyTooLarge => 413,
        ErrorKind::Connect => 502,
        ErrorKind::Timeout => 504,
        _ => 500,
    }
}

/// Seconds to put in `Retry-After` for the gateway's own 429: the limiter's
/// wait, which its message states as "the next request is allowed in N ms",
/// rounded up to whole seconds.
pub fn retry_after_secs(message: &str) -> u64 {
    let ms = message
        .rsplit_once("allowed in ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(1000);
    ms.div_ceil(1000).max(1)
}

/// The answer for a gateway failure.
pub fn for_error(error: &Error, format: ErrorFormat) -> Reply {
    let status = status_for(error.kind);
    let mut reply = build(
        status,
        aigw_status::from_kind(error.kind) as i32,
        code_name(error.kind),
        &error.message,
        format,
    );
    if error.kind == ErrorKind::RateLimited {
        reply
            .headers
            .push(("retry-after", retry_after_secs(&error.message).to_string()));
    }
    reply
}

/// 401 for a missing or wrong `cf-aig-authorization`.
pub fn unauthorized(format: ErrorFormat) -> Reply {
    // 2009 is the hosted gateway's code for a failed gateway authentication.
    build(
        401,
        2009,
        "unauthorized",
        "Unauthorized: this gateway requires cf-aig-authorization: Bearer <token>",
        format,
    )
}

/// A failure of the HTTP exchange itself (a body too large or too slow).
pub fn http_failure(status: u16, kind: ErrorKind, message: &str, format: ErrorFormat) -> Reply {
    build(
        status,
        aigw_status::from_kind(kind) as i32,
        code_name(kind),
        message,
        format,
    )
}

fn build(status: u16, code: i32, name: &str, message: &str, format: ErrorFormat) -> Reply {
    let body = match format {
        ErrorFormat::Gateway => json!({
            "success": false,
            "error": [{"code": code, "message": message}],
        }),
        ErrorFormat::OpenAi => json!({
            "error": {"message": message, "type": openai_type(status), "code": name},
        }),
        ErrorFormat::Anthropic => json!({
            "type": "error",
            "error": {"type": anthropic_type(status), "message": message},
        }),
    };
    Reply {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn code_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::InvalidConfig => "invalid_config",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::UnknownProvider => "unknown_provider",
        ErrorKind::Connect => "connect_failed",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Tls => "tls_failed",
        ErrorKind::Protocol => "upstream_protocol_error",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::BodyTooLarge => "body_too_large",
        ErrorKind::Aborted => "aborted",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::StreamInterrupted => "stream_interrupted",
    }
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn formats_by_path() {
        assert_eq!(
            ErrorFormat::for_path("openai/chat/completions"),
            ErrorFormat::Gateway
        );
        assert_eq!(ErrorFormat::for_path(""), ErrorFormat::Gateway);
        assert_eq!(
            ErrorFormat::for_path("compat/chat/completions"),
            ErrorFormat::OpenAi
        );
        assert_eq!(
            ErrorFormat::for_path("compat/embeddings?x=1"),
            ErrorFormat::OpenAi
        );
        assert_eq!(
            ErrorFormat::for_path("compat/messages"),
            ErrorFormat::Anthropic
        );
        assert_eq!(
            ErrorFormat::for_path("compat/v1/messages?beta=true"),
            ErrorFormat::Anthropic
        );
    }

    #[test]
    fn statuses_and_bodies() {
        let e = Error::new(ErrorKind::UnknownProvider, "unknown provider \"nope\"");
        let r = for_error(&e, ErrorFormat::Gateway);
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r),
            json!({"success":false,"error":[{"code":5,"message":"unknown provider \"nope\""}]})
        );
        let r = for_error(&e, ErrorFormat::Anthropic);
        assert_eq!(body(&r)["type"], "error");
        assert_eq!(body(&r)["error"]["type"], "invalid_request_error");
        let r = for_error(&e, ErrorFormat::OpenAi);
        assert_eq!(body(&r)["error"]["code"], "unknown_provider");
        for (kind, status) in [
            (ErrorKind::InvalidRequest, 400),
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::BodyTooLarge, 413),
            (ErrorKind::Connect, 502),
            (ErrorKind::Timeout, 504),
            (ErrorKind::Tls, 500),
            (ErrorKind::Protocol, 500),
        ] {
            assert_eq!(
                for_error(&Error::new(kind, "x"), ErrorFormat::Gateway).status,
                status
            );
        }
    }

    #[test]
    fn rate_limit_says_when_to_retry() {
        let e = Error::new(
            ErrorKind::RateLimited,
            "rate limited: at most 1 requests per 60 s (fixed window); the next request is allowed in 1500 ms",
        );
        let r = for_error(&e, ErrorFormat::Gateway);
        assert_eq!(r.status, 429);
        assert!(r.headers.contains(&("retry-after", "2".into())));
        assert_eq!(retry_after_secs("allowed in 1 ms"), 1);
        assert_eq!(retry_after_secs("allowed in 60000 ms"), 60);
    }
}
