//! The Affise connector: admin users over `/3.0` form calls, permissions over `/3.1` JSON.
//!
//! Affise's dialect, per `platforms/affise.md`: the key travels in the `API-Key` header, user
//! calls take form bodies (arrays as `roles[0]=...`), success is `"status": 1` and failure an
//! HTTP 4xx/5xx with `{"status":2,"message":...}`. Roles are a fixed set; rosterd compares a
//! user's roles as one value, the sorted comma-joined list. Affise has no disable flag and no
//! delete: access is removed by a three-step lock-out (every permission denied, the user's
//! API key rotated, the password scrambled) that the listing cannot show, so the status comes
//! from rosterd's links. Reactivation restores the permissions config maps to the person's
//! role (kind option `permissions`) and sends no password: the person resets it.
//!
//! Kind options (all optional):
//! - `permissions`: role → permissions object (`section: { permission: { level: read } }`),
//!   POSTed on reactivation. The role key is a role value as a comma-separated list of
//!   `ROLE_` strings in any order (`"ROLE_MANAGER_AFFILIATE, ROLE_SECTION_STATS"`); it is
//!   matched against the person's whole role value, never merged from single roles.
//! - `permissions_read_path` (default `/3.0/admin/user/{id}`) and `permissions_field` (default
//!   `user.permissions`): where a user's permissions are read from. The contract infers they
//!   come with "Read one"; both stay overridable.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::http::{snippet, Answer, PlatformHttp, RetryPolicy};
use super::kind::{self, RoleValue};
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// Affise's largest `limit`.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The fixed role set (there is no listing endpoint).
pub const ROLES: [&str; 12] = [
    "ROLE_ADMIN",
    "ROLE_MANAGER_AFFILIATE",
    "ROLE_MANAGER_SALES",
    "ROLE_SECTION_OFFER",
    "ROLE_SECTION_SUPPLIER",
    "ROLE_SECTION_DASHBOARD",
    "ROLE_SECTION_NEWS",
    "ROLE_SECTION_CATEGORY",
    "ROLE_SECTION_PARTNER",
    "ROLE_SECTION_TICKET",
    "ROLE_SECTION_AUTOMATION",
    "ROLE_SECTION_STATS",
];
/// Permission levels Affise knows.
pub const LEVELS: [&str; 3] = ["deny", "read", "write"];
/// Fields that every create needs.
const NAME_FIELDS: [&str; 3] = ["first_name", "last_name", "email"];
/// Every field rosterd may write, by Affise's own names.
const FIELDS: [&str; 6] = ["first_name", "last_name", "email", "skype", "work_hours", "type"];
/// Fields that may be cleared (sent empty).
const CLEARABLE: [&str; 2] = ["skype", "work_hours"];
const DEFAULT_READ_PATH: &str = "/3.0/admin/user/{id}";
const DEFAULT_PERMISSIONS_FIELD: &str = "user.permissions";

/// A user's permissions: section → permission → `{"level": ..., ...}`.
pub type Permissions = Map<String, Value>;

// ---- Roles.

/// Role strings as the value the diff compares: known, de-duplicated, sorted, comma-joined.
/// Case is forgiven; an unknown string is an error naming it and the valid ones.
pub fn canonical_roles<'a>(roles: impl IntoIterator<Item = &'a str>) -> Result<String, String> {
    let mut set = BTreeSet::new();
    for raw in roles.into_iter().map(str::trim).filter(|r| !r.is_empty()) {
        match ROLES.iter().find(|k| k.eq_ignore_ascii_case(raw)) {
            Some(known) => set.insert(*known),
            None => return Err(format!("unknown Affise role {raw:?} (valid: {})", ROLES.join(", "))),
        };
    }
    if set.is_empty() {
        return Err(format!("needs at least one Affise role (valid: {})", ROLES.join(", ")));
    }
    Ok(set.into_iter().collect::<Vec<_>>().join(","))
}

/// A role value written as one string: a comma-separated list.
fn canonical_value(value: &str) -> Result<String, String> {
    canonical_roles(value.split(','))
}

