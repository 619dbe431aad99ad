//! Request logs: one record per request, kept in a ring buffer and handed to
//! an optional callback.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One attempt of a request: which step, what happened, how long it took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptRecord {
    pub step: usize,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// A request's log record. Field names follow the hosted gateway's logs.
/// Holds no credentials: no request headers are recorded, and error texts
/// never quote header values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogRecord {
    pub id: String,
    pub created_at: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub path: String,
    pub step: Option<usize>,
    pub status_code: Option<u16>,
    pub success: bool,
    pub cached: bool,
    pub duration_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub cost: Option<f64>,
    pub metadata: Option<Map<String, Value>>,
    pub event_id: Option<String>,
    pub stream: bool,
    pub request_size: usize,
    pub response_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why shared state (Redis) could not be used for this request, when
    /// it was served without it (`fail_open`) or refused (`fail_closed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_state_error: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    /// The dynamic route that planned the call (`dynamic/<route>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The route's element ids taken, in order: why the call went where it went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_elements: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// Makes sortable, ULID-like ids: 48 bits of milliseconds then 80 random
/// bits, in Crockford base32 (26 characters). Ids made in the same
/// millisecond by one gateway increase, so sorting ids sorts by creation.
///
/// The random bits come from a SplitMix64 generator seeded once from the
/// OS: ids must be unique, not unguessable, and a getrandom(2) call per
/// request showed up in profiles.
#[derive(Debug)]
pub struct IdMaker {
    state: Mutex<IdState>,
}

#[derive(Debug)]
struct IdState {
    last_ms: u64,
    last_rand: u128,
    rng: u64,
}

impl Default for IdMaker {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        // If the OS has no randomness source, fall back on the clock: ids
        // stay unique within the gateway either way (see `make`).
        let seed = match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        {
            Ok(()) => u64::from_le_bytes(seed),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
        };
        IdMaker {
            state: Mutex::new(IdState {
                last_ms: 0,
                last_rand: 0,
                rng: seed,
            }),
        }
    }
}

pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl IdMaker {
    pub fn make(&self, now: SystemTime) -> String {
        let ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64
            & ((1 << 48) - 1);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ms = ms.max(state.last_ms);
        let rand80 = if ms == state.last_ms {
            // Same millisecond (or a clock that stepped back): count up.
            (state.last_rand + 1) & ((1 << 80) - 1)
        } else {
            let high = splitmix64(&mut state.rng) as u128 & 0xFFFF;
            (high << 64) | splitmix64(&mut state.rng) as u128
        };
        state.last_ms = ms;
        state.last_rand = rand80;
        drop(state);
        let value: u128 = ((ms as u128) << 80) | rand80;
        (0..26)
            .map(|i| CROCKFORD[((value >> (125 - i * 5)) & 31) as usize] as char)
            .collect()
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-24T23:29:21.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Written digit by digit: `format!` with padding cost more than the
    // rest of a cache hit's log record (profiled).
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.clamp(0, 9999));
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, rem / 3600);
    put(14, 2, rem % 3600 / 60);
    put(17, 2, rem % 60);
    put(20, 3, i64::from(d.subsec_millis()));
    String::from_utf8_lossy(&out).into_owned()
}

/// Where records go, as the C side sees it: called with each record's JSON.
pub type LogCallback = dyn Fn(&str) + Send + Sync;

