//! Header names in one place: the gateway's own `cf-aig-*` headers, the
//! headers that carry secrets, the ones the transport owns, and the
//! case-insensitive helpers every layer matches them with (no lowercased
//! copies: names are compared with `eq_ignore_ascii_case`).

use crate::error::{Error, Result};

/// Prefix of the gateway's own control headers; never forwarded upstream.
pub const CONTROL_PREFIX: &str = "cf-aig-";
/// Response header naming the Universal step that served a response.
pub const STEP_HEADER: &str = "cf-aig-step";
/// Response header carrying the log record's id.
pub const LOG_ID_HEADER: &str = "cf-aig-log-id";
/// Response header echoing the caller's `cf-aig-event-id`.
pub const EVENT_ID_HEADER: &str = "cf-aig-event-id";
/// Response header saying whether the cache served the response.
pub const CACHE_STATUS_HEADER: &str = "cf-aig-cache-status";
/// Response headers naming the route, provider and model that served.
pub const ROUTE_HEADER: &str = "cf-aig-route";
pub const PROVIDER_HEADER: &str = "cf-aig-provider";
pub const MODEL_HEADER: &str = "cf-aig-model";
/// The loopback server's own bearer token (never forwarded).
pub const GATEWAY_AUTH_HEADER: &str = "cf-aig-authorization";

/// Headers whose values are secrets: every header a provider takes a
/// credential in (the first [`PROVIDER_CREDENTIAL_COUNT`]), then the proxy's.
/// Redaction, the cache key and logs use all of them.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "proxy-authorization",
];
const PROVIDER_CREDENTIAL_COUNT: usize = 4;
/// Every header name any provider takes a credential in.
pub const PROVIDER_CREDENTIAL_HEADERS: &[&str] =
    SECRET_HEADERS.split_at(PROVIDER_CREDENTIAL_COUNT).0;

/// Headers the transport owns; a caller's copy would conflict with the real
/// framing or target, so they are not forwarded.
pub const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    // The body is always sent at once: an upstream that never answers
    // `100 Continue` would otherwise stall every send.
    "expect",
];

/// Whether `name` is one of `list` (lowercase), ignoring ASCII case.
pub fn is_one_of(name: &str, list: &[&str]) -> bool {
    list.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// Whether the value of header `name` is a secret.
pub fn is_secret(name: &str) -> bool {
    is_one_of(name, SECRET_HEADERS)
}

/// Whether header `name` carries a provider credential.
pub fn is_provider_credential(name: &str) -> bool {
    is_one_of(name, PROVIDER_CREDENTIAL_HEADERS)
}

/// What follows `cf-aig-` in a control header's name, in any case; `None`
/// for every other header.
pub fn control_suffix(name: &str) -> Option<&str> {
    let head = name.get(..CONTROL_PREFIX.len())?;
    head.eq_ignore_ascii_case(CONTROL_PREFIX)
        .then(|| &name[CONTROL_PREFIX.len()..])
}

/// Whether `headers` has one named `name`, ignoring ASCII case.
pub fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
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

/// Owned header pairs from literals: the unit tests' way of writing headers.
#[cfg(test)]
pub(crate) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_matching_ignore_case() {
        assert_eq!(
            PROVIDER_CREDENTIAL_HEADERS,
            &["authorization", "x-api-key", "x-goog-api-key", "api-key"]
        );
        assert!(is_secret("Proxy-Authorization"));
        assert!(!is_provider_credential("proxy-authorization"));
        assert!(is_provider_credential("X-Goog-Api-Key"));
        assert_eq!(control_suffix("CF-AIG-Cache-TTL"), Some("Cache-TTL"));
        assert_eq!(control_suffix("cf-ai"), None);
        assert_eq!(control_suffix("x-cf-aig-step"), None);
        let h = vec![("Content-Type".to_string(), "a".to_string())];
        assert!(has_header(&h, "content-type"));
    }
}
