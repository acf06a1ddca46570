//! RS256-signed JWT assertions from a PEM private key: what a source signs to prove itself to
//! a token endpoint (Google's service-account grant, Okta's and Entra's private-key JWTs).
//!
//! The signing is the `jsonwebtoken` crate's (on `ring`, as rustls is): no crypto is written
//! here. The key is read once into an [`AssertionSigner`]; neither it nor an assertion it
//! signed reaches `Debug` output or an error message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value};

/// The longest lifetime an assertion may ask for: Google refuses more than an hour, and no
/// provider rosterd reads accepts longer.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Why a key cannot sign, or an assertion cannot be made. Never quotes the key.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the private key is not an RSA key in PEM form (\"-----BEGIN PRIVATE KEY-----\" or \"-----BEGIN RSA PRIVATE KEY-----\"): {0}; give the key exactly as the provider issued it")]
    Key(String),
    #[error("cannot sign the assertion: {0}")]
    Sign(String),
    #[error("the system clock is before 1970: set the clock, token endpoints check the assertion's time")]
    Clock,
}

/// Signs RS256 assertions with one private key, with an optional key id header.
pub struct AssertionSigner {
    key: EncodingKey,
    /// `kid`: the key's id at the provider (Google's `private_key_id`), when it has one.
    key_id: Option<String>,
    /// `x5t`: the certificate thumbprint (base64url SHA-1), for Entra certificate credentials.
    thumbprint: Option<String>,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The claims every assertion carries; the provider's own ones (`scope`, `sub`, `jti`) come in `extra`.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl AssertionSigner {
    /// A signer for this PEM private key (PKCS#8 or PKCS#1).
    pub fn from_pem(pem: &SecretString) -> Result<Self, JwtError> {
        let key =
            EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()).map_err(|e| JwtError::Key(e.to_string()))?;
        Ok(AssertionSigner { key, key_id: None, thumbprint: None })
    }

    /// Put this key id in the header (`kid`).
    pub fn with_key_id(mut self, key_id: Option<String>) -> Self {
        self.key_id = key_id.filter(|k| !k.is_empty());
        self
    }

    /// Put this certificate thumbprint in the header (`x5t`).
    pub fn with_thumbprint(mut self, thumbprint: Option<String>) -> Self {
        self.thumbprint = thumbprint.filter(|t| !t.is_empty());
        self
    }

    /// Sign an assertion from `issuer` to `audience`, issued now and valid for `lifetime`
    /// (at most [`MAX_LIFETIME`]), carrying `extra` claims too.
    pub fn sign(
        &self,
        issuer: &str,
        audience: &str,
        lifetime: Duration,
        extra: &Map<String, Value>,
    ) -> Result<SecretString, JwtError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| JwtError::Clock)?.as_secs();
        let claims =
            Claims { iss: issuer, aud: audience, iat: now, exp: now + lifetime.min(MAX_LIFETIME).as_secs(), extra };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        header.x5t = self.thumbprint.clone();
        let token = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| JwtError::Sign(e.to_string()))?;
        Ok(SecretString::from(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const PRIVATE: &str = include_str!("google/sandbox/emulator_key.pem");
    const PUBLIC: &str = include_str!("google/sandbox/emulator_key.pub.pem");

    #[test]
    fn an_assertion_verifies_with_the_public_half_and_carries_every_claim() {
        let signer = AssertionSigner::from_pem(&PRIVATE.to_string().into()).unwrap().with_key_id(Some("k1".into()));
        let mut extra = Map::new();
        extra.insert("sub".into(), "admin@acme.example".into());
        extra.insert("scope".into(), "a b".into());
        let jwt = signer.sign("sa@p.iam.gserviceaccount.com", "https://t/token", Duration::from_secs(7200), &extra);
        let jwt = jwt.unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://t/token"]);
        let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<Value>(jwt.expose_secret(), &key, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("k1"));
        assert_eq!(data.header.alg, Algorithm::RS256);
        let c = data.claims;
        assert_eq!(c["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(c["sub"], "admin@acme.example");
        assert_eq!(c["scope"], "a b");
        let lifetime = c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 3600, "a longer lifetime is cut to the hour providers accept");
    }

    #[test]
    fn a_key_that_is_not_pem_says_so_without_quoting_it() {
        let e = AssertionSigner::from_pem(&"not-a-key-SEEDED".to_string().into()).unwrap_err();
        assert!(e.to_string().contains("PEM") && !e.to_string().contains("SEEDED"), "{e}");
        let signer = AssertionSigner::from_pem(&PRIVATE.to_string().into()).unwrap();
        assert!(!format!("{signer:?}").contains("PRIVATE"));
    }
}
