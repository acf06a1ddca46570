//! One cached OAuth 2.0 access token for a source that signs in (Okta's service app, Entra's
//! client credentials, Google's service account): fetched on first use, reused until shortly
//! before it expires, and fetched again early or when the identity provider refuses it.
//!
//! The token itself is a `SecretString`: it never reaches a log, an error or `Debug` output.
//! How a token is obtained differs by provider, so the caller hands in the fetch; what every
//! provider shares (expiry with a margin, one fetch at a time, renewal after a 401) lives here.

use std::future::Future;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token as the provider's token endpoint issued it.
pub struct IssuedToken {
    pub access_token: SecretString,
    /// `expires_in` from the answer.
    pub expires_in: Duration,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

struct Held {
    token: SecretString,
    renew_at: Instant,
}

/// The cache: at most one token, renewed `margin` before it expires.
pub struct TokenCache {
    held: Mutex<Option<Held>>,
    margin: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("margin", &self.margin).finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    /// Renew a minute early: long enough that a token does not expire between the check and
    /// the request on a slow page, short against the usual hour-long lifetimes.
    fn default() -> Self {
        TokenCache::with_margin(Duration::from_secs(60))
    }
}

impl TokenCache {
    pub fn with_margin(margin: Duration) -> Self {
        TokenCache { held: Mutex::new(None), margin }
    }

    /// The current token, or a fresh one from `fetch` when none is held or it is about to
    /// expire. The lock is held across the fetch so that pages read at once fetch one token.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<SecretString, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, E>>,
    {
        let mut held = self.held.lock().await;
        if let Some(h) = held.as_ref() {
            if Instant::now() < h.renew_at {
                return Ok(h.token.clone());
            }
        }
        let issued = fetch().await?;
        // A lifetime shorter than the margin is still used once rather than never.
        let lifetime = issued.expires_in.saturating_sub(self.margin);
        *held = Some(Held { token: issued.access_token.clone(), renew_at: Instant::now() + lifetime });
        Ok(issued.access_token)
    }

    /// Forget the held token: the provider refused it (HTTP 401), so the next `get` fetches.
    pub async fn invalidate(&self) {
        *self.held.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn fetch_counted(n: &AtomicU32, lifetime: u64) -> Result<IssuedToken, std::convert::Infallible> {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Ok(IssuedToken { access_token: format!("token-{i}").into(), expires_in: Duration::from_secs(lifetime) })
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_the_margin_then_fetched_again() {
        let cache = TokenCache::with_margin(Duration::from_secs(60));
        let n = AtomicU32::new(0);
        let a = cache.get(|| fetch_counted(&n, 3600)).await.unwrap();
        let b = cache.get(|| fetch_counted(&n, 3600)).await.unwrap();
        assert_eq!(a.expose_secret(), "token-0");
        assert_eq!(b.expose_secret(), "token-0");
        tokio::time::advance(Duration::from_secs(3600 - 61)).await;
        assert_eq!(cache.get(|| fetch_counted(&n, 3600)).await.unwrap().expose_secret(), "token-0");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(|| fetch_counted(&n, 3600)).await.unwrap().expose_secret(), "token-1");
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_forces_a_fetch_and_a_failed_fetch_keeps_nothing() {
        let cache = TokenCache::default();
        let n = AtomicU32::new(0);
        cache.get(|| fetch_counted(&n, 3600)).await.unwrap();
        cache.invalidate().await;
        let refused: Result<SecretString, &str> = cache.get(|| async { Err("refused") }).await;
        assert!(refused.is_err());
        assert_eq!(cache.get(|| fetch_counted(&n, 3600)).await.unwrap().expose_secret(), "token-1");
    }

    #[test]
    fn debug_shows_no_token() {
        let t = IssuedToken { access_token: "s3cr3t-token".to_string().into(), expires_in: Duration::from_secs(5) };
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
