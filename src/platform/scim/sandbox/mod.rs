//! A strict SCIM 2.0 service provider for Users (with the enterprise extension: `scim/enterprise.rs`) and Groups (`scim/groups.rs`) on loopback, per `platforms/scim.md` "As a target".
//!
//! It serves under `/scim/v2`, checks the bearer token on every call (401 with a SCIM Error
//! body), announces `patch` and `etag` support as configured, pages with `startIndex` /
//! `count` / `totalResults` (capping `count` at `max_results`), filters `userName eq "..."`,
//! and `meta.lastModified gt|ge "<date-time>"` (compared as instants, for incremental reads),
//! refuses a taken `userName` with 409 `uniqueness`, applies PATCH `replace` operations on
//! the attributes rosterd writes (400 otherwise), replaces whole resources on PUT, versions
//! every resource (`meta.version`, `ETag`, 412 on a stale `If-Match`), and consults
//! [`Faults`] on every route. Passwords are write-only: stored, never returned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use crate::platform::emulator::{
    faulted, start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits, Held, Kind, Roster, Seed, Serve,
    Served,
};
use crate::sandbox::faults::Injected;

mod enterprise;
mod groups;
mod routes;
mod user;
mod users;
pub use enterprise::ENTERPRISE_URN;
pub use groups::{ScimGroup, GROUP_URN};
use routes::{on_collection, on_resource};
use user::{apply_operation, fill, user_json, User};
pub use user::{ScimEmail, ScimUser, SEEDED_AT};
use users::{body_object, check_schemas, query_int};

use super::wire::{ERROR_URN, LIST_URN, MEDIA_TYPE, PATCH_URN, USER_URN};
const CONFIG_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Where the emulator serves, under its address.
pub const BASE_PATH: &str = "/scim/v2";

/// What the SCIM emulator takes beyond every kind's seed (whose key is the bearer token).
#[derive(Debug, Clone)]
pub struct ScimExtras {
    /// `ServiceProviderConfig.patch.supported`; without it PATCH answers 501.
    pub patch_supported: bool,
    /// `ServiceProviderConfig.etag.supported`: versions served and `If-Match` honoured.
    pub etag_supported: bool,
    /// The most resources one page holds, whatever `count` asks (`filter.maxResults`).
    pub max_results: usize,
    /// Whether `meta.lastModified gt|ge` filters are served (else 400 `invalidFilter`).
    pub last_modified_filter: bool,
}

/// What the emulator starts with.
pub type ScimSandboxOptions = Seed<ScimUser, ScimExtras>;

impl Default for ScimSandboxOptions {
    fn default() -> Self {
        let extras =
            ScimExtras { patch_supported: true, etag_supported: true, max_results: 1000, last_modified_filter: true };
        Seed::new("sandbox-scim-token", extras)
    }
}

impl ScimSandboxOptions {
    /// The bearer token rosterd must send.
    pub fn with_token(self, token: &str) -> Self {
        self.with_api_key(token)
    }

    pub fn without_patch(mut self) -> Self {
        self.patch_supported = false;
        self
    }

    pub fn without_etag(mut self) -> Self {
        self.etag_supported = false;
        self
    }

    pub fn with_max_results(mut self, max: usize) -> Self {
        self.max_results = max.max(1);
        self
    }

    /// Refuse `meta.lastModified` filters with 400 `invalidFilter`, as a server without them would.
    pub fn without_last_modified_filter(mut self) -> Self {
        self.last_modified_filter = false;
        self
    }
}

impl Kind for ScimExtras {
    type Store = Store;
    // The largest page is the options' `max_results`, not a constant.
    const SERVE: Serve<Self> = Serve::new("scim", router, &["create", "patch", "put"], 0).under(BASE_PATH);

    fn largest_page(&self) -> usize {
        self.max_results
    }
}

impl Held for ScimUser {
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.user_name, self.given_name.as_deref().unwrap_or_default(), self.active)
    }
}

/// One authenticated write as it arrived, for tests to assert on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimWrite {
    /// `POST`, `PATCH` or `PUT`.
    pub method: String,
    /// The resource written (`None` for a create).
    pub id: Option<String>,
    pub if_match: Option<String>,
    /// The body as sent (`Value::Null` if it was not JSON).
    pub body: Value,
}

