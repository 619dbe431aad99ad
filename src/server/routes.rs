//! From an HTTP request to a gateway request: the URL scheme, which headers
//! cross the hop, and the gateway's own token check.

use crate::error::{Error, Result};

/// The header carrying the server's `auth_token`; consumed, never forwarded.
pub use crate::http::headers::GATEWAY_AUTH_HEADER as AUTH_HEADER;

/// The gateway path (what `aigw_request_new` takes) for a URL path and
/// query: `/v1/{account}/{gateway}/{path}` as in the hosted gateway, or the
/// short `/{path}`. `/v1/{account}/{gateway}` and `/` are the Universal
/// Endpoint. The query string is kept.
pub fn gateway_path(url_path: &str, query: Option<&str>) -> Result<String> {
    let trimmed = url_path.strip_prefix('/').unwrap_or(url_path);
    let path = match trimmed.strip_prefix("v1/") {
        Some(hosted) => {
            let mut parts = hosted.splitn(3, '/');
            let account = parts.next().unwrap_or("");
            let gateway = parts.next().unwrap_or("");
            if account.is_empty() || gateway.is_empty() {
                return Err(Error::invalid_request(
                    "the hosted URL form is /v1/{account_id}/{gateway}/{provider}/...",
                ));
            }
            parts.next().unwrap_or("")
        }
        None if trimmed == "v1" => {
            return Err(Error::invalid_request(
                "the hosted URL form is /v1/{account_id}/{gateway}/{provider}/...",
            ));
        }
        None => trimmed,
    };
    Ok(match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1) and the ones the transport
/// owns: not forwarded in either direction. Names listed in `Connection`
/// are dropped too (see [`connection_listed`]).
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || name.len() >= 6 && name[..6].eq_ignore_ascii_case("proxy-")
}

/// The header names a `Connection` header lists, lower-cased.
pub fn connection_listed<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether a request header goes upstream: not hop-by-hop, not `Host` (the
/// upstream gets its own), not the gateway token.
pub fn forward_request_header(name: &str, listed: &[String]) -> bool {
    !is_hop_by_hop(name)
        && !name.eq_ignore_ascii_case("host")
        && !name.eq_ignore_ascii_case(AUTH_HEADER)
        && !listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// Whether a response header goes back to the client.
pub fn forward_response_header(name: &str, listed: &[String]) -> bool {
    !is_hop_by_hop(name) && !listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// Checks `cf-aig-authorization: Bearer <token>` in constant time. Both
/// sides are hashed first, so neither the content nor the length of the
/// token shows in the timing.
pub fn authorized(presented: Option<&[u8]>, token: &str) -> bool {
    let Some(value) = presented else {
        return false;
    };
    let given = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &value[7..],
        _ => return false,
    };
    let digest = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
    let (a, b) = (digest(given), digest(token.as_bytes()));
    let diff = a
        .as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let p = |path, q| gateway_path(path, q).unwrap();
        assert_eq!(
            p("/v1/acct/gw/openai/chat/completions", None),
            "openai/chat/completions"
        );
        assert_eq!(
            p("/openai/chat/completions", None),
            "openai/chat/completions"
        );
        assert_eq!(p("/v1/acct/gw", None), "");
        assert_eq!(p("/v1/acct/gw/", None), "");
        assert_eq!(p("/", None), "");
        assert_eq!(
            p(
                "/v1/a/g/google-ai-studio/v1beta/models/m:generateContent",
                Some("alt=sse")
            ),
            "google-ai-studio/v1beta/models/m:generateContent?alt=sse"
        );
        assert_eq!(
            p("/compat/chat/completions", Some("x=1")),
            "compat/chat/completions?x=1"
        );
        assert!(gateway_path("/v1/acct", None).is_err());
        assert!(gateway_path("/v1", None).is_err());
        assert!(gateway_path("/v1/", None).is_err());
    }

    #[test]
    fn hop_by_hop_headers_stay() {
        let listed = connection_listed(["close, X-Secret-Hop"].into_iter());
        for h in [
            "Connection",
            "Keep-Alive",
            "Transfer-Encoding",
            "TE",
            "Upgrade",
        ] {
            assert!(!forward_request_header(h, &listed), "{h}");
            assert!(!forward_response_header(h, &listed), "{h}");
        }
        assert!(!forward_request_header("Proxy-Authorization", &listed));
        assert!(!forward_request_header("x-secret-hop", &listed));
        assert!(!forward_request_header("Host", &listed));
        assert!(!forward_request_header("cf-aig-authorization", &listed));
        assert!(forward_request_header("Authorization", &listed));
        assert!(forward_request_header("cf-aig-cache-ttl", &listed));
        assert!(forward_response_header("cf-aig-step", &listed));
    }

    #[test]
    fn token_check() {
        assert!(authorized(Some(b"Bearer abc"), "abc"));
        assert!(authorized(Some(b"bearer abc"), "abc"));
        assert!(!authorized(Some(b"Bearer abd"), "abc"));
        assert!(!authorized(Some(b"Bearer abcd"), "abc"));
        assert!(!authorized(Some(b"abc"), "abc"));
        assert!(!authorized(Some(b"Basic abc"), "abc"));
        assert!(!authorized(None, "abc"));
    }
}
