//! A strict Affise admin-users emulator (`/3.0`, permissions on `/3.1`) on loopback, following `platforms/affise.md`.
//!
//! It checks the `API-Key` header on every call, takes form bodies for user calls (arrays as
//! `roles[0]=...`) and JSON for permissions, pages with `page`/`limit` and `pagination.total_count`,
//! answers failures with HTTP 4xx and `{"status":2,"message":...}`, refuses unknown parameters,
//! unknown roles, weak passwords and duplicate emails, keeps per-user permissions, an API key
//! (returned in records, as the real API does) and a password, and consults [`Faults`] on every route.

use crate::sandbox::page_cap::PageCap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::server::LoopbackServer;

/// Affise's largest `limit`.
const MAX_LIMIT: usize = 500;
/// Affise's `limit` when none is sent.
const DEFAULT_LIMIT: usize = 100;
/// The fixed role set: there is no listing endpoint.
pub const ROLES: [&str; 12] = [
    "ROLE_ADMIN",
    "ROLE_MANAGER_AFFILIATE",
    "ROLE_MANAGER_SALES",
    "ROLE_SECTION_OFFER",
    "ROLE_SECTION_SUPPLIER",
    "ROLE_SECTION_DASHBOARD",
    "ROLE_SECTION_NEWS",
    "ROLE_SECTION_CATEGORY",
    "ROLE_SECTION_PARTNER",
    "ROLE_SECTION_TICKET",
    "ROLE_SECTION_AUTOMATION",
    "ROLE_SECTION_STATS",
];
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

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct AffiseSandboxOptions {
    pub api_key: String,
    pub users: Vec<AffiseUser>,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

impl Default for AffiseSandboxOptions {
    fn default() -> Self {
        AffiseSandboxOptions { api_key: "sandbox-affise-key".into(), users: Vec::new(), page_cap: PageCap::None }
    }
}

impl AffiseSandboxOptions {
    pub fn with_user(mut self, user: AffiseUser) -> Self {
        self.users.push(user);
        self
    }

    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_key = key.into();
        self
    }

    /// Serve listing pages no larger than `cap` allows, as a server that caps page sizes does.
    pub fn with_page_cap(mut self, cap: PageCap) -> Self {
        self.page_cap = cap;
        self
    }
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
struct Store {
    /// Keyed by id: ids grow with creation, so listings come back in a stable order.
    users: BTreeMap<String, AffiseUser>,
    next: u64,
    received: Vec<Received>,
    /// Every password received (create and password change), for leak searches.
    passwords: Vec<String>,
    /// The query of every authenticated listing.
    list_queries: Vec<BTreeMap<String, String>>,
}

fn now() -> String {
    chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn random_key() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

impl Store {
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

/// An Affise failure: an HTTP error status and `{"status":2,"message":...}`.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn bad(message: impl Into<String>) -> Failure {
        Failure { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

fn not_found() -> Failure {
    Failure { status: StatusCode::NOT_FOUND, message: "User not found".into() }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "status": 2, "message": self.message }))).into_response()
    }
}

