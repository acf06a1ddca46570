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

use crate::sandbox::page_cap::PageCap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::server::LoopbackServer;

mod enterprise;
mod groups;
pub use enterprise::ENTERPRISE_URN;
pub use groups::{ScimGroup, GROUP_URN};

use super::wire::{ERROR_URN, LIST_URN, MEDIA_TYPE, PATCH_URN, USER_URN};
const CONFIG_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Where the emulator serves, under its address.
pub const BASE_PATH: &str = "/scim/v2";

/// One email of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimEmail {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub primary: bool,
}

/// A user as the emulator stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    /// Empty asks [`ScimSandbox::insert_user`] to assign the next id.
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub emails: Vec<ScimEmail>,
    pub active: bool,
    /// Bumped on every change; served as `W/"<version>"`.
    pub version: u64,
    /// Write-only (RFC 7643 `returned: never`): kept, never served.
    pub password: Option<String>,
    /// The enterprise extension's attributes by name (`department`, `manager`, ...).
    pub enterprise: BTreeMap<String, String>,
    /// `meta.lastModified`: set to the server's clock on every change; a seeded user keeps
    /// what it was given ([`SEEDED_AT`] unless set), so tests start from a quiet past.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// When seeded users were last modified, unless a test says otherwise.
pub const SEEDED_AT: &str = "2024-01-01T00:00:00Z";

fn seeded_at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(SEEDED_AT).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default()
}

impl ScimUser {
    /// An active user with a primary work email, an id to be assigned on insertion.
    pub fn new(user_name: &str, given: &str, family: &str, email: &str) -> ScimUser {
        ScimUser {
            user_name: user_name.into(),
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            emails: vec![ScimEmail { value: email.into(), kind: Some("work".into()), primary: true }],
            ..ScimUser::blank("")
        }
    }

    fn blank(id: &str) -> ScimUser {
        ScimUser {
            id: id.into(),
            user_name: String::new(),
            external_id: None,
            given_name: None,
            family_name: None,
            display_name: None,
            emails: Vec::new(),
            active: true,
            version: 1,
            password: None,
            enterprise: BTreeMap::new(),
            last_modified: seeded_at(),
        }
    }

    pub fn inactive(mut self) -> ScimUser {
        self.active = false;
        self
    }

    pub fn with_external_id(mut self, external_id: &str) -> ScimUser {
        self.external_id = Some(external_id.into());
        self
    }

    /// Seed with this `meta.lastModified` (tests spread seeded users over the past).
    pub fn last_modified_at(mut self, at: chrono::DateTime<chrono::Utc>) -> ScimUser {
        self.last_modified = at;
        self
    }

    pub fn with_password(mut self, password: &str) -> ScimUser {
        self.password = Some(password.into());
        self
    }

