//! A strict CAKE Users & Access emulator (`/api/2`) on loopback, following `platforms/cake.md`.
//!
//! It checks the key on every call, pages and filters like CAKE, answers failures with
//! `request_status` bodies (HTTP 200, or 401 for a bad key), refuses unknown parameters so
//! that a connector typo shows up in tests, and consults [`Faults`] on every route.

use crate::sandbox::page_cap::PageCap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::server::LoopbackServer;

/// CAKE's documented maximum `row_limit`.
const MAX_ROW_LIMIT: u64 = 10_000;
/// CAKE's default `row_limit` when none is sent.
const DEFAULT_ROW_LIMIT: u64 = 100;
const CREATE_FIELDS: &[&str] = &["first_name", "last_name", "email", "role_id", "user_status", "password"];
const UPDATE_FIELDS: &[&str] = &["user_id", "first_name", "last_name", "email", "user_status", "role_id"];

/// A role as `roles.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CakeRole {
    pub role_id: u64,
    pub role_name: String,
}

/// A user as the emulator stores it (`role_name` is derived from the roles when answering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CakeUser {
    /// 0 asks [`CakeSandbox::insert_user`] to assign the next id.
    pub user_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// `active` or `inactive`.
    pub user_status: String,
    pub role_id: u64,
    /// Empty asks the emulator to stamp it, in one of CAKE's two formats.
    pub created: String,
}

impl CakeUser {
    /// An active user with an id and `created` stamp to be assigned on insertion.
    pub fn new(first_name: &str, last_name: &str, email: &str, role_id: u64) -> CakeUser {
        CakeUser {
            user_id: 0,
            first_name: first_name.into(),
            last_name: last_name.into(),
            email: email.into(),
            user_status: "active".into(),
            role_id,
            created: String::new(),
        }
    }

    pub fn inactive(mut self) -> CakeUser {
        self.user_status = "inactive".into();
        self
    }

    pub fn with_id(mut self, user_id: u64) -> CakeUser {
        self.user_id = user_id;
        self
    }
}

/// An account manager as `account_managers.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CakeManager {
    pub account_manager_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub status: String,
}

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct CakeSandboxOptions {
    pub api_key: String,
    pub roles: Vec<CakeRole>,
    pub users: Vec<CakeUser>,
    pub account_managers: Vec<CakeManager>,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

impl Default for CakeSandboxOptions {
    /// The roles and account managers of the vendor document's samples, no users.
    fn default() -> Self {
        let role = |id, name: &str| CakeRole { role_id: id, role_name: name.into() };
        let manager = |id, first: &str, last: &str, email: &str| CakeManager {
            account_manager_id: id,
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            status: "active".into(),
        };
        CakeSandboxOptions {
            api_key: "sandbox-cake-key".into(),
            roles: vec![
                role(1, "Administrator"),
                role(2, "Media Buyer"),
                role(3, "Account Manager"),
                role(4, "Finance"),
            ],
            users: Vec::new(),
            account_managers: vec![
                manager(42, "Jordan", "Lee", "j.lee@yournetwork.com"),
                manager(7, "Mark", "Johnson", "m.johnson@yournetwork.com"),
            ],
            page_cap: PageCap::None,
        }
    }
}

impl CakeSandboxOptions {
    pub fn with_user(mut self, user: CakeUser) -> Self {
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

/// The mutable part of the emulator.
#[derive(Debug, Default)]
struct Store {
    /// Keyed by `user_id`, so listings come back in a stable order, as CAKE's do.
    users: BTreeMap<u64, CakeUser>,
    next_id: u64,
    /// How many `created` stamps were handed out: the format alternates on it.
    stamps: u64,
    /// The parameter names of every authenticated write, `api_key` left out.
    write_fields: Vec<Vec<String>>,
    /// The query of every authenticated listing, `api_key` left out.
    list_queries: Vec<BTreeMap<String, String>>,
}

impl Store {
    fn stamp(&mut self) -> String {
        self.stamps += 1;
        // CAKE answers `created` in two formats; a connector must take both.
        let format = if self.stamps % 2 == 1 { "%Y-%m-%dT%H:%M:%S" } else { "%Y-%m-%d %H:%M:%S" };
        chrono::Utc::now().naive_utc().format(format).to_string()
    }

    fn insert(&mut self, mut user: CakeUser) -> CakeUser {
        if user.user_id == 0 {
            user.user_id = self.next_id;
        }
        self.next_id = self.next_id.max(user.user_id + 1);
        if user.created.is_empty() {
            user.created = self.stamp();
        }
        self.users.insert(user.user_id, user.clone());
        user
    }

    /// Emails are the login: unique across users, compared case-insensitively.
    fn ensure_unique(&self, email: &str, except: Option<u64>) -> Result<(), Failure> {
        let wanted = email.trim().to_lowercase();
        let taken = self.users.values().any(|u| Some(u.user_id) != except && u.email.trim().to_lowercase() == wanted);
        if taken {
            return Err(Failure::bad(format!("A user with the email address {email} already exists")));
        }
        Ok(())
    }
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    api_key: String,
    roles: Vec<CakeRole>,
    managers: Vec<CakeManager>,
    /// The page-size cap of [`crate::sandbox::page_cap`].
    page_cap: PageCap,
    // A std Mutex: handlers are synchronous once past the fault script, never await holding it.
    store: Mutex<Store>,
    faults: Faults,
}

/// A CAKE failure: `{"request_status":"Failure","message":...}` with its HTTP status.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    /// CAKE answers most failures with HTTP 200.
    fn bad(message: impl Into<String>) -> Failure {
        Failure { status: StatusCode::OK, message: message.into() }
    }

    fn auth() -> Failure {
        Failure { status: StatusCode::UNAUTHORIZED, message: "Invalid API Key".into() }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "request_status": "Failure", "message": self.message }))).into_response()
    }
}

