//! The gateway configuration (the JSON given to `aigw_gateway_new`) and the
//! retry/timeout settings that gateway, request and step each may set.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::policy::ratelimit::{RateLimitConfig, Technique};

/// Largest `max_attempts` / `maxAttempts` / `cf-aig-max-attempts`.
pub const MAX_ATTEMPTS_LIMIT: u32 = 5;
/// Largest `retry_delay_ms` / `retryDelay` / `cf-aig-retry-delay`, in ms.
pub const RETRY_DELAY_LIMIT_MS: u64 = 5_000;
/// Largest timeout accepted anywhere, in ms (one day): keeps deadline
/// arithmetic far from overflow and catches unit mistakes.
pub const TIMEOUT_LIMIT_MS: u64 = 86_400_000;
/// Default cap on body sizes, both directions.
pub const DEFAULT_BODY_LIMIT: u64 = 32 * 1024 * 1024;
/// Default cap on how long an upstream's `Retry-After` may make us wait.
pub const DEFAULT_RETRY_AFTER_CAP_MS: u64 = 5_000;

/// How the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Always `retry_delay`.
    Constant,
    /// `retry_delay * n` before the n-th retry.
    Linear,
    /// `retry_delay * 2^(n-1)` before the n-th retry.
    Exponential,
}

impl Backoff {
    pub fn parse(text: &str) -> Option<Backoff> {
        match text {
            "constant" => Some(Backoff::Constant),
            "linear" => Some(Backoff::Linear),
            "exponential" => Some(Backoff::Exponential),
            _ => None,
        }
    }
}

/// Retry and timeout controls as one layer sets them: `None` means "not set
/// here, inherit". Gateway config, request `cf-aig-*` headers, step headers
/// and step `config` each produce one; [`Controls::over`] stacks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls {
    /// Time to the response head (first byte); `Some(0)` means no timeout.
    pub request_timeout_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub retry_delay_ms: Option<u64>,
    pub backoff: Option<Backoff>,
    /// Longest silence between body reads once the head has arrived;
    /// `Some(0)` means no limit.
    pub stream_idle_timeout_ms: Option<u64>,
}

impl Controls {
    /// This layer with `upper` laid on top: whatever `upper` sets wins.
    pub fn over(&self, upper: &Controls) -> Controls {
        Controls {
            request_timeout_ms: upper.request_timeout_ms.or(self.request_timeout_ms),
            max_attempts: upper.max_attempts.or(self.max_attempts),
            retry_delay_ms: upper.retry_delay_ms.or(self.retry_delay_ms),
            backoff: upper.backoff.or(self.backoff),
            stream_idle_timeout_ms: upper.stream_idle_timeout_ms.or(self.stream_idle_timeout_ms),
        }
    }

    /// The settings an attempt runs with, defaults filling what no layer set.
    pub fn resolve(&self) -> Settings {
        Settings {
            request_timeout: match self.request_timeout_ms {
                None | Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            },
            max_attempts: self.max_attempts.unwrap_or(1),
            retry_delay: Duration::from_millis(self.retry_delay_ms.unwrap_or(0)),
            backoff: self.backoff.unwrap_or(Backoff::Constant),
            stream_idle_timeout: match self.stream_idle_timeout_ms {
                None | Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            },
        }
    }
}

/// Fully resolved retry and timeout settings for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub request_timeout: Option<Duration>,
    pub max_attempts: u32,
    pub retry_delay: Duration,
    pub backoff: Backoff,
    pub stream_idle_timeout: Option<Duration>,
}

/// Checks shared by every layer, so a value means the same wherever it is set.
/// `what` names the setting as the caller spelled it.
pub fn check_max_attempts(what: &str, value: u64) -> Result<u32, String> {
    if (1..=MAX_ATTEMPTS_LIMIT as u64).contains(&value) {
        Ok(value as u32)
    } else {
        Err(format!(
            "{what} must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {value}"
        ))
    }
}

pub fn check_retry_delay(what: &str, value: u64) -> Result<u64, String> {
    if value <= RETRY_DELAY_LIMIT_MS {
        Ok(value)
    } else {
        Err(format!(
            "{what} must be at most {RETRY_DELAY_LIMIT_MS} ms, got {value}"
        ))
    }
}

