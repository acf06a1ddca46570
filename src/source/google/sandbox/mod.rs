//! A strict Google Workspace emulator on loopback: the token endpoint (it verifies the signed
//! assertion with the emulator key's public half, its claims and the delegated scopes) and
//! the Directory API's `users.list`, `groups.list` and `members.list` (a token required,
//! `maxResults` bounded, unknown `pageToken`s refused), with the kit's faults.
//!
//! The emulator's service account key (`emulator_key.pem`) is published with the source: it
//! signs for this emulator only and no real service trusts it.

mod directory;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use tokio::time::Instant;

pub use directory::*;

use super::wire::User;
use super::{GRANT_TYPE, SCOPES};
use crate::platform::emulator::{faulted, Emulated, EmulatedAccount, EmulatorState};
use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::page_cap::PageCap;

/// The emulator's service account private key (PEM): for the emulator only.
pub const EMULATOR_KEY_PEM: &str = include_str!("emulator_key.pem");
const EMULATOR_PUBLIC_PEM: &str = include_str!("emulator_key.pub.pem");
/// The service account the emulator knows.
pub const CLIENT_EMAIL: &str = "rosterd-reader@acme-emulator.iam.gserviceaccount.com";
/// The admin the service account may act as.
pub const ADMIN: &str = "admin@acme.example";
/// The emulated account's customer id (`my_customer` names it too) and its one domain.
pub const CUSTOMER_ID: &str = "C0emu1a2b";
pub const DOMAIN: &str = "acme.example";
const BASE_PATH: &str = "/admin/directory/v1";

/// What the emulator holds and how it behaves.
#[derive(Debug, Clone, Default)]
pub struct GoogleSandboxOptions {
    pub users: Vec<User>,
    pub groups: Vec<DirectoryGroup>,
    /// `expires_in` of every token issued; `None`: 3599 s, as Google's.
    pub token_lifetime: Option<Duration>,
    /// A token stops working after this many Directory API calls (as if it expired
    /// mid-read, whatever `expires_in` said); `None`: only its lifetime counts.
    pub token_uses: Option<usize>,
    pub page_cap: PageCap,
}

impl GoogleSandboxOptions {
    /// `n` generated people and groups (see [`generated`]).
    pub fn generated(n: usize) -> Self {
        let (users, groups) = generated(n);
        GoogleSandboxOptions { users, groups, ..Self::default() }
    }
}

#[derive(Debug)]
struct Issued {
    expires: Instant,
    uses: usize,
}

#[derive(Debug, Default)]
struct Store {
    /// Sorted by primary email (`orderBy=email`).
    users: Vec<User>,
    groups: Vec<DirectoryGroup>,
    tokens: HashMap<String, Issued>,
    /// Every access token issued, in order (for the secrets test).
    issued: Vec<String>,
    /// pageToken → the listing it continues and where.
    cursors: HashMap<String, (String, usize)>,
}

/// The emulator's state.
pub struct Shared {
    options: GoogleSandboxOptions,
    store: Mutex<Store>,
    faults: Faults,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleEmulator").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EmulatorState for Shared {
    const WRITE_ROUTES: &'static [&'static str] = &[];

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn key(&self) -> &str {
        EMULATOR_KEY_PEM
    }

    fn listed(&self) -> usize {
        self.lock().users.len()
    }

    fn accounts(&self) -> Vec<EmulatedAccount> {
        let store = self.lock();
        store
            .users
            .iter()
            .map(|u| {
                EmulatedAccount::new(
                    &u.primary_email,
                    u.name.given_name.as_deref().unwrap_or_default(),
                    !u.suspended && !u.archived,
                )
            })
            .collect()
    }

    fn largest_page(&self) -> usize {
        self.options.page_cap.apply(500)
    }
}

/// A Directory API error answer, as Google shapes it.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
}

