//! Signing in to Okta: the API token as it is (`SSWS`), or the service app's access token,
//! fetched with a `private_key_jwt` client assertion (RS256, from the `jsonwebtoken` crate)
//! and cached in the shared [`TokenCache`](crate::source::token::TokenCache).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::settings::{OktaAuth, ServiceApp, DEFAULT_TOKEN_LIFETIME, SCOPES};
use super::OktaSource;
use crate::source::provider::ProviderError;
use crate::source::token::IssuedToken;
use crate::source::SourceError;

/// What to do when the token endpoint refuses the service app.
const FIX_APP: &str = "check source.okta.client_id and private_key_file, that the app's public key is registered \
with it, and that the scopes okta.users.read and okta.groups.read are granted to it";

/// The client assertion's claims (RFC 7523): the app asserts itself to the token endpoint.
#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl OktaSource {
    /// The `Authorization` header value for the next request.
    pub(super) async fn authorization(&self) -> Result<SecretString, SourceError> {
        match &self.settings.auth {
            OktaAuth::ApiToken(token) => Ok(format!("SSWS {}", token.expose_secret()).into()),
            OktaAuth::ServiceApp(app) => {
                let token = self.tokens.get(|| self.fetch_token(app)).await?;
                Ok(format!("Bearer {}", token.expose_secret()).into())
            }
        }
    }

    /// Whether a 401 may be answered by a fresh token: only a service app's token expires.
    pub(super) async fn renew_after_refusal(&self) -> bool {
        match self.settings.auth {
            OktaAuth::ServiceApp(_) => {
                self.tokens.invalidate().await;
                true
            }
            OktaAuth::ApiToken(_) => false,
        }
    }

    /// `POST /oauth2/v1/token`: client credentials, asserted by a signed JWT.
    async fn fetch_token(&self, app: &ServiceApp) -> Result<IssuedToken, SourceError> {
        let at = "Okta token endpoint";
        let url = self.endpoint("oauth2/v1/token");
        let assertion = sign(app, url.as_str()).map_err(|detail| refused(at, None, detail))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", SCOPES),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.expose_secret()),
        ];
        let build =
            || self.http.client.post(url.clone()).header(reqwest::header::ACCEPT, "application/json").form(&form);
        let answer = self.http.send("token", build).await.map_err(|e| self.transport(at, e))?;
        let status = answer.status.as_u16();
        if !answer.status.is_success() {
            let why = serde_json::from_slice::<TokenRefusal>(&answer.body)
                .map(|r| format!("{} {:?}", r.error, r.error_description))
                .unwrap_or_else(|_| self.http.snippet(&answer.body));
            return Err(refused(at, Some(status), format!("HTTP {status}: {}", self.http.redact(&why))));
        }
        let token: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| refused(at, Some(status), format!("the answer holds no access_token ({e})")))?;
        let expires_in = token.expires_in.map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok(IssuedToken { access_token: token.access_token.into(), expires_in })
    }
}

fn refused(at: &str, status: Option<u16>, detail: String) -> SourceError {
    ProviderError::new(at, detail, FIX_APP, status, "idp").into()
}

/// The client assertion: RS256 over the claims, `kid` in the header when configured.
/// Five minutes of validity: Okta refuses assertions valid for more than an hour.
fn sign(app: &ServiceApp, audience: &str) -> Result<SecretString, String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = Assertion {
        iss: &app.client_id,
        sub: &app.client_id,
        aud: audience,
        iat: now,
        exp: now + 300,
        jti: format!("{:032x}", rand::random::<u128>()),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = app.key_id.clone();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(app.private_key.expose_secret().as_bytes())
        .map_err(|e| format!("the private key is not an RSA key in PEM ({e}); check source.okta.private_key_file"))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map(SecretString::from)
        .map_err(|e| format!("cannot sign the client assertion ({e})"))
}