thread_local! {
    // Set while this thread runs a log callback, so replacing the callback
    // from inside one does not wait for itself.
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The records of one gateway: a ring of the most recent, and a callback.
pub struct LogStore {
    capacity: usize,
    ring: Mutex<VecDeque<Arc<LogRecord>>>,
    callback: RwLock<Option<Arc<LogCallback>>>,
    has_callback: AtomicBool,
    pub ids: IdMaker,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl LogStore {
    pub fn new(capacity: usize) -> LogStore {
        LogStore {
            capacity,
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            callback: RwLock::new(None),
            has_callback: AtomicBool::new(false),
            ids: IdMaker::default(),
        }
    }

    /// Replaces the callback (`None` removes it). When this returns, the old
    /// callback is not running on any thread and will not be called again,
    /// so its userdata may be released, unless this is called from inside
    /// a log callback (then that one call may still be finishing).
    pub fn set_callback(&self, callback: Option<Arc<LogCallback>>) {
        self.has_callback
            .store(callback.is_some(), Ordering::Release);
        let old = {
            let mut slot = self.callback.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *slot, callback)
        };
        if let Some(old) = old {
            if !IN_CALLBACK.with(|c| c.get()) {
                // Each caller of the old callback holds a clone of it.
                while Arc::strong_count(&old) > 1 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    /// Stores a record and hands it to the callback, on this thread.
    pub fn record(&self, record: LogRecord) {
        let record = Arc::new(record);
        if self.has_callback.load(Ordering::Acquire) {
            let callback = self
                .callback
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(callback) = callback {
                if let Ok(json) = serde_json::to_string(&*record) {
                    let was = IN_CALLBACK.with(|c| c.replace(true));
                    callback(&json);
                    IN_CALLBACK.with(|c| c.set(was));
                }
            }
        }
        if self.capacity == 0 {
            return;
        }
        // Ids are taken when requests start, records arrive when they end:
        // keep the ring in id (start) order, so "oldest first" holds even
        // when requests overlap. Arrivals are only slightly out of order, so
        // the search from the back is short.
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == self.capacity {
            if ring.front().is_some_and(|oldest| oldest.id > record.id) {
                return; // older than everything kept
            }
            ring.pop_front();
        }
        let at = ring
            .iter()
            .rposition(|r| r.id <= record.id)
            .map_or(0, |i| i + 1);
        ring.insert(at, record);
    }

    /// The stored records that match `filter`, oldest first, as a JSON array.
    pub fn query(&self, filter: &LogFilter) -> String {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut matching: Vec<Arc<LogRecord>> =
            ring.iter().filter(|r| filter.matches(r)).cloned().collect();
        drop(ring);
        if let Some(limit) = filter.limit {
            let skip = matching.len().saturating_sub(limit);
            matching.drain(..skip);
        }
        let records: Vec<&LogRecord> = matching.iter().map(|r| &**r).collect();
        serde_json::to_string(&records).unwrap_or_else(|_| "[]".into())
    }
}

/// Selects records: every given field must match; `limit` keeps the newest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub success: Option<bool>,
    pub cached: Option<bool>,
    pub event_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub limit: Option<usize>,
}

impl LogFilter {
    /// Parses a filter: `{"provider":..,"model":..,"success":bool,
    /// "cached":bool,"event_id":..,"metadata":{"k":v},"limit":n}`. NULL/empty
    /// text selects everything.
    pub fn parse(text: Option<&str>) -> Result<LogFilter> {
        let text = text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Ok(LogFilter::default());
        }
        let bad = |m: String| Error::invalid_argument(format!("log filter: {m}"));
        let doc: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let mut filter = LogFilter::default();
        for (key, value) in doc {
            let string = |v: Value| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad(format!("{key} must be a string"))),
            };
            let boolean = |v: Value| {
                v.as_bool()
                    .ok_or_else(|| bad(format!("{key} must be true or false")))
            };
            match key.as_str() {
                "provider" => filter.provider = Some(string(value)?),
                "model" => filter.model = Some(string(value)?),
                "event_id" => filter.event_id = Some(string(value)?),
                "success" => filter.success = Some(boolean(value)?),
                "cached" => filter.cached = Some(boolean(value)?),
                "metadata" => match value {
                    Value::Object(m) => filter.metadata = m,
                    _ => return Err(bad("metadata must be an object".into())),
                },
                "limit" => {
                    filter.limit = Some(
                        value
                            .as_u64()
                            .ok_or_else(|| bad("limit must be a non-negative integer".into()))?
                            as usize,
                    )
                }
                other => {
                    return Err(bad(format!(
                        "unknown key {other:?} (expected provider, model, success, cached, event_id, metadata, limit)"
                    )));
                }
            }
        }
        Ok(filter)
    }

    pub fn matches(&self, r: &LogRecord) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        eq(&self.provider, &r.provider)
            && eq(&self.model, &r.model)
            && eq(&self.event_id, &r.event_id)
            && self.success.is_none_or(|s| s == r.success)
            && self.cached.is_none_or(|c| c == r.cached)
            && self
                .metadata
                .iter()
                .all(|(k, v)| r.metadata.as_ref().and_then(|m| m.get(k)) == Some(v))
    }
}

