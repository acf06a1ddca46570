//! The AgencyAnalytics connector: users over the v3 JSON API, following `platforms/agencyanalytics.md`.
//!
//! AgencyAnalytics' dialect: HTTP Basic with the API key as user name and an empty password
//! [inferred, `auth_scheme`]; every answer is `{"metadata":{..},"data":..}` and every error
//! `{"error":{"message":..}}` [inferred, `error_message_pointer`]; users match by `username`.
//! There is no disable flag: access goes by `DELETE`, and only where config says
//! `allow_delete: true`. A role never moves between the staff side (`admin`, `staff`) and
//! `client`: such a change is a conflict, or with `recreate_on_role_change` a delete + create.

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use compact_str::{CompactString, ToCompactString};
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::kind::{KindSpec, RoleValue};
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str =
    "the key must be an AgencyAnalytics API key with access to users, sent as auth_scheme says (default: HTTP Basic, the key as user name)";
/// Where the users API lives under the base URL [inferred]; v3 is announced for retirement,
/// so config may move it (`users_path`).
pub const DEFAULT_USERS_PATH: &str = "/v3/users";
/// A sanity bound on `page_size`; the vendor documents no maximum.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// `limit` of each listing page when config gives no `page_size`: the largest, so a
/// listing takes the fewest calls of the request budget.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
/// The role values AgencyAnalytics knows, as config and the listing spell them.
pub const ROLES: [&str; 3] = ["admin", "staff", "client"];
/// Why removals are held when config does not allow deleting.
pub const REMOVALS_HELD: &str =
    "AgencyAnalytics has no disable flag and deleting is not allowed by this platform's config (allow_delete: false)";
/// The fields rosterd compares and writes, by AgencyAnalytics' own names.
const FIELDS: [&str; 4] = ["first_name", "last_name", "username", "email"];
/// Generated passwords: long, and drawing on every class so any password policy is met.
const PASSWORD_LEN: usize = 24;
const PASSWORD_CLASSES: [&[u8]; 4] =
    [b"abcdefghijkmnopqrstuvwxyz", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"23456789", b"!#%+-.=?@_~"];

/// The kind's own config keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyAnalyticsOptions {
    /// The users collection under the base URL; default [`DEFAULT_USERS_PATH`].
    #[serde(default)]
    pub users_path: Option<String>,
    /// Whether rosterd may delete users to remove access (the only way there is).
    #[serde(default)]
    pub allow_delete: bool,
    /// How the key is sent [inferred]; default HTTP Basic, the key as user name.
    #[serde(default)]
    pub auth_scheme: Option<AuthScheme>,
    /// The value sent as `email_credentials` on create [inferred: its encoding]; default `"true"`.
    #[serde(default)]
    pub email_credentials: Option<EmailCredentials>,
    /// Where an error answer holds its message, as a JSON Pointer [inferred]; default `/error/message`.
    #[serde(default)]
    pub error_message_pointer: Option<String>,
    /// A role change between the staff side and client deletes the user and creates it
    /// anew with the new role (its id and history are lost); needs `allow_delete: true`.
    #[serde(default)]
    pub recreate_on_role_change: bool,
}

/// How the API key travels (the contract's HTTP Basic is [inferred]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// `Authorization: Basic base64(key + ":")`: the key as user name, an empty password.
    #[default]
    Basic,
    /// `Authorization: Bearer <key>`.
    Bearer,
}

/// The JSON value sent as `email_credentials`: the seed types it as a string, so `"true"`
/// by default; config may send a JSON boolean or number instead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum EmailCredentials {
    Flag(bool),
    Number(i64),
    Text(String),
}

impl EmailCredentials {
    fn json(&self) -> Value {
        match self {
            EmailCredentials::Flag(b) => json!(b),
            EmailCredentials::Number(n) => json!(n),
            EmailCredentials::Text(t) => json!(t),
        }
    }
}

/// Where an error answer's message is [inferred]: `{"error":{"message":..}}`.
pub const DEFAULT_ERROR_MESSAGE_POINTER: &str = "/error/message";

/// How to reach one AgencyAnalytics account. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct AgencyAnalyticsSettings {
    /// The platform's name in config.
    pub name: String,
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// The users collection under `base_url`, e.g. `/v3/users`.
    pub users_path: String,
    /// Removal deletes the user; without this, removals are held and reported.
    pub allow_delete: bool,
    /// `limit` of each listing page.
    pub page_size: u32,
    pub auth_scheme: AuthScheme,
    pub email_credentials: EmailCredentials,
    /// A JSON Pointer to the message of an error answer.
    pub error_message_pointer: String,
    /// A staff ↔ client role change deletes and re-creates the user (with `allow_delete`).
    pub recreate_on_role_change: bool,
}

impl AgencyAnalyticsSettings {
    /// Settings with the usual defaults: v3 paths, deleting not allowed, pages of 1000.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> AgencyAnalyticsSettings {
        AgencyAnalyticsSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            users_path: DEFAULT_USERS_PATH.into(),
            allow_delete: false,
            page_size: DEFAULT_PAGE_SIZE,
            auth_scheme: AuthScheme::Basic,
            email_credentials: EmailCredentials::Text("true".into()),
            error_message_pointer: DEFAULT_ERROR_MESSAGE_POINTER.into(),
            recreate_on_role_change: false,
        }
    }
}

/// The side of a role: a user never moves between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Staff,
    Client,
}

fn side(role: &str) -> Option<Side> {
    match role.trim().to_lowercase().as_str() {
        "admin" | "staff" => Some(Side::Staff),
        "client" => Some(Side::Client),
        _ => None,
    }
}

