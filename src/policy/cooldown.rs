//! Cooldowns: a provider and model that failed `after_failures` attempts in
//! a row (connect error, timeout, 408, 429, 5xx) is skipped for `seconds`
//! by Universal steps and route model elements, unless it is the last
//! choice left; one success resets the count. The counts live in the
//! gateway's [`crate::store::CooldownStore`]; this module says what counts.
//!
//! A store that cannot be asked never blocks a request: the target is tried
//! as if it were not cooling, and its outcome goes unrecorded.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ErrorKind;
use crate::observe::metrics::Metrics;
use crate::policy::retry::{Verdict, is_retryable_status};
use crate::providers::provider::Target;
use crate::store::CooldownStore;

/// Largest `cooldown.after_failures`.
pub const MAX_AFTER_FAILURES: u64 = 1000;
/// Longest `cooldown.seconds` (one day).
pub const MAX_COOLDOWN_S: u64 = 86_400;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a cooldown object {\"after_failures\": N, \"seconds\": S}"
)]
pub struct RawCooldown {
    // Optional here so a missing one is reported as `cooldown.<key>`.
    after_failures: Option<u64>,
    seconds: Option<u64>,
}

/// The config's `cooldown` object, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownConfig {
    pub after_failures: u32,
    pub cool_for: Duration,
}

impl CooldownConfig {
    pub fn from_raw(raw: RawCooldown) -> Result<CooldownConfig, String> {
        let (Some(after_failures), Some(seconds)) = (raw.after_failures, raw.seconds) else {
            return Err("cooldown needs both after_failures and seconds".into());
        };
        if !(1..=MAX_AFTER_FAILURES).contains(&after_failures) {
            return Err(format!(
                "cooldown.after_failures must be between 1 and {MAX_AFTER_FAILURES}, got {}",
                after_failures
            ));
        }
        if !(1..=MAX_COOLDOWN_S).contains(&seconds) {
            return Err(format!(
                "cooldown.seconds must be between 1 and {MAX_COOLDOWN_S}, got {}",
                seconds
            ));
        }
        Ok(CooldownConfig {
            after_failures: after_failures as u32,
            cool_for: Duration::from_secs(seconds),
        })
    }
}

/// A step's cooldown target: its provider and the model its request (to
/// `target` with `body`) asks for, as the log record reads it;
/// `provider/model`, or the provider alone when no model can be read.
pub fn target_of(target: &Target, body: &[u8]) -> (String, String) {
    (
        target.provider.clone(),
        crate::providers::adapter::adapter(&target.provider)
            .model_of(&target.url, body)
            .unwrap_or_default(),
    )
}

fn key(provider: &str, model: &str) -> String {
    if model.is_empty() {
        provider.to_string()
    } else {
        format!("{provider}/{model}")
    }
}

/// What the run loop needs of cooldowns: the config, where the counts
/// live, and the metrics to count skips in.
pub(crate) struct Cooldowns<'a> {
    pub config: Option<CooldownConfig>,
    pub store: &'a dyn CooldownStore,
    pub metrics: &'a Metrics,
}

impl Cooldowns<'_> {
    /// How much longer the target of a step (sent to `target` with `body`)
    /// is cooling down, if cooldowns are on and it is. Counts the skip in the metrics: the caller skips it.
    /// A store error (shared state with `fail_closed`; `fail_open` never
    /// returns one) refuses the call with `Connect`, naming the store.
    pub(crate) fn cooling_skip(
        &self,
        target: &Target,
        body: &[u8],
    ) -> crate::error::Result<Option<Duration>> {
        if self.config.is_none() {
            return Ok(None);
        }
        let (provider, model) = target_of(target, body);
        let left = self
            .store
            .cooling(&key(&provider, &model), None)
            .map_err(|e| {
                crate::error::Error::new(ErrorKind::Connect, format!("cooldown store: {e}"))
            })?;
        let Some(left) = left else {
            return Ok(None);
        };
        self.metrics.cooldown_skipped(&provider, &model, left);
        Ok(Some(left))
    }

    /// Counts an attempt's outcome toward its target's cooldown.
    pub(crate) fn note_for_cooldown(&self, target: &Target, body: &[u8], verdict: &Verdict) {
        let Some(c) = self.config else {
            return;
        };
        let failed = match verdict {
            Verdict::Served(_) => false,
            Verdict::Rejected(r) if is_retryable_status(r.status) => true,
            Verdict::Failed(e) if matches!(e.kind, ErrorKind::Connect | ErrorKind::Timeout) => true,
            // Other answers say nothing about the target's health.
            _ => return,
        };
        let (provider, model) = target_of(target, body);
        let key = key(&provider, &model);
        if !failed {
            let _ = self.store.record_success(&key, None);
            return;
        }
        if let Ok(true) = self
            .store
            .record_failure(&key, c.after_failures, c.cool_for, None)
        {
            self.metrics.cooldown_started(&provider, &model, c.cool_for);
        }
    }
}
