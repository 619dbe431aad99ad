//! Counters, cool-downs and cache entries in Redis, shared by every gateway
//! that names the same server and key prefix.
//!
//! Each decision is one Lua script run atomically on the server, timed by
//! the server's clock (`TIME`), so N processes on N machines count exactly
//! and agree on window edges whatever their own clocks say. Every key
//! carries the prefix and an expiry.
//!
//! Connections: a small pool of our own (`Mutex<Vec<Connection>>`) rather
//! than r2d2: r2d2 brings a scheduler thread and its own blocking checkout
//! timeout, while a blocking core needs only "take an idle connection or
//! open one within this deadline", with a short back-off after a failed
//! connect so a dead Redis costs one connect timeout per back-off period,
//! not one per request. A connection that saw an error is dropped, never
//! reused; the next call opens a fresh one (so a restarted Redis is picked
//! up without a restart of ours).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError, Script, Value};

use super::shared::SharedStateConfig;
use super::{
    Admission, CacheProbe, CacheStore, CooldownStore, CounterStore, StoreError, Until, Window,
};
use crate::store::Technique;

/// Idle connections kept for reuse; more may be open at once under load.
const MAX_IDLE: usize = 16;

/// How long a failure count with no new failure is kept (as in memory).
const FAILURE_MEMORY_MS: u64 = 3_600_000;

/// Upper bounds of the Redis round-trip latency histogram, in seconds.
pub const REDIS_LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Round trips, errors and latency of one gateway's Redis traffic.
#[derive(Debug)]
pub struct RedisStats {
    pub round_trips: AtomicU64,
    pub errors: AtomicU64,
    pub connects: AtomicU64,
    latency_ns: AtomicU64,
    /// Counts per bucket (not cumulative), plus one for +Inf.
    buckets: Vec<AtomicU64>,
}