/// A request body fit for a log record: Universal steps' `authorization`
/// and credential headers are replaced by "[REDACTED]". Other bodies are kept
/// as text (lossily, if not UTF-8).
///
/// The body is read with the Universal parser's own lenient reading (steps
/// as raw JSON, members in order, `query` never parsed), so whatever the
/// gateway accepted can be redacted. A JSON-looking body that cannot be read
/// that way is left out rather than logged raw: it could hold credentials
/// in places a stricter parser cannot reach.
pub fn redact_body(body: &[u8]) -> String {
    const OMITTED: &str = "[request body omitted: it could not be read for redaction]";
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[' | b'{') => {}
        _ => return String::from_utf8_lossy(body).into_owned(),
    }
    match redact_steps(body) {
        Some(Some(redacted)) => redacted,
        Some(None) => String::from_utf8_lossy(body).into_owned(),
        None => OMITTED.into(),
    }
}

/// `None`: unreadable; `Some(None)`: nothing to redact.
fn redact_steps(body: &[u8]) -> Option<Option<String>> {
    use serde_json::value::RawValue;
    let one_step = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let items: Vec<&RawValue> = if one_step {
        vec![serde_json::from_slice(body).ok()?]
    } else {
        serde_json::from_slice(body).ok()?
    };
    let mut changed = false;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !item.get().starts_with('{') {
            out.push(item.get().to_string());
            continue;
        }
        let members = crate::json::object_fields(item).ok()?;
        let mut fields = Vec::with_capacity(members.len());
        for (key, raw) in members {
            let value = match key.as_str() {
                "authorization" => {
                    changed = true;
                    "\"[REDACTED]\"".to_string()
                }
                "headers" if raw.get().starts_with('{') => {
                    let headers = crate::json::object_fields(raw).ok()?;
                    let mut kept = Vec::with_capacity(headers.len());
                    for (name, value) in headers {
                        let value = if is_credential_header(&name) {
                            changed = true;
                            "\"[REDACTED]\""
                        } else {
                            value.get()
                        };
                        kept.push(format!("{}:{value}", Value::String(name)));
                    }
                    format!("{{{}}}", kept.join(","))
                }
                _ => raw.get().to_string(),
            };
            fields.push(format!("{}:{value}", Value::String(key)));
        }
        out.push(format!("{{{}}}", fields.join(",")));
    }
    if !changed {
        return Some(None);
    }
    Some(Some(if one_step {
        out.concat()
    } else {
        format!("[{}]", out.join(","))
    }))
}

/// Header names whose values are secrets, by name or by the words in it.
fn is_credential_header(name: &str) -> bool {
    if crate::http::headers::is_secret(name) {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    lower.contains("token")
        || lower.contains("secret")
        || lower.contains("key")
        || lower == "cookie"
}

/// A gateway path fit for a log record: the values of credential query
/// parameters (`?key=` as Google AI Studio takes it, `api_key`, `token`,
/// `sig`, ...) become "[REDACTED]"; the rest of the query is kept, so a
/// record still shows what was asked for.
pub fn redact_path(path: &str) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let mut out = String::with_capacity(path.len());
    out.push_str(before);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        if pair.len() > name.len() && is_credential_param(name) {
            out.push_str(name);
            out.push_str("=[REDACTED]");
        } else {
            out.push_str(pair);
        }
    }
    out
}

