//! Why the Google source yielded nothing usable: each message names the place (the token
//! endpoint, a listing page), what happened, and the `source.google` key to look at; none
//! carries a secret.

use crate::source::provider::ProviderError;

/// The scopes rosterd asks for; the Admin console must delegate exactly these.
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/admin.directory.group.readonly";

const DELEGATION: &str = "check source.google.key_file (the service account's JSON key), source.google.admin (an admin to act as) and that the service account's client id has domain-wide delegation of the scopes admin.directory.user.readonly and admin.directory.group.readonly (Admin console > Security > API controls)";

/// The token endpoint refused the signed assertion.
pub fn token(status: u16, detail: &str) -> ProviderError {
    ProviderError::new("Google token endpoint", format!("HTTP {status}: {detail}"), DELEGATION, Some(status), "auth")
}

/// The key could not sign an assertion.
pub fn key(detail: String) -> ProviderError {
    ProviderError::new(
        "source.google.key_file",
        detail,
        "give the service account's JSON key as downloaded",
        None,
        "settings",
    )
}

/// An error status from the Directory API, after retries for the transient and quota ones.
pub fn status(at: &str, status: u16, detail: &str) -> ProviderError {
    let (next, label) = match status {
        401 | 403 => (DELEGATION, "auth"),
        _ => {
            ("check source.google.customer / domain and the Workspace status; the next run tries again", "http_status")
        }
    };
    ProviderError::new(at, format!("HTTP {status}: {detail}"), next, Some(status), label)
}

/// No answer after retries.
pub fn transport(at: &str, detail: String) -> ProviderError {
    let next = "check source.google.base_url (and token_url) and the network; the next run tries again";
    ProviderError::new(at, format!("no answer ({detail})"), next, None, "transport")
}

/// An answer that is not the API's JSON.
pub fn malformed(at: &str, detail: String) -> ProviderError {
    let next =
        "check that source.google.base_url is the Directory API (https://admin.googleapis.com/admin/directory/v1)";
    ProviderError::new(at, format!("malformed answer: {detail}"), next, None, "malformed")
}
