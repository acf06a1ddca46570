//! A strict AgencyAnalytics users API v3 emulator on loopback, following `platforms/agencyanalytics.md`.
//!
//! It checks HTTP Basic (the key as user name, an empty password) on every call, pages with
//! `metadata`, answers errors as `{"error":{"message":..}}`, refuses a duplicate username
//! (409) and a role change between the staff side and `client` (422), deletes with 204 and
//! then knows the user no more (404), lists `password` as null, and consults [`Faults`] on
//! every route. Every authenticated request lands in a log (passwords masked) for tests.

mod handlers;

use handlers::*;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::platform::emulator::{
    faulted, number, rest_fallbacks, start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits, Held,
    Kind, Numbered, NumberedStore, Roster, Seed, Serve, Served,
};
use crate::sandbox::faults::Injected;

/// `limit` when none is sent.
const DEFAULT_LIMIT: u64 = 25;
/// The largest `limit` the emulator serves (the vendor documents none).
const MAX_LIMIT: u64 = 1000;
/// The shortest password the emulator takes.
const MIN_PASSWORD: usize = 8;
const ROLES: [&str; 3] = ["admin", "staff", "client"];
const CREATE_FIELDS: &[&str] =
    &["first_name", "last_name", "username", "password", "email", "role", "email_credentials"];
const UPDATE_FIELDS: &[&str] = &["first_name", "last_name", "username", "email", "password", "role"];
const LIST_PARAMS: &[&str] = &["page", "limit", "filter", "order_by", "order_direction", "role[]"];
const ORDER_BY: &[&str] = &["id", "username", "email", "first_name", "last_name", "date_created", "role"];

/// A user as the emulator stores it. The password is never kept: only whether one was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyAnalyticsUser {
    /// 0 asks [`AgencyAnalyticsSandbox::insert_user`] to assign the next id.
    pub id: u64,
    pub date_created: String,
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    /// `admin`, `staff` or `client`.
    pub role: String,
    pub campaign_access: String,
    pub account_id: u64,
    /// Whether the create asked AgencyAnalytics to mail the login (`email_credentials`).
    pub credentials_emailed: bool,
}

impl AgencyAnalyticsUser {
    /// A user whose username is their email, with an id to be assigned on insertion.
    pub fn new(first_name: &str, last_name: &str, username: &str, role: &str) -> AgencyAnalyticsUser {
        AgencyAnalyticsUser {
            id: 0,
            date_created: "2015-03-30 10:06:24".into(),
            email: username.into(),
            username: username.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            role: role.into(),
            campaign_access: "restricted".into(),
            account_id: 1,
            credentials_emailed: false,
        }
    }

    pub fn with_id(mut self, id: u64) -> AgencyAnalyticsUser {
        self.id = id;
        self
    }
}

impl Held for AgencyAnalyticsUser {
    /// A removal deletes the account, so whoever is held can sign in.
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.username, &self.first_name, true)
    }
}

/// One authenticated request, as the emulator received it; a password shows as `[set]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgencyAnalyticsRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl AgencyAnalyticsRequest {
    /// Whether this request carried a `role`.
    pub fn sets_role(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.get("role").is_some())
    }
}

/// What AgencyAnalytics' emulator takes beyond every kind's seed.
#[derive(Debug, Clone)]
pub struct AgencyAnalyticsExtras {
    /// Where the users collection is served (the connector's `users_path`).
    pub users_path: String,
    /// Take the key as `Authorization: Bearer <key>` instead of HTTP Basic (the contract's
    /// Basic is [inferred]: a deployment may differ, and rosterd's `auth_scheme` follows).
    pub bearer_auth: bool,
}

impl AgencyAnalyticsExtras {
    /// The users collection's path, with one leading slash and none trailing.
    fn served_path(&self) -> String {
        format!("/{}", self.users_path.trim_matches('/'))
    }
}

/// What the emulator starts with.
pub type AgencyAnalyticsSandboxOptions = Seed<AgencyAnalyticsUser, AgencyAnalyticsExtras>;

impl Default for AgencyAnalyticsSandboxOptions {
    fn default() -> Self {
        let extras = AgencyAnalyticsExtras { users_path: "/v3/users".into(), bearer_auth: false };
        Seed::new("sandbox-agencyanalytics-key", extras)
    }
}