    /// The primary email, else the first.
    pub fn email(&self) -> Option<&str> {
        self.emails.iter().find(|e| e.primary).or(self.emails.first()).map(|e| e.value.as_str())
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct ScimSandboxOptions {
    pub token: String,
    /// `ServiceProviderConfig.patch.supported`; without it PATCH answers 501.
    pub patch_supported: bool,
    /// `ServiceProviderConfig.etag.supported`: versions served and `If-Match` honoured.
    pub etag_supported: bool,
    /// The most resources one page holds, whatever `count` asks (`filter.maxResults`).
    pub max_results: usize,
    /// Whether `meta.lastModified gt|ge` filters are served (else 400 `invalidFilter`).
    pub last_modified_filter: bool,
    pub users: Vec<ScimUser>,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

impl Default for ScimSandboxOptions {
    fn default() -> Self {
        ScimSandboxOptions {
            token: "sandbox-scim-token".into(),
            patch_supported: true,
            etag_supported: true,
            max_results: 1000,
            last_modified_filter: true,
            users: Vec::new(),
            page_cap: PageCap::None,
        }
    }
}

impl ScimSandboxOptions {
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = token.into();
        self
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

    pub fn with_user(mut self, user: ScimUser) -> Self {
        self.users.push(user);
        self
    }

    /// Serve listing pages no larger than `cap` allows, as a server that caps page sizes does.
    pub fn with_page_cap(mut self, cap: PageCap) -> Self {
        self.page_cap = cap;
        self
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
    let mut response = (status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response();
    if let Some(tag) = etag.and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

fn answer(outcome: Result<Response, ScimError>) -> Response {
    outcome.unwrap_or_else(IntoResponse::into_response)
}

// ---- Attributes: how a value in a request lands on a stored user. Names are
// case-insensitive (RFC 7643 §2.1); types are checked, as a real server's schema does.

fn string_of(path: &str, value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::value(format!("{path} must be a string"))),
    }
}

fn emails_of(value: &Value) -> Result<Vec<ScimEmail>, ScimError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(_) => {
            let emails: Vec<ScimEmail> = serde_json::from_value(value.clone())
                .map_err(|e| ScimError::value(format!("emails must be a list of {{value, type, primary}}: {e}")))?;
            if emails.iter().filter(|e| e.primary).count() > 1 {
                return Err(ScimError::value("at most one email may be primary"));
            }
            Ok(emails)
        }
        _ => Err(ScimError::value("emails must be a list")),
    }
}

/// Set one attribute (a top-level name, or `name.givenName` / `name.familyName`).
fn set_attribute(user: &mut ScimUser, path: &str, value: &Value) -> Result<(), ScimError> {
    match path.to_lowercase().as_str() {
        "username" => match string_of(path, value)? {
            Some(name) if !name.trim().is_empty() => user.user_name = name,
            _ => return Err(ScimError::value("userName is required and may not be empty")),
        },
        "externalid" => user.external_id = string_of(path, value)?,
        "displayname" => user.display_name = string_of(path, value)?,
        "name.givenname" => user.given_name = string_of(path, value)?,
        "name.familyname" => user.family_name = string_of(path, value)?,
        "name" => set_name(user, value)?,
        "emails" => user.emails = emails_of(value)?,
        "active" => user.active = value.as_bool().ok_or_else(|| ScimError::value("active must be a boolean"))?,
        "password" => user.password = string_of(path, value)?,
        _ => return Err(ScimError::path(format!("attribute {path:?} is not supported"))),
    }
    Ok(())
}

fn set_name(user: &mut ScimUser, value: &Value) -> Result<(), ScimError> {
    let Value::Object(name) = value else { return Err(ScimError::value("name must be an object")) };
    user.given_name = None;
    user.family_name = None;
    for (key, v) in name {
        match key.to_lowercase().as_str() {
            "givenname" | "familyname" => set_attribute(user, &format!("name.{key}"), v)?,
            // Formatted and the rest are accepted and not kept: rosterd never writes them.
            "formatted" | "middlename" | "honorificprefix" | "honorificsuffix" => {}
            _ => return Err(ScimError::syntax(format!("name.{key} is not an attribute of name"))),
        }
    }
    Ok(())
}

/// The user as a SCIM resource: never the password.
fn user_json(user: &User<'_>) -> Value {
    let u = user.user;
    let mut body = json!({
        "schemas": [USER_URN],
        "id": u.id,
        "userName": u.user_name,
        "active": u.active,
        "meta": {
            "resourceType": "User",
            "location": format!("{BASE_PATH}/Users/{}", u.id),
            "lastModified": u.last_modified.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        },
    });
    if user.versioned {
        body["meta"]["version"] = json!(u.etag());
    }
    if let Some(v) = &u.external_id {
        body["externalId"] = json!(v);
    }
    if u.given_name.is_some() || u.family_name.is_some() {
        body["name"] = json!({ "givenName": u.given_name, "familyName": u.family_name });
    }
    if let Some(v) = &u.display_name {
        body["displayName"] = json!(v);
    }
    if !u.emails.is_empty() {
        body["emails"] = json!(u.emails);
    }
    enterprise::render(u, &mut body);
    body
}

/// A user and whether versions are served, for rendering.
struct User<'a> {
    user: &'a ScimUser,
    versioned: bool,
}

/// The filters the emulator understands.
#[derive(Debug, Clone, PartialEq)]
enum UserFilter {
    /// `userName eq "value"` (case-insensitive), the lookup of the contract's "Find".
    UserName(String),
    /// `meta.lastModified gt|ge "<date-time>"`: users changed after (or at) an instant.
    ModifiedAfter { at: chrono::DateTime<chrono::Utc>, inclusive: bool },
}

impl UserFilter {
    fn matches(&self, user: &ScimUser) -> bool {
        match self {
            UserFilter::UserName(name) => &user.user_name.to_lowercase() == name,
            UserFilter::ModifiedAfter { at, inclusive: true } => user.last_modified >= *at,
            UserFilter::ModifiedAfter { at, inclusive: false } => user.last_modified > *at,
        }
    }
}

/// `userName eq "value"` or `meta.lastModified gt|ge "<date-time>"` (unless refused by
/// the options); anything else is a 400 `invalidFilter`.
fn parse_filter(filter: &str, last_modified: bool) -> Result<UserFilter, ScimError> {
    let invalid =
        || ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), format!("unsupported filter {filter:?}"));
    let mut parts = filter.trim().splitn(3, char::is_whitespace);
    let (Some(attribute), Some(op), Some(literal)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let literal = serde_json::from_str::<String>(literal.trim()).map_err(|_| invalid())?;
    let op = op.to_lowercase();
    if attribute.eq_ignore_ascii_case("userName") && op == "eq" {
        return Ok(UserFilter::UserName(literal.to_lowercase()));
    }
    if last_modified && attribute.eq_ignore_ascii_case("meta.lastModified") && (op == "gt" || op == "ge") {
        let at = chrono::DateTime::parse_from_rfc3339(&literal).map_err(|_| {
            ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), format!("{literal:?} is not a date-time"))
        })?;
        return Ok(UserFilter::ModifiedAfter { at: at.with_timezone(&chrono::Utc), inclusive: op == "ge" });
    }
    Err(invalid())
}

