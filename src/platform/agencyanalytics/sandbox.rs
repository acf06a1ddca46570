//! A strict AgencyAnalytics users API v3 emulator on loopback, following `platforms/agencyanalytics.md`.
//!
//! It checks HTTP Basic (the key as user name, an empty password) on every call, pages with
//! `metadata`, answers errors as `{"error":{"message":..}}`, refuses a duplicate username
//! (409) and a role change between the staff side and `client` (422), deletes with 204 and
//! then knows the user no more (404), lists `password` as null, and consults [`Faults`] on
//! every route. Every authenticated request lands in a log (passwords masked) for tests.

use crate::sandbox::page_cap::PageCap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::server::LoopbackServer;

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

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct AgencyAnalyticsSandboxOptions {
    pub api_key: String,
    /// Where the users collection is served (the connector's `users_path`).
    pub users_path: String,
    pub users: Vec<AgencyAnalyticsUser>,
    /// Take the key as `Authorization: Bearer <key>` instead of HTTP Basic (the contract's
    /// Basic is [inferred]: a deployment may differ, and rosterd's `auth_scheme` follows).
    pub bearer_auth: bool,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

impl Default for AgencyAnalyticsSandboxOptions {
    fn default() -> Self {
        AgencyAnalyticsSandboxOptions {
            api_key: "sandbox-agencyanalytics-key".into(),
            users_path: "/v3/users".into(),
            users: Vec::new(),
            bearer_auth: false,
            page_cap: PageCap::None,
        }
    }
}

impl AgencyAnalyticsSandboxOptions {
    pub fn with_user(mut self, user: AgencyAnalyticsUser) -> Self {
        self.users.push(user);
        self
    }

    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_key = key.into();
        self
    }

    /// Accept only `Authorization: Bearer <key>`.
    pub fn with_bearer_auth(mut self) -> Self {
        self.bearer_auth = true;
        self
    }

    pub fn with_users_path(mut self, path: &str) -> Self {
        self.users_path = path.into();
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
    users: BTreeMap<u64, AgencyAnalyticsUser>,
    next_id: u64,
    requests: Vec<AgencyAnalyticsRequest>,
    /// Every password received, so tests can search rosterd's output for them.
    passwords: Vec<String>,
}

impl Store {
    fn insert(&mut self, mut user: AgencyAnalyticsUser) -> AgencyAnalyticsUser {
        if user.id == 0 {
            user.id = self.next_id;
        }
        self.next_id = self.next_id.max(user.id + 1);
        self.users.insert(user.id, user.clone());
        user
    }

    /// Usernames are the login: unique, compared case-insensitively.
    fn ensure_unique(&self, username: &str, except: Option<u64>) -> Result<(), Failure> {
        let wanted = username.trim().to_lowercase();
        match self.users.values().any(|u| Some(u.id) != except && u.username.trim().to_lowercase() == wanted) {
            true => Err(Failure::new(StatusCode::CONFLICT, format!("The username {username} is already taken"))),
            false => Ok(()),
        }
    }

    fn user_mut(&mut self, id: u64) -> Result<&mut AgencyAnalyticsUser, Failure> {
        self.users.get_mut(&id).ok_or_else(|| Failure::not_found(id))
    }
}

/// An error answer: `{"error":{"message":..}}` with its status.
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

    fn bad(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(id: u64) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, format!("User {id} not found"))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": { "message": self.message } }))).into_response()
    }
}

/// A success: the data in its envelope (or 204 for none).
fn answer(outcome: Result<Option<Value>, Failure>) -> Response {
    match outcome {
        Ok(Some(body)) => Json(body).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => failure.into_response(),
    }
}

fn one(data: Value) -> Option<Value> {
    Some(json!({ "metadata": { "total_pages": 1, "total_records": 1 }, "data": data }))
}

fn user_json(user: &AgencyAnalyticsUser) -> Value {
    json!({
        "id": user.id,
        "date_created": user.date_created,
        "email": user.email,
        "username": user.username,
        // The real service lists the field, always null.
        "password": null,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "campaign_access": user.campaign_access,
        "account_id": user.account_id,
    })
}