impl ScimWrite {
    /// The `path`s of a PATCH's operations, in order.
    pub fn patch_paths(&self) -> Vec<String> {
        let operations = self.body.get("Operations").and_then(Value::as_array);
        operations.into_iter().flatten().filter_map(|o| o["path"].as_str().map(str::to_string)).collect()
    }
}

/// A SCIM Error answer.
#[derive(Debug)]
struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn syntax(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    fn value(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    fn path(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }

    fn not_found(id: &str) -> ScimError {
        ScimError::new(StatusCode::NOT_FOUND, None, format!("Resource {id} not found"))
    }

    fn taken(user_name: &str) -> ScimError {
        ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), format!("userName {user_name:?} is already in use"))
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body =
            json!({ "schemas": [ERROR_URN], "status": self.status.as_u16().to_string(), "detail": self.detail });
        if let Some(kind) = self.scim_type {
            body["scimType"] = json!(kind);
        }
        let mut response = (self.status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A success answer: SCIM JSON, with the resource's ETag when versions are served.
fn scim_json(status: StatusCode, body: Value, etag: Option<String>) -> Response {
    crate::platform::scim::wire::answer_json(status, &body, etag)
}

/// Give a new resource with no `id` the next one: `prefix` and a zero-padded count, so ids
/// sort in creation order.
fn assign_id(id: &mut String, next: &mut u64, prefix: char) {
    if id.is_empty() {
        *next += 1;
        *id = format!("{prefix}{next:06}");
    }
}

/// A copy of `current` with a PATCH's `operations` applied by `apply`, all or nothing.
fn patched<R: Clone>(
    current: &R,
    operations: &[Value],
    apply: fn(&mut R, &Value) -> Result<(), ScimError>,
) -> Result<R, ScimError> {
    let mut resource = current.clone();
    for operation in operations {
        apply(&mut resource, operation)?;
    }
    Ok(resource)
}

fn answer(outcome: Result<Response, ScimError>) -> Response {
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// The mutable part of the emulator.
#[derive(Debug, Default)]
pub struct Store {
    /// Keyed by id; ids are zero-padded so the order is creation order, stable across pages.
    users: BTreeMap<String, ScimUser>,
    next_id: u64,
    writes: Vec<ScimWrite>,
    /// Groups by id (`/Groups`, see `groups.rs`).
    groups: BTreeMap<String, ScimGroup>,
    next_group_id: u64,
}

impl Roster for Store {
    type User = ScimUser;

    fn users(&self) -> impl Iterator<Item = &ScimUser> {
        self.users.values()
    }

    fn insert(&mut self, mut user: ScimUser) -> ScimUser {
        assign_id(&mut user.id, &mut self.next_id, 'u');
        self.users.insert(user.id.clone(), user.clone());
        user
    }
}

impl Store {
    /// userName is unique, compared case-insensitively (`caseExact: false`).
    fn check_unique(&self, user_name: &str, except: Option<&str>) -> Result<(), ScimError> {
        self.ensure_free(user_name, |u| Some(u.id.as_str()) == except, || ScimError::taken(user_name))
    }
}

/// Everything the handlers share.
pub type Shared = Served<ScimExtras>;

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Shared {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ScimError> {
        let given = header_str(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
        match given == Some(self.api_key.as_str()) {
            true => Ok(()),
            false => Err(ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "Authorization failure: invalid or missing bearer token",
            )),
        }
    }

    /// Authorize a write, record it, and hand back its body as a JSON object.
    fn accept_write(
        &self,
        method: &str,
        id: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Map<String, Value>, ScimError> {
        self.authorize(headers)?;
        let write = ScimWrite {
            method: method.into(),
            id: id.map(str::to_string),
            if_match: header_str(headers, header::IF_MATCH).map(str::to_string),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        };
        self.lock().writes.push(write);
        if !header_str(headers, header::CONTENT_TYPE).is_some_and(|t| t.contains("json")) {
            return Err(ScimError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "send application/scim+json"));
        }
        body_object(body)
    }

    /// The resource `found` for `id` (none: 404), checked against `If-Match` by its `etag`:
    /// what a PUT or a PATCH starts from.
    fn current<'a, R>(
        &self,
        found: Option<&'a R>,
        id: &str,
        etag: fn(&R) -> String,
        headers: &HeaderMap,
    ) -> Result<&'a R, ScimError> {
        let current = found.ok_or_else(|| ScimError::not_found(id))?;
        self.check_version(&etag(current), headers)?;
        Ok(current)
    }

    /// A stale `If-Match` (against the resource's `etag`) is refused when versions are
    /// served; none at all is allowed.
    fn check_version(&self, etag: &str, headers: &HeaderMap) -> Result<(), ScimError> {
        let given = header_str(headers, header::IF_MATCH);
        match (self.options.etag_supported, given) {
            (true, Some(tag)) if tag != "*" && tag != etag => Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "Failed to update. Resource has changed on the server",
            )),
            _ => Ok(()),
        }
    }

    fn render(&self, user: &ScimUser) -> Value {
        user_json(&User { user, versioned: self.options.etag_supported })
    }

    fn single(&self, status: StatusCode, user: &ScimUser) -> Response {
        scim_json(status, self.render(user), self.options.etag_supported.then(|| user.etag()))
    }

    fn service_provider_config(&self, headers: &HeaderMap) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        let body = json!({
            "schemas": [CONFIG_URN],
            "patch": { "supported": self.options.patch_supported },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": self.options.max_results },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": self.options.etag_supported },
            "authenticationSchemes": [{ "type": "oauthbearertoken", "name": "OAuth Bearer Token", "description": "A static bearer token" }],
        });
        Ok(scim_json(StatusCode::OK, body, None))
    }
}

