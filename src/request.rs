//! A request as the caller builds it, and the checks on its parts.

use crate::cancel::CancelToken;
use crate::config::{
    Backoff, Controls, check_backoff, check_max_attempts, check_retry_delay, check_timeout,
};
use crate::error::{Error, Result};

/// One request to the gateway: method, gateway path, headers, body and an
/// optional cancel token. Sending it does not consume it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub cancel: Option<CancelToken>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Result<Request> {
        if !is_token(method) {
            return Err(Error::invalid_argument(format!(
                "method {method:?} is not an HTTP token"
            )));
        }
        Ok(Request {
            method: method.to_string(),
            path: path.to_string(),
            ..Request::default()
        })
    }

    /// Adds a header. Repeating a name adds another value, as HTTP allows.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }
}

/// RFC 9110 `token`: what a method or header name may be made of.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Header names are tokens; values carry no CR, LF, NUL or other control
/// characters except tab (which would let a value smuggle a second header).
pub fn check_header(name: &str, value: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::invalid_argument(format!(
            "header name {name:?} is not an HTTP token"
        )));
    }
    if value.chars().any(|c| c.is_ascii_control() && c != '\t') {
        // The value is not echoed: it may be a credential.
        return Err(Error::invalid_argument(format!(
            "value of header {name:?} contains a control character"
        )));
    }
    Ok(())
}

/// Prefix of the gateway's own control headers; never forwarded upstream.
pub const CONTROL_PREFIX: &str = "cf-aig-";

/// Headers the transport owns; a caller's copy would conflict with the real
/// framing or target, so they are not forwarded.
const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// Splits headers into the retry/timeout controls they set and the headers to
/// forward. Control headers are matched case-insensitively and consumed;
/// a malformed control value is an error naming the header.
pub fn split_controls(headers: &[(String, String)]) -> Result<(Controls, Vec<(String, String)>)> {
    let mut controls = Controls::default();
    let mut forward = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if let Some(control) = lower.strip_prefix(CONTROL_PREFIX) {
            apply_control(&mut controls, control, value.trim())
                .map_err(|m| Error::invalid_request(format!("header {name}: {m}")))?;
        } else if !TRANSPORT_HEADERS.contains(&lower.as_str()) {
            forward.push((name.clone(), value.clone()));
        }
    }
    Ok((controls, forward))
}

fn apply_control(controls: &mut Controls, control: &str, value: &str) -> Result<(), String> {
    match control {
        "request-timeout" => {
            controls.request_timeout_ms = Some(check_timeout("value", parse_ms(value)?)?);
        }
        "max-attempts" => {
            controls.max_attempts = Some(check_max_attempts("value", parse_ms(value)?)?);
        }
        "retry-delay" => {
            controls.retry_delay_ms = Some(check_retry_delay("value", parse_ms(value)?)?);
        }
        // aigw's own addition: the idle limit between body reads.
        "stream-idle-timeout" => {
            controls.stream_idle_timeout_ms = Some(check_timeout("value", parse_ms(value)?)?);
        }
        "backoff" => {
            let backoff: Backoff = check_backoff("value", value)?;
            controls.backoff = Some(backoff);
        }
        // The other cf-aig-* controls (cache, logs, metadata, cost) belong to
        // features this build does not have; they are consumed, not forwarded.
        _ => {}
    }
    Ok(())
}

/// A non-negative decimal integer, as every numeric control is written.
fn parse_ms(value: &str) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a non-negative integer, got {value:?}"));
    }
    value
        .parse::<u64>()
        .map_err(|_| format!("number too large: {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn controls_are_consumed_and_others_forwarded() {
        let (c, fwd) = split_controls(&headers(&[
            ("Authorization", "Bearer x"),
            ("CF-AIG-Max-Attempts", "3"),
            ("cf-aig-retry-delay", "250"),
            ("cf-aig-backoff", "linear"),
            ("cf-aig-request-timeout", "1500"),
            ("cf-aig-cache-ttl", "60"),
            ("Host", "evil"),
            ("Content-Length", "99"),
            ("x-other", "1"),
        ]))
        .unwrap();
        assert_eq!(c.max_attempts, Some(3));
        assert_eq!(c.retry_delay_ms, Some(250));
        assert_eq!(c.backoff, Some(Backoff::Linear));
        assert_eq!(c.request_timeout_ms, Some(1500));
        assert_eq!(
            fwd,
            headers(&[("Authorization", "Bearer x"), ("x-other", "1")])
        );
    }

    #[test]
    fn malformed_controls_are_refused() {
        for (n, v) in [
            ("cf-aig-max-attempts", "0"),
            ("cf-aig-max-attempts", "6"),
            ("cf-aig-max-attempts", "abc"),
            ("cf-aig-max-attempts", "-1"),
            ("cf-aig-retry-delay", "5001"),
            ("cf-aig-backoff", "sideways"),
            ("cf-aig-request-timeout", "-1"),
            ("cf-aig-request-timeout", "1.5"),
            ("cf-aig-request-timeout", "99999999999999999999999"),
        ] {
            let e = split_controls(&headers(&[(n, v)])).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{n}: {v}");
            assert!(e.message.contains(n), "{}", e.message);
        }
    }

    #[test]
    fn header_checks() {
        assert!(check_header("x-ok", "a\tb").is_ok());
        for (n, v) in [
            ("", "v"),
            ("a b", "v"),
            ("a:b", "v"),
            ("x", "a\r\nb"),
            ("x", "a\0"),
        ] {
            assert_eq!(
                check_header(n, v).unwrap_err().kind,
                ErrorKind::InvalidArgument,
                "{n:?}"
            );
        }
        let e = check_header("Authorization", "Bearer sk-SECRET\n").unwrap_err();
        assert!(!e.message.contains("SECRET"));
        assert!(Request::new("POST", "openai/x").is_ok());
        assert!(Request::new("PO ST", "openai/x").is_err());
        assert!(Request::new("", "openai/x").is_err());
    }
}