/// A role rule's `role`: a list of `ROLE_` strings, or one string.
fn role_value(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    if let Some(k) = extra.keys().next() {
        return Err(format!("unknown key {:?} in a role rule (known: when, role)", k.as_str().unwrap_or("?")));
    }
    let role = match value {
        serde_yaml::Value::String(s) => canonical_value(s)?,
        serde_yaml::Value::Sequence(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(serde_yaml::Value::as_str).collect();
            let strings = strings.ok_or("must be a list of Affise role strings")?;
            canonical_roles(strings)?
        }
        _ => return Err("must be a list of Affise roles (ROLE_...) or one role string".into()),
    };
    Ok(RoleValue { role, fields: BTreeMap::new() })
}

// ---- Options.

/// The kind's own settings, as config writes them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AffiseOptions {
    #[serde(default)]
    permissions: BTreeMap<String, Permissions>,
    #[serde(default)]
    permissions_read_path: Option<String>,
    #[serde(default)]
    permissions_field: Option<String>,
}

/// Problems of a permissions object, each as (key path under it, message).
fn permission_problems(permissions: &Permissions) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (section, entries) in permissions {
        let Some(entries) = entries.as_object() else {
            problems.push((section.clone(), "must be a mapping of permission → { level: ... }".into()));
            continue;
        };
        for (name, entry) in entries {
            if !entry["level"].as_str().is_some_and(|l| LEVELS.contains(&l)) {
                problems.push((format!("{section}.{name}.level"), format!("must be one of {}", LEVELS.join(", "))));
            }
        }
    }
    problems
}

impl AffiseOptions {
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for (key, permissions) in &self.permissions {
            let at = format!("permissions.{key}");
            match canonical_value(key) {
                Ok(role) if !seen.insert(role.clone()) => {
                    problems.push((at.clone(), format!("role {role} is configured twice")))
                }
                Ok(_) => {}
                Err(e) => problems.push((at.clone(), e)),
            }
            problems.extend(permission_problems(permissions).into_iter().map(|(k, m)| (format!("{at}.{k}"), m)));
        }
        if let Some(path) = self.permissions_read_path.as_deref() {
            if !path.starts_with('/') || !path.contains("{id}") || path.contains('?') {
                problems.push(("permissions_read_path".into(), "must be a path starting with / holding {id}".into()));
            }
        }
        if self.permissions_field.as_deref().is_some_and(|f| f.split('.').any(str::is_empty)) {
            problems.push(("permissions_field".into(), "must be a dotted field path like user.permissions".into()));
        }
        problems
    }

    /// The permissions by canonical role value.
    fn permissions_by_role(&self) -> Result<BTreeMap<String, Permissions>, String> {
        let by_role = self.permissions.iter().map(|(k, p)| Ok((canonical_value(k)?, p.clone())));
        by_role.collect()
    }
}

fn check_options(options: &serde_yaml::Mapping) -> Vec<(String, String)> {
    match kind::options::<AffiseOptions>(options) {
        Ok(o) => o.problems(),
        Err(problem) => vec![problem],
    }
}

// ---- Passwords.

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const DIGITS: &[u8] = b"0123456789";
const SPECIAL: &[u8] = b"!#$%*+-=?@^_~";
/// Within Affise's 8–30, long enough for ~150 bits.
const PASSWORD_LENGTH: usize = 24;

/// A fresh password meeting the strictest published rule (8–30 characters with an upper-case
/// letter, a lower-case letter, a digit and a special character), from the OS's CSPRNG.
/// It is sent once and never stored, logged or returned anywhere else.
fn generate_password() -> SecretString {
    let mut rng = rand::rngs::OsRng;
    let classes = [UPPER, LOWER, DIGITS, SPECIAL];
    // One of each class first, so the rule always holds; the shuffle hides where they are.
    let mut chars: Vec<u8> = classes.iter().map(|c| c[rng.gen_range(0..c.len())]).collect();
    let all = classes.concat();
    while chars.len() < PASSWORD_LENGTH {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}

// ---- Settings.

/// How to reach one Affise tenant. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct AffiseSettings {
    /// The platform's name in config (`affise`, `affise-eu`, ...).
    pub name: String,
    /// The tenant's API URL, e.g. `https://api-acme.affise.com`; `/3.0/...` goes under it.
    pub base_url: Url,
    pub api_key: SecretString,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// Request budget: sustained requests per second, and the burst allowed after a lull.
    pub per_second: f64,
    pub burst: u32,
    /// `limit` of each listing page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// Canonical role value → the permissions restored on reactivation.
    pub permissions: BTreeMap<String, Permissions>,
    /// Where a user's permissions are read (`{id}` is the user's id) ...
    pub permissions_read_path: String,
    /// ... and the dotted field of that answer that holds them.
    pub permissions_field: String,
}

