//! The CAKE connector: users, roles and account managers over CAKE's `/api/2` JSON API.
//!
//! CAKE's dialect, per `platforms/cake.md`: the key travels as `api_key` (query string on
//! GET, JSON body on POST), success is `"request_status": "Success"` whatever the HTTP
//! status, roles are numeric ids resolved from names once per run, and access is removed
//! with `user_status = "inactive"` (there is no delete).

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::NaiveDateTime;
use compact_str::{CompactString, ToCompactString};
use secrecy::{ExposeSecret, SecretString};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use url::Url;

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str = "CAKE refuses a wrong api_key, and one replaced by a key generated later in CAKE";
/// CAKE's largest `row_limit`.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// The pseudo-field of a change list that carries `active` / `inactive`.
pub const STATUS_FIELD: &str = "status";
/// The plain fields rosterd compares and writes, by CAKE's own names.
const NAME_FIELDS: [&str; 3] = ["first_name", "last_name", "email"];

/// How to reach one CAKE tenant. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct CakeSettings {
    /// The platform's name in config (`cake`, `cake-eu`, ...).
    pub name: String,
    /// The tenant, e.g. `https://acme.cakemarketing.com`; `/api/2/...` goes under it.
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// `row_limit` of each listing page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
}

impl CakeSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages of
    /// [`MAX_PAGE_SIZE`] (the fewest listing calls: each call counts against the budget).
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> CakeSettings {
        CakeSettings { name: name.into(), connection: connection.into(), api_key, page_size: MAX_PAGE_SIZE }
    }
}

/// An account manager, for the access report (read-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CakeAccountManager {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub status: AccountStatus,
}

/// The CAKE endpoints, resolved once from the base URL.
#[derive(Debug)]
struct Endpoints {
    users: Url,
    create: Url,
    update: Url,
    roles: Url,
    managers: Url,
}

impl Endpoints {
    fn new(base: &Url) -> Option<Endpoints> {
        let at = |file: &str| {
            let mut url = base.clone();
            url.set_query(None);
            url.set_fragment(None);
            // Push segments rather than `join`, so a base with a path prefix keeps it.
            url.path_segments_mut().ok()?.pop_if_empty().extend(["api", "2", file]);
            Some(url)
        };
        Some(Endpoints {
            users: at("users.json")?,
            create: at("user.json")?,
            update: at("update_user.json")?,
            roles: at("roles.json")?,
            managers: at("account_managers.json")?,
        })
    }
}

/// The tenant's roles: resolved once per run, since config names roles and CAKE wants ids.
#[derive(Debug)]
struct RoleMap {
    /// `(role_id, role_name)` in CAKE's order; a handful of entries, so scans are fine.
    roles: Vec<(u64, String)>,
}

impl RoleMap {
    fn name_of(&self, id: u64) -> Option<&str> {
        self.roles.iter().find(|(i, _)| *i == id).map(|(_, n)| n.as_str())
    }

    /// The id of a role name: an exact match first, else a unique case-insensitive one.
    fn id_of(&self, name: &str) -> Result<u64, String> {
        let wanted = name.trim();
        if let Some((id, _)) = self.roles.iter().find(|(_, n)| n == wanted) {
            return Ok(*id);
        }
        let folded: Vec<u64> =
            self.roles.iter().filter(|(_, n)| n.to_lowercase() == wanted.to_lowercase()).map(|(i, _)| *i).collect();
        match folded.as_slice() {
            [id] => Ok(*id),
            [] => Err(format!("role \"{wanted}\" is not a CAKE role; known roles: {}", self.names().join(", "))),
            _ => Err(format!("role \"{wanted}\" matches several CAKE roles that differ only in case")),
        }
    }

    fn names(&self) -> Vec<String> {
        self.roles.iter().map(|(_, n)| n.clone()).collect()
    }
}

// ---- What CAKE sends. Unknown fields are ignored (CAKE adds fields, and secrets in user
// records must never be kept); the fields rosterd relies on must be there and typed.