/// A tiny standard base64 encoder: enough to build the expected Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize])),
                false => out.push('='),
            }
        }
    }
    out
}

fn body_str(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Failure::invalid(format!("{name} must be a non-empty string"))),
    }
}

fn required(fields: &Map<String, Value>, name: &str) -> Result<String, Failure> {
    body_str(fields, name)?.ok_or_else(|| Failure::invalid(format!("{name} is required")))
}

fn check_role(role: &str) -> Result<(), Failure> {
    match ROLES.contains(&role) {
        true => Ok(()),
        false => Err(Failure::invalid(format!("role must be one of {}", ROLES.join(", ")))),
    }
}

fn check_email(email: &str) -> Result<(), Failure> {
    match email.contains('@') {
        true => Ok(()),
        false => Err(Failure::invalid(format!("{email} is not a valid email address"))),
    }
}

fn check_password(password: &str) -> Result<(), Failure> {
    match password.chars().count() >= MIN_PASSWORD {
        true => Ok(()),
        false => Err(Failure::invalid(format!("password must be at least {MIN_PASSWORD} characters"))),
    }
}

fn is_client(role: &str) -> bool {
    role == "client"
}

fn truthy(value: Option<&Value>) -> Result<bool, Failure> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if ["true", "1"].contains(&s.as_str()) => Ok(true),
        Some(Value::String(s)) if ["false", "0", ""].contains(&s.as_str()) => Ok(false),
        Some(_) => Err(Failure::invalid("email_credentials must be true or false")),
    }
}

/// The listing's query, validated.
#[derive(Debug)]
struct ListQuery {
    page: u64,
    limit: u64,
    filter: Option<String>,
    order_by: String,
    descending: bool,
    roles: Vec<String>,
}