impl AffiseSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages of 500.
    pub fn new(name: &str, base_url: Url, api_key: SecretString) -> AffiseSettings {
        AffiseSettings {
            name: name.into(),
            base_url,
            api_key,
            timeout: Duration::from_secs(30),
            per_second: 5.0,
            burst: 5,
            page_size: MAX_PAGE_SIZE,
            permissions: BTreeMap::new(),
            permissions_read_path: DEFAULT_READ_PATH.into(),
            permissions_field: DEFAULT_PERMISSIONS_FIELD.into(),
        }
    }
}

// ---- What Affise sends. Unknown fields are ignored: `api_key` in user records is a secret
// and is never read into anything.

#[derive(Debug, Deserialize)]
struct UsersPage {
    /// Parsed one by one, so that an error names its row.
    users: Vec<Value>,
    pagination: Pagination,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    total_count: u64,
    #[serde(default)]
    page: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct WireUser {
    id: String,
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    skype: Option<String>,
    #[serde(default)]
    work_hours: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserAnswer {
    user: Value,
}

fn is_affise_id(id: &str) -> bool {
    id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// One user record as an [`Account`] (active: the listing cannot tell, see the module doc).
/// Roles outside the fixed set (sub-roles such as `ROLE_SECTION_STATS_COMMON`) are left out
/// of the compared value, since config cannot name them.
fn parse_user(value: &Value) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if !is_affise_id(&user.id) {
        return Err(format!("id {:?} is not 24 hex digits", user.id));
    }
    if user.email.trim().is_empty() {
        return Err(format!("user {} has an empty email", user.id));
    }
    let known = user.roles.iter().map(String::as_str).filter(|r| ROLES.contains(r));
    let role = canonical_roles(known).ok();
    let mut fields = BTreeMap::from([
        ("first_name".to_string(), user.first_name.unwrap_or_default()),
        ("last_name".to_string(), user.last_name.unwrap_or_default()),
        ("email".to_string(), user.email.clone()),
    ]);
    for (name, value) in [("type", user.kind), ("skype", user.skype), ("work_hours", user.work_hours)] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.insert(name.to_string(), v);
        }
    }
    Ok(Account { id: user.id, key: normalize_key(&user.email), fields, role, status: AccountStatus::Active })
}

/// Whether every permission level is `deny` (nothing granted).
pub fn all_denied(permissions: &Permissions) -> bool {
    let entries = permissions.values().filter_map(Value::as_object).flat_map(|e| e.values());
    entries.map(|e| e["level"].as_str()).all(|l| l == Some("deny"))
}

/// The lock-out body: every permission the user has, at `deny`.
fn deny_all(permissions: &Permissions) -> Permissions {
    let section = |entries: &Value| -> Value {
        let names = entries.as_object().into_iter().flat_map(|e| e.keys());
        Value::Object(names.map(|n| (n.clone(), json!({"level": "deny"}))).collect())
    };
    permissions.iter().map(|(s, entries)| (s.clone(), section(entries))).collect()
}

fn page_label(page: u64) -> String {
    format!("users page {page}")
}

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    ids: HashSet<String>,
    total: Option<u64>,
}

