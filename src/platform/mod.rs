//! Platform connectors: one file per platform behind the small [`Connector`] trait.
//!
//! A connector knows its platform's HTTP dialect and nothing else: it lists accounts,
//! and creates, updates, deactivates and reactivates one account at a time. It never
//! decides *what* to change; that is the diff's job.

pub mod affise;
pub mod agencyanalytics;
pub mod cake;
pub mod clienttoolbox;
pub mod connection;
#[cfg(feature = "sandbox")]
pub mod emulator;
#[cfg(all(test, feature = "sandbox"))]
mod every_kind_tests;
pub mod filespin;
pub mod groups;
pub mod http;
pub mod kind;
pub mod pacer;
pub mod pager;
pub mod redact;
pub mod registry;
#[cfg(feature = "sandbox")]
pub mod sandboxes;
pub mod scim;
pub mod search;
#[cfg(test)]
pub mod test_support;
pub mod wire;

use async_trait::async_trait;

use crate::model::{Account, DesiredAccount, FieldChange};

/// What can go wrong talking to a platform. Messages never carry a secret or a URL
/// with a query string (CAKE puts its key there).
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The request never got an answer (connect error, time-out, reset).
    #[error("{platform}: no answer ({detail}); check the base_url and the network, it will be retried")]
    Transport { platform: String, detail: String },
    /// The server's TLS certificate was refused: nothing was sent, and retrying cannot help.
    #[error("{platform}: the server's TLS certificate was refused ({detail}); give the server a certificate from a trusted CA, trust a private CA with ca_file (or SSL_CERT_FILE), or for a test server only set tls_insecure_skip_verify: true")]
    Certificate { platform: String, detail: String },
    /// The platform answered with an HTTP error status.
    #[error("{platform}: HTTP {status} on {operation}: {message}")]
    Status { platform: String, operation: String, status: u16, message: String },
    /// The credentials were refused: nothing on this platform can proceed.
    #[error("{platform}: credentials refused on {operation}: {message}; check the platform's api key setting")]
    Auth { platform: String, operation: String, message: String },
    /// The platform answered but said no (CAKE's failure body, a duplicate, a bad field).
    #[error("{platform}: {operation} refused: {message}")]
    Rejected { platform: String, operation: String, message: String },
    /// The answer could not be understood: a listing that does not parse never reads as "no users".
    #[error("{platform}: malformed answer to {operation}: {detail}")]
    Malformed { platform: String, operation: String, detail: String },
    /// The plan or config asks for something this platform cannot do.
    #[error("{platform}: {message}")]
    Unsupported { platform: String, message: String },
}

impl PlatformError {
    /// Transient errors are retried with backoff; permanent ones fail the record.
    pub fn is_transient(&self) -> bool {
        match self {
            PlatformError::Transport { .. } => true,
            PlatformError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// A bounded label for metrics and summaries.
    pub fn label(&self) -> &'static str {
        match self {
            PlatformError::Transport { .. } => "transport",
            PlatformError::Certificate { .. } => "certificate",
            PlatformError::Status { .. } => "http_status",
            PlatformError::Auth { .. } => "auth",
            PlatformError::Rejected { .. } => "rejected",
            PlatformError::Malformed { .. } => "malformed",
            PlatformError::Unsupported { .. } => "unsupported",
        }
    }

    /// Refused credentials with what to check on this platform added (a listing's 401/403
    /// says the key, its rights or its scheme are wrong); any other error as it is.
    pub fn with_credentials_hint(self, check: &str) -> PlatformError {
        match self {
            PlatformError::Auth { platform, operation, message } => {
                PlatformError::Auth { platform, operation, message: format!("{message}; {check}") }
            }
            other => other,
        }
    }
}

/// Facts about a platform that the diff needs, so it never has to know which platform it is.
#[derive(Debug, Clone)]
pub struct Traits {
    /// The field that holds the match key (compared case-insensitively).
    pub key_field: &'static str,
    /// Whether a deactivated account can be reactivated through the API.
    pub can_reactivate: bool,
    /// A linked account that no longer lists was removed for good. `true`: the person
    /// gets a new account (AgencyAnalytics deletes); `false`: a conflict for a person to
    /// resolve (Client Toolbox keeps soft-deleted names taken).
    pub recreate_removed: bool,
    /// Set when removals cannot run on this platform as configured (AgencyAnalytics
    /// without `allow_delete`): every removal is held with this reason.
    pub removals_held: Option<&'static str>,
    /// Whether a role may change from one value to another; `Err(why)` makes the change a
    /// conflict that is reported and never sent (AgencyAnalytics staff ↔ client).
    pub role_change: fn(&str, &str) -> Result<(), String>,
    /// The listing cannot show whether an account may sign in (Affise lock-out): the
    /// status comes from rosterd's links instead.
    pub status_from_links: bool,
}

impl Traits {
    /// The common case: deactivate/reactivate by a flag, any role change allowed.
    pub fn new(key_field: &'static str) -> Traits {
        Traits {
            key_field,
            can_reactivate: true,
            recreate_removed: true,
            removals_held: None,
            role_change: any_role_change,
            status_from_links: false,
        }
    }
}

/// A field's value for a create: the mapped value, trimmed, or else the match key for the
/// field that holds it (`key_field`), since the key stands in when the mapping left that
/// field out; `None` when neither is there.
pub fn create_value<'a>(desired: &'a DesiredAccount, field: &str, key_field: &str) -> Option<&'a str> {
    let value = desired.fields.get(field).map(|v| v.trim()).filter(|v| !v.is_empty());
    value.or((field == key_field).then_some(desired.key.as_str()).filter(|k| !k.is_empty()))
}

