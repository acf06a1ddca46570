//! A strict Okta org on loopback, per `platforms/okta.md`: `GET /api/v1/users` (with the
//! `status`/`lastUpdated` filters), `/api/v1/groups` and `/api/v1/groups/{id}/users`, paged
//! by `Link: rel="next"` cursors, and the service app's `POST /oauth2/v1/token`.
//!
//! Strict as Okta is: every call needs `SSWS <token>` or a live `Bearer` token (401
//! `E0000011`), `limit` above 200 is refused (400 `E0000001`), an unknown `after` cursor or
//! filter is refused (400 `E0000001`), an unknown group is 404 `E0000007`. Every answer
//! carries `X-Rate-Limit-Limit/-Remaining/-Reset` of a per-window bucket, and an empty bucket
//! answers 429 `E0000047` without `Retry-After`, as Okta does. Faults come from the kit
//! ([`Faults`], routes `users`, `groups`, `members`, `token`); the kit's `Truncate` breaks the
//! page's `next` cursor. Access tokens may be made to die after a number of calls, so a token
//! that expires mid-read is testable without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::wire::{OktaError, OktaGroup, OktaUser};
use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::page_cap::PageCap;
use crate::sandbox::server::LoopbackServer;
pub use directory::*;

mod demo;
mod directory;
mod oauth;
pub use demo::start_demo;

/// A test-only RSA key of the emulated service app: the emulator knows its public half.
pub const SERVICE_APP_KEY: &str = include_str!("service_app_key.pem");
const SERVICE_APP_PUBLIC_KEY: &str = include_str!("service_app_key.pub.pem");
/// The emulated service app's client id.
pub const SERVICE_APP_CLIENT: &str = "0oa-rosterd-sandbox";

/// What the emulated org starts with.
#[derive(Debug, Clone)]
pub struct OktaSandboxOptions {
    pub api_token: String,
    pub directory: Directory,
    /// Answer at most this many records a page, whatever `limit` asks.
    pub page_cap: PageCap,
    /// The rate-limit bucket: requests per window (shared by all routes).
    pub rate_limit: u64,
    pub rate_window: Duration,
    /// Access tokens issued to the service app die after this many API calls (`None`: at
    /// `expires_in`, an hour).
    pub token_uses: Option<usize>,
}

impl OktaSandboxOptions {
    pub fn new(api_token: &str, directory: Directory) -> OktaSandboxOptions {
        OktaSandboxOptions {
            api_token: api_token.into(),
            directory,
            page_cap: PageCap::None,
            rate_limit: 1_000_000,
            rate_window: Duration::from_secs(60),
            token_uses: None,
        }
    }
}

/// The per-window bucket every answer reports.
#[derive(Debug)]
struct Bucket {
    remaining: u64,
    /// When the window ends, epoch seconds (rounded up).
    reset: u64,
}

#[derive(Debug)]
struct Shared {
    options: OktaSandboxOptions,
    faults: Faults,
    directory: Mutex<Directory>,
    bucket: Mutex<Bucket>,
    /// Live access tokens and the calls each has left.
    tokens: Mutex<HashMap<String, Option<usize>>>,
    /// Every access token ever issued (for the secrets test).
    issued: Mutex<Vec<String>>,
    /// This server's own base, for `Link` targets.
    base: Mutex<String>,
}

type AppState = State<Arc<Shared>>;

/// A running emulated org; stopped when dropped.
#[derive(Debug)]
pub struct OktaSandbox {
    server: LoopbackServer,
    shared: Arc<Shared>,
    base: url::Url,
}

impl OktaSandbox {
    pub async fn start(options: OktaSandboxOptions) -> std::io::Result<OktaSandbox> {
        let bucket = Bucket { remaining: options.rate_limit, reset: 0 };
        let shared = Arc::new(Shared {
            directory: Mutex::new(options.directory.clone()),
            options,
            faults: Faults::new(),
            bucket: Mutex::new(bucket),
            tokens: Mutex::default(),
            issued: Mutex::default(),
            base: Mutex::default(),
        });
        let server = LoopbackServer::start(router(shared.clone()), "okta").await?;
        *lock(&shared.base) = format!("http://{}", server.addr());
        let base = server.url("/")?;
        Ok(OktaSandbox { server, shared, base })
    }