impl Default for RedisStats {
    fn default() -> RedisStats {
        RedisStats {
            round_trips: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            buckets: (0..=REDIS_LATENCY_BUCKETS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl RedisStats {
    fn observe(&self, took: Duration, ok: bool) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let i = REDIS_LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(REDIS_LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn latency_sum_seconds(&self) -> f64 {
        self.latency_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Cumulative counts per bucket, the last one being +Inf.
    pub fn cumulative_buckets(&self) -> Vec<u64> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect()
    }
}

/// When connecting last failed, and what it said, for the back-off.
#[derive(Debug, Default)]
struct Down {
    until: Option<Instant>,
    message: String,
}

/// One Redis server used as the store of many gateways.
pub struct RedisStore {
    client: redis::Client,
    /// `host:port/db`, never the credentials: what messages and Debug show.
    address: String,
    /// Credentials from the URL, scrubbed from any error text as a last guard.
    secrets: Vec<String>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    backoff: Duration,
    idle: Mutex<Vec<Connection>>,
    down: Mutex<Down>,
    stats: std::sync::Arc<RedisStats>,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .finish()
    }
}

struct Scripts {
    fixed: Script,
    sliding: Script,
    fail: Script,
    probe: Script,
    put: Script,
    release: Script,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Formats an amount so Lua's `tonumber` reads back the same double.
fn amount_arg(v: f64) -> String {
    format!("{v:?}")
}

fn parse_amount(text: &str) -> Result<f64, StoreError> {
    text.parse::<f64>()
        .map_err(|_| StoreError::new(format!("Redis returned a malformed total {text:?}")))
}

impl RedisStore {
    /// Sets up the store; connects lazily, on first use.
    pub fn new(config: &SharedStateConfig) -> Result<RedisStore, String> {
        let client = redis::Client::open(config.redis_url.as_str())
            .map_err(|_| "shared_state.redis_url is not a valid Redis URL".to_string())?;
        let info = client.get_connection_info();
        let address = format!("{}/{}", info.addr(), info.redis_settings().db());
        let secrets = [
            info.redis_settings().username(),
            info.redis_settings().password(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
        Ok(RedisStore {
            client,
            address,
            secrets,
            prefix: config.key_prefix.clone(),
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            backoff: config.reconnect_backoff,
            idle: Mutex::new(Vec::new()),
            down: Mutex::new(Down::default()),
            stats: std::sync::Arc::new(RedisStats::default()),
            scripts: Scripts {
                fixed: Script::new(FIXED_WINDOW),
                sliding: Script::new(SLIDING_WINDOW),
                fail: Script::new(RECORD_FAILURE),
                probe: Script::new(CACHE_PROBE),
                put: Script::new(CACHE_PUT),
                release: Script::new(CACHE_RELEASE),
            },
        })
    }

    /// `host:port/db` of the server.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn stats(&self) -> std::sync::Arc<RedisStats> {
        self.stats.clone()
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// An error message naming the server, with any credential removed.
    fn error(&self, what: &str, detail: &str) -> StoreError {
        let mut detail = detail.to_string();
        for s in &self.secrets {
            detail = detail.replace(s.as_str(), "***");
        }
        StoreError::new(format!("Redis at {}: {what}: {detail}", self.address))
    }

    fn redis_error(&self, what: &str, e: &RedisError) -> StoreError {
        let detail = if e.is_timeout() {
            "timed out".to_string()
        } else {
            e.to_string()
        };
        self.error(what, &detail)
    }

    /// How long the next step may take: its own timeout, cut to the call's
    /// deadline. Fails if the deadline has passed.
    fn budget(&self, timeout: Duration, until: Until, what: &str) -> Result<Duration, StoreError> {
        let mut budget = timeout;
        if let Some(until) = until {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.error(what, "the call's deadline has passed"));
            }
            budget = budget.min(left);
        }
        // Zero means "block forever" to the socket: never pass it.
        Ok(budget.max(Duration::from_millis(1)))
    }

    /// An idle connection (and whether it was reused), or a new one.
    fn checkout(&self, until: Until, what: &str) -> Result<(Connection, bool), StoreError> {
        if let Some(con) = lock(&self.idle).pop() {
            return Ok((con, true));
        }
        {
            let down = lock(&self.down);
            if let Some(t) = down.until {
                if Instant::now() < t {
                    return Err(self.error(what, &format!("{} (retrying shortly)", down.message)));
                }
            }
        }
        let timeout = self.budget(self.connect_timeout, until, what)?;
        let started = Instant::now();
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        match self.client.get_connection_with_timeout(timeout) {
            Ok(con) => {
                *lock(&self.down) = Down::default();
                Ok((con, false))
            }
            Err(e) => {
                self.stats.observe(started.elapsed(), false);
                let detail = if e.is_timeout() {
                    format!("connect timed out ({} ms)", timeout.as_millis())
                } else {
                    format!("cannot connect: {e}")
                };
                let err = self.error(what, &detail);
                let mut down = lock(&self.down);
                down.until = Some(Instant::now() + self.backoff);
                down.message = err
                    .message
                    .split_once(": ")
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or_default();
                drop(down);
                Err(err)
            }
        }
    }

    fn checkin(&self, con: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }

    /// One round trip, bounded by the command timeout and `until`. A reused
    /// connection that turns out dead (Redis restarted) is replaced once.
    fn call<T>(
        &self,
        until: Until,
        what: &str,
        f: impl Fn(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let (mut con, reused) = self.checkout(until, what)?;
            let timeout = self.budget(self.command_timeout, until, what)?;
            let _ = con.set_read_timeout(Some(timeout));
            let _ = con.set_write_timeout(Some(timeout));
            let started = Instant::now();
            let result = f(&mut con);
            self.stats.observe(started.elapsed(), result.is_ok());
            match result {
                Ok(v) => {
                    self.checkin(con);
                    return Ok(v);
                }
                Err(e) => {
                    let stale = reused
                        && !retried
                        && (e.is_connection_dropped() || e.is_connection_refusal());
                    if stale {
                        // The old connection died with the server: drop every
                        // idle one too, they are as dead.
                        lock(&self.idle).clear();
                        retried = true;
                        continue;
                    }
                    return Err(self.redis_error(what, &e));
                }
            }
        }
    }

    fn window_keys(&self, key: &str, window: Window) -> (String, String) {
        let name = format!(
            "{key}:{}:{}",
            window.technique,
            window.interval.as_millis().max(1)
        );
        (self.key("counter", &name), self.key("counter-total", &name))
    }

    /// Runs a window script: `mode` is admit, charge or total.
    fn window(
        &self,
        key: &str,
        window: Window,
        mode: &str,
        limit: f64,
        amount: f64,
        until: Until,
    ) -> Result<(String, f64, Duration), StoreError> {
        let (main, total_key) = self.window_keys(key, window);
        let interval_ms = window.interval.as_millis().max(1) as u64;
        let script = match window.technique {
            Technique::Fixed => &self.scripts.fixed,
            Technique::Sliding => &self.scripts.sliding,
        };
        let what = "counter";
        let (status, total, wait_us): (String, String, i64) = self.call(until, what, |con| {
            script
                .key(&main)
                .key(&total_key)
                .arg(interval_ms)
                .arg(mode)
                .arg(amount_arg(limit))
                .arg(amount_arg(amount))
                .invoke(con)
        })?;
        Ok((
            status,
            parse_amount(&total)?,
            Duration::from_micros(wait_us.max(0) as u64),
        ))
    }
}

impl CounterStore for RedisStore {
    fn admit(
        &self,
        key: &str,
        window: Window,
        limit: f64,
        amount: f64,
        until: Until,
    ) -> Result<Admission, StoreError> {
        let (status, _, wait) = self.window(key, window, "admit", limit, amount, until)?;
        Ok(if status == "ok" {
            Admission::Admitted
        } else {
            Admission::Refused { retry_in: wait }
        })
    }

    fn charge(
        &self,
        key: &str,
        window: Window,
        amount: f64,
        until: Until,
    ) -> Result<(), StoreError> {
        self.window(key, window, "charge", 0.0, amount, until)
            .map(|_| ())
    }

    fn total(
        &self,
        key: &str,
        window: Window,
        until: Until,
    ) -> Result<(f64, Duration), StoreError> {
        let (_, total, next) = self.window(key, window, "total", 0.0, 0.0, until)?;
        Ok((total, next))
    }
}

impl CooldownStore for RedisStore {
    fn cooling(&self, target: &str, until: Until) -> Result<Option<Duration>, StoreError> {
        let key = self.key("cooldown", target);
        let ms: i64 = self.call(until, "cooldown", |con| {
            redis::cmd("PTTL").arg(&key).query(con)
        })?;
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    fn record_failure(
        &self,
        target: &str,
        after_failures: u32,
        cool_for: Duration,
        until: Until,
    ) -> Result<bool, StoreError> {
        let (cool, fails) = (self.key("cooldown", target), self.key("failures", target));
        let started: i64 = self.call(until, "cooldown", |con| {
            self.scripts
                .fail
                .key(&cool)
                .key(&fails)
                .arg(after_failures.max(1))
                .arg((cool_for.as_millis() as u64).max(1))
                .arg(FAILURE_MEMORY_MS)
                .invoke(con)
        })?;
        Ok(started == 1)
    }

    fn record_success(&self, target: &str, until: Until) -> Result<(), StoreError> {
        let (cool, fails) = (self.key("cooldown", target), self.key("failures", target));
        self.call(until, "cooldown", |con| {
            redis::cmd("DEL").arg(&fails).arg(&cool).query::<i64>(con)
        })
        .map(|_| ())
    }
}

impl CacheStore for RedisStore {
    fn probe(&self, key: &str, lock_for: Duration, until: Until) -> Result<CacheProbe, StoreError> {
        let (entry, lock_key) = (self.key("cache", key), self.key("cache-lock", key));
        let token = new_token();
        let reply: Vec<Value> = self.call(until, "cache", |con| {
            self.scripts
                .probe
                .key(&entry)
                .key(&lock_key)
                .arg(&token)
                .arg((lock_for.as_millis() as u64).max(1))
                .invoke(con)
        })?;
        match reply.as_slice() {
            [Value::Int(1), Value::BulkString(value), Value::Int(ttl)] => Ok(CacheProbe::Hit {
                value: value.clone(),
                ttl: Duration::from_millis((*ttl).max(0) as u64),
            }),
            [Value::Int(2)] => Ok(CacheProbe::Claimed { token: Some(token) }),
            [Value::Int(3)] => Ok(CacheProbe::Busy),
            _ => Err(self.error("cache", "unexpected reply to the lookup script")),
        }
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: Option<&str>,
        until: Until,
    ) -> Result<(), StoreError> {
        let (entry, lock_key) = (self.key("cache", key), self.key("cache-lock", key));
        self.call(until, "cache", |con| {
            self.scripts
                .put
                .key(&entry)
                .key(&lock_key)
                .arg(value)
                .arg((ttl.as_millis() as u64).max(1))
                .arg(token.unwrap_or(""))
                .invoke::<i64>(con)
        })
        .map(|_| ())
    }

    fn release(&self, key: &str, token: &str, until: Until) -> Result<(), StoreError> {
        let lock_key = self.key("cache-lock", key);
        self.call(until, "cache", |con| {
            self.scripts
                .release
                .key(&lock_key)
                .arg(token)
                .invoke::<i64>(con)
        })
        .map(|_| ())
    }
}

/// A lock owner's token: random, so only its owner releases a lock.
fn new_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// The scripts. Times are the server's, in microseconds; amounts travel as
// text and totals come back as "%.17g" text (a Lua number returned as such
// would be truncated to an integer). Counter keys live one second past
// their window, so a key never lapses while a decision still needs it.

/// Fixed windows aligned to multiples of the interval since the epoch.
/// KEYS[1]: hash {s = window start, t = total}. ARGV: interval ms, mode,
/// limit, amount. Returns {status, total, wait µs}.
const FIXED_WINDOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1]) * 1000
local mode, limit, amount = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local start = now - (now % interval)
local cur = redis.call('HMGET', KEYS[1], 's', 't')
local total = 0
if tonumber(cur[1]) == start then total = tonumber(cur[2]) or 0 end
local left = start + interval - now
if mode == 'total' then
  if total > 0 then return {'total', string.format('%.17g', total), left} end
  return {'total', '0', 0}
end
if mode == 'admit' and total + amount > limit then
  return {'refused', string.format('%.17g', total), left}
end
if tonumber(cur[1]) ~= start then
  redis.call('HSET', KEYS[1], 's', string.format('%d', start), 't', '0')
end
local new = redis.call('HINCRBYFLOAT', KEYS[1], 't', ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(left / 1000) + 1000)
return {'ok', new, 0}
"#;

/// The exact trailing window. KEYS[1]: sorted set of "time:seq:amount"
/// scored by time; KEYS[2]: hash {t = running total, n = sequence}.
/// ARGV as for the fixed window.
const SLIDING_WINDOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1]) * 1000
local mode, limit, amount = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function amount_of(m) return tonumber(string.match(m, ':([^:]+)$')) end
local raw = redis.call('HGET', KEYS[2], 't')
local total = 0
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - interval)
if raw then
  total = tonumber(raw)
  for _, m in ipairs(gone) do total = total - amount_of(m) end
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval) end
local count = redis.call('ZCARD', KEYS[1])
if count == 0 then
  total = 0