fn api_error(code: u16, reason: &'static str, message: &str) -> ApiError {
    ApiError { code, reason, message: message.into() }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message, reason) = (self.code, self.message, self.reason);
        let body = json!({ "error": { "code": code, "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }] } });
        (status, Json(body)).into_response()
    }
}

/// A quota answer's body (403 `userRateLimitExceeded`, …), for fault scripts.
pub fn quota_body(reason: &str) -> String {
    json!({ "error": { "code": 403, "message": "Quota exceeded", "errors": [{ "message": "Quota exceeded",
        "domain": "usageLimits", "reason": reason }] } })
    .to_string()
}

fn oauth_error(code: StatusCode, error: &str, description: &str) -> Response {
    (code, Json(json!({ "error": error, "error_description": description }))).into_response()
}

type Params = HashMap<String, String>;
type AppState = State<Arc<Shared>>;

impl Shared {
    /// `POST /token`: verify the assertion and issue an access token.
    fn token(&self, token_url: &str, form: &Params) -> Response {
        if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
            return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type");
        }
        let Some(assertion) = form.get("assertion") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: assertion");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[token_url]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        validation.leeway = 0;
        let claims = match jsonwebtoken::decode::<Value>(assertion, &self.decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &format!("Invalid JWT: {e}")),
        };
        let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
        if exp <= iat || exp - iat > 3600 {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes)",
            );
        }
        if claims["iss"] != CLIENT_EMAIL {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "The OAuth client was not found.");
        }
        if claims["sub"] != ADMIN {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method.",
            );
        }
        let delegated: Vec<&str> = SCOPES.split(' ').collect();
        let asked = claims["scope"].as_str().unwrap_or_default();
        if asked.is_empty() || !asked.split(' ').all(|s| delegated.contains(&s)) {
            return oauth_error(StatusCode::UNAUTHORIZED, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.");
        }
        let token = format!("ya29.emu-{}", uuid::Uuid::new_v4().simple());
        let lifetime = self.options.token_lifetime.unwrap_or(Duration::from_secs(3599));
        let mut store = self.lock();
        store.tokens.insert(token.clone(), Issued { expires: Instant::now() + lifetime, uses: 0 });
        store.issued.push(token.clone());
        Json(json!({ "access_token": token, "expires_in": lifetime.as_secs(), "token_type": "Bearer" })).into_response()
    }

    /// The bearer token must be one issued, unexpired and within its uses.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let refused = || {
            api_error(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
        };
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let mut store = self.lock();
        let issued = token.and_then(|t| store.tokens.get_mut(t)).ok_or_else(refused)?;
        issued.uses += 1;
        let used_up = self.options.token_uses.is_some_and(|max| issued.uses > max);
        if used_up || Instant::now() >= issued.expires {
            return Err(refused());
        }
        Ok(())
    }

    /// One page of a listing, `max` a page at most; only the page's rows are rendered.
    fn page(&self, listing: &Listing, q: &Params, max: usize, injected: Injected) -> Result<Response, ApiError> {
        let asked = match q.get("maxResults").map(|m| m.parse::<usize>()) {
            None => 100.min(max),
            Some(Ok(n)) if (1..=max).contains(&n) => n,
            Some(_) => {
                return Err(api_error(400, "invalid", &format!("Invalid value for maxResults: must be 1 to {max}")))
            }
        };
        let name = listing.name();
        let mut store = self.lock();
        let start = match q.get("pageToken") {
            None => 0,
            Some(t) => match store.cursors.get(t) {
                Some((l, at)) if *l == name => *at,
                _ => return Err(api_error(400, "badRequest", "Invalid pageToken")),
            },
        };
        let len = listing.len(&store).ok_or_else(|| api_error(404, "notFound", "Resource Not Found: groupKey"))?;
        let end = (start + self.options.page_cap.apply(asked)).min(len);
        let key = listing.key();
        let mut body = json!({ "kind": format!("admin#directory#{key}"), "etag": "\"emu\"" });
        if start < end {
            body[key] = Value::Array(listing.render(&store, start..end));
        }
        if end < len {
            let token = format!("pt{}", uuid::Uuid::new_v4().simple());
            // A broken cursor: a token this server never issued.
            if !injected.truncate {
                store.cursors.insert(token.clone(), (name, end));
            }
            body["nextPageToken"] = json!(token);
        }
        Ok(Json(body).into_response())
    }

    /// `customer=my_customer|<id>` or `domain=acme.example`, as the API insists on one.
    fn directory(q: &Params) -> Result<(), ApiError> {
        match (q.get("customer").map(String::as_str), q.get("domain").map(String::as_str)) {
            (Some("my_customer" | CUSTOMER_ID), _) | (None, Some(DOMAIN)) => Ok(()),
            (None, None) => Err(api_error(400, "badRequest", "Bad Request: customer or domain is required")),
            _ => Err(api_error(403, "forbidden", "Not Authorized to access this resource/api")),
        }
    }

    fn users(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Response, ApiError> {
        self.authorize(headers)?;
        Self::directory(q)?;
        if !matches!(q.get("projection").map(String::as_str), None | Some("basic" | "full")) {
            return Err(api_error(400, "invalid", "Invalid value for projection"));
        }
        if !matches!(q.get("orderBy").map(String::as_str), None | Some("email" | "givenName" | "familyName")) {
            return Err(api_error(400, "invalid", "Invalid value for orderBy"));
        }
        self.page(&Listing::Users, q, 500, injected)
    }

    fn groups(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Response, ApiError> {
        self.authorize(headers)?;
        Self::directory(q)?;
        self.page(&Listing::Groups, q, 200, injected)
    }

    fn members(&self, headers: &HeaderMap, key: &str, q: &Params, injected: Injected) -> Result<Response, ApiError> {
        self.authorize(headers)?;
        self.page(&Listing::Members(key.to_string()), q, 200, injected)
    }
}

/// The three listings the emulator pages.
enum Listing {
    Users,
    Groups,
    /// A group's members, by the group's id or email.
    Members(String),
}

impl Listing {
    fn name(&self) -> String {
        match self {
            Listing::Users => "users".into(),
            Listing::Groups => "groups".into(),
            Listing::Members(key) => format!("members/{key}"),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            Listing::Users => "users",
            Listing::Groups => "groups",
            Listing::Members(_) => "members",
        }
    }

    fn group<'a>(store: &'a Store, key: &str) -> Option<&'a DirectoryGroup> {
        store.groups.iter().find(|g| g.id == key || g.email == key)
    }

    /// How many rows the listing holds; `None` for an unknown group.
    fn len(&self, store: &Store) -> Option<usize> {
        match self {
            Listing::Users => Some(store.users.len()),
            Listing::Groups => Some(store.groups.len()),
            Listing::Members(key) => Self::group(store, key).map(|g| g.members.len()),
        }
    }

    fn render(&self, store: &Store, rows: std::ops::Range<usize>) -> Vec<Value> {
        match self {
            Listing::Users => store.users.get(rows).unwrap_or_default().iter().map(to_json).collect(),
            Listing::Groups => store.groups.get(rows).unwrap_or_default().iter().map(DirectoryGroup::json).collect(),
            Listing::Members(key) => Self::group(store, key)
                .and_then(|g| g.members.get(rows))
                .unwrap_or_default()
                .iter()
                .map(to_json)
                .collect(),
        }
    }
}