#[derive(Debug, Deserialize)]
struct Envelope {
    request_status: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UsersAnswer {
    response: UsersPage,
}

#[derive(Debug, Deserialize)]
struct UsersPage {
    /// Parsed one by one, so that an error names its row.
    users: Vec<Value>,
    total_rows: u64,
}

#[derive(Debug, Deserialize)]
struct WireUser {
    user_id: u64,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    email: String,
    #[serde(deserialize_with = "status_field")]
    user_status: AccountStatus,
    role_id: u64,
    #[serde(default)]
    role_name: Option<String>,
    /// Not compared; parsed so that a record in neither documented format is noticed.
    #[serde(default, deserialize_with = "created_field")]
    #[allow(dead_code)]
    created: Option<NaiveDateTime>,
}

/// An update's answer: "it may carry only some fields", but those it carries are typed.
#[derive(Debug, Deserialize)]
struct PartialUser {
    #[serde(default)]
    user_id: Option<u64>,
    #[serde(default, deserialize_with = "optional_status_field")]
    user_status: Option<AccountStatus>,
}

#[derive(Debug, Deserialize)]
struct CreateAnswer {
    user: Value,
}

#[derive(Debug, Deserialize)]
struct UpdateAnswer {
    #[serde(default)]
    user: Option<PartialUser>,
}

#[derive(Debug, Deserialize)]
struct RolesAnswer {
    roles: Vec<WireRole>,
}

#[derive(Debug, Deserialize)]
struct WireRole {
    role_id: u64,
    role_name: String,
}

#[derive(Debug, Deserialize)]
struct ManagersAnswer {
    account_managers: Vec<WireManager>,
}

#[derive(Debug, Deserialize)]
struct WireManager {
    account_manager_id: u64,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    email: String,
    #[serde(deserialize_with = "status_field")]
    status: AccountStatus,
}

fn parse_status(raw: &str) -> Option<AccountStatus> {
    match raw.trim().to_lowercase().as_str() {
        "active" => Some(AccountStatus::Active),
        "inactive" => Some(AccountStatus::Inactive),
        _ => None,
    }
}

fn status_field<'de, D: Deserializer<'de>>(d: D) -> Result<AccountStatus, D::Error> {
    let raw = String::deserialize(d)?;
    parse_status(&raw).ok_or_else(|| D::Error::custom(format!("status {raw:?} is neither active nor inactive")))
}

fn optional_status_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AccountStatus>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    raw.map(|raw| {
        parse_status(&raw).ok_or_else(|| D::Error::custom(format!("status {raw:?} is neither active nor inactive")))
    })
    .transpose()
}

/// `created` comes as `2023-06-15T09:22:00` or `2026-06-19 10:00:00`.
fn parse_created(raw: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw.trim(), format).ok())
}

fn created_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    raw.map(|raw| {
        parse_created(&raw).ok_or_else(|| D::Error::custom(format!("created {raw:?} is in neither CAKE format")))
    })
    .transpose()
}

/// One user record as an [`Account`]; a record without `user_id` or email is refused.
fn parse_user(value: &Value, roles: &RoleMap) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if user.email.trim().is_empty() {
        return Err(format!("user_id {} has an empty email", user.user_id));
    }
    let role =
        user.role_name.filter(|n| !n.trim().is_empty()).or_else(|| roles.name_of(user.role_id).map(str::to_string));
    let fields = BTreeMap::from([
        ("first_name".to_string(), user.first_name.unwrap_or_default()),
        ("last_name".to_string(), user.last_name.unwrap_or_default()),
        ("email".to_string(), user.email.clone()),
    ]);
    Ok(Account {
        id: user.user_id.to_compact_string(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status: user.user_status,
    })
}

fn page_label(start: u64) -> String {
    format!("users page starting at row {start}")
}

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    ids: HashSet<CompactString>,
    total: Option<u64>,
}

impl Listing {
    /// Take one page; the row to ask for next, or `None` when the listing is complete.
    fn add_page(&mut self, start: u64, limit: u64, page: UsersPage, roles: &RoleMap) -> Result<Option<u64>, String> {
        let label = page_label(start);
        if let Some(total) = self.total.filter(|t| *t != page.total_rows) {
            return Err(format!("{label}: total_rows changed from {total} to {} while paging", page.total_rows));
        }
        self.total = Some(page.total_rows);
        let rows = page.users.len() as u64;
        if rows > limit {
            return Err(format!("{label}: {rows} rows, more than the {limit} asked for"));
        }
        if rows == 0 {
            // Only an empty tenant may answer an empty first page.
            return match start > page.total_rows {
                true => Ok(None),
                false => Err(format!("{label}: no rows, but total_rows is {}", page.total_rows)),
            };
        }
        self.take_rows(start, &page.users, roles)?;
        let last = start + rows - 1;
        Ok((last < page.total_rows).then_some(last + 1))
    }

    /// Parse a page's rows, each id at most once across the whole listing.
    fn take_rows(&mut self, start: u64, users: &[Value], roles: &RoleMap) -> Result<(), String> {
        let label = page_label(start);
        for (offset, value) in users.iter().enumerate() {
            let account =
                parse_user(value, roles).map_err(|e| format!("{label}, row {}: {e}", start + offset as u64))?;
            if !self.ids.insert(account.id.clone()) {
                return Err(format!("{label}: user_id {} listed twice", account.id));
            }
            self.accounts.push(account);
        }
        Ok(())
    }

    /// The accounts, if their number is the one CAKE announced.
    fn finish(self) -> Result<Vec<Account>, String> {
        let total = self.total.unwrap_or(0);
        match self.accounts.len() as u64 == total {
            true => Ok(self.accounts),
            false => Err(format!("the listing holds {} users but total_rows is {total}", self.accounts.len())),
        }
    }
}

/// Whether a failure message says the key itself was refused.
fn says_bad_key(message: &str) -> bool {
    let m = message.to_lowercase().replace(['_', '-'], " ");
    let about_key = m.contains("api key") || m.contains("apikey");
    let refusal = ["invalid", "bad", "wrong", "incorrect", "expired", "revoked", "not valid", "unauthori", "missing"];
    about_key && refusal.iter().any(|w| m.contains(w))
}

fn status_word(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Active => "active",
        AccountStatus::Inactive => "inactive",
    }
}