pub fn check_timeout(what: &str, value: u64) -> Result<u64, String> {
    if value <= TIMEOUT_LIMIT_MS {
        Ok(value)
    } else {
        Err(format!(
            "{what} must be at most {TIMEOUT_LIMIT_MS} ms, got {value}"
        ))
    }
}

pub fn check_backoff(what: &str, value: &str) -> Result<Backoff, String> {
    Backoff::parse(value).ok_or_else(|| {
        format!("{what} must be \"constant\", \"linear\" or \"exponential\", got {value:?}")
    })
}

/// One entry of the config's `providers` object.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderOverride {
    pub base_url: String,
}

// By hand: a base URL's userinfo is a credential and stays out of Debug.
impl std::fmt::Debug for ProviderOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderOverride")
            .field(
                "base_url",
                &crate::providers::provider::without_userinfo(&self.base_url),
            )
            .finish()
    }
}

/// The validated gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub account_id: Option<String>,
    pub providers: BTreeMap<String, ProviderOverride>,
    pub controls: Controls,
    /// Extra PEM roots to trust, on top of the platform's.
    pub ca_file: Option<String>,
    pub max_request_body_bytes: u64,
    pub max_response_body_bytes: u64,
    pub retry_after_cap: Duration,
    /// Default cache TTL in seconds; 0 leaves caching off unless a request
    /// asks for it.
    pub cache_ttl_s: u64,
    pub cache_max_entries: u64,
    pub cache_max_bytes: u64,
    pub rate_limit: Option<RateLimitConfig>,
    /// How many recent log records `aigw_gateway_logs` can return.
    pub log_capacity: usize,
    /// Record request and response bodies in logs.
    pub log_payloads: bool,
    /// Make a log record for each request unless `cf-aig-collect-log`
    /// says otherwise.
    pub collect_logs: bool,
    /// Idle keep-alive connections kept per upstream host (the whole pool
    /// keeps eight times as many).
    pub max_idle_connections_per_host: usize,
    /// Dynamic routes by name (`routes`), validated.
    pub routes: crate::routing::Routes,
    /// Seed of the routes' percentage splits (`route_seed`), for
    /// reproducible splits; `None`: seeded from the OS.
    pub route_seed: Option<u64>,
    /// Skipping targets that keep failing (`cooldown`); off when `None`.
    pub cooldown: Option<crate::policy::cooldown::CooldownConfig>,
    /// The `"server"` object: options for `aigw serve`, validated here and
    /// otherwise unused by the library.
    pub server: Option<crate::server::ServerOptions>,
    /// Stored provider keys (`providers.<slug>.api_key` / `api_key_env`),
    /// sent when a request carries no credential of its own.
    pub provider_keys: BTreeMap<String, crate::providers::credentials::Secret>,
    /// The unified API drops parameters a target cannot honour instead of
    /// refusing the request (`drop_params`).
    pub drop_params: bool,
    /// Redis that holds the cache, rate limit and counters for every
    /// gateway naming it; `None` keeps them in this gateway's memory.
    pub shared_state: Option<crate::store::shared::SharedStateConfig>,
}

/// Defaults of the feature settings.
pub const DEFAULT_CACHE_MAX_ENTRIES: u64 = 1000;
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_LOG_CAPACITY: usize = 1000;
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 32;
/// The most `max_idle_connections_per_host` may be.
pub const MAX_IDLE_PER_HOST_LIMIT: usize = 4096;

impl Default for Config {
    fn default() -> Config {
        Config {
            account_id: None,
            providers: BTreeMap::new(),
            controls: Controls::default(),
            ca_file: None,
            max_request_body_bytes: DEFAULT_BODY_LIMIT,
            max_response_body_bytes: DEFAULT_BODY_LIMIT,
            retry_after_cap: Duration::from_millis(DEFAULT_RETRY_AFTER_CAP_MS),
            cache_ttl_s: 0,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            rate_limit: None,
            log_capacity: DEFAULT_LOG_CAPACITY,
            log_payloads: false,
            collect_logs: true,
            max_idle_connections_per_host: DEFAULT_MAX_IDLE_PER_HOST,
            routes: crate::routing::Routes::new(),
            route_seed: None,
            cooldown: None,
            server: None,
            provider_keys: BTreeMap::new(),
            drop_params: false,
            shared_state: None,
        }
    }
}

