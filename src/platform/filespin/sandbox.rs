//! A strict FileSpin user API emulator (`/api/v1`) on loopback, following `platforms/filespin.md`.
//!
//! It checks `X-FileSpin-Api-Key` on every call (401 for an unknown key, 403 for a user's
//! key without the Admin role), lists exactly 30 users per answer by `offset`, answers
//! `{"status":"ERROR","message":..}` with the contract's codes (400, 404, 405, 409, 422),
//! puts each user's secrets (`apikey`, `access_id`, `uploadKey`) in every record it returns,
//! as FileSpin does, and consults [`Faults`] on every route.

use crate::sandbox::page_cap::PageCap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{Fault, Faults, Injected};
use crate::sandbox::server::LoopbackServer;

/// Users per listing answer: FileSpin's fixed page.
pub const PAGE: usize = 30;
/// The built-in roles: `(role_id, role_name, permissions)`.
const ROLES: [(u64, &str, &[&str]); 4] = [
    (1, "ADMIN", &["asset.read", "asset.upload", "asset.delete", "user.manage"]),
    (2, "MANAGER", &["asset.read", "asset.upload", "asset.delete"]),
    (3, "CREATOR", &["asset.read", "asset.upload"]),
    (4, "USER", &["asset.read"]),
];
const CREATE_FIELDS: &[&str] = &["email", "first_name", "last_name", "role_id", "locale", "group_asset_access"];
const UPDATE_FIELDS: &[&str] =
    &["first_name", "last_name", "email", "role_id", "locale", "group_asset_access", "enabled"];

/// FileSpin's 429 answer, for fault scripts: `Slow down!` with `Retry-After`.
pub fn slow_down(retry_after_secs: u32) -> Fault {
    let body = json!({"status": "ERROR", "message": "Slow down!"}).to_string();
    Fault::Status { code: 429, retry_after: Some(retry_after_secs), body }
}

/// A user as the emulator stores it, secrets included (FileSpin returns them in every record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpinUser {
    /// 0 asks [`FileSpinSandbox::insert_user`] to assign the next id.
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub enabled: bool,
    /// `REQUESTED` until the person activates the login, then `REGISTERED`.
    pub invite_status: String,
    pub role_id: u64,
    pub locale: String,
    pub group_asset_access: bool,
    /// The user's own secrets; empty asks the emulator to generate them.
    pub apikey: String,
    pub access_id: String,
    pub upload_key: String,
}

impl FileSpinUser {
    /// An enabled, registered user; id and secrets assigned on insertion.
    pub fn new(first_name: &str, last_name: &str, email: &str, role_id: u64) -> FileSpinUser {
        FileSpinUser {
            id: 0,
            email: email.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            enabled: true,
            invite_status: "REGISTERED".into(),
            role_id,
            locale: "en_US".into(),
            group_asset_access: true,
            apikey: String::new(),
            access_id: String::new(),
            upload_key: String::new(),
        }
    }

    pub fn disabled(mut self) -> FileSpinUser {
        self.enabled = false;
        self
    }

