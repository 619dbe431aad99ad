//! Where counted state lives: the gateway rate limit, route budgets and
//! cooldowns keep their numbers in a [`CounterStore`] / [`CooldownStore`].
//! `memory.rs` keeps them in this process; `redis.rs` keeps them (and cache
//! entries, through [`CacheStore`]) in Redis for many processes, and
//! `shared.rs` holds its config and what a Redis failure turns into.
//! Policy code never changes with the store.
//!
//! May use: `error` and `config` only. Knows nothing of requests,
//! providers, policies or transports.

pub mod memory;
pub mod redis;
pub mod shared;

use std::fmt;
use std::time::{Duration, Instant};

pub use memory::MemoryStore;

/// How requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Technique {
    /// Windows aligned to multiples of the interval since the Unix epoch
    /// (a 60 s window starts at each whole minute); the count resets at
    /// each window's start.
    Fixed,
    /// The trailing interval before each request: exact, remembering the
    /// times of up to `limit` recent requests.
    Sliding,
}

impl std::fmt::Display for Technique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Technique::Fixed => "fixed",
            Technique::Sliding => "sliding",
        })
    }
}

/// How a counter's window is laid out in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub interval: Duration,
    pub technique: Technique,
}

/// What [`CounterStore::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Counted: the window's total now includes the amount.
    Admitted,
    /// Not counted: the window is full. `retry_in` is when, at the earliest,
    /// the same amount could fit (best estimate).
    Refused { retry_in: Duration },
}

/// A store round trip that did not complete (unreachable, slow, protocol).
/// The message names the store and never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The latest moment a store call may take: the call's own deadline, if
/// it has one. A store that does I/O bounds each round trip by it and by
/// its own timeout, whichever comes first.
pub type Until = Option<Instant>;

/// Counters in time windows, keyed by a caller-chosen string. Every method
/// is atomic with respect to every other caller of the same store (for a
/// shared store: every process using it), so N callers against a limit L
/// admit exactly L.
pub trait CounterStore: Send + Sync + fmt::Debug {
    /// Adds `amount` to `key`'s window if the window's total stays within
    /// `limit` afterwards; otherwise adds nothing and refuses.
    fn admit(
        &self,
        key: &str,
        window: Window,
        limit: f64,
        amount: f64,
        until: Until,
    ) -> Result<Admission, StoreError>;

    /// Adds `amount` whatever the total (spend charged once it is known).
    fn charge(
        &self,
        key: &str,
        window: Window,
        amount: f64,
        until: Until,
    ) -> Result<(), StoreError>;

    /// The window's total now, and when it will next drop (for a refusal's
    /// retry hint): `Duration::ZERO` when the window is empty.
    fn total(&self, key: &str, window: Window, until: Until)
    -> Result<(f64, Duration), StoreError>;
}

/// Consecutive-failure counts and cool-down periods, keyed by target
/// (provider and model).
pub trait CooldownStore: Send + Sync + fmt::Debug {
    /// How much longer `target` is cooling down, if it is.
    fn cooling(&self, target: &str, until: Until) -> Result<Option<Duration>, StoreError>;

    /// Counts a failure; the `after_failures`-th in a row starts a cool-down
    /// of `cool_for` (and resets the count). Returns whether one started.
    fn record_failure(
        &self,
        target: &str,
        after_failures: u32,
        cool_for: Duration,
        until: Until,
    ) -> Result<bool, StoreError>;

    /// A success: the failure count starts again from zero.
    fn record_success(&self, target: &str, until: Until) -> Result<(), StoreError>;
}

/// What [`CacheStore::probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheProbe {
    /// A stored entry, and how much longer it lives.
    Hit { value: Vec<u8>, ttl: Duration },
    /// No entry: the caller fills it. `token` is the fill lock it holds (to
    /// pass to [`CacheStore::put`] or [`CacheStore::release`]); `None` when
    /// no lock was taken (the store could not be asked and fails open).
    Claimed { token: Option<String> },
    /// No entry, and another caller holds the fill lock: ask again shortly.
    Busy,
}

/// Cache entries (opaque bytes) shared by many gateways, keyed by the hex
/// cache key, with identical misses coalesced by a fill lock with expiry.
pub trait CacheStore: Send + Sync + fmt::Debug {
    /// The entry, or the fill lock (held for at most `lock_for`), or Busy.
    fn probe(&self, key: &str, lock_for: Duration, until: Until) -> Result<CacheProbe, StoreError>;

    /// Stores an entry for `ttl` (last writer wins) and releases the lock
    /// `token`, if given and still ours.
    fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: Option<&str>,
        until: Until,
    ) -> Result<(), StoreError>;

    /// Releases a fill lock without storing (the upstream call failed).
    fn release(&self, key: &str, token: &str, until: Until) -> Result<(), StoreError>;
}
