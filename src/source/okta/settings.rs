//! What the Okta source needs to know: where the org is, how to sign in, and the contract's
//! [inferred] choices (which statuses are active, whether deprovisioned users are read), each
//! overridable in config.

use std::time::Duration;

use secrecy::SecretString;

use crate::platform::connection::Connection;
use crate::platform::http::RetryPolicy;
pub use crate::records::incremental::IncrementalSettings;

/// How rosterd proves itself to Okta. Secrets never show in `Debug`.
#[derive(Debug, Clone)]
pub enum OktaAuth {
    /// `Authorization: SSWS {token}`: an API token of a (Read-only) administrator.
    ApiToken(SecretString),
    /// A service app: client credentials with a `private_key_jwt` assertion, then `Bearer`.
    ServiceApp(ServiceApp),
}

/// The OAuth 2.0 service app's credentials (`auth: oauth`): its client id, the RSA private
/// key (PEM, PKCS#8 or PKCS#1) that signs the client assertion, and the key's id at Okta
/// (`kid`, when the app holds more than one public key).
#[derive(Debug, Clone)]
pub struct ServiceApp {
    pub client_id: String,
    pub private_key: SecretString,
    pub key_id: Option<String>,
}

/// The scopes the service app asks for: the contract's two, read only.
pub const SCOPES: &str = "okta.users.read okta.groups.read";

/// Everything the Okta source needs; build with [`OktaSettings::new`] and adjust.
#[derive(Debug, Clone)]
pub struct OktaSettings {
    /// The org's base (`https://acme.okta.com`), its time-out and TLS settings.
    pub connection: Connection,
    pub auth: OktaAuth,
    /// The `limit` sent with every listing: 200, the largest Okta allows.
    pub page_size: u32,
    /// A bound on pages per listing, so an org that never ends cannot hold a run forever.
    pub max_pages: u32,
    /// Statuses read as active; every other status is inactive [inferred].
    pub active_statuses: Vec<String>,
    /// Read `DEPROVISIONED` users too (a second listing), as inactive people [inferred].
    pub read_deprovisioned: bool,
    /// Slow down when fewer than this share of the rate-limit bucket is left [inferred].
    pub slow_down_below: f64,
    /// Requests in flight at once (group member listings) [inferred: Okta allows 75].
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// `source.okta.incremental`; `None` reads every user every run.
    pub incremental: Option<IncrementalSettings>,
}

impl OktaSettings {
    /// Okta's largest (and default) `limit` for users and groups.
    pub const MAX_PAGE_SIZE: u32 = 200;
    pub const DEFAULT_MAX_PAGES: u32 = 100_000;
    /// The contract's active statuses: credential states of a person still employed.
    pub const ACTIVE_STATUSES: [&'static str; 5] =
        ["ACTIVE", "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"];
    /// Every status Okta gives a user, to check `active_statuses` against.
    pub const ALL_STATUSES: [&'static str; 8] =
        ["ACTIVE", "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "STAGED", "SUSPENDED", "DEPROVISIONED"];

    /// Settings with the contract's defaults: 200 a page, ≤ 2 requests at once, slow down
    /// under 10 % of the bucket, deprovisioned users read as inactive.
    pub fn new(connection: impl Into<Connection>, auth: OktaAuth) -> Self {
        OktaSettings {
            connection: connection.into().unpaced(),
            auth,
            page_size: Self::MAX_PAGE_SIZE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            active_statuses: Self::ACTIVE_STATUSES.iter().map(|s| s.to_string()).collect(),
            read_deprovisioned: true,
            slow_down_below: 0.10,
            concurrency: 2,
            retry: RetryPolicy::default(),
            incremental: None,
        }
    }

    /// Whether a user of this status is active.
    pub fn is_active(&self, status: &str) -> bool {
        self.active_statuses.iter().any(|s| s.eq_ignore_ascii_case(status))
    }

    /// Why these settings cannot work, naming the config key; `None` when they can.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let url = &self.connection.base_url;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host_str().is_none() {
            return Some(("url", "must be the org's https:// address, e.g. https://acme.okta.com".into()));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Some(("url", "must carry no credentials and no query: the token goes in token_file".into()));
        }
        if !(1..=Self::MAX_PAGE_SIZE).contains(&self.page_size) {
            return Some(("page_size", format!("{} is not between 1 and 200 (Okta's largest limit)", self.page_size)));
        }
        if self.max_pages == 0 || self.concurrency == 0 {
            return Some(("max_pages", "max_pages and concurrency must be at least 1".into()));
        }
        if let Some(bad) = self.active_statuses.iter().find(|s| !Self::ALL_STATUSES.contains(&s.as_str())) {
            let known = Self::ALL_STATUSES.join(", ");
            return Some(("active_statuses", format!("{bad:?} is not an Okta user status (one of {known})")));
        }
        if self.incremental.as_ref().is_some_and(|i| i.full_read_every == 0) {
            return Some(("incremental.full_read_every", "must be at least 1 (1 = every read is a full one)".into()));
        }
        None
    }
}

/// How long a token endpoint's answer without `expires_in` is trusted (Okta issues an hour).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
