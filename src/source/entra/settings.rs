//! What the Entra ID source needs to run: where Graph and the token endpoint are, the app's
//! client credentials, and how the read pages, nests groups and checks itself.
//!
//! Lines the contract marks [inferred] (token renewal margin, nested groups, the `$count`
//! check, the backoff start) are settings here, so a tenant that behaves otherwise can say so.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::platform::connection::Connection;
use crate::platform::http::RetryPolicy;
use crate::records::incremental::IncrementalSettings;
use crate::source::SourceError;

/// Everything the Entra ID source needs; build with [`EntraSettings::new`] and adjust.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// Graph v1.0 (`https://graph.microsoft.com/v1.0`), its time-out and TLS; never paced
    /// by rosterd's own budget, only by Graph's answers.
    pub graph: Connection,
    /// The login authority (`https://login.microsoftonline.com`): the token endpoint is
    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub login: Url,
    /// The directory (tenant) id or one of its verified domains.
    pub tenant: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    pub client_secret: SecretString,
    /// `$top` of every listing: 999 is Graph's largest.
    pub page_size: u32,
    /// A bound on pages per listing, so a server that never ends cannot hold a run forever.
    pub max_pages: u32,
    /// `$expand=manager($select=id)` on the user listing (pages then hold at most 100).
    pub expand_manager: bool,
    /// Group members through nested groups (`transitiveMembers`), else direct (`members`).
    pub nested_groups: bool,
    /// Check the users held against `GET /users/$count` (less max(5, 1 %)).
    pub count_check: bool,
    /// How long before expiry an access token is renewed.
    pub token_margin: Duration,
    pub retry: RetryPolicy,
    /// Delta reads (`source.entra.incremental`); `None` reads every user every run.
    pub incremental: Option<IncrementalSettings>,
}

impl EntraSettings {
    pub const GRAPH: &'static str = "https://graph.microsoft.com/v1.0";
    pub const LOGIN: &'static str = "https://login.microsoftonline.com";
    pub const SCOPE: &'static str = "https://graph.microsoft.com/.default";
    pub const MAX_PAGE_SIZE: u32 = 999;
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;
    /// [inferred] renew five minutes early.
    pub const DEFAULT_TOKEN_MARGIN: Duration = Duration::from_secs(300);
    /// [inferred] Graph requests a second: the smallest tenant's budget (3,500 resource units
    /// per 10 s) at the dearest request read (`transitiveMembers` with `$select`, 4 units) is
    /// 87 a second; 50 leaves room for the tenant's other apps. Halved while Graph sends
    /// `x-ms-throttle-limit-percentage`; `requests_per_second: 0` reads unpaced.
    pub const DEFAULT_PER_SECOND: f64 = 50.0;
    /// [inferred] with no `Retry-After`, back off from 2 s, doubling.
    pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

    /// The defaults: Graph and its login at their public addresses, 999 a page, managers
    /// expanded, nested groups, the count check on, full reads.
    pub fn new(graph: Connection, login: Url, tenant: &str, client_id: &str, client_secret: SecretString) -> Self {
        EntraSettings {
            graph: Connection { per_second: Self::DEFAULT_PER_SECOND, burst: 10, ..graph },
            login,
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret,
            page_size: Self::MAX_PAGE_SIZE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            expand_manager: true,
            nested_groups: true,
            count_check: true,
            token_margin: Self::DEFAULT_TOKEN_MARGIN,
            retry: backoff_from(Self::DEFAULT_BACKOFF),
            incremental: None,
        }
    }

    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> Url {
        let mut url = self.login.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend([self.tenant.as_str(), "oauth2", "v2.0", "token"]);
        }
        url
    }

    /// Refuse settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> Result<(), SourceError> {
        let usable = |u: &Url| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base();
        let problem = if !usable(&self.graph.base_url) || !usable(&self.login) {
            "graph_url and login_url must be http:// or https:// URLs"
        } else if self.graph.base_url.query().is_some() || self.login.query().is_some() {
            "graph_url and login_url must not have a query string"
        } else if self.tenant.trim().is_empty() || self.tenant.contains('/') {
            "tenant must be the directory (tenant) id or a verified domain"
        } else if self.client_id.trim().is_empty() {
            "client_id must be the app registration's application (client) id"
        } else if !(1..=Self::MAX_PAGE_SIZE).contains(&self.page_size) || self.max_pages == 0 {
            "page_size must be 1 to 999 and max_pages at least 1"
        } else if self.incremental.as_ref().is_some_and(|i| i.full_read_every == 0) {
            "incremental.full_read_every must be at least 1 (1 = every read is a full one)"
        } else {
            return Ok(());
        };
        Err(SourceError::Settings { message: format!("source.entra: {problem}") })
    }
}

/// The retry policy whose backoff starts at `first` and doubles (the jitter of
/// `PlatformHttp` keeps each wait between half and all of it).
pub fn backoff_from(first: Duration) -> RetryPolicy {
    RetryPolicy { base_delay: first / 2, max_delay: first.saturating_mul(16).max(first), ..RetryPolicy::default() }
}