fn answer(outcome: Result<Value, Failure>) -> Response {
    match outcome {
        Ok(mut body) => {
            body["status"] = json!(1);
            Json(body).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

/// The strictest published rule: 8 to 30 characters with an upper-case letter, a lower-case
/// letter, a digit and a special character.
pub fn password_meets_rule(password: &str) -> bool {
    let length = password.chars().count();
    (8..=30).contains(&length)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace())
}

fn check_id(id: &str) -> Result<(), Failure> {
    match id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        true => Ok(()),
        false => Err(Failure::bad(format!("Invalid user id {id}"))),
    }
}

/// The fields of a user form, each at most once, `roles[i]` collected in index order.
#[derive(Debug, Default)]
struct UserForm {
    scalars: BTreeMap<String, String>,
    roles: Option<Vec<String>>,
    names: Vec<String>,
}

impl UserForm {
    fn parse(headers: &HeaderMap, body: &[u8]) -> Result<UserForm, Failure> {
        let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return Err(Failure::bad("Content-Type must be application/x-www-form-urlencoded"));
        }
        let mut form = UserForm::default();
        let mut roles: BTreeMap<usize, String> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(body).into_owned() {
            form.names.push(key.clone());
            if let Some(index) = key.strip_prefix("roles[").and_then(|k| k.strip_suffix(']')) {
                let index = if index.is_empty() { roles.len() } else { index.parse().map_err(|_| bad_param(&key))? };
                if roles.insert(index, value).is_some() {
                    return Err(Failure::bad(format!("{key} given twice")));
                }
            } else if !USER_FIELDS.contains(&key.as_str()) {
                return Err(bad_param(&key));
            } else if form.scalars.insert(key.clone(), value).is_some() {
                return Err(Failure::bad(format!("{key} given twice")));
            }
        }
        form.roles = (!roles.is_empty()).then(|| roles.into_values().collect());
        form.check()?;
        Ok(form)
    }

    fn check(&self) -> Result<(), Failure> {
        for (name, value) in &self.scalars {
            let ok = match name.as_str() {
                "email" => value.contains('@'),
                "password" => password_meets_rule(value),
                "first_name" | "last_name" => !value.trim().is_empty(),
                "type" => TYPES.contains(&value.as_str()),
                _ => true,
            };
            if !ok {
                return Err(Failure::bad(format!("{name} is not valid")));
            }
        }
        match self.roles.iter().flatten().find(|r| !ROLES.contains(&r.as_str())) {
            Some(unknown) => Err(Failure::bad(format!("Unknown role {unknown}"))),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.scalars.get(name).cloned()
    }

    fn required(&self, name: &str) -> Result<String, Failure> {
        self.get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| Failure::bad(format!("{name} is required")))
    }
}

fn bad_param(name: &str) -> Failure {
    Failure::bad(format!("Unknown parameter: {name}"))
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    api_key: String,
    /// The page-size cap of [`crate::sandbox::page_cap`].
    page_cap: PageCap,
    // A std Mutex: handlers never await while holding it.
    store: Mutex<Store>,
    faults: Faults,
}

type Params = BTreeMap<String, String>;

