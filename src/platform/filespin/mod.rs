//! The FileSpin connector: users over the `/api/v1` JSON API, following `platforms/filespin.md`.
//!
//! FileSpin's dialect: the key in the `X-FileSpin-Api-Key` header; `"status":"OK"` or
//! `"status":"ERROR"` with a `message`; listings of at most 30 users, paged by `offset`;
//! users matched by email; access removed with `enabled: false` and restored with
//! `enabled: true`. User records carry the user's own secrets (`apikey`, `access_id`,
//! `uploadKey`): they are dropped as soon as a record is parsed.
//!
//! Roles are `role_id`s. The contract names ADMIN, MANAGER, CREATOR and USER and shows
//! `role_id 3` as CREATOR; rosterd guesses them in that order, 1 to 4 ([`ROLES`]), and config
//! replaces the guess with the tenant's real table (`role_ids`). Config may name a role
//! either way; the account's role is the role id, as a string.

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use compact_str::{CompactString, ToCompactString};
use secrecy::{ExposeSecret, SecretString};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use url::Url;

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::kind::{KindSpec, RoleValue};
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str = "the key must belong to a FileSpin user with the Admin role (a user administrator)";
/// FileSpin answers at most this many users per listing call; the page size is not ours to pick.
pub const PAGE_SIZE: u64 = 30;
/// The listing, under the base URL.
pub const USERS_PATH: &str = "/api/v1/users";
/// Create [inferred]: config may move it (`create_path`).
pub const DEFAULT_CREATE_PATH: &str = "/api/v1/user";
/// Update [inferred]: config may move it (`update_path`, with `{id}`).
pub const DEFAULT_UPDATE_PATH: &str = "/api/v1/user/{id}";
/// The built-in roles by `role_id`: a guess (see the module comment); `role_ids` replaces it.
pub const ROLES: [(u64, &str); 4] = [(1, "ADMIN"), (2, "MANAGER"), (3, "CREATOR"), (4, "USER")];
/// The secrets FileSpin puts in every user record: removed before anything else looks.
const SECRET_FIELDS: [&str; 3] = ["apikey", "access_id", "uploadKey"];
/// The fields rosterd compares and writes, by FileSpin's own names.
const FIELDS: [&str; 5] = ["first_name", "last_name", "email", "locale", "group_asset_access"];
/// The pseudo-field of a change list that carries `active` / `inactive`.
const STATUS_FIELD: &str = "status";

/// The kind's own config keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpinOptions {
    /// Where users are created; default [`DEFAULT_CREATE_PATH`].
    #[serde(default)]
    pub create_path: Option<String>,
    /// Where one user is updated, `{id}` standing for the user id; default [`DEFAULT_UPDATE_PATH`].
    #[serde(default)]
    pub update_path: Option<String>,
    /// The tenant's role table, name → `role_id`; default [`ROLES`] (a guess).
    #[serde(default)]
    pub role_ids: Option<BTreeMap<String, u64>>,
}

/// A role table: `role_id` and name, in id order.
pub type RoleTable = Vec<(u64, String)>;

/// The built-in table, [`ROLES`].
pub fn default_roles() -> RoleTable {
    ROLES.iter().map(|(id, name)| (*id, name.to_string())).collect()
}

/// The table config gives (`role_ids`), else the built-in one.
fn roles_from(options: &FileSpinOptions) -> RoleTable {
    let Some(map) = &options.role_ids else { return default_roles() };
    let mut table: RoleTable = map.iter().map(|(name, id)| (*id, name.trim().to_uppercase())).collect();
    table.sort();
    table
}

/// Problems with a configured role table: empty, a blank name, an id given twice.
fn check_roles(map: &BTreeMap<String, u64>) -> Option<String> {
    let mut ids: Vec<u64> = map.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    if map.is_empty() || map.keys().any(|n| n.trim().is_empty()) {
        return Some("must map each role name to its role_id, e.g. { ADMIN: 1, USER: 4 }".into());
    }
    (ids.len() != map.len()).then(|| "two role names have the same role_id".into())
}

/// How to reach one FileSpin user group. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct FileSpinSettings {
    /// The platform's name in config.
    pub name: String,
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    /// The key of a user with the Admin role; only that admin's user group is visible.
    pub api_key: SecretString,
    pub create_path: String,
    pub update_path: String,
    /// `role_id` ↔ name; default [`ROLES`].
    pub roles: RoleTable,
}

impl FileSpinSettings {
    /// Settings with the usual defaults: the contract's paths, 30 s time-out, 5 requests a second.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> FileSpinSettings {
        FileSpinSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            create_path: DEFAULT_CREATE_PATH.into(),
            update_path: DEFAULT_UPDATE_PATH.into(),
            roles: default_roles(),
        }
    }
}

/// A role id from a config value in `table`: a role name in any case, or an id (a number or its digits).
pub fn role_id_of(table: &RoleTable, raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let by_id = raw.parse::<u64>().ok().filter(|id| table.iter().any(|(i, _)| i == id));
    by_id.or_else(|| table.iter().find(|(_, n)| n.eq_ignore_ascii_case(raw)).map(|(i, _)| *i))
}