// The wire shape. `deny_unknown_fields` turns a typo into an error that
// names the key instead of a setting silently not applied.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    account_id: Option<String>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    request_timeout_ms: Option<u64>,
    max_attempts: Option<u64>,
    retry_delay_ms: Option<u64>,
    backoff: Option<String>,
    stream_idle_timeout_ms: Option<u64>,
    ca_file: Option<String>,
    max_request_body_bytes: Option<u64>,
    max_response_body_bytes: Option<u64>,
    retry_after_cap_ms: Option<u64>,
    cache_ttl_s: Option<u64>,
    cache_max_entries: Option<u64>,
    cache_max_bytes: Option<u64>,
    rate_limit: Option<RawRateLimit>,
    log_capacity: Option<u64>,
    log_payloads: Option<bool>,
    collect_logs: Option<bool>,
    max_idle_connections_per_host: Option<u64>,
    routes: Option<serde_json::Value>,
    route_seed: Option<u64>,
    cooldown: Option<crate::policy::cooldown::RawCooldown>,
    server: Option<serde_json::Value>,
    drop_params: Option<bool>,
    shared_state: Option<crate::store::shared::RawSharedState>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    base_url: Option<String>,
    api_key: Option<String>,
    api_key_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    limit: u64,
    interval_s: u64,
    #[serde(default)]
    technique: Option<String>,
}

