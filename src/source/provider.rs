//! How an identity provider's failure is said, one way for every provider (an LDAP directory, Okta, Google Workspace, Entra ID).
//!
//! Each provider knows its own words (its config keys, its console, its status page); what
//! a failure carries is the same everywhere: where it happened, what happened, what to do
//! next, the HTTP status when there was one, and a bounded label for metrics.

/// A provider failed a read or refused rosterd: `{at}: {detail}; {next}`. Never carries a
/// secret: callers redact what the provider said before it lands in `detail`.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {detail}; {next}")]
pub struct ProviderError {
    /// Where: the request or step (`GET /api/v1/users`, `LDAP ldaps://dc1 (...)`).
    pub at: String,
    /// What happened, in words an operator can act on.
    pub detail: String,
    /// What to do next, in that provider's terms (its `source.<kind>` keys).
    pub next: &'static str,
    /// The HTTP status, when the failure was one (none when no answer came, or for LDAP).
    pub status: Option<u16>,
    /// A bounded label for metrics and summaries; "auth" for a refusal of rosterd's credentials.
    pub label: &'static str,
}

impl ProviderError {
    pub fn new(
        at: impl Into<String>,
        detail: impl Into<String>,
        next: &'static str,
        status: Option<u16>,
        label: &'static str,
    ) -> ProviderError {
        ProviderError { at: at.into(), detail: detail.into(), next, status, label }
    }

    /// The provider refused rosterd's credentials (or the permissions granted to them).
    pub fn refused(at: impl Into<String>, status: u16, detail: &str, next: &'static str) -> ProviderError {
        ProviderError::new(at, format!("HTTP {status}, refused: {detail}"), next, Some(status), "auth")
    }

    /// Whether this is a refusal of rosterd's credentials: retrying cannot help.
    pub fn is_refused(&self) -> bool {
        self.label == "auth"
    }
}
