//! The retry vocabulary: how an attempt ended ([`Verdict`]), which answers
//! are worth another attempt, and how long to wait (the backoff schedule and
//! `Retry-After`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Backoff, Settings};
use crate::error::Error;
use crate::http::response::Response;

/// How one attempt ended, as judged by the code reading the response.
pub enum Verdict {
    /// This response serves the request: stop here.
    Served(Response),
    /// An HTTP response that does not serve the request (non-2xx, or a 2xx
    /// stream whose first event is an error). Retried if its status is
    /// retryable, then the next step runs; kept as the latest HTTP response.
    Rejected(Response),
    /// The attempt failed before anything was delivered: retry, then fall back.
    Failed(Error),
    /// Stop everything and fail the call (cancelled, aborted, too large, or a
    /// stream that broke after delivering data).
    Fatal(Error),
}

/// Whether an HTTP status is worth another attempt of the same step.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Wait before retry number `retry` (1 for the first retry).
pub fn backoff_delay(settings: &Settings, retry: u32) -> Duration {
    let base = settings.retry_delay;
    let factor: u32 = match settings.backoff {
        Backoff::Constant => 1,
        Backoff::Linear => retry,
        // 2^(retry-1); retries are at most 4, but stay safe for any input.
        Backoff::Exponential => 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX),
    };
    base.checked_mul(factor).unwrap_or(Duration::MAX)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date
/// (IMF-fixdate, the form RFC 9110 requires senders to use). Returns how long
/// from `now` that is; a date in the past is zero. `None` when unparseable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split(' ').collect();
    if parts.len() != 6 || !parts[0].ends_with(',') || parts[5] != "GMT" {
        return None;
    }
    let day: u32 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as u32 + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u32> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ms: u64, backoff: Backoff) -> Settings {
        Settings {
            request_timeout: None,
            max_attempts: 5,
            retry_delay: Duration::from_millis(ms),
            backoff,
            stream_idle_timeout: None,
        }
    }

    #[test]
    fn backoff_schedules() {
        let ms = |s: &Settings, n| backoff_delay(s, n).as_millis();
        let c = settings(200, Backoff::Constant);
        assert_eq!([1, 2, 3, 4].map(|n| ms(&c, n)), [200, 200, 200, 200]);
        let l = settings(200, Backoff::Linear);
        assert_eq!([1, 2, 3, 4].map(|n| ms(&l, n)), [200, 400, 600, 800]);
        let e = settings(200, Backoff::Exponential);
        assert_eq!([1, 2, 3, 4].map(|n| ms(&e, n)), [200, 400, 800, 1600]);
        assert_eq!(ms(&settings(0, Backoff::Exponential), 4), 0);
        assert!(
            backoff_delay(&e, 200) >= Duration::from_secs(86_400),
            "huge retry numbers saturate"
        );
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 422, 600] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2000 12:00:00 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(951_825_600))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