fn query_int(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ScimError> {
    q.get(name)
        .map(|v| v.trim().parse::<i64>().map_err(|_| ScimError::value(format!("{name} must be an integer"))))
        .transpose()
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ScimError::syntax("the request body must be a JSON object")),
    }
}

/// `schemas` must name `urn` (case-insensitively).
fn check_schemas(map: &Map<String, Value>, urn: &str) -> Result<(), ScimError> {
    let schemas = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).and_then(|(_, v)| v.as_array());
    let named = schemas.is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn))));
    match named {
        true => Ok(()),
        false => Err(ScimError::syntax(format!("schemas must hold {urn}"))),
    }
}

/// The paths a PATCH `replace` may name: the attributes rosterd writes.
const PATCH_PATHS: &[&str] =
    &["username", "externalid", "name.givenname", "name.familyname", "displayname", "emails", "active"];
/// Top-level attributes a POST or PUT may carry (`id` and `meta` only on PUT, and ignored).
const RESOURCE_ATTRIBUTES: &[&str] =
    &["schemas", "username", "externalid", "name", "displayname", "emails", "active", "password"];

/// The mutable part of the emulator.
#[derive(Debug, Default)]
struct Store {
    /// Keyed by id; ids are zero-padded so the order is creation order, stable across pages.
    users: BTreeMap<String, ScimUser>,
    next_id: u64,
    writes: Vec<ScimWrite>,
    /// The query of every authenticated listing, oldest first.
    list_queries: Vec<BTreeMap<String, String>>,
    /// Groups by id (`/Groups`, see `groups.rs`).
    groups: BTreeMap<String, ScimGroup>,
    next_group_id: u64,
}

impl Store {
    fn insert(&mut self, mut user: ScimUser) -> ScimUser {
        if user.id.is_empty() {
            self.next_id += 1;
            user.id = format!("u{:06}", self.next_id);
        }
        self.users.insert(user.id.clone(), user.clone());
        user
    }

