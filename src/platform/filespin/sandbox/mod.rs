//! A strict FileSpin user API emulator (`/api/v1`) on loopback, following `platforms/filespin.md`.
//!
//! It checks `X-FileSpin-Api-Key` on every call (401 for an unknown key, 403 for a user's
//! key without the Admin role), lists exactly 30 users per answer by `offset`, answers
//! `{"status":"ERROR","message":..}` with the contract's codes (400, 404, 405, 409, 422),
//! puts each user's secrets (`apikey`, `access_id`, `uploadKey`) in every record it returns,
//! as FileSpin does, and consults [`Faults`] on every route.

mod handlers;

use handlers::*;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::platform::emulator::{
    faulted, number, rest_fallbacks, start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits, Held,
    Kind, Numbered, NumberedStore, Roster, Seed, Serve, Served,
};
use crate::sandbox::faults::{Fault, Injected};

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

impl Held for FileSpinUser {
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.email, &self.first_name, self.enabled)
    }
}

/// What FileSpin's emulator takes beyond every kind's seed.
#[derive(Debug, Clone)]
pub struct FileSpinExtras {
    /// The administrator's user group: every user here is in it.
    pub group_id: String,
}

/// What the emulator starts with (the key is the administrator's rosterd acts as).
pub type FileSpinSandboxOptions = Seed<FileSpinUser, FileSpinExtras>;

impl Default for FileSpinSandboxOptions {
    fn default() -> Self {
        Seed::new("sandbox-filespin-key", FileSpinExtras { group_id: "g-1".into() })
    }
}

impl Kind for FileSpinExtras {
    type Store = Store;
    const SERVE: Serve<Self> = Serve::new("filespin", router, &["create", "update"], super::PAGE_SIZE as usize);
}

/// What the emulator records beside its accounts.
#[derive(Debug, Default)]
pub struct FileSpinLog {
    /// The body of every authenticated write, oldest first.
    writes: Vec<Map<String, Value>>,
}

/// A secret that looks like one and is unique: tests search for it in rosterd's output.
fn secret(kind: &str, id: u64) -> String {
    format!("fs-{kind}-{id}-{:016x}", rand::random::<u64>())
}

impl Numbered for FileSpinUser {
    type Log = FileSpinLog;

    fn assign(&mut self, next_id: &mut u64, _: &mut FileSpinLog) -> u64 {
        let id = number(next_id, &mut self.id, 101);
        for (slot, kind) in
            [(&mut self.apikey, "apikey"), (&mut self.access_id, "access"), (&mut self.upload_key, "upload")]
        {
            if slot.is_empty() {
                *slot = secret(kind, id);
            }
        }
        id
    }
}

/// The mutable part of the emulator.
pub type Store = NumberedStore<FileSpinUser>;

impl Store {
    /// Emails are unique, compared case-insensitively.
    fn ensure_unique(&self, email: &str, except: Option<u64>) -> Result<(), Failure> {
        let taken = || Failure::new(StatusCode::CONFLICT, format!("A user with email {email} already exists"));
        self.ensure_free(email, |u| Some(u.id) == except, taken)
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

fn router(shared: Arc<Shared>) -> Router {
    // There is no delete, nor anything else outside the contract.
    let routes = Router::new()
        .route("/api/v1/users", get(list_route))
        .route("/api/v1/user", post(create_route))
        .route("/api/v1/user/{id}", put(update_route));
    rest_fallbacks::<Shared, StatusError>(routes).with_state(shared)
}

/// A running FileSpin emulator on `127.0.0.1`; stops when shut down or dropped.
pub type FileSpinSandbox = Emulated<Shared>;

impl FileSpinSandbox {
    /// Every user's secrets, for tests that search rosterd's output for them.
    pub fn secrets(&self) -> Vec<String> {
        self.users().iter().flat_map(|u| u.secrets().map(str::to_string)).collect()
    }

    /// The body of every authenticated write, oldest first.
    pub fn writes(&self) -> Vec<Map<String, Value>> {
        self.state().lock().log.writes.clone()
    }

    /// The field names of the latest authenticated write, sorted.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.state().lock().log.writes.last().map(|w| w.keys().cloned().collect())
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<FileSpinExtras>,
    test_entry: "    roles: [ { role: USER } ]\n",
    habits: Habits { fixed_page_size: Some(super::PAGE_SIZE as usize), ..Habits::USUAL },
    demo: DemoSeed::of::<FileSpinExtras>("filespin", "filespin-api-key", include_str!("../demo.yaml")),
};

#[cfg(test)]
mod tests;
