//! Shared state's config (`shared_state`), and what a failed Redis round
//! trip turns into: with `fail_open` the call goes on as if the state were
//! not shared (not counted, not cached) and the error is noted for the
//! request's log record; with `fail_closed` the error is returned and the
//! request refused.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::redis::RedisStore;
use super::{
    Admission, CacheProbe, CacheStore, CooldownStore, CounterStore, StoreError, Until, Window,
};

pub const DEFAULT_KEY_PREFIX: &str = "aigw:";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 250;
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 100;
pub const DEFAULT_RECONNECT_BACKOFF_MS: u64 = 500;
/// Longest any of the Redis timeouts may be set to.
pub const REDIS_TIMEOUT_LIMIT_MS: u64 = 10_000;

/// What a request does when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    FailOpen,
    FailClosed,
}

/// A Redis URL. Its Debug form never shows the credentials it may hold.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", &self.0));
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "\"{scheme}://{rest}\"")
    }
}

/// The validated `shared_state` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStateConfig {
    pub redis_url: RedisUrl,
    pub key_prefix: String,
    pub on_error: OnError,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// After a failed connect, calls fail at once for this long.
    pub reconnect_backoff: Duration,
}

/// The wire shape of `shared_state`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSharedState {
    redis_url: String,
    key_prefix: Option<String>,
    on_error: Option<String>,
    connect_timeout_ms: Option<u64>,
    command_timeout_ms: Option<u64>,
    reconnect_backoff_ms: Option<u64>,
}

impl RawSharedState {
    /// Checks every field; messages name the field, never the URL's userinfo.
    pub fn validate(self) -> Result<SharedStateConfig, String> {
        let url = self.redis_url.trim().to_string();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err("shared_state.redis_url must start with redis:// or rediss://".into());
        }
        if redis::Client::open(url.as_str()).is_err() {
            return Err(
                "shared_state.redis_url is not a valid Redis URL (redis://[user:password@]host[:port][/db])"
                    .into(),
            );
        }
        let key_prefix = self
            .key_prefix
            .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string());
        if key_prefix.is_empty() || key_prefix.len() > 256 {
            return Err("shared_state.key_prefix must be 1 to 256 bytes".into());
        }
        let on_error = match self.on_error.as_deref() {
            None | Some("fail_open") => OnError::FailOpen,
            Some("fail_closed") => OnError::FailClosed,
            Some(other) => {
                return Err(format!(
                    "shared_state.on_error must be \"fail_open\" or \"fail_closed\", got {other:?}"
                ));
            }
        };
        let timeout = |what: &str, v: Option<u64>, default: u64| -> Result<Duration, String> {
            match v.unwrap_or(default) {
                0 => Err(format!("shared_state.{what} must be at least 1")),
                n if n > REDIS_TIMEOUT_LIMIT_MS => Err(format!(
                    "shared_state.{what} must be at most {REDIS_TIMEOUT_LIMIT_MS} ms, got {n}"
                )),
                n => Ok(Duration::from_millis(n)),
            }
        };
        Ok(SharedStateConfig {
            redis_url: RedisUrl(url),
            key_prefix,
            on_error,
            connect_timeout: timeout(
                "connect_timeout_ms",
                self.connect_timeout_ms,
                DEFAULT_CONNECT_TIMEOUT_MS,
            )?,
            command_timeout: timeout(
                "command_timeout_ms",
                self.command_timeout_ms,
                DEFAULT_COMMAND_TIMEOUT_MS,
            )?,
            reconnect_backoff: timeout(
                "reconnect_backoff_ms",
                self.reconnect_backoff_ms,
                DEFAULT_RECONNECT_BACKOFF_MS,
            )?,
        })
    }
}