    /// `http://127.0.0.1:PORT`, the org's address.
    pub fn base_url(&self) -> url::Url {
        self.base.clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served so far on a route (`users`, `groups`, `members`, `token`).
    pub fn calls(&self, route: &str) -> usize {
        self.shared.faults.count(route)
    }

    /// Every access token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.issued).clone()
    }

    /// Change the directory in place (a status, a membership...), as an admin would.
    pub fn edit(&self, change: impl FnOnce(&mut Directory)) {
        change(&mut lock(&self.shared.directory));
    }

    /// Set a user's status, stamping `lastUpdated` with now.
    pub fn set_status(&self, id: &str, status: &str) {
        self.edit(|d| {
            if let Some(user) = d.users.get_mut(id) {
                user.status = status.into();
                user.last_updated = Some(now_stamp());
            }
        });
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Now as Okta writes times.
pub fn now_stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/users", get(users_route))
        .route("/api/v1/groups", get(groups_route))
        .route("/api/v1/groups/{id}/users", get(members_route))
        .route("/oauth2/v1/token", post(oauth::token_route))
        .with_state(shared)
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    limit: Option<String>,
    after: Option<String>,
    filter: Option<String>,
    search: Option<String>,
}

/// Okta's error answer.
fn error(status: StatusCode, code: &str, summary: &str) -> Response {
    (status, Json(OktaError::new(code, summary))).into_response()
}

fn invalid(summary: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "E0000001", &format!("Api validation failed: {summary}"))
}

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let run = s.clone();
    s.faults
        .run("users", |injected| async move { run.serve(&headers, "/api/v1/users", &q, injected, Shared::users) })
        .await
}

async fn groups_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let run = s.clone();
    s.faults
        .run("groups", |injected| async move { run.serve(&headers, "/api/v1/groups", &q, injected, Shared::groups) })
        .await
}

async fn members_route(
    State(s): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let run = s.clone();
    let path = format!("/api/v1/groups/{id}/users");
    s.faults
        .run("members", |injected| async move { run.serve(&headers, &path, &q, injected, |s, q| s.members(&id, q)) })
        .await
}

/// What a listing holds: users or groups.
#[derive(Debug, Clone, Copy)]
enum Held {
    User,
    Group,
}

/// A listing's items by id, in paging order (only a page's items are rendered as JSON, so
/// an org of 100,000 stays cheap to page); Err is the refusal to answer.
type Listed = Result<Vec<(String, Held)>, Box<Response>>;

impl Shared {
    /// Check the caller and the bucket, then page the listing `list` builds.
    fn serve(
        &self,
        headers: &HeaderMap,
        path: &str,
        q: &Params,
        injected: Injected,
        list: impl Fn(&Shared, &Params) -> Listed,
    ) -> Response {
        let mut answer = self.checked(headers, q).unwrap_or_else(|| match list(self, q) {
            Ok(items) => self.page(path, q, &items, injected),
            Err(refused) => *refused,
        });
        self.stamp_rate(answer.headers_mut());
        answer
    }