fn to_json<T: serde::Serialize>(row: &T) -> Value {
    serde_json::to_value(row).unwrap_or_default()
}

fn either(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

async fn token_route(State(s): AppState, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    faulted(s, "token", move |s, _| s.token(&format!("http://{host}/token"), &form)).await
}

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    faulted(s, "users", |s, injected| either(s.users(&headers, &q, injected))).await
}

async fn groups_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    faulted(s, "groups", |s, injected| either(s.groups(&headers, &q, injected))).await
}

async fn members_route(
    State(s): AppState,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    faulted(s, "members", |s, injected| either(s.members(&headers, &key, &q, injected))).await
}

async fn unknown_route(State(s): AppState) -> Response {
    faulted(s, "unknown", |_, _| api_error(404, "notFound", "Not Found").into_response()).await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/token", post(token_route))
        .route(&format!("{BASE_PATH}/users"), get(users_route))
        .route(&format!("{BASE_PATH}/groups"), get(groups_route))
        .route(&format!("{BASE_PATH}/groups/{{key}}/members"), get(members_route))
        .fallback(unknown_route)
        .with_state(shared)
}

/// A running Google Workspace emulator; stops when shut down or dropped.
pub type GoogleSandbox = Emulated<Shared>;

impl GoogleSandbox {
    pub async fn start(options: GoogleSandboxOptions) -> std::io::Result<GoogleSandbox> {
        let decoding = DecodingKey::from_rsa_pem(EMULATOR_PUBLIC_PEM.as_bytes()).map_err(std::io::Error::other)?;
        let mut options = options;
        let mut users = std::mem::take(&mut options.users);
        users.sort_by(|a, b| a.primary_email.cmp(&b.primary_email));
        let groups = std::mem::take(&mut options.groups);
        let store = Store { users, groups, ..Store::default() };
        let shared = Shared { options, store: Mutex::new(store), faults: Faults::new(), decoding };
        Emulated::launch(shared, router, "google", BASE_PATH).await
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn token_url(&self) -> url::Url {
        let mut url = self.base_url();
        url.set_path("/token");
        url
    }

    /// The service account key file (JSON) for this emulator, its `token_uri` pointing here.
    pub fn key_json(&self) -> String {
        json!({ "type": "service_account", "project_id": "acme-emulator", "private_key_id": "emu-key-1",
                "private_key": EMULATOR_KEY_PEM, "client_email": CLIENT_EMAIL,
                "token_uri": self.token_url().as_str() })
        .to_string()
    }

    /// Every access token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().lock().issued.clone()
    }