impl Listing {
    /// Take one page; whether another page must be read.
    fn add_page(&mut self, page: u64, limit: u64, answer: UsersPage) -> Result<bool, String> {
        let label = page_label(page);
        let total = answer.pagination.total_count;
        if let Some(before) = self.total.filter(|t| *t != total) {
            return Err(format!("{label}: total_count changed from {before} to {total} while paging"));
        }
        self.total = Some(total);
        if let Some(other) = answer.pagination.page.filter(|p| *p != page) {
            return Err(format!("{label}: the answer is page {other}"));
        }
        let rows = answer.users.len() as u64;
        if rows > limit {
            return Err(format!("{label}: {rows} users, more than the limit of {limit}"));
        }
        self.take_rows(page, &answer.users)?;
        let read = self.accounts.len() as u64;
        if read >= total {
            return Ok(false);
        }
        // Paging is by page number: a short page cannot be made up by asking again.
        match rows == limit {
            true => Ok(true),
            false => Err(format!("{label}: {rows} users where {limit} were due; {read} of total_count {total} read")),
        }
    }

    /// Parse a page's rows, each id at most once across the whole listing.
    fn take_rows(&mut self, page: u64, users: &[Value]) -> Result<(), String> {
        let label = page_label(page);
        for (row, value) in users.iter().enumerate() {
            let account = parse_user(value).map_err(|e| format!("{label}, row {}: {e}", row + 1))?;
            if !self.ids.insert(account.id.clone()) {
                return Err(format!("{label}: user {} listed twice", account.id));
            }
            self.accounts.push(account);
        }
        Ok(())
    }

    /// The accounts, if their number is the one Affise announced.
    fn finish(self) -> Result<Vec<Account>, String> {
        let total = self.total.unwrap_or(0);
        match self.accounts.len() as u64 == total {
            true => Ok(self.accounts),
            false => Err(format!("the listing holds {} users but total_count is {total}", self.accounts.len())),
        }
    }
}

/// A user as "Read one" shows it: the account (inactive when every permission is denied,
/// which is how a locked-out user reads) and its permissions.
#[derive(Debug, Clone, PartialEq)]
pub struct AffiseUserRecord {
    pub account: Account,
    pub permissions: Permissions,
}

impl AffiseUserRecord {
    pub fn all_denied(&self) -> bool {
        all_denied(&self.permissions)
    }
}

/// A form body. Never formatted: it may hold a password.
type Form = Vec<(String, String)>;

/// The Affise connector for one tenant.
#[derive(Debug)]
pub struct AffiseConnector {
    settings: AffiseSettings,
    http: PlatformHttp,
}