fn query_int(q: &Params, name: &str, default: usize) -> Result<usize, Failure> {
    q.get(name)
        .map_or(Ok(default), |v| v.trim().parse().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Failure> {
        match headers.get("api-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == self.api_key => Ok(()),
            _ => Err(Failure { status: StatusCode::UNAUTHORIZED, message: "Invalid API key".into() }),
        }
    }

    fn record(&self, route: &'static str, id: Option<&str>, fields: Vec<String>) {
        self.lock().received.push(Received { route, id: id.map(str::to_string), fields });
    }

    fn user_json(user: &AffiseUser, with_permissions: bool) -> Value {
        let mut v = json!({
            "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
            "roles": user.roles, "type": user.kind, "skype": user.skype, "work_hours": user.work_hours,
            "api_key": user.api_key, "created_at": user.created_at, "updated_at": user.updated_at,
        });
        if with_permissions {
            v["permissions"] = user.permissions.clone();
        }
        v
    }

    fn list_users(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Value, Failure> {
        self.authorize(headers)?;
        if let Some(unknown) = q.keys().find(|k| !["page", "limit", "updated_at", "q"].contains(&k.as_str())) {
            return Err(bad_param(unknown));
        }
        let page = query_int(q, "page", 1)?;
        let limit = query_int(q, "limit", DEFAULT_LIMIT)?;
        if page < 1 || !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Failure::bad(format!("page starts at 1 and limit is between 1 and {MAX_LIMIT}")));
        }
        // A capping server pages by the size it serves, and says so in `per_page`.
        let limit = self.page_cap.apply(limit);
        let mut store = self.lock();
        store.list_queries.push(q.clone());
        let since = q.get("updated_at").map(|d| d.trim().to_string());
        if since.as_deref().is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()) {
            return Err(Failure::bad("updated_at must be a day, YYYY-MM-DD"));
        }
        let search = q.get("q").map(|s| s.to_lowercase());
        let matching: Vec<&AffiseUser> = store
            .users
            .values()
            .filter(|u| since.as_ref().is_none_or(|d| u.updated_at.as_str() >= d.as_str()))
            .filter(|u| {
                search
                    .as_ref()
                    .is_none_or(|s| format!("{} {} {}", u.email, u.first_name, u.last_name).to_lowercase().contains(s))
            })
            .collect();
        let skip = (page - 1).saturating_mul(limit);
        let mut users: Vec<Value> = matching.iter().skip(skip).take(limit).map(|u| Self::user_json(u, false)).collect();
        if injected.truncate {
            users.pop();
        }
        Ok(json!({"users": users, "pagination": {"per_page": limit, "total_count": matching.len(), "page": page}}))
    }

    fn read_user(&self, headers: &HeaderMap, id: &str) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let store = self.lock();
        let user = store.users.get(id).ok_or_else(not_found)?;
        Ok(json!({ "user": Self::user_json(user, true) }))
    }

    fn create_user(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        let form = UserForm::parse(headers, body)?;
        self.record("create", None, form.names.clone());
        let email = form.required("email")?;
        let password = form.required("password")?;
        let (first_name, last_name) = (form.required("first_name")?, form.required("last_name")?);
        let roles = form.roles.clone().ok_or_else(|| Failure::bad("roles is required"))?;
        let mut store = self.lock();
        store.passwords.push(password.clone());
        store.ensure_unique(&email, None)?;
        let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
        let mut user = AffiseUser::new(&first_name, &last_name, &email, &role_refs);
        user.password = password;
        user.kind = form.get("type").unwrap_or(user.kind);
        user.skype = form.get("skype");
        user.work_hours = form.get("work_hours");
        let user = store.insert(user);
        Ok(json!({ "user": Self::user_json(&user, false) }))
    }

    fn edit_user(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let form = UserForm::parse(headers, body)?;
        self.record("update", Some(id), form.names.clone());
        let mut store = self.lock();
        store.user_mut(id)?;
        if let Some(email) = form.get("email") {
            store.ensure_unique(&email, Some(id))?;
        }
        if let Some(password) = form.get("password") {
            store.passwords.push(password);
        }
        let user = store.user_mut(id)?;
        apply_form(user, form);
        Ok(json!({ "user": Self::user_json(user, false) }))
    }

    fn rotate_key(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        if !body.is_empty() {
            let form = UserForm::parse(headers, body)?;
            if let Some(name) = form.names.first() {
                return Err(bad_param(name));
            }
        }
        self.record("api_key", Some(id), Vec::new());
        let mut store = self.lock();
        let user = store.user_mut(id)?;
        user.api_key = random_key();
        user.updated_at = now();
        // As the contract says, the answer carries the new key.
        Ok(json!({ "user": Self::user_json(user, false) }))
    }

    fn set_password(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let form = UserForm::parse(headers, body)?;
        self.record("password", Some(id), form.names.clone());
        if let Some(other) = form.names.iter().find(|n| *n != "password") {
            return Err(bad_param(other));
        }
        let password = form.required("password")?;
        let mut store = self.lock();
        store.passwords.push(password.clone());
        let user = store.user_mut(id)?;
        user.password = password;
        user.updated_at = now();
        Ok(json!({}))
    }

    fn set_permissions(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let json_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !json_type.starts_with("application/json") {
            return Err(Failure::bad("Content-Type must be application/json"));
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::bad("The body must be a JSON object"));
        };
        self.record("permissions", Some(id), body.keys().cloned().collect());
        if let Some(other) = body.keys().find(|k| *k != "permissions") {
            return Err(bad_param(other));
        }
        let sent = body
            .get("permissions")
            .and_then(Value::as_object)
            .ok_or_else(|| Failure::bad("permissions is required"))?;
        check_permissions(sent)?;
        let mut store = self.lock();
        let user = store.user_mut(id)?;
        for (section, entries) in sent {
            for (name, entry) in entries.as_object().into_iter().flatten() {
                // What is sent replaces the entry: exceptions left out are gone.
                user.permissions[section][name] = entry.clone();
            }
        }
        user.updated_at = now();
        Ok(json!({ "permissions": user.permissions }))
    }
}

/// Sections and permissions from the catalogue, levels from `deny`/`read`/`write`.
fn check_permissions(sent: &Map<String, Value>) -> Result<(), Failure> {
    for (section, entries) in sent {
        let Some(known) = CATALOGUE.iter().find(|(s, _)| s == section).map(|(_, names)| *names) else {
            return Err(Failure::bad(format!("Unknown permission section {section}")));
        };
        let entries = entries.as_object().ok_or_else(|| Failure::bad(format!("{section} must be an object")))?;
        for (name, entry) in entries {
            if !known.contains(&name.as_str()) {
                return Err(Failure::bad(format!("Unknown permission {section}.{name}")));
            }
            if !entry["level"].as_str().is_some_and(|l| LEVELS.contains(&l)) {
                return Err(Failure::bad(format!("{section}.{name}.level must be one of deny, read, write")));
            }
        }
    }
    Ok(())
}