/// Every role change is allowed.
pub fn any_role_change(_from: &str, _to: &str) -> Result<(), String> {
    Ok(())
}

/// One platform's API, as rosterd uses it.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The platform's name in config (`cake`, `affise-eu`, ...).
    fn name(&self) -> &str;

    /// What the diff needs to know about this platform.
    fn traits(&self) -> Traits;

    /// Called once per run before anything else (CAKE resolves role names to ids here).
    /// By default there is nothing to resolve: the platform's roles are plain values or a
    /// fixed table (Affise, AgencyAnalytics, Client Toolbox, FileSpin).
    async fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    /// Every account the credentials can see. Fails rather than returning a short list.
    async fn list(&self) -> Result<Vec<Account>, PlatformError>;

    /// `Some(n)` when this platform (as configured) lists incrementally, with a full listing
    /// every `n` listings; the engine then merges [`Connector::list_changed_since`] into its
    /// cached listing. `None` (the default): every listing is full.
    fn incremental_listing(&self) -> Option<u32> {
        None
    }

    /// The accounts changed since the start of `day` (the platform's own days), every page.
    /// Only called when [`Connector::incremental_listing`] is `Some`.
    async fn list_changed_since(&self, day: chrono::NaiveDate) -> Result<Vec<Account>, PlatformError> {
        let _ = day;
        Err(PlatformError::Unsupported {
            platform: self.name().to_string(),
            message: "this platform cannot list changed accounts; turn incremental off".into(),
        })
    }

    /// Create the account; returns it as the platform now holds it. Its HTTP operation
    /// must be named `create`: a create is not idempotent and is never re-sent blindly
    /// once it may have reached the platform (see [`http::RetryMode`]).
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError>;

    /// Change only the given fields (the role is the pseudo-field `role`).
    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError>;

    /// Remove the person's access in the platform's own way.
    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError>;

    /// Restore access, applying `changes` in the same call where the platform allows it.
    async fn reactivate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError>;

    /// The account holding this match key, if any: how a create whose answer was lost is
    /// found again. By default a full listing; a platform with a search may do better.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let wanted = crate::model::normalize_key(key);
        Ok(self.list().await?.into_iter().find(|a| crate::model::normalize_key(&a.key) == wanted))
    }

    /// Whether the account can sign in, read from the platform one account at a time, for
    /// platforms whose listing cannot show it ([`Traits::status_from_links`]). `None` (the
    /// default): the listing's status stands.
    async fn read_status(&self, account: &Account) -> Result<Option<crate::model::AccountStatus>, PlatformError> {
        let _ = account;
        Ok(None)
    }

    /// The role values this platform accepts, for `check-config` (`None`: not checkable).
    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError>;

    /// People the platform designates for something beyond an account (CAKE's account
    /// managers), for the access report: is each still in the roster?
    async fn designations(&self) -> Result<Vec<Designation>, PlatformError> {
        Ok(Vec::new())
    }

    /// The platform's groups, when it pushes groups as configured (SCIM `groups:`).
    fn groups(&self) -> Option<&dyn groups::GroupTarget> {
        None
    }
}

/// Someone a platform designates for a duty (an account manager), by email.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Designation {
    /// What the designation is, e.g. `account manager`.
    pub what: String,
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: crate::model::AccountStatus,
}