/// The rule the diff applies ([`Traits::role_change`]): within a side, any change; across, none.
pub fn role_change(from: &str, to: &str) -> Result<(), String> {
    match (side(from), side(to)) {
        (Some(a), Some(b)) if a != b => {
            Err("AgencyAnalytics cannot move a user between the staff side (admin, staff) \
             and client; a person must change it by hand (delete and re-create)"
                .into())
        }
        _ => Ok(()),
    }
}

/// A fresh random password from the OS's CSPRNG, with one character of each class at least.
fn generate_password() -> SecretString {
    let mut rng = OsRng;
    let pick = |class: &[u8], rng: &mut OsRng| class[rng.gen_range(0..class.len())];
    let mut chars: Vec<u8> = PASSWORD_CLASSES.iter().map(|class| pick(class, &mut rng)).collect();
    let all = PASSWORD_CLASSES.concat();
    while chars.len() < PASSWORD_LEN {
        chars.push(pick(&all, &mut rng));
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}

/// The users collection URL, and one user's.
#[derive(Debug)]
struct Endpoints {
    users: Url,
}

impl Endpoints {
    fn new(base: &Url, users_path: &str) -> Option<Endpoints> {
        let mut users = base.clone();
        users.set_query(None);
        users.set_fragment(None);
        // Push segments rather than `join`, so a base with a path prefix keeps it.
        users.path_segments_mut().ok()?.pop_if_empty().extend(users_path.split('/').filter(|s| !s.is_empty()));
        Some(Endpoints { users })
    }

    fn user(&self, id: u64) -> Url {
        let mut url = self.users.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(&id.to_string());
        }
        url
    }
}

// ---- What AgencyAnalytics sends. Unknown fields are ignored (and `password`, which the
// listing carries as null, is never read); the fields rosterd relies on must be typed.

#[derive(Debug, Deserialize)]
struct Metadata {
    total_pages: u64,
    total_records: u64,
}

#[derive(Debug, Deserialize)]
struct ListAnswer {
    metadata: Metadata,
    /// Parsed one by one, so that an error names its row.
    data: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct OneAnswer {
    data: Value,
}

#[derive(Debug, Deserialize)]
struct WireUser {
    id: u64,
    username: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    role: String,
}

/// One user record as an [`Account`]; every listed user can sign in (there is no disable flag).
fn parse_user(value: &Value) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if user.username.trim().is_empty() {
        return Err(format!("user {} has an empty username", user.id));
    }
    if side(&user.role).is_none() {
        return Err(format!("user {} has role {:?}, not one of {}", user.id, user.role, ROLES.join(", ")));
    }
    let fields = BTreeMap::from([
        ("first_name".to_string(), user.first_name.unwrap_or_default()),
        ("last_name".to_string(), user.last_name.unwrap_or_default()),
        ("username".to_string(), user.username.clone()),
        ("email".to_string(), user.email.unwrap_or_default()),
    ]);
    Ok(Account {
        id: user.id.to_compact_string(),
        key: normalize_key(&user.username),
        fields: fields.into(),
        role: Some(CompactString::from_str_to_lowercase(user.role.trim())),
        status: AccountStatus::Active,
    })
}

fn page_label(page: u64) -> String {
    format!("users page {page}")
}

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    ids: HashSet<CompactString>,
    /// `(total_pages, total_records)` as the first page announced them.
    totals: Option<(u64, u64)>,
}

impl Listing {
    /// Take one page; whether there is another to read.
    fn add_page(&mut self, page: u64, limit: u64, answer: ListAnswer) -> Result<bool, String> {
        let label = page_label(page);
        let totals = (answer.metadata.total_pages, answer.metadata.total_records);
        if let Some(before) = self.totals.filter(|t| *t != totals) {
            return Err(format!(
                "{label}: metadata changed from {} pages / {} records to {} / {} while paging",
                before.0, before.1, totals.0, totals.1
            ));
        }
        self.totals = Some(totals);
        let rows = answer.data.len() as u64;
        if rows > limit {
            return Err(format!("{label}: {rows} users, more than the limit of {limit} asked for"));
        }
        if rows == 0 && page < totals.0 {
            return Err(format!("{label}: no users, but total_pages is {}", totals.0));
        }
        for (row, value) in answer.data.iter().enumerate() {
            let account = parse_user(value).map_err(|e| format!("{label}, row {}: {e}", row + 1))?;
            if !self.ids.insert(account.id.clone()) {
                return Err(format!("{label}: user {} listed twice", account.id));
            }
            self.accounts.push(account);
        }
        Ok(page < totals.0)
    }

    /// The accounts, if their number is the one AgencyAnalytics announced.
    fn finish(self) -> Result<Vec<Account>, String> {
        let total = self.totals.map_or(0, |t| t.1);
        match self.accounts.len() as u64 == total {
            true => Ok(self.accounts),
            false => Err(format!("the listing holds {} users but total_records is {total}", self.accounts.len())),
        }
    }
}

/// The AgencyAnalytics connector for one account.
#[derive(Debug)]
pub struct AgencyAnalyticsConnector {
    settings: AgencyAnalyticsSettings,
    http: PlatformHttp,
    endpoints: Endpoints,
}