    /// The three secrets of this user.
    pub fn secrets(&self) -> [&str; 3] {
        [&self.apikey, &self.access_id, &self.upload_key]
    }
}

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct FileSpinSandboxOptions {
    /// The key of the administrator rosterd acts as.
    pub api_key: String,
    /// The administrator's user group: every user here is in it.
    pub group_id: String,
    pub users: Vec<FileSpinUser>,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

impl Default for FileSpinSandboxOptions {
    fn default() -> Self {
        FileSpinSandboxOptions {
            api_key: "sandbox-filespin-key".into(),
            group_id: "g-1".into(),
            users: Vec::new(),
            page_cap: PageCap::None,
        }
    }
}

impl FileSpinSandboxOptions {
    pub fn with_user(mut self, user: FileSpinUser) -> Self {
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
    /// Keyed by id, so listings come back in a stable order.
    users: BTreeMap<u64, FileSpinUser>,
    next_id: u64,
    /// The body of every authenticated write, oldest first.
    writes: Vec<Map<String, Value>>,
}

/// A secret that looks like one and is unique: tests search for it in rosterd's output.
fn secret(kind: &str, id: u64) -> String {
    format!("fs-{kind}-{id}-{:016x}", rand::random::<u64>())
}

impl Store {
    fn insert(&mut self, mut user: FileSpinUser) -> FileSpinUser {
        if user.id == 0 {
            user.id = self.next_id;
        }
        self.next_id = self.next_id.max(user.id + 1);
        for (slot, kind) in
            [(&mut user.apikey, "apikey"), (&mut user.access_id, "access"), (&mut user.upload_key, "upload")]
        {
            if slot.is_empty() {
                *slot = secret(kind, user.id);
            }
        }
        self.users.insert(user.id, user.clone());
        user
    }

    /// Emails are unique, compared case-insensitively.
    fn ensure_unique(&self, email: &str, except: Option<u64>) -> Result<(), Failure> {
        let wanted = email.trim().to_lowercase();
        match self.users.values().any(|u| Some(u.id) != except && u.email.trim().to_lowercase() == wanted) {
            true => Err(Failure::new(StatusCode::CONFLICT, format!("A user with email {email} already exists"))),
            false => Ok(()),
        }
    }
}

/// A failure: `{"status":"ERROR","message":..}` with its HTTP status.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "status": "ERROR", "message": self.message }))).into_response()
    }
}