fn role_names(table: &RoleTable) -> String {
    table.iter().map(|(i, n)| format!("{n} ({i})")).collect::<Vec<_>>().join(", ")
}

/// A path option must be absolute and carry no query: it goes under the base URL.
fn check_path(path: &str, needs_id: bool) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(format!("{path:?} must be a path such as {DEFAULT_CREATE_PATH}"));
    }
    match (needs_id, path.matches("{id}").count()) {
        (true, 1) | (false, 0) => Ok(()),
        (true, _) => Err(format!("{path:?} must hold {{id}} once, where the user id goes")),
        (false, _) => Err(format!("{path:?} must not hold {{id}}")),
    }
}

/// `path` under `base`, keeping any path prefix the base has.
fn endpoint(base: &Url, path: &str) -> Option<Url> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut().ok()?.pop_if_empty().extend(path.split('/').filter(|s| !s.is_empty()));
    Some(url)
}

// ---- What FileSpin sends. Unknown fields are ignored; the secrets are removed from every
// record before it is parsed (see `scrub`), so no error message can quote them either.

#[derive(Debug, Deserialize)]
struct UsersPage {
    total_users: u64,
    count: u64,
    /// Parsed one by one, so that an error names its row.
    users: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct UserAnswer {
    user: Value,
}

/// `id` and `role_id` come as numbers (the contract) or as strings (the vendor's sample).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

fn id_field<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(t) => t.trim().parse().map_err(|_| D::Error::custom(format!("{t:?} is not a number"))),
    }
}

fn optional_id_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id_field")] u64);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(n)| n))
}

#[derive(Debug, Deserialize)]
struct WireUser {
    #[serde(deserialize_with = "id_field")]
    id: u64,
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    enabled: bool,
    #[serde(default, deserialize_with = "optional_id_field")]
    role_id: Option<u64>,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    group_asset_access: Option<bool>,
    #[serde(default)]
    invite_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    message: Option<String>,
}

/// Drop the user's own secrets from a record, in place.
fn scrub(user: &mut Value) {
    if let Some(fields) = user.as_object_mut() {
        for secret in SECRET_FIELDS {
            fields.remove(secret);
        }
    }
}

/// One user record as an [`Account`]; its secrets were never looked at.
fn parse_user(mut value: Value, roles: &RoleTable) -> Result<Account, String> {
    scrub(&mut value);
    let user = WireUser::deserialize(&value).map_err(|e| e.to_string())?;
    if user.email.trim().is_empty() {
        return Err(format!("user {} has an empty email", user.id));
    }
    let by_name = || user.role_name.as_deref().and_then(|name| role_id_of(roles, name));
    let role = user.role_id.or_else(by_name).map(|id| id.to_string());
    let mut fields = BTreeMap::from([
        ("first_name".to_string(), user.first_name.unwrap_or_default()),
        ("last_name".to_string(), user.last_name.unwrap_or_default()),
        ("email".to_string(), user.email.clone()),
        ("locale".to_string(), user.locale.unwrap_or_default()),
    ]);
    if let Some(access) = user.group_asset_access {
        fields.insert("group_asset_access".into(), access.to_string());
    }
    if let Some(invite) = user.invite_status.filter(|s| !s.is_empty()) {
        fields.insert(crate::model::INVITE_STATUS_FIELD.into(), invite);
    }
    let status = if user.enabled { AccountStatus::Active } else { AccountStatus::Inactive };
    Ok(Account {
        id: user.id.to_compact_string(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status,
    })
}

fn page_label(offset: u64) -> String {
    format!("users page at offset {offset}")
}

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    ids: HashSet<CompactString>,
    total: Option<u64>,
}

impl Listing {
    /// Take one page; the offset to ask for next, or `None` when the listing is complete.
    fn add_page(&mut self, offset: u64, page: UsersPage, roles: &RoleTable) -> Result<Option<u64>, String> {
        let label = page_label(offset);
        if let Some(total) = self.total.filter(|t| *t != page.total_users) {
            return Err(format!("{label}: total_users changed from {total} to {} while paging", page.total_users));
        }
        self.total = Some(page.total_users);
        let rows = page.users.len() as u64;
        if rows != page.count {
            return Err(format!("{label}: count says {} but {rows} users came", page.count));
        }
        if rows > PAGE_SIZE {
            return Err(format!("{label}: {rows} users, more than FileSpin's {PAGE_SIZE}"));
        }
        if rows == 0 && offset < page.total_users {
            // Paging on would never end, and stopping would read as a short list.
            return Err(format!("{label}: no users, but total_users is {}", page.total_users));
        }
        for (row, value) in page.users.into_iter().enumerate() {
            let account = parse_user(value, roles).map_err(|e| format!("{label}, row {}: {e}", row + 1))?;
            if !self.ids.insert(account.id.clone()) {
                return Err(format!("{label}: user {} listed twice", account.id));
            }
            self.accounts.push(account);
        }
        let next = offset + rows;
        Ok((next < page.total_users).then_some(next))
    }

    /// The accounts, if their number is the one FileSpin announced.
    fn finish(self) -> Result<Vec<Account>, String> {
        let total = self.total.unwrap_or(0);
        match self.accounts.len() as u64 == total {
            true => Ok(self.accounts),
            false => Err(format!("the listing holds {} users but total_users is {total}", self.accounts.len())),
        }
    }
}