thread_local! {
    /// The first shared-state error of the send running on this thread (a
    /// send is blocking and runs on its caller's thread; see io_scope).
    static NOTED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn note(e: &StoreError) {
    NOTED.with(|n| {
        let mut n = n.borrow_mut();
        if n.is_none() {
            *n = Some(e.message.clone());
        }
    });
}

/// Takes (and clears) the shared-state error noted on this thread.
pub fn take_noted_error() -> Option<String> {
    NOTED.with(|n| n.borrow_mut().take())
}

/// The Redis store with the `on_error` policy applied: what the gateway's
/// counters, cool-downs and cache use when `shared_state` is set.
#[derive(Debug)]
pub struct Guarded {
    inner: RedisStore,
    on_error: OnError,
}

impl Guarded {
    pub fn new(inner: RedisStore, on_error: OnError) -> Guarded {
        Guarded { inner, on_error }
    }

    pub fn store(&self) -> &RedisStore {
        &self.inner
    }

    /// `Ok` as is; an error is noted, then either replaced by what a
    /// store-less gateway would have done (`open`) or returned.
    fn guard<T>(
        &self,
        r: Result<T, StoreError>,
        open: impl FnOnce() -> T,
    ) -> Result<T, StoreError> {
        r.or_else(|e| {
            note(&e);
            match self.on_error {
                OnError::FailOpen => Ok(open()),
                OnError::FailClosed => Err(e),
            }
        })
    }
}

/// Builds the shared store named by the config.
pub fn open(config: &SharedStateConfig) -> Result<Arc<Guarded>, String> {
    Ok(Arc::new(Guarded::new(
        RedisStore::new(config)?,
        config.on_error,
    )))
}

impl CounterStore for Guarded {
    fn admit(
        &self,
        key: &str,
        window: Window,
        limit: f64,
        amount: f64,
        until: Until,
    ) -> Result<Admission, StoreError> {
        // Open: unlimited, as if there were no shared counter.
        self.guard(self.inner.admit(key, window, limit, amount, until), || {
            Admission::Admitted
        })
    }

    fn charge(
        &self,
        key: &str,
        window: Window,
        amount: f64,
        until: Until,
    ) -> Result<(), StoreError> {
        self.guard(self.inner.charge(key, window, amount, until), || ())
    }

    fn total(
        &self,
        key: &str,
        window: Window,
        until: Until,
    ) -> Result<(f64, Duration), StoreError> {
        self.guard(self.inner.total(key, window, until), || {
            (0.0, Duration::ZERO)
        })
    }
}

impl CooldownStore for Guarded {
    fn cooling(&self, target: &str, until: Until) -> Result<Option<Duration>, StoreError> {
        self.guard(self.inner.cooling(target, until), || None)
    }

    fn record_failure(
        &self,
        target: &str,
        after_failures: u32,
        cool_for: Duration,
        until: Until,
    ) -> Result<bool, StoreError> {
        self.guard(
            self.inner
                .record_failure(target, after_failures, cool_for, until),
            || false,
        )
    }

    fn record_success(&self, target: &str, until: Until) -> Result<(), StoreError> {
        self.guard(self.inner.record_success(target, until), || ())
    }
}

impl CacheStore for Guarded {
    fn probe(&self, key: &str, lock_for: Duration, until: Until) -> Result<CacheProbe, StoreError> {
        // Open: a miss that nobody else waits on (served uncached).
        self.guard(self.inner.probe(key, lock_for, until), || {
            CacheProbe::Claimed { token: None }
        })
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: Option<&str>,
        until: Until,
    ) -> Result<(), StoreError> {
        self.guard(self.inner.put(key, value, ttl, token, until), || ())
    }

    fn release(&self, key: &str, token: &str, until: Until) -> Result<(), StoreError> {
        self.guard(self.inner.release(key, token, until), || ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<SharedStateConfig, String> {
        serde_json::from_str::<RawSharedState>(json)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn parses_with_defaults_and_hides_credentials() {
        let c = parse(r#"{"redis_url":"redis://user:s3cret@127.0.0.1:6380/2"}"#).unwrap();
        assert_eq!(c.key_prefix, "aigw:");
        assert_eq!(c.on_error, OnError::FailOpen);
        assert_eq!(c.command_timeout, Duration::from_millis(100));
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("user"),
            "{debug}"
        );
        assert!(debug.contains("127.0.0.1:6380/2"), "{debug}");
        let store = RedisStore::new(&c).unwrap();
        assert_eq!(store.address(), "127.0.0.1:6380/2");
        assert!(!format!("{store:?}").contains("s3cret"));
        let c = parse(r#"{"redis_url":"rediss://h:1","on_error":"fail_closed","key_prefix":"p:"}"#)
            .unwrap();
        assert_eq!(c.on_error, OnError::FailClosed);
    }

    #[test]
    fn bad_values_are_named_without_the_url() {
        for (bad, names) in [
            (r#"{"redis_url":"http://u:s3cret@h"}"#, "redis_url"),
            (
                r#"{"redis_url":"redis://u:s3cret@h:notaport"}"#,
                "redis_url",
            ),
            (
                r#"{"redis_url":"redis://h","on_error":"shrug"}"#,
                "on_error",
            ),
            (r#"{"redis_url":"redis://h","key_prefix":""}"#, "key_prefix"),
            (
                r#"{"redis_url":"redis://h","command_timeout_ms":0}"#,
                "command_timeout_ms",
            ),
            (
                r#"{"redis_url":"redis://h","connect_timeout_ms":60000}"#,
                "connect_timeout_ms",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(names), "{bad}: {e}");
            assert!(!e.contains("s3cret"), "{bad}: {e}");
        }
        assert!(parse(r#"{"redis_url":"redis://h","pool":3}"#).is_err());
    }

    #[test]
    fn unreachable_redis_fails_open_or_closed_and_is_noted() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let window = Window {
            interval: Duration::from_secs(60),
            technique: crate::store::Technique::Fixed,
        };
        for (mode, open) in [("fail_open", true), ("fail_closed", false)] {
            let c = parse(&format!(
                r#"{{"redis_url":"redis://127.0.0.1:{port}","on_error":"{mode}"}}"#
            ))
            .unwrap();
            let store = Guarded::new(RedisStore::new(&c).unwrap(), c.on_error);
            let _ = take_noted_error();
            for _ in 0..3 {
                let started = std::time::Instant::now();
                let admitted = store.admit("k", window, 1.0, 1.0, None);
                assert!(started.elapsed() < Duration::from_millis(400));
                assert_eq!(admitted.is_ok(), open, "{mode}: {admitted:?}");
                if open {
                    assert_eq!(admitted, Ok(Admission::Admitted));
                    assert_eq!(
                        store.probe("k", Duration::from_secs(1), None),
                        Ok(CacheProbe::Claimed { token: None })
                    );
                    assert_eq!(store.cooling("p/m", None), Ok(None));
                } else {
                    assert!(
                        admitted
                            .unwrap_err()
                            .message
                            .contains("Redis at 127.0.0.1:")
                    );
                }
            }
            let noted = take_noted_error().unwrap();
            assert!(noted.starts_with("Redis at 127.0.0.1:"), "{noted}");
            assert_eq!(take_noted_error(), None, "taken once");
        }
    }
}
