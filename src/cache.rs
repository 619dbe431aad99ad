//! The response cache: 2xx responses stored under a SHA-256 key, bounded by
//! entries and bytes, with identical concurrent misses coalesced onto one
//! upstream call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, GuardResult, PlaceholderGuard};
use quick_cache::{DefaultHashBuilder, Weighter};

use crate::error::{Error, ErrorKind, Result};
use crate::response::Response;
use crate::transport::io_scope::{IoState, POLL_SLICE};
use crate::usage::Usage;

/// Response header saying whether the cache served a response.
pub const CACHE_STATUS_HEADER: &str = "cf-aig-cache-status";

pub type CacheKey = [u8; 32];

/// A stored response and when it stops being served.
#[derive(Debug)]
pub struct CachedResponse {
    pub response: Response,
    pub expires_at: Instant,
    /// The usage the response reported, read once when it was stored (a
    /// hit is logged with it without parsing the body again).
    pub usage: Usage,
    bytes: u64,
}

impl CachedResponse {
    pub fn new(response: Response, ttl: Duration, usage: Usage) -> CachedResponse {
        let bytes = response.body.len() as u64
            + response
                .headers
                .iter()
                .map(|(n, v)| (n.len() + v.len()) as u64)
                .sum::<u64>()
            + 64;
        CachedResponse {
            response,
            expires_at: Instant::now() + ttl,
            usage,
            bytes,
        }
    }
}

type Entry = Arc<CachedResponse>;

/// Weighs an entry by its bytes, but never below `min_weight`: with
/// `min_weight = max_bytes / max_entries`, one weight budget bounds both the
/// bytes and the number of entries.
#[derive(Debug, Clone)]
struct ByteWeighter {
    min_weight: u64,
}

impl Weighter<CacheKey, Entry> for ByteWeighter {
    fn weight(&self, _key: &CacheKey, entry: &Entry) -> u64 {
        entry.bytes.max(self.min_weight)
    }
}

type NoLifecycle = quick_cache::sync::DefaultLifecycle<CacheKey, Entry>;

type Inner = Cache<CacheKey, Entry, ByteWeighter, DefaultHashBuilder, NoLifecycle>;

/// A claim on a missing key: other lookups of the key wait until it is
/// fulfilled (they then hit) or dropped (one of them claims it next).
pub struct Claim<'a> {
    guard: PlaceholderGuard<'a, CacheKey, Entry, ByteWeighter, DefaultHashBuilder, NoLifecycle>,
}

impl Claim<'_> {
    /// Stores the response for the waiters and later lookups.
    pub fn fulfil(self, entry: CachedResponse) {
        let _ = self.guard.insert(Arc::new(entry));
    }
}

pub enum Lookup<'a> {
    Hit(Arc<CachedResponse>),
    Miss(Claim<'a>),
}

pub struct ResponseCache {
    inner: Inner,
    max_bytes: u64,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.inner.len())
            .field("weight", &self.inner.weight())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl ResponseCache {
    pub fn new(max_entries: u64, max_bytes: u64) -> ResponseCache {
        let max_entries = max_entries.max(1);
        let min_weight = max_bytes.div_ceil(max_entries).max(1);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(max_entries.min(1 << 20) as usize)
            .weight_capacity(max_bytes)
            // One shard: every entry may use the whole byte budget, and the
            // bounds hold exactly rather than per shard. Lookups are short,
            // so the single lock is not a bottleneck next to network calls.
            .shards(1)
            .build()
            .expect("valid cache options");
        ResponseCache {
            inner: Cache::with_options(
                options,
                ByteWeighter { min_weight },
                DefaultHashBuilder::default(),
                NoLifecycle::default(),
            ),
            max_bytes,
        }
    }

    /// Whether an entry of this many body bytes could be stored at all.
    pub fn fits(&self, body_bytes: usize) -> bool {
        (body_bytes as u64) < self.max_bytes
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }

    /// Bytes held (each entry counted at least its share of the budget).
    pub fn weight(&self) -> u64 {
        self.inner.weight()
    }

    /// Finds a fresh entry, or claims the key. While another caller holds
    /// the claim, waits for it (checking `state` for cancellation).
    pub fn lookup(&self, key: &CacheKey, state: &IoState) -> Result<Lookup<'_>> {
        loop {
            if state.is_cancelled() {
                return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
            }
            match self.inner.get_value_or_guard(key, Some(POLL_SLICE)) {
                GuardResult::Value(entry) if entry.expires_at > Instant::now() => {
                    return Ok(Lookup::Hit(entry));
                }
                GuardResult::Value(_) => {
                    // Expired: drop it (unless a fresh one replaced it meanwhile).
                    self.inner
                        .remove_if(key, |e| e.expires_at <= Instant::now());
                }
                GuardResult::Guard(guard) => return Ok(Lookup::Miss(Claim { guard })),
                GuardResult::Timeout => {}
            }
        }
    }
}