/// The FileSpin connector for one user group.
#[derive(Debug)]
pub struct FileSpinConnector {
    settings: FileSpinSettings,
    http: PlatformHttp,
    users: Url,
    create: Url,
}

impl FileSpinConnector {
    pub fn new(settings: FileSpinSettings) -> Result<FileSpinConnector, PlatformError> {
        let refuse = |message: String| Err(PlatformError::Unsupported { platform: settings.name.clone(), message });
        if !matches!(settings.connection.base_url.scheme(), "http" | "https") {
            return refuse("base_url must be an http or https URL".into());
        }
        if let Err(message) = check_path(&settings.create_path, false) {
            return refuse(format!("create_path {message}"));
        }
        if let Err(message) = check_path(&settings.update_path, true) {
            return refuse(format!("update_path {message}"));
        }
        if settings.api_key.expose_secret().trim().is_empty() {
            return refuse("the api key is empty".into());
        }
        let (Some(users), Some(create)) = (
            endpoint(&settings.connection.base_url, USERS_PATH),
            endpoint(&settings.connection.base_url, &settings.create_path),
        ) else {
            return refuse("base_url cannot have paths under it".into());
        };
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.api_key.clone());
        Ok(FileSpinConnector { settings, http, users, create })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> FileSpinConnector {
        self.http.retry = policy;
        self
    }

    fn update_url(&self, id: u64) -> Result<Url, PlatformError> {
        let path = self.settings.update_path.replace("{id}", &id.to_string());
        endpoint(&self.settings.connection.base_url, &path)
            .ok_or_else(|| self.http.unsupported("base_url cannot have paths".into()))
    }

    // ---- Errors. Every message passes through `redact`: FileSpin could echo the key back.

    /// A body worth quoting: FileSpin's JSON may hold user records and their secrets, so
    /// only a body that is not JSON at all (a proxy's page) is ever quoted.
    fn quotable(&self, body: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        let text = text.trim_start();
        (!text.is_empty() && !text.starts_with(['{', '['])).then(|| self.http.snippet(body))
    }

    /// The status decides first: 401 is the key, 408/429/5xx are transient, other 4xx refuse
    /// that one request. A success must be JSON saying `"status":"OK"`.
    fn interpret(&self, operation: &str, answer: Answer) -> Result<Value, PlatformError> {
        let parsed: Result<Value, _> = serde_json::from_slice(&answer.body);
        let envelope = parsed.as_ref().ok().and_then(|v| Envelope::deserialize(v).ok());
        let message = envelope.as_ref().and_then(|e| e.message.as_deref()).map(|m| self.http.redact(m));
        let (platform, op, status) = (self.settings.name.clone(), operation.to_string(), answer.status.as_u16());
        let message_or = |fallback: String| message.clone().or_else(|| self.quotable(&answer.body)).unwrap_or(fallback);
        // A listing refused 403 means the key lacks the Admin role: nothing can proceed.
        if status == 401 || (status == 403 && operation == "list") {
            return Err(PlatformError::Auth { platform, operation: op, message: message_or(format!("HTTP {status}")) });
        }
        if !answer.status.is_success() {
            let message = message_or(format!("HTTP {status}"));
            return Err(match status == 408 || status == 429 || !answer.status.is_client_error() {
                true => PlatformError::Status { platform, operation: op, status, message },
                false => PlatformError::Rejected { platform, operation: op, message },
            });
        }
        let value = parsed.map_err(|e| {
            let detail = self.quotable(&answer.body).unwrap_or_else(|| e.to_string());
            self.http.malformed(operation, format!("not JSON: {detail}"))
        })?;
        match envelope.map(|e| e.status) {
            Some(s) if s == "OK" => Ok(value),
            Some(s) if s == "ERROR" => {
                Err(PlatformError::Rejected { platform, operation: op, message: message_or("status ERROR".into()) })
            }
            other => Err(self.http.malformed(operation, format!("not a FileSpin answer (status {other:?})"))),
        }
    }

    // ---- Requests. The key travels only in its header, built here.