/// The CAKE connector for one tenant.
#[derive(Debug)]
pub struct CakeConnector {
    settings: CakeSettings,
    http: PlatformHttp,
    endpoints: Endpoints,
    /// Filled by `prepare` once per run. A std lock: only held to copy the `Arc` out.
    roles: RwLock<Option<Arc<RoleMap>>>,
}

impl CakeConnector {
    pub fn new(settings: CakeSettings) -> Result<CakeConnector, PlatformError> {
        let refuse = |message: String| Err(PlatformError::Unsupported { platform: settings.name.clone(), message });
        if !matches!(settings.connection.base_url.scheme(), "http" | "https") {
            return refuse("base_url must be an http or https URL".into());
        }
        if settings.connection.base_url.query().is_some() {
            // The key belongs in api_key_file/env: a URL gets printed, a secret must not be.
            return refuse("base_url must not carry a query string".into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&settings.page_size) {
            return refuse(format!("page_size must be between 1 and {MAX_PAGE_SIZE}"));
        }
        if settings.api_key.expose_secret().trim().is_empty() {
            return refuse("the api key is empty".into());
        }
        let Some(endpoints) = Endpoints::new(&settings.connection.base_url) else {
            return refuse("base_url cannot have paths under it".into());
        };
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.api_key.clone());
        Ok(CakeConnector { settings, http, endpoints, roles: RwLock::new(None) })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> CakeConnector {
        self.http.retry = policy;
        self
    }

    /// Every account manager, for the access report.
    pub async fn account_managers(&self) -> Result<Vec<CakeAccountManager>, PlatformError> {
        let operation = "account managers";
        let value = self.get(operation, &self.endpoints.managers, &[]).await?;
        let answer = ManagersAnswer::deserialize(&value)
            .map_err(|e| self.http.malformed(operation, format!("account_managers.json: {e}")))?;
        let managers = answer.account_managers.into_iter().map(|m| CakeAccountManager {
            id: m.account_manager_id,
            first_name: m.first_name.unwrap_or_default(),
            last_name: m.last_name.unwrap_or_default(),
            email: m.email,
            status: m.status,
        });
        Ok(managers.collect())
    }

    // ---- Errors. Every message passes through `redact`: CAKE could echo the key back.

    /// The success body of an answer, or the error CAKE meant by it.
    fn interpret(&self, operation: &str, answer: Answer) -> Result<Value, PlatformError> {
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let envelope = parsed.as_ref().and_then(|v| Envelope::deserialize(v).ok());
        let failed = envelope.as_ref().filter(|e| e.request_status != "Success");
        let message = failed.and_then(|e| e.message.as_deref()).map(|m| self.http.redact(m));
        self.check_http(operation, &answer, message.as_deref())?;
        let (Some(value), Some(envelope)) = (parsed, envelope) else {
            let detail = format!("not a CAKE answer: {}", self.http.snippet(&answer.body));
            return Err(self.http.malformed(operation, detail));
        };
        if envelope.request_status != "Success" {
            let message =
                message.unwrap_or_else(|| format!("request_status {:?} without a message", envelope.request_status));
            return Err(PlatformError::Rejected {
                platform: self.settings.name.clone(),
                operation: operation.into(),
                message,
            });
        }
        Ok(value)
    }

    /// A refused key (401, or a failure body saying so) and HTTP errors, before the body
    /// is read as a CAKE answer. `message` is CAKE's failure message, when there is one.
    fn check_http(&self, operation: &str, answer: &Answer, message: Option<&str>) -> Result<(), PlatformError> {
        let (platform, operation, status) = (self.settings.name.clone(), operation.to_string(), answer.status.as_u16());
        // A 403 on a read is the key's rights: every listing needs them.
        let read = matches!(operation.as_str(), "list" | "roles" | "account managers");
        if status == 401 || (status == 403 && read) || message.is_some_and(says_bad_key) {
            let message = message.map_or_else(|| format!("HTTP {status}"), str::to_string);
            return Err(PlatformError::Auth { platform, operation, message });
        }
        if !answer.status.is_success() {
            let message = message.map_or_else(|| self.http.snippet(&answer.body), str::to_string);
            return Err(PlatformError::Status { platform, operation, status, message });
        }
        Ok(())
    }

    // ---- Requests. URLs and bodies hold the key: they are never formatted anywhere.

    async fn get(&self, operation: &str, url: &Url, query: &[(&str, String)]) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.get(url.clone()).query(&[("api_key", key)]).query(query);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    async fn post(&self, operation: &str, url: &Url, mut body: Map<String, Value>) -> Result<Value, PlatformError> {
        body.insert("api_key".into(), json!(self.settings.api_key.expose_secret()));
        let build = || self.http.client.post(url.clone()).json(&body);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    // ---- Roles.

    async fn fetch_roles(&self) -> Result<Arc<RoleMap>, PlatformError> {
        let value = self.get("roles", &self.endpoints.roles, &[]).await?;
        let answer =
            RolesAnswer::deserialize(&value).map_err(|e| self.http.malformed("roles", format!("roles.json: {e}")))?;
        let map = Arc::new(RoleMap { roles: answer.roles.into_iter().map(|r| (r.role_id, r.role_name)).collect() });
        *self.roles.write().unwrap_or_else(PoisonError::into_inner) = Some(map.clone());
        Ok(map)
    }

    /// The roles of this run, fetched if `prepare` has not run yet.
    async fn roles(&self) -> Result<Arc<RoleMap>, PlatformError> {
        let cached = self.roles.read().unwrap_or_else(PoisonError::into_inner).clone();
        match cached {
            Some(map) => Ok(map),
            None => self.fetch_roles().await,
        }
    }

    fn role_id(&self, roles: &RoleMap, name: Option<&str>, label: &str) -> Result<u64, PlatformError> {
        let Some(name) = name else {
            return Err(self
                .http
                .unsupported(format!("CAKE needs a role for every user, and none was mapped for {label}")));
        };
        roles.id_of(name).map_err(|message| self.http.unsupported(message))
    }

    // ---- Listing.

    async fn fetch_page(&self, start: u64) -> Result<UsersPage, PlatformError> {
        let query = [("start_at_row", start.to_string()), ("row_limit", self.settings.page_size.to_string())];
        let label = page_label(start);
        let value = match self.get("list", &self.endpoints.users, &query).await {
            Ok(value) => value,
            // A listing that CAKE refused is unreadable, never "no users".
            Err(PlatformError::Rejected { message, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {message}")))
            }
            Err(PlatformError::Malformed { detail, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {detail}")))
            }
            Err(other) => return Err(other.with_credentials_hint(CREDENTIALS_CHECK)),
        };
        let answer =
            UsersAnswer::deserialize(&value).map_err(|e| self.http.malformed("list", format!("{label}: {e}")))?;
        Ok(answer.response)
    }

    // ---- Writes.

    /// The body fields for a list of changes: only those, by CAKE's names.
    async fn change_body(
        &self,
        account: &Account,
        changes: &[FieldChange],
    ) -> Result<Map<String, Value>, PlatformError> {
        // Roles are only needed (and only fetched) when the role changes.
        let roles = match changes.iter().any(|c| c.field == ROLE_FIELD) {
            true => Some(self.roles().await?),
            false => None,
        };
        let mut body = Map::new();
        for change in changes {
            let (name, value) = self.change_field(account, change, roles.as_deref())?;
            body.insert(name.into(), value);
        }
        Ok(body)
    }

    /// One change as CAKE's parameter: names as they are, `role` as `role_id`, `status`
    /// as `user_status`. Anything else cannot be written.
    fn change_field(
        &self,
        account: &Account,
        change: &FieldChange,
        roles: Option<&RoleMap>,
    ) -> Result<(&'static str, Value), PlatformError> {
        let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let cannot =
            |what: String| self.http.unsupported(format!("cannot {what} of {} (user_id {})", account.key, account.id));
        let field = change.field.as_str();
        if let Some(name) = NAME_FIELDS.iter().find(|n| **n == field) {
            return after.map(|v| (*name, json!(v))).ok_or_else(|| cannot(format!("clear {field}")));
        }
        match (field, roles) {
            (ROLE_FIELD, Some(roles)) => Ok(("role_id", json!(self.role_id(roles, after, &account.key)?))),
            (STATUS_FIELD, _) => match after.and_then(parse_status) {
                Some(status) => Ok(("user_status", json!(status_word(status)))),
                None => Err(cannot(format!("set status {after:?}; CAKE knows active and inactive"))),
            },
            _ => Err(cannot(format!("change {field:?}: CAKE users have no such field"))),
        }
    }

    /// One `update_user.json` call: the changes, plus a status when given.
    async fn write_update(
        &self,
        operation: &str,
        account: &Account,
        changes: &[FieldChange],
        status: Option<AccountStatus>,
    ) -> Result<(), PlatformError> {
        let user_id: u64 = account
            .id
            .parse()
            .map_err(|_| self.http.unsupported(format!("account id {:?} is not a CAKE user_id", account.id)))?;
        let mut body = self.change_body(account, changes).await?;
        if let Some(status) = status {
            // After the changes, so that a reactivation always ends active.
            body.insert("user_status".into(), json!(status_word(status)));
        }
        let sent_status = body.get("user_status").and_then(Value::as_str).and_then(parse_status);
        body.insert("user_id".into(), json!(user_id));
        let value = self.post(operation, &self.endpoints.update, body).await?;
        let answer = UpdateAnswer::deserialize(&value)
            .map_err(|e| self.http.malformed(operation, format!("update_user.json: {e}")))?;
        self.check_update(operation, user_id, sent_status, answer.user)
    }

    /// A partial answer is fine, but what it does say must agree with what was sent.
    fn check_update(
        &self,
        operation: &str,
        user_id: u64,
        sent_status: Option<AccountStatus>,
        user: Option<PartialUser>,
    ) -> Result<(), PlatformError> {
        let Some(user) = user else { return Ok(()) };
        if let Some(answered) = user.user_id.filter(|id| *id != user_id) {
            return Err(self
                .http
                .malformed(operation, format!("sent user_id {user_id}, the answer is about {answered}")));
        }
        if let (Some(sent), Some(answered)) = (sent_status, user.user_status) {
            if sent != answered {
                let detail =
                    format!("user_id {user_id}: sent {}, the answer says {}", status_word(sent), status_word(answered));
                return Err(self.http.malformed(operation, detail));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for CakeConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn traits(&self) -> Traits {
        Traits::new("email")
    }

    /// Resolve role names to ids afresh for this run.
    async fn prepare(&self) -> Result<(), PlatformError> {
        self.fetch_roles().await.map(|_| ())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let roles = self.roles().await?;
        let limit = u64::from(self.settings.page_size);
        let mut listing = Listing::default();
        let mut next = Some(1);
        while let Some(start) = next {
            let page = self.fetch_page(start).await?;
            next =
                listing.add_page(start, limit, page, &roles).map_err(|detail| self.http.malformed("list", detail))?;
        }
        let accounts = listing.finish().map_err(|detail| self.http.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), "listed users");
        Ok(accounts)
    }

    /// No password is sent: CAKE then mails the person a set-password link.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let roles = self.roles().await?;
        let role_id = self.role_id(&roles, desired.role.as_deref(), &desired.label)?;
        let mut body = Map::new();
        for field in NAME_FIELDS {
            let value = desired.fields.get(field).map(|v| v.trim()).filter(|v| !v.is_empty());
            // The match key is the email, so it stands in when the mapping left the field out.
            let value = value.or((field == "email").then_some(desired.key.as_str()).filter(|k| !k.is_empty()));
            let value = value.ok_or_else(|| {
                self.http.unsupported(format!("{} has no {field}, which CAKE requires", desired.label))
            })?;
            body.insert(field.into(), json!(value));
        }
        body.insert("role_id".into(), json!(role_id));
        body.insert("user_status".into(), json!("active"));
        let value = self.post("create", &self.endpoints.create, body).await?;
        let answer =
            CreateAnswer::deserialize(&value).map_err(|e| self.http.malformed("create", format!("user.json: {e}")))?;
        parse_user(&answer.user, &roles).map_err(|e| self.http.malformed("create", format!("user.json: {e}")))
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write_update("update", account, changes, None).await
    }

    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        self.write_update("deactivate", account, &[], Some(AccountStatus::Inactive)).await
    }

    /// One call: `user_status: active` plus the changes.
    async fn reactivate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        self.write_update("reactivate", account, changes, Some(AccountStatus::Active)).await
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(Some(self.roles().await?.names()))
    }

    async fn designations(&self) -> Result<Vec<super::Designation>, PlatformError> {
        let managers = self.account_managers().await?;
        Ok(managers
            .into_iter()
            .map(|m| super::Designation {
                what: "account manager".into(),
                id: m.id.to_string(),
                name: format!("{} {}", m.first_name, m.last_name),
                email: m.email,
                status: m.status,
            })
            .collect())
    }
}

/// What config needs to know about CAKE.
pub const SPEC: super::kind::KindSpec = super::kind::KindSpec {
    kind: "cake",
    vendor: "CAKE",
    default_base_url: None,
    default_fields: &[("first_name", "{name.givenName}"), ("last_name", "{name.familyName}"), ("email", "{email}")],
    fields_allowed: &NAME_FIELDS,
    default_match_key: "{email}",
    option_keys: &[],
    check_options: super::kind::no_options,
    role: super::kind::string_role,
    extra_field: None,
    role_with_options: None,
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let mut settings = CakeSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    Ok(Box::new(CakeConnector::new(settings)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions, CakeUser};
    use crate::sandbox::faults::{Fault, FaultRule, LostAs};
    use std::time::Duration;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const KEY: &str = "ck-LEAKCHECK-7f3a9e21b04d";

    fn settings_for(sandbox: &CakeSandbox, key: &str, page_size: u32) -> CakeSettings {
        let mut settings = CakeSettings::new("cake", sandbox.base_url(), SecretString::from(key.to_string()));
        settings.connection.timeout = Duration::from_secs(5);
        settings.connection.per_second = 0.0;
        settings.page_size = page_size;
        settings
    }

    async fn start(options: CakeSandboxOptions, page_size: u32) -> (CakeSandbox, CakeConnector) {
        let sandbox = CakeSandbox::start(options.with_api_key(KEY)).await.unwrap();
        let connector =
            CakeConnector::new(settings_for(&sandbox, KEY, page_size)).unwrap().with_retry(RetryPolicy::quick());
        (sandbox, connector)
    }

    fn people(n: usize) -> CakeSandboxOptions {
        let admin = CakeUser::new("Api", "Owner", "api.owner@yournetwork.com", 1);
        (0..n).fold(CakeSandboxOptions::default().with_user(admin), |options, i| {
            options.with_user(CakeUser::new("Given", &format!("Family{i}"), &format!("p{i}@yournetwork.com"), 2))
        })
    }

    fn desired(email: &str, role: &str) -> DesiredAccount {
        DesiredAccount {
            person_id: email.into(),
            label: email.into(),
            key: normalize_key(email),
            fields: crate::model::Fields::from([
                ("first_name".to_string(), "Alex".to_string()),
                ("last_name".to_string(), "Chen".to_string()),
                ("email".to_string(), email.to_string()),
            ]),
            role: Some(role.into()),
        }
    }

    fn change(field: &str, after: &str) -> FieldChange {
        FieldChange { field: field.into(), before: None, after: Some(after.into()) }
    }

    async fn account(connector: &CakeConnector, email: &str) -> Account {
        connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(email)).unwrap()
    }

    fn page_body(users: Value, total_rows: u64) -> Fault {
        let body = json!({"request_status": "Success", "response": {"users": users, "total_rows": total_rows}});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    fn failure_body(message: &str) -> Fault {
        let body = json!({"request_status": "Failure", "message": message});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    fn malformed_detail(result: Result<Vec<Account>, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn listing_across_pages_returns_every_account_once() {
        let (sandbox, cake) = start(people(7), 3).await;
        cake.prepare().await.unwrap();
        let accounts = cake.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3, "8 users in pages of 3");
        let mut ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        ids.sort();
        let mut expected: Vec<String> = sandbox.users().iter().map(|u| u.user_id.to_string()).collect();
        expected.sort();
        assert_eq!(ids, expected);
        for query in sandbox.list_queries() {
            assert!(query.contains_key("start_at_row") && query.get("row_limit").map(String::as_str) == Some("3"));
        }
        let p3 = accounts.iter().find(|a| a.key == "p3@yournetwork.com").unwrap();
        assert_eq!(
            (p3.role.as_deref(), p3.status, p3.fields["last_name"].as_str()),
            (Some("Media Buyer"), AccountStatus::Active, "Family3")
        );
    }

    #[tokio::test]
    async fn an_empty_tenant_lists_no_users() {
        let (_sandbox, cake) = start(CakeSandboxOptions::default(), 10).await;
        assert!(cake.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn create_then_list_without_sending_a_password() {
        let (sandbox, cake) = start(people(1), 500).await;
        let created = cake.create(&desired("A.Chen@yournetwork.com", "account manager")).await.unwrap();
        assert_eq!(
            (created.key.as_str(), created.role.as_deref()),
            ("a.chen@yournetwork.com", Some("Account Manager"))
        );
        assert_eq!(
            sandbox.last_write_fields().unwrap(),
            ["email", "first_name", "last_name", "role_id", "user_status"]
        );
        let listed = account(&cake, "a.chen@yournetwork.com").await;
        assert_eq!(listed, created);
        assert_eq!(sandbox.user_by_email("a.chen@yournetwork.com").unwrap().role_id, 3);
    }

    #[tokio::test]
    async fn update_sends_only_the_changed_fields() {
        let (sandbox, cake) = start(people(2), 500).await;
        let p1 = account(&cake, "p1@yournetwork.com").await;
        cake.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name", "user_id"]);
        cake.update(&p1, &[change(ROLE_FIELD, "Finance"), change("email", "P1.New@yournetwork.com")]).await.unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["email", "role_id", "user_id"]);
        let stored = sandbox.user_by_email("p1.new@yournetwork.com").unwrap();
        assert_eq!((stored.last_name.as_str(), stored.role_id, stored.first_name.as_str()), ("Okafor", 4, "Given"));
        let writes = sandbox.write_calls();
        cake.update(&p1, &[]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes, "nothing to change, nothing sent");
    }

    #[tokio::test]
    async fn deactivate_then_reactivate_with_a_role_change_in_one_write() {
        let (sandbox, cake) = start(people(1), 500).await;
        let p0 = account(&cake, "p0@yournetwork.com").await;
        cake.deactivate(&p0).await.unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["user_id", "user_status"]);
        assert_eq!(account(&cake, "p0@yournetwork.com").await.status, AccountStatus::Inactive);
        let writes = sandbox.write_calls();
        cake.reactivate(&p0, &[change(ROLE_FIELD, "Finance")]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes + 1);
        assert_eq!(sandbox.last_write_fields().unwrap(), ["role_id", "user_id", "user_status"]);
        let back = account(&cake, "p0@yournetwork.com").await;
        assert_eq!((back.status, back.role.as_deref()), (AccountStatus::Active, Some("Finance")));
    }

    #[tokio::test]
    async fn a_duplicate_email_is_rejected_on_that_record_only() {
        let (sandbox, cake) = start(people(1), 500).await;
        let mut outcomes = Vec::new();
        for email in ["b@yournetwork.com", "P0@YourNetwork.com", "c@yournetwork.com"] {
            outcomes.push(cake.create(&desired(email, "Finance")).await);
        }
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
        match &outcomes[1] {
            Err(PlatformError::Rejected { message, operation, .. }) => {
                assert_eq!(operation, "create");
                assert!(message.contains("P0@YourNetwork.com"), "{message}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(sandbox.users().len(), 4);
    }

    #[tokio::test]
    async fn a_wrong_key_is_an_auth_error() {
        let (sandbox, _) = start(people(1), 500).await;
        let cake =
            CakeConnector::new(settings_for(&sandbox, "not-the-key", 500)).unwrap().with_retry(RetryPolicy::quick());
        assert!(matches!(cake.prepare().await, Err(PlatformError::Auth { .. })));
        assert!(matches!(cake.list().await, Err(PlatformError::Auth { .. })));
        assert_eq!(sandbox.list_calls(), 0, "listing never starts without roles");
    }

    #[tokio::test]
    async fn a_failure_body_about_the_key_with_http_200_is_an_auth_error() {
        let (sandbox, cake) = start(people(1), 500).await;
        sandbox.faults().script(FaultRule::on("roles", failure_body("Invalid api_key")));
        assert!(matches!(cake.prepare().await, Err(PlatformError::Auth { .. })));
    }

    #[tokio::test]
    async fn a_failure_body_with_http_200_is_an_error() {
        let (sandbox, cake) = start(people(3), 2).await;
        cake.prepare().await.unwrap();
        sandbox.faults().script(FaultRule::on("create", failure_body("Email domain is not allowed")));
        match cake.create(&desired("x@elsewhere.com", "Finance")).await {
            Err(PlatformError::Rejected { message, .. }) => {
                assert_eq!(message, "Email domain is not allowed")
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        sandbox.faults().script(FaultRule::on("list", failure_body("Report server busy")).nth(2));
        let detail = malformed_detail(cake.list().await);
        assert!(detail.starts_with("users page starting at row 3: Report server busy"), "{detail}");
    }

    #[tokio::test]
    async fn a_garbage_page_2_is_malformed_naming_the_page() {
        let (sandbox, cake) = start(people(4), 2).await;
        cake.prepare().await.unwrap();
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        let detail = malformed_detail(cake.list().await);
        assert!(detail.contains("users page starting at row 3"), "{detail}");
        assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
    }

    #[tokio::test]
    async fn a_truncated_last_page_fails_and_a_truncated_middle_page_is_read_again() {
        let (sandbox, cake) = start(people(4), 2).await;
        cake.prepare().await.unwrap();
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(3));
        let detail = malformed_detail(cake.list().await);
        assert!(detail.contains("users page starting at row 5"), "{detail}");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(1));
        let accounts = cake.list().await.unwrap();
        assert_eq!(accounts.len(), 5, "the short page's missing row is asked for again");
    }

    #[tokio::test]
    async fn total_rows_changing_between_pages_is_malformed() {
        let (sandbox, cake) = start(people(3), 2).await;
        cake.prepare().await.unwrap();
        let later = json!([{"user_id": 5000, "email": "z@x.com", "user_status": "active", "role_id": 1}]);
        sandbox.faults().script(FaultRule::on("list", page_body(later, 5)).nth(2));
        let detail = malformed_detail(cake.list().await);
        assert!(detail.contains("total_rows changed from 4 to 5"), "{detail}");
    }

    #[tokio::test]
    async fn records_without_user_id_or_email_are_refused_and_both_created_formats_accepted() {
        let (sandbox, cake) = start(CakeSandboxOptions::default(), 10).await;
        let good = |id: u64, created: &str| {
            json!({"user_id": id, "first_name": "A", "last_name": "B", "email": format!("u{id}@x.com"),
                   "user_status": "Active", "role_id": 3, "created": created, "api_key": "a user's own key"})
        };
        let both = json!([good(1, "2023-06-15T09:22:00"), good(2, "2026-06-19 10:00:00")]);
        sandbox.faults().script(FaultRule::on("list", page_body(both, 2)));
        let accounts = cake.list().await.unwrap();
        assert_eq!(accounts[1].role.as_deref(), Some("Account Manager"));
        let no_email = json!([good(1, "2023-06-15T09:22:00"), {"user_id": 2, "user_status": "active", "role_id": 3}]);
        sandbox.faults().script(FaultRule::on("list", page_body(no_email, 2)));
        assert!(malformed_detail(cake.list().await).contains("row 2: missing field `email`"));
        let no_id = json!([{"email": "a@x.com", "user_status": "active", "role_id": 3}]);
        sandbox.faults().script(FaultRule::on("list", page_body(no_id, 1)));
        assert!(malformed_detail(cake.list().await).contains("missing field `user_id`"));
        sandbox.faults().script(FaultRule::on("list", page_body(json!([good(1, "15/06/2023")]), 1)));
        assert!(malformed_detail(cake.list().await).contains("neither CAKE format"));
    }

    #[tokio::test]
    async fn role_falls_back_to_the_roles_map_by_id() {
        let (sandbox, cake) = start(CakeSandboxOptions::default(), 10).await;
        let users = json!([{"user_id": 9, "email": "a@x.com", "user_status": "inactive", "role_id": 4}]);
        sandbox.faults().script(FaultRule::on("list", page_body(users, 1)));
        let accounts = cake.list().await.unwrap();
        assert_eq!((accounts[0].role.as_deref(), accounts[0].status), (Some("Finance"), AccountStatus::Inactive));
    }

    #[tokio::test]
    async fn a_429_with_retry_after_is_retried_transparently() {
        let (sandbox, cake) = start(people(2), 500).await;
        cake.prepare().await.unwrap();
        sandbox.faults().script(FaultRule::on("list", Fault::too_many(1)));
        let started = std::time::Instant::now();
        assert_eq!(cake.list().await.unwrap().len(), 3);
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        assert_eq!(sandbox.list_calls(), 2);
    }

    #[tokio::test]
    async fn a_persistent_503_is_a_status_error() {
        let (sandbox, cake) = start(people(1), 500).await;
        sandbox.faults().script(FaultRule::on("roles", Fault::status(503)).always());
        match cake.prepare().await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
        assert_eq!(sandbox.faults().count("roles"), 3, "max_attempts of the retry policy");
    }

    #[tokio::test]
    async fn a_slow_answer_times_out_as_a_transport_error() {
        let sandbox = CakeSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
        let mut settings = settings_for(&sandbox, KEY, 500);
        settings.connection.timeout = Duration::from_millis(200);
        let cake =
            CakeConnector::new(settings).unwrap().with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::quick() });
        sandbox.faults().script(FaultRule::on("roles", Fault::Delay(Duration::from_secs(2))));
        assert!(matches!(cake.prepare().await, Err(PlatformError::Transport { .. })));
    }

    #[tokio::test]
    async fn a_lost_answer_on_create_leaves_the_account_created() {
        for lost in [LostAs::ServerError, LostAs::Disconnect] {
            let (sandbox, cake) = start(people(1), 500).await;
            cake.prepare().await.unwrap();
            sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(lost)));
            let outcome = cake.create(&desired("new@yournetwork.com", "Finance")).await;
            assert!(outcome.is_err(), "{lost:?}: the connector never learnt of the write");
            let created: Vec<_> = sandbox.users().into_iter().filter(|u| u.email == "new@yournetwork.com").collect();
            assert_eq!(created.len(), 1, "{lost:?}: created once");
            assert_eq!(sandbox.faults().count("create"), 1, "{lost:?}: the create is not sent again blindly");
        }
    }

    #[tokio::test]
    async fn an_unknown_role_name_is_unsupported_and_lists_the_known_roles() {
        let (sandbox, cake) = start(people(1), 500).await;
        match cake.create(&desired("x@yournetwork.com", "Sales")).await {
            Err(PlatformError::Unsupported { message, .. }) => {
                assert!(message.contains("\"Sales\""), "{message}");
                assert!(message.contains("Administrator, Media Buyer, Account Manager, Finance"), "{message}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        assert_eq!(sandbox.write_calls(), 0);
    }

    #[tokio::test]
    async fn known_roles_and_account_managers_are_read() {
        let (_sandbox, cake) = start(people(0), 500).await;
        let roles = cake.known_roles().await.unwrap().unwrap();
        assert_eq!(roles, ["Administrator", "Media Buyer", "Account Manager", "Finance"]);
        let managers = cake.account_managers().await.unwrap();
        assert_eq!(managers.iter().map(|m| m.id).collect::<Vec<_>>(), [42, 7]);
        assert_eq!((managers[0].email.as_str(), managers[0].status), ("j.lee@yournetwork.com", AccountStatus::Active));
    }

    #[tokio::test]
    async fn writes_refuse_fields_cake_does_not_have() {
        let (sandbox, cake) = start(people(1), 500).await;
        let p0 = account(&cake, "p0@yournetwork.com").await;
        let cleared = FieldChange { field: "first_name".into(), before: Some("Given".into()), after: None };
        for bad in [change("title", "Boss"), change(STATUS_FIELD, "suspended"), cleared] {
            assert!(matches!(cake.update(&p0, &[bad]).await, Err(PlatformError::Unsupported { .. })));
        }
        assert_eq!(sandbox.write_calls(), 0);
    }

    #[test]
    fn endpoints_keep_a_base_path_and_refuse_a_query() {
        let base = Url::parse("https://proxy.example/tenants/acme").unwrap();
        let endpoints = Endpoints::new(&base).unwrap();
        assert_eq!(endpoints.users.as_str(), "https://proxy.example/tenants/acme/api/2/users.json");
        let with_key = Url::parse("https://acme.example/?api_key=oops").unwrap();
        let settings = CakeSettings::new("cake", with_key, SecretString::from("k".to_string()));
        assert!(matches!(CakeConnector::new(settings), Err(PlatformError::Unsupported { .. })));
    }

    /// One error of each kind from `cake`, the sandbox stopped at the end for a transport error.
    async fn errors_of_every_kind(sandbox: CakeSandbox, cake: &CakeConnector) -> Vec<PlatformError> {
        let p0 = account(cake, "p0@yournetwork.com").await;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        errors.push(cake.list().await.unwrap_err());
        // CAKE echoing the key back in a message must not carry it further.
        faults.script(FaultRule::on("update", failure_body(&format!("Invalid request from key {KEY}"))));
        errors.push(cake.update(&p0, &[change("last_name", "X")]).await.unwrap_err());
        faults.script(FaultRule::on("update", Fault::status(503)).always());
        errors.push(cake.deactivate(&p0).await.unwrap_err());
        faults.clear();
        errors.push(cake.create(&desired("p1@yournetwork.com", "Finance")).await.unwrap_err());
        errors.push(cake.create(&desired("q@yournetwork.com", "Nope")).await.unwrap_err());
        let wrong = CakeConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
        errors.push(wrong.prepare().await.unwrap_err());
        sandbox.shutdown().await;
        errors.push(cake.prepare().await.unwrap_err());
        errors
    }

    /// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
    #[tokio::test]
    async fn the_api_key_appears_in_no_error_and_no_debug_output() {
        let (sandbox, cake) = start(people(2), 1).await;
        let settings = settings_for(&sandbox, KEY, 1);
        let errors = errors_of_every_kind(sandbox, &cake).await;
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(KEY), "key leaked: {text}");
            }
        }
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{cake:?}"), format!("{cake:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }
}
