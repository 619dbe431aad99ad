//! Counters per provider and model, as JSON or Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::store::redis::{REDIS_LATENCY_BUCKETS, RedisStats};

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Clone, Default)]
struct Series {
    requests: u64,
    errors: u64,
    cache_hits: u64,
    tokens_in: u64,
    tokens_out: u64,
    cost: f64,
    /// Counts per bucket (not cumulative), plus one for +Inf.
    buckets: Vec<u64>,
    latency_sum: f64,
}

/// A counter's name, help text and how to read it from a series.
type Counter = (&'static str, &'static str, fn(&Series) -> f64);
/// A cooldown series' name, metric type, help text and how to read it
/// (from the series and the seconds it still cools down).
type CooldownMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CooldownSeries, f64) -> f64,
);

/// What one finished request adds.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub success: bool,
    pub cached: bool,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: f64,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// By provider, then model: a request's series is found from its
    /// names without allocating a key.
    series: Mutex<BTreeMap<String, BTreeMap<String, Series>>>,
    /// Redis traffic, with shared state.
    redis: OnceLock<Arc<RedisStats>>,
    /// Cooldowns seen by this gateway, per provider and model.
    cooldowns: Mutex<BTreeMap<(String, String), CooldownSeries>>,
}

#[derive(Debug, Clone, Default)]
struct CooldownSeries {
    /// Cooldowns this gateway started.
    started: u64,
    /// Steps skipped because their target was cooling down.
    skips: u64,
    /// The latest known end of its cooldown.
    until: Option<Instant>,
}

impl Metrics {
    /// Reports this Redis store's round trips too (once, at set-up).
    pub fn attach_redis(&self, stats: Arc<RedisStats>) {
        let _ = self.redis.set(stats);
    }

    /// `{"round_trips","errors","connects","latency":{"sum_seconds","count","buckets":[..]}}`
    fn redis_json(stats: &RedisStats) -> Value {
        let buckets: Vec<Value> = stats
            .cumulative_buckets()
            .into_iter()
            .enumerate()
            .map(|(i, count)| {
                let le = REDIS_LATENCY_BUCKETS
                    .get(i)
                    .map_or(json!("+Inf"), |b| json!(b));
                json!({"le": le, "count": count})
            })
            .collect();
        let round_trips = stats.round_trips.load(Ordering::Relaxed);
        json!({
            "round_trips": round_trips,
            "errors": stats.errors.load(Ordering::Relaxed),
            "connects": stats.connects.load(Ordering::Relaxed),
            "latency": {"sum_seconds": stats.latency_sum_seconds(), "count": round_trips, "buckets": buckets},
        })
    }

    fn redis_prometheus(stats: &RedisStats, out: &mut String) {
        for (name, help, value) in [
            (
                "aigw_redis_round_trips_total",
                "Round trips to the shared-state Redis (including failed ones).",
                stats.round_trips.load(Ordering::Relaxed),
            ),
            (
                "aigw_redis_errors_total",
                "Redis round trips and connects that failed.",
                stats.errors.load(Ordering::Relaxed),
            ),
            (
                "aigw_redis_connects_total",
                "Connections opened to Redis.",
                stats.connects.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "aigw_redis_round_trip_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time of one Redis round trip.\n# TYPE {name} histogram"
        );
        let buckets = stats.cumulative_buckets();
        for (i, count) in buckets.iter().enumerate() {
            let le = REDIS_LATENCY_BUCKETS
                .get(i)
                .map_or("+Inf".to_string(), |b| number(*b));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            number(stats.latency_sum_seconds()),
            buckets.last().copied().unwrap_or(0)
        );
    }

    pub fn observe(&self, o: Observation<'_>) {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains_key(o.provider) {
            all.insert(o.provider.to_string(), BTreeMap::new());
        }
        let models = all.get_mut(o.provider).expect("inserted above");
        if !models.contains_key(o.model) {
            let fresh = Series {
                buckets: vec![0; LATENCY_BUCKETS.len() + 1],
                ..Series::default()
            };
            models.insert(o.model.to_string(), fresh);
        }
        let s = models.get_mut(o.model).expect("inserted above");
        s.requests += 1;
        s.errors += u64::from(!o.success);
        s.cache_hits += u64::from(o.cached);
        s.tokens_in += o.tokens_in;
        s.tokens_out += o.tokens_out;
        s.cost += o.cost;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| o.seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        s.buckets[bucket] += 1;
        s.latency_sum += o.seconds;
    }

