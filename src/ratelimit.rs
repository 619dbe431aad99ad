//! The gateway's own rate limit: at most `limit` requests per `interval`,
//! counted in fixed windows aligned to the clock or in a sliding window.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub limit: u64,
    pub interval: Duration,
    pub technique: Technique,
}

#[derive(Debug)]
enum Window {
    Fixed { start: Duration, count: u64 },
    Sliding { recent: VecDeque<Duration> },
}

/// A rate limiter shared by all threads of one gateway. One short critical
/// section per request, so decisions stay exact under contention.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    window: Mutex<Window>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        let window = match config.technique {
            Technique::Fixed => Window::Fixed {
                start: Duration::ZERO,
                count: 0,
            },
            Technique::Sliding => Window::Sliding {
                recent: VecDeque::with_capacity(config.limit.min(4096) as usize),
            },
        };
        RateLimiter {
            config,
            window: Mutex::new(window),
        }
    }

    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Admits a request now, or says how long until one would be admitted.
    pub fn admit(&self) -> Result<(), Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.admit_at(now)
    }

    /// [`RateLimiter::admit`] at a given time since the epoch (for tests).
    pub fn admit_at(&self, now: Duration) -> Result<(), Duration> {
        let RateLimitConfig {
            limit, interval, ..
        } = self.config;
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *window {
            Window::Fixed { start, count } => {
                let interval_ns = interval.as_nanos().max(1);
                let aligned =
                    Duration::from_nanos((now.as_nanos() / interval_ns * interval_ns) as u64);
                if aligned != *start {
                    *start = aligned;
                    *count = 0;
                }
                if *count < limit {
                    *count += 1;
                    Ok(())
                } else {
                    Err((*start + interval).saturating_sub(now))
                }
            }
            Window::Sliding { recent } => {
                while recent.front().is_some_and(|t| *t + interval <= now) {
                    recent.pop_front();
                }
                if (recent.len() as u64) < limit {
                    recent.push_back(now);
                    Ok(())
                } else {
                    // The oldest remembered request leaves the window first.
                    Err((recent[0] + interval).saturating_sub(now))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: u64, secs: u64, technique: Technique) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            limit,
            interval: Duration::from_secs(secs),
            technique,
        })
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