    /// userName is unique, compared case-insensitively (`caseExact: false`).
    fn check_unique(&self, user_name: &str, except: Option<&str>) -> Result<(), ScimError> {
        let wanted = user_name.trim().to_lowercase();
        let taken =
            self.users.values().any(|u| Some(u.id.as_str()) != except && u.user_name.trim().to_lowercase() == wanted);
        match taken {
            true => Err(ScimError::taken(user_name)),
            false => Ok(()),
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    options: ScimSandboxOptions,
    // A std Mutex: handlers are synchronous once past the fault script, never await holding it.
    store: Mutex<Store>,
    faults: Faults,
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ScimError> {
        let given = header_str(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
        match given == Some(self.options.token.as_str()) {
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

    /// A stale `If-Match` is refused when versions are served; none at all is allowed.
    fn check_version(&self, user: &ScimUser, headers: &HeaderMap) -> Result<(), ScimError> {
        let given = header_str(headers, header::IF_MATCH);
        match (self.options.etag_supported, given) {
            (true, Some(tag)) if tag != "*" && tag != user.etag() => Err(ScimError::new(
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

impl Shared {
    /// `GET /Users`: paged, optionally filtered by userName. `startIndex` below 1 counts as 1
    /// and a negative `count` as 0 (RFC 7644 §3.4.2.4); `count` is capped at `max_results`.
    fn list(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        if let Some(unknown) = q.keys().find(|k| !["startIndex", "count", "filter"].contains(&k.as_str())) {
            return Err(ScimError::value(format!("unsupported query parameter {unknown:?}")));
        }
        let start = query_int(q, "startIndex")?.unwrap_or(1).max(1);
        let max = self.options.max_results;
        let count = query_int(q, "count")?.map_or(max, |c| usize::try_from(c.max(0)).unwrap_or(max).min(max));
        let wanted = q.get("filter").map(|f| parse_filter(f, self.options.last_modified_filter)).transpose()?;
        let mut store = self.lock();
        store.list_queries.push(q.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        let matching: Vec<&ScimUser> =
            store.users.values().filter(|u| wanted.as_ref().is_none_or(|w| w.matches(u))).collect();
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        // A silent cap: announced nowhere, visible only in the page (`itemsPerPage`).
        let count = if count == 0 { 0 } else { self.options.page_cap.apply(count) };
        let mut resources: Vec<Value> = matching.iter().skip(skip).take(count).map(|u| self.render(u)).collect();
        if injected.truncate {
            // The page keeps its totalResults but is one resource short.
            resources.pop();
        }
        let body = json!({
            "schemas": [LIST_URN],
            "totalResults": matching.len(),
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        });
        Ok(scim_json(StatusCode::OK, body, None))
    }

    fn get_user(&self, headers: &HeaderMap, id: &str) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        let store = self.lock();
        let user = store.users.get(id).ok_or_else(|| ScimError::not_found(id))?;
        Ok(self.single(StatusCode::OK, user))
    }

    /// `POST /Users`: a new user from the resource's attributes; 409 if the userName is taken.
    fn create(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("POST", None, headers, body)?;
        check_schemas(&map, USER_URN)?;
        let mut user = ScimUser { last_modified: chrono::Utc::now(), ..ScimUser::blank("") };
        fill(&mut user, &map, &[])?;
        let mut store = self.lock();
        store.check_unique(&user.user_name, None)?;
        let user = store.insert(user);
        Ok(self.single(StatusCode::CREATED, &user))
    }

    /// `PUT /Users/{id}`: the resource replaced by the body (`id` and `meta` ignored).
    fn put(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("PUT", Some(id), headers, body)?;
        check_schemas(&map, USER_URN)?;
        let mut store = self.lock();
        let current = store.users.get(id).ok_or_else(|| ScimError::not_found(id))?;
        self.check_version(current, headers)?;
        let mut user = ScimUser {
            version: current.version,
            password: current.password.clone(),
            last_modified: chrono::Utc::now(),
            ..ScimUser::blank(id)
        };
        if let Some(other) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")).and_then(|(_, v)| v.as_str()) {
            if other != id {
                return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), "id cannot change"));
            }
        }
        fill(&mut user, &map, &["id", "meta"])?;
        store.check_unique(&user.user_name, Some(id))?;
        user.version += 1;
        store.users.insert(id.to_string(), user.clone());
        Ok(self.single(StatusCode::OK, &user))
    }

    /// `PATCH /Users/{id}`: `replace` operations on rosterd's attributes, all or nothing.
    /// A PATCH request's checks shared by users and groups: the write is accepted, PATCH is
    /// announced, the schema is PatchOp's, and `Operations` is a non-empty list (returned).
    fn accept_patch(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Vec<Value>, ScimError> {
        let map = self.accept_write("PATCH", Some(id), headers, body)?;
        if !self.options.patch_supported {
            return Err(ScimError::new(StatusCode::NOT_IMPLEMENTED, None, "PATCH is not supported"));
        }
        check_schemas(&map, PATCH_URN)?;
        let operations = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")).and_then(|(_, v)| v.as_array());
        let operations = operations
            .filter(|o| !o.is_empty())
            .ok_or_else(|| ScimError::syntax("Operations must be a non-empty list"))?;
        Ok(operations.clone())
    }

    fn patch(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let operations = self.accept_patch(headers, id, body)?;
        let mut store = self.lock();
        let current = store.users.get(id).ok_or_else(|| ScimError::not_found(id))?;
        self.check_version(current, headers)?;
        let mut user = current.clone();
        for operation in &operations {
            apply_operation(&mut user, operation)?;
        }
        store.check_unique(&user.user_name, Some(id))?;
        user.version += 1;
        user.last_modified = chrono::Utc::now();
        let etag = user.etag();
        store.users.insert(id.to_string(), user);
        // As scim2-server does: 204, the new version in the ETag header only.
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let (true, Ok(tag)) = (self.options.etag_supported, header::HeaderValue::from_str(&etag)) {
            response.headers_mut().insert(header::ETAG, tag);
        }
        Ok(response)
    }
}

/// Set every attribute of a POST or PUT body; `ignored` names are accepted and skipped.
fn fill(user: &mut ScimUser, map: &Map<String, Value>, ignored: &[&str]) -> Result<(), ScimError> {
    for (key, value) in map {
        let lower = key.to_lowercase();
        if ignored.contains(&lower.as_str()) || lower == "schemas" {
            continue;
        }
        if key.eq_ignore_ascii_case(ENTERPRISE_URN) {
            enterprise::set_all(user, map, value)?;
            continue;
        }
        if !RESOURCE_ATTRIBUTES.contains(&lower.as_str()) {
            return Err(ScimError::syntax(format!("unknown attribute {key:?}")));
        }
        set_attribute(user, key, value)?;
    }
    if user.user_name.trim().is_empty() {
        return Err(ScimError::value("userName is required"));
    }
    Ok(())
}

fn apply_operation(user: &mut ScimUser, operation: &Value) -> Result<(), ScimError> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default();
    if !op.eq_ignore_ascii_case("replace") {
        return Err(ScimError::syntax(format!("op {op:?} is not supported here (replace only)")));
    }
    let path = operation
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::syntax("every operation needs a path"))?;
    if let Some(inner) = enterprise::patch_path(path) {
        let value = operation.get("value").ok_or_else(|| ScimError::syntax("a replace needs a value"))?;
        return enterprise::set_one(user, inner, value);
    }
    if !PATCH_PATHS.contains(&path.to_lowercase().as_str()) {
        return Err(ScimError::path(format!("path {path:?} is not supported")));
    }
    let value = operation.get("value").ok_or_else(|| ScimError::syntax("a replace needs a value"))?;
    set_attribute(user, path, value)
}

type AppState = State<Arc<Shared>>;

async fn config_route(State(s): AppState, headers: HeaderMap) -> Response {
    let faults = s.faults.clone();
    faults.run("config", |_| async move { answer(s.service_provider_config(&headers)) }).await
}

async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let faults = s.faults.clone();
    // A userName lookup is counted apart from paging, so list_calls counts pages only
    // (of full and of incremental listings).
    let lookup = q.get("filter").is_some_and(|f| f.trim_start().to_lowercase().starts_with("username"));
    let route = if lookup { "find" } else { "list" };
    faults.run(route, |injected| async move { answer(s.list(&headers, &q, injected)) }).await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("create", |_| async move { answer(s.create(&headers, &body)) }).await
}

async fn get_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let faults = s.faults.clone();
    faults.run("get", |_| async move { answer(s.get_user(&headers, &id)) }).await
}

async fn patch_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("patch", |_| async move { answer(s.patch(&headers, &id, &body)) }).await
}

async fn put_route(State(s): AppState, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults.run("put", |_| async move { answer(s.put(&headers, &id, &body)) }).await
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
        .route(&format!("{BASE_PATH}/Users"), get(users_route).post(create_route))
        .route(&format!("{BASE_PATH}/Users/{{id}}"), get(get_route).patch(patch_route).put(put_route));
    groups::routes(users).fallback(unknown_route).with_state(shared)
}

/// A running SCIM emulator on `127.0.0.1`; stops when shut down or dropped.
#[derive(Debug)]
pub struct ScimSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl ScimSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: ScimSandboxOptions) -> std::io::Result<ScimSandbox> {
        let mut store = Store::default();
        let mut options = options;
        for user in std::mem::take(&mut options.users) {
            store.insert(user);
        }
        let shared = Arc::new(Shared { options, store: Mutex::new(store), faults: Faults::new() });
        let app = router(shared.clone());
        let server = LoopbackServer::start(app, "scim").await?;
        let base_url = server.url(BASE_PATH)?;
        Ok(ScimSandbox { shared, base_url, server })
    }

