//! The Google Workspace identity source: the Admin SDK Directory API read with a service
//! account's domain-wide delegation (`platforms/google.md`).
//!
//! A signed RS256 assertion (`source::jwt`) buys an access token (cached in `source::token`,
//! renewed a minute early and after a 401); users, groups and each group's members are paged
//! by `nextPageToken` at the largest page the API allows. The Directory API has no
//! modified-since filter, so every read is a full one. The roster is complete only when every
//! listing reached a page without `nextPageToken`, with no token or id repeated, and every
//! group's members add up to its `directMembersCount` (when that check is on).

mod error;
mod key;
mod read;
#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(test)]
mod tests;
pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Map;
use url::Url;

use super::jwt::{AssertionSigner, MAX_LIFETIME};
use super::token::{IssuedToken, TokenCache};
use super::{Source, SourceError};
use crate::model::Roster;
use crate::platform::connection::Connection;
use crate::platform::http::{PlatformHttp, RetryPolicy};
use crate::platform::PlatformError;
pub use error::SCOPES;
pub use key::{KeyError, ServiceAccountKey, GOOGLE_TOKEN_URI};

/// The Directory API's base, when config names none.
pub const DEFAULT_BASE_URL: &str = "https://admin.googleapis.com/admin/directory/v1";
/// The OAuth grant a signed assertion is exchanged under.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Which accounts `users.list` and `groups.list` cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    /// `customer=`: `my_customer` (the admin's account, every domain) or a customer id.
    Customer(String),
    /// `domain=`: one domain of the account.
    Domain(String),
}

/// Everything the Google source needs; build with [`GoogleSettings::new`] and adjust.
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// The Directory API base (`source.google.base_url`), its time-out and its pace.
    pub connection: Connection,
    /// Where assertions are exchanged, and their `aud` (the key file's `token_uri`).
    pub token_url: Url,
    pub key: ServiceAccountKey,
    /// The admin the service account acts as (the assertion's `sub`).
    pub admin: String,
    pub directory: Directory,
    /// `maxResults` of `users.list`, 1 to 500.
    pub page_size: u32,
    /// A bound on pages per listing, so a server that never ends cannot hold a run forever.
    pub max_pages: u32,
    /// Read groups (and their members) for scope and role rules.
    pub groups: bool,
    /// A group whose members do not add up to `directMembersCount` makes the read incomplete.
    pub check_member_counts: bool,
    pub retry: RetryPolicy,
}

impl GoogleSettings {
    /// `users.list` allows at most 500 a page.
    pub const MAX_USERS_PAGE: u32 = 500;
    /// `groups.list` and `members.list` allow at most 200 a page.
    pub const MAX_GROUPS_PAGE: u32 = 200;
    /// 75 % of the 2,400 queries a minute Google allows per impersonated admin [inferred].
    pub const DEFAULT_PER_SECOND: f64 = 30.0;
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;

    /// The defaults: `my_customer`, 500 users a page, groups read and counted, 30 a second.
    pub fn new(connection: Connection, key: ServiceAccountKey, admin: impl Into<String>) -> Result<Self, SourceError> {
        let token_url = Url::parse(&key.token_uri)
            .map_err(|_| settings_problem("the key file's token_uri is not a URL: set source.google.token_url"))?;
        Ok(GoogleSettings {
            connection,
            token_url,
            key,
            admin: admin.into(),
            directory: Directory::Customer("my_customer".into()),
            page_size: Self::MAX_USERS_PAGE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            groups: true,
            check_member_counts: true,
            retry: Self::quota_backoff(),
        })
    }

    /// Google documents no `Retry-After`: back off 1, 2, 4 … 64 s (honouring one when sent).
    pub fn quota_backoff() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(64),
            max_elapsed: Duration::from_secs(180),
        }
    }

    fn validate(&self) -> Result<(), SourceError> {
        let problem = if !(1..=Self::MAX_USERS_PAGE).contains(&self.page_size) {
            "page_size must be 1 to 500 (users.list's maxResults)"
        } else if self.max_pages == 0 {
            "max_pages must be at least 1"
        } else if !self.admin.contains('@') {
            "admin must be the email of the admin the service account acts as"
        } else if !matches!(self.token_url.scheme(), "http" | "https") {
            "token_url must be an https:// URL"
        } else {
            return Ok(());
        };
        Err(settings_problem(problem))
    }
}

fn settings_problem(problem: &str) -> SourceError {
    SourceError::Settings { message: format!("source.google: {problem}") }
}

/// The Google Workspace source.
#[derive(Debug)]
pub struct GoogleSource {
    settings: GoogleSettings,
    http: PlatformHttp,
    signer: AssertionSigner,
    tokens: TokenCache,
}

