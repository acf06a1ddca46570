//! A server-side rate limit for the emulators: a token bucket (a rate plus a small burst)
//! that answers 429 with `Retry-After` when a request arrives over the limit, the way a
//! vendor's gateway does. Shared by every emulator through [`super::faults::Faults`].

use std::time::Duration;

use tokio::time::Instant;

/// A platform's request limit: `per_second` sustained, up to `burst` at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The bucket: how many requests may arrive right now, refilled at the limit's rate.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket: a server that has been quiet allows its whole burst.
    pub fn new(limit: RateLimit) -> TokenBucket {
        let limit = RateLimit { per_second: limit.per_second.max(f64::MIN_POSITIVE), burst: limit.burst.max(1) };
        TokenBucket { limit, tokens: f64::from(limit.burst), updated: Instant::now() }
    }

    /// Take a token for a request arriving now, or say how long until one is free.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() * self.limit.per_second;
        self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_request_per_interval() {
        let mut bucket = TokenBucket::new(RateLimit { per_second: 200.0, burst: 3 });
        assert!((0..3).all(|_| bucket.take().is_ok()), "the burst is allowed at once");
        let wait = bucket.take().unwrap_err();
        assert_eq!(wait, Duration::from_millis(5));
        tokio::time::advance(Duration::from_millis(5)).await;
        assert!(bucket.take().is_ok(), "one token every 5 ms");
        assert!(bucket.take().is_err());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!((0..3).all(|_| bucket.take().is_ok()), "a quiet spell earns the burst, never more");
        assert!(bucket.take().is_err());
    }
}