/// A success body: the given fields plus `request_status`.
fn answer(outcome: Result<Value, Failure>) -> Response {
    match outcome {
        Ok(mut body) => {
            body["request_status"] = json!("Success");
            Json(body).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

type Params = HashMap<String, String>;

/// An optional integer query parameter; a malformed one is a failure, not a silent default.
fn query_int(q: &Params, name: &str) -> Result<Option<u64>, Failure> {
    q.get(name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
        .transpose()
}

fn check_status(value: &str, name: &str) -> Result<String, Failure> {
    match value {
        "active" | "inactive" => Ok(value.to_string()),
        _ => Err(Failure::bad(format!("{name} must be active or inactive"))),
    }
}

fn query_status(q: &Params, name: &str) -> Result<Option<String>, Failure> {
    q.get(name).map(|v| check_status(v, name)).transpose()
}

fn body_str(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Failure::bad(format!("{name} must be a non-empty string"))),
    }
}

fn body_int(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| Failure::bad(format!("{name} must be an integer"))),
    }
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, Failure> {
    value.ok_or_else(|| Failure::bad(format!("{name} is required")))
}

fn check_email(email: &str) -> Result<(), Failure> {
    if email.contains('@') {
        Ok(())
    } else {
        Err(Failure::bad(format!("{email} is not a valid email address")))
    }
}

/// `start_at_row` (1-based, default 1) and `row_limit` (default 100, at most 10000) as
/// rows to skip and rows to take.
fn paging(q: &Params) -> Result<(usize, usize), Failure> {
    let start = query_int(q, "start_at_row")?.unwrap_or(1);
    let limit = query_int(q, "row_limit")?.unwrap_or(DEFAULT_ROW_LIMIT);
    if start < 1 {
        return Err(Failure::bad("start_at_row starts at 1"));
    }
    if !(1..=MAX_ROW_LIMIT).contains(&limit) {
        return Err(Failure::bad(format!("row_limit must be between 1 and {MAX_ROW_LIMIT}")));
    }
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    Ok((skip, usize::try_from(limit).unwrap_or(usize::MAX)))
}

/// The optional filters of `users.json`.
#[derive(Debug)]
struct UserFilter {
    user_id: Option<u64>,
    role_id: Option<u64>,
    status: Option<String>,
}

impl UserFilter {
    fn parse(q: &Params) -> Result<UserFilter, Failure> {
        Ok(UserFilter {
            user_id: query_int(q, "user_id")?,
            role_id: query_int(q, "role_id")?,
            status: query_status(q, "user_status")?,
        })
    }

    fn keeps(&self, user: &CakeUser) -> bool {
        self.user_id.is_none_or(|id| user.user_id == id)
            && self.role_id.is_none_or(|id| user.role_id == id)
            && self.status.as_ref().is_none_or(|s| &user.user_status == s)
    }
}

/// The optional fields of an update, validated.
#[derive(Debug, Default)]
struct Patch {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    user_status: Option<String>,
    role_id: Option<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn role_name(&self, role_id: u64) -> Option<&str> {
        self.roles.iter().find(|r| r.role_id == role_id).map(|r| r.role_name.as_str())
    }

    fn check_role(&self, role_id: u64) -> Result<(), Failure> {
        match self.role_name(role_id) {
            Some(_) => Ok(()),
            None => Err(Failure::bad(format!("Invalid role_id {role_id}"))),
        }
    }

    /// The key must be in the query; unknown parameters are refused.
    fn authorize_query(&self, q: &Params, allowed: &[&str]) -> Result<(), Failure> {
        if q.get("api_key").map(String::as_str) != Some(self.api_key.as_str()) {
            return Err(Failure::auth());
        }
        match q.keys().find(|k| *k != "api_key" && !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(Failure::bad(format!("Unknown parameter: {unknown}"))),
            None => Ok(()),
        }
    }

    /// The key must be in the JSON body; unknown parameters are refused. Records the
    /// parameter names so that tests can see what a write carried.
    fn authorize_body(&self, body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Failure> {
        let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::bad("The request body must be a JSON object"));
        };
        match fields.remove("api_key") {
            Some(Value::String(key)) if key == self.api_key => {}
            _ => return Err(Failure::auth()),
        }
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown parameter: {unknown}")));
        }
        self.lock().write_fields.push(fields.keys().cloned().collect());
        Ok(fields)
    }

    fn user_json(&self, user: &CakeUser) -> Value {
        json!({
            "user_id": user.user_id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "user_status": user.user_status,
            "role_id": user.role_id,
            "role_name": self.role_name(user.role_id),
            "created": user.created,
        })
    }

    fn list_users(&self, q: &Params, injected: Injected) -> Result<Value, Failure> {
        self.authorize_query(q, &["user_id", "user_status", "role_id", "start_at_row", "row_limit"])?;
        let (skip, take) = paging(q)?;
        let take = self.page_cap.apply(take);
        let filter = UserFilter::parse(q)?;
        let mut store = self.lock();
        let query = q.iter().filter(|(k, _)| *k != "api_key").map(|(k, v)| (k.clone(), v.clone()));
        store.list_queries.push(query.collect());
        let matching: Vec<&CakeUser> = store.users.values().filter(|u| filter.keeps(u)).collect();
        let mut users: Vec<Value> = matching.iter().skip(skip).take(take).map(|u| self.user_json(u)).collect();
        if injected.truncate {
            // The page claims the same total but is one row short.
            users.pop();
        }
        Ok(json!({ "response": { "users": users, "total_rows": matching.len() } }))
    }

    fn create_user(&self, body: &[u8]) -> Result<Value, Failure> {
        let fields = self.authorize_body(body, CREATE_FIELDS)?;
        let first_name = required(body_str(&fields, "first_name")?, "first_name")?;
        let last_name = required(body_str(&fields, "last_name")?, "last_name")?;
        let email = required(body_str(&fields, "email")?, "email")?;
        let role_id = required(body_int(&fields, "role_id")?, "role_id")?;
        let status = body_str(&fields, "user_status")?.map(|s| check_status(&s, "user_status")).transpose()?;
        // A password is optional; without one CAKE mails a set-password link. Never stored here.
        body_str(&fields, "password")?;
        check_email(&email)?;
        self.check_role(role_id)?;
        let mut store = self.lock();
        store.ensure_unique(&email, None)?;
        let mut user = CakeUser::new(&first_name, &last_name, &email, role_id);
        user.user_status = status.unwrap_or_else(|| "active".into());
        let user = store.insert(user);
        Ok(json!({ "user": self.user_json(&user) }))
    }

    fn parse_patch(&self, fields: &Map<String, Value>) -> Result<Patch, Failure> {
        let patch = Patch {
            first_name: body_str(fields, "first_name")?,
            last_name: body_str(fields, "last_name")?,
            email: body_str(fields, "email")?,
            user_status: body_str(fields, "user_status")?.map(|s| check_status(&s, "user_status")).transpose()?,
            role_id: body_int(fields, "role_id")?,
        };
        if let Some(email) = &patch.email {
            check_email(email)?;
        }
        if let Some(role_id) = patch.role_id {
            self.check_role(role_id)?;
        }
        Ok(patch)
    }

    fn update_user(&self, body: &[u8]) -> Result<Value, Failure> {
        let fields = self.authorize_body(body, UPDATE_FIELDS)?;
        let user_id = required(body_int(&fields, "user_id")?, "user_id")?;
        let patch = self.parse_patch(&fields)?;
        let mut store = self.lock();
        if !store.users.contains_key(&user_id) {
            return Err(Failure::bad(format!("User {user_id} not found")));
        }
        if let Some(email) = &patch.email {
            store.ensure_unique(email, Some(user_id))?;
        }
        let Some(user) = store.users.get_mut(&user_id) else {
            return Err(Failure::bad(format!("User {user_id} not found")));
        };
        Ok(json!({ "user": self.apply_patch(user, patch) }))
    }

    /// Apply the given fields only, and answer as the vendor's sample does: the id, the
    /// names, and what changed.
    fn apply_patch(&self, user: &mut CakeUser, patch: Patch) -> Value {
        let mut answer = json!({ "user_id": user.user_id });
        if let Some(v) = patch.first_name {
            user.first_name = v;
        }
        if let Some(v) = patch.last_name {
            user.last_name = v;
        }
        answer["first_name"] = json!(user.first_name);
        answer["last_name"] = json!(user.last_name);
        if let Some(v) = patch.email {
            answer["email"] = json!(v);
            user.email = v;
        }
        if let Some(v) = patch.user_status {
            answer["user_status"] = json!(v);
            user.user_status = v;
        }
        if let Some(v) = patch.role_id {
            user.role_id = v;
            answer["role_id"] = json!(v);
            answer["role_name"] = json!(self.role_name(v));
        }
        answer
    }

    fn list_roles(&self, q: &Params) -> Result<Value, Failure> {
        self.authorize_query(q, &["role_id", "role_name"])?;
        let role_id = query_int(q, "role_id")?;
        let name = q.get("role_name").map(|n| n.trim().to_lowercase());
        let roles: Vec<&CakeRole> = self
            .roles
            .iter()
            .filter(|r| role_id.is_none_or(|id| r.role_id == id))
            .filter(|r| name.as_ref().is_none_or(|n| &r.role_name.to_lowercase() == n))
            .collect();
        Ok(json!({ "roles": roles }))
    }

    fn list_managers(&self, q: &Params) -> Result<Value, Failure> {
        self.authorize_query(q, &["account_manager_id", "account_manager_status"])?;
        let id = query_int(q, "account_manager_id")?;
        let status = query_status(q, "account_manager_status")?;
        let managers: Vec<&CakeManager> = self
            .managers
            .iter()
            .filter(|m| id.is_none_or(|id| m.account_manager_id == id))
            .filter(|m| status.as_ref().is_none_or(|s| &m.status == s))
            .collect();
        Ok(json!({ "account_managers": managers }))
    }
}

