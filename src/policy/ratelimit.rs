//! The gateway's own rate limit: at most `limit` requests per `interval`,
//! counted in fixed windows aligned to the clock or in a sliding window. The
//! counting itself lives in `store`; this module says what is counted.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Admission, CounterStore, StoreError, Until, Window};

// The counting technique is the store's vocabulary; named here for config.
pub use crate::store::Technique;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub limit: u64,
    pub interval: Duration,
    pub technique: Technique,
}

/// Key of the gateway-wide counter in the counter store.
const GATEWAY_KEY: &str = "ratelimit:gateway";

/// The gateway's rate limit, counted in a [`CounterStore`] (this process's
/// memory, or a store shared by many gateways). Exact under contention: the
/// store decides each admission atomically.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    store: Arc<dyn CounterStore>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig, store: Arc<dyn CounterStore>) -> RateLimiter {
        RateLimiter { config, store }
    }

    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Admits a request now, or says how long until one would be admitted.
    /// Fails only when the store cannot be asked.
    pub fn admit(&self, until: Until) -> Result<Result<(), Duration>, StoreError> {
        let window = Window {
            interval: self.config.interval,
            technique: self.config.technique,
        };
        let limit = self.config.limit as f64;
        Ok(
            match self.store.admit(GATEWAY_KEY, window, limit, 1.0, until)? {
                Admission::Admitted => Ok(()),
                Admission::Refused { retry_in } => Err(retry_in),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::MemoryStore;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A limiter on an in-memory store whose clock the test sets.
    struct Limiter {
        now_ms: Arc<AtomicU64>,
        inner: RateLimiter,
    }

    impl Limiter {
        fn admit_at(&self, now: Duration) -> Result<(), Duration> {
            self.now_ms.store(now.as_millis() as u64, Ordering::SeqCst);
            self.inner.admit(None).expect("memory store")
        }
    }

    fn limiter(limit: u64, secs: u64, technique: Technique) -> Limiter {
        let now_ms = Arc::new(AtomicU64::new(0));
        let read = now_ms.clone();
        let store = MemoryStore::with_clock(Arc::new(move || {
            Duration::from_millis(read.load(Ordering::SeqCst))
        }));
        Limiter {
            now_ms,
            inner: RateLimiter::new(
                RateLimitConfig {
                    limit,
                    interval: Duration::from_secs(secs),
                    technique,
                },
                Arc::new(store),
            ),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fixed_windows_reset_at_their_edges() {
        let l = limiter(2, 10, Technique::Fixed);
        assert!(l.admit_at(ms(100_000)).is_ok()); // window [100 s, 110 s)
        assert!(l.admit_at(ms(109_000)).is_ok());
        assert_eq!(l.admit_at(ms(109_999)), Err(ms(1)));
        // The edge: a new window, a fresh count, even right after a burst.
        assert!(l.admit_at(ms(110_000)).is_ok());
        assert!(l.admit_at(ms(110_001)).is_ok());
        assert_eq!(l.admit_at(ms(115_000)), Err(ms(5_000)));
    }

    #[test]
    fn sliding_window_trails_each_request() {
        let l = limiter(2, 10, Technique::Sliding);
        assert!(l.admit_at(ms(100_000)).is_ok());
        assert!(l.admit_at(ms(109_000)).is_ok());
        assert_eq!(l.admit_at(ms(105_000)), Err(ms(5_000)));
        // The first request leaves the trailing window at exactly 110 s...
        assert!(l.admit_at(ms(110_000)).is_ok());
        // ...but, unlike a fixed window, the second one still counts after it.
        assert_eq!(l.admit_at(ms(110_500)), Err(ms(8_500)));
        assert!(l.admit_at(ms(119_000)).is_ok());
    }

    #[test]
    fn exact_under_threads() {
        for technique in [Technique::Fixed, Technique::Sliding] {
            let l = std::sync::Arc::new(limiter(1000, 3600, technique));
            let admitted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (l, admitted) = (l.clone(), admitted.clone());
                    std::thread::spawn(move || {
                        for _ in 0..500 {
                            if l.admit_at(ms(3_600_000 * 500 + 1)).is_ok() {
                                admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(
                admitted.load(std::sync::atomic::Ordering::Relaxed),
                1000,
                "{technique:?}"
            );
        }
    }
}
