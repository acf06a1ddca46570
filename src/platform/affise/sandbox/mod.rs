//! A strict Affise admin-users emulator (`/3.0`, permissions on `/3.1`) on loopback, following `platforms/affise.md`.
//!
//! It checks the `API-Key` header on every call, takes form bodies for user calls (arrays as
//! `roles[0]=...`) and JSON for permissions, pages with `page`/`limit` and `pagination.total_count`,
//! answers failures with HTTP 4xx and `{"status":2,"message":...}`, refuses unknown parameters,
//! unknown roles, weak passwords and duplicate emails, keeps per-user permissions, an API key
//! (returned in records, as the real API does) and a password, and consults [`Faults`] on every route.

mod handlers;

pub use handlers::password_meets_rule;
use handlers::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::platform::emulator::{
    faulted, start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits, Held, Kind, Roster, Seed, Serve,
    Served,
};
use crate::sandbox::faults::Injected;
// The fixed role set is the contract's, as the connector knows it (there is no listing endpoint).
use super::ROLES;

/// Affise's largest `limit`.
const MAX_LIMIT: usize = 500;
/// Affise's `limit` when none is sent.
const DEFAULT_LIMIT: usize = 100;
const TYPES: [&str; 3] = ["common_manager", "affiliate_manager", "account_manager"];
const LEVELS: [&str; 3] = ["deny", "read", "write"];
const USER_FIELDS: [&str; 8] =
    ["email", "password", "first_name", "last_name", "skype", "work_hours", "type", "avatar"];

/// The permission catalogue (section → permissions), from the vendor document's example.
const CATALOGUE: &[(&str, &[&str])] = &[
    ("general", &["marketplace", "settings"]),
    ("notificator", &["client-subscription", "transport-configuration", "user-subscription"]),
    ("stats", &["affiliate-postback", "clicks-list", "comparison-report", "conversions-export", "conversions-import"]),
    ("users", &["entity-advertiser", "entity-affiliate", "entity-affiliate-manager", "view-users"]),
];

/// A user as the emulator stores it, secrets included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffiseUser {
    /// 24 hex digits; empty asks [`AffiseSandbox::insert_user`] to assign one.
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub roles: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub skype: Option<String>,
    pub work_hours: Option<String>,
    /// The user's own API key: a secret the real API returns in every record.
    pub api_key: String,
    /// What was last set; kept so that tests can look for it elsewhere.
    pub password: String,
    /// section → permission → `{"level": ...}`; `Null` asks for the role's defaults.
    pub permissions: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl AffiseUser {
    /// A user with an id, key, stamps and permissions to be assigned on insertion.
    pub fn new(first_name: &str, last_name: &str, email: &str, roles: &[&str]) -> AffiseUser {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        AffiseUser {
            id: String::new(),
            email: email.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            kind: type_for(&roles).into(),
            roles,
            skype: None,
            work_hours: None,
            api_key: String::new(),
            password: String::new(),
            permissions: Value::Null,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    pub fn with_id(mut self, id: &str) -> AffiseUser {
        self.id = id.into();
        self
    }

    /// Whether every permission level is `deny`: how a locked-out user reads.
    pub fn all_denied(&self) -> bool {
        levels(&self.permissions).all(|l| l == "deny")
    }
}

impl Held for AffiseUser {
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.email, &self.first_name, !self.all_denied())
    }

    /// A user whose permissions were never set keeps access, though none of its levels is `allow`.
    fn has_access(&self) -> bool {
        !self.permissions.as_object().is_some_and(super::all_denied)
    }
}

/// Every `level` of a permissions object.
pub fn levels(permissions: &Value) -> impl Iterator<Item = &str> {
    let sections = permissions.as_object().into_iter().flat_map(|s| s.values());
    sections.filter_map(Value::as_object).flat_map(|p| p.values()).map(|p| p["level"].as_str().unwrap_or("?"))
}

