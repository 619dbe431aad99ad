//! Provider credentials: which header carries a provider's key and how, the
//! headers a provider requires alongside it, and the gateway's stored keys
//! (BYOK). The one place that knows these, used by provider endpoints,
//! Universal steps and the unified API alike.

use std::fmt;

/// A stored key. Its `Debug` never shows the value, so a `Config` or
/// `Gateway` can be printed safely.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a provider takes its key: a header name and the prefix before the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialHeader {
    pub name: &'static str,
    pub prefix: &'static str,
}

/// The header that carries `provider`'s credential.
pub fn credential_header(provider: &str) -> CredentialHeader {
    crate::providers::adapter::adapter(provider).credential
}

/// Headers `provider` requires on every request besides the key, with the
/// value sent when the caller gave none.
pub fn required_headers(provider: &str) -> &'static [(&'static str, &'static str)] {
    crate::providers::adapter::adapter(provider).required_headers
}

/// Whether a request already carries a credential for `provider`: its own
/// header, an `Authorization` header, or (Google) a `key=` query parameter.
pub fn has_credential(provider: &str, headers: &[(String, String)], url: &str) -> bool {
    let own = credential_header(provider).name;
    let in_headers = headers.iter().any(|(n, v)| {
        !v.trim().is_empty()
            && (n.eq_ignore_ascii_case(own) || n.eq_ignore_ascii_case("authorization"))
    });
    in_headers || query_has_key(url)
}

fn query_has_key(url: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("key=") && p.len() > 4))
}

/// Puts `key` into `headers` the way `provider` takes it, replacing any
/// header of that name.
pub fn deliver(provider: &str, key: &str, headers: &mut Vec<(String, String)>) {
    let h = credential_header(provider);
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(h.name));
    // Two pushes, not `format!`: this runs on every unified request.
    let mut value = String::with_capacity(h.prefix.len() + key.len());
    value.push_str(h.prefix);
    value.push_str(key);
    headers.push((h.name.to_string(), value));
}

/// [`deliver`] for a key the caller owns already: it becomes the header's
/// value itself where the provider's header has no prefix (no copy).
pub fn deliver_owned(provider: &str, key: String, headers: &mut Vec<(String, String)>) {
    let h = credential_header(provider);
    if !h.prefix.is_empty() {
        return deliver(provider, &key, headers);
    }
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(h.name));
    headers.push((h.name.to_string(), key));
}

/// Adds the headers `provider` requires that the caller did not set.
pub fn add_required(provider: &str, headers: &mut Vec<(String, String)>) {
    for (name, value) in required_headers(provider) {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.to_string(), value.to_string()));
        }
    }
}

/// The stored key for `provider`, if the request carries none of its own.
pub fn apply_stored(
    stored: Option<&Secret>,
    provider: &str,
    url: &str,
    headers: &mut Vec<(String, String)>,
) {
    if let Some(key) = stored {
        if !has_credential(provider, headers, url) {
            deliver(provider, key.expose(), headers);
        }
    }
}

/// Takes the caller's credential out of `headers`: an `Authorization: Bearer`
/// value, or the value of any provider's key header. The unified API
/// delivers it again in the target provider's own header.
pub fn take_caller_credential(headers: &mut Vec<(String, String)>) -> Option<String> {
    let mut found = None;
    headers.retain(|(n, v)| {
        if !crate::http::headers::is_provider_credential(n) {
            return true;
        }
        let authorization = n.eq_ignore_ascii_case("authorization");
        let value = v.trim();
        let value = if authorization {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .unwrap_or(value)
                .trim()
        } else {
            value
        };
        // The provider key header wins over Authorization when both are set.
        if !value.is_empty() && (found.is_none() || !authorization) {
            found = Some(value.to_string());
        }
        false
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::headers::owned as h;

    #[test]
    fn each_provider_gets_its_own_header() {
        for (provider, name, value) in [
            ("anthropic", "x-api-key", "k"),
            ("google-ai-studio", "x-goog-api-key", "k"),
            ("azure-openai", "api-key", "k"),
            ("openai", "Authorization", "Bearer k"),
            ("custom-x", "Authorization", "Bearer k"),
        ] {
            let mut headers = Vec::new();
            deliver(provider, "k", &mut headers);
            assert_eq!(headers, h(&[(name, value)]), "{provider}");
            // An owned key ends the same, an older header of the name gone.
            let mut headers = h(&[(name, "old")]);
            deliver_owned(provider, "k".into(), &mut headers);
            assert_eq!(headers, h(&[(name, value)]), "{provider}");
        }
    }

    #[test]
    fn stored_key_only_without_a_request_credential() {
        let key = Secret::new("stored".into());
        let mut headers = h(&[("x-api-key", "mine")]);
        apply_stored(
            Some(&key),
            "anthropic",
            "http://h/v1/messages",
            &mut headers,
        );
        assert_eq!(headers, h(&[("x-api-key", "mine")]));
        let mut headers = Vec::new();
        apply_stored(
            Some(&key),
            "google-ai-studio",
            "http://h/x?key=abc",
            &mut headers,
        );
        assert!(headers.is_empty());
        apply_stored(Some(&key), "google-ai-studio", "http://h/x", &mut headers);
        assert_eq!(headers, h(&[("x-goog-api-key", "stored")]));
        assert!(!format!("{key:?}").contains("stored"));
    }

    #[test]
    fn caller_credential_is_taken_out() {
        let mut headers = h(&[("Authorization", "Bearer sk-1"), ("x-other", "1")]);
        assert_eq!(
            take_caller_credential(&mut headers).as_deref(),
            Some("sk-1")
        );
        assert_eq!(headers, h(&[("x-other", "1")]));
        let mut headers = h(&[("Authorization", "Bearer a"), ("x-api-key", "b")]);
        assert_eq!(take_caller_credential(&mut headers).as_deref(), Some("b"));
        assert_eq!(take_caller_credential(&mut Vec::new()), None);
    }
}