    /// The SCIM base, `http://127.0.0.1:PORT/scim/v2` (`/Users` goes under it).
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The most resources one page holds (`filter.maxResults`).
    pub fn max_results(&self) -> usize {
        self.shared.options.max_results
    }

    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of every user, in creation order.
    pub fn users(&self) -> Vec<ScimUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    pub fn user(&self, id: &str) -> Option<ScimUser> {
        self.shared.lock().users.get(id).cloned()
    }

    /// The user with this userName (case-insensitive), if any.
    pub fn user_by_name(&self, user_name: &str) -> Option<ScimUser> {
        let wanted = user_name.trim().to_lowercase();
        self.shared.lock().users.values().find(|u| u.user_name.to_lowercase() == wanted).cloned()
    }

    /// Seed a user (not validated, so tests can seed states the API would refuse).
    pub fn insert_user(&self, user: ScimUser) -> ScimUser {
        self.shared.lock().insert(user)
    }

    /// Change a user behind rosterd's back, as another admin would: the version moves on
    /// and `meta.lastModified` becomes now.
    pub fn modify(&self, id: &str, change: impl FnOnce(&mut ScimUser)) -> Option<ScimUser> {
        let mut store = self.shared.lock();
        let user = store.users.get_mut(id)?;
        change(user);
        user.version += 1;
        user.last_modified = chrono::Utc::now();
        Some(user.clone())
    }

