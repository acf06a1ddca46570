//! A strict FileSpin user API emulator (`/api/v1`) on loopback, following `platforms/filespin.md`.
//!
//! It checks `X-FileSpin-Api-Key` on every call (401 for an unknown key, 403 for a user's
//! key without the Admin role), lists exactly 30 users per answer by `offset`, answers
//! `{"status":"ERROR","message":..}` with the contract's codes (400, 404, 405, 409, 422),
//! puts each user's secrets (`apikey`, `access_id`, `uploadKey`) in every record it returns,
//! as FileSpin does, and consults [`Faults`] on every route.

mod handlers;

use handlers::*;

use crate::sandbox::page_cap::PageCap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::platform::emulator::{faulted, Emulated, EmulatedAccount, EmulatorState, Habits};
use crate::sandbox::faults::{Fault, Faults, Injected};

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

type AppState = State<Arc<Shared>>;

async fn list_route(State(s): AppState, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    faulted(s, "list", |s, injected| answer(s.authorize(&headers).and_then(|()| s.list_users(&q, injected)))).await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    faulted(s, "create", |s, _| answer(s.write_body(&headers, &body).and_then(|fields| s.create_user(&fields)))).await
}

async fn update_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    faulted(s, "update", |s, _| answer(s.write_body(&headers, &body).and_then(|fields| s.update_user(&id, &fields))))
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
pub type FileSpinSandbox = Emulated<Shared>;

impl FileSpinSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: FileSpinSandboxOptions) -> std::io::Result<Self> {
        let mut store = Store { next_id: 101, ..Store::default() };
        for user in options.users {
            store.insert(user);
        }
        let shared = Shared {
            api_key: options.api_key,
            group_id: options.group_id,
            page_cap: options.page_cap,
            store: Mutex::new(store),
            faults: Faults::new(),
        };
        Emulated::launch(shared, router, "filespin", "/").await
    }

    /// A snapshot of every user, by id, secrets included.
    pub fn users(&self) -> Vec<FileSpinUser> {
        self.state().lock().users.values().cloned().collect()
    }

    /// The user with this email (case-insensitive), if any.
    pub fn user_by_email(&self, email: &str) -> Option<FileSpinUser> {
        let wanted = email.trim().to_lowercase();
        self.state().lock().users.values().find(|u| u.email.to_lowercase() == wanted).cloned()
    }

    /// Every user's secrets, for tests that search rosterd's output for them.
    pub fn secrets(&self) -> Vec<String> {
        self.users().iter().flat_map(|u| u.secrets().map(str::to_string)).collect()
    }

    /// Seed a pre-existing user (secrets generated when empty). Not validated.
    pub fn insert_user(&self, user: FileSpinUser) -> FileSpinUser {
        self.state().lock().insert(user)
    }

    /// The body of every authenticated write, oldest first.
    pub fn writes(&self) -> Vec<Map<String, Value>> {
        self.state().lock().writes.clone()
    }

    /// The field names of the latest authenticated write, sorted.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.state().lock().writes.last().map(|w| w.keys().cloned().collect())
    }

    /// Listing requests received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.state().faults.count("list")
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: crate::platform::emulator::EmulatorSpec = crate::platform::emulator::EmulatorSpec {
    start: |cap| {
        crate::platform::emulator::boxed(FileSpinSandbox::start(FileSpinSandboxOptions::default().with_page_cap(cap)))
    },
    test_entry: "    roles: [ { role: USER } ]\n",
    habits: Habits { fixed_page_size: Some(super::PAGE_SIZE as usize), ..Habits::USUAL },
    demo: crate::platform::emulator::DemoSeed {
        label: "filespin",
        key_file: "filespin-api-key",
        entry: include_str!("../demo.yaml"),
        start: || crate::platform::emulator::boxed(FileSpinSandbox::start(Default::default())),
    },
};

impl EmulatorState for Shared {
    const WRITE_ROUTES: &'static [&'static str] = &["create", "update"];

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn key(&self) -> &str {
        &self.api_key
    }

    fn listed(&self) -> usize {
        self.lock().users.len()
    }

    fn accounts(&self) -> Vec<EmulatedAccount> {
        self.lock().users.values().map(|u| EmulatedAccount::new(&u.email, &u.first_name, u.enabled)).collect()
    }

    fn largest_page(&self) -> usize {
        super::PAGE_SIZE as usize
    }
}

#[cfg(test)]
mod tests;