    /// A cooldown of `cool_for` started for `provider`/`model`.
    pub fn cooldown_started(&self, provider: &str, model: &str, cool_for: Duration) {
        self.with_cooldown(provider, model, |c| {
            c.started += 1;
            c.until = Some(Instant::now() + cool_for);
        });
    }

    /// A step was skipped: its target cools down for `left` more.
    pub fn cooldown_skipped(&self, provider: &str, model: &str, left: Duration) {
        self.with_cooldown(provider, model, |c| {
            c.skips += 1;
            c.until = Some(Instant::now() + left);
        });
    }

    fn with_cooldown(&self, provider: &str, model: &str, f: impl FnOnce(&mut CooldownSeries)) {
        let mut all = self.cooldowns.lock().unwrap_or_else(|e| e.into_inner());
        f(all
            .entry((provider.to_string(), model.to_string()))
            .or_default());
    }

    /// Cooldown series with the seconds each still cools down (0: not cooling).
    fn cooldown_snapshot(&self) -> Vec<((String, String), CooldownSeries, f64)> {
        let now = Instant::now();
        self.cooldowns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, c)| {
                let left = c
                    .until
                    .map_or(0.0, |u| u.saturating_duration_since(now).as_secs_f64());
                (k.clone(), c.clone(), left)
            })
            .collect()
    }

    fn snapshot(&self) -> BTreeMap<(String, String), Series> {
        let all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .flat_map(|(provider, models)| {
                models
                    .iter()
                    .map(|(model, s)| ((provider.clone(), model.clone()), s.clone()))
            })
            .collect()
    }

    /// `{"series":[{"provider","model","requests","errors","cache_hits",
    /// "tokens_in","tokens_out","cost","latency":{"sum_seconds","count",
    /// "buckets":[{"le":0.005,"count":n (cumulative)},...,{"le":"+Inf",..}]}}]}`
    pub fn to_json(&self) -> String {
        let series: Vec<Value> = self
            .snapshot()
            .into_iter()
            .map(|((provider, model), s)| {
                let mut cumulative = 0;
                let buckets: Vec<Value> = s
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        cumulative += n;
                        let le = LATENCY_BUCKETS.get(i).map_or(json!("+Inf"), |b| json!(b));
                        json!({"le": le, "count": cumulative})
                    })
                    .collect();
                json!({
                    "provider": provider, "model": model,
                    "requests": s.requests, "errors": s.errors, "cache_hits": s.cache_hits,
                    "tokens_in": s.tokens_in, "tokens_out": s.tokens_out, "cost": s.cost,
                    "latency": {"sum_seconds": s.latency_sum, "count": s.requests, "buckets": buckets},
                })
            })
            .collect();
        let cooldowns: Vec<Value> = self
            .cooldown_snapshot()
            .into_iter()
            .map(|((provider, model), c, left)| {
                json!({
                    "provider": provider, "model": model, "started": c.started,
                    "skips": c.skips, "cooling": left > 0.0, "cooling_seconds_left": left,
                })
            })
            .collect();
        match self.redis.get() {
            Some(stats) => json!({
                "series": series, "cooldowns": cooldowns, "redis": Metrics::redis_json(stats),
            }),
            None => json!({ "series": series, "cooldowns": cooldowns }),
        }
        .to_string()
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let snapshot = self.snapshot();
        let mut out = String::new();
        let counters: [Counter; 6] = [
            (
                "aigw_requests_total",
                "Requests sent through the gateway.",
                |s| s.requests as f64,
            ),
            (
                "aigw_errors_total",
                "Requests that ended without a 2xx response.",
                |s| s.errors as f64,
            ),
            (
                "aigw_cache_hits_total",
                "Requests served from the response cache.",
                |s| s.cache_hits as f64,
            ),
            (
                "aigw_tokens_in_total",
                "Input (prompt) tokens reported by providers.",
                |s| s.tokens_in as f64,
            ),
            (
                "aigw_tokens_out_total",
                "Output (completion) tokens reported by providers.",
                |s| s.tokens_out as f64,
            ),
            (
                "aigw_cost_usd_total",
                "Cost in US dollars, from prices or custom costs.",
                |s| s.cost,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((provider, model), s) in &snapshot {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(provider, model, None),
                    number(value(s))
                );
            }
        }
        let name = "aigw_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from the call to its end.\n# TYPE {name} histogram"
        );
        for ((provider, model), s) in &snapshot {
            let mut cumulative = 0;
            for (i, n) in s.buckets.iter().enumerate() {
                cumulative += n;
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or("+Inf".to_string(), |b| number(*b));
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {cumulative}",
                    labels(provider, model, Some(&le))
                );
            }
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                labels(provider, model, None),
                number(s.latency_sum)
            );
            let _ = writeln!(
                out,
                "{name}_count{} {}",
                labels(provider, model, None),
                s.requests
            );
        }
        let cooldowns = self.cooldown_snapshot();
        let gauges: [CooldownMetric; 3] = [
            (
                "aigw_cooldowns_started_total",
                "counter",
                "Cooldowns started after repeated failures of a provider and model.",
                |c, _| c.started as f64,
            ),
            (
                "aigw_cooldown_skips_total",
                "counter",
                "Steps skipped because their provider and model was cooling down.",
                |c, _| c.skips as f64,
            ),
            (
                "aigw_cooldown_active",
                "gauge",
                "1 while the provider and model is cooling down, else 0.",
                |_, left| if left > 0.0 { 1.0 } else { 0.0 },
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((provider, model), c, left) in &cooldowns {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(provider, model, None),
                    number(value(c, *left))
                );
            }
        }
        if let Some(stats) = self.redis.get() {
            Metrics::redis_prometheus(stats, &mut out);
        }
        out
    }
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".into()
    }
}