    async fn send(
        &self,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Map<String, Value>>,
    ) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || {
            let request =
                self.http.client.request(method.clone(), url.clone()).header("X-FileSpin-Api-Key", key).query(query);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    /// A write whose answer carries the user: that user, parsed (and scrubbed).
    async fn send_user(
        &self,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        body: &Map<String, Value>,
    ) -> Result<Account, PlatformError> {
        let value = self.send(operation, method, url, &[], Some(body)).await?;
        let answer = UserAnswer::deserialize(value).map_err(|e| self.http.malformed(operation, e.to_string()))?;
        parse_user(answer.user, &self.settings.roles).map_err(|e| self.http.malformed(operation, format!("user: {e}")))
    }

    async fn fetch_page(&self, offset: u64) -> Result<UsersPage, PlatformError> {
        let label = page_label(offset);
        let query = [("offset", offset.to_string())];
        let value = match self.send("list", reqwest::Method::GET, &self.users, &query, None).await {
            Ok(value) => value,
            // A listing that was refused or garbled is unreadable, never "no users".
            Err(PlatformError::Rejected { message, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {message}")))
            }
            Err(PlatformError::Malformed { detail, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {detail}")))
            }
            Err(other) => return Err(other.with_credentials_hint(CREDENTIALS_CHECK)),
        };
        UsersPage::deserialize(value).map_err(|e| self.http.malformed("list", format!("{label}: {e}")))
    }

    // ---- Writes.

    fn role_id(&self, role: Option<&str>, label: &str) -> Result<u64, PlatformError> {
        let Some(role) = role.map(str::trim).filter(|r| !r.is_empty()) else {
            return Err(self.http.unsupported(format!(
                "FileSpin needs a role for every user, and none was mapped for {label}; add role rules"
            )));
        };
        let roles = &self.settings.roles;
        role_id_of(roles, role)
            .ok_or_else(|| self.http.unsupported(format!("role {role:?} is not one of {}", role_names(roles))))
    }

    /// One field as FileSpin's JSON: names as they are, `role` as `role_id`,
    /// `group_asset_access` as a boolean. Anything else cannot be written.
    fn field_value(&self, field: &str, value: &str, label: &str) -> Result<(&'static str, Value), PlatformError> {
        let cannot = |what: String| self.http.unsupported(format!("cannot {what} for {label}"));
        if field == ROLE_FIELD {
            return Ok(("role_id", json!(self.role_id(Some(value), label)?)));
        }
        let Some(name) = FIELDS.iter().find(|f| **f == field) else {
            return Err(cannot(format!("change {field:?}: FileSpin users have no such field")));
        };
        if *name != "group_asset_access" {
            return Ok((name, json!(value)));
        }
        match value {
            "true" => Ok((name, json!(true))),
            "false" => Ok((name, json!(false))),
            other => Err(cannot(format!("set group_asset_access to {other:?} (it is \"true\" or \"false\")"))),
        }
    }

    /// The body of an update: only the changed fields, then `enabled` when given.
    fn change_body(
        &self,
        account: &Account,
        changes: &[FieldChange],
        enabled: Option<bool>,
    ) -> Result<Map<String, Value>, PlatformError> {
        let label = format!("{} (user {})", account.key, account.id);
        let mut body = Map::new();
        for change in changes.iter().filter(|c| c.field != STATUS_FIELD) {
            let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let after =
                after.ok_or_else(|| self.http.unsupported(format!("cannot clear {} of {label}", change.field)))?;
            let (name, value) = self.field_value(&change.field, after, &label)?;
            body.insert(name.into(), value);
        }
        if let Some(enabled) = enabled {
            body.insert("enabled".into(), json!(enabled));
        }
        Ok(body)
    }

    /// One `PUT`; the answer must be about this user, and agree on `enabled` when it was sent.
    async fn write_update(
        &self,
        operation: &str,
        account: &Account,
        changes: &[FieldChange],
        enabled: Option<bool>,
    ) -> Result<(), PlatformError> {
        let id: u64 = account
            .id
            .parse()
            .map_err(|_| self.http.unsupported(format!("account id {:?} is not a FileSpin user id", account.id)))?;
        let body = self.change_body(account, changes, enabled)?;
        let answered = self.send_user(operation, reqwest::Method::PUT, &self.update_url(id)?, &body).await?;
        if answered.id != account.id {
            return Err(self.http.malformed(operation, format!("sent user {id}, the answer is about {}", answered.id)));
        }
        let wanted = enabled.map(|e| if e { AccountStatus::Active } else { AccountStatus::Inactive });
        match wanted.filter(|w| *w != answered.status) {
            Some(w) => Err(self.http.malformed(operation, format!("user {id}: sent {w:?}, the answer says otherwise"))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Connector for FileSpinConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn traits(&self) -> Traits {
        Traits::new("email")
    }

    /// Nothing to resolve: the role ids are fixed.
    async fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let mut listing = Listing::default();
        let mut next = Some(0);
        let mut pages = 0;
        while let Some(offset) = next {
            let page = self.fetch_page(offset).await?;
            pages += 1;
            next = listing
                .add_page(offset, page, &self.settings.roles)
                .map_err(|detail| self.http.malformed("list", detail))?;
        }
        let accounts = listing.finish().map_err(|detail| self.http.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), pages, "listed users");
        Ok(accounts)
    }

    /// FileSpin mails the invitation; the user stays `REQUESTED` until they activate.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let mut body = Map::new();
        for field in FIELDS {
            let value = desired.fields.get(field).map(|v| v.trim()).filter(|v| !v.is_empty());
            // The match key is the email, so it stands in when the mapping left it out.
            let value = value.or((field == "email").then_some(desired.key.as_str()).filter(|k| !k.is_empty()));
            match (value, field) {
                (Some(value), _) => {
                    let (name, value) = self.field_value(field, value, &desired.label)?;
                    body.insert(name.into(), value);
                }
                (None, "locale" | "group_asset_access") => {}
                (None, _) => {
                    let message = format!("{} has no {field}, which FileSpin requires", desired.label);
                    return Err(self.http.unsupported(message));
                }
            }
        }
        body.insert("role_id".into(), json!(self.role_id(desired.role.as_deref(), &desired.label)?));
        self.send_user("create", reqwest::Method::POST, &self.create, &body).await
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write_update("update", account, changes, None).await
    }

    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        self.write_update("deactivate", account, &[], Some(false)).await
    }

    /// One `PUT`: `enabled: true` plus the changes.
    async fn reactivate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        self.write_update("reactivate", account, changes, Some(true)).await
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(Some(self.settings.roles.iter().map(|(id, _)| id.to_string()).collect()))
    }
}

/// What config needs to know about FileSpin.
pub const SPEC: KindSpec = KindSpec {
    kind: "filespin",
    vendor: "FileSpin",
    default_base_url: Some("https://app.filespin.io"),
    default_fields: &[("first_name", "{name.givenName}"), ("last_name", "{name.familyName}"), ("email", "{email}")],
    fields_allowed: &FIELDS,
    default_match_key: "{email}",
    option_keys: &["create_path", "update_path", "role_ids"],
    check_options,
    role: spec_role,
    extra_field: None,
    role_with_options: Some(spec_role_with_options),
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

/// A role rule's role with the built-in table: a role name or id, kept as the role id.
fn spec_role(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    spec_role_in(value, extra, &default_roles())
}

/// A role rule's role with the platform's own table (`role_ids`, when its options give one).
pub fn spec_role_with_options(
    value: &serde_yaml::Value,
    extra: &serde_yaml::Mapping,
    options: &serde_yaml::Mapping,
) -> Result<RoleValue, String> {
    // Options that do not parse are reported on their own key; the built-in table stands in.
    let table = super::kind::options(options).map(|o| roles_from(&o)).unwrap_or_else(|_| default_roles());
    spec_role_in(value, extra, &table)
}

fn spec_role_in(
    value: &serde_yaml::Value,
    extra: &serde_yaml::Mapping,
    table: &RoleTable,
) -> Result<RoleValue, String> {
    let text = match value {
        serde_yaml::Value::Number(n) => serde_yaml::Value::String(n.to_string()),
        other => other.clone(),
    };
    let mut role = super::kind::string_role(&text, extra)?;
    let id = role_id_of(table, &role.role).ok_or_else(|| {
        format!("{:?} is not a FileSpin role (known: {}; set role_ids for another table)", role.role, role_names(table))
    })?;
    role.role = id.to_string();
    Ok(role)
}

fn check_options(extra: &serde_yaml::Mapping) -> Vec<(String, String)> {
    let options: FileSpinOptions = match super::kind::options(extra) {
        Ok(options) => options,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    if let Some(Err(message)) = options.create_path.as_deref().map(|p| check_path(p, false)) {
        problems.push(("create_path".to_string(), message));
    }
    if let Some(message) = options.role_ids.as_ref().and_then(check_roles) {
        problems.push(("role_ids".to_string(), message));
    }
    if let Some(Err(message)) = options.update_path.as_deref().map(|p| check_path(p, true)) {
        problems.push(("update_path".to_string(), message));
    }
    problems
}

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: FileSpinOptions = p.options()?;
    if p.page_size.is_some() {
        tracing::warn!(platform = %p.name, "page_size is ignored: FileSpin always answers 30 users a page");
    }
    let mut settings = FileSpinSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    settings.roles = roles_from(&options);
    settings.create_path = options.create_path.unwrap_or_else(|| DEFAULT_CREATE_PATH.into());
    settings.update_path = options.update_path.unwrap_or_else(|| DEFAULT_UPDATE_PATH.into());
    Ok(Box::new(FileSpinConnector::new(settings)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::filespin::sandbox::{
        slow_down, FileSpinSandbox, FileSpinSandboxOptions as Options, FileSpinUser,
    };
    use crate::sandbox::faults::{Fault, FaultRule, LostAs};
    use std::time::Duration;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const KEY: &str = "fs-LEAKCHECK-5a0c9d71e3";

    fn settings_for(sandbox: &FileSpinSandbox, key: &str) -> FileSpinSettings {
        let mut settings = FileSpinSettings::new("filespin", sandbox.base_url(), SecretString::from(key.to_string()));
        settings.connection.timeout = Duration::from_secs(5);
        settings.connection.per_second = 0.0;
        settings
    }

    async fn start(options: Options) -> (FileSpinSandbox, FileSpinConnector) {
        let sandbox = FileSpinSandbox::start(options.with_api_key(KEY)).await.unwrap();
        let connector = FileSpinConnector::new(settings_for(&sandbox, KEY)).unwrap().with_retry(RetryPolicy::quick());
        (sandbox, connector)
    }

    /// An admin, then `n - 1` creators `p1..`.
    fn people(n: usize) -> Options {
        let admin = FileSpinUser::new("Api", "Owner", "owner@assets.example", 1);
        (1..n).fold(Options::default().with_user(admin), |options, i| {
            options.with_user(FileSpinUser::new("Given", &format!("Family{i}"), &format!("p{i}@assets.example"), 3))
        })
    }

    fn desired(email: &str, role: &str) -> DesiredAccount {
        DesiredAccount {
            person_id: email.into(),
            label: email.into(),
            key: normalize_key(email),
            fields: crate::model::Fields::from([
                ("first_name".to_string(), "Ana".to_string()),
                ("last_name".to_string(), "Lima".to_string()),
                ("email".to_string(), email.to_string()),
                ("locale".to_string(), "pt_BR".to_string()),
            ]),
            role: Some(role.into()),
        }
    }

    fn change(field: &str, after: &str) -> FieldChange {
        FieldChange { field: field.into(), before: None, after: Some(after.into()) }
    }

    async fn account(connector: &FileSpinConnector, email: &str) -> Account {
        connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(email)).unwrap()
    }

    fn malformed_detail(result: Result<Vec<Account>, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn page_body(users: Value, total: u64, count: u64) -> Fault {
        let body = json!({"status": "OK", "total_users": total, "count": count, "users": users});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    fn rejected_message<T: std::fmt::Debug>(result: Result<T, PlatformError>) -> String {
        match result {
            Err(PlatformError::Rejected { message, .. }) => message,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_listing_of_75_users_takes_exactly_3_calls_of_30() {
        let (sandbox, fs) = start(people(75)).await;
        let accounts = fs.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3);
        assert_eq!(accounts.len(), 75);
        let ids: HashSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids.len(), 75);
        let p7 = accounts.iter().find(|a| a.key == "p7@assets.example").unwrap();
        assert_eq!((p7.role.as_deref(), p7.status), (Some("3"), AccountStatus::Active));
        assert_eq!((p7.fields["locale"].as_str(), p7.fields["group_asset_access"].as_str()), ("en_US", "true"));
    }

    #[tokio::test]
    async fn an_empty_group_lists_no_users() {
        let (sandbox, fs) = start(Options::default()).await;
        assert!(fs.list().await.unwrap().is_empty());
        assert_eq!(sandbox.list_calls(), 1);
    }

    #[tokio::test]
    async fn the_users_secrets_are_returned_by_filespin_and_kept_nowhere() {
        let (sandbox, fs) = start(people(3)).await;
        let created = fs.create(&desired("ana@assets.example", "CREATOR")).await.unwrap();
        let secrets = sandbox.secrets();
        assert_eq!(secrets.len(), 12);
        let listed = fs.list().await.unwrap();
        let mut printed = format!("{listed:?}{created:?}{fs:?}{}", serde_json::to_string(&listed).unwrap());
        // A record FileSpin garbles must not carry its secrets into the error either.
        let bad = json!([{"id": 7, "email": 42, "enabled": true, "apikey": "ak-SECRET", "access_id": "acc-SECRET",
                          "uploadKey": "up-SECRET"}]);
        sandbox.faults().script(FaultRule::on("list", page_body(bad, 1, 1)));
        printed.push_str(&fs.list().await.unwrap_err().to_string());
        let cut = format!(r#"{{"status":"OK","total_users":1,"count":1,"users":[{{"id":7,"apikey":"{}"#, secrets[0]);
        sandbox.faults().script(FaultRule::on("list", Fault::Status { code: 200, retry_after: None, body: cut }));
        let truncated = fs.list().await.unwrap_err();
        assert!(truncated.to_string().contains("not JSON"), "{truncated}");
        printed.push_str(&format!("{truncated}{truncated:?}"));
        for secret in secrets.iter().map(String::as_str).chain(["ak-SECRET", "acc-SECRET", "up-SECRET"]) {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }

    #[tokio::test]
    async fn create_sends_the_contract_fields_and_the_invitation_is_requested() {
        let (sandbox, fs) = start(people(1)).await;
        let created = fs.create(&desired("Ana@Assets.example", "creator")).await.unwrap();
        assert_eq!((created.key.as_str(), created.role.as_deref()), ("ana@assets.example", Some("3")));
        let mut fields = sandbox.last_write_fields().unwrap();
        fields.sort();
        assert_eq!(fields, ["email", "first_name", "last_name", "locale", "role_id"]);
        let stored = sandbox.user_by_email("ana@assets.example").unwrap();
        assert_eq!((stored.invite_status.as_str(), stored.role_id, stored.locale.as_str()), ("REQUESTED", 3, "pt_BR"));
        assert_eq!(account(&fs, "ana@assets.example").await, created);
    }

    #[tokio::test]
    async fn update_sends_only_the_changed_fields() {
        let (sandbox, fs) = start(people(3)).await;
        let p1 = account(&fs, "p1@assets.example").await;
        fs.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name"]);
        fs.update(&p1, &[change(ROLE_FIELD, "4"), change("group_asset_access", "false")]).await.unwrap();
        assert_eq!(
            sandbox.writes().last().unwrap(),
            &json!({"role_id": 4, "group_asset_access": false}).as_object().cloned().unwrap()
        );
        let stored = sandbox.user_by_email("p1@assets.example").unwrap();
        assert_eq!((stored.last_name.as_str(), stored.role_id, stored.group_asset_access), ("Okafor", 4, false));
        let writes = sandbox.write_calls();
        fs.update(&p1, &[]).await.unwrap();
        assert!(matches!(
            fs.update(&p1, &[change("group_asset_access", "yes")]).await,
            Err(PlatformError::Unsupported { .. })
        ));
        assert_eq!(sandbox.write_calls(), writes, "nothing to change or nothing valid, nothing sent");
    }

    #[tokio::test]
    async fn deactivate_then_reactivate_with_changes_in_one_write() {
        let (sandbox, fs) = start(people(2)).await;
        let p1 = account(&fs, "p1@assets.example").await;
        fs.deactivate(&p1).await.unwrap();
        assert_eq!(sandbox.writes().last().unwrap(), &json!({"enabled": false}).as_object().cloned().unwrap());
        assert_eq!(account(&fs, "p1@assets.example").await.status, AccountStatus::Inactive);
        let writes = sandbox.write_calls();
        fs.reactivate(&p1, &[change(ROLE_FIELD, "MANAGER"), change("first_name", "Bia")]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes + 1);
        let mut fields = sandbox.last_write_fields().unwrap();
        fields.sort();
        assert_eq!(fields, ["enabled", "first_name", "role_id"]);
        let back = account(&fs, "p1@assets.example").await;
        assert_eq!(
            (back.status, back.role.as_deref(), back.fields["first_name"].as_str()),
            (AccountStatus::Active, Some("2"), "Bia")
        );
    }

    #[tokio::test]
    async fn contract_errors_surface_on_their_record() {
        let (sandbox, fs) = start(people(2)).await;
        let mut outcomes = Vec::new();
        for email in ["b@assets.example", "P1@Assets.example", "c@assets.example"] {
            outcomes.push(fs.create(&desired(email, "USER")).await);
        }
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
        assert_eq!(rejected_message(outcomes.remove(1)), "A user with email P1@Assets.example already exists");
        let p1 = account(&fs, "p1@assets.example").await;
        assert_eq!(
            rejected_message(fs.update(&p1, &[change("email", "not an email")]).await),
            "not an email is not a valid email address"
        );
        let gone = Account { id: "999".into(), ..p1.clone() };
        assert_eq!(rejected_message(fs.deactivate(&gone).await), "User 999 not found");
        sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
        match fs.update(&p1, &[change("last_name", "Z")]).await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
        assert_eq!(sandbox.users().len(), 4);
    }

    #[tokio::test]
    async fn a_wrong_key_or_a_non_admin_key_is_an_auth_error() {
        let (sandbox, _) = start(people(2)).await;
        let wrong = FileSpinConnector::new(settings_for(&sandbox, "not-the-key")).unwrap();
        match wrong.list().await {
            Err(PlatformError::Auth { message, .. }) => {
                assert_eq!(message, format!("Invalid API key; {CREDENTIALS_CHECK}"))
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        let creator_key = sandbox.user_by_email("p1@assets.example").unwrap().apikey;
        let creator = FileSpinConnector::new(settings_for(&sandbox, &creator_key)).unwrap();
        assert!(matches!(creator.list().await, Err(PlatformError::Auth { .. })));
    }

    #[tokio::test]
    async fn a_slow_down_429_is_retried_after_its_delay() {
        let (sandbox, fs) = start(people(31)).await;
        sandbox.faults().script(FaultRule::on("list", slow_down(1)).nth(2));
        let started = std::time::Instant::now();
        assert_eq!(fs.list().await.unwrap().len(), 31);
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        assert_eq!(sandbox.list_calls(), 3);
    }

    #[tokio::test]
    async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
        let (sandbox, fs) = start(people(65)).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        let detail = malformed_detail(fs.list().await);
        assert!(detail.starts_with("users page at offset 30: not JSON: <html>"), "{detail}");
        assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(3));
        assert_eq!(malformed_detail(fs.list().await), "users page at offset 60: count says 5 but 4 users came");
        let error = json!({"status": "ERROR", "message": "Report server busy"}).to_string();
        sandbox.faults().script(FaultRule::on("list", Fault::Status { code: 200, retry_after: None, body: error }));
        assert_eq!(malformed_detail(fs.list().await), "users page at offset 0: Report server busy");
    }

    #[tokio::test]
    async fn pages_that_do_not_add_up_are_malformed() {
        let (sandbox, fs) = start(people(40)).await;
        let one = |id: u64| json!({"id": id, "email": format!("u{id}@x.com"), "enabled": true, "role_id": "3"});
        sandbox.faults().script(FaultRule::on("list", page_body(json!([one(1)]), 41, 1)).nth(2));
        assert!(malformed_detail(fs.list().await).contains("total_users changed from 40 to 41"));
        sandbox.faults().script(FaultRule::on("list", page_body(json!([]), 40, 0)));
        assert!(malformed_detail(fs.list().await).contains("no users, but total_users is 40"));
        let too_many: Vec<Value> = (1..=31).map(one).collect();
        sandbox.faults().script(FaultRule::on("list", page_body(json!(too_many), 31, 31)));
        assert!(malformed_detail(fs.list().await).contains("more than FileSpin's 30"));
        sandbox.faults().script(FaultRule::on("list", page_body(json!([one(1), one(1)]), 2, 2)));
        assert!(malformed_detail(fs.list().await).contains("user 1 listed twice"));
        sandbox.faults().script(FaultRule::on("list", page_body(json!([one(1)]), 1, 1)));
        assert_eq!(fs.list().await.unwrap()[0].role.as_deref(), Some("3"), "a role_id as text is read");
    }

    #[tokio::test]
    async fn a_lost_answer_on_create_is_not_sent_again_and_leaves_one_account() {
        let (sandbox, fs) = start(people(1)).await;
        sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(LostAs::ServerError)));
        let outcome = fs.create(&desired("new@assets.example", "USER")).await;
        assert!(matches!(outcome, Err(PlatformError::Status { status: 500, .. })), "{outcome:?}");
        assert_eq!(sandbox.faults().count("create"), 1, "a create that may have been made is not re-sent");
        assert_eq!(sandbox.users().len(), 2);
    }

    #[tokio::test]
    async fn the_inferred_paths_are_configurable() {
        let (sandbox, _) = start(people(2)).await;
        let mut settings = settings_for(&sandbox, KEY);
        settings.create_path = "/api/v2/user".into();
        let fs = FileSpinConnector::new(settings).unwrap();
        let error = fs.create(&desired("z@assets.example", "USER")).await.unwrap_err();
        assert_eq!(error.to_string(), "filespin: create refused: Not found");
        let mut settings = settings_for(&sandbox, KEY);
        settings.update_path = "/api/v1/user".into();
        assert!(FileSpinConnector::new(settings).is_err(), "an update path without {{id}}");
    }

    /// A tenant whose ids differ from the built-in guess: `role_ids` decides what is sent and read.
    #[tokio::test]
    async fn the_role_table_is_configurable() {
        let sandbox = FileSpinSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
        let options: FileSpinOptions =
            serde_yaml::from_str("{ role_ids: { admin: 1, CREATOR: 2, MANAGER: 3, USER: 4 } }").unwrap();
        let mut settings = settings_for(&sandbox, KEY);
        settings.roles = roles_from(&options);
        let fs = FileSpinConnector::new(settings).unwrap();
        let created = fs.create(&desired("ana@assets.example", "creator")).await.unwrap();
        assert_eq!(created.role.as_deref(), Some("2"));
        assert_eq!(sandbox.user_by_email("ana@assets.example").unwrap().role_id, 2, "CREATOR is 2 in this table");
        assert_eq!(fs.known_roles().await.unwrap().unwrap(), ["1", "2", "3", "4"]);
        let extra = serde_yaml::Mapping::new();
        let with = |role: &str, yaml: &str| {
            let options: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
            crate::platform::kind::role_value(&SPEC, &role.into(), &extra, &options).map(|r| r.role)
        };
        assert_eq!(with("Editor", "{ role_ids: { EDITOR: 7, USER: 9 } }").unwrap(), "7");
        assert!(with("creator", "{ role_ids: { EDITOR: 7 } }").unwrap_err().contains("EDITOR (7)"));
        assert_eq!(with("creator", "{}").unwrap(), "3", "the built-in table without role_ids");
        let problems = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
        assert_eq!(
            problems("{ role_ids: { A: 1, B: 1 } }")[0],
            ("role_ids".into(), "two role names have the same role_id".into())
        );
        assert_eq!(problems("{ role_ids: {} }")[0].0, "role_ids");
    }

    #[test]
    fn the_spec_takes_role_names_or_ids_and_checks_options() {
        let role = |v: serde_yaml::Value| (SPEC.role)(&v, &serde_yaml::Mapping::new()).map(|r| r.role);
        assert_eq!(role("creator".into()).unwrap(), "3");
        assert_eq!(role(serde_yaml::Value::Number(1.into())).unwrap(), "1");
        assert_eq!(role("4".into()).unwrap(), "4");
        assert!(role("7".into()).unwrap_err().contains("ADMIN (1), MANAGER (2), CREATOR (3), USER (4)"));
        let options = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
        assert!(options("{ create_path: /api/v1/user, update_path: '/api/v1/user/{id}' }").is_empty());
        assert_eq!(options("{ update_path: /api/v1/user }")[0].0, "update_path");
        assert!(options("{ page_size: 30 }")[0].1.contains("unknown field"));
    }

    /// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
    #[tokio::test]
    async fn the_api_key_appears_in_no_error_and_no_debug_output() {
        let (sandbox, fs) = start(people(40)).await;
        let p1 = account(&fs, "p1@assets.example").await;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        errors.push(fs.list().await.unwrap_err());
        let echo = json!({"status": "ERROR", "message": format!("bad request from {KEY}")}).to_string();
        faults.script(FaultRule::on("update", Fault::Status { code: 400, retry_after: None, body: echo }));
        errors.push(fs.update(&p1, &[change("last_name", "X")]).await.unwrap_err());
        faults.script(FaultRule::on("update", Fault::status(503)).always());
        errors.push(fs.deactivate(&p1).await.unwrap_err());
        faults.clear();
        errors.push(fs.create(&desired("x@assets.example", "OWNER")).await.unwrap_err());
        let wrong = FileSpinConnector::new(settings_for(&sandbox, &format!("{KEY}-old"))).unwrap();
        errors.push(wrong.list().await.unwrap_err());
        let settings = settings_for(&sandbox, KEY);
        sandbox.shutdown().await;
        errors.push(fs.list().await.unwrap_err());
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for text in errors.iter().flat_map(|e| [e.to_string(), format!("{e:?}")]) {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{fs:?}"), format!("{fs:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }
}
