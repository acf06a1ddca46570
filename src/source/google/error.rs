//! Why the Google source yielded nothing usable: each message names the place (the token
//! endpoint, a listing page), what happened, and the `source.google` key to look at; none
//! carries a secret.

/// The scopes rosterd asks for; the Admin console must delegate exactly these.
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/admin.directory.group.readonly";

/// A failed step of a read: where, what, and what to do next.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {what}; {next}")]
pub struct GoogleError {
    at: String,
    what: String,
    next: &'static str,
    /// The HTTP status, when the failure was one.
    pub status: Option<u16>,
    label: &'static str,
}

const DELEGATION: &str = "check source.google.key_file (the service account's JSON key), source.google.admin (an admin to act as) and that the service account's client id has domain-wide delegation of the scopes admin.directory.user.readonly and admin.directory.group.readonly (Admin console > Security > API controls)";

impl GoogleError {
    fn new(at: &str, what: String, next: &'static str, status: Option<u16>, label: &'static str) -> Self {
        GoogleError { at: at.into(), what, next, status, label }
    }

    /// The token endpoint refused the signed assertion.
    pub fn token(status: u16, detail: &str) -> Self {
        Self::new("Google token endpoint", format!("HTTP {status}: {detail}"), DELEGATION, Some(status), "auth")
    }

    /// The key could not sign an assertion.
    pub fn key(detail: String) -> Self {
        Self::new(
            "source.google.key_file",
            detail,
            "give the service account's JSON key as downloaded",
            None,
            "settings",
        )
    }

    /// An error status from the Directory API, after retries for the transient and quota ones.
    pub fn status(at: &str, status: u16, detail: &str) -> Self {
        let (next, label) = match status {
            401 | 403 => (DELEGATION, "auth"),
            _ => (
                "check source.google.customer / domain and the Workspace status; the next run tries again",
                "http_status",
            ),
        };
        Self::new(at, format!("HTTP {status}: {detail}"), next, Some(status), label)
    }

    /// No answer after retries.
    pub fn transport(at: &str, detail: String) -> Self {
        let next = "check source.google.base_url (and token_url) and the network; the next run tries again";
        Self::new(at, format!("no answer ({detail})"), next, None, "transport")
    }

    /// An answer that is not the API's JSON.
    pub fn malformed(at: &str, detail: String) -> Self {
        let next =
            "check that source.google.base_url is the Directory API (https://admin.googleapis.com/admin/directory/v1)";
        Self::new(at, format!("malformed answer: {detail}"), next, None, "malformed")
    }

    /// A bounded label for metrics and summaries.
    pub fn label(&self) -> &'static str {
        self.label
    }
}
