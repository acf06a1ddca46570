//! The HTTP listener: `/healthz`, `/readyz`, `/metrics`, `POST /v1/reconcile` (bearer token,
//! compared in constant time) and `GET /v1/status`. It knows nothing of any platform.

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::shutdown::Shutdown;
use super::state::State;
use super::worker::{Sent, Trigger, Triggers};

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    pub state: Arc<State>,
    pub triggers: Triggers,
    /// None when another recorder was installed first (only in tests of the library).
    pub prometheus: Option<PrometheusHandle>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/reconcile", post(reconcile))
        .route("/v1/status", get(status))
        .with_state(app)
}

/// Serve until `stop`; connections in progress get to finish.
pub async fn serve(listener: tokio::net::TcpListener, app: App, stop: Shutdown) -> std::io::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(async move { stop.wait().await }).await
}

async fn readyz(Extract(app): Extract<App>) -> Response {
    let r = app.state.readiness();
    let code = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(r)).into_response()
}

async fn metrics(Extract(app): Extract<App>) -> Response {
    let Some(handle) = &app.prometheus else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder not installed\n").into_response();
    };
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

async fn status(Extract(app): Extract<App>) -> Json<serde_json::Value> {
    Json(app.state.status())
}

async fn reconcile(Extract(app): Extract<App>, headers: HeaderMap) -> Response {
    let Some(token) = app.state.settings().trigger_token else {
        let body = serde_json::json!({"error": "the trigger endpoint is off: set http.trigger_token_file"});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    if !authorized(&headers, token.expose_secret()) {
        let body = serde_json::json!({"error": "missing or wrong bearer token"});
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response();
    }
    if app.state.is_stopping() {
        let body = serde_json::json!({"error": "rosterd is stopping"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let sent = app.triggers.send(Trigger::Http);
    tracing::info!(coalesced = sent == Sent::Coalesced, "reconcile requested over HTTP");
    let body = match sent {
        Sent::Queued => serde_json::json!({"accepted": true, "coalesced": false}),
        Sent::Coalesced => serde_json::json!({"accepted": true, "coalesced": true}),
        Sent::Closed => {
            let body = serde_json::json!({"error": "rosterd is stopping"});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `Authorization: Bearer <token>`, compared in constant time. Both sides are hashed first
/// so that the comparison does not reveal the token's length either.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(token.as_bytes()));
    !given.is_empty() && bool::from(a.as_slice().ct_eq(b.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        assert!(authorized(&bearer("Bearer s3cret"), "s3cret"));
        assert!(!authorized(&bearer("Bearer s3cre"), "s3cret"));
        assert!(!authorized(&bearer("Bearer s3cret2"), "s3cret"));
        assert!(!authorized(&bearer("Basic s3cret"), "s3cret"));
        assert!(!authorized(&bearer("Bearer "), "s3cret"));
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