type Params = HashMap<String, String>;

type AppState = State<Arc<Shared>>;

async fn config_route(State(s): AppState, headers: HeaderMap) -> Response {
    faulted(s, "config", |s, _| answer(s.service_provider_config(&headers))).await
}

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    // A userName lookup is counted apart from paging, so list_calls counts pages only
    // (of full and of incremental listings).
    let lookup = q.get("filter").is_some_and(|f| f.trim_start().to_lowercase().starts_with("username"));
    let route = if lookup { "find" } else { "list" };
    faults.run(route, |injected| async move { answer(s.list(&headers, &q, injected)) }).await
}

/// Anything outside the contract (DELETE included: rosterd never deletes).
async fn unknown_route(State(s): AppState) -> Response {
    s.faults
        .run("unknown", |_| async { ScimError::new(StatusCode::NOT_FOUND, None, "no such endpoint").into_response() })
        .await
}

fn router(shared: Arc<Shared>) -> Router {
    let users = Router::new()
        .route(&format!("{BASE_PATH}/ServiceProviderConfig"), get(config_route))
        .route(&format!("{BASE_PATH}/Users"), get(users_route).post(on_collection("create", Shared::create)))
        .route(
            &format!("{BASE_PATH}/Users/{{id}}"),
            get(on_resource("get", |s, headers, id, _| s.get_user(headers, id)))
                .patch(on_resource("patch", Shared::patch))
                .put(on_resource("put", Shared::put)),
        );
    groups::routes(users).fallback(unknown_route).with_state(shared)
}

/// A running SCIM emulator on `127.0.0.1`; stops when shut down or dropped.
pub type ScimSandbox = Emulated<Shared>;

impl ScimSandbox {
    /// The most resources one page holds (`filter.maxResults`).
    pub fn max_results(&self) -> usize {
        self.state().options.max_results
    }

    /// The bearer token rosterd must send.
    pub fn token(&self) -> &str {
        self.api_key()
    }

    pub fn user(&self, id: &str) -> Option<ScimUser> {
        self.state().lock().users.get(id).cloned()
    }

    /// Change a user behind rosterd's back, as another admin would: the version moves on
    /// and `meta.lastModified` becomes now.
    pub fn modify(&self, id: &str, change: impl FnOnce(&mut ScimUser)) -> Option<ScimUser> {
        let mut store = self.state().lock();
        let user = store.users.get_mut(id)?;
        change(user);
        user.version += 1;
        user.last_modified = chrono::Utc::now();
        Some(user.clone())
    }

    /// Delete a user behind rosterd's back (a hard delete at the identity provider).
    pub fn delete_user(&self, id: &str) -> Option<ScimUser> {
        self.state().lock().users.remove(id)
    }

    /// Every authenticated write as it arrived, oldest first.
    pub fn writes(&self) -> Vec<ScimWrite> {
        self.state().lock().writes.clone()
    }

    pub fn last_write(&self) -> Option<ScimWrite> {
        self.state().lock().writes.last().cloned()
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<ScimExtras>,
    test_entry: "",
    habits: Habits { reads_per_run: 1, ..Habits::USUAL },
    demo: DemoSeed::of::<ScimExtras>("scim", "scim-token", include_str!("../demo.yaml")),
};

#[cfg(test)]
mod tests;