/// Apply the given fields only.
fn apply_form(user: &mut AffiseUser, form: UserForm) {
    for (name, value) in form.scalars {
        match name.as_str() {
            "email" => user.email = value,
            "password" => user.password = value,
            "first_name" => user.first_name = value,
            "last_name" => user.last_name = value,
            "type" => user.kind = value,
            "skype" => user.skype = Some(value).filter(|v| !v.is_empty()),
            "work_hours" => user.work_hours = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    if let Some(roles) = form.roles {
        user.roles = roles;
    }
    user.updated_at = now();
}

type AppState = State<Arc<Shared>>;

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    faults.run("list", |injected| async move { answer(s.list_users(&headers, &q, injected)) }).await
}

async fn read_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let faults = s.faults.clone();
    faults.run("read", |_| async move { answer(s.read_user(&headers, &id)) }).await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("create", |_| async move { answer(s.create_user(&headers, &body)) }).await
}

async fn edit_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("update", |_| async move { answer(s.edit_user(&headers, &id, &body)) }).await
}

async fn api_key_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("api_key", |_| async move { answer(s.rotate_key(&headers, &id, &body)) }).await
}

async fn password_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("password", |_| async move { answer(s.set_password(&headers, &id, &body)) }).await
}

async fn permissions_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("permissions", |_| async move { answer(s.set_permissions(&headers, &id, &body)) }).await
}

/// There is no delete, nor anything else outside the contract.
async fn unknown_route(State(s): AppState) -> Response {
    let failure = || Failure { status: StatusCode::NOT_FOUND, message: "Not found".into() }.into_response();
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
#[derive(Debug)]
pub struct AffiseSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl AffiseSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: AffiseSandboxOptions) -> std::io::Result<AffiseSandbox> {
        let mut store = Store::default();
        for user in options.users {
            store.insert(user);
        }
        let shared = Arc::new(Shared {
            api_key: options.api_key,
            page_cap: options.page_cap,
            store: Mutex::new(store),
            faults: Faults::new(),
        });
        let app = router(shared.clone());
        let server = LoopbackServer::start(app, "affise").await?;
        let base_url = server.url("/")?;
        Ok(AffiseSandbox { shared, base_url, server })
    }

    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of every user, by id.
    pub fn users(&self) -> Vec<AffiseUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user with this email (case-insensitive), if any.
    pub fn user_by_email(&self, email: &str) -> Option<AffiseUser> {
        let wanted = email.trim().to_lowercase();
        self.shared.lock().users.values().find(|u| u.email.to_lowercase() == wanted).cloned()
    }

    /// Seed a pre-existing account. Not validated, so tests can seed states the API would refuse.
    pub fn insert_user(&self, user: AffiseUser) -> AffiseUser {
        self.shared.lock().insert(user)
    }

    /// Change a user behind rosterd's back, as an admin in Affise's UI would: `updated_at` becomes now.
    pub fn modify(&self, email: &str, change: impl FnOnce(&mut AffiseUser)) -> Option<AffiseUser> {
        let wanted = email.trim().to_lowercase();
        let mut store = self.shared.lock();
        let user = store.users.values_mut().find(|u| u.email.to_lowercase() == wanted)?;
        change(user);
        user.updated_at = now();
        Some(user.clone())
    }

    /// Delete a user in Affise's UI (the API cannot): it stops listing.
    pub fn delete_user(&self, email: &str) -> Option<AffiseUser> {
        let id = self.user_by_email(email)?.id;
        self.shared.lock().users.remove(&id)
    }

    /// Write requests received (create, edit, key rotation, password, permissions), faulted or not.
    pub fn write_calls(&self) -> usize {
        WRITE_ROUTES.iter().map(|r| self.shared.faults.count(r)).sum()
    }

    /// Listing requests received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.shared.faults.count("list")
    }

    /// "Read one" requests received, faulted or not.
    pub fn read_calls(&self) -> usize {
        self.shared.faults.count("read")
    }

    /// Every authenticated, well-formed write, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// The parameter names of the latest authenticated write.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.shared.lock().received.last().map(|r| r.fields.clone())
    }

    /// Every password received, oldest first: the only place they may be found.
    pub fn received_passwords(&self) -> Vec<String> {
        self.shared.lock().passwords.clone()
    }

    /// The query of every authenticated listing, oldest first.
    pub fn list_queries(&self) -> Vec<BTreeMap<String, String>> {
        self.shared.lock().list_queries.clone()
    }

    /// Stop serving: graceful for a second, then abandoned.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: crate::platform::emulator::EmulatorSpec = crate::platform::emulator::EmulatorSpec {
    start: |cap| {
        Box::pin(async move {
            let emulator = AffiseSandbox::start(AffiseSandboxOptions::default().with_page_cap(cap)).await?;
            Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
        })
    },
    test_entry: "    roles: [ { role: [ROLE_MANAGER_AFFILIATE, ROLE_SECTION_OFFER] } ]\n",
    reads_per_run: 0,
    reads_per_removal: 1,
    writes_per_removal: 3,
    demo: crate::platform::emulator::DemoSeed {
        label: "affise",
        key_file: "affise-api-key",
        entry: include_str!("demo.yaml"),
        start: || {
            Box::pin(async move {
                let options = AffiseSandboxOptions::default();
                Ok(Box::new(AffiseSandbox::start(options).await?) as Box<dyn crate::platform::emulator::Emulator>)
            })
        },
    },
};