impl AgencyAnalyticsConnector {
    pub fn new(settings: AgencyAnalyticsSettings) -> Result<AgencyAnalyticsConnector, PlatformError> {
        let refuse = |message: String| Err(PlatformError::Unsupported { platform: settings.name.clone(), message });
        if !matches!(settings.connection.base_url.scheme(), "http" | "https") {
            return refuse("base_url must be an http or https URL".into());
        }
        if let Err(message) = check_path(&settings.users_path) {
            return refuse(format!("users_path {message}"));
        }
        if let Err(message) = check_pointer(&settings.error_message_pointer) {
            return refuse(format!("error_message_pointer {message}"));
        }
        if settings.recreate_on_role_change && !settings.allow_delete {
            return refuse(RECREATE_NEEDS_DELETE.into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&settings.page_size) {
            return refuse(format!("page_size must be between 1 and {MAX_PAGE_SIZE}"));
        }
        if settings.api_key.expose_secret().trim().is_empty() {
            return refuse("the api key is empty".into());
        }
        let Some(endpoints) = Endpoints::new(&settings.connection.base_url, &settings.users_path) else {
            return refuse("base_url cannot have paths under it".into());
        };
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.api_key.clone());
        Ok(AgencyAnalyticsConnector { settings, http, endpoints })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> AgencyAnalyticsConnector {
        self.http.retry = policy;
        self
    }

    // ---- Errors. Every message passes through `redact`: a service could echo the key back.

    /// The message of an error answer: AgencyAnalytics' own, else the start of a body that
    /// is not JSON (a proxy's page), else the bare status.
    fn error_message(&self, answer: &Answer) -> String {
        let parsed = serde_json::from_slice::<Value>(&answer.body).ok();
        let pointed = parsed.as_ref().and_then(|v| v.pointer(&self.settings.error_message_pointer));
        if let Some(message) = pointed.and_then(Value::as_str) {
            return self.http.redact(message);
        }
        let text = String::from_utf8_lossy(&answer.body);
        match text.trim_start().starts_with(['{', '[']) || text.trim().is_empty() {
            true => format!("HTTP {}", answer.status.as_u16()),
            false => self.http.snippet(&answer.body),
        }
    }

    /// The status decides: 401 is the key, 408/429/5xx are transient, other 4xx refuse that
    /// one request. A success body must be JSON (`None` for 204 No Content).
    fn interpret(&self, operation: &str, answer: Answer) -> Result<Option<Value>, PlatformError> {
        let (platform, operation_s, status) = (self.settings.name.clone(), operation.to_string(), answer.status);
        // A listing refused 403 is the key's rights (or scheme): nothing can proceed.
        if status.as_u16() == 401 || (status.as_u16() == 403 && operation == "list") {
            let message = self.error_message(&answer);
            return Err(PlatformError::Auth { platform, operation: operation_s, message });
        }
        if !status.is_success() {
            let message = self.error_message(&answer);
            let code = status.as_u16();
            return Err(match code == 408 || code == 429 || status.is_server_error() || !status.is_client_error() {
                true => PlatformError::Status { platform, operation: operation_s, status: code, message },
                false => PlatformError::Rejected { platform, operation: operation_s, message },
            });
        }
        if status.as_u16() == 204 {
            return Ok(None);
        }
        // The serde error names a place in the body, never its contents.
        serde_json::from_slice(&answer.body).map(Some).map_err(|e| {
            let text = String::from_utf8_lossy(&answer.body);
            let detail = match text.trim_start().starts_with(['{', '[']) {
                true => format!("not JSON: {e}"),
                false => format!("not JSON: {}", self.http.snippet(&answer.body)),
            };
            self.http.malformed(operation, detail)
        })
    }

    // ---- Requests. The key travels only in the Authorization header built here.

    /// One request with the key in its Authorization header; the answer as it came.
    async fn send_raw(
        &self,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Map<String, Value>>,
    ) -> Result<Answer, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || {
            let request = self.http.client.request(method.clone(), url.clone()).query(query);
            let request = match self.settings.auth_scheme {
                AuthScheme::Basic => request.basic_auth(key, Some("")),
                AuthScheme::Bearer => request.bearer_auth(key),
            };
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        self.http.send(operation, build).await
    }

    async fn send(
        &self,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Map<String, Value>>,
    ) -> Result<Option<Value>, PlatformError> {
        let answer = self.send_raw(operation, method, url, query, body).await?;
        self.interpret(operation, answer)
    }

    /// A write whose answer's `data` is a user: that user, parsed.
    async fn send_user(
        &self,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        body: &Map<String, Value>,
    ) -> Result<Account, PlatformError> {
        let value = self.send(operation, method, url, &[], Some(body)).await?;
        let value =
            value.ok_or_else(|| self.http.malformed(operation, "an empty answer, where the user was due".into()))?;
        let answer = OneAnswer::deserialize(&value).map_err(|e| self.http.malformed(operation, e.to_string()))?;
        parse_user(&answer.data).map_err(|e| self.http.malformed(operation, format!("data: {e}")))
    }

    fn user_id(&self, account: &Account) -> Result<u64, PlatformError> {
        account.id.parse().map_err(|_| {
            self.http.unsupported(format!("account id {:?} is not an AgencyAnalytics user id", account.id))
        })
    }

    // ---- Listing.

    async fn fetch_page(&self, page: u64) -> Result<ListAnswer, PlatformError> {
        let query = [("page", page.to_string()), ("limit", self.settings.page_size.to_string())];
        let label = page_label(page);
        let value = match self.send("list", reqwest::Method::GET, &self.endpoints.users, &query, None).await {
            Ok(Some(value)) => value,
            Ok(None) => return Err(self.http.malformed("list", format!("{label}: an empty answer"))),
            // A listing that was refused or garbled is unreadable, never "no users".
            Err(PlatformError::Rejected { message, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {message}")))
            }
            Err(PlatformError::Malformed { detail, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {detail}")))
            }
            Err(other) => return Err(other.with_credentials_hint(CREDENTIALS_CHECK)),
        };
        ListAnswer::deserialize(&value).map_err(|e| self.http.malformed("list", format!("{label}: {e}")))
    }

    /// `GET /v3/users?filter=<username>`: the user with this username, if any. `filter` is
    /// a free-text search, so every page of its answer is read and matched on the username.
    async fn find_by_username(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let wanted = normalize_key(key);
        let mut found = Vec::new();
        let mut page = 1u64;
        loop {
            let query = [("page", page.to_string()), ("limit", MAX_PAGE_SIZE.to_string()), ("filter", key.to_string())];
            let value = match self.send("find", reqwest::Method::GET, &self.endpoints.users, &query, None).await? {
                Some(value) => value,
                None => return Err(self.http.malformed("find", "an empty answer".into())),
            };
            let answer = ListAnswer::deserialize(&value).map_err(|e| self.http.malformed("find", e.to_string()))?;
            for user in &answer.data {
                let account = parse_user(user).map_err(|e| self.http.malformed("find", e))?;
                if account.key == wanted {
                    found.push(account);
                }
            }
            if answer.data.is_empty() || page >= answer.metadata.total_pages {
                break;
            }
            page += 1;
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(self.http.malformed("find", format!("{n} users hold the username {key}"))),
        }
    }

    // ---- Writes.

    /// A role change across sides, where config allows it: delete the user, then create it
    /// anew with the changes applied (a new id and a new login mail; the history is lost).
    /// One after the other, so the username is free again when the create arrives.
    async fn recreate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        let mut desired = DesiredAccount {
            person_id: account.id.clone(),
            label: account.key.clone(),
            key: account.key.clone(),
            fields: account.fields.clone(),
            role: account.role.clone(),
        };
        for change in changes {
            let value = CompactString::from(change.after.as_deref().unwrap_or_default());
            match change.field.as_str() {
                ROLE_FIELD => desired.role = Some(value),
                field => {
                    desired.fields.insert(field.into(), value);
                }
            }
        }
        self.role_value(desired.role.as_deref(), &desired.label)?;
        self.deactivate(account).await?;
        let created = self.create(&desired).await?;
        tracing::info!(platform = %self.settings.name, old = %account.id, new = %created.id, "re-created a user to change its role across sides");
        Ok(())
    }

    /// A role as AgencyAnalytics spells it, or why it cannot be sent.
    fn role_value(&self, role: Option<&str>, label: &str) -> Result<String, PlatformError> {
        let role = role.map(|r| r.trim().to_lowercase()).filter(|r| !r.is_empty()).ok_or_else(|| {
            self.http.unsupported(format!(
                "AgencyAnalytics needs a role for every user, and none was mapped for {label}; add role rules"
            ))
        })?;
        match side(&role) {
            Some(_) => Ok(role),
            None => Err(self.http.unsupported(format!("role {role:?} is not one of {}", ROLES.join(", ")))),
        }
    }

    /// The body of an update: only the changed fields, by AgencyAnalytics' names. A role
    /// change across sides is refused here too, in case a plan got past the diff.
    fn change_body(&self, account: &Account, changes: &[FieldChange]) -> Result<Map<String, Value>, PlatformError> {
        let mut body = Map::new();
        for change in changes {
            let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let field = change.field.as_str();
            let cannot =
                |what: String| self.http.unsupported(format!("cannot {what} of {} (user {})", account.key, account.id));
            if field == ROLE_FIELD {
                let role = self.role_value(after, &account.key)?;
                if let Some(from) = account.role.as_deref() {
                    role_change(from, &role)
                        .map_err(|why| cannot(format!("change the role {from} -> {role}: {why}")))?;
                }
                body.insert("role".into(), json!(role));
            } else if FIELDS.contains(&field) {
                let value = after.ok_or_else(|| cannot(format!("clear {field}")))?;
                body.insert(field.into(), json!(value));
            } else {
                return Err(cannot(format!("change {field:?}: AgencyAnalytics users have no such field")));
            }
        }
        Ok(body)
    }
}

/// Why `recreate_on_role_change` alone is refused: re-creating deletes the user first.
const RECREATE_NEEDS_DELETE: &str =
    "recreate_on_role_change deletes the user before creating it anew: it needs allow_delete: true";

/// An error-message pointer must be a JSON Pointer (RFC 6901): empty or starting with `/`.
fn check_pointer(pointer: &str) -> Result<(), String> {
    match pointer.starts_with('/') {
        true => Ok(()),
        false => Err(format!("{pointer:?} must be a JSON Pointer such as {DEFAULT_ERROR_MESSAGE_POINTER}")),
    }
}

/// Whether `changes` move the account's role between the staff side and client.
fn crosses_sides(account: &Account, changes: &[FieldChange]) -> bool {
    let to = changes.iter().find(|c| c.field == ROLE_FIELD).and_then(|c| c.after.as_deref());
    matches!((account.role.as_deref(), to), (Some(from), Some(to)) if role_change(from, to).is_err())
}

/// A path option must be absolute and carry no query: it goes under the base URL.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['?', '#']) || path.split('/').all(str::is_empty) {
        return Err(format!("{path:?} must be a path such as {DEFAULT_USERS_PATH}"));
    }
    Ok(())
}