impl ListQuery {
    fn parse(q: &[(String, String)]) -> Result<ListQuery, Failure> {
        if let Some((unknown, _)) = q.iter().find(|(k, _)| !LIST_PARAMS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown parameter: {unknown}")));
        }
        let value = |name: &str| q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let int = |name: &str, default: u64| {
            value(name)
                .map_or(Ok(default), |v| v.parse().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
        };
        let (page, limit) = (int("page", 1)?, int("limit", DEFAULT_LIMIT)?);
        if page < 1 || !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Failure::bad(format!("page starts at 1 and limit is between 1 and {MAX_LIMIT}")));
        }
        let order_by = value("order_by").unwrap_or_else(|| "id".into());
        if !ORDER_BY.contains(&order_by.as_str()) {
            return Err(Failure::bad(format!("order_by must be one of {}", ORDER_BY.join(", "))));
        }
        let descending = match value("order_direction").as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(Failure::bad("order_direction must be asc or desc")),
        };
        let roles: Vec<String> = q.iter().filter(|(k, _)| k == "role[]").map(|(_, v)| v.clone()).collect();
        roles.iter().try_for_each(|r| check_role(r))?;
        Ok(ListQuery { page, limit, filter: value("filter"), order_by, descending, roles })
    }

    fn keeps(&self, user: &AgencyAnalyticsUser) -> bool {
        let text = self.filter.as_ref().map(|f| f.to_lowercase());
        let haystack = [&user.username, &user.email, &user.first_name, &user.last_name];
        (self.roles.is_empty() || self.roles.contains(&user.role))
            && text.is_none_or(|t| haystack.iter().any(|h| h.to_lowercase().contains(&t)))
    }

    fn sort_key(&self, user: &AgencyAnalyticsUser) -> String {
        match self.order_by.as_str() {
            "username" => user.username.to_lowercase(),
            "email" => user.email.to_lowercase(),
            "first_name" => user.first_name.to_lowercase(),
            "last_name" => user.last_name.to_lowercase(),
            "date_created" => user.date_created.clone(),
            "role" => user.role.clone(),
            _ => format!("{:020}", user.id),
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    /// `Basic base64(key + ":")`: the header every request must carry.
    authorization: String,
    api_key: String,
    users_path: String,
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

    /// Every request must carry the key as Basic credentials with an empty password.
    fn check_auth(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        match given == Some(self.authorization.as_str()) {
            true => Ok(()),
            false => Err(Failure::new(StatusCode::UNAUTHORIZED, "Invalid API credentials")),
        }
    }

    /// Log an authenticated request, its password masked.
    fn log(&self, method: &Method, path: &str, query: &[(String, String)], body: Option<&Map<String, Value>>) {
        let mut body = body.cloned().map(Value::Object);
        if let Some(password) = body.as_mut().and_then(|b| b.get_mut("password")) {
            *password = json!("[set]");
        }
        let logged =
            AgencyAnalyticsRequest { method: method.to_string(), path: path.into(), query: query.to_vec(), body };
        self.lock().requests.push(logged);
    }

    fn list_users(&self, q: &[(String, String)], injected: Injected) -> Result<Option<Value>, Failure> {
        let mut query = ListQuery::parse(q)?;
        // A capping server pages (and counts `total_pages`) by the size it serves.
        query.limit = self.page_cap.apply(usize::try_from(query.limit).unwrap_or(usize::MAX)) as u64;
        let store = self.lock();
        let mut matching: Vec<&AgencyAnalyticsUser> = store.users.values().filter(|u| query.keeps(u)).collect();
        matching.sort_by_cached_key(|u| query.sort_key(u));
        if query.descending {
            matching.reverse();
        }
        let total = matching.len() as u64;
        let skip = usize::try_from((query.page - 1).saturating_mul(query.limit)).unwrap_or(usize::MAX);
        let take = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut data: Vec<Value> = matching.iter().skip(skip).take(take).map(|u| user_json(u)).collect();
        if injected.truncate {
            // The page claims the same totals but is one user short.
            data.pop();
        }
        let metadata = json!({ "total_pages": total.div_ceil(query.limit), "total_records": total });
        Ok(Some(json!({ "metadata": metadata, "data": data })))
    }

    fn create_user(&self, fields: &Map<String, Value>) -> Result<Option<Value>, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown field: {unknown}")));
        }
        let names = [required(fields, "first_name")?, required(fields, "last_name")?];
        let (username, password, role) =
            (required(fields, "username")?, required(fields, "password")?, required(fields, "role")?);
        let email = body_str(fields, "email")?;
        check_role(&role)?;
        check_password(&password)?;
        email.as_deref().map(check_email).transpose()?;
        let emailed = truthy(fields.get("email_credentials"))?;
        let mut store = self.lock();
        store.ensure_unique(&username, None)?;
        store.passwords.push(password);
        let mut user = AgencyAnalyticsUser::new(&names[0], &names[1], &username, &role);
        user.email = email.unwrap_or_default();
        user.credentials_emailed = emailed;
        user.date_created = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        Ok(one(user_json(&store.insert(user))))
    }

    fn update_user(&self, id: u64, fields: &Map<String, Value>) -> Result<Option<Value>, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown field: {unknown}")));
        }
        let mut store = self.lock();
        let current = store.users.get(&id).cloned().ok_or_else(|| Failure::not_found(id))?;
        if let Some(role) = body_str(fields, "role")? {
            check_role(&role)?;
            if is_client(&role) != is_client(&current.role) {
                return Err(Failure::invalid("A user's role cannot be changed between staff and client"));
            }
        }
        if let Some(username) = body_str(fields, "username")? {
            store.ensure_unique(&username, Some(id))?;
        }
        body_str(fields, "email")?.as_deref().map(check_email).transpose()?;
        if let Some(password) = body_str(fields, "password")? {
            check_password(&password)?;
            store.passwords.push(password);
        }
        let user = store.user_mut(id)?;
        for (name, slot) in [
            ("first_name", &mut user.first_name),
            ("last_name", &mut user.last_name),
            ("username", &mut user.username),
            ("email", &mut user.email),
            ("role", &mut user.role),
        ] {
            if let Some(Value::String(v)) = fields.get(name) {
                *slot = v.clone();
            }
        }
        Ok(one(user_json(user)))
    }

    /// A request on one user, after the credentials and (for `PUT`) the body are checked.
    fn one_user(
        &self,
        method: &Method,
        headers: &HeaderMap,
        raw_id: &str,
        body: &[u8],
    ) -> Result<Option<Value>, Failure> {
        self.check_auth(headers)?;
        let path = format!("{}/{raw_id}", self.users_path);
        let fields = match *method == Method::PUT {
            true => Some(object_body(body)?),
            false => None,
        };
        self.log(method, &path, &[], fields.as_ref());
        let id = user_id(raw_id)?;
        match fields {
            Some(fields) => self.update_user(id, &fields),
            None if *method == Method::GET => self.get_user(id),
            None => self.delete_user(id),
        }
    }

    fn get_user(&self, id: u64) -> Result<Option<Value>, Failure> {
        let store = self.lock();
        store.users.get(&id).map(|u| one(user_json(u))).ok_or_else(|| Failure::not_found(id))
    }

    fn delete_user(&self, id: u64) -> Result<Option<Value>, Failure> {
        match self.lock().users.remove(&id) {
            Some(_) => Ok(None),
            None => Err(Failure::not_found(id)),
        }
    }
}

