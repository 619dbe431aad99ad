//! The response cache: 2xx responses stored under a SHA-256 key, bounded by
//! entries and bytes, with identical concurrent misses coalesced onto one
//! upstream call. With shared state, entries live in a [`CacheStore`]
//! (Redis) instead, where a fill lock coalesces misses across processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, GuardResult, PlaceholderGuard};
use quick_cache::{DefaultHashBuilder, Weighter};

use crate::error::{Error, ErrorKind, Result};
use crate::http::header_list::HeaderList;
use crate::http::response::Response;
use crate::providers::usage::Usage;
use crate::store::{CacheProbe, CacheStore};
use crate::transport::io_scope::{IoState, POLL_SLICE};

/// Longest cache TTL a request may ask for: one month, as the hosted gateway.
pub const CACHE_TTL_LIMIT_S: u64 = 30 * 24 * 3600;

/// Response header saying whether the cache served a response.
pub use crate::http::headers::CACHE_STATUS_HEADER;

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
    kind: ClaimKind<'a>,
}

enum ClaimKind<'a> {
    Local(PlaceholderGuard<'a, CacheKey, Entry, ByteWeighter, DefaultHashBuilder, NoLifecycle>),
    Shared(SharedClaim<'a>),
}

/// A miss in the shared store, holding its fill lock if it got one.
struct SharedClaim<'a> {
    store: &'a dyn CacheStore,
    key: String,
    token: Option<String>,
}

impl Drop for SharedClaim<'_> {
    fn drop(&mut self) {
        // Not fulfilled: let the next waiter fill it now, not at lock expiry.
        if let Some(token) = self.token.take() {
            let _ = self.store.release(&self.key, &token, None);
        }
    }
}

impl Claim<'_> {
    /// Stores the response for the waiters and later lookups.
    pub fn fulfil(self, entry: CachedResponse) {
        match self.kind {
            ClaimKind::Local(guard) => {
                let _ = guard.insert(Arc::new(entry));
            }
            ClaimKind::Shared(mut claim) => {
                let ttl = entry.expires_at.saturating_duration_since(Instant::now());
                let token = claim.token.take();
                // A failed store only costs later hits; the response is served.
                let _ = claim
                    .store
                    .put(&claim.key, &encode(&entry), ttl, token.as_deref(), None);
            }
        }
    }
}

/// Longest a fill lock is held in the shared store: a holder that dies
/// stalls identical misses elsewhere for at most this long.
pub const SHARED_FILL_LOCK: Duration = Duration::from_secs(15);

/// How often a lookup waiting on another process's fill asks again.
const SHARED_POLL: Duration = Duration::from_millis(20);

pub enum Lookup<'a> {
    Hit(Arc<CachedResponse>),
    Miss(Claim<'a>),
}

pub struct ResponseCache {
    inner: Inner,
    max_bytes: u64,
    /// Where entries live instead of `inner`, with shared state.
    shared: Option<Arc<dyn CacheStore>>,
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
            shared: None,
        }
    }

    /// Keeps entries in `store` (shared by many gateways) instead of memory.
    pub fn with_shared(mut self, store: Option<Arc<dyn CacheStore>>) -> ResponseCache {
        self.shared = store;
        self
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
        if let Some(store) = &self.shared {
            return lookup_shared(&**store, key, state);
        }
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
                GuardResult::Guard(guard) => {
                    return Ok(Lookup::Miss(Claim {
                        kind: ClaimKind::Local(guard),
                    }));
                }
                GuardResult::Timeout => {}
            }
        }
    }
}

/// A lookup in the shared store: the entry, or the fill lock, or (while
/// another process fills it) asking again until one of those.
fn lookup_shared<'a>(
    store: &'a dyn CacheStore,
    key: &CacheKey,
    state: &IoState,
) -> Result<Lookup<'a>> {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    loop {
        if state.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        let probe = store
            .probe(&hex, SHARED_FILL_LOCK, None)
            .map_err(|e| Error::new(ErrorKind::Connect, format!("shared cache: {e}")))?;
        let token = match probe {
            CacheProbe::Hit { value, ttl } => match decode(&value, ttl) {
                Some(entry) => return Ok(Lookup::Hit(Arc::new(entry))),
                // Unreadable (another version wrote it): refill it.
                None => None,
            },
            CacheProbe::Claimed { token } => token,
            CacheProbe::Busy => {
                std::thread::sleep(SHARED_POLL);
                continue;
            }
        };
        return Ok(Lookup::Miss(Claim {
            kind: ClaimKind::Shared(SharedClaim {
                store,
                key: hex,
                token,
            }),
        }));
    }
}