impl crate::platform::emulator::Emulator for AffiseSandbox {
    fn faults(&self) -> &Faults {
        AffiseSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        AffiseSandbox::base_url(self)
    }

    fn key(&self) -> String {
        self.api_key().to_string()
    }

    fn write_calls(&self) -> usize {
        AffiseSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().len()
    }

    fn with_access(&self) -> usize {
        self.users().iter().filter(|u| !u.permissions.as_object().is_some_and(super::all_denied)).count()
    }

    fn largest_page(&self) -> usize {
        super::MAX_PAGE_SIZE as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(AffiseSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "affise-sandbox-test-key";
    const GOOD_PASSWORD: &str = "Str0ng!Passw0rd";

    struct Client {
        http: reqwest::Client,
        sandbox: AffiseSandbox,
    }

    impl Client {
        async fn start(options: AffiseSandboxOptions) -> Client {
            let sandbox = AffiseSandbox::start(options.with_api_key(KEY)).await.unwrap();
            Client { http: reqwest::Client::new(), sandbox }
        }

        fn url(&self, path: &str) -> url::Url {
            self.sandbox.base_url().join(path).unwrap()
        }

        async fn done(r: reqwest::RequestBuilder) -> (u16, Value) {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        }

        async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
            Self::done(self.http.get(self.url(path)).header("API-Key", KEY).query(query)).await
        }

        async fn form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
            Self::done(self.http.post(self.url(path)).header("api-key", KEY).form(form)).await
        }

        async fn json(&self, path: &str, body: Value) -> (u16, Value) {
            Self::done(self.http.post(self.url(path)).header("Api-Key", KEY).json(&body)).await
        }
    }

    fn alex() -> Vec<(&'static str, &'static str)> {
        vec![
            ("email", "api_user@gmail.com"),
            ("password", GOOD_PASSWORD),
            ("first_name", "Api"),
            ("last_name", "User"),
            ("roles[0]", "ROLE_MANAGER_AFFILIATE"),
            ("roles[1]", "ROLE_SECTION_SUPPLIER"),
            ("skype", "api_user"),
            ("work_hours", "8-8"),
        ]
    }

    fn without(form: &[(&'static str, &'static str)], name: &str) -> Vec<(&'static str, &'static str)> {
        form.iter().filter(|(k, _)| *k != name).copied().collect()
    }

    fn with(
        form: &[(&'static str, &'static str)],
        name: &'static str,
        value: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        let mut out = without(form, name);
        out.push((name, value));
        out
    }

    #[tokio::test]
    async fn a_wrong_or_missing_key_is_a_401_failure_on_every_route() {
        let c = Client::start(AffiseSandboxOptions::default()).await;
        let id = c.sandbox.insert_user(AffiseUser::new("A", "B", "a@x.com", &["ROLE_ADMIN"])).id;
        let requests = [
            c.http.get(c.url("3.0/admin/users")),
            c.http.get(c.url(&format!("3.0/admin/user/{id}"))),
            c.http.post(c.url("3.0/admin/user")).form(&alex()),
            c.http.post(c.url(&format!("3.0/admin/user/{id}"))).form(&[("first_name", "X")]),
            c.http.post(c.url(&format!("3.0/admin/user/api_key/{id}"))),
            c.http.post(c.url(&format!("3.0/admin/user/{id}/password"))).form(&[("password", GOOD_PASSWORD)]),
            c.http.post(c.url(&format!("3.1/user/{id}/permissions"))).json(&json!({"permissions": {}})),
        ];
        for request in requests {
            let (status, body) = Client::done(request.header("API-Key", "nope")).await;
            assert_eq!((status, body["status"].as_i64()), (401, Some(2)));
        }
        assert_eq!(c.sandbox.users().len(), 1);
        assert!(c.sandbox.received().is_empty());
    }