#[async_trait]
impl Source for GoogleSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        self.read_roster().await
    }

    fn describe(&self) -> String {
        let base = self.settings.connection.base_url.as_str().trim_end_matches('/');
        match &self.settings.directory {
            Directory::Customer(c) => format!("Google Workspace {base} (customer {c}, as {})", self.settings.admin),
            Directory::Domain(d) => format!("Google Workspace {base} (domain {d}, as {})", self.settings.admin),
        }
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl GoogleSource {
    pub fn new(settings: GoogleSettings) -> Result<Self, SourceError> {
        settings.validate()?;
        let signer = AssertionSigner::from_pem(&settings.key.private_key)
            .map_err(|e| settings_problem(&format!("key_file: {e}")))?
            .with_key_id(settings.key.private_key_id.clone());
        let mut http = PlatformHttp::new("google source", &settings.connection)
            .map_err(|e| SourceError::Settings { message: e.to_string() })?
            .scrubbing(settings.key.private_key.clone());
        http.retry = settings.retry.clone();
        Ok(GoogleSource { settings, http, signer, tokens: TokenCache::default() })
    }

    pub fn settings(&self) -> &GoogleSettings {
        &self.settings
    }

    /// The current access token, fetched with a fresh assertion when none is held.
    async fn token(&self) -> Result<SecretString, SourceError> {
        self.tokens.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<IssuedToken, SourceError> {
        let mut claims = Map::new();
        claims.insert("scope".into(), SCOPES.into());
        claims.insert("sub".into(), self.settings.admin.clone().into());
        let url = &self.settings.token_url;
        let assertion = self
            .signer
            .sign(&self.settings.key.client_email, url.as_str(), MAX_LIFETIME, &claims)
            .map_err(|e| error::key(e.to_string()))?;
        let form = [("grant_type", GRANT_TYPE), ("assertion", assertion.expose_secret())];
        let at = "Google token endpoint";
        let answer = self
            .http
            .send(at, || self.http.client.post(url.clone()).form(&form))
            .await
            .map_err(|e| error::transport(at, self.transport_detail(e)))?;
        let status = answer.status.as_u16();
        if !answer.status.is_success() {
            return Err(error::token(status, &self.detail(&answer.body)).into());
        }
        let token: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| error::malformed(at, format!("not a token answer: {e}")))?;
        tracing::debug!(expires_in = token.expires_in, "google source: access token issued");
        Ok(IssuedToken {
            access_token: SecretString::from(token.access_token),
            expires_in: Duration::from_secs(token.expires_in),
        })
    }

    /// One authorized GET, the body of its 2xx answer. A 401 renews the token once; a quota
    /// answer (403 `userRateLimitExceeded`/`quotaExceeded`) pauses the source and backs off,
    /// as 429s and 5xx already do inside `PlatformHttp`.
    async fn get(&self, at: &str, url: &Url) -> Result<Bytes, SourceError> {
        let (mut renewed, mut quota) = (false, 0u32);
        loop {
            let token = self.token().await?;
            let build = || self.http.client.get(url.clone()).bearer_auth(token.expose_secret());
            let answer = self.http.send(at, build).await.map_err(|e| error::transport(at, self.transport_detail(e)))?;
            let status = answer.status.as_u16();
            if answer.status.is_success() {
                return Ok(answer.body);
            }
            let reason = wire::error_of(&answer.body).map(|(reason, _)| reason).unwrap_or_default();
            if status == 401 && !renewed {
                tracing::info!(at, "google source: access token refused, renewing it and reading on");
                self.tokens.invalidate().await;
                renewed = true;
                continue;
            }
            if wire::is_quota(status, &reason) && quota + 1 < self.settings.retry.max_attempts {
                quota += 1;
                let wait = answer.retry_after.unwrap_or_else(|| self.backoff(quota));
                tracing::info!(
                    at,
                    reason,
                    wait_ms = wait.as_millis() as u64,
                    "google source: quota answer, slowing down"
                );
                self.http.pacer.pause(wait);
                continue;
            }
            return Err(error::status(at, status, &self.detail(&answer.body)).into());
        }
    }

    /// 1, 2, 4 … `max_delay` (64 s by default) after quota answers, plus up to a base of jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.settings.retry;
        let bound = retry.base_delay.saturating_mul(1u32 << attempt.min(16)).min(retry.max_delay);
        bound + retry.base_delay.mul_f64(rand::random::<f64>())
    }

    /// An error answer's reason and message, else the start of its body; credentials scrubbed.
    fn detail(&self, body: &[u8]) -> String {
        match wire::error_of(body) {
            Some((reason, message)) => self.http.redact(&format!("{reason}: {message}")),
            None => self.http.snippet(body),
        }
    }

    fn transport_detail(&self, e: PlatformError) -> String {
        match e {
            PlatformError::Transport { detail, .. } => detail,
            other => self.http.redact(&other.to_string()),
        }
    }
}