elseif not raw then
  -- The total was lost (evicted): rebuild it from the entries.
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do total = total + amount_of(m) end
end
if #gone > 0 or not raw then redis.call('HSET', KEYS[2], 't', string.format('%.17g', total)) end
if mode == 'total' then
  if count == 0 then return {'total', '0', 0} end
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'total', string.format('%.17g', total), tonumber(first[2]) + interval - now}
end
if mode == 'admit' and total + amount > limit then
  -- Amounts leave oldest first: find the one whose leaving makes room.
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local rest, wait = total, 0
  for i = 1, #all, 2 do
    rest = rest - amount_of(all[i])
    wait = tonumber(all[i + 1]) + interval - now
    if rest + amount <= limit then break end
  end
  return {'refused', string.format('%.17g', total), wait}
end
local seq = redis.call('HINCRBY', KEYS[2], 'n', 1)
redis.call('ZADD', KEYS[1], now, string.format('%d:%d:', now, seq) .. ARGV[4])
total = total + amount
redis.call('HSET', KEYS[2], 't', string.format('%.17g', total))
local life = math.ceil(interval / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], life)
redis.call('PEXPIRE', KEYS[2], life)
return {'ok', string.format('%.17g', total), 0}
"#;

/// KEYS[1]: the cool-down key (its TTL is the cool-down); KEYS[2]: the
/// failure count. ARGV: after_failures, cool-down ms, failure memory ms.
/// Returns 1 when this failure started a cool-down.
const RECORD_FAILURE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 0
end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if n >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// KEYS[1]: the entry; KEYS[2]: its fill lock. ARGV: token, lock ms.
/// Returns {1, entry, ttl ms}, {2} (lock taken: fill it) or {3} (another
/// caller is filling it).
const CACHE_PROBE: &str = r#"
local v = redis.call('GET', KEYS[1])
if v then return {1, v, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}
"#;

/// Stores the entry (last writer wins) and releases the lock if ours.
const CACHE_PUT: &str = r#"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"#;

const CACHE_RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;