/// A JSON object body, or the 400 the service answers for anything else.
fn object_body(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Failure::bad("The request body must be a JSON object")),
    }
}

fn user_id(raw: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("User {raw} not found")))
}

type AppState = State<Arc<Shared>>;
type Pairs = Query<Vec<(String, String)>>;

async fn list_route(State(s): AppState, headers: HeaderMap, Query(q): Pairs) -> Response {
    let faults = s.faults.clone();
    faults
        .run("list", |injected| async move {
            let outcome = s.check_auth(&headers).and_then(|()| {
                s.log(&Method::GET, &s.users_path, &q, None);
                s.list_users(&q, injected)
            });
            answer(outcome)
        })
        .await
}

async fn create_route(State(s): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    faults
        .run("create", |_| async move {
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
    let faults = s.faults.clone();
    faults.run(label, |_| async move { answer(s.one_user(&method, &headers, &id, &body)) }).await
}

/// Anything outside the contract.
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
    let users = shared.users_path.clone();
    Router::new()
        .route(&users, get(list_route).post(create_route))
        .route(&format!("{users}/{{id}}"), get(user_route).put(user_route).delete(user_route))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(shared)
}

/// A running AgencyAnalytics emulator on `127.0.0.1`; stops when shut down or dropped.
#[derive(Debug)]
pub struct AgencyAnalyticsSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl AgencyAnalyticsSandbox {
    /// Bind a free loopback port and serve.
    pub async fn start(options: AgencyAnalyticsSandboxOptions) -> std::io::Result<AgencyAnalyticsSandbox> {
        let mut store = Store { next_id: 100, ..Store::default() };
        for user in options.users {
            store.insert(user);
        }
        let users_path = format!("/{}", options.users_path.trim_matches('/'));
        let shared = Arc::new(Shared {
            authorization: match options.bearer_auth {
                true => format!("Bearer {}", options.api_key),
                false => format!("Basic {}", base64(format!("{}:", options.api_key).as_bytes())),
            },
            api_key: options.api_key,
            users_path,
            page_cap: options.page_cap,
            store: Mutex::new(store),
            faults: Faults::new(),
        });
        let app = router(shared.clone());
        let server = LoopbackServer::start(app, "agencyanalytics").await?;
        let base_url = server.url("/")?;
        Ok(AgencyAnalyticsSandbox { shared, base_url, server })
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
    pub fn users(&self) -> Vec<AgencyAnalyticsUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user with this username (case-insensitive), if any.
    pub fn user_by_username(&self, username: &str) -> Option<AgencyAnalyticsUser> {
        let wanted = username.trim().to_lowercase();
        self.shared.lock().users.values().find(|u| u.username.to_lowercase() == wanted).cloned()
    }

    /// Seed a pre-existing user. Not validated, so tests can seed states the API would refuse.
    pub fn insert_user(&self, user: AgencyAnalyticsUser) -> AgencyAnalyticsUser {
        self.shared.lock().insert(user)
    }

    /// Every authenticated request, oldest first (passwords masked as `[set]`).
    pub fn requests(&self) -> Vec<AgencyAnalyticsRequest> {
        self.shared.lock().requests.clone()
    }

    /// The authenticated write requests (POST, PUT, DELETE), oldest first.
    pub fn writes(&self) -> Vec<AgencyAnalyticsRequest> {
        self.requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    /// Every password the emulator received, for tests that search for leaks.
    pub fn passwords(&self) -> Vec<String> {
        self.shared.lock().passwords.clone()
    }

    /// Write requests received (create, update, delete), faulted or not.
    pub fn write_calls(&self) -> usize {
        ["create", "update", "delete"].iter().map(|r| self.shared.faults.count(r)).sum()
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
            let emulator =
                AgencyAnalyticsSandbox::start(AgencyAnalyticsSandboxOptions::default().with_page_cap(cap)).await?;
            Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
        })
    },
    test_entry: "    allow_delete: true\n    roles: [ { role: staff } ]\n",
    reads_per_run: 0,
    reads_per_removal: 0,
    writes_per_removal: 1,
    demo: crate::platform::emulator::DemoSeed {
        label: "agency",
        key_file: "agency-api-key",
        entry: include_str!("demo.yaml"),
        start: || {
            Box::pin(async move {
                let options = AgencyAnalyticsSandboxOptions::default();
                Ok(Box::new(AgencyAnalyticsSandbox::start(options).await?)
                    as Box<dyn crate::platform::emulator::Emulator>)
            })
        },
    },
};

impl crate::platform::emulator::Emulator for AgencyAnalyticsSandbox {
    fn faults(&self) -> &Faults {
        AgencyAnalyticsSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        AgencyAnalyticsSandbox::base_url(self)
    }

    fn key(&self) -> String {
        self.api_key().to_string()
    }

    fn write_calls(&self) -> usize {
        AgencyAnalyticsSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().len()
    }

    fn with_access(&self) -> usize {
        self.users().len()
    }

    fn largest_page(&self) -> usize {
        super::MAX_PAGE_SIZE as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(AgencyAnalyticsSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client {
        http: reqwest::Client,
        sandbox: AgencyAnalyticsSandbox,
    }

    impl Client {
        async fn start(options: AgencyAnalyticsSandboxOptions) -> Client {
            Client { http: reqwest::Client::new(), sandbox: AgencyAnalyticsSandbox::start(options).await.unwrap() }
        }

        async fn call(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
            let url = self.sandbox.base_url().join(path).unwrap();
            let mut request = self.http.request(method, url).basic_auth(self.sandbox.api_key(), Some("")).query(query);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
        }
    }

    fn alex(role: &str) -> Value {
        json!({"first_name": "Alex", "last_name": "Chen", "username": "a.chen@x.com", "password": "s3cret-Passw0rd",
               "role": role, "email": "a.chen@x.com", "email_credentials": "true"})
    }

    fn five() -> AgencyAnalyticsSandboxOptions {
        (0..5).fold(AgencyAnalyticsSandboxOptions::default(), |o, i| {
            o.with_user(AgencyAnalyticsUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), "staff"))
        })
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b"key:"), "a2V5Og==");
        assert_eq!(base64(b"ab:"), "YWI6");
        assert_eq!(base64(b"abcd:"), "YWJjZDo=");
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_are_401_on_every_route() {
        let c = Client::start(five()).await;
        let url = c.sandbox.base_url().join("v3/users").unwrap();
        let r = c.http.get(url.clone()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["message"], "Invalid API credentials");
        let with_password = c.http.get(url.clone()).basic_auth(c.sandbox.api_key(), Some("x")).send().await.unwrap();
        assert_eq!(with_password.status(), 401, "the password must be empty");
        let r = c.http.delete(url.join("users/100").unwrap()).basic_auth("nope", Some("")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(c.sandbox.users().len(), 5);
        assert!(c.sandbox.requests().is_empty(), "unauthenticated requests are not logged");
    }

    #[tokio::test]
    async fn listing_pages_with_metadata_and_password_null() {
        let c = Client::start(five()).await;
        let (status, page) = c.call(Method::GET, "v3/users", &[("page", "2"), ("limit", "2")], None).await;
        assert_eq!(status, 200);
        assert_eq!(page["metadata"], json!({"total_pages": 3, "total_records": 5}));
        let names: Vec<&str> =
            page["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["u2@x.com", "u3@x.com"]);
        assert!(page["data"][0].as_object().unwrap().contains_key("password") && page["data"][0]["password"].is_null());
        let (_, desc) = c
            .call(
                Method::GET,
                "v3/users",
                &[("order_by", "username"), ("order_direction", "desc"), ("filter", "U4")],
                None,
            )
            .await;
        assert_eq!(desc["data"][0]["username"], "u4@x.com");
        let (status, failure) = c.call(Method::GET, "v3/users", &[("offset", "2")], None).await;
        assert_eq!((status, failure["error"]["message"].as_str()), (400, Some("Unknown parameter: offset")));
        let (_, clients) = c.call(Method::GET, "v3/users", &[("role[]", "client")], None).await;
        assert_eq!(clients["metadata"]["total_records"], 0);
    }

    #[tokio::test]
    async fn create_requires_its_fields_and_refuses_a_duplicate_username_with_409() {
        let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
        let (status, created) = c.call(Method::POST, "v3/users", &[], Some(alex("client"))).await;
        assert_eq!((status, created["data"]["role"].as_str()), (200, Some("client")));
        assert!(c.sandbox.users()[0].credentials_emailed);
        assert_eq!(c.sandbox.requests()[0].body.as_ref().unwrap()["password"], "[set]");
        let mut shouting = alex("staff");
        shouting["username"] = json!("A.CHEN@x.com");
        assert_eq!(c.call(Method::POST, "v3/users", &[], Some(shouting)).await.0, 409);
        let mut no_password = alex("staff");
        no_password.as_object_mut().unwrap().remove("password");
        let (status, failure) = c.call(Method::POST, "v3/users", &[], Some(no_password)).await;
        assert_eq!((status, failure["error"]["message"].as_str()), (422, Some("password is required")));
        let mut owner = alex("owner");
        owner["username"] = json!("o@x.com");
        assert_eq!(c.call(Method::POST, "v3/users", &[], Some(owner)).await.0, 422);
        assert_eq!(c.sandbox.users().len(), 1);
    }

    #[tokio::test]
    async fn a_role_change_between_staff_and_client_is_refused() {
        let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
        let staff = c.sandbox.insert_user(AgencyAnalyticsUser::new("S", "T", "s@x.com", "staff"));
        let path = format!("v3/users/{}", staff.id);
        let (status, failure) = c.call(Method::PUT, &path, &[], Some(json!({"role": "client"}))).await;
        assert_eq!(status, 422);
        assert!(failure["error"]["message"].as_str().unwrap().contains("between staff and client"));
        let (status, updated) = c.call(Method::PUT, &path, &[], Some(json!({"role": "admin", "last_name": "U"}))).await;
        assert_eq!(
            (status, updated["data"]["role"].as_str(), updated["data"]["last_name"].as_str()),
            (200, Some("admin"), Some("U"))
        );
        assert_eq!(c.sandbox.user_by_username("s@x.com").unwrap().role, "admin");
    }

    #[tokio::test]
    async fn delete_answers_204_and_then_404() {
        let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
        let user = c.sandbox.insert_user(AgencyAnalyticsUser::new("S", "T", "s@x.com", "client"));
        let path = format!("v3/users/{}", user.id);
        assert_eq!(c.call(Method::DELETE, &path, &[], None).await, (204, Value::Null));
        assert_eq!(c.call(Method::DELETE, &path, &[], None).await.0, 404);
        assert_eq!(c.call(Method::GET, &path, &[], None).await.0, 404);
        assert_eq!(c.call(Method::PUT, &path, &[], Some(json!({"first_name": "X"}))).await.0, 404);
        assert_eq!(c.sandbox.write_calls(), 3);
    }

    #[tokio::test]
    async fn unknown_routes_are_404_and_wrong_methods_405() {
        let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
        assert_eq!(c.call(Method::GET, "v3/campaigns", &[], None).await.0, 404);
        assert_eq!(c.call(Method::PATCH, "v3/users", &[], Some(json!({}))).await.0, 405);
    }
}
