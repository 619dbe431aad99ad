//! The in-process store: counters and cool-downs in one mutex-guarded map
//! each. One short critical section per call keeps decisions exact under
//! any number of threads; lapsed keys are pruned so the maps stay bounded
//! by the keys in use, not by every key ever seen.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Admission, CooldownStore, CounterStore, StoreError, Until, Window};
use crate::store::Technique;

/// Time since the Unix epoch. Injected so tests can step it exactly.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

fn system_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Fewest keys at which a map is swept for lapsed entries; the next sweep
/// waits until the map doubles, so sweeping stays amortised O(1).
const PRUNE_FLOOR: usize = 4096;

#[derive(Debug)]
enum Counter {
    /// Windows aligned to multiples of the interval since the epoch.
    Fixed { start: Duration, total: f64 },
    /// The exact trailing window: when each amount was added.
    Sliding {
        recent: VecDeque<(Duration, f64)>,
        total: f64,
    },
}

#[derive(Debug)]
struct Slot {
    window: Window,
    counter: Counter,
}

impl Slot {
    fn new(window: Window) -> Slot {
        let counter = match window.technique {
            Technique::Fixed => Counter::Fixed {
                start: Duration::ZERO,
                total: 0.0,
            },
            Technique::Sliding => Counter::Sliding {
                recent: VecDeque::new(),
                total: 0.0,
            },
        };
        Slot { window, counter }
    }

    /// Drops what left the window by `now`; returns the total left.
    fn advance(&mut self, now: Duration) -> f64 {
        let interval = self.window.interval;
        match &mut self.counter {
            Counter::Fixed { start, total } => {
                let aligned = align(now, interval);
                if aligned != *start {
                    *start = aligned;
                    *total = 0.0;
                }
                *total
            }
            Counter::Sliding { recent, total } => {
                while let Some(&(at, amount)) = recent.front() {
                    if at + interval > now {
                        break;
                    }
                    recent.pop_front();
                    *total -= amount;
                }
                if recent.is_empty() {
                    // No drift from float subtraction survives an empty window.
                    *total = 0.0;
                }
                *total
            }
        }
    }

    fn add(&mut self, now: Duration, amount: f64) {
        match &mut self.counter {
            Counter::Fixed { total, .. } => *total += amount,
            Counter::Sliding { recent, total } => {
                recent.push_back((now, amount));
                *total += amount;
            }
        }
    }

    /// When room for `amount` under `limit` opens up, at the earliest.
    fn room_in(&self, now: Duration, limit: f64, amount: f64) -> Duration {
        let interval = self.window.interval;
        match &self.counter {
            Counter::Fixed { start, .. } => (*start + interval).saturating_sub(now),
            Counter::Sliding { recent, total } => {
                // Amounts leave oldest first; find the one whose leaving makes room.
                let mut left = *total;
                for &(at, a) in recent {
                    left -= a;
                    if left + amount <= limit {
                        return (at + interval).saturating_sub(now);
                    }
                }
                recent
                    .back()
                    .map(|&(at, _)| (at + interval).saturating_sub(now))
                    .unwrap_or(Duration::ZERO)
            }
        }
    }

    /// When the window's total next drops.
    fn next_drop(&self, now: Duration) -> Duration {
        let interval = self.window.interval;
        match &self.counter {
            Counter::Fixed { start, total } if *total > 0.0 => {
                (*start + interval).saturating_sub(now)
            }
            Counter::Fixed { .. } => Duration::ZERO,
            Counter::Sliding { recent, .. } => recent
                .front()
                .map(|&(at, _)| (at + interval).saturating_sub(now))
                .unwrap_or(Duration::ZERO),
        }
    }

    fn lapsed(&mut self, now: Duration) -> bool {
        self.advance(now) == 0.0
    }
}

fn align(now: Duration, interval: Duration) -> Duration {
    let ns = interval.as_nanos().max(1);
    Duration::from_nanos((now.as_nanos() / ns * ns) as u64)
}

#[derive(Debug, Default)]
struct Cooling {
    failures: u32,
    /// Cooling down until this time since the epoch.
    until: Option<Duration>,
    last_failure: Duration,
}

