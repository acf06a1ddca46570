//! A strict Client Toolbox users API emulator on loopback, following `platforms/clienttoolbox.md`.
//!
//! One URL takes form POSTs. Every call is checked: the key (header `api_access_key`, else
//! the `user_api_key` field), the caller's `user_id` and `account_id`, the `API` version of
//! its `type`, administrator rights, and unknown fields. Answers are XML in the contract's
//! shape with HTTP 200, failures `<response status="error">`; user records carry their
//! secrets as the real service returns them. Deleted users stay, unlisted, with their name
//! taken; `action=permanent` works and is recorded, so tests can prove rosterd never sends it.

mod handlers;

use handlers::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::platform::emulator::{
    start_capped, DemoSeed, Emulated, EmulatedAccount, EmulatorSpec, Habits, Held, Kind, Roster, Seed, Serve, Served,
};
use crate::sandbox::faults::Injected;

/// Fields every call may carry.
const COMMON: &[&str] = &["API", "user_id", "account_id", "type", "output", "user_api_key"];
const LIST_FIELDS: &[&str] =
    &["offset", "length", "sortField", "sortOrder", "searchField", "searchOper", "searchValue", "show_permissions"];
/// Fields of `user_new`; `user_update` takes the same but the password is optional.
const USER_FIELDS: &[&str] = &[
    "user_name",
    "user_new_password",
    "user_role",
    "allowed_campaigns",
    "user_first_name",
    "user_last_name",
    "user_custom1",
    "language_selector",
    "timezone_selector",
];
const DELETE_FIELDS: &[&str] = &["user_name", "action"];
const SORT_FIELDS: &[&str] =
    &["user_first_name", "user_last_name", "user_role", "user_name", "language", "timezone", "user_custom1"];
const SEARCH_OPERATORS: &[&str] = &["eq", "ne", "bw", "bn", "ew", "en", "cn", "nc", "nu", "nn", "in", "ni"];

/// A user as the emulator stores it, secrets included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtUser {
    pub user_name: String,
    pub first_name: String,
    pub last_name: String,
    pub custom1: String,
    pub language: String,
    pub timezone: String,
    /// One capital letter; `A` is Administrator.
    pub role: String,
    /// `all`, `none`, or comma-joined campaign ids.
    pub allowed_campaigns: String,
    /// The user's own API key, listed as `user_api_key` when set.
    pub api_key: Option<String>,
    /// Listed as `user_password` when set, as the vendor's sample shows.
    pub password: Option<String>,
    pub pin: Option<String>,
    /// Soft-deleted: no longer listed, the name still taken.
    pub deleted: bool,
}

impl CtUser {
    pub fn new(user_name: &str, first_name: &str, last_name: &str, role: &str) -> CtUser {
        CtUser {
            user_name: user_name.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            custom1: String::new(),
            language: "EN".into(),
            timezone: "15".into(),
            role: role.into(),
            allowed_campaigns: "all".into(),
            api_key: None,
            password: None,
            pin: Some("1234".into()),
            deleted: false,
        }
    }

    pub fn with_api_key(mut self, key: &str) -> CtUser {
        self.api_key = Some(key.into());
        self
    }

    pub fn with_campaigns(mut self, allowed: &str) -> CtUser {
        self.allowed_campaigns = allowed.into();
        self
    }

    pub fn deleted(mut self) -> CtUser {
        self.deleted = true;
        self
    }
}

impl Held for CtUser {
    fn emulated(&self) -> EmulatedAccount {
        EmulatedAccount::new(&self.user_name, &self.first_name, !self.deleted)
    }

    /// Deleted users stay, unlisted.
    fn listed(&self) -> bool {
        !self.deleted
    }
}

/// What Client Toolbox's emulator takes beyond every kind's seed.
#[derive(Debug, Clone)]
pub struct CtExtras {
    pub account_id: String,
    /// The account owner's user name: may call everything whatever its role.
    pub owner: String,
    /// The campaign ids `allowed_campaigns` may name.
    pub campaigns: Vec<String>,
    pub list_api_version: String,
    pub write_api_version: String,
}

/// What the emulator starts with; its key is the owner's, held with the owner's account.
pub type CtSandboxOptions = Seed<CtUser, CtExtras>;

/// The owner's key in [`CtSandboxOptions::default`].
pub const SANDBOX_OWNER_KEY: &str = "sandbox-ct-owner-key";

impl Default for CtSandboxOptions {
    /// The vendor's sample account: `greatwidgets`, owned by `john1970`, three campaigns.
    fn default() -> Self {
        let owner = CtUser::new("john1970", "John", "Owner", "A").with_api_key(SANDBOX_OWNER_KEY);
        let extras = CtExtras {
            account_id: "greatwidgets".into(),
            owner: "john1970".into(),
            campaigns: vec!["1234567890123456".into(), "2345678901234567".into(), "3456789012345678".into()],
            list_api_version: "1.6".into(),
            write_api_version: "1.1".into(),
        };
        Seed::new(SANDBOX_OWNER_KEY, extras).with_user(owner)
    }
}

