//! The HTTP listener: `/healthz`, `/readyz`, `/metrics`, `POST /v1/reconcile` (bearer token,
//! compared in constant time) and `GET /v1/status` (counts for anyone; person data only
//! with the token). It knows nothing of any platform.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
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

/// No endpoint reads a body: anything longer than this is refused before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/reconcile", post(reconcile))
        .route("/v1/status", get(status))
        .layer(middleware::from_fn(limit_body))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// 413 for a body announced longer than [`MAX_BODY_BYTES`].
async fn limit_body(request: Request, next: Next) -> Response {
    let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
        metrics_refused(request.uri().path(), "too_large");
        let body = serde_json::json!({"error": format!("request bodies are limited to {MAX_BODY_BYTES} bytes")});
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    }
    next.run(request).await
}

/// The endpoint as a fixed word for the metric's label.
fn metrics_refused(path: &str, reason: &'static str) {
    let endpoint = match path {
        "/v1/reconcile" => "reconcile",
        "/v1/status" => "status",
        _ => "other",
    };
    super::metrics::http_refused(endpoint, reason);
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

/// Counts for anyone (probes, dashboards); the quarantine's people, errors and reasons only
/// with the trigger token, since they name people.
async fn status(Extract(app): Extract<App>, headers: HeaderMap) -> Json<serde_json::Value> {
    let full = app.state.status();
    let Some(token) = app.state.settings().trigger_token else { return Json(without_person_data(full)) };
    match check(&headers, token.expose_secret()) {
        Ok(()) => Json(full),
        Err(Refusal::NoToken) => Json(without_person_data(full)),
        Err(r) => {
            metrics_refused("/v1/status", r.reason());
            Json(without_person_data(full))
        }
    }
}

/// The status without anything that can name a person: the quarantine's entries, error
/// texts and the readiness reason (which repeats the last error) are dropped; counts stay.
pub fn without_person_data(mut status: serde_json::Value) -> serde_json::Value {
    const HIDDEN: &str = "send Authorization: Bearer <http.trigger_token_file> for the details";
    if let Some(map) = status.as_object_mut() {
        map.remove("quarantine");
        map.remove("last_error");
        map.remove("readiness");
        map.insert("details".into(), HIDDEN.into());
    }
    let runs = status.get_mut("last_runs").and_then(serde_json::Value::as_array_mut);
    for run in runs.into_iter().flatten() {
        let platforms = run.get_mut("platforms").and_then(serde_json::Value::as_array_mut);
        for p in platforms.into_iter().flatten().filter_map(serde_json::Value::as_object_mut) {
            if p.remove("error").is_some() {
                p.insert("error".into(), "(hidden)".into());
            }
        }
    }
    status
}

async fn reconcile(Extract(app): Extract<App>, headers: HeaderMap) -> Response {
    let Some(token) = app.state.settings().trigger_token else {
        let body = serde_json::json!({"error": "the trigger endpoint is off: set http.trigger_token_file"});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    if let Err(refusal) = check(&headers, token.expose_secret()) {
        metrics_refused("/v1/reconcile", refusal.reason());
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

/// Why a request was not authorized; `reason` is the metric's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoToken,
    WrongScheme,
    WrongToken,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::NoToken => "no_token",
            Refusal::WrongScheme => "wrong_scheme",
            Refusal::WrongToken => "wrong_token",
        }
    }
}

/// `Authorization: Bearer <token>`, the scheme in any case (RFC 7235 §2.1), the token
/// compared in constant time. Both sides are hashed first so that the comparison does not
/// reveal the token's length either.
fn check(headers: &HeaderMap, token: &str) -> Result<(), Refusal> {
    let value = headers.get(header::AUTHORIZATION).ok_or(Refusal::NoToken)?;
    let value = value.to_str().map_err(|_| Refusal::WrongScheme)?;
    let (scheme, given) = value.trim().split_once(' ').ok_or(Refusal::WrongScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::WrongScheme);
    }
    let given = given.trim_start_matches(' ');
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(token.as_bytes()));
    match !given.is_empty() && bool::from(a.as_slice().ct_eq(b.as_slice())) {
        true => Ok(()),
        false => Err(Refusal::WrongToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorized(headers: &HeaderMap, token: &str) -> bool {
        check(headers, token).is_ok()
    }

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

    #[test]
    fn the_scheme_is_case_insensitive_and_refusals_say_why() {
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            assert!(authorized(&bearer(&format!("{scheme} s3cret")), "s3cret"), "{scheme}");
        }
        assert_eq!(check(&HeaderMap::new(), "s3cret"), Err(Refusal::NoToken));
        assert_eq!(check(&bearer("Basic s3cret"), "s3cret"), Err(Refusal::WrongScheme));
        assert_eq!(check(&bearer("Bearers3cret"), "s3cret"), Err(Refusal::WrongScheme));
        assert_eq!(check(&bearer("bearer nope"), "s3cret"), Err(Refusal::WrongToken));
    }

    #[test]
    fn the_public_status_keeps_counts_and_drops_whatever_names_a_person() {
        let full = serde_json::json!({
            "ready": false,
            "readiness": "runs have been failing: ana@acme.example refused",
            "last_error": "ana@acme.example refused",
            "quarantined_records": 1,
            "quarantine": [{"label": "ana@acme.example"}],
            "last_runs": [{"run_id": "r1", "platforms": [{"platform": "cake", "created": 2, "error": "ana@acme.example"}]}],
        });
        let public = without_person_data(full);
        assert!(!public.to_string().contains("ana@"), "{public}");
        assert_eq!(public["quarantined_records"], 1);
        assert_eq!(public["last_runs"][0]["platforms"][0]["created"], 2);
    }
}