    /// The refusal a request earns before it is read (credentials, bucket, parameters).
    fn checked(&self, headers: &HeaderMap, q: &Params) -> Option<Response> {
        if !self.authorized(headers) {
            return Some(error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided"));
        }
        if !self.take_from_bucket() {
            return Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            ));
        }
        if q.search.is_some() {
            return Some(invalid("search is not served by this emulator: rosterd must not use it"));
        }
        match q.limit.as_deref().map(str::parse::<usize>) {
            None | Some(Ok(1..=200)) => None,
            Some(_) => Some(invalid("limit must be between 1 and 200")),
        }
    }

    fn users(&self, q: &Params) -> Listed {
        let filter = match q.filter.as_deref().map(UserFilter::parse).transpose() {
            Ok(f) => f.unwrap_or_default(),
            Err(why) => return Err(Box::new(invalid(&format!("filter: {why}")))),
        };
        let d = lock(&self.directory);
        let users = d.users.values().filter(|u| filter.matches(u));
        Ok(users.map(|u| (u.id.clone(), Held::User)).collect())
    }

    fn groups(&self, q: &Params) -> Listed {
        if q.filter.is_some() {
            return Err(Box::new(invalid("filter is not served on groups by this emulator")));
        }
        let d = lock(&self.directory);
        Ok(d.groups.keys().map(|id| (id.clone(), Held::Group)).collect())
    }

    fn members(&self, group: &str, _: &Params) -> Listed {
        let d = lock(&self.directory);
        if !d.groups.contains_key(group) {
            let summary = format!("Not found: Resource not found: {group} (UserGroup)");
            return Err(Box::new(error(StatusCode::NOT_FOUND, "E0000007", &summary)));
        }
        let members = d.members.get(group).into_iter().flatten();
        let users = members.filter(|id| d.users.contains_key(*id));
        Ok(users.map(|id| (id.clone(), Held::User)).collect())
    }

    /// One page after `after`, with `self` and (when more follow) `next` links.
    fn page(&self, path: &str, q: &Params, items: &[(String, Held)], injected: Injected) -> Response {
        let limit = q.limit.as_deref().and_then(|l| l.parse().ok()).unwrap_or(200);
        let size = self.options.page_cap.apply(limit);
        let Some((page, more)) = page_after(items, q.after.as_deref(), size) else {
            return invalid("after: the cursor is not valid");
        };
        let body: Vec<serde_json::Value> = {
            let d = lock(&self.directory);
            let render = |(id, held): &(String, Held)| match held {
                Held::User => d.users.get(id).map(user_json),
                Held::Group => d.groups.get(id).map(group_json),
            };
            page.iter().filter_map(render).collect()
        };
        let mut answer = Json(body).into_response();
        let base = lock(&self.base).clone();
        let filter = q.filter.as_deref().map(|f| format!("&filter={}", encode(f))).unwrap_or_default();
        let link = |after: Option<&str>, rel: &str| {
            let after = after.map(|a| format!("&after={}", encode(a))).unwrap_or_default();
            HeaderValue::from_str(&format!("<{base}{path}?limit={limit}{after}{filter}>; rel=\"{rel}\""))
        };
        if let Ok(v) = link(q.after.as_deref(), "self") {
            answer.headers_mut().append(header::LINK, v);
        }
        let last = page.last().map(|(id, _)| id.as_str());
        let cursor = if injected.truncate { Some("broken-cursor") } else { last };
        if let Some(Ok(v)) = more.then(|| link(cursor, "next")) {
            answer.headers_mut().append(header::LINK, v);
        }
        answer
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if let Some(token) = given.strip_prefix("SSWS ") {
            return token == self.options.api_token;
        }
        let Some(token) = given.strip_prefix("Bearer ") else { return false };
        let mut tokens = lock(&self.tokens);
        match tokens.get_mut(token) {
            Some(Some(0)) | None => false,
            Some(Some(left)) => {
                *left -= 1;
                true
            }
            Some(None) => true,
        }
    }

    /// Take one request from the window's bucket; false when it is empty.
    fn take_from_bucket(&self) -> bool {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut bucket = lock(&self.bucket);
        if now.as_secs() >= bucket.reset {
            let window = self.options.rate_window.max(Duration::from_secs(1));
            bucket.reset = (now + window).as_secs_f64().ceil() as u64;
            bucket.remaining = self.options.rate_limit;
        }
        match bucket.remaining {
            0 => false,
            _ => {
                bucket.remaining -= 1;
                true
            }
        }
    }

    fn stamp_rate(&self, headers: &mut HeaderMap) {
        let bucket = lock(&self.bucket);
        for (name, value) in [
            ("x-rate-limit-limit", self.options.rate_limit),
            ("x-rate-limit-remaining", bucket.remaining),
            ("x-rate-limit-reset", bucket.reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A user as Okta lists it, `credentials` and `_links` included.
fn user_json(user: &OktaUser) -> serde_json::Value {
    let mut value = serde_json::to_value(user).unwrap_or_default();
    value["credentials"] = json!({"provider": {"type": "OKTA", "name": "OKTA"}});
    value["_links"] = json!({});
    value
}

fn group_json(group: &OktaGroup) -> serde_json::Value {
    serde_json::to_value(group).unwrap_or_default()
}