type AppState = State<Arc<Shared>>;

async fn users_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    faults.run("list", |injected| async move { answer(s.list_users(&q, injected)) }).await
}

async fn create_route(State(s): AppState, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("create", |_| async move { answer(s.create_user(&body)) }).await
}

async fn update_route(State(s): AppState, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("update", |_| async move { answer(s.update_user(&body)) }).await
}

async fn roles_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    faults.run("roles", |_| async move { answer(s.list_roles(&q)) }).await
}

async fn managers_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    faults.run("account_managers", |_| async move { answer(s.list_managers(&q)) }).await
}

/// There is no delete, nor anything else outside the contract.
async fn unknown_route(State(s): AppState) -> Response {
    s.faults
        .run("unknown", |_| async {
            Failure { status: StatusCode::NOT_FOUND, message: "No such API method".into() }.into_response()
        })
        .await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/2/users.json", get(users_route))
        .route("/api/2/user.json", post(create_route))
        .route("/api/2/update_user.json", post(update_route))
        .route("/api/2/roles.json", get(roles_route))
        .route("/api/2/account_managers.json", get(managers_route))
        .fallback(unknown_route)
        .with_state(shared)
}

/// A running CAKE emulator on `127.0.0.1`; stops when shut down or dropped.
#[derive(Debug)]
pub struct CakeSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl CakeSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: CakeSandboxOptions) -> std::io::Result<CakeSandbox> {
        let mut store = Store { next_id: 1000, ..Store::default() };
        for user in options.users {
            store.insert(user);
        }
        let shared = Arc::new(Shared {
            api_key: options.api_key,
            roles: options.roles,
            managers: options.account_managers,
            page_cap: options.page_cap,
            store: Mutex::new(store),
            faults: Faults::new(),
        });
        let app = router(shared.clone());
        let server = LoopbackServer::start(app, "cake").await?;
        let base_url = server.url("/")?;
        Ok(CakeSandbox { shared, base_url, server })
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