#[async_trait]
impl Connector for AgencyAnalyticsConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn traits(&self) -> Traits {
        Traits {
            key_field: "username",
            can_reactivate: false,
            recreate_removed: true,
            removals_held: (!self.settings.allow_delete).then_some(REMOVALS_HELD),
            // Re-creating makes a move across sides possible: the diff may plan it.
            role_change: match self.settings.recreate_on_role_change {
                true => super::any_role_change,
                false => role_change,
            },
            status_from_links: false,
        }
    }

    /// Nothing to resolve: roles are plain strings.
    async fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let limit = u64::from(self.settings.page_size);
        let mut listing = Listing::default();
        let mut page = 1;
        loop {
            let answer = self.fetch_page(page).await?;
            let more = listing.add_page(page, limit, answer).map_err(|detail| self.http.malformed("list", detail))?;
            if !more {
                break;
            }
            page += 1;
        }
        let accounts = listing.finish().map_err(|detail| self.http.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), pages = page, "listed users");
        Ok(accounts)
    }

    /// A generated password is sent once, with `email_credentials` so the person gets a login.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let role = self.role_value(desired.role.as_deref(), &desired.label)?;
        let mut body = Map::new();
        for field in FIELDS {
            let value = desired.fields.get(field).map(|v| v.trim()).filter(|v| !v.is_empty());
            // The match key is the username, so it stands in when the mapping left it out.
            let value = value.or((field == "username").then_some(desired.key.as_str()).filter(|k| !k.is_empty()));
            match (value, field) {
                (Some(value), _) => {
                    body.insert(field.into(), json!(value));
                }
                (None, "email") => {}
                (None, _) => {
                    let message = format!("{} has no {field}, which AgencyAnalytics requires", desired.label);
                    return Err(self.http.unsupported(message));
                }
            }
        }
        body.insert("role".into(), json!(role));
        body.insert("password".into(), json!(generate_password().expose_secret()));
        // [inferred] the value's form: the seed types it as a string; config may change it.
        body.insert("email_credentials".into(), self.settings.email_credentials.json());
        self.send_user("create", reqwest::Method::POST, &self.endpoints.users, &body).await
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.settings.recreate_on_role_change && crosses_sides(account, changes) {
            return self.recreate(account, changes).await;
        }
        let id = self.user_id(account)?;
        let body = self.change_body(account, changes)?;
        let answered = self.send_user("update", reqwest::Method::PUT, &self.endpoints.user(id), &body).await?;
        match answered.id == account.id {
            true => Ok(()),
            false => Err(self.http.malformed("update", format!("sent user {id}, the answer is about {}", answered.id))),
        }
    }

    /// `DELETE`, only where config allows it; a user already gone (404) is as good as deleted.
    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        if !self.settings.allow_delete {
            return Err(self.http.unsupported(REMOVALS_HELD.into()));
        }
        let id = self.user_id(account)?;
        let answer = self.send_raw("delete", reqwest::Method::DELETE, &self.endpoints.user(id), &[], None).await?;
        if answer.status == reqwest::StatusCode::NOT_FOUND {
            // A lost answer retried, or deleted by hand: either way the access is gone.
            tracing::debug!(platform = %self.settings.name, user = id, "already deleted");
            return Ok(());
        }
        if answer.status.is_success() {
            // 204 as documented; any other success has nothing in it rosterd needs.
            return Ok(());
        }
        self.interpret("delete", answer).map(|_| ())
    }

    async fn reactivate(&self, account: &Account, _changes: &[FieldChange]) -> Result<(), PlatformError> {
        Err(self.http.unsupported(format!(
            "AgencyAnalytics cannot restore user {} (deleted users are created anew)",
            account.id
        )))
    }

    /// The listing's `filter` search, not a full listing: a lost create is found in one call.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        self.find_by_username(key).await
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(Some(ROLES.iter().map(|r| r.to_string()).collect()))
    }
}

