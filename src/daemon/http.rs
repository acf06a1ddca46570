//! The HTTP listener: `/healthz` (fails while a run is stuck), `/readyz`, `/metrics`,
//! `POST /v1/reconcile` (the trigger or the admin token, compared in constant time),
//! `GET /v1/status` (counts for anyone; person data only with a token) and the admin API
//! behind `http.admin_token_file`: `POST /v1/approve/{run_id}`, `GET /v1/plan`,
//! `GET /v1/report`, answered by [`super::admin`] as the admin socket is. It knows nothing
//! of any platform.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, Request, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::admin::{self, Admin, Caller, Reply};
use super::shutdown::Shutdown;
use super::state::State;
use super::worker::Trigger;

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    pub admin: Admin,
    /// None when another recorder was installed first (only in tests of the library).
    pub prometheus: Option<PrometheusHandle>,
}

impl App {
    fn state(&self) -> &Arc<State> {
        &self.admin.state
    }
}

/// No endpoint reads a body: anything longer than this is refused before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/reconcile", post(reconcile))
        .route("/v1/status", get(status))
        .route("/v1/approve/{run_id}", post(approve))
        .route("/v1/plan", get(plan))
        .route("/v1/report", get(report))
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
        "/v1/plan" => "plan",
        "/v1/report" => "report",
        p if p.starts_with("/v1/approve/") => "approve",
        _ => "other",
    };
    super::metrics::http_refused(endpoint, reason);
}

/// Serve until `stop`; connections in progress get to finish. `scim` is the push source's
/// service provider (`/scim/v2`), merged after this router's own body limit so it keeps its own.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    scim: Option<Router>,
    stop: Shutdown,
) -> std::io::Result<()> {
    let routes = match scim {
        Some(scim) => router(app).merge(scim),
        None => router(app),
    };
    axum::serve(listener, routes).with_graceful_shutdown(async move { stop.wait().await }).await
}

/// 503 while a run has made no progress for `readiness.stuck_after_seconds`, so the
/// supervisor (a liveness probe) restarts rosterd.
async fn healthz(Extract(app): Extract<App>) -> Response {
    match app.state().liveness() {
        Ok(()) => "ok\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": why}))).into_response(),
    }
}