    #[tokio::test]
    async fn listing_pages_by_page_and_limit_and_returns_the_api_key() {
        let mut options = AffiseSandboxOptions::default();
        for i in 0..5 {
            options = options.with_user(AffiseUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), &["ROLE_ADMIN"]));
        }
        let c = Client::start(options).await;
        let (_, page) = c.get("3.0/admin/users", &[("page", "2"), ("limit", "2")]).await;
        assert_eq!(page["status"], 1);
        assert_eq!(page["pagination"], json!({"per_page": 2, "total_count": 5, "page": 2}));
        let emails: Vec<&str> =
            page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["u2@x.com", "u3@x.com"]);
        assert_eq!(page["users"][0]["api_key"].as_str().unwrap().len(), 32, "records carry the user's key");
        assert!(page["users"][0].get("permissions").is_none());
        let (status, _) = c.get("3.0/admin/users", &[("limit", "501")]).await;
        assert_eq!(status, 400);
        let (status, failure) = c.get("3.0/admin/users", &[("offset", "1")]).await;
        assert_eq!((status, failure["message"].as_str()), (400, Some("Unknown parameter: offset")));
        let (_, found) = c.get("3.0/admin/users", &[("q", "U4@X")]).await;
        assert_eq!(found["pagination"]["total_count"], 1);
    }

    #[tokio::test]
    async fn create_checks_required_fields_roles_passwords_and_duplicates() {
        let c = Client::start(AffiseSandboxOptions::default()).await;
        let (status, created) = c.form("3.0/admin/user", &alex()).await;
        assert_eq!((status, created["status"].as_i64()), (200, Some(1)));
        let id = created["user"]["id"].as_str().unwrap();
        assert!(id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(created["user"]["roles"], json!(["ROLE_MANAGER_AFFILIATE", "ROLE_SECTION_SUPPLIER"]));
        let (status, dup) = c.form("3.0/admin/user", &with(&alex(), "email", "API_USER@gmail.com")).await;
        assert_eq!((status, dup["status"].as_i64()), (400, Some(2)));
        let refused = [
            (without(&alex(), "password"), "password is required"),
            (with(&alex(), "password", "88888888"), "password is not valid"),
            (with(&alex(), "roles[1]", "ROLE_SECTION_STATS_COMMON"), "Unknown role ROLE_SECTION_STATS_COMMON"),
            (without(&without(&alex(), "roles[0]"), "roles[1]"), "roles is required"),
            (with(&alex(), "nickname", "x"), "Unknown parameter: nickname"),
            (with(&alex(), "type", "boss"), "type is not valid"),
        ];
        for (form, message) in refused {
            let form = with(&form, "email", "other@gmail.com");
            let (status, failure) = c.form("3.0/admin/user", &form).await;
            assert_eq!((status, failure["message"].as_str()), (400, Some(message)));
        }
        let json_body = c.http.post(c.url("3.0/admin/user")).header("API-Key", KEY).json(&json!({"email": "j@x.com"}));
        assert_eq!(Client::done(json_body).await.0, 400, "user calls take form bodies");
        assert_eq!(c.sandbox.users().len(), 1);
        assert_eq!(c.sandbox.users()[0].password, GOOD_PASSWORD);
    }

    #[tokio::test]
    async fn edit_applies_only_given_fields_and_keeps_emails_unique() {
        let c = Client::start(AffiseSandboxOptions::default()).await;
        c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]));
        let b = c.sandbox.insert_user(AffiseUser::new("B", "B", "b@x.com", &["ROLE_MANAGER_SALES"]));
        let path = format!("3.0/admin/user/{}", b.id);
        let (_, edited) = c.form(&path, &[("type", "common_manager"), ("roles[0]", "ROLE_ADMIN")]).await;
        assert_eq!(
            (edited["user"]["type"].as_str(), edited["user"]["first_name"].as_str()),
            (Some("common_manager"), Some("B"))
        );
        assert_eq!(c.sandbox.last_write_fields().unwrap(), ["type", "roles[0]"]);
        let (status, _) = c.form(&path, &[("email", "A@x.com")]).await;
        assert_eq!(status, 400);
        let (status, missing) = c.form("3.0/admin/user/5f17ed6b3e10795a99999999", &[("first_name", "X")]).await;
        assert_eq!((status, missing["message"].as_str()), (404, Some("User not found")));
        let (status, _) = c.form("3.0/admin/user/42", &[("first_name", "X")]).await;
        assert_eq!(status, 400, "ids are 24 hex digits");
    }

    #[tokio::test]
    async fn the_lock_out_calls_deny_rotate_and_scramble() {
        let c = Client::start(AffiseSandboxOptions::default()).await;
        let user = c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_MANAGER_AFFILIATE"]));
        assert_eq!(user.permissions["users"]["entity-affiliate"]["exceptions"]["ints"]["read"], json!([5]));
        let (_, read) = c.get(&format!("3.0/admin/user/{}", user.id), &[]).await;
        assert_eq!(read["user"]["permissions"], user.permissions);
        let deny = json!({"level": "deny"});
        let deny = json!({"permissions": {"users": {"entity-affiliate": deny}, "stats": {"clicks-list": deny}}});
        let (status, _) = c.json(&format!("3.1/user/{}/permissions", user.id), deny).await;
        assert_eq!(status, 200);
        let stored = c.sandbox.user_by_email("a@x.com").unwrap();
        assert_eq!(stored.permissions["users"]["entity-affiliate"], json!({"level": "deny"}), "sent entries replace");
        assert_eq!(stored.permissions["general"]["marketplace"]["level"], "read", "others untouched");
        let (_, rotated) = c.form(&format!("3.0/admin/user/api_key/{}", user.id), &[]).await;
        assert_ne!(rotated["user"]["api_key"].as_str().unwrap(), user.api_key);
        let (_, weak) = c.form(&format!("3.0/admin/user/{}/password", user.id), &[("password", "short")]).await;
        assert_eq!(weak["status"], 2);
        c.form(&format!("3.0/admin/user/{}/password", user.id), &[("password", GOOD_PASSWORD)]).await;
        assert_eq!(c.sandbox.user_by_email("a@x.com").unwrap().password, GOOD_PASSWORD);
    }

    #[tokio::test]
    async fn permissions_refuse_unknown_names_levels_and_form_bodies() {
        let c = Client::start(AffiseSandboxOptions::default()).await;
        let user = c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]));
        let path = format!("3.1/user/{}/permissions", user.id);
        for (body, message) in [
            (json!({"permissions": {"billing": {}}}), "Unknown permission section billing"),
            (json!({"permissions": {"stats": {"clicks": {"level": "read"}}}}), "Unknown permission stats.clicks"),
            (
                json!({"permissions": {"stats": {"clicks-list": {"level": "none"}}}}),
                "stats.clicks-list.level must be one of deny, read, write",
            ),
        ] {
            let (status, failure) = c.json(&path, body).await;
            assert_eq!((status, failure["message"].as_str()), (400, Some(message)));
        }
        let (status, _) = c.form(&path, &[("permissions", "{}")]).await;
        assert_eq!(status, 400);
        assert!(c.sandbox.user_by_email("a@x.com").unwrap().permissions == user.permissions);
    }

    #[tokio::test]
    async fn unknown_routes_are_404_and_a_truncated_page_is_short() {
        use crate::sandbox::faults::{Fault, FaultRule};
        let options = AffiseSandboxOptions::default()
            .with_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]))
            .with_user(AffiseUser::new("B", "B", "b@x.com", &["ROLE_ADMIN"]));
        let c = Client::start(options).await;
        let r = c
            .http
            .delete(c.url("3.0/admin/user/5f17ed6b3e10795a00000001"))
            .header("API-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let (status, _) = c.get("3.0/admin/partners", &[]).await;
        assert_eq!(status, 404);
        c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
        let (_, page) = c.get("3.0/admin/users", &[]).await;
        assert_eq!((page["pagination"]["total_count"].as_u64(), page["users"].as_array().unwrap().len()), (Some(2), 1));
    }
}
