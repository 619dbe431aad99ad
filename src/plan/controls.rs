//! The `cf-aig-*` controls a request (or a Universal step) sets: which
//! headers are controls, what they mean (retry and timeout controls, and the
//! cache, log and cost features), and the checks on their values.

use crate::config::{Backoff, Controls, check_max_attempts, check_retry_delay, check_timeout};
use crate::error::{Error, Result};
use crate::providers::usage::CustomCost;
use serde_json::{Map, Value};

pub use crate::http::headers::CONTROL_PREFIX;
pub(crate) use crate::http::headers::TRANSPORT_HEADERS;

/// The per-request feature controls: cache, logs, cost. Only the request's
/// own headers set these; in a Universal step's headers they are checked but
/// have no effect (a request is cached and logged as a whole).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureControls {
    /// `cf-aig-cache-ttl`, seconds; 0 turns caching off for the request.
    pub cache_ttl_s: Option<u64>,
    /// `cf-aig-skip-cache: true`.
    pub skip_cache: bool,
    /// `cf-aig-cache-key`.
    pub cache_key: Option<String>,
    /// `cf-aig-metadata`.
    pub metadata: Option<Map<String, Value>>,
    /// `cf-aig-event-id`.
    pub event_id: Option<String>,
    /// `cf-aig-collect-log`.
    pub collect_log: Option<bool>,
    /// `cf-aig-collect-log-payload`.
    pub collect_log_payload: Option<bool>,
    /// `cf-aig-custom-cost`.
    pub custom_cost: Option<CustomCost>,
    /// `cf-aig-drop-params`: the unified API drops what a target cannot honour.
    pub drop_params: Option<bool>,
}

pub use crate::policy::cache::CACHE_TTL_LIMIT_S;

/// What a set of headers says to the gateway: the retry/timeout controls and
/// the feature controls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlHeaders {
    pub retry: Controls,
    pub features: FeatureControls,
}

/// Splits headers into the controls they set and the headers to forward.
/// Control headers are matched case-insensitively and consumed; a malformed
/// control value is an error naming the header (never quoting the value,
/// which could be anything the caller put there).
pub fn split_controls(
    headers: &[(String, String)],
) -> Result<(ControlHeaders, Vec<(String, String)>)> {
    let mut controls = ControlHeaders::default();
    let mut forward = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if let Some(control) = crate::http::headers::control_suffix(name) {
            apply_control(&mut controls, &control.to_ascii_lowercase(), value.trim())
                .map_err(|m| Error::invalid_request(format!("header {name}: {m}")))?;
        } else if !crate::http::headers::is_one_of(name, TRANSPORT_HEADERS) {
            forward.push((name.clone(), value.clone()));
        }
    }
    Ok((controls, forward))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Free text a control carries (event ids, cache keys): bounded and printable.
fn check_text(value: &str, max: usize) -> Result<String, String> {
    if value.is_empty() || value.len() > max {
        return Err(format!("must be 1 to {max} bytes"));
    }
    Ok(value.to_string())
}

fn apply_control(all: &mut ControlHeaders, control: &str, value: &str) -> Result<(), String> {
    let (controls, features) = (&mut all.retry, &mut all.features);
    match control {
        "cache-ttl" => {
            let ttl = parse_ms(value)?;
            if ttl > CACHE_TTL_LIMIT_S {
                return Err(format!("at most {CACHE_TTL_LIMIT_S} seconds, got {ttl}"));
            }
            features.cache_ttl_s = Some(ttl);
        }
        "skip-cache" => features.skip_cache = parse_bool(value)?,
        "cache-key" => features.cache_key = Some(check_text(value, 1024)?),
        "metadata" => features.metadata = Some(parse_metadata(value)?),
        "event-id" => features.event_id = Some(check_text(value, 256)?),
        "collect-log" => features.collect_log = Some(parse_bool(value)?),
        "collect-log-payload" => features.collect_log_payload = Some(parse_bool(value)?),
        "custom-cost" => features.custom_cost = Some(CustomCost::parse(value)?),
        "drop-params" => features.drop_params = Some(parse_bool(value)?),
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
            // Not `check_backoff`'s message: that one quotes the value.
            let backoff = Backoff::parse(value)
                .ok_or("expected \"constant\", \"linear\" or \"exponential\"")?;
            controls.backoff = Some(backoff);
        }
        // Other cf-aig-* headers (cf-aig-authorization, for the hosted
        // gateway's own auth) mean nothing in process; consumed, not forwarded.
        _ => {}
    }
    Ok(())
}