impl Config {
    /// Parses and validates the gateway config. `None`, empty text and `{}`
    /// give the defaults.
    pub fn parse(json: Option<&str>) -> Result<Config> {
        let text = json.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Ok(Config::default());
        }
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|e| Error::invalid_config(format!("gateway config: {e}")))?;
        let invalid = |msg: String| Error::invalid_config(format!("gateway config: {msg}"));

        let mut controls = Controls::default();
        if let Some(v) = raw.request_timeout_ms {
            controls.request_timeout_ms =
                Some(check_timeout("request_timeout_ms", v).map_err(invalid)?);
        }
        if let Some(v) = raw.max_attempts {
            controls.max_attempts = Some(check_max_attempts("max_attempts", v).map_err(invalid)?);
        }
        if let Some(v) = raw.retry_delay_ms {
            controls.retry_delay_ms =
                Some(check_retry_delay("retry_delay_ms", v).map_err(invalid)?);
        }
        if let Some(v) = raw.stream_idle_timeout_ms {
            controls.stream_idle_timeout_ms =
                Some(check_timeout("stream_idle_timeout_ms", v).map_err(invalid)?);
        }
        if let Some(v) = &raw.backoff {
            controls.backoff = Some(check_backoff("backoff", v).map_err(invalid)?);
        }

        let mut providers = BTreeMap::new();
        let mut provider_keys = BTreeMap::new();
        for (slug, p) in raw.providers {
            crate::providers::provider::check_configurable_slug(&slug).map_err(invalid)?;
            if let Some(key) = stored_key(&slug, p.api_key, p.api_key_env).map_err(invalid)? {
                provider_keys.insert(slug.clone(), key);
            }
            let Some(base_url) = p.base_url else {
                if slug.starts_with("custom-") {
                    return Err(invalid(format!("providers.{slug}: missing base_url")));
                }
                continue;
            };
            crate::providers::provider::check_base_url(&base_url)
                .map_err(|m| invalid(format!("providers.{slug}.base_url: {m}")))?;
            providers.insert(slug, ProviderOverride { base_url });
        }

        if let Some(id) = &raw.account_id {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    "account_id must be a non-empty account tag (letters, digits, '-', '_')".into(),
                ));
            }
        }
        if let Some(path) = &raw.ca_file {
            if path.is_empty() {
                return Err(invalid("ca_file must not be empty".into()));
            }
        }
        let body_limit = |what: &str, v: Option<u64>| -> Result<u64> {
            match v {
                None => Ok(DEFAULT_BODY_LIMIT),
                Some(0) => Err(invalid(format!("{what} must be at least 1"))),
                Some(n) => Ok(n),
            }
        };
        let cache_ttl_s = raw.cache_ttl_s.unwrap_or(0);
        if cache_ttl_s > crate::policy::cache::CACHE_TTL_LIMIT_S {
            return Err(invalid(format!(
                "cache_ttl_s must be at most {} seconds, got {cache_ttl_s}",
                crate::policy::cache::CACHE_TTL_LIMIT_S
            )));
        }
        let at_least_one = |what: &str, v: Option<u64>, default: u64| -> Result<u64> {
            match v {
                None => Ok(default),
                Some(0) => Err(invalid(format!("{what} must be at least 1"))),
                Some(n) => Ok(n),
            }
        };
        let cache_max_entries = at_least_one(
            "cache_max_entries",
            raw.cache_max_entries,
            DEFAULT_CACHE_MAX_ENTRIES,
        )?;
        let cache_max_bytes = at_least_one(
            "cache_max_bytes",
            raw.cache_max_bytes,
            DEFAULT_CACHE_MAX_BYTES,
        )?;
        let rate_limit = match raw.rate_limit {
            None => None,
            Some(r) => {
                let technique = match r.technique.as_deref() {
                    None | Some("fixed") => Technique::Fixed,
                    Some("sliding") => Technique::Sliding,
                    Some(other) => {
                        return Err(invalid(format!(
                            "rate_limit.technique must be \"fixed\" or \"sliding\", got {other:?}"
                        )));
                    }
                };
                if r.limit == 0 {
                    return Err(invalid("rate_limit.limit must be at least 1".into()));
                }
                if r.interval_s == 0 || r.interval_s > 86_400 * 366 {
                    return Err(invalid(
                        "rate_limit.interval_s must be between 1 and 31622400".into(),
                    ));
                }
                Some(RateLimitConfig {
                    limit: r.limit,
                    interval: Duration::from_secs(r.interval_s),
                    technique,
                })
            }
        };
        let log_capacity = raw.log_capacity.unwrap_or(DEFAULT_LOG_CAPACITY as u64);
        if log_capacity > 1_000_000 {
            return Err(invalid(format!(
                "log_capacity must be at most 1000000, got {log_capacity}"
            )));
        }
        let max_idle = raw
            .max_idle_connections_per_host
            .unwrap_or(DEFAULT_MAX_IDLE_PER_HOST as u64);
        if max_idle > MAX_IDLE_PER_HOST_LIMIT as u64 {
            return Err(invalid(format!(
                "max_idle_connections_per_host must be at most {MAX_IDLE_PER_HOST_LIMIT}, got {max_idle}"
            )));
        }
        let retry_after_cap_ms = raw.retry_after_cap_ms.unwrap_or(DEFAULT_RETRY_AFTER_CAP_MS);
        check_timeout("retry_after_cap_ms", retry_after_cap_ms).map_err(invalid)?;

        Ok(Config {
            account_id: raw.account_id,
            providers,
            controls,
            ca_file: raw.ca_file,
            max_request_body_bytes: body_limit(
                "max_request_body_bytes",
                raw.max_request_body_bytes,
            )?,
            max_response_body_bytes: body_limit(
                "max_response_body_bytes",
                raw.max_response_body_bytes,
            )?,
            retry_after_cap: Duration::from_millis(retry_after_cap_ms),
            cache_ttl_s,
            cache_max_entries,
            cache_max_bytes,
            rate_limit,
            log_capacity: log_capacity as usize,
            log_payloads: raw.log_payloads.unwrap_or(false),
            collect_logs: raw.collect_logs.unwrap_or(true),
            max_idle_connections_per_host: max_idle as usize,
            routes: match &raw.routes {
                None => crate::routing::Routes::new(),
                Some(v) => crate::routing::parse_routes(v).map_err(invalid)?,
            },
            route_seed: raw.route_seed,
            cooldown: raw
                .cooldown
                .map(crate::policy::cooldown::CooldownConfig::from_raw)
                .transpose()
                .map_err(invalid)?,
            server: match &raw.server {
                Some(v) => Some(crate::server::ServerOptions::from_value(v)?),
                None => None,
            },
            provider_keys,
            drop_params: raw.drop_params.unwrap_or(false),
            shared_state: raw
                .shared_state
                .map(|s| s.validate())
                .transpose()
                .map_err(invalid)?,
        })
    }
}