    /// Delete a user behind rosterd's back (a hard delete at the identity provider).
    pub fn delete_user(&self, id: &str) -> Option<ScimUser> {
        self.shared.lock().users.remove(id)
    }

    /// Write requests received (POST, PATCH, PUT), faulted or not.
    pub fn write_calls(&self) -> usize {
        let faults = &self.shared.faults;
        faults.count("create") + faults.count("patch") + faults.count("put")
    }

    /// Listing pages requested (userName lookups not included), faulted or not.
    pub fn list_calls(&self) -> usize {
        self.shared.faults.count("list")
    }

    /// Every authenticated write as it arrived, oldest first.
    pub fn writes(&self) -> Vec<ScimWrite> {
        self.shared.lock().writes.clone()
    }

    pub fn last_write(&self) -> Option<ScimWrite> {
        self.shared.lock().writes.last().cloned()
    }

    /// The query of every authenticated listing or lookup, oldest first.
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
            let emulator = ScimSandbox::start(ScimSandboxOptions::default().with_page_cap(cap)).await?;
            Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
        })
    },
    test_entry: "",
    reads_per_run: 1,
    reads_per_removal: 0,
    writes_per_removal: 1,
    demo: crate::platform::emulator::DemoSeed {
        label: "scim",
        key_file: "scim-token",
        entry: include_str!("../demo.yaml"),
        start: || {
            Box::pin(async move {
                let options = ScimSandboxOptions::default();
                Ok(Box::new(ScimSandbox::start(options).await?) as Box<dyn crate::platform::emulator::Emulator>)
            })
        },
    },
};