/// Label values escaped as the exposition format requires.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(provider: &str, model: &str, le: Option<&str>) -> String {
    let mut s = format!(
        "{{provider=\"{}\",model=\"{}\"",
        escape(provider),
        escape(model)
    );
    if let Some(le) = le {
        let _ = write!(s, ",le=\"{le}\"");
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_formats() {
        let m = Metrics::default();
        for (secs, ok) in [(0.003, true), (0.2, true), (100.0, false)] {
            m.observe(Observation {
                provider: "openai",
                model: "gpt-\"4o\"",
                success: ok,
                cached: secs < 0.01,
                tokens_in: 10,
                tokens_out: 5,
                cost: 0.5,
                seconds: secs,
            });
        }
        let j: Value = serde_json::from_str(&m.to_json()).unwrap();
        let s = &j["series"][0];
        assert_eq!(s["requests"], 3);
        assert_eq!(s["errors"], 1);
        assert_eq!(s["cache_hits"], 1);
        assert_eq!(s["tokens_in"], 30);
        assert_eq!(s["latency"]["buckets"][0]["count"], 1);
        assert_eq!(s["latency"]["buckets"][LATENCY_BUCKETS.len()]["count"], 3);
        let p = m.to_prometheus();
        assert!(
            p.contains(r#"aigw_requests_total{provider="openai",model="gpt-\"4o\""} 3"#),
            "{p}"
        );
        assert!(p.contains(r#"aigw_request_duration_seconds_bucket{provider="openai",model="gpt-\"4o\"",le="+Inf"} 3"#), "{p}");
        assert!(p.contains(r#"aigw_request_duration_seconds_bucket{provider="openai",model="gpt-\"4o\"",le="0.25"} 2"#), "{p}");
    }
}
