//! A strict CAKE Users & Access emulator (`/api/2`) on loopback, following `platforms/cake.md`.
//!
//! It checks the key on every call, pages and filters like CAKE, answers failures with
//! `request_status` bodies (HTTP 200, or 401 for a bad key), refuses unknown parameters so
//! that a connector typo shows up in tests, and consults [`Faults`] on every route.

mod handlers;

use handlers::*;

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::platform::emulator::{
    boxed, faulted, number, outside_contract, start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits,
    Held, Kind, Numbered, NumberedStore, Roster, Seed, Serve, Served,
};
use crate::sandbox::faults::Injected;

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

impl Held for CakeUser {
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.email, &self.first_name, self.user_status == "active")
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

/// What CAKE's emulator holds beyond every kind's seed: roles and account managers.
#[derive(Debug, Clone)]
pub struct CakeExtras {
    pub roles: Vec<CakeRole>,
    pub account_managers: Vec<CakeManager>,
}

/// What the emulator starts with.
pub type CakeSandboxOptions = Seed<CakeUser, CakeExtras>;

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
        let roles =
            vec![role(1, "Administrator"), role(2, "Media Buyer"), role(3, "Account Manager"), role(4, "Finance")];
        let account_managers = vec![
            manager(42, "Jordan", "Lee", "j.lee@yournetwork.com"),
            manager(7, "Mark", "Johnson", "m.johnson@yournetwork.com"),
        ];
        Seed::new("sandbox-cake-key", CakeExtras { roles, account_managers })
    }
}

impl Kind for CakeExtras {
    type Store = Store;
    const SERVE: Serve<Self> = Serve::new("cake", router, &["create", "update"], super::MAX_PAGE_SIZE as usize);
}

/// What the emulator records beside its accounts.
#[derive(Debug, Default)]
pub struct CakeLog {
    /// How many `created` stamps were handed out: the format alternates on it.
    stamps: u64,
    /// The parameter names of every authenticated write, `api_key` left out.
    write_fields: Vec<Vec<String>>,
}

impl CakeLog {
    fn stamp(&mut self) -> String {
        self.stamps += 1;
        // CAKE answers `created` in two formats; a connector must take both.
        let format = if self.stamps % 2 == 1 { "%Y-%m-%dT%H:%M:%S" } else { "%Y-%m-%d %H:%M:%S" };
        chrono::Utc::now().naive_utc().format(format).to_string()
    }
}

impl Numbered for CakeUser {
    type Log = CakeLog;

    fn assign(&mut self, next_id: &mut u64, log: &mut CakeLog) -> u64 {
        let id = number(next_id, &mut self.user_id, 1000);
        if self.created.is_empty() {
            self.created = log.stamp();
        }
        id
    }
}

/// The mutable part of the emulator.
pub type Store = NumberedStore<CakeUser>;

impl Store {
    /// Emails are the login: unique across users, compared case-insensitively.
    fn ensure_unique(&self, email: &str, except: Option<u64>) -> Result<(), Failure> {
        let taken = || Failure::bad(format!("A user with the email address {email} already exists"));
        self.ensure_free(email, |u| Some(u.user_id) == except, taken)
    }
}

/// Everything the handlers share.
pub type Shared = Served<CakeExtras>;

type AppState = State<Arc<Shared>>;

async fn users_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    faulted(s, "list", |s, injected| answer(s.list_users(&q, injected))).await
}

async fn create_route(State(s): AppState, body: Bytes) -> Response {
    faulted(s, "create", |s, _| answer(s.create_user(&body))).await
}

async fn update_route(State(s): AppState, body: Bytes) -> Response {
    faulted(s, "update", |s, _| answer(s.update_user(&body))).await
}

async fn roles_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    faulted(s, "roles", |s, _| answer(s.list_roles(&q))).await
}

async fn managers_route(State(s): AppState, Query(q): Query<Params>) -> Response {
    faulted(s, "account_managers", |s, _| answer(s.list_managers(&q))).await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/2/users.json", get(users_route))
        .route("/api/2/user.json", post(create_route))
        .route("/api/2/update_user.json", post(update_route))
        .route("/api/2/roles.json", get(roles_route))
        .route("/api/2/account_managers.json", get(managers_route))
        // There is no delete, nor anything else outside the contract.
        .fallback(outside_contract::<Shared, RequestStatus>(StatusCode::NOT_FOUND, "No such API method"))
        .with_state(shared)
}

/// A running CAKE emulator on `127.0.0.1`; stops when shut down or dropped.
pub type CakeSandbox = Emulated<Shared>;

impl CakeSandbox {
    /// The parameter names (without `api_key`) of every authenticated write, oldest first.
    pub fn write_fields(&self) -> Vec<Vec<String>> {
        self.state().lock().log.write_fields.clone()
    }

    /// The parameter names of the latest authenticated write.
    pub fn last_write_fields(&self) -> Option<Vec<String>> {
        self.state().lock().log.write_fields.last().cloned()
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<CakeExtras>,
    test_entry: "    roles: [ { role: Account Manager } ]\n",
    habits: Habits { reads_per_run: 1, ..Habits::USUAL },
    demo: DemoSeed {
        label: "cake",
        key_file: "cake-api-key",
        entry: include_str!("../demo.yaml"),
        start: || {
            // CAKE already holds its admin (protected), an account made by hand for a roster
            // person (adopted), and a contractor rosterd has never heard of (left alone).
            let options = CakeSandboxOptions::default()
                .with_user(CakeUser::new("Site", "Admin", "admin@acme.example", 1))
                .with_user(CakeUser::new("Grace", "Hopper-Old", "grace.hopper@acme.example", 3))
                .with_user(CakeUser::new("Pat", "Contractor", "pat@agency.example", 2));
            boxed(CakeSandbox::start(options))
        },
    },
};

#[cfg(test)]
mod tests;