/// A non-negative decimal integer, as every numeric control is written.
fn parse_ms(value: &str) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a non-negative integer".into());
    }
    value
        .parse::<u64>()
        .map_err(|_| "number too large".to_string())
}

/// Checks `cf-aig-metadata`: a JSON object of at most 5 entries whose values
/// are strings, numbers or booleans.
pub fn parse_metadata(text: &str) -> Result<Map<String, Value>, String> {
    let doc: Map<String, Value> =
        serde_json::from_str(text).map_err(|_| "expected a JSON object".to_string())?;
    if doc.len() > 5 {
        return Err(format!("at most 5 entries, got {}", doc.len()));
    }
    // Entries are not quoted: they are part of a header value.
    if doc
        .values()
        .any(|v| !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
    {
        return Err("every entry must be a string, number or boolean".into());
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    use crate::http::headers::owned as headers;

    #[test]
    fn controls_are_consumed_and_others_forwarded() {
        let (all, fwd) = split_controls(&headers(&[
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
        let c = all.retry;
        assert_eq!(c.max_attempts, Some(3));
        assert_eq!(c.retry_delay_ms, Some(250));
        assert_eq!(c.backoff, Some(Backoff::Linear));
        assert_eq!(c.request_timeout_ms, Some(1500));
        assert_eq!(all.features.cache_ttl_s, Some(60));
        assert_eq!(
            fwd,
            headers(&[("Authorization", "Bearer x"), ("x-other", "1")])
        );
    }

    #[test]
    fn feature_controls() {
        let (all, fwd) = split_controls(&headers(&[
            ("cf-aig-skip-cache", "TRUE"),
            ("cf-aig-cache-key", "k1"),
            ("cf-aig-metadata", r#"{"user":"u","n":1,"b":false}"#),
            ("cf-aig-event-id", "evt-1"),
            ("cf-aig-collect-log", "false"),
            ("cf-aig-custom-cost", r#"{"total_cost":0.25}"#),
            ("cf-aig-authorization", "Bearer gateway-token"),
        ]))
        .unwrap();
        let f = all.features;
        assert!(f.skip_cache);
        assert_eq!(f.cache_key.as_deref(), Some("k1"));
        assert_eq!(f.metadata.unwrap().len(), 3);
        assert_eq!(f.event_id.as_deref(), Some("evt-1"));
        assert_eq!(f.collect_log, Some(false));
        assert_eq!(f.custom_cost, Some(CustomCost::Total(0.25)));
        assert!(fwd.is_empty(), "no cf-aig-* header is forwarded");
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
            ("cf-aig-cache-ttl", "2592001"),
            ("cf-aig-skip-cache", "yes"),
            ("cf-aig-cache-key", ""),
            ("cf-aig-metadata", r#"{"a":{"b":1}}"#),
            (
                "cf-aig-metadata",
                r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#,
            ),
            ("cf-aig-event-id", ""),
            ("cf-aig-collect-log", "no"),
            ("cf-aig-custom-cost", r#"{"per_token_in":-1}"#),
        ] {
            let e = split_controls(&headers(&[(n, v)])).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{n}: {v}");
            assert!(e.message.contains(n), "{}", e.message);
        }
    }

    #[test]
    fn metadata_rules() {
        assert!(parse_metadata(r#"{"user":"u1","n":3,"beta":true}"#).is_ok());
        for bad in [
            r#"[1]"#,
            "x",
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":null}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#,
        ] {
            assert!(parse_metadata(bad).is_err(), "{bad}");
        }
    }
}