impl AffiseConnector {
    pub fn new(settings: AffiseSettings) -> Result<AffiseConnector, PlatformError> {
        let refuse = |message: String| Err(PlatformError::Unsupported { platform: settings.name.clone(), message });
        if !matches!(settings.base_url.scheme(), "http" | "https") || settings.base_url.cannot_be_a_base() {
            return refuse("base_url must be an http or https URL".into());
        }
        if settings.base_url.query().is_some() {
            return refuse("base_url must not carry a query string; the key goes in api_key_file/env".into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&settings.page_size) {
            return refuse(format!("page_size must be between 1 and {MAX_PAGE_SIZE}"));
        }
        if settings.api_key.expose_secret().trim().is_empty() {
            return refuse("the api key is empty".into());
        }
        if !settings.permissions_read_path.contains("{id}") {
            return refuse("permissions_read_path must hold {id}".into());
        }
        let http = PlatformHttp::new(&settings.name, settings.timeout, settings.per_second, settings.burst)?;
        Ok(AffiseConnector { settings, http })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> AffiseConnector {
        self.http.retry = policy;
        self
    }

    /// One user with its permissions; the account reads inactive when every level is `deny`.
    pub async fn read_one(&self, id: &str) -> Result<AffiseUserRecord, PlatformError> {
        let value = self.get("read one", &self.user_url(id, &[])?, &[]).await?;
        let answer = UserAnswer::deserialize(&value).map_err(|e| self.malformed("read one", e.to_string()))?;
        let mut account = parse_user(&answer.user).map_err(|e| self.malformed("read one", e))?;
        let permissions = match self.settings.permissions_read_path == DEFAULT_READ_PATH {
            true => self.permissions_in("read one", &value)?,
            false => self.read_permissions(id).await?,
        };
        if all_denied(&permissions) {
            account.status = AccountStatus::Inactive;
        }
        Ok(AffiseUserRecord { account, permissions })
    }

    // ---- Errors. Messages pass through `redact`: Affise could echo a secret back.

    fn redact(&self, text: &str, also: Option<&SecretString>) -> String {
        let mut out = text.to_string();
        for secret in [Some(&self.settings.api_key), also].into_iter().flatten() {
            let s = secret.expose_secret();
            if !s.is_empty() {
                out = out.replace(s, "[redacted]");
            }
        }
        out
    }

    /// An error with `secret` removed from its message, for calls that carried one.
    fn scrub(&self, e: PlatformError, secret: &SecretString) -> PlatformError {
        let clean = |s: String| self.redact(&s, Some(secret));
        match e {
            PlatformError::Status { platform, operation, status, message } => {
                PlatformError::Status { platform, operation, status, message: clean(message) }
            }
            PlatformError::Auth { platform, operation, message } => {
                PlatformError::Auth { platform, operation, message: clean(message) }
            }
            PlatformError::Rejected { platform, operation, message } => {
                PlatformError::Rejected { platform, operation, message: clean(message) }
            }
            PlatformError::Malformed { platform, operation, detail } => {
                PlatformError::Malformed { platform, operation, detail: clean(detail) }
            }
            other => other,
        }
    }

    fn malformed(&self, operation: &str, detail: String) -> PlatformError {
        PlatformError::Malformed {
            platform: self.settings.name.clone(),
            operation: operation.into(),
            detail: self.redact(&detail, None),
        }
    }

    fn unsupported(&self, message: String) -> PlatformError {
        PlatformError::Unsupported { platform: self.settings.name.clone(), message: self.redact(&message, None) }
    }

    /// A body for an error message: JSON is never quoted, since a cut-short user record
    /// would carry its `api_key`; anything else (a proxy's page) is.
    fn body_hint(body: &[u8]) -> String {
        match serde_json::from_slice::<Value>(body) {
            Err(e) if body.trim_ascii_start().starts_with(b"{") || body.trim_ascii_start().starts_with(b"[") => {
                format!("cut-short or invalid JSON ({} bytes; {e})", body.len())
            }
            Ok(_) => format!("a JSON body ({} bytes) that is not an Affise answer", body.len()),
            Err(_) => snippet(body),
        }
    }

    /// The success body of an answer, or the error Affise meant by it.
    fn interpret(&self, operation: &str, answer: Answer) -> Result<Value, PlatformError> {
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let message = parsed.as_ref().and_then(|v| v["message"].as_str()).map(|m| self.redact(m, None));
        let failure_body = parsed.as_ref().is_some_and(|v| v["status"] == json!(2));
        let (platform, operation, status) = (self.settings.name.clone(), operation.to_string(), answer.status.as_u16());
        if status == 401 || status == 403 {
            let message = message.unwrap_or_else(|| format!("HTTP {status}"));
            return Err(PlatformError::Auth { platform, operation, message });
        }
        let transient = status == 408 || status == 429 || status >= 500;
        match (answer.status.is_success(), failure_body, transient) {
            (false, true, false) => {
                let message = message.unwrap_or_else(|| format!("HTTP {status} without a message"));
                Err(PlatformError::Rejected { platform, operation, message })
            }
            (false, _, _) => {
                let message = message.unwrap_or_else(|| self.redact(&Self::body_hint(&answer.body), None));
                Err(PlatformError::Status { platform, operation, status, message })
            }
            (true, _, _) => self.success_body(&operation, parsed, &answer.body, message),
        }
    }

    /// A 2xx answer: `"status": 1`, else what it says.
    fn success_body(
        &self,
        operation: &str,
        parsed: Option<Value>,
        body: &[u8],
        message: Option<String>,
    ) -> Result<Value, PlatformError> {
        let Some(value) = parsed.filter(|v| v.get("status").is_some()) else {
            return Err(self.malformed(operation, format!("not an Affise answer: {}", Self::body_hint(body))));
        };
        match value["status"].as_i64() {
            Some(1) => Ok(value),
            Some(2) => Err(PlatformError::Rejected {
                platform: self.settings.name.clone(),
                operation: operation.into(),
                message: message.unwrap_or_else(|| "status 2 without a message".into()),
            }),
            _ => Err(self.malformed(operation, format!("status {} is neither 1 nor 2", value["status"]))),
        }
    }

    // ---- Requests. The key travels in a header and is never formatted anywhere.

    fn url(&self, segments: &[&str]) -> Result<Url, PlatformError> {
        let mut url = self.settings.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        match url.path_segments_mut() {
            // Push segments rather than `join`, so a base with a path prefix keeps it.
            Ok(mut path) => {
                path.pop_if_empty().extend(segments);
            }
            Err(()) => return Err(self.unsupported("base_url cannot have paths under it".into())),
        }
        Ok(url)
    }

    /// `/3.0/admin/user/{id}` plus `tail`; the id is checked so it can never alter the path.
    fn user_url(&self, id: &str, tail: &[&str]) -> Result<Url, PlatformError> {
        let id = self.checked_id(id)?;
        let segments: Vec<&str> = ["3.0", "admin", "user", id].into_iter().chain(tail.iter().copied()).collect();
        self.url(&segments)
    }

    fn checked_id<'a>(&self, id: &'a str) -> Result<&'a str, PlatformError> {
        match is_affise_id(id) {
            true => Ok(id),
            false => Err(self.unsupported(format!("account id {id:?} is not a 24-hex Affise user id"))),
        }
    }