/// The computed cache key: SHA-256 over the method, the gateway path, the
/// provider auth headers (so two API keys never share an entry) and the
/// body. For Universal requests the body holds every step's provider,
/// endpoint, headers and query.
pub fn compute_key(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> CacheKey {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        b"aigw-cache-v1".as_slice(),
        method.as_bytes(),
        path.as_bytes(),
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut auth: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
        .filter(|(n, _)| AUTH_HEADERS.contains(&n.as_str()))
        .collect();
    auth.sort();
    for (name, value) in auth {
        for part in [name.as_bytes(), value.as_bytes()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
    }
    ctx.update(&(body.len() as u64).to_be_bytes());
    ctx.update(body);
    digest_to_key(ctx.finish())
}

/// The key for a caller's `cf-aig-cache-key`, kept apart from computed keys.
pub fn custom_key(key: &str) -> CacheKey {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"aigw-cache-custom-v1\0");
    ctx.update(key.as_bytes());
    digest_to_key(ctx.finish())
}

fn digest_to_key(d: ring::digest::Digest) -> CacheKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(d.as_ref());
    key
}

/// Headers that carry provider credentials.
pub const AUTH_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "proxy-authorization",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::io_scope::IoScope;

    fn response(body_len: usize) -> Response {
        Response {
            status: 200,
            headers: vec![],
            body: vec![b'x'; body_len],
            step: 0,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_separate_credentials_bodies_and_paths() {
        let base = compute_key(
            "POST",
            "openai/chat",
            &h(&[("Authorization", "Bearer a")]),
            b"{}",
        );
        assert_eq!(
            base,
            compute_key(
                "POST",
                "openai/chat",
                &h(&[("authorization", "Bearer a"), ("x-other", "1")]),
                b"{}"
            )
        );
        assert_ne!(
            base,
            compute_key(
                "POST",
                "openai/chat",
                &h(&[("Authorization", "Bearer b")]),
                b"{}"
            )
        );
        assert_ne!(base, compute_key("POST", "openai/chat", &h(&[]), b"{}"));
        assert_ne!(
            base,
            compute_key(
                "POST",
                "openai/chat",
                &h(&[("Authorization", "Bearer a")]),
                b"{ }"
            )
        );
        assert_ne!(
            base,
            compute_key(
                "POST",
                "groq/chat",
                &h(&[("Authorization", "Bearer a")]),
                b"{}"
            )
        );
        assert_ne!(custom_key("k"), custom_key("k2"));
        // Length-prefixed parts: moving bytes between parts changes the key.
        assert_ne!(
            compute_key("POST", "ab", &[], b"c"),
            compute_key("POST", "a", &[], b"bc")
        );
    }

    #[test]
    fn hits_misses_expiry_and_bounds() {
        let scope = IoScope::enter(None);
        let cache = ResponseCache::new(3, 1_000_000);
        let key = custom_key("a");
        let Lookup::Miss(claim) = cache.lookup(&key, scope.state()).unwrap() else {
            panic!("hit")
        };
        claim.fulfil(CachedResponse::new(
            response(10),
            Duration::from_millis(50),
            Usage::default(),
        ));
        assert!(matches!(
            cache.lookup(&key, scope.state()).unwrap(),
            Lookup::Hit(_)
        ));
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            matches!(cache.lookup(&key, scope.state()).unwrap(), Lookup::Miss(_)),
            "expired"
        );

        // Entry bound: 3 entries at most.
        for i in 0..10 {
            if let Lookup::Miss(c) = cache
                .lookup(&custom_key(&format!("n{i}")), scope.state())
                .unwrap()
            {
                c.fulfil(CachedResponse::new(
                    response(10),
                    Duration::from_secs(60),
                    Usage::default(),
                ));
            }
        }
        assert!(cache.len() <= 3, "{}", cache.len());

        // Byte bound: 100 KB entries in a 250 KB cache.
        let cache = ResponseCache::new(1000, 250_000);
        for i in 0..10 {
            if let Lookup::Miss(c) = cache
                .lookup(&custom_key(&format!("b{i}")), scope.state())
                .unwrap()
            {
                c.fulfil(CachedResponse::new(
                    response(100_000),
                    Duration::from_secs(60),
                    Usage::default(),
                ));
            }
        }
        assert!(cache.weight() <= 250_000, "{}", cache.weight());
        assert!(cache.len() <= 2 && !cache.is_empty(), "{}", cache.len());
    }

    #[test]
    fn concurrent_misses_wait_for_one_claim() {
        let cache = Arc::new(ResponseCache::new(10, 1_000_000));
        let key = custom_key("shared");
        let scope = IoScope::enter(None);
        let Lookup::Miss(claim) = cache.lookup(&key, scope.state()).unwrap() else {
            panic!()
        };
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let scope = IoScope::enter(None);
                    matches!(cache.lookup(&key, scope.state()).unwrap(), Lookup::Hit(_))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        claim.fulfil(CachedResponse::new(
            response(5),
            Duration::from_secs(60),
            Usage::default(),
        ));
        assert!(waiters.into_iter().all(|w| w.join().unwrap()));
    }

    #[test]
    fn a_dropped_claim_passes_to_a_waiter() {
        let cache = Arc::new(ResponseCache::new(10, 1_000_000));
        let key = custom_key("fails");
        let scope = IoScope::enter(None);
        let Lookup::Miss(claim) = cache.lookup(&key, scope.state()).unwrap() else {
            panic!()
        };
        let c = cache.clone();
        let waiter = std::thread::spawn(move || {
            let scope = IoScope::enter(None);
            matches!(c.lookup(&key, scope.state()).unwrap(), Lookup::Miss(_))
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(claim); // the upstream call failed: nothing is stored
        assert!(waiter.join().unwrap(), "the waiter claims the key next");
    }
}