fn type_for(roles: &[String]) -> &'static str {
    if roles.iter().any(|r| r == "ROLE_ADMIN") {
        "common_manager"
    } else if roles.iter().any(|r| r == "ROLE_MANAGER_SALES") {
        "account_manager"
    } else {
        "affiliate_manager"
    }
}

/// A realistic default permission set for a role list: everything denied, then what the
/// manager roles grant (an affiliate manager's `entity-affiliate` with exceptions, as the
/// vendor document's sample has).
pub fn default_permissions(roles: &[String]) -> Value {
    let has = |r: &str| roles.iter().any(|x| x == r);
    let admin = has("ROLE_ADMIN");
    let mut out = Map::new();
    for (section, names) in CATALOGUE {
        let entries: Map<String, Value> =
            names.iter().map(|n| (n.to_string(), json!({"level": if admin { "write" } else { "deny" }}))).collect();
        out.insert(section.to_string(), Value::Object(entries));
    }
    let mut grant = |section: &str, name: &str, entry: Value| out[section][name] = entry;
    if !admin && (has("ROLE_MANAGER_AFFILIATE") || has("ROLE_MANAGER_SALES")) {
        grant("general", "marketplace", json!({"level": "read"}));
        grant("stats", "clicks-list", json!({"level": "read"}));
        grant("stats", "conversions-export", json!({"level": "read", "default_level": "read"}));
    }
    if !admin && has("ROLE_MANAGER_AFFILIATE") {
        let exceptions = json!({"ints": {"deny": [2], "read": [5]}});
        grant("users", "entity-affiliate", json!({"level": "write", "exceptions": exceptions}));
    }
    if !admin && has("ROLE_MANAGER_SALES") {
        grant("users", "entity-advertiser", json!({"level": "write"}));
    }
    Value::Object(out)
}

/// Affise's emulator holds nothing beyond every kind's seed.
#[derive(Debug, Clone, Default)]
pub struct AffiseExtras;

/// What the emulator starts with.
pub type AffiseSandboxOptions = Seed<AffiseUser, AffiseExtras>;

impl Default for AffiseSandboxOptions {
    fn default() -> Self {
        Seed::new("sandbox-affise-key", AffiseExtras)
    }
}

impl Kind for AffiseExtras {
    type Store = Store;
    const SERVE: Serve<Self> = Serve::new("affise", router, &WRITE_ROUTES, super::MAX_PAGE_SIZE as usize);
}

/// One authenticated write as received: its route, the user it was about, its parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub route: &'static str,
    pub id: Option<String>,
    /// Form parameter names in order (`roles[0]`, ...), or the JSON body's top-level keys.
    pub fields: Vec<String>,
}

/// The mutable part of the emulator.
#[derive(Debug, Default)]
pub struct Store {
    /// Keyed by id: ids grow with creation, so listings come back in a stable order.
    users: BTreeMap<String, AffiseUser>,
    next: u64,
    received: Vec<Received>,
    /// Every password received (create and password change), for leak searches.
    passwords: Vec<String>,
}

fn now() -> String {
    chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn random_key() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

impl Roster for Store {
    type User = AffiseUser;

    fn users(&self) -> impl Iterator<Item = &AffiseUser> {
        self.users.values()
    }

    fn insert(&mut self, mut user: AffiseUser) -> AffiseUser {
        if user.id.is_empty() {
            self.next += 1;
            user.id = format!("5f17ed6b3e10795a{:08x}", self.next);
        }
        if user.api_key.is_empty() {
            user.api_key = random_key();
        }
        if user.permissions.is_null() {
            user.permissions = default_permissions(&user.roles);
        }
        if user.created_at.is_empty() {
            user.created_at = now();
        }
        if user.updated_at.is_empty() {
            user.updated_at = user.created_at.clone();
        }
        self.users.insert(user.id.clone(), user.clone());
        user
    }
}

impl Store {
    /// Emails are the login: unique, compared case-insensitively.
    fn ensure_unique(&self, email: &str, except: Option<&str>) -> Result<(), Failure> {
        let wanted = email.trim().to_lowercase();
        let taken = self.users.values().any(|u| Some(u.id.as_str()) != except && u.email.to_lowercase() == wanted);
        match taken {
            true => Err(Failure::bad(format!("User with email {email} already exists"))),
            false => Ok(()),
        }
    }

    fn user_mut(&mut self, id: &str) -> Result<&mut AffiseUser, Failure> {
        self.users.get_mut(id).ok_or_else(not_found)
    }
}

type AppState = State<Arc<Shared>>;

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    faulted(s, "list", |s, injected| answer(s.list_users(&headers, &q, injected))).await
}