    /// A snapshot of every user, by `user_id`.
    pub fn users(&self) -> Vec<CakeUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user with this email (case-insensitive), if any.
    pub fn user_by_email(&self, email: &str) -> Option<CakeUser> {
        let wanted = email.trim().to_lowercase();
        self.shared.lock().users.values().find(|u| u.email.to_lowercase() == wanted).cloned()
    }

    /// Seed a pre-existing account (an admin, one rosterd never created). Not validated, so
    /// tests can also seed states the API would refuse.
    pub fn insert_user(&self, user: CakeUser) -> CakeUser {
        self.shared.lock().insert(user)
    }

    /// Write requests received (create and update), faulted or not.
    pub fn write_calls(&self) -> usize {
        self.shared.faults.count("create") + self.shared.faults.count("update")
    }

    /// Listing requests received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.shared.faults.count("list")
    }

    /// The parameter names (without `api_key`) of every authenticated write, oldest first.
    pub fn write_fields(&self) -> Vec<Vec<String>> {
        self.shared.lock().write_fields.clone()
    }

    /// The parameter names of the latest authenticated write.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.shared.lock().write_fields.last().cloned()
    }

    /// The query (without `api_key`) of every authenticated listing, oldest first.
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
            let emulator = CakeSandbox::start(CakeSandboxOptions::default().with_page_cap(cap)).await?;
            Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
        })
    },
    test_entry: "    roles: [ { role: Account Manager } ]\n",
    reads_per_run: 1,
    reads_per_removal: 0,
    writes_per_removal: 1,
    demo: crate::platform::emulator::DemoSeed {
        label: "cake",
        key_file: "cake-api-key",
        entry: include_str!("demo.yaml"),
        start: || {
            Box::pin(async move {
                // CAKE already holds its admin (protected), an account made by hand for a roster
                // person (adopted), and a contractor rosterd has never heard of (left alone).
                let options = CakeSandboxOptions::default()
                    .with_user(CakeUser::new("Site", "Admin", "admin@acme.example", 1))
                    .with_user(CakeUser::new("Grace", "Hopper-Old", "grace.hopper@acme.example", 3))
                    .with_user(CakeUser::new("Pat", "Contractor", "pat@agency.example", 2));
                Ok(Box::new(CakeSandbox::start(options).await?) as Box<dyn crate::platform::emulator::Emulator>)
            })
        },
    },
};