impl AgencyAnalyticsSandboxOptions {
    /// Accept only `Authorization: Bearer <key>`.
    pub fn with_bearer_auth(mut self) -> Self {
        self.bearer_auth = true;
        self
    }

    pub fn with_users_path(mut self, path: &str) -> Self {
        self.users_path = path.into();
        self
    }
}

impl Kind for AgencyAnalyticsExtras {
    type Store = Store;
    const SERVE: Serve<Self> =
        Serve::new("agencyanalytics", router, &["create", "update", "delete"], super::MAX_PAGE_SIZE as usize);
}

/// What the emulator records beside its accounts.
#[derive(Debug, Default)]
pub struct AgencyAnalyticsLog {
    requests: Vec<AgencyAnalyticsRequest>,
    /// Every password received, so tests can search rosterd's output for them.
    passwords: Vec<String>,
}

impl Numbered for AgencyAnalyticsUser {
    type Log = AgencyAnalyticsLog;

    fn assign(&mut self, next_id: &mut u64, _: &mut AgencyAnalyticsLog) -> u64 {
        number(next_id, &mut self.id, 100)
    }
}

/// The mutable part of the emulator.
pub type Store = NumberedStore<AgencyAnalyticsUser>;

impl Store {
    /// Usernames are the login: unique, compared case-insensitively.
    fn ensure_unique(&self, username: &str, except: Option<u64>) -> Result<(), Failure> {
        let taken = || Failure::new(StatusCode::CONFLICT, format!("The username {username} is already taken"));
        self.ensure_free(username, |u| Some(u.id) == except, taken)
    }

    fn user_mut(&mut self, id: u64) -> Result<&mut AgencyAnalyticsUser, Failure> {
        self.users.get_mut(&id).ok_or_else(|| Failure::not_found(id))
    }
}

type AppState = State<Arc<Shared>>;
type Pairs = Query<Vec<(String, String)>>;

async fn list_route(State(s): AppState, headers: HeaderMap, Query(q): Pairs) -> Response {
    faulted(s, "list", |s, injected| {
        let outcome = s.check_auth(&headers).and_then(|()| {
            s.log(&Method::GET, &s.users_path, &q, None);
            s.list_users(&q, injected)
        });
        answer(outcome)
    })
    .await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    faulted(s, "create", |s, _| {
        let outcome = s.check_auth(&headers).and_then(|()| object_body(&body)).and_then(|fields| {
            s.log(&Method::POST, &s.users_path, &[], Some(&fields));
            s.create_user(&fields)
        });
        answer(outcome)
    })
    .await
}

/// `GET`, `PUT` and `DELETE` on one user share the route; each has its own fault label.
async fn user_route(
    State(s): AppState,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let label = match method {
        Method::GET => "get",
        Method::PUT => "update",
        _ => "delete",
    };
    faulted(s, label, |s, _| answer(s.one_user(&method, &headers, &id, &body))).await
}

fn router(shared: Arc<Shared>) -> Router {
    let users = shared.served_path();
    let routes = Router::new()
        .route(&users, get(list_route).post(create_route))
        .route(&format!("{users}/{{id}}"), get(user_route).put(user_route).delete(user_route));
    rest_fallbacks::<Shared, ErrorObject>(routes).with_state(shared)
}

/// A running AgencyAnalytics emulator on `127.0.0.1`; stops when shut down or dropped.
pub type AgencyAnalyticsSandbox = Emulated<Shared>;

impl AgencyAnalyticsSandbox {
    /// Every authenticated request, oldest first (passwords masked as `[set]`).
    pub fn requests(&self) -> Vec<AgencyAnalyticsRequest> {
        self.state().lock().log.requests.clone()
    }

    /// The authenticated write requests (POST, PUT, DELETE), oldest first.
    pub fn writes(&self) -> Vec<AgencyAnalyticsRequest> {
        self.requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    /// Every password the emulator received, for tests that search for leaks.
    pub fn passwords(&self) -> Vec<String> {
        self.state().lock().log.passwords.clone()
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<AgencyAnalyticsExtras>,
    test_entry: "    allow_delete: true\n    roles: [ { role: staff } ]\n",
    habits: Habits { removes_by_deleting: true, ..Habits::USUAL },
    demo: DemoSeed::of::<AgencyAnalyticsExtras>("agency", "agency-api-key", include_str!("../demo.yaml")),
};

#[cfg(test)]
mod tests;