async fn readyz(Extract(app): Extract<App>) -> Response {
    let r = app.state().readiness();
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

/// Counts for anyone (probes, dashboards); the quarantine's people, held steps, errors and
/// reasons only with the admin or the trigger token, since they name people.
async fn status(Extract(app): Extract<App>, headers: HeaderMap) -> Response {
    let settings = app.state().settings();
    let person_data = match check_any(&headers, &[&settings.admin_token, &settings.trigger_token]) {
        Ok(()) => true,
        Err(Refusal::NoToken | Refusal::Off) => false,
        Err(r) => {
            metrics_refused("/v1/status", r.reason());
            false
        }
    };
    answer(app.admin.handle(admin::Request::Status, Caller { person_data, trigger: Trigger::Http }).await)
}

/// `?person=ID` (and `dry_run=true`): that one person now, answered with their trace.
#[derive(Debug, Deserialize)]
struct ReconcileQuery {
    person: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// A whole run, or with `?person=` one person's run, with the trigger token or the admin token.
async fn reconcile(Extract(app): Extract<App>, Query(q): Query<ReconcileQuery>, headers: HeaderMap) -> Response {
    let settings = app.state().settings();
    if let Some(refusal) = unauthorized(&headers, "/v1/reconcile", &[&settings.trigger_token, &settings.admin_token]) {
        return refusal;
    }
    let request = match q.person {
        Some(person) => admin::Request::Person { person, dry_run: q.dry_run },
        None => admin::Request::Reconcile,
    };
    answer(app.admin.handle(request, Caller { person_data: true, trigger: Trigger::Http }).await)
}

#[derive(Debug, Deserialize)]
struct Only {
    platform: Option<String>,
}

async fn approve(
    Extract(app): Extract<App>,
    Path(run_id): Path<String>,
    Query(q): Query<Only>,
    headers: HeaderMap,
) -> Response {
    admin_request(&app, &headers, "/v1/approve/", admin::Request::Approve { run_id, platform: q.platform }).await
}

async fn plan(Extract(app): Extract<App>, Query(q): Query<Only>, headers: HeaderMap) -> Response {
    admin_request(&app, &headers, "/v1/plan", admin::Request::Plan { platform: q.platform }).await
}

async fn report(Extract(app): Extract<App>, Query(q): Query<Only>, headers: HeaderMap) -> Response {
    admin_request(&app, &headers, "/v1/report", admin::Request::Report { platform: q.platform, json: true }).await
}

/// An admin API request: only with the admin token.
async fn admin_request(app: &App, headers: &HeaderMap, path: &str, request: admin::Request) -> Response {
    if let Some(refusal) = unauthorized(headers, path, &[&app.state().settings().admin_token]) {
        return refusal;
    }
    answer(app.admin.handle(request, Caller { person_data: true, trigger: Trigger::Http }).await)
}

/// None when one of the configured `tokens` is presented; else the refusal to send.
fn unauthorized(headers: &HeaderMap, path: &str, tokens: &[&Option<SecretString>]) -> Option<Response> {
    let Err(refusal) = check_any(headers, tokens) else { return None };
    if refusal == Refusal::Off {
        let body = serde_json::json!({"error": "this endpoint is off: set http.admin_token_file (or, for /v1/reconcile, http.trigger_token_file)"});
        return Some((StatusCode::NOT_FOUND, Json(body)).into_response());
    }
    metrics_refused(path, refusal.reason());
    let body = serde_json::json!({"error": "missing or wrong bearer token"});
    Some((StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response())
}

/// The admin channel's answer as HTTP.
fn answer(reply: Reply) -> Response {
    match reply {
        Reply::Status { status } => Json(status).into_response(),
        Reply::Reconcile { coalesced } => {
            (StatusCode::ACCEPTED, Json(serde_json::json!({"accepted": true, "coalesced": coalesced}))).into_response()
        }
        Reply::Plan { plan } => Json(plan).into_response(),
        Reply::Report { text, .. } => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Reply::Approved { platforms } => Json(serde_json::json!({ "platforms": platforms })).into_response(),
        Reply::Person { trace, code, .. } => {
            Json(serde_json::json!({ "ok": code == crate::exit::OK, "exit_code": code, "trace": trace }))
                .into_response()
        }
        Reply::Printed { stdout, stderr, code } => {
            Json(serde_json::json!({ "stdout": stdout, "stderr": stderr, "exit_code": code })).into_response()
        }
        Reply::Refused { refusal, message } => {
            let code = match refusal {
                admin::Refusal::NotApprovable => StatusCode::CONFLICT,
                admin::Refusal::Failed => StatusCode::BAD_GATEWAY,
                admin::Refusal::Busy => StatusCode::TOO_MANY_REQUESTS,
                admin::Refusal::Stopping => StatusCode::SERVICE_UNAVAILABLE,
                admin::Refusal::Forbidden => StatusCode::FORBIDDEN,
                admin::Refusal::BadRequest => StatusCode::BAD_REQUEST,
            };
            (code, Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}

/// Why a request was not authorized; `reason` is the metric's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No token is configured for the endpoint.
    Off,
    NoToken,
    WrongScheme,
    WrongToken,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Off => "off",
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

/// [`check`] against each configured token (each compared in constant time); `Off` when
/// none is configured.
fn check_any(headers: &HeaderMap, tokens: &[&Option<SecretString>]) -> Result<(), Refusal> {
    let mut refusal = Refusal::Off;
    for token in tokens.iter().filter_map(|t| t.as_ref()) {
        match check(headers, token.expose_secret()) {
            Ok(()) => return Ok(()),
            Err(r) => refusal = r,
        }
    }
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::state::without_person_data;

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
    fn either_configured_token_opens_and_none_configured_is_off() {
        let (admin, trigger) = (Some(SecretString::from("adm1n")), Some(SecretString::from("tr1gger")));
        assert_eq!(check_any(&bearer("Bearer adm1n"), &[&admin, &trigger]), Ok(()));
        assert_eq!(check_any(&bearer("Bearer tr1gger"), &[&admin, &trigger]), Ok(()));
        assert_eq!(check_any(&bearer("Bearer tr1gger"), &[&admin]), Err(Refusal::WrongToken), "admin only");
        assert_eq!(check_any(&HeaderMap::new(), &[&admin]), Err(Refusal::NoToken));
        assert_eq!(check_any(&bearer("Bearer adm1n"), &[&None, &None]), Err(Refusal::Off));
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