impl CtSandboxOptions {
    /// Give the owner this key.
    pub fn with_owner_key(mut self, key: &str) -> Self {
        let owner = self.owner.clone();
        for user in self.users.iter_mut().filter(|u| u.user_name == owner) {
            user.api_key = Some(key.into());
        }
        self
    }
}

impl Kind for CtExtras {
    type Store = Store;
    const SERVE: Serve<Self> =
        Serve::new("clienttoolbox", router, &["create", "update", "delete"], super::MAX_PAGE_SIZE as usize);
}

/// One authenticated call as received: its `type` and fields, secrets replaced by `[set]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtRequest {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
    /// Whether the key came as the `user_api_key` form field rather than the header.
    pub key_in_form: bool,
}

impl CtRequest {
    /// The field names beyond the common ones, sorted.
    pub fn own_fields(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).filter(|k| !COMMON.contains(k)).collect()
    }
}

/// The mutable part of the emulator.
#[derive(Debug, Default)]
pub struct Store {
    /// Keyed by the lower-cased name: names are unique without regard to case.
    users: BTreeMap<String, CtUser>,
    requests: Vec<CtRequest>,
    permanent_deletes: Vec<String>,
    /// Serve the vendor sample's unclosed `<user_language>` in listings.
    malformed_language: bool,
    pins: u32,
}

impl Roster for Store {
    type User = CtUser;

    fn users(&self) -> impl Iterator<Item = &CtUser> {
        self.users.values()
    }

    fn insert(&mut self, user: CtUser) -> CtUser {
        self.users.insert(user.user_name.to_lowercase(), user.clone());
        user
    }
}

impl Store {
    fn active(&self, name: &str) -> Option<&CtUser> {
        self.users.get(&name.to_lowercase()).filter(|u| !u.deleted)
    }
}

/// Everything the handlers share.
pub type Shared = Served<CtExtras>;

/// The one API URL, any path.
fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(api_route).with_state(shared)
}

/// The faults route label of a call, from its `type`.
fn route_of(body: &[u8]) -> &'static str {
    let kind = url::form_urlencoded::parse(body).find(|(k, _)| k == "type").map(|(_, v)| v.to_string());
    match kind.as_deref() {
        Some("users_list") => "list",
        Some("user_new") => "create",
        Some("user_update") => "update",
        Some("user_delete") => "delete",
        _ => "unknown",
    }
}

async fn api_route(State(s): State<Arc<Shared>>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    let route = if method == Method::POST { route_of(&body) } else { "unknown" };
    faults
        .run(route, |injected| async move {
            if method != Method::POST {
                return (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response();
            }
            xml_answer(s.handle(&headers, &body, injected))
        })
        .await
}

/// A running Client Toolbox emulator on `127.0.0.1`; stops when shut down or dropped.
pub type CtSandbox = Emulated<Shared>;

impl CtSandbox {
    pub fn account_id(&self) -> &str {
        &self.state().options.account_id
    }

    pub fn owner(&self) -> &str {
        &self.state().options.owner
    }

    /// The user of this name (any case), deleted or not.
    pub fn user(&self, name: &str) -> Option<CtUser> {
        self.state().lock().users.get(&name.to_lowercase()).cloned()
    }

    /// Serve listings with the vendor sample's unclosed `<user_language>` (or stop).
    pub fn set_malformed_language(&self, on: bool) {
        self.state().lock().malformed_language = on;
    }

    /// Every authenticated call, oldest first.
    pub fn requests(&self) -> Vec<CtRequest> {
        self.state().lock().requests.clone()
    }

    /// The latest authenticated call of this `type`.
    pub fn last_request(&self, kind: &str) -> Option<CtRequest> {
        self.state().lock().requests.iter().rev().find(|r| r.kind == kind).cloned()
    }

    /// Names removed with `action=permanent`.
    pub fn permanent_deletes(&self) -> Vec<String> {
        self.state().lock().permanent_deletes.clone()
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: EmulatorSpec = EmulatorSpec {
    start: start_capped::<CtExtras>,
    test_entry: "    caller_user_id: john1970\n    account_id: greatwidgets\n    roles: [ { role: K, allowed_campaigns: none } ]\n",
    habits: Habits::USUAL,
    demo: DemoSeed::of::<CtExtras>("loyalty", "loyalty-api-key", include_str!("../demo.yaml")),
};

#[cfg(test)]
mod tests;