/// A success body: the given fields plus `"status":"OK"`.
fn answer(outcome: Result<Value, Failure>) -> Response {
    match outcome {
        Ok(mut body) => {
            body["status"] = json!("OK");
            Json(body).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

fn role(role_id: u64) -> Option<&'static (u64, &'static str, &'static [&'static str])> {
    ROLES.iter().find(|(id, _, _)| *id == role_id)
}

fn check_email(email: &str) -> Result<(), Failure> {
    match email.contains('@') && !email.trim().contains(' ') {
        true => Ok(()),
        false => Err(Failure::invalid(format!("{email} is not a valid email address"))),
    }
}

/// The validated fields of a create or an update; absent ones stay `None`.
#[derive(Debug, Default)]
struct Patch {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    role_id: Option<u64>,
    locale: Option<String>,
    group_asset_access: Option<bool>,
    enabled: Option<bool>,
}

impl Patch {
    /// Refuse unknown fields and wrong types with 422, as FileSpin does.
    fn parse(fields: &Map<String, Value>, allowed: &[&str]) -> Result<Patch, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Failure::invalid(format!("Unknown field: {unknown}")));
        }
        let text = |name: &str| match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(Failure::invalid(format!("{name} must be a non-empty string"))),
        };
        let flag = |name: &str| match fields.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Failure::invalid(format!("{name} must be true or false"))),
        };
        let role_id = match fields.get("role_id") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|id| role(*id).is_some()).ok_or_else(|| {
                Failure::invalid("role_id must be one of 1 (ADMIN), 2 (MANAGER), 3 (CREATOR), 4 (USER)")
            })?),
        };
        let email = text("email")?;
        email.as_deref().map(check_email).transpose()?;
        Ok(Patch {
            email,
            first_name: text("first_name")?,
            last_name: text("last_name")?,
            role_id,
            locale: text("locale")?,
            group_asset_access: flag("group_asset_access")?,
            enabled: flag("enabled")?,
        })
    }

    fn apply(self, user: &mut FileSpinUser) {
        let texts = [
            (self.email, &mut user.email),
            (self.first_name, &mut user.first_name),
            (self.last_name, &mut user.last_name),
            (self.locale, &mut user.locale),
        ];
        for (value, slot) in texts {
            if let Some(value) = value {
                *slot = value;
            }
        }
        user.role_id = self.role_id.unwrap_or(user.role_id);
        user.group_asset_access = self.group_asset_access.unwrap_or(user.group_asset_access);
        user.enabled = self.enabled.unwrap_or(user.enabled);
    }
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    api_key: String,
    group_id: String,
    /// The page-size cap of [`crate::sandbox::page_cap`].
    page_cap: PageCap,
    // A std Mutex: handlers never await while holding it.
    store: Mutex<Store>,
    faults: Faults,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The administrator's key, or an ADMIN user's own key; another user's key is 403.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let given = headers.get("x-filespin-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !given.is_empty() && given == self.api_key {
            return Ok(());
        }
        let store = self.lock();
        match store.users.values().find(|u| !given.is_empty() && u.apikey == given) {
            Some(u) if u.role_id == 1 && u.enabled => Ok(()),
            Some(_) => Err(Failure::new(StatusCode::FORBIDDEN, "This API key does not have the Admin role")),
            None => Err(Failure::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        }
    }

    /// A record exactly as FileSpin returns it: secrets included.
    fn user_json(&self, user: &FileSpinUser) -> Value {
        let (_, role_name, permissions) = role(user.role_id).copied().unwrap_or((0, "USER", &[]));
        json!({
            "id": user.id,
            "access_id": user.access_id,
            "apikey": user.apikey,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "enabled": user.enabled,
            "invite_status": user.invite_status,
            "role_id": user.role_id,
            "group_id": self.group_id,
            "locale": user.locale,
            "permissions": permissions,
            "role_name": role_name,
            "uploadKey": user.upload_key,
            "group_asset_access": user.group_asset_access,
            "addons": [],
        })
    }

    fn list_users(&self, q: &HashMap<String, String>, injected: Injected) -> Result<Value, Failure> {
        if let Some(unknown) = q.keys().find(|k| *k != "offset") {
            return Err(Failure::new(StatusCode::BAD_REQUEST, format!("Unknown parameter: {unknown}")));
        }
        let offset = match q.get("offset") {
            None => 0,
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "offset must be a non-negative integer"))?,
        };
        let store = self.lock();
        let mut users: Vec<Value> =
            store.users.values().skip(offset).take(self.page_cap.apply(PAGE)).map(|u| self.user_json(u)).collect();
        let count = users.len();
        if injected.truncate {
            // The answer claims `count` users but carries one fewer.
            users.pop();
        }
        Ok(json!({ "total_users": store.users.len(), "count": count, "users": users }))
    }

    fn create_user(&self, fields: &Map<String, Value>) -> Result<Value, Failure> {
        let patch = Patch::parse(fields, CREATE_FIELDS)?;
        let missing = [("email", patch.email.is_none()), ("first_name", patch.first_name.is_none())];
        let missing = missing.into_iter().chain([("last_name", patch.last_name.is_none())]);
        if let Some((name, _)) = missing.chain([("role_id", patch.role_id.is_none())]).find(|(_, m)| *m) {
            return Err(Failure::invalid(format!("{name} is required")));
        }
        let mut store = self.lock();
        store.ensure_unique(patch.email.as_deref().unwrap_or_default(), None)?;
        let mut user = FileSpinUser::new("", "", "", 4);
        // FileSpin mails the invitation: the login is not active yet.
        user.invite_status = "REQUESTED".into();
        patch.apply(&mut user);
        let user = store.insert(user);
        Ok(json!({ "user": self.user_json(&user) }))
    }

    fn update_user(&self, raw_id: &str, fields: &Map<String, Value>) -> Result<Value, Failure> {
        let not_found = || Failure::new(StatusCode::NOT_FOUND, format!("User {raw_id} not found"));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        let patch = Patch::parse(fields, UPDATE_FIELDS)?;
        let mut store = self.lock();
        if !store.users.contains_key(&id) {
            return Err(not_found());
        }
        if let Some(email) = &patch.email {
            store.ensure_unique(email, Some(id))?;
        }
        let user = store.users.get_mut(&id).ok_or_else(not_found)?;
        patch.apply(user);
        let user = user.clone();
        Ok(json!({ "user": self.user_json(&user) }))
    }

    /// Authorize, then read the JSON object body (400 otherwise) and log it.
    fn write_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Failure> {
        self.authorize(headers)?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::new(StatusCode::BAD_REQUEST, "The request body must be a JSON object"));
        };
        self.lock().writes.push(fields.clone());
        Ok(fields)
    }
}