    /// Directory API calls and token requests received.
    pub fn calls(&self) -> usize {
        self.faults().requests()
    }

    /// The fewest calls a complete read can make at `page_size` users a page: one token,
    /// the user pages, the group pages, and each group's member pages (an empty group one).
    pub fn minimum_calls(&self, page_size: usize) -> usize {
        let store = self.state().lock();
        let pages = |n: usize, per: usize| n.div_ceil(per.max(1)).max(1);
        let members: usize = store.groups.iter().map(|g| pages(g.members.len(), 200)).sum();
        1 + pages(store.users.len(), page_size) + pages(store.groups.len(), 200) + members
    }

    /// Suspend (or restore) a user, as an admin would in the console.
    pub fn set_suspended(&self, email: &str, suspended: bool) -> bool {
        let mut store = self.state().lock();
        let user = store.users.iter_mut().find(|u| u.primary_email == email);
        user.map(|u| u.suspended = suspended).is_some()
    }

    /// Remove a group, as if an admin deleted it (its members' listing then answers 404).
    pub fn delete_group(&self, id: &str) {
        self.state().lock().groups.retain(|g| g.id != id);
    }

    /// Change a group's members behind the listing's back, so its count no longer adds up.
    pub fn modify_group(&self, id: &str, change: impl FnOnce(&mut DirectoryGroup)) {
        if let Some(g) = self.state().lock().groups.iter_mut().find(|g| g.id == id) {
            change(g);
        }
    }

    /// The `source:` YAML block reading this emulator, the key in `key_file`.
    pub fn source_yaml(&self, key_file: &str) -> String {
        format!("  google:\n    key_file: {key_file}\n    admin: {ADMIN}\n    base_url: \"{}\"\n", self.base_url())
    }
}

/// `rosterd demo --source google`: an emulator serving the people of the demo's roster
/// file (a group for each group they are in, suspended when inactive), its key written
/// beside the config; returns the `source:` block reading it, and the running emulator.
pub async fn for_demo(
    dir: &std::path::Path,
    people: &[crate::model::Person],
) -> std::io::Result<(String, GoogleSandbox)> {
    let mut groups: Vec<DirectoryGroup> = Vec::new();
    let mut users = Vec::with_capacity(people.len());
    for person in people {
        let email = person.email().unwrap_or(&person.user_name);
        let mut u = user(&person.id, email, &person.given_name, &person.family_name);
        u.suspended = !person.active;
        for group in &person.groups {
            let at = match groups.iter().position(|g| g.name == group.display()) {
                Some(at) => at,
                None => {
                    groups.push(DirectoryGroup::new(&format!("g-{}", groups.len() + 1), group.display()));
                    groups.len() - 1
                }
            };
            if let Some(g) = groups.get_mut(at) {
                g.members.push(user_member(&u));
            }
        }
        users.push(u);
    }
    let emu = GoogleSandbox::start(GoogleSandboxOptions { users, groups, ..Default::default() }).await?;
    crate::private::write(&dir.join("google-key.json"), emu.key_json().as_bytes())?;
    Ok((emu.source_yaml("google-key.json"), emu))
}