    async fn get(&self, operation: &str, url: &Url, query: &[(&str, String)]) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.get(url.clone()).header("API-Key", key).query(query);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    async fn post_form(&self, operation: &str, url: &Url, form: &Form) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.post(url.clone()).header("API-Key", key).form(form);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    async fn post_json(&self, operation: &str, url: &Url, body: &Value) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.post(url.clone()).header("API-Key", key).json(body);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer)
    }

    // ---- Listing.

    async fn fetch_page(&self, page: u64) -> Result<UsersPage, PlatformError> {
        let query = [("page", page.to_string()), ("limit", self.settings.page_size.to_string())];
        let label = page_label(page);
        let url = self.url(&["3.0", "admin", "users"])?;
        let value = match self.get("list", &url, &query).await {
            Ok(value) => value,
            // A listing that Affise refused is unreadable, never "no users".
            Err(PlatformError::Rejected { message, .. }) => {
                return Err(self.malformed("list", format!("{label}: {message}")))
            }
            Err(PlatformError::Malformed { detail, .. }) => {
                return Err(self.malformed("list", format!("{label}: {detail}")))
            }
            Err(other) => return Err(other),
        };
        UsersPage::deserialize(&value).map_err(|e| self.malformed("list", format!("{label}: {e}")))
    }

    // ---- Writes.

    /// The form fields for a list of changes: only those, by Affise's names.
    fn change_form(&self, account: &Account, changes: &[FieldChange]) -> Result<Form, PlatformError> {
        let mut form = Form::new();
        for change in changes {
            let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let field = change.field.as_str();
            let cannot =
                |what: String| self.unsupported(format!("cannot {what} of {} (id {})", account.key, account.id));
            match (field, after) {
                (ROLE_FIELD, Some(role)) => push_roles(&mut form, &canonical_value(role).map_err(&cannot)?),
                (f, Some(v)) if FIELDS.contains(&f) => form.push((f.to_string(), v.to_string())),
                (f, None) if CLEARABLE.contains(&f) => form.push((f.to_string(), String::new())),
                (f, None) if FIELDS.contains(&f) || f == ROLE_FIELD => return Err(cannot(format!("clear {f}"))),
                (f, _) => return Err(cannot(format!("change {f:?}: Affise users have no such field"))),
            }
        }
        Ok(form)
    }

    /// Edit: `POST /3.0/admin/user/{id}` with only the changed fields.
    async fn edit(&self, operation: &str, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        let form = self.change_form(account, changes)?;
        if form.is_empty() {
            return Ok(());
        }
        let value = self.post_form(operation, &self.user_url(&account.id, &[])?, &form).await?;
        let answered = value["user"]["id"].as_str();
        match answered {
            Some(other) if other != account.id => {
                Err(self.malformed(operation, format!("edited user {}, the answer is about {other}", account.id)))
            }
            _ => Ok(()),
        }
    }

    /// A user's permissions, from where config says they are.
    async fn read_permissions(&self, id: &str) -> Result<Permissions, PlatformError> {
        let operation = "read permissions";
        let id = self.checked_id(id)?;
        let path = self.settings.permissions_read_path.replace("{id}", id);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let value = self.get(operation, &self.url(&segments)?, &[]).await?;
        self.permissions_in(operation, &value)
    }

    /// The permissions object at `permissions_field` of an answer, each entry with a level.
    fn permissions_in(&self, operation: &str, value: &Value) -> Result<Permissions, PlatformError> {
        let field = &self.settings.permissions_field;
        let found = field.split('.').try_fold(value, |v, name| v.get(name)).and_then(Value::as_object);
        let Some(permissions) = found else {
            let detail = format!("no permissions object at {field}; set the permissions_field option");
            return Err(self.malformed(operation, detail));
        };
        if let Some((at, message)) = permission_problems(permissions).into_iter().next() {
            return Err(self.malformed(operation, format!("permission {at}: {message}")));
        }
        Ok(permissions.clone())
    }

    async fn write_permissions(
        &self,
        operation: &str,
        id: &str,
        permissions: Permissions,
    ) -> Result<(), PlatformError> {
        let url = self.url(&["3.1", "user", self.checked_id(id)?, "permissions"])?;
        self.post_json(operation, &url, &json!({ "permissions": permissions })).await.map(|_| ())
    }

    /// The permissions config grants `role`, or why reactivation cannot proceed.
    fn granted(&self, account: &Account, role: Option<&str>) -> Result<Permissions, PlatformError> {
        let Some(role) = role else {
            let message = format!("cannot reactivate {} (id {}): no role is mapped for it", account.key, account.id);
            return Err(self.unsupported(message));
        };
        let role = canonical_value(role).map_err(|e| self.unsupported(e))?;
        self.settings.permissions.get(&role).cloned().ok_or_else(|| {
            self.unsupported(format!(
                "cannot reactivate {} (id {}): no permissions configured for role {role}; set the platform's \
                 `permissions` option key \"{role}\" (section → permission → level)",
                account.key, account.id
            ))
        })
    }
}

