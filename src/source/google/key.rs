//! The service account key file Google issues (JSON): who signs (`client_email`), with what
//! (`private_key`, a secret; `private_key_id`, sent as `kid`), and where tokens come from.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Google's token endpoint, when the key file names none.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service account key, read from its JSON file. The private key never shows in `Debug`.
#[derive(Clone)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: SecretString,
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Why a key file cannot be used. Never quotes the file (it holds the private key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a service account key file (JSON with client_email and private_key): {0}; download a JSON key for the service account in the Cloud console (IAM > Service accounts > Keys)")]
    Json(String),
    #[error("the key file's \"type\" is {0:?}, not \"service_account\": give the service account's JSON key, not an OAuth client or user credential")]
    Type(String),
    #[error("the key file has an empty {0}: download the service account's JSON key again")]
    Empty(&'static str),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Parse the key file's text. A serde error names a field and a position, never a value.
    pub fn parse(text: &SecretString) -> Result<Self, KeyError> {
        let raw: Raw = serde_json::from_str(text.expose_secret()).map_err(|e| KeyError::Json(describe(&e)))?;
        if let Some(kind) = raw.kind.filter(|k| k != "service_account") {
            return Err(KeyError::Type(kind));
        }
        if raw.client_email.trim().is_empty() {
            return Err(KeyError::Empty("client_email"));
        }
        if raw.private_key.trim().is_empty() {
            return Err(KeyError::Empty("private_key"));
        }
        Ok(ServiceAccountKey {
            client_email: raw.client_email,
            private_key: SecretString::from(raw.private_key),
            private_key_id: raw.private_key_id,
            token_uri: raw.token_uri.filter(|u| !u.is_empty()).unwrap_or_else(|| GOOGLE_TOKEN_URI.to_string()),
        })
    }
}

/// A JSON error without the text it quotes: serde names the expected type and the place.
fn describe(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "cannot be read",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "is not valid JSON",
        serde_json::error::Category::Data => "lacks a field or has one of the wrong type",
    };
    let missing = e.to_string();
    let field = ["client_email", "private_key"].into_iter().find(|f| missing.contains(&format!("missing field `{f}`")));
    match field {
        Some(f) => format!("no {f} (line {}, column {})", e.line(), e.column()),
        None => format!("it {what} (line {}, column {})", e.line(), e.column()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_read_and_its_errors_never_quote_it() {
        let text = r#"{"type":"service_account","client_email":"sa@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nSEEDED\n","private_key_id":"k1"}"#;
        let key = ServiceAccountKey::parse(&text.to_string().into()).unwrap();
        assert_eq!(key.token_uri, GOOGLE_TOKEN_URI);
        assert_eq!(key.private_key_id.as_deref(), Some("k1"));
        assert!(!format!("{key:?}").contains("SEEDED"));
        for bad in [r#"{"client_email":"a","private_key":"SEEDED""#, r#"{"client_email":"a","private_key":7}"#] {
            let e = ServiceAccountKey::parse(&bad.to_string().into()).unwrap_err().to_string();
            assert!(!e.contains("SEEDED") && e.contains("service account"), "{e}");
        }
        let e = ServiceAccountKey::parse(&r#"{"client_email":"a"}"#.to_string().into()).unwrap_err();
        assert!(e.to_string().contains("no private_key"), "{e}");
        let e = ServiceAccountKey::parse(
            &r#"{"type":"authorized_user","client_email":"a","private_key":"b"}"#.to_string().into(),
        );
        assert!(matches!(e, Err(KeyError::Type(_))));
    }
}