/// How long a failure count with no new failure is kept before pruning.
const FAILURE_MEMORY: Duration = Duration::from_secs(3600);

/// Counters and cool-downs for one gateway, in memory.
pub struct MemoryStore {
    clock: Clock,
    counters: Mutex<Keyed<Slot>>,
    cooldowns: Mutex<Keyed<Cooling>>,
}

struct Keyed<T> {
    map: HashMap<String, T>,
    next_prune: usize,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed {
            map: HashMap::new(),
            next_prune: PRUNE_FLOOR,
        }
    }
}

impl<T> Keyed<T> {
    /// Sweeps with `lapsed` when the map has grown past its threshold.
    fn prune(&mut self, mut lapsed: impl FnMut(&mut T) -> bool) {
        if self.map.len() < self.next_prune {
            return;
        }
        self.map.retain(|_, v| !lapsed(v));
        self.next_prune = (self.map.len() * 2).max(PRUNE_FLOOR);
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("counters", &lock(&self.counters).map.len())
            .field("cooldowns", &lock(&self.cooldowns).map.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::with_clock(Arc::new(system_clock))
    }
}

impl MemoryStore {
    pub fn with_clock(clock: Clock) -> MemoryStore {
        MemoryStore {
            clock,
            counters: Mutex::new(Keyed::default()),
            cooldowns: Mutex::new(Keyed::default()),
        }
    }

    /// The key's slot, created (or reset, if the window changed) as needed.
    fn with_slot<R>(
        &self,
        key: &str,
        window: Window,
        f: impl FnOnce(&mut Slot, Duration) -> R,
    ) -> R {
        let now = (self.clock)();
        let mut counters = lock(&self.counters);
        if !counters.map.contains_key(key) {
            counters.prune(|slot| slot.lapsed(now));
        }
        let slot = counters
            .map
            .entry(key.to_string())
            .or_insert_with(|| Slot::new(window));
        if slot.window != window {
            *slot = Slot::new(window);
        }
        slot.advance(now);
        f(slot, now)
    }
}

impl CounterStore for MemoryStore {
    fn admit(
        &self,
        key: &str,
        window: Window,
        limit: f64,
        amount: f64,
        _until: Until,
    ) -> Result<Admission, StoreError> {
        Ok(self.with_slot(key, window, |slot, now| {
            let total = slot.advance(now);
            if total + amount <= limit {
                slot.add(now, amount);
                Admission::Admitted
            } else {
                Admission::Refused {
                    retry_in: slot.room_in(now, limit, amount),
                }
            }
        }))
    }

    fn charge(
        &self,
        key: &str,
        window: Window,
        amount: f64,
        _until: Until,
    ) -> Result<(), StoreError> {
        self.with_slot(key, window, |slot, now| slot.add(now, amount));
        Ok(())
    }

    fn total(
        &self,
        key: &str,
        window: Window,
        _until: Until,
    ) -> Result<(f64, Duration), StoreError> {
        Ok(self.with_slot(key, window, |slot, now| {
            (slot.advance(now), slot.next_drop(now))
        }))
    }
}

impl CooldownStore for MemoryStore {
    fn cooling(&self, target: &str, _until: Until) -> Result<Option<Duration>, StoreError> {
        let now = (self.clock)();
        let cooldowns = lock(&self.cooldowns);
        Ok(cooldowns
            .map
            .get(target)
            .and_then(|c| c.until)
            .filter(|&t| t > now)
            .map(|t| t - now))
    }

    fn record_failure(
        &self,
        target: &str,
        after_failures: u32,
        cool_for: Duration,
        _until: Until,
    ) -> Result<bool, StoreError> {
        let now = (self.clock)();
        let mut cooldowns = lock(&self.cooldowns);
        if !cooldowns.map.contains_key(target) {
            cooldowns.prune(|c| {
                c.until.is_none_or(|t| t <= now) && c.last_failure + FAILURE_MEMORY <= now
            });
        }
        let entry = cooldowns.map.entry(target.to_string()).or_default();
        entry.last_failure = now;
        if entry.until.is_some_and(|t| t > now) {
            // Already cooling: failures while skipped do not extend it.
            return Ok(false);
        }
        entry.failures += 1;
        if entry.failures >= after_failures.max(1) {
            entry.failures = 0;
            entry.until = Some(now + cool_for);
            return Ok(true);
        }
        Ok(false)
    }