fn push_roles(form: &mut Form, canonical: &str) {
    for (i, role) in canonical.split(',').enumerate() {
        form.push((format!("roles[{i}]"), role.to_string()));
    }
}

#[async_trait]
impl Connector for AffiseConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// The listing cannot show a lock-out: rosterd's links hold the status.
    fn traits(&self) -> Traits {
        Traits { can_reactivate: true, status_from_links: true, ..Traits::new("email") }
    }

    async fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let limit = u64::from(self.settings.page_size);
        let mut listing = Listing::default();
        let mut page = 1;
        while listing.add_page(page, limit, self.fetch_page(page).await?).map_err(|d| self.malformed("list", d))? {
            page += 1;
        }
        let accounts = listing.finish().map_err(|detail| self.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), "listed users");
        Ok(accounts)
    }

    /// A generated password is sent once and forgotten: people sign in by SSO or reset it.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let Some(role) = desired.role.as_deref() else {
            return Err(
                self.unsupported(format!("Affise needs roles for every user, none was mapped for {}", desired.label))
            );
        };
        let mut form = Form::new();
        for field in NAME_FIELDS {
            let value = desired.fields.get(field).map(|v| v.trim()).filter(|v| !v.is_empty());
            // The match key is the email, so it stands in when the mapping left the field out.
            let value = value.or((field == "email").then_some(desired.key.as_str()).filter(|k| !k.is_empty()));
            let value = value
                .ok_or_else(|| self.unsupported(format!("{} has no {field}, which Affise requires", desired.label)))?;
            form.push((field.into(), value.into()));
        }
        for (field, value) in desired.fields.iter().filter(|(f, v)| !NAME_FIELDS.contains(&f.as_str()) && !v.is_empty())
        {
            if !FIELDS.contains(&field.as_str()) {
                return Err(self.unsupported(format!("Affise users have no field {field:?}")));
            }
            form.push((field.clone(), value.clone()));
        }
        push_roles(&mut form, &canonical_value(role).map_err(|e| self.unsupported(e))?);
        let password = generate_password();
        form.push(("password".into(), password.expose_secret().to_string()));
        let url = self.url(&["3.0", "admin", "user"])?;
        let outcome = self.post_form("create", &url, &form).await;
        drop(form);
        let value = outcome.map_err(|e| self.scrub(e, &password))?;
        let answer = UserAnswer::deserialize(&value).map_err(|e| self.malformed("create", e.to_string()))?;
        parse_user(&answer.user).map_err(|e| self.malformed("create", format!("the created user: {e}")))
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        self.edit("update", account, changes).await
    }

    /// The lock-out, in the contract's order; each step is retried on its own, and a step
    /// that fails stops the rest (the next run starts again from step 1).
    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        let id = self.checked_id(&account.id)?;
        let denied = deny_all(&self.read_permissions(id).await?);
        if !denied.is_empty() {
            self.write_permissions("lock-out 1/3 (deny every permission)", id, denied).await?;
        }
        // The answer carries the user's new key: it is dropped unread.
        let rotate = self.url(&["3.0", "admin", "user", "api_key", id])?;
        self.post_form("lock-out 2/3 (rotate the API key)", &rotate, &Form::new()).await?;
        let password = generate_password();
        let form = vec![("password".to_string(), password.expose_secret().to_string())];
        let outcome =
            self.post_form("lock-out 3/3 (scramble the password)", &self.user_url(id, &["password"])?, &form).await;
        outcome.map(|_| ()).map_err(|e| self.scrub(e, &password))
    }

    /// Field changes first (a new role may reset permissions), then the permissions the
    /// person's role grants; no password is sent.
    async fn reactivate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        let changes: Vec<FieldChange> = changes.iter().filter(|c| c.field != "status").cloned().collect();
        let new_role = changes.iter().find(|c| c.field == ROLE_FIELD).and_then(|c| c.after.as_deref());
        let permissions = self.granted(account, new_role.or(account.role.as_deref()))?;
        self.edit("reactivate", account, &changes).await?;
        self.write_permissions("reactivate (restore permissions)", &account.id, permissions).await
    }

    /// Role strings are checked when config is read (the set is fixed).
    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }
}