type AppState = State<Arc<Shared>>;

async fn list_route(State(s): AppState, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let faults = s.faults.clone();
    faults
        .run("list", |injected| async move { answer(s.authorize(&headers).and_then(|()| s.list_users(&q, injected))) })
        .await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults
        .run(
            "create",
            |_| async move { answer(s.write_body(&headers, &body).and_then(|fields| s.create_user(&fields))) },
        )
        .await
}

async fn update_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults
        .run("update", |_| async move {
            answer(s.write_body(&headers, &body).and_then(|fields| s.update_user(&id, &fields)))
        })
        .await
}

/// There is no delete, nor anything else outside the contract.
async fn unknown_route(State(s): AppState) -> Response {
    s.faults.run("unknown", |_| async { Failure::new(StatusCode::NOT_FOUND, "Not found").into_response() }).await
}

async fn wrong_method(State(s): AppState) -> Response {
    s.faults
        .run("unknown", |_| async {
            Failure::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").into_response()
        })
        .await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/users", get(list_route))
        .route("/api/v1/user", post(create_route))
        .route("/api/v1/user/{id}", put(update_route))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(shared)
}

/// A running FileSpin emulator on `127.0.0.1`; stops when shut down or dropped.
#[derive(Debug)]
pub struct FileSpinSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl FileSpinSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: FileSpinSandboxOptions) -> std::io::Result<FileSpinSandbox> {
        let mut store = Store { next_id: 101, ..Store::default() };
        for user in options.users {
            store.insert(user);
        }
        let shared = Arc::new(Shared {
            api_key: options.api_key,
            group_id: options.group_id,
            page_cap: options.page_cap,
            store: Mutex::new(store),
            faults: Faults::new(),
        });
        let app = router(shared.clone());
        let server = LoopbackServer::start(app, "filespin").await?;
        let base_url = server.url("/")?;
        Ok(FileSpinSandbox { shared, base_url, server })
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

    /// A snapshot of every user, by id, secrets included.
    pub fn users(&self) -> Vec<FileSpinUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user with this email (case-insensitive), if any.
    pub fn user_by_email(&self, email: &str) -> Option<FileSpinUser> {
        let wanted = email.trim().to_lowercase();
        self.shared.lock().users.values().find(|u| u.email.to_lowercase() == wanted).cloned()
    }

    /// Every user's secrets, for tests that search rosterd's output for them.
    pub fn secrets(&self) -> Vec<String> {
        self.users().iter().flat_map(|u| u.secrets().map(str::to_string)).collect()
    }

    /// Seed a pre-existing user (secrets generated when empty). Not validated.
    pub fn insert_user(&self, user: FileSpinUser) -> FileSpinUser {
        self.shared.lock().insert(user)
    }

    /// The body of every authenticated write, oldest first.
    pub fn writes(&self) -> Vec<Map<String, Value>> {
        self.shared.lock().writes.clone()
    }

    /// The field names of the latest authenticated write, sorted.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.shared.lock().writes.last().map(|w| w.keys().cloned().collect())
    }

    /// Write requests received (create and update), faulted or not.
    pub fn write_calls(&self) -> usize {
        self.shared.faults.count("create") + self.shared.faults.count("update")
    }

    /// Listing requests received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.shared.faults.count("list")
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
            let emulator = FileSpinSandbox::start(FileSpinSandboxOptions::default().with_page_cap(cap)).await?;
            Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
        })
    },
    test_entry: "    roles: [ { role: USER } ]\n",
    reads_per_run: 0,
    reads_per_removal: 0,
    writes_per_removal: 1,
    demo: crate::platform::emulator::DemoSeed {
        label: "filespin",
        key_file: "filespin-api-key",
        entry: include_str!("demo.yaml"),
        start: || {
            Box::pin(async move {
                let options = FileSpinSandboxOptions::default();
                Ok(Box::new(FileSpinSandbox::start(options).await?) as Box<dyn crate::platform::emulator::Emulator>)
            })
        },
    },
};