impl crate::platform::emulator::Emulator for CakeSandbox {
    fn faults(&self) -> &Faults {
        CakeSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        CakeSandbox::base_url(self)
    }

    fn key(&self) -> String {
        self.api_key().to_string()
    }

    fn write_calls(&self) -> usize {
        CakeSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().len()
    }

    fn with_access(&self) -> usize {
        self.users().iter().filter(|u| u.user_status == "active").count()
    }

    fn largest_page(&self) -> usize {
        super::MAX_PAGE_SIZE as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(CakeSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client {
        http: reqwest::Client,
        sandbox: CakeSandbox,
    }

    impl Client {
        async fn start(options: CakeSandboxOptions) -> Client {
            Client { http: reqwest::Client::new(), sandbox: CakeSandbox::start(options).await.unwrap() }
        }

        fn url(&self, path: &str) -> url::Url {
            self.sandbox.base_url().join(path).unwrap()
        }

        async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
            let mut q = vec![("api_key", self.sandbox.api_key())];
            q.extend_from_slice(query);
            let r = self.http.get(self.url(path)).query(&q).send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        }

        async fn post(&self, path: &str, mut body: Value) -> (u16, Value) {
            body["api_key"] = json!(self.sandbox.api_key());
            let r = self.http.post(self.url(path)).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        }
    }

    fn alex() -> Value {
        json!({"first_name": "Alex", "last_name": "Chen", "email": "a.chen@yournetwork.com", "role_id": 3})
    }

    #[tokio::test]
    async fn a_wrong_or_missing_key_is_a_401_failure_on_every_route() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        let r = c.http.get(c.url("api/2/roles.json")).query(&[("api_key", "nope")]).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["request_status"], "Failure");
        let r = c.http.post(c.url("api/2/user.json")).json(&alex()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(c.sandbox.users().is_empty());
    }