/// Query parameters that carry credentials, by name (case-insensitive, with
/// `%5F` for `_` and `%2D` for `-` read as written out).
fn is_credential_param(name: &str) -> bool {
    let lower = name
        .to_ascii_lowercase()
        .replace("%5f", "_")
        .replace("%2d", "-");
    matches!(
        lower.as_str(),
        "key" | "sig" | "signature" | "auth" | "code" | "password" | "pass" | "pwd"
    ) || lower.contains("key")
        || lower.contains("token")
        || lower.contains("secret")
        || lower.contains("auth")
        || lower.contains("password")
        || lower.contains("credential")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_unique() {
        let maker = IdMaker::default();
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let ids: Vec<String> = (0..1000).map(|_| maker.make(t)).collect();
        let later = maker.make(t + Duration::from_millis(1));
        assert!(
            ids.iter()
                .all(|id| id.len() == 26 && id.bytes().all(|b| CROCKFORD.contains(&b)))
        );
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "same-millisecond ids increase");
        assert!(later > ids[999]);
        // A clock that steps back does not make ids go backwards.
        assert!(maker.make(t - Duration::from_secs(5)) > later);
        assert!(ids[0].starts_with("01H"), "{}", ids[0]); // 2023's ULIDs start 01H
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_563_557_123)),
            "2026-11-24T23:39:17.123Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn universal_credentials_are_redacted() {
        let body = br#"[{"provider":"openai","endpoint":"x","authorization":"Bearer sk-SECRET1",
            "headers":{"x-api-key":"SECRET2","X-Goog-Api-Key":"SECRET3","x-trace":"keep"},"query":{"a":1}}]"#;
        let text = redact_body(body);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("keep") && text.contains("[REDACTED]"),
            "{text}"
        );
        assert_eq!(redact_body(br#"{"model":"m"}"#), r#"{"model":"m"}"#);
        assert_eq!(redact_body(b"\xff"), "\u{FFFD}");
    }

    fn record(provider: &str, success: bool, meta: &str) -> LogRecord {
        LogRecord {
            id: String::new(),
            created_at: String::new(),
            provider: Some(provider.into()),
            model: Some("m".into()),
            path: "p".into(),
            step: Some(0),
            status_code: Some(200),
            success,
            cached: false,
            duration_ms: 1.0,
            ttfb_ms: None,
            tokens_in: None,
            tokens_out: None,
            cost: None,
            metadata: Some(serde_json::from_str(meta).unwrap()),
            event_id: None,
            stream: false,
            request_size: 0,
            response_size: 0,
            error: None,
            shared_state_error: None,
            attempts: vec![],
            route: None,
            route_elements: vec![],
            request_body: None,
            response_body: None,
        }
    }

    #[test]
    fn ring_keeps_start_order_when_requests_end_out_of_order() {
        let store = LogStore::new(3);
        let with_id = |id: &str| LogRecord {
            id: id.into(),
            ..record("a", true, "{}")
        };
        for id in ["02", "01", "04", "03", "00", "05"] {
            store.record(with_id(id));
        }
        let kept: Vec<Value> = serde_json::from_str(&store.query(&LogFilter::default())).unwrap();
        let ids: Vec<&str> = kept.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["03", "04", "05"]);
    }

    #[test]
    fn ring_filters_and_limit() {
        let store = LogStore::new(3);
        for (i, p) in ["a", "b", "a", "a"].iter().enumerate() {
            store.record(record(p, i % 2 == 0, &format!(r#"{{"i":{i}}}"#)));
        }
        let all: Vec<Value> = serde_json::from_str(&store.query(&LogFilter::default())).unwrap();
        assert_eq!(all.len(), 3, "capacity keeps the newest");
        assert_eq!(all[0]["metadata"]["i"], 1);
        let f = LogFilter::parse(Some(r#"{"provider":"a","limit":1}"#)).unwrap();
        let some: Vec<Value> = serde_json::from_str(&store.query(&f)).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0]["metadata"]["i"], 3);
        let f = LogFilter::parse(Some(r#"{"metadata":{"i":2},"success":true}"#)).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<Value>>(&store.query(&f))
                .unwrap()
                .len(),
            1
        );
        assert!(LogFilter::parse(Some(r#"{"provder":"a"}"#)).is_err());
        assert!(LogFilter::parse(Some(r#"{"limit":-1}"#)).is_err());
        assert!(LogFilter::parse(Some("[")).is_err());
    }

    #[test]
    fn callback_replacement_waits_for_running_callbacks() {
        let store = Arc::new(LogStore::new(0));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        store.set_callback(Some(Arc::new(move |_json: &str| {
            std::thread::sleep(Duration::from_millis(100));
            c.fetch_add(1, Ordering::SeqCst);
        })));
        let s = store.clone();
        let t = std::thread::spawn(move || s.record(record("a", true, "{}")));
        std::thread::sleep(Duration::from_millis(30));
        store.set_callback(None);
        // The running callback finished before set_callback returned.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        t.join().unwrap();
        store.record(record("a", true, "{}"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