impl crate::platform::emulator::Emulator for FileSpinSandbox {
    fn faults(&self) -> &Faults {
        FileSpinSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        FileSpinSandbox::base_url(self)
    }

    fn key(&self) -> String {
        self.api_key().to_string()
    }

    fn write_calls(&self) -> usize {
        FileSpinSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().len()
    }

    fn with_access(&self) -> usize {
        self.users().iter().filter(|u| u.enabled).count()
    }

    fn largest_page(&self) -> usize {
        super::PAGE_SIZE as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(FileSpinSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::faults::FaultRule;

    struct Client {
        http: reqwest::Client,
        sandbox: FileSpinSandbox,
    }

    impl Client {
        async fn start(options: FileSpinSandboxOptions) -> Client {
            Client { http: reqwest::Client::new(), sandbox: FileSpinSandbox::start(options).await.unwrap() }
        }

        async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
            let url = self.sandbox.base_url().join(path).unwrap();
            let mut request = self.http.request(method, url).header("X-FileSpin-Api-Key", self.sandbox.api_key());
            if let Some(body) = body {
                request = request.json(&body);
            }
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        }
    }

    fn users(n: usize) -> FileSpinSandboxOptions {
        (0..n).fold(FileSpinSandboxOptions::default(), |o, i| {
            o.with_user(FileSpinUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), 4))
        })
    }

    fn ana() -> Value {
        json!({"email": "ana@example.com", "first_name": "Ana", "last_name": "Lima", "role_id": 3})
    }

    /// Every record in an answer carries the user's three secrets, as stored.
    fn assert_secrets_present(sandbox: &FileSpinSandbox, record: &Value) {
        let stored = sandbox.user_by_email(record["email"].as_str().unwrap()).unwrap();
        assert_eq!(record["apikey"], stored.apikey);
        assert_eq!(record["access_id"], stored.access_id);
        assert_eq!(record["uploadKey"], stored.upload_key);
        assert!(stored.secrets().iter().all(|s| s.starts_with("fs-")));
    }

    #[tokio::test]
    async fn a_wrong_key_is_401_and_a_non_admin_users_key_403() {
        let c = Client::start(users(2)).await;
        let url = c.sandbox.base_url().join("api/v1/users").unwrap();
        let r = c.http.get(url.clone()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"status": "ERROR", "message": "Invalid API key"}));
        let key = c.sandbox.users()[0].apikey.clone();
        let r = c.http.get(url.clone()).header("X-FileSpin-Api-Key", key).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let admin = c.sandbox.insert_user(FileSpinUser::new("A", "D", "admin@x.com", 1));
        let r = c.http.get(url).header("X-FileSpin-Api-Key", admin.apikey).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = c.http.post(c.sandbox.base_url().join("api/v1/user").unwrap()).json(&ana()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(c.sandbox.writes().is_empty());
    }

    #[tokio::test]
    async fn listing_answers_exactly_30_users_with_their_secrets() {
        let c = Client::start(users(75)).await;
        let (status, first) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
        assert_eq!((status, first["status"].as_str(), first["total_users"].as_u64()), (200, Some("OK"), Some(75)));
        assert_eq!((first["count"].as_u64(), first["users"].as_array().unwrap().len()), (Some(30), 30));
        let (_, last) = c.call(reqwest::Method::GET, "api/v1/users?offset=60", None).await;
        assert_eq!(last["count"], 15);
        assert_eq!(last["users"][0]["email"], "u60@x.com");
        for record in first["users"].as_array().unwrap().iter().chain(last["users"].as_array().unwrap()) {
            assert_secrets_present(&c.sandbox, record);
        }
        let (status, _) = c.call(reqwest::Method::GET, "api/v1/users?offset=-1", None).await;
        assert_eq!(status, 400);
        let (status, failure) = c.call(reqwest::Method::GET, "api/v1/users?limit=100", None).await;
        assert_eq!((status, failure["message"].as_str()), (400, Some("Unknown parameter: limit")));
    }

    #[tokio::test]
    async fn create_requests_the_invitation_and_refuses_a_duplicate_email_with_409() {
        let c = Client::start(FileSpinSandboxOptions::default()).await;
        let (status, created) = c.call(reqwest::Method::POST, "api/v1/user", Some(ana())).await;
        assert_eq!((status, created["user"]["invite_status"].as_str()), (200, Some("REQUESTED")));
        assert_eq!(created["user"]["role_name"], "CREATOR");
        assert_secrets_present(&c.sandbox, &created["user"]);
        let mut shouting = ana();
        shouting["email"] = json!("ANA@example.com");
        let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(shouting)).await;
        assert_eq!((status, failure["status"].as_str()), (409, Some("ERROR")));
        assert_eq!(c.sandbox.users().len(), 1);
    }

    #[tokio::test]
    async fn bad_fields_are_422_and_a_body_that_is_not_json_400() {
        let c = Client::start(FileSpinSandboxOptions::default()).await;
        for (field, value, message) in [
            ("role_id", json!(9), "role_id must be one of"),
            ("group_asset_access", json!("yes"), "group_asset_access must be true or false"),
            ("email", json!("nope"), "nope is not a valid email address"),
            ("title", json!("Boss"), "Unknown field: title"),
        ] {
            let mut body = ana();
            body[field] = value;
            let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(body)).await;
            assert_eq!(status, 422, "{field}");
            assert!(failure["message"].as_str().unwrap().starts_with(message), "{failure}");
        }
        let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(json!({"email": "a@x.com"}))).await;
        assert_eq!((status, failure["message"].as_str()), (422, Some("first_name is required")));
        let url = c.sandbox.base_url().join("api/v1/user").unwrap();
        let r = c.http.post(url).header("X-FileSpin-Api-Key", c.sandbox.api_key()).body("{").send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(c.sandbox.users().is_empty());
    }

    #[tokio::test]
    async fn update_applies_only_given_fields_and_knows_no_unknown_id() {
        let c = Client::start(users(2)).await;
        let u0 = c.sandbox.user_by_email("u0@x.com").unwrap();
        let path = format!("api/v1/user/{}", u0.id);
        let (status, updated) = c.call(reqwest::Method::PUT, &path, Some(json!({"enabled": false}))).await;
        assert_eq!((status, updated["user"]["enabled"].as_bool()), (200, Some(false)));
        assert_secrets_present(&c.sandbox, &updated["user"]);
        let stored = c.sandbox.user_by_email("u0@x.com").unwrap();
        assert_eq!((stored.enabled, stored.first_name.as_str(), stored.role_id), (false, "U", 4));
        let (status, _) = c.call(reqwest::Method::PUT, &path, Some(json!({"email": "U1@x.com"}))).await;
        assert_eq!(status, 409);
        let (status, failure) = c.call(reqwest::Method::PUT, "api/v1/user/999", Some(json!({"enabled": true}))).await;
        assert_eq!((status, failure["message"].as_str()), (404, Some("User 999 not found")));
        let (status, failure) = c.call(reqwest::Method::DELETE, &path, None).await;
        assert_eq!((status, failure["status"].as_str()), (405, Some("ERROR")), "there is no delete");
    }

    #[tokio::test]
    async fn a_truncated_page_claims_more_users_than_it_has_and_slow_down_is_429() {
        let c = Client::start(users(3)).await;
        c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
        let (_, page) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
        assert_eq!((page["count"].as_u64(), page["users"].as_array().unwrap().len()), (Some(3), 2));
        c.sandbox.faults().script(FaultRule::on("list", slow_down(2)));
        let (status, failure) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
        assert_eq!((status, failure["message"].as_str()), (429, Some("Slow down!")));
    }
}