    #[tokio::test]
    async fn listing_pages_with_one_based_rows_and_refuses_oversized_pages() {
        let mut options = CakeSandboxOptions::default();
        for i in 0..5 {
            options = options.with_user(CakeUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), 2));
        }
        let c = Client::start(options).await;
        let (_, page) = c.get("api/2/users.json", &[("start_at_row", "4"), ("row_limit", "2")]).await;
        assert_eq!(page["request_status"], "Success");
        assert_eq!(page["response"]["total_rows"], 5);
        let emails: Vec<&str> =
            page["response"]["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["u3@x.com", "u4@x.com"]);
        let (status, failure) = c.get("api/2/users.json", &[("row_limit", "10001")]).await;
        assert_eq!((status, failure["request_status"].as_str()), (200, Some("Failure")));
        let (_, failure) = c.get("api/2/users.json", &[("start_row", "1")]).await;
        assert_eq!(failure["message"], "Unknown parameter: start_row");
    }

    #[tokio::test]
    async fn created_alternates_between_the_two_formats() {
        let options = CakeSandboxOptions::default()
            .with_user(CakeUser::new("A", "A", "a@x.com", 1))
            .with_user(CakeUser::new("B", "B", "b@x.com", 1));
        let c = Client::start(options).await;
        let users = c.sandbox.users();
        assert_eq!(&users[0].created[10..11], "T");
        assert_eq!(&users[1].created[10..11], " ");
    }

    #[tokio::test]
    async fn create_checks_required_fields_roles_and_duplicate_emails() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        let (_, created) = c.post("api/2/user.json", alex()).await;
        assert_eq!(created["user"]["role_name"], "Account Manager");
        assert_eq!(created["user"]["user_status"], "active");
        let mut shouting = alex();
        shouting["email"] = json!("A.CHEN@yournetwork.com");
        let (_, dup) = c.post("api/2/user.json", shouting).await;
        assert_eq!(dup["request_status"], "Failure");
        assert!(dup["message"].as_str().unwrap().contains("A.CHEN@yournetwork.com"));
        let (_, missing) = c.post("api/2/user.json", json!({"first_name": "X", "last_name": "Y", "role_id": 3})).await;
        assert_eq!(missing["message"], "email is required");
        let mut bad_role = alex();
        bad_role["email"] = json!("z@x.com");
        bad_role["role_id"] = json!(99);
        let (_, failure) = c.post("api/2/user.json", bad_role).await;
        assert_eq!(failure["message"], "Invalid role_id 99");
        assert_eq!(c.sandbox.users().len(), 1);
    }

    #[tokio::test]
    async fn update_applies_only_given_fields_and_answers_partially() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        let user = c.sandbox.insert_user(CakeUser::new("Sarah", "Mendez", "s.mendez@x.com", 3));
        let (_, updated) =
            c.post("api/2/update_user.json", json!({"user_id": user.user_id, "user_status": "inactive"})).await;
        assert_eq!(updated["request_status"], "Success");
        assert_eq!(updated["user"]["user_status"], "inactive");
        assert!(updated["user"].get("email").is_none(), "partial answer, as the seed's sample");
        let stored = c.sandbox.user_by_email("S.Mendez@x.com").unwrap();
        assert_eq!((stored.user_status.as_str(), stored.role_id, stored.first_name.as_str()), ("inactive", 3, "Sarah"));
        assert_eq!(c.sandbox.last_write_fields().unwrap(), ["user_id", "user_status"]);
        let (_, unknown) = c.post("api/2/update_user.json", json!({"user_id": 1, "first_name": "X"})).await;
        assert_eq!(unknown["message"], "User 1 not found");
    }

    #[tokio::test]
    async fn update_keeps_emails_unique() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        c.sandbox.insert_user(CakeUser::new("A", "A", "a@x.com", 1));
        let b = c.sandbox.insert_user(CakeUser::new("B", "B", "b@x.com", 1));
        let (_, failure) = c.post("api/2/update_user.json", json!({"user_id": b.user_id, "email": "A@x.com"})).await;
        assert_eq!(failure["request_status"], "Failure");
        assert_eq!(c.sandbox.user_by_email("b@x.com").unwrap().user_id, b.user_id);
    }

    #[tokio::test]
    async fn there_is_no_delete_and_unknown_routes_are_404() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        let r = c.http.post(c.url("api/2/delete_user.json")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(c.sandbox.faults().count("unknown"), 1);
    }

    #[tokio::test]
    async fn roles_and_account_managers_filter() {
        let c = Client::start(CakeSandboxOptions::default()).await;
        let (_, roles) = c.get("api/2/roles.json", &[("role_name", "finance")]).await;
        assert_eq!(roles["roles"], json!([{"role_id": 4, "role_name": "Finance"}]));
        let (_, managers) = c.get("api/2/account_managers.json", &[("account_manager_id", "7")]).await;
        assert_eq!(managers["account_managers"][0]["email"], "m.johnson@yournetwork.com");
        assert_eq!(managers["account_managers"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_truncated_page_claims_more_rows_than_it_has() {
        use crate::sandbox::faults::{Fault, FaultRule};
        let options = CakeSandboxOptions::default()
            .with_user(CakeUser::new("A", "A", "a@x.com", 1))
            .with_user(CakeUser::new("B", "B", "b@x.com", 1));
        let c = Client::start(options).await;
        c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
        let (_, page) = c.get("api/2/users.json", &[("start_at_row", "1"), ("row_limit", "10")]).await;
        assert_eq!(page["response"]["total_rows"], 2);
        assert_eq!(page["response"]["users"].as_array().unwrap().len(), 1);
    }
}
