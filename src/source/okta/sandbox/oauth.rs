//! The emulated org's token endpoint for the service app: client credentials with a
//! `private_key_jwt` assertion, checked as Okta checks it (RS256 by the app's registered
//! public key, `iss` = `sub` = the client id, `aud` = this endpoint, not expired), and the
//! two read scopes granted.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::{lock, Shared, SERVICE_APP_CLIENT, SERVICE_APP_PUBLIC_KEY};

/// How long an issued token says it lives.
const EXPIRES_IN: u64 = 3600;
const GRANTED: [&str; 2] = ["okta.users.read", "okta.groups.read"];

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

pub(super) async fn token_route(State(s): State<Arc<Shared>>, Form(form): Form<TokenForm>) -> Response {
    let run = s.clone();
    s.faults.run("token", |_| async move { run.issue(&form) }).await
}

impl Shared {
    fn issue(&self, form: &TokenForm) -> Response {
        if form.grant_type.as_deref() != Some("client_credentials") {
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only client_credentials is served");
        }
        if form.client_assertion_type.as_deref() != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "a private_key_jwt client assertion is required",
            );
        }
        if let Err(why) = self.check_assertion(form.client_assertion.as_deref().unwrap_or_default()) {
            return refuse(StatusCode::UNAUTHORIZED, "invalid_client", &why);
        }
        let asked: Vec<&str> = form.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
        if asked.is_empty() || asked.iter().any(|s| !GRANTED.contains(s)) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The requested scope is invalid, unknown, or malformed.",
            );
        }
        let token = format!("okta-access-{:032x}", rand::random::<u128>());
        lock(&self.tokens).insert(token.clone(), self.options.token_uses);
        lock(&self.issued).push(token.clone());
        let body =
            json!({"token_type": "Bearer", "expires_in": EXPIRES_IN, "access_token": token, "scope": asked.join(" ")});
        Json(body).into_response()
    }

    fn check_assertion(&self, assertion: &str) -> Result<(), String> {
        let key =
            jsonwebtoken::DecodingKey::from_rsa_pem(SERVICE_APP_PUBLIC_KEY.as_bytes()).map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[format!("{}/oauth2/v1/token", lock(&self.base))]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
            .map_err(|e| format!("The client_assertion token is invalid: {e}"))?
            .claims;
        match claims.iss == SERVICE_APP_CLIENT && claims.sub == SERVICE_APP_CLIENT {
            true => Ok(()),
            false => Err("The client_assertion token's iss and sub must be the client id.".into()),
        }
    }
}