const ENTRY_MAGIC: &[u8] = b"aigw-entry-v1\0";

/// An entry as bytes for the shared store: status, step, usage, headers
/// and the body, each length-prefixed.
fn encode(entry: &CachedResponse) -> Vec<u8> {
    let r = &entry.response;
    let mut out = Vec::with_capacity(entry.bytes as usize + 64);
    out.extend_from_slice(ENTRY_MAGIC);
    out.extend_from_slice(&r.status.to_be_bytes());
    out.extend_from_slice(&(r.step as u64).to_be_bytes());
    for tokens in [entry.usage.tokens_in, entry.usage.tokens_out] {
        out.push(u8::from(tokens.is_some()));
        out.extend_from_slice(&tokens.unwrap_or(0).to_be_bytes());
    }
    out.extend_from_slice(&(r.headers.len() as u32).to_be_bytes());
    for (n, v) in &r.headers {
        for part in [n, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out.extend_from_slice(&(r.body.len() as u64).to_be_bytes());
    out.extend_from_slice(&r.body);
    out
}

/// The entry back from its bytes; `None` if they are not one.
fn decode(bytes: &[u8], ttl: Duration) -> Option<CachedResponse> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Some(head)
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
        }
        fn text(&mut self) -> Option<&'a str> {
            let n = self.u32()? as usize;
            std::str::from_utf8(self.take(n)?).ok()
        }
    }
    let mut r = Reader(bytes);
    if r.take(ENTRY_MAGIC.len())? != ENTRY_MAGIC {
        return None;
    }
    let status = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    let step = r.u64()? as usize;
    let mut tokens = [None, None];
    for t in &mut tokens {
        let present = r.take(1)?[0] == 1;
        let n = r.u64()?;
        *t = present.then_some(n);
    }
    let count = r.u32()? as usize;
    let mut headers = HeaderList::with_capacity(count.min(256), 0);
    for _ in 0..count {
        let name = r.text()?;
        headers.push(name, r.text()?);
    }
    let body_len = r.u64()? as usize;
    let body = r.take(body_len)?.to_vec();
    if !r.0.is_empty() {
        return None;
    }
    let response = Response {
        status,
        headers,
        body,
        step,
    };
    let usage = Usage {
        tokens_in: tokens[0],
        tokens_out: tokens[1],
    };
    Some(CachedResponse::new(response, ttl, usage))
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
        .filter(|(n, _)| crate::http::headers::is_secret(n))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::io_scope::IoScope;

    fn response(body_len: usize) -> Response {
        Response {
            status: 200,
            headers: HeaderList::new(),
            body: vec![b'x'; body_len],
            step: 0,
        }
    }

    use crate::http::headers::owned as h;

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
        // Expiry without sleeping: an entry whose TTL has run out (zero) is
        // a miss, and the key can be claimed again.
        let Lookup::Miss(claim) = cache.lookup(&key, scope.state()).unwrap() else {
            panic!("hit")
        };
        claim.fulfil(CachedResponse::new(
            response(10),
            Duration::ZERO,
            Usage::default(),
        ));
        let Lookup::Miss(claim) = cache.lookup(&key, scope.state()).unwrap() else {
            panic!("expired entry served")
        };
        claim.fulfil(CachedResponse::new(
            response(10),
            Duration::from_secs(60),
            Usage::default(),
        ));
        assert!(matches!(
            cache.lookup(&key, scope.state()).unwrap(),
            Lookup::Hit(_)
        ));

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
    fn shared_entries_round_trip_and_reject_garbage() {
        let entry = CachedResponse::new(
            Response {
                status: 201,
                headers: h(&[("content-type", "text/event-stream"), ("x-é", "v")])
                    .into_iter()
                    .collect(),
                body: b"data: {}\n\n".to_vec(),
                step: 2,
            },
            Duration::from_secs(60),
            Usage {
                tokens_in: Some(7),
                tokens_out: None,
            },
        );
        let back = decode(&encode(&entry), Duration::from_secs(5)).unwrap();
        assert_eq!(back.response.status, 201);
        assert_eq!(back.response.step, 2);
        assert_eq!(back.response.headers, entry.response.headers);
        assert_eq!(back.response.body, entry.response.body);
        assert_eq!(back.usage, entry.usage);
        let bytes = encode(&entry);
        // A cut entry is refused, not served short.
        assert!(decode(&bytes[..bytes.len() - 1], Duration::ZERO).is_none());
        assert!(decode(&bytes[..20], Duration::ZERO).is_none());
        assert!(decode(b"not an entry", Duration::ZERO).is_none());
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