    fn record_success(&self, target: &str, _until: Until) -> Result<(), StoreError> {
        lock(&self.cooldowns).map.remove(target);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock the test steps by hand, in milliseconds since the epoch.
    fn manual_clock(start_ms: u64) -> (Arc<AtomicU64>, Clock) {
        let now = Arc::new(AtomicU64::new(start_ms));
        let read = now.clone();
        (
            now,
            Arc::new(move || Duration::from_millis(read.load(Ordering::SeqCst))),
        )
    }

    fn window(secs: u64, technique: Technique) -> Window {
        Window {
            interval: Duration::from_secs(secs),
            technique,
        }
    }

    #[test]
    fn keys_count_separately() {
        let (_, clock) = manual_clock(100_000);
        let s = MemoryStore::with_clock(clock);
        let w = window(10, Technique::Fixed);
        assert_eq!(s.admit("a", w, 1.0, 1.0, None), Ok(Admission::Admitted));
        assert_eq!(s.admit("b", w, 1.0, 1.0, None), Ok(Admission::Admitted));
        assert!(matches!(
            s.admit("a", w, 1.0, 1.0, None),
            Ok(Admission::Refused { .. })
        ));
    }

    #[test]
    fn sliding_amounts_leave_oldest_first() {
        let (now, clock) = manual_clock(100_000);
        let s = MemoryStore::with_clock(clock);
        let w = window(10, Technique::Sliding);
        s.charge("spend", w, 0.6, None).unwrap();
        now.store(104_000, Ordering::SeqCst);
        s.charge("spend", w, 0.3, None).unwrap();
        let (total, next) = s.total("spend", w, None).unwrap();
        assert!((total - 0.9).abs() < 1e-9);
        assert_eq!(next, Duration::from_secs(6));
        // 0.5 more fits only once the 0.6 leaves, at 110 s.
        assert_eq!(
            s.admit("spend", w, 1.0, 0.5, None),
            Ok(Admission::Refused {
                retry_in: Duration::from_secs(6)
            })
        );
        now.store(110_000, Ordering::SeqCst);
        assert_eq!(s.admit("spend", w, 1.0, 0.5, None), Ok(Admission::Admitted));
        now.store(125_000, Ordering::SeqCst);
        assert_eq!(s.total("spend", w, None).unwrap(), (0.0, Duration::ZERO));
    }

    #[test]
    fn lapsed_keys_are_pruned() {
        let (now, clock) = manual_clock(100_000);
        let s = MemoryStore::with_clock(clock);
        let w = window(1, Technique::Sliding);
        for i in 0..PRUNE_FLOOR {
            s.admit(&format!("user-{i}"), w, 5.0, 1.0, None).unwrap();
        }
        now.store(200_000, Ordering::SeqCst);
        s.admit("late", w, 5.0, 1.0, None).unwrap();
        assert_eq!(lock(&s.counters).map.len(), 1);
    }

    #[test]
    fn cooldown_starts_after_failures_in_a_row_and_ends() {
        let (now, clock) = manual_clock(100_000);
        let s = MemoryStore::with_clock(clock);
        let cool = Duration::from_secs(30);
        assert_eq!(s.record_failure("p/m", 3, cool, None), Ok(false));
        assert_eq!(s.record_failure("p/m", 3, cool, None), Ok(false));
        // A success in between starts the count again.
        s.record_success("p/m", None).unwrap();
        assert_eq!(s.record_failure("p/m", 3, cool, None), Ok(false));
        assert_eq!(s.record_failure("p/m", 3, cool, None), Ok(false));
        assert_eq!(s.record_failure("p/m", 3, cool, None), Ok(true));
        assert_eq!(s.cooling("p/m", None), Ok(Some(cool)));
        assert_eq!(s.cooling("other", None), Ok(None));
        now.store(129_000, Ordering::SeqCst);
        assert_eq!(s.cooling("p/m", None), Ok(Some(Duration::from_secs(1))));
        now.store(130_000, Ordering::SeqCst);
        assert_eq!(s.cooling("p/m", None), Ok(None));
    }
}