/// What config needs to know about Affise.
pub const SPEC: kind::KindSpec = kind::KindSpec {
    kind: "affise",
    vendor: "Affise",
    default_base_url: None,
    default_fields: &[("first_name", "{name.givenName}"), ("last_name", "{name.familyName}"), ("email", "{email}")],
    fields_allowed: &FIELDS,
    default_match_key: "{email}",
    option_keys: &["permissions", "permissions_read_path", "permissions_field"],
    check_options,
    role: role_value,
    build: build_from_config,
};

fn build_from_config(p: &crate::config::PlatformConfig) -> Result<Box<dyn Connector>, PlatformError> {
    let unsupported = |message: String| PlatformError::Unsupported { platform: p.name.clone(), message };
    let options: AffiseOptions =
        kind::options(&p.options).map_err(|(key, message)| unsupported(format!("option {key}: {message}")))?;
    let mut settings = AffiseSettings::new(&p.name, p.base_url.clone(), p.api_key.clone());
    settings.timeout = p.timeout;
    settings.per_second = p.per_second;
    settings.burst = p.burst;
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    settings.permissions = options.permissions_by_role().map_err(unsupported)?;
    if let Some(path) = options.permissions_read_path {
        settings.permissions_read_path = path;
    }
    if let Some(field) = options.permissions_field {
        settings.permissions_field = field;
    }
    Ok(Box::new(AffiseConnector::new(settings)?))
}