impl crate::platform::emulator::Emulator for ScimSandbox {
    fn faults(&self) -> &Faults {
        ScimSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        ScimSandbox::base_url(self)
    }

    fn key(&self) -> String {
        self.token().to_string()
    }

    fn write_calls(&self) -> usize {
        ScimSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().len()
    }

    fn with_access(&self) -> usize {
        self.users().iter().filter(|u| u.active).count()
    }

    fn largest_page(&self) -> usize {
        self.max_results()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(ScimSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client {
        http: reqwest::Client,
        sandbox: ScimSandbox,
    }

    impl Client {
        async fn start(options: ScimSandboxOptions) -> Client {
            Client { http: reqwest::Client::new(), sandbox: ScimSandbox::start(options).await.unwrap() }
        }

        fn url(&self, path: &str) -> String {
            format!("{}/{path}", self.sandbox.base_url())
        }

        async fn send(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<Value>,
            if_match: Option<&str>,
        ) -> (u16, Value) {
            let mut request = self.http.request(method, self.url(path)).bearer_auth(self.sandbox.token());
            if let Some(body) = body {
                request = request.header(header::CONTENT_TYPE, MEDIA_TYPE).body(body.to_string());
            }
            if let Some(tag) = if_match {
                request = request.header(header::IF_MATCH, tag);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap_or(Value::Null))
        }

        async fn patch(&self, id: &str, operations: Value, if_match: Option<&str>) -> (u16, Value) {
            let body = json!({ "schemas": [PATCH_URN], "Operations": operations });
            self.send(reqwest::Method::PATCH, &format!("Users/{id}"), Some(body), if_match).await
        }
    }

    fn one_user() -> ScimSandboxOptions {
        ScimSandboxOptions::default().with_user(ScimUser::new("a@x.com", "A", "B", "a@x.com").with_password("pw-9"))
    }

    #[tokio::test]
    async fn every_call_needs_the_token_and_a_refusal_is_a_scim_error() {
        let client = Client::start(one_user()).await;
        let answer = client.http.get(client.url("Users")).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!((body["schemas"][0].as_str(), body["status"].as_str()), (Some(ERROR_URN), Some("401")));
        let answer = client.http.get(client.url("ServiceProviderConfig")).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401);
    }

    #[tokio::test]
    async fn pages_are_capped_and_passwords_never_served() {
        let mut options = one_user().with_max_results(2);
        for i in 0..4 {
            options = options.with_user(ScimUser::new(&format!("u{i}"), "G", "F", &format!("u{i}@x.com")));
        }
        let client = Client::start(options).await;
        let (_, page) = client.send(reqwest::Method::GET, "Users?startIndex=0&count=50", None, None).await;
        assert_eq!((page["totalResults"].as_u64(), page["startIndex"].as_u64()), (Some(5), Some(1)));
        assert_eq!(page["Resources"].as_array().unwrap().len(), 2);
        assert!(!page.to_string().contains("pw-9") && !page.to_string().contains("password"));
        let (status, _) = client.send(reqwest::Method::GET, "Users?count=x", None, None).await;
        assert_eq!(status, 400);
        let (_, found) =
            client.send(reqwest::Method::GET, "Users?filter=USERNAME%20eq%20%22A@X.COM%22", None, None).await;
        assert_eq!(found["totalResults"], 1);
        let (status, error) = client.send(reqwest::Method::GET, "Users?filter=emails%20co%20%22x%22", None, None).await;
        assert_eq!((status, error["scimType"].as_str()), (400, Some("invalidFilter")));
    }

    #[tokio::test]
    async fn create_refuses_a_taken_name_and_unknown_attributes() {
        let client = Client::start(one_user()).await;
        let user = |name: &str| json!({ "schemas": [USER_URN], "userName": name });
        let (status, created) = client.send(reqwest::Method::POST, "Users", Some(user("b@x.com")), None).await;
        assert_eq!((status, created["meta"]["version"].as_str()), (201, Some("W/\"1\"")));
        let (status, error) = client.send(reqwest::Method::POST, "Users", Some(user("A@x.COM")), None).await;
        assert_eq!((status, error["scimType"].as_str()), (409, Some("uniqueness")));
        let mut odd = user("c@x.com");
        odd["nickname"] = json!("C");
        let (status, _) = client.send(reqwest::Method::POST, "Users", Some(odd), None).await;
        assert_eq!(status, 400);
        let (status, _) = client.send(reqwest::Method::POST, "Users", Some(json!({ "userName": "d" })), None).await;
        assert_eq!(status, 400, "schemas are required");
    }

    #[tokio::test]
    async fn patch_replaces_known_paths_checks_versions_and_refuses_the_rest() {
        let client = Client::start(one_user()).await;
        let id = client.sandbox.users()[0].id.clone();
        let replace = |path: &str, value: Value| json!([{ "op": "replace", "path": path, "value": value }]);
        let (status, _) = client.patch(&id, replace("name.givenName", json!("Ann")), Some("W/\"1\"")).await;
        assert_eq!(status, 204);
        let (status, _) = client.patch(&id, replace("active", json!(false)), Some("W/\"1\"")).await;
        assert_eq!(status, 412, "the version moved on");
        let (status, error) = client.patch(&id, replace("emails[type eq \"work\"].value", json!("z")), None).await;
        assert_eq!((status, error["scimType"].as_str()), (400, Some("invalidPath")));
        let (status, _) = client.patch(&id, json!([{ "op": "add", "path": "displayName", "value": "x" }]), None).await;
        assert_eq!(status, 400);
        let (status, _) = client.patch(&id, replace("active", json!("no")), None).await;
        assert_eq!(status, 400);
        let (status, _) = client.patch("u999", replace("active", json!(false)), None).await;
        assert_eq!(status, 404);
        let stored = client.sandbox.user(&id).unwrap();
        assert_eq!((stored.given_name.as_deref(), stored.active, stored.version), (Some("Ann"), true, 2));
    }

    #[tokio::test]
    async fn without_patch_only_put_changes_a_user() {
        let client = Client::start(one_user().without_patch()).await;
        let (_, config) = client.send(reqwest::Method::GET, "ServiceProviderConfig", None, None).await;
        assert_eq!(
            (config["patch"]["supported"].as_bool(), config["etag"]["supported"].as_bool()),
            (Some(false), Some(true))
        );
        let id = client.sandbox.users()[0].id.clone();
        let (status, _) = client.patch(&id, json!([{ "op": "replace", "path": "active", "value": false }]), None).await;
        assert_eq!(status, 501);
        let (_, mut resource) = client.send(reqwest::Method::GET, &format!("Users/{id}"), None, None).await;
        resource["active"] = json!(false);
        let (status, put) =
            client.send(reqwest::Method::PUT, &format!("Users/{id}"), Some(resource), Some("W/\"1\"")).await;
        assert_eq!(
            (status, put["active"].as_bool(), put["meta"]["version"].as_str()),
            (200, Some(false), Some("W/\"2\""))
        );
        assert_eq!(client.sandbox.user(&id).unwrap().password.as_deref(), Some("pw-9"), "PUT keeps the password");
        assert_eq!(client.sandbox.writes().len(), 2);
    }
}
