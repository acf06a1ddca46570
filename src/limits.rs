//! The range of every number and duration in the config, so no value that passes
//! `check-config` can overflow a `Duration`, an `Instant` or a multiplication later.

use std::time::Duration;

/// An inclusive range of whole numbers a key accepts, with the unit for the message.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

impl Span {
    pub const fn new(min: u64, max: u64, unit: &'static str) -> Span {
        Span { min, max, unit }
    }

    /// `None` when `value` is in range, else the message for the key.
    pub fn check(&self, value: u64) -> Option<String> {
        (value < self.min || value > self.max)
            .then(|| format!("{value} is out of range: use {} to {} {}", self.min, self.max, self.unit))
    }
}

/// `store.cache_capacity_mb`: at most 1 TiB (the value is multiplied into bytes).
pub const CACHE_MB: Span = Span::new(1, 1 << 20, "MiB");
/// Every `timeout_seconds`: a request that may take over an hour is a hung one.
pub const TIMEOUT_SECONDS: Span = Span::new(1, 3600, "seconds");
/// `page_size` of the source and of every platform.
pub const PAGE_SIZE: Span = Span::new(1, 100_000, "records a page");
/// Microsoft Graph's `$top`.
pub const GRAPH_PAGE_SIZE: Span = Span::new(1, 999, "records a page");
/// The first backoff wait of a source with no `Retry-After` to go by.
pub const BACKOFF_MS: Span = Span::new(1, 60_000, "milliseconds");
/// `source.scim.max_pages`.
pub const MAX_PAGES: Span = Span::new(1, 10_000_000, "pages");
/// `incremental.full_read_every`.
pub const FULL_READ_EVERY: Span = Span::new(1, 100_000, "reads");
/// `source.scim.incremental.overlap_seconds`: at most a week.
pub const OVERLAP_SECONDS: Span = Span::new(0, 7 * 86_400, "seconds");
/// `rate_limit.burst`.
pub const BURST: Span = Span::new(1, 100_000, "requests");
/// `rate_limit.concurrency`.
pub const CONCURRENCY: Span = Span::new(1, 10_000, "requests in flight");
/// `safety.grace.runs`.
pub const GRACE_RUNS: Span = Span::new(1, 10_000, "runs");
/// `readiness.max_failure_age_seconds`: at most a year.
pub const FAILURE_AGE_SECONDS: Span = Span::new(1, 366 * 86_400, "seconds");
/// `readiness.stuck_after_seconds`: above the longest quiet stretch of a healthy run.
pub const STUCK_AFTER_SECONDS: Span = Span::new(1, 7 * 86_400, "seconds");
/// `shutdown_grace_seconds`: systemd's `TimeoutStopSec` should stay above it.
pub const SHUTDOWN_GRACE_SECONDS: Span = Span::new(0, 3600, "seconds");

/// `rate_limit.per_second`: from one request in 1000 s (the pacing interval is
/// `1 / per_second`) to a million a second.
pub const PER_SECOND_MIN: f64 = 0.001;
pub const PER_SECOND_MAX: f64 = 1_000_000.0;

/// `None` when `per_second` is in range, else the message.
pub fn check_per_second(value: f64) -> Option<String> {
    (!(PER_SECOND_MIN..=PER_SECOND_MAX).contains(&value)).then(|| {
        format!("{value:?} is out of range: use {PER_SECOND_MIN} to {PER_SECOND_MAX} requests a second (the vendor's limit)")
    })
}

/// The longest duration the config or the command line takes: about 100 years.
pub const LONGEST: Duration = Duration::from_secs(100 * 366 * 86_400);

/// A duration such as `7d`, `12h`, `30m`, `90s` or `1d 12h` (humantime's syntax), at
/// most `max`; overflow and out-of-range values are errors, never panics.
pub fn parse_duration(text: &str, max: Duration) -> Result<Duration, DurationError> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|source| DurationError::NotADuration { text: text.to_string(), source })?;
    if d > max {
        return Err(DurationError::TooLong { text: text.to_string(), max });
    }
    Ok(d)
}

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("{text:?} is not a duration like 30m, 12h or 7d: {source}")]
    NotADuration { text: String, source: humantime::DurationError },
    #[error("{text:?} is longer than the longest accepted ({})", humantime::format_duration(*.max))]
    TooLong { text: String, max: Duration },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_accept_their_ends_and_name_the_range_outside() {
        assert_eq!(TIMEOUT_SECONDS.check(1), None);
        assert_eq!(TIMEOUT_SECONDS.check(3600), None);
        assert!(TIMEOUT_SECONDS.check(0).unwrap().contains("1 to 3600 seconds"));
        assert!(CACHE_MB.check(u64::MAX).is_some());
    }

    #[test]
    fn per_second_refuses_tiny_huge_and_not_a_number() {
        for bad in [1e-300, 0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            assert!(check_per_second(bad).is_some(), "{bad}");
        }
        assert_eq!(check_per_second(0.001), None);
        assert_eq!(check_per_second(100_000.0), None);
    }

    #[test]
    fn durations_are_bounded_and_overflow_is_an_error() {
        assert_eq!(parse_duration("7d", LONGEST), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1d 12h", LONGEST), Ok(Duration::from_secs(36 * 3600)));
        assert!(parse_duration("99999999999d", LONGEST).is_err());
        assert!(parse_duration("99999999999999999999999d", LONGEST).is_err());
        assert!(parse_duration("7 weeks ago", LONGEST).is_err());
        assert!(parse_duration("", LONGEST).is_err());
    }
}