async fn read_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    faulted(s, "read", |s, _| answer(s.read_user(&headers, &id))).await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    faulted(s, "create", |s, _| answer(s.create_user(&headers, &body))).await
}

async fn edit_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    faulted(s, "update", |s, _| answer(s.edit_user(&headers, &id, &body))).await
}

async fn api_key_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    faulted(s, "api_key", |s, _| answer(s.rotate_key(&headers, &id, &body))).await
}

async fn password_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    faulted(s, "password", |s, _| answer(s.set_password(&headers, &id, &body))).await
}

async fn permissions_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    faulted(s, "permissions", |s, _| answer(s.set_permissions(&headers, &id, &body))).await
}

/// There is no delete, nor anything else outside the contract.
async fn unknown_route(State(s): AppState) -> Response {
    let failure = || Failure::new(StatusCode::NOT_FOUND, "Not found").into_response();
    s.faults.run("unknown", |_| async move { failure() }).await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/3.0/admin/users", get(users_route))
        .route("/3.0/admin/user", post(create_route))
        .route("/3.0/admin/user/{id}", get(read_route).post(edit_route))
        .route("/3.0/admin/user/api_key/{id}", post(api_key_route))
        .route("/3.0/admin/user/{id}/password", post(password_route))
        .route("/3.1/user/{id}/permissions", post(permissions_route))
        .fallback(unknown_route)
        .with_state(shared)
}

/// Write routes, for the write counter.
const WRITE_ROUTES: [&str; 5] = ["create", "update", "api_key", "password", "permissions"];

/// A running Affise emulator on `127.0.0.1`; stops when shut down or dropped.
pub type AffiseSandbox = Emulated<Shared>;

impl AffiseSandbox {
    /// Change a user behind rosterd's back, as an admin in Affise's UI would: `updated_at` becomes now.
    pub fn modify(&self, email: &str, change: impl FnOnce(&mut AffiseUser)) -> Option<AffiseUser> {
        let wanted = email.trim().to_lowercase();
        let mut store = self.state().lock();
        let user = store.users.values_mut().find(|u| u.email.to_lowercase() == wanted)?;
        change(user);
        user.updated_at = now();
        Some(user.clone())
    }

    /// Delete a user in Affise's UI (the API cannot): it stops listing.
    pub fn delete_user(&self, email: &str) -> Option<AffiseUser> {
        let id = self.user_by_login(email)?.id;
        self.state().lock().users.remove(&id)
    }

    /// "Read one" requests received, faulted or not.
    pub fn read_calls(&self) -> usize {
        self.state().faults.count("read")
    }

    /// Every authenticated, well-formed write, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state().lock().received.clone()
    }

    /// The parameter names of the latest authenticated write.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.state().lock().received.last().map(|r| r.fields.clone())
    }

    /// Every password received, oldest first: the only place they may be found.
    pub fn received_passwords(&self) -> Vec<String> {
        self.state().lock().passwords.clone()
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<AffiseExtras>,
    test_entry: "    roles: [ { role: [ROLE_MANAGER_AFFILIATE, ROLE_SECTION_OFFER] } ]\n",
    habits: Habits { reads_per_removal: 1, writes_per_removal: 3, ..Habits::USUAL },
    demo: DemoSeed::of::<AffiseExtras>("affise", "affise-api-key", include_str!("../demo.yaml")),
};

#[cfg(test)]
mod tests;