/// A provider's stored key: given inline, or named by an environment
/// variable read now. Messages name the setting, never the value.
fn stored_key(
    slug: &str,
    inline: Option<String>,
    env: Option<String>,
) -> Result<Option<crate::providers::credentials::Secret>, String> {
    let value = match (inline, env) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "providers.{slug}: give api_key or api_key_env, not both"
            ));
        }
        (Some(key), None) => key,
        (None, Some(var)) => match std::env::var(&var) {
            Ok(v) => v,
            Err(_) => {
                return Err(format!(
                    "providers.{slug}.api_key_env: environment variable {var:?} is not set"
                ));
            }
        },
        (None, None) => return Ok(None),
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("providers.{slug}: the stored key is empty"));
    }
    if value.chars().any(|c| c.is_ascii_control()) {
        return Err(format!(
            "providers.{slug}: the stored key contains a control character"
        ));
    }
    Ok(Some(crate::providers::credentials::Secret::new(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn err(json: &str) -> Error {
        Config::parse(Some(json)).unwrap_err()
    }

    #[test]
    fn empty_and_braces_give_defaults() {
        assert_eq!(Config::parse(None).unwrap(), Config::default());
        assert_eq!(Config::parse(Some("{}")).unwrap(), Config::default());
        assert_eq!(Config::parse(Some("  ")).unwrap(), Config::default());
    }

    #[test]
    fn full_config_parses() {
        let c = Config::parse(Some(
            r#"{"account_id":"ACCOUNT_TAG","providers":{"openai":{"base_url":"http://127.0.0.1:9000/v1"},
            "custom-local":{"base_url":"http://127.0.0.1:11434/v1"}},"request_timeout_ms":0,
            "max_attempts":1,"retry_delay_ms":0,"backoff":"constant"}"#,
        ))
        .unwrap();
        assert_eq!(c.account_id.as_deref(), Some("ACCOUNT_TAG"));
        assert_eq!(c.providers.len(), 2);
        assert_eq!(c.controls.max_attempts, Some(1));
        assert_eq!(c.controls.backoff, Some(Backoff::Constant));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err(r#"{"max_attempt": 2}"#);
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert!(e.message.contains("max_attempt"), "{}", e.message);
        let e = err(r#"{"providers":{"openai":{"base":"http://x"}}}"#);
        assert!(e.message.contains("base"), "{}", e.message);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for bad in [
            r#"{"max_attempts":0}"#,
            r#"{"max_attempts":6}"#,
            r#"{"retry_delay_ms":5001}"#,
            r#"{"backoff":"sideways"}"#,
            r#"{"request_timeout_ms":-1}"#,
            r#"{"max_response_body_bytes":0}"#,
            r#"{"providers":{"nosuch":{"base_url":"http://127.0.0.1:1"}}}"#,
            r#"{"providers":{"openai":{"base_url":"ftp://127.0.0.1:1"}}}"#,
            r#"{"account_id":"a b"}"#,
            r#"{"cache_ttl_s":2592001}"#,
            r#"{"cache_max_entries":0}"#,
            r#"{"cache_max_bytes":0}"#,
            r#"{"rate_limit":{"limit":0,"interval_s":1}}"#,
            r#"{"rate_limit":{"limit":1,"interval_s":0}}"#,
            r#"{"rate_limit":{"limit":1,"interval_s":1,"technique":"leaky"}}"#,
            r#"{"rate_limit":{"limit":1}}"#,
            r#"{"rate_limit":{"limit":1,"interval_s":1,"burst":2}}"#,
            r#"{"log_payloads":"yes"}"#,
            r#"{"log_capacity":-1}"#,
            r#"[1,2]"#,
            r#"{"#,
        ] {
            assert_eq!(err(bad).kind, ErrorKind::InvalidConfig, "{bad}");
        }
        assert!(
            err(r#"{"max_attempts":6}"#)
                .message
                .contains("max_attempts")
        );
    }

    #[test]
    fn layers_stack_upper_wins() {
        let gateway = Controls {
            request_timeout_ms: Some(100),
            max_attempts: Some(2),
            retry_delay_ms: Some(10),
            backoff: Some(Backoff::Linear),
            stream_idle_timeout_ms: Some(500),
        };
        let request = Controls {
            max_attempts: Some(3),
            ..Controls::default()
        };
        let step = Controls {
            max_attempts: Some(5),
            backoff: Some(Backoff::Exponential),
            ..Controls::default()
        };
        let s = gateway.over(&request).over(&step).resolve();
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.backoff, Backoff::Exponential);
        assert_eq!(s.retry_delay, Duration::from_millis(10));
        assert_eq!(s.request_timeout, Some(Duration::from_millis(100)));
        assert_eq!(s.stream_idle_timeout, Some(Duration::from_millis(500)));
        assert_eq!(gateway.over(&request).resolve().max_attempts, 3);
        assert_eq!(Controls::default().resolve().max_attempts, 1);
        assert_eq!(Controls::default().resolve().request_timeout, None);
    }
}