/// What config needs to know about AgencyAnalytics.
pub const SPEC: KindSpec = KindSpec {
    kind: "agencyanalytics",
    vendor: "AgencyAnalytics",
    default_base_url: Some("https://api.clientseoreport.com"),
    default_fields: &[
        ("first_name", "{name.givenName}"),
        ("last_name", "{name.familyName}"),
        ("username", "{email}"),
        ("email", "{email}"),
    ],
    fields_allowed: &FIELDS,
    default_match_key: "{email}",
    option_keys: &[
        "users_path",
        "allow_delete",
        "auth_scheme",
        "email_credentials",
        "error_message_pointer",
        "recreate_on_role_change",
    ],
    check_options,
    role: spec_role,
    extra_field: None,
    role_with_options: None,
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

/// A role rule's role: one of [`ROLES`], any case, kept lower-case.
fn spec_role(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    let mut role = super::kind::string_role(value, extra)?;
    role.role = role.role.to_lowercase();
    match ROLES.contains(&role.role.as_str()) {
        true => Ok(role),
        false => Err(format!("{:?} is not an AgencyAnalytics role (known: {})", role.role, ROLES.join(", "))),
    }
}

fn check_options(extra: &serde_yaml::Mapping) -> Vec<(String, String)> {
    let options: AgencyAnalyticsOptions = match super::kind::options(extra) {
        Ok(options) => options,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    if let Some(Err(message)) = options.users_path.as_deref().map(check_path) {
        problems.push(("users_path".into(), message));
    }
    if let Some(Err(message)) = options.error_message_pointer.as_deref().map(check_pointer) {
        problems.push(("error_message_pointer".into(), message));
    }
    if options.recreate_on_role_change && !options.allow_delete {
        problems.push(("recreate_on_role_change".into(), RECREATE_NEEDS_DELETE.into()));
    }
    problems
}

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: AgencyAnalyticsOptions = p.options()?;
    let mut settings = AgencyAnalyticsSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    settings.users_path = options.users_path.unwrap_or_else(|| DEFAULT_USERS_PATH.into());
    settings.allow_delete = options.allow_delete;
    settings.auth_scheme = options.auth_scheme.unwrap_or_default();
    if let Some(value) = options.email_credentials {
        settings.email_credentials = value;
    }
    if let Some(pointer) = options.error_message_pointer {
        settings.error_message_pointer = pointer;
    }
    settings.recreate_on_role_change = options.recreate_on_role_change;
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    Ok(Box::new(AgencyAnalyticsConnector::new(settings)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::agencyanalytics::sandbox::{
        AgencyAnalyticsSandbox, AgencyAnalyticsSandboxOptions as Options, AgencyAnalyticsUser as User,
    };
    use crate::sandbox::faults::{Fault, FaultRule};
    use std::time::Duration;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const KEY: &str = "aa-LEAKCHECK-93be1f07c2";

    fn settings_for(sandbox: &AgencyAnalyticsSandbox, key: &str, page_size: u32) -> AgencyAnalyticsSettings {
        let mut settings =
            AgencyAnalyticsSettings::new("agencyanalytics", sandbox.base_url(), SecretString::from(key.to_string()));
        settings.connection.timeout = Duration::from_secs(5);
        settings.connection.per_second = 0.0;
        settings.page_size = page_size;
        settings.allow_delete = true;
        settings
    }

    async fn start(options: Options, page_size: u32) -> (AgencyAnalyticsSandbox, AgencyAnalyticsConnector) {
        let sandbox = AgencyAnalyticsSandbox::start(options.with_api_key(KEY)).await.unwrap();
        let connector = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, page_size))
            .unwrap()
            .with_retry(RetryPolicy::quick());
        (sandbox, connector)
    }

    /// An admin, then `n` staff users `p0..`.
    fn people(n: usize) -> Options {
        let admin = User::new("Api", "Owner", "owner@agency.example", "admin");
        (0..n).fold(Options::default().with_user(admin), |options, i| {
            options.with_user(User::new("Given", &format!("Family{i}"), &format!("p{i}@agency.example"), "staff"))
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
                ("username".to_string(), email.to_string()),
                ("email".to_string(), email.to_string()),
            ]),
            role: Some(role.into()),
        }
    }

    fn change(field: &str, after: &str) -> FieldChange {
        FieldChange { field: field.into(), before: None, after: Some(after.into()) }
    }

    async fn account(connector: &AgencyAnalyticsConnector, username: &str) -> Account {
        connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(username)).unwrap()
    }

    fn body_keys(sandbox: &AgencyAnalyticsSandbox) -> Vec<String> {
        let last = sandbox.writes().pop().unwrap();
        last.body.and_then(|b| b.as_object().map(|o| o.keys().cloned().collect())).unwrap_or_default()
    }

    fn malformed_detail(result: Result<Vec<Account>, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn page_body(data: Value, total_pages: u64, total_records: u64) -> Fault {
        let body = json!({"metadata": {"total_pages": total_pages, "total_records": total_records}, "data": data});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    #[tokio::test]
    async fn listing_across_pages_returns_every_account_once() {
        let (sandbox, aa) = start(people(6), 3).await;
        let accounts = aa.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
        assert_eq!(accounts.len(), 7);
        let pages: Vec<String> = sandbox.requests().iter().map(|r| format!("{:?}", r.query)).collect();
        assert_eq!(pages[2], r#"[("page", "3"), ("limit", "3")]"#);
        let p4 = accounts.iter().find(|a| a.key == "p4@agency.example").unwrap();
        assert_eq!((p4.role.as_deref(), p4.status), (Some("staff"), AccountStatus::Active));
        assert_eq!(p4.fields["username"], "p4@agency.example");
    }

    #[tokio::test]
    async fn an_empty_account_lists_no_users() {
        let (_sandbox, aa) = start(Options::default(), 10).await;
        assert!(aa.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn create_sends_a_generated_password_and_asks_for_the_login_mail() {
        let (sandbox, aa) = start(people(0), 50).await;
        let created = aa.create(&desired("A.Chen@agency.example", "Client")).await.unwrap();
        assert_eq!((created.key.as_str(), created.role.as_deref()), ("a.chen@agency.example", Some("client")));
        let mut keys = body_keys(&sandbox);
        keys.sort();
        assert_eq!(keys, ["email", "email_credentials", "first_name", "last_name", "password", "role", "username"]);
        assert!(sandbox.user_by_username("a.chen@agency.example").unwrap().credentials_emailed);
        let password = sandbox.passwords().pop().unwrap();
        assert!(password.len() >= 16, "{} characters", password.len());
        assert!(!format!("{created:?}{aa:?}").contains(&password));
        assert_eq!(account(&aa, "a.chen@agency.example").await, created);
    }

    #[test]
    fn generated_passwords_are_long_mix_every_class_and_differ() {
        let (a, b) = (generate_password(), generate_password());
        let a = a.expose_secret();
        assert_eq!(a.len(), PASSWORD_LEN);
        for class in PASSWORD_CLASSES {
            assert!(a.bytes().any(|c| class.contains(&c)), "{class:?} missing");
        }
        assert_ne!(a, b.expose_secret());
    }

    #[tokio::test]
    async fn update_sends_only_the_changed_fields() {
        let (sandbox, aa) = start(people(2), 50).await;
        let p1 = account(&aa, "p1@agency.example").await;
        aa.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
        assert_eq!(body_keys(&sandbox), ["last_name"]);
        assert_eq!(sandbox.writes().last().unwrap().path, format!("/v3/users/{}", p1.id));
        aa.update(&p1, &[change(ROLE_FIELD, "admin"), change("email", "p1.new@agency.example")]).await.unwrap();
        assert_eq!(body_keys(&sandbox), ["email", "role"]);
        let stored = sandbox.user_by_username("p1@agency.example").unwrap();
        assert_eq!((stored.last_name.as_str(), stored.role.as_str()), ("Okafor", "admin"));
        let writes = sandbox.write_calls();
        aa.update(&p1, &[]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes, "nothing to change, nothing sent");
    }

    #[tokio::test]
    async fn a_role_change_between_staff_and_client_is_never_sent() {
        let (sandbox, aa) = start(people(1), 50).await;
        let p0 = account(&aa, "p0@agency.example").await;
        match aa.update(&p0, &[change(ROLE_FIELD, "client"), change("first_name", "X")]).await {
            Err(PlatformError::Unsupported { message, .. }) => assert!(message.contains("staff side"), "{message}"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        assert!(sandbox.writes().is_empty(), "the emulator got no write: {:?}", sandbox.writes());
        assert!(role_change("client", "admin").is_err() && role_change("Staff", "ADMIN").is_ok());
        assert!((aa.traits().role_change)("staff", "client").is_err());
    }

    #[tokio::test]
    async fn removal_deletes_only_where_allowed_and_a_user_already_gone_is_fine() {
        let (sandbox, mut aa) = start(people(1), 50).await;
        let p0 = account(&aa, "p0@agency.example").await;
        aa.settings.allow_delete = false;
        assert_eq!(aa.traits().removals_held, Some(REMOVALS_HELD));
        assert!(matches!(aa.deactivate(&p0).await, Err(PlatformError::Unsupported { .. })));
        assert_eq!(sandbox.write_calls(), 0);
        aa.settings.allow_delete = true;
        let traits = aa.traits();
        assert!((traits.removals_held, traits.can_reactivate, traits.recreate_removed) == (None, false, true));
        aa.deactivate(&p0).await.unwrap();
        let delete = sandbox.writes().pop().unwrap();
        assert_eq!((delete.method.as_str(), delete.path), ("DELETE", format!("/v3/users/{}", p0.id)));
        assert!(sandbox.user_by_username("p0@agency.example").is_none());
        aa.deactivate(&p0).await.unwrap();
        assert!(matches!(aa.reactivate(&p0, &[]).await, Err(PlatformError::Unsupported { .. })));
    }

    #[tokio::test]
    async fn a_duplicate_username_is_rejected_on_that_record_only() {
        let (sandbox, aa) = start(people(1), 50).await;
        let mut outcomes = Vec::new();
        for email in ["b@agency.example", "P0@Agency.example", "c@agency.example"] {
            outcomes.push(aa.create(&desired(email, "staff")).await);
        }
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
        match &outcomes[1] {
            Err(PlatformError::Rejected { message, operation, .. }) => {
                assert_eq!(
                    (operation.as_str(), message.as_str()),
                    ("create", "The username P0@Agency.example is already taken")
                );
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(sandbox.users().len(), 4);
    }

    #[tokio::test]
    async fn contract_errors_surface_on_their_record() {
        let (sandbox, aa) = start(people(1), 50).await;
        let p0 = account(&aa, "p0@agency.example").await;
        match aa.update(&p0, &[change("email", "not-an-email")]).await {
            Err(PlatformError::Rejected { message, .. }) => {
                assert_eq!(message, "not-an-email is not a valid email address")
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        let gone = Account { id: "999".into(), ..p0.clone() };
        assert!(matches!(aa.update(&gone, &[change("last_name", "Y")]).await, Err(PlatformError::Rejected { .. })));
        sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
        match aa.update(&p0, &[change("last_name", "Z")]).await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
        assert!(matches!(
            aa.create(&desired("x@agency.example", "owner")).await,
            Err(PlatformError::Unsupported { .. })
        ));
    }

    #[tokio::test]
    async fn a_wrong_key_is_an_auth_error() {
        let (sandbox, _) = start(people(1), 50).await;
        let aa = AgencyAnalyticsConnector::new(settings_for(&sandbox, "not-the-key", 50)).unwrap();
        match aa.list().await {
            Err(PlatformError::Auth { message, .. }) => {
                assert_eq!(message, format!("Invalid API credentials; {CREDENTIALS_CHECK}"))
            }
            other => panic!("expected Auth, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
        let (sandbox, aa) = start(people(5), 2).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        let detail = malformed_detail(aa.list().await);
        assert!(detail.starts_with("users page 2: not JSON"), "{detail}");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(3));
        let detail = malformed_detail(aa.list().await);
        assert_eq!(detail, "the listing holds 5 users but total_records is 6");
        let cut = Fault::Status { code: 200, retry_after: None, body: r#"{"metadata":{"total_pages":3,"#.into() };
        sandbox.faults().script(FaultRule::on("list", cut));
        assert!(malformed_detail(aa.list().await).starts_with("users page 1: not JSON"));
    }

    #[tokio::test]
    async fn metadata_changing_between_pages_or_bad_records_are_malformed() {
        let (sandbox, aa) = start(people(3), 2).await;
        let later = json!([{"id": 5000, "username": "z@x.com", "role": "staff"}]);
        sandbox.faults().script(FaultRule::on("list", page_body(later, 3, 5)).nth(2));
        assert!(malformed_detail(aa.list().await).contains("metadata changed from 2 pages / 4 records to 3 / 5"));
        let no_username = json!([{"id": 1, "role": "staff"}]);
        sandbox.faults().script(FaultRule::on("list", page_body(no_username, 1, 1)));
        assert!(malformed_detail(aa.list().await).contains("users page 1, row 1: missing field `username`"));
        let odd_role = json!([{"id": 1, "username": "a@x.com", "role": "owner"}]);
        sandbox.faults().script(FaultRule::on("list", page_body(odd_role, 1, 1)));
        assert!(malformed_detail(aa.list().await).contains("role \"owner\""));
        let empty_middle = json!([]);
        sandbox.faults().script(FaultRule::on("list", page_body(empty_middle, 2, 4)));
        assert!(malformed_detail(aa.list().await).contains("no users, but total_pages is 2"));
    }

    #[tokio::test]
    async fn the_users_path_is_configurable() {
        let options = people(1).with_users_path("/v4/agency/users");
        let sandbox = AgencyAnalyticsSandbox::start(options.with_api_key(KEY)).await.unwrap();
        let mut settings = settings_for(&sandbox, KEY, 10);
        settings.users_path = "/v4/agency/users".into();
        let aa = AgencyAnalyticsConnector::new(settings).unwrap();
        assert_eq!(aa.list().await.unwrap().len(), 2);
        let v3 = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
        assert!(malformed_detail(v3.list().await).contains("users page 1: Not found"));
    }

    #[tokio::test]
    async fn the_auth_scheme_is_configurable() {
        let sandbox = AgencyAnalyticsSandbox::start(people(1).with_api_key(KEY).with_bearer_auth()).await.unwrap();
        let basic = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
        assert!(matches!(basic.list().await, Err(PlatformError::Auth { .. })), "Basic is refused here");
        let mut settings = settings_for(&sandbox, KEY, 10);
        settings.auth_scheme = AuthScheme::Bearer;
        let bearer = AgencyAnalyticsConnector::new(settings).unwrap();
        assert_eq!(bearer.list().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_email_credentials_value_and_the_error_pointer_are_configurable() {
        let sandbox = AgencyAnalyticsSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
        let mut settings = settings_for(&sandbox, KEY, 10);
        settings.email_credentials = EmailCredentials::Flag(true);
        settings.error_message_pointer = "/errors/0/detail".into();
        let aa = AgencyAnalyticsConnector::new(settings).unwrap();
        aa.create(&desired("b@agency.example", "staff")).await.unwrap();
        let sent = sandbox.writes().pop().unwrap().body.unwrap();
        assert_eq!(sent["email_credentials"], json!(true), "a JSON boolean, not the default \"true\"");
        assert!(sandbox.user_by_username("b@agency.example").unwrap().credentials_emailed);
        let p0 = account(&aa, "p0@agency.example").await;
        let other = json!({"errors": [{"detail": "last_name is too long"}]}).to_string();
        let fault = Fault::Status { code: 400, retry_after: None, body: other };
        sandbox.faults().script(FaultRule::on("update", fault.clone()));
        match aa.update(&p0, &[change("last_name", "X")]).await {
            Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "last_name is too long"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        let default = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
        sandbox.faults().script(FaultRule::on("update", fault));
        match default.update(&p0, &[change("last_name", "X")]).await {
            Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "HTTP 400"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn recreate_on_role_change_deletes_then_creates_with_the_new_role() {
        let (sandbox, mut aa) = start(people(1), 50).await;
        let p0 = account(&aa, "p0@agency.example").await;
        aa.settings.recreate_on_role_change = true;
        assert!((aa.traits().role_change)("staff", "client").is_ok(), "the diff may plan the move");
        aa.update(&p0, &[change(ROLE_FIELD, "client"), change("first_name", "Bo")]).await.unwrap();
        let writes: Vec<(String, String)> =
            sandbox.writes().iter().map(|w| (w.method.clone(), w.path.clone())).collect();
        assert_eq!(writes, [("DELETE".into(), format!("/v3/users/{}", p0.id)), ("POST".into(), "/v3/users".into())]);
        let now = sandbox.user_by_username("p0@agency.example").unwrap();
        assert_eq!((now.role.as_str(), now.first_name.as_str()), ("client", "Bo"));
        assert_ne!(now.id.to_string(), p0.id.as_str(), "a new user");
        aa.settings.allow_delete = false;
        assert!(AgencyAnalyticsConnector::new(aa.settings.clone()).is_err(), "re-creating needs allow_delete");
    }

    #[test]
    fn the_spec_checks_roles_and_options() {
        let role = |v: &str| (SPEC.role)(&serde_yaml::Value::String(v.into()), &serde_yaml::Mapping::new());
        assert_eq!(role("Client").unwrap().role, "client");
        assert!(role("owner").unwrap_err().contains("admin, staff, client"));
        let options = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
        assert!(options("{ users_path: /v3/users, allow_delete: true }").is_empty());
        assert_eq!(options("{ users_path: v3/users }")[0].0, "users_path");
        assert!(options("{ allow_deletes: true }")[0].1.contains("unknown field"));
        let all = "{ allow_delete: true, recreate_on_role_change: true, auth_scheme: bearer, email_credentials: 1, error_message_pointer: /message }";
        assert!(options(all).is_empty(), "{:?}", options(all));
        assert_eq!(options("{ recreate_on_role_change: true }")[0].0, "recreate_on_role_change");
        assert_eq!(options("{ error_message_pointer: message }")[0].0, "error_message_pointer");
        assert_eq!(options("{ auth_scheme: digest }")[0].0, "auth_scheme");
    }

    /// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
    #[tokio::test]
    async fn the_api_key_appears_in_no_error_and_no_debug_output() {
        let (sandbox, aa) = start(people(2), 1).await;
        let p0 = account(&aa, "p0@agency.example").await;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        errors.push(aa.list().await.unwrap_err());
        let echo = json!({"error": {"message": format!("bad request from {KEY}")}}).to_string();
        faults.script(FaultRule::on("update", Fault::Status { code: 400, retry_after: None, body: echo }));
        errors.push(aa.update(&p0, &[change("last_name", "X")]).await.unwrap_err());
        faults.script(FaultRule::on("delete", Fault::status(503)).always());
        errors.push(aa.deactivate(&p0).await.unwrap_err());
        faults.clear();
        errors.push(aa.create(&desired("x@agency.example", "nope")).await.unwrap_err());
        let wrong = AgencyAnalyticsConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
        errors.push(wrong.list().await.unwrap_err());
        let settings = settings_for(&sandbox, KEY, 1);
        sandbox.shutdown().await;
        errors.push(aa.list().await.unwrap_err());
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for text in errors.iter().flat_map(|e| [e.to_string(), format!("{e:?}")]) {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{aa:?}"), format!("{aa:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }
}
