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
//! - `incremental: { enabled: true, full_read_every: 12 }`: list only the users changed since
//!   the day before the last listing (`updated_at`, a day: the day before covers time zones)
//!   and merge them into the cached listing, with a full listing every `full_read_every`
//!   listings. A user deleted in Affise's UI stays in the cache until the next full listing.

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use async_trait::async_trait;
use compact_str::CompactString;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::kind::{self, RoleValue};
use super::redact::Redactor;
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str = "the key must be the API key of a General manager, sent in the API-Key header";
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
    #[serde(default)]
    incremental: Option<IncrementalOption>,
}

/// `incremental:` of an Affise platform.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncrementalOption {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    full_read_every: Option<u32>,
}

/// Listings between full ones when `incremental.full_read_every` is not set.
pub const DEFAULT_FULL_READ_EVERY: u32 = 12;

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
        if self.incremental.as_ref().is_some_and(|i| i.full_read_every == Some(0)) {
            problems
                .push(("incremental.full_read_every".into(), "must be at least 1 (1 = every listing is full)".into()));
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
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// `limit` of each listing page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// Canonical role value → the permissions restored on reactivation.
    pub permissions: BTreeMap<String, Permissions>,
    /// Where a user's permissions are read (`{id}` is the user's id) ...
    pub permissions_read_path: String,
    /// ... and the dotted field of that answer that holds them.
    pub permissions_field: String,
    /// Incremental listings: a full listing every this many (`None`: always full).
    pub incremental: Option<u32>,
}

impl AffiseSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages of 500.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> AffiseSettings {
        AffiseSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            page_size: MAX_PAGE_SIZE,
            permissions: BTreeMap::new(),
            permissions_read_path: DEFAULT_READ_PATH.into(),
            permissions_field: DEFAULT_PERMISSIONS_FIELD.into(),
            incremental: None,
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
    /// The page size the server applied: below `limit` when it caps page sizes.
    #[serde(default)]
    per_page: Option<u64>,
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
    Ok(Account {
        id: user.id.into(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status: AccountStatus::Active,
    })
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
    ids: HashSet<CompactString>,
    total: Option<u64>,
    /// The page size the server pages by, as the first page announced it.
    per_page: Option<u64>,
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
        // Paging is by page number: a short page cannot be made up by asking again.
        let per_page = self.page_size(&label, limit, answer.pagination.per_page)?;
        let (rows, before) = (answer.users.len() as u64, self.accounts.len() as u64);
        let due = per_page.min(total.saturating_sub(before));
        if rows != due {
            return Err(format!("{label}: {rows} users where {due} were due ({before} of total_count {total} read)"));
        }
        self.take_rows(page, &answer.users)?;
        Ok((self.accounts.len() as u64) < total)
    }

    /// The page size pages are numbered by: the `limit` asked for, or the smaller
    /// `per_page` of a server that caps page sizes. It must hold for every page.
    fn page_size(&mut self, label: &str, limit: u64, announced: Option<u64>) -> Result<u64, String> {
        let per_page = announced.unwrap_or(limit);
        if per_page == 0 || per_page > limit {
            return Err(format!("{label}: per_page is {per_page}, where at most the limit of {limit} was asked for"));
        }
        if let Some(before) = self.per_page.filter(|p| *p != per_page) {
            return Err(format!("{label}: per_page changed from {before} to {per_page} while paging"));
        }
        self.per_page = Some(per_page);
        Ok(per_page)
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
        if !matches!(settings.connection.base_url.scheme(), "http" | "https")
            || settings.connection.base_url.cannot_be_a_base()
        {
            return refuse("base_url must be an http or https URL".into());
        }
        if settings.connection.base_url.query().is_some() {
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
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.api_key.clone());
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

    fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }

    /// The key's redactor, and also `secret`: for a call that carried a password.
    fn redactor_with(&self, secret: &SecretString) -> Redactor {
        self.http.redactor().clone().with(secret)
    }

    /// An error with `secret` removed from its message, for calls that carried one (its
    /// server text was already redacted with it; this covers the messages built here).
    fn scrub(&self, e: PlatformError, secret: &SecretString) -> PlatformError {
        let redactor = self.redactor_with(secret);
        let clean = |s: String| redactor.redact(&s);
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
            detail: self.redact(&detail),
        }
    }

    fn unsupported(&self, message: String) -> PlatformError {
        PlatformError::Unsupported { platform: self.settings.name.clone(), message: self.redact(&message) }
    }

    /// A body for an error message: JSON is never quoted, since a cut-short user record
    /// would carry its `api_key`; anything else (a proxy's page) is.
    fn body_hint(body: &[u8], redactor: &Redactor) -> String {
        match serde_json::from_slice::<Value>(body) {
            Err(e) if body.trim_ascii_start().starts_with(b"{") || body.trim_ascii_start().starts_with(b"[") => {
                format!("cut-short or invalid JSON ({} bytes; {e})", body.len())
            }
            Ok(_) => format!("a JSON body ({} bytes) that is not an Affise answer", body.len()),
            Err(_) => redactor.snippet(body),
        }
    }

    /// The success body of an answer, or the error Affise meant by it.
    /// Server text is redacted with `redactor`: the key's, plus any password the call carried.
    fn interpret(&self, operation: &str, answer: Answer, redactor: &Redactor) -> Result<Value, PlatformError> {
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let message = parsed.as_ref().and_then(|v| v["message"].as_str()).map(|m| redactor.redact(m));
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
                let message = message.unwrap_or_else(|| Self::body_hint(&answer.body, redactor));
                Err(PlatformError::Status { platform, operation, status, message })
            }
            (true, _, _) => self.success_body(&operation, parsed, &answer.body, message, redactor),
        }
    }

    /// A 2xx answer: `"status": 1`, else what it says.
    fn success_body(
        &self,
        operation: &str,
        parsed: Option<Value>,
        body: &[u8],
        message: Option<String>,
        redactor: &Redactor,
    ) -> Result<Value, PlatformError> {
        let Some(value) = parsed.filter(|v| v.get("status").is_some()) else {
            return Err(self.malformed(operation, format!("not an Affise answer: {}", Self::body_hint(body, redactor))));
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
        let mut url = self.settings.connection.base_url.clone();
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
        self.interpret(operation, answer, self.http.redactor())
    }

    async fn post_form(&self, operation: &str, url: &Url, form: &Form) -> Result<Value, PlatformError> {
        self.post_form_with(operation, url, form, self.http.redactor()).await
    }

    /// [`Self::post_form`] for a form carrying a secret of its own, which `redactor` holds.
    async fn post_form_with(
        &self,
        operation: &str,
        url: &Url,
        form: &Form,
        redactor: &Redactor,
    ) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.post(url.clone()).header("API-Key", key).form(form);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer, redactor)
    }

    async fn post_json(&self, operation: &str, url: &Url, body: &Value) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let build = || self.http.client.post(url.clone()).header("API-Key", key).json(body);
        let answer = self.http.send(operation, build).await?;
        self.interpret(operation, answer, self.http.redactor())
    }

    // ---- Listing.

    async fn fetch_page(&self, page: u64, since: Option<chrono::NaiveDate>) -> Result<UsersPage, PlatformError> {
        let mut query = vec![("page", page.to_string()), ("limit", self.settings.page_size.to_string())];
        if let Some(day) = since {
            query.push(("updated_at", day.format("%Y-%m-%d").to_string()));
        }
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
            Err(other) => return Err(other.with_credentials_hint(CREDENTIALS_CHECK)),
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

    /// Every user (or those changed since a day), every page, checked to add up.
    async fn list_since(&self, since: Option<chrono::NaiveDate>) -> Result<Vec<Account>, PlatformError> {
        let limit = u64::from(self.settings.page_size);
        let mut listing = Listing::default();
        let mut page = 1;
        while listing
            .add_page(page, limit, self.fetch_page(page, since).await?)
            .map_err(|d| self.malformed("list", d))?
        {
            page += 1;
        }
        let accounts = listing.finish().map_err(|detail| self.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), ?since, "listed users");
        Ok(accounts)
    }

    /// `GET /3.0/admin/users?q=<email>`: the user with this email, if any. `q` is a
    /// free-text search, so every page of its answer is read and matched on the email.
    async fn find_by_email(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let (wanted, url) = (normalize_key(key), self.url(&["3.0", "admin", "users"])?);
        let mut found = Vec::new();
        let (mut page, mut seen) = (1u64, 0u64);
        loop {
            let query = [("page", page.to_string()), ("limit", MAX_PAGE_SIZE.to_string()), ("q", key.to_string())];
            let value = self.get("find", &url, &query).await?;
            let answer = UsersPage::deserialize(&value).map_err(|e| self.malformed("find", e.to_string()))?;
            seen += answer.users.len() as u64;
            for user in &answer.users {
                let account = parse_user(user).map_err(|e| self.malformed("find", e))?;
                if account.key == wanted {
                    found.push(account);
                }
            }
            if answer.users.is_empty() || seen >= answer.pagination.total_count {
                break;
            }
            page += 1;
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(self.malformed("find", format!("{n} users hold the email {key}"))),
        }
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
        self.list_since(None).await
    }

    fn incremental_listing(&self) -> Option<u32> {
        self.settings.incremental
    }

    async fn list_changed_since(&self, day: chrono::NaiveDate) -> Result<Vec<Account>, PlatformError> {
        self.list_since(Some(day)).await
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
            form.push((field.to_string(), value.to_string()));
        }
        push_roles(&mut form, &canonical_value(role).map_err(|e| self.unsupported(e))?);
        let password = generate_password();
        form.push(("password".into(), password.expose_secret().to_string()));
        let url = self.url(&["3.0", "admin", "user"])?;
        let outcome = self.post_form_with("create", &url, &form, &self.redactor_with(&password)).await;
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
        let (operation, url) = ("lock-out 3/3 (scramble the password)", self.user_url(id, &["password"])?);
        let outcome = self.post_form_with(operation, &url, &form, &self.redactor_with(&password)).await;
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
    /// "Read one" shows the permissions: every level `deny` reads as locked out.
    async fn read_status(&self, account: &Account) -> Result<Option<AccountStatus>, PlatformError> {
        Ok(Some(self.read_one(&account.id).await?.account.status))
    }

    /// The listing's `q` search, not a full listing: a lost create is found in one call.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        self.find_by_email(key).await
    }

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
    option_keys: &["permissions", "permissions_read_path", "permissions_field", "incremental"],
    check_options,
    role: role_value,
    extra_field: None,
    role_with_options: None,
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: AffiseOptions = p.options()?;
    let mut settings = AffiseSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    settings.permissions = options.permissions_by_role().map_err(|message| p.unsupported(message))?;
    if let Some(path) = options.permissions_read_path {
        settings.permissions_read_path = path;
    }
    if let Some(field) = options.permissions_field {
        settings.permissions_field = field;
    }
    settings.incremental =
        options.incremental.filter(|i| i.enabled).map(|i| i.full_read_every.unwrap_or(DEFAULT_FULL_READ_EVERY).max(1));
    Ok(Box::new(AffiseConnector::new(settings)?))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
    use crate::sandbox::faults::{Fault, FaultRule};
    use std::time::Duration;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const KEY: &str = "af-LEAKCHECK-93c1d7e5a2";
    const MANAGER: &str = "ROLE_MANAGER_AFFILIATE,ROLE_SECTION_STATS";

    /// What config grants a returning affiliate manager.
    fn manager_permissions() -> Permissions {
        let v = json!({"general": {"marketplace": {"level": "read"}},
                       "stats": {"clicks-list": {"level": "read"}, "conversions-export": {"level": "read"}},
                       "users": {"entity-affiliate": {"level": "write"}}});
        v.as_object().unwrap().clone()
    }

    fn settings_for(sandbox: &AffiseSandbox, key: &str, page_size: u32) -> AffiseSettings {
        let mut settings = AffiseSettings::new("affise", sandbox.base_url(), SecretString::from(key.to_string()));
        settings.connection.timeout = Duration::from_secs(5);
        settings.connection.per_second = 0.0;
        settings.page_size = page_size;
        settings.permissions = BTreeMap::from([(MANAGER.to_string(), manager_permissions())]);
        settings
    }

    async fn start(options: AffiseSandboxOptions, page_size: u32) -> (AffiseSandbox, AffiseConnector) {
        let sandbox = AffiseSandbox::start(options.with_api_key(KEY)).await.unwrap();
        let connector =
            AffiseConnector::new(settings_for(&sandbox, KEY, page_size)).unwrap().with_retry(RetryPolicy::quick());
        (sandbox, connector)
    }

    fn people(n: usize) -> AffiseSandboxOptions {
        let admin = AffiseUser::new("Api", "Owner", "api.owner@yournetwork.com", &["ROLE_ADMIN"]);
        (0..n).fold(AffiseSandboxOptions::default().with_user(admin), |options, i| {
            let roles = ["ROLE_SECTION_STATS", "ROLE_MANAGER_AFFILIATE"];
            options.with_user(AffiseUser::new("Given", &format!("Family{i}"), &format!("p{i}@yournetwork.com"), &roles))
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

    async fn account(connector: &AffiseConnector, email: &str) -> Account {
        connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(email)).unwrap()
    }

    fn routes(sandbox: &AffiseSandbox) -> Vec<&'static str> {
        sandbox.received().iter().map(|r| r.route).collect()
    }

    fn page_body(users: Value, total_count: u64, page: u64) -> Fault {
        let pagination = json!({"per_page": 2, "total_count": total_count, "page": page});
        let body = json!({"status": 1, "users": users, "pagination": pagination});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    fn failure(code: u16, message: &str) -> Fault {
        Fault::Status { code, retry_after: None, body: json!({"status": 2, "message": message}).to_string() }
    }

    fn malformed_detail(result: Result<Vec<Account>, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    /// The independent statement of the rule the generator must meet.
    fn meets_rule(p: &str) -> bool {
        (8..=30).contains(&p.len())
            && p.bytes().any(|b| b.is_ascii_uppercase())
            && p.bytes().any(|b| b.is_ascii_lowercase())
            && p.bytes().any(|b| b.is_ascii_digit())
            && p.bytes().any(|b| b.is_ascii_punctuation())
            && p.bytes().all(|b| b.is_ascii_graphic())
    }

    #[test]
    fn ten_thousand_generated_passwords_all_meet_the_rule_and_differ() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let password = generate_password();
            let p = password.expose_secret();
            assert!(meets_rule(p), "{p}");
            assert!(seen.insert(p.to_string()), "a repeated password");
        }
        assert!(format!("{:?}", generate_password()).contains("REDACTED"));
    }

    #[test]
    fn role_rules_take_a_list_or_a_string_and_refuse_unknown_roles() {
        let yaml = |s: &str| serde_yaml::from_str::<serde_yaml::Value>(s).unwrap();
        let none = serde_yaml::Mapping::new();
        let listed = role_value(&yaml("[ROLE_SECTION_STATS, role_manager_affiliate, ROLE_SECTION_STATS]"), &none);
        assert_eq!(listed.unwrap().role, MANAGER);
        assert_eq!(role_value(&yaml("ROLE_ADMIN"), &none).unwrap().role, "ROLE_ADMIN");
        let unknown = role_value(&yaml("[ROLE_ADMIN, ROLE_SUPERUSER]"), &none).unwrap_err();
        assert!(unknown.contains("\"ROLE_SUPERUSER\"") && unknown.contains("ROLE_SECTION_AUTOMATION"), "{unknown}");
        assert!(role_value(&yaml("[]"), &none).is_err());
        assert!(role_value(&yaml("{a: 1}"), &none).is_err());
        let extra: serde_yaml::Mapping = serde_yaml::from_str("campaigns: x").unwrap();
        assert!(role_value(&yaml("ROLE_ADMIN"), &extra).unwrap_err().contains("campaigns"));
    }

    #[test]
    fn options_are_checked_by_key() {
        let problems = |text: &str| check_options(&serde_yaml::from_str(text).unwrap());
        let good = "permissions: { 'ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE': { stats: { x: { level: read } } } }";
        assert!(problems(good).is_empty(), "{:?}", problems(good));
        let bad_role = problems("permissions: { ROLE_BOSS: { stats: {} } }");
        assert_eq!(bad_role[0].0, "permissions.ROLE_BOSS");
        let bad_level = problems("permissions: { ROLE_ADMIN: { stats: { clicks-list: { level: all } } } }");
        assert_eq!(bad_level[0].0, "permissions.ROLE_ADMIN.stats.clicks-list.level");
        let twice = problems("permissions: { 'ROLE_ADMIN': {}, 'role_admin': {} }");
        assert!(twice[0].1.contains("configured twice"));
        assert_eq!(problems("permissions_read_path: /3.0/admin/user")[0].0, "permissions_read_path");
        assert_eq!(problems("permissions_field: user..permissions")[0].0, "permissions_field");
        assert_eq!(problems("permission: {}")[0].1.split(',').next().unwrap(), "unknown field `permission`");
    }

    #[tokio::test]
    async fn listing_across_pages_returns_every_account_once_without_user_keys() {
        let (sandbox, affise) = start(people(6), 3).await;
        let accounts = affise.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
        let mut ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        ids.sort();
        assert_eq!(ids, sandbox.users().iter().map(|u| u.id.clone()).collect::<Vec<_>>());
        let pages: Vec<(String, String)> =
            sandbox.list_queries().iter().map(|q| (q["page"].clone(), q["limit"].clone())).collect();
        assert_eq!(pages, [("1".into(), "3".into()), ("2".into(), "3".into()), ("3".into(), "3".into())]);
        let p3 = accounts.iter().find(|a| a.key == "p3@yournetwork.com").unwrap();
        assert_eq!((p3.role.as_deref(), p3.fields["last_name"].as_str()), (Some(MANAGER), "Family3"));
        assert_eq!(p3.fields["type"], "affiliate_manager");
        let printed = format!("{accounts:?}{}", serde_json::to_string(&accounts).unwrap());
        for user in sandbox.users() {
            assert!(!printed.contains(&user.api_key), "a user's api_key was kept");
        }
    }

    #[tokio::test]
    async fn an_empty_tenant_lists_no_users() {
        let (_sandbox, affise) = start(AffiseSandboxOptions::default(), 10).await;
        assert!(affise.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn create_sends_the_required_fields_and_a_generated_password_once() {
        let (sandbox, affise) = start(people(1), 500).await;
        let mut wanted = desired("A.Chen@yournetwork.com", "ROLE_SECTION_STATS,ROLE_MANAGER_AFFILIATE");
        wanted.fields.insert("skype".into(), "achen".into());
        let created = affise.create(&wanted).await.unwrap();
        assert_eq!((created.key.as_str(), created.role.as_deref()), ("a.chen@yournetwork.com", Some(MANAGER)));
        let fields = sandbox.last_write_fields().unwrap();
        assert_eq!(fields, ["first_name", "last_name", "email", "skype", "roles[0]", "roles[1]", "password"]);
        let stored = sandbox.user_by_email("a.chen@yournetwork.com").unwrap();
        assert!(meets_rule(&stored.password), "the emulator got a rule-abiding password");
        assert_eq!(sandbox.received_passwords(), std::slice::from_ref(&stored.password));
        assert!(!format!("{created:?}{affise:?}").contains(&stored.password));
        assert_eq!(account(&affise, "a.chen@yournetwork.com").await, created);
    }

    #[tokio::test]
    async fn create_refuses_a_person_without_roles_or_names_before_sending() {
        let (sandbox, affise) = start(people(0), 500).await;
        let mut no_role = desired("x@yournetwork.com", MANAGER);
        no_role.role = None;
        let mut no_name = desired("y@yournetwork.com", MANAGER);
        no_name.fields.remove("last_name");
        for d in [no_role, no_name, desired("z@yournetwork.com", "ROLE_BOSS")] {
            assert!(matches!(affise.create(&d).await, Err(PlatformError::Unsupported { .. })));
        }
        assert_eq!(sandbox.write_calls(), 0);
    }

    #[tokio::test]
    async fn update_sends_only_the_changed_fields() {
        let (sandbox, affise) = start(people(2), 500).await;
        let p1 = account(&affise, "p1@yournetwork.com").await;
        affise.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name"]);
        affise
            .update(&p1, &[change(ROLE_FIELD, "ROLE_SECTION_OFFER,ROLE_ADMIN"), change("work_hours", "9-5")])
            .await
            .unwrap();
        assert_eq!(sandbox.last_write_fields().unwrap(), ["roles[0]", "roles[1]", "work_hours"]);
        let stored = sandbox.user_by_email("p1@yournetwork.com").unwrap();
        assert_eq!(stored.roles, ["ROLE_ADMIN", "ROLE_SECTION_OFFER"]);
        assert_eq!((stored.last_name.as_str(), stored.first_name.as_str()), ("Okafor", "Given"));
        let cleared = FieldChange { field: "work_hours".into(), before: Some("9-5".into()), after: None };
        affise.update(&p1, &[cleared]).await.unwrap();
        assert_eq!(sandbox.user_by_email("p1@yournetwork.com").unwrap().work_hours, None);
        let writes = sandbox.write_calls();
        affise.update(&p1, &[]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes, "nothing to change, nothing sent");
        for bad in
            [change("title", "Boss"), change("status", "inactive"), FieldChange { after: None, ..change("email", "") }]
        {
            assert!(matches!(affise.update(&p1, &[bad]).await, Err(PlatformError::Unsupported { .. })));
        }
        assert_eq!(sandbox.write_calls(), writes);
    }

    #[tokio::test]
    async fn the_lock_out_runs_its_three_steps_and_the_user_then_reads_as_inactive() {
        let (sandbox, affise) = start(people(1), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        let before = sandbox.user_by_email("p0@yournetwork.com").unwrap();
        assert!(!affise.read_one(&p0.id).await.unwrap().all_denied());
        let (reads, writes) = (sandbox.read_calls(), sandbox.write_calls());
        affise.deactivate(&p0).await.unwrap();
        assert_eq!((sandbox.read_calls() - reads, sandbox.write_calls() - writes), (1, 3));
        assert_eq!(routes(&sandbox), ["permissions", "api_key", "password"]);
        let after = sandbox.user_by_email("p0@yournetwork.com").unwrap();
        assert!(after.all_denied() && after.permissions["users"]["entity-affiliate"] == json!({"level": "deny"}));
        assert_ne!(after.api_key, before.api_key, "the user's key was rotated");
        assert!(meets_rule(&after.password) && after.password != before.password);
        let record = affise.read_one(&p0.id).await.unwrap();
        assert!(record.all_denied());
        assert_eq!(record.account.status, AccountStatus::Inactive, "a locked-out user reads as inactive");
        let traits = affise.traits();
        assert!(traits.status_from_links && traits.can_reactivate);
    }

    /// "Read one" carrying `permissions` is [inferred]: `permissions_field` moves it.
    #[tokio::test]
    async fn the_permissions_field_is_configurable() {
        let (sandbox, affise) = start(people(1), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        let denied = json!({"users": {"entity-affiliate": {"level": "deny"}}});
        let user = json!({"id": p0.id.as_str(), "email": "p0@yournetwork.com", "rights": denied});
        let body = json!({"status": 1, "user": user}).to_string();
        let answer = Fault::Status { code: 200, retry_after: None, body };
        sandbox.faults().script(FaultRule::on("read", answer.clone()));
        match affise.read_one(&p0.id).await {
            Err(PlatformError::Malformed { detail, .. }) => {
                assert!(detail.contains("no permissions object at user.permissions"))
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        let mut settings = settings_for(&sandbox, KEY, 500);
        settings.permissions_field = "user.rights".into();
        let moved = AffiseConnector::new(settings).unwrap();
        sandbox.faults().script(FaultRule::on("read", answer));
        let record = moved.read_one(&p0.id).await.unwrap();
        assert!(record.all_denied() && record.account.status == AccountStatus::Inactive);
    }

    #[tokio::test]
    async fn each_lock_out_step_is_retried_on_its_own_and_a_failed_step_stops_the_rest() {
        let (sandbox, affise) = start(people(2), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        sandbox.faults().script(FaultRule::on("api_key", Fault::status(503)));
        affise.deactivate(&p0).await.unwrap();
        let counts = |s: &AffiseSandbox| ["permissions", "api_key", "password"].map(|r| s.faults().count(r));
        assert_eq!(counts(&sandbox), [1, 2, 1], "only the failed step was sent again");
        let p1 = account(&affise, "p1@yournetwork.com").await;
        sandbox.faults().script(FaultRule::on("api_key", Fault::status(503)).always());
        match affise.deactivate(&p1).await {
            Err(PlatformError::Status { status: 503, operation, .. }) => {
                assert!(operation.contains("2/3"), "{operation}")
            }
            other => panic!("expected Status 503, got {other:?}"),
        }
        assert_eq!(counts(&sandbox), [2, 5, 1], "the password step never ran");
    }

    #[tokio::test]
    async fn reactivation_restores_the_mapped_roles_permissions_without_a_password() {
        let (sandbox, affise) = start(people(1), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        affise.deactivate(&p0).await.unwrap();
        let passwords = sandbox.received_passwords().len();
        let before = sandbox.received().len();
        affise.reactivate(&p0, &[change("first_name", "Back")]).await.unwrap();
        let new: Vec<_> = sandbox.received()[before..].iter().map(|r| (r.route, r.fields.clone())).collect();
        assert_eq!(new, [("update", vec!["first_name".to_string()]), ("permissions", vec!["permissions".to_string()])]);
        assert_eq!(sandbox.received_passwords().len(), passwords, "no password is sent");
        let record = affise.read_one(&p0.id).await.unwrap();
        assert_eq!(record.account.status, AccountStatus::Active);
        assert_eq!(record.account.fields["first_name"], "Back");
        for (section, entries) in manager_permissions() {
            for (name, entry) in entries.as_object().unwrap() {
                assert_eq!(record.permissions[&section][name]["level"], entry["level"], "{section}.{name}");
            }
        }
    }

    #[tokio::test]
    async fn reactivation_without_permissions_for_the_role_fails_naming_the_key() {
        let (sandbox, affise) = start(people(1), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        let writes = sandbox.write_calls();
        match affise.reactivate(&p0, &[change(ROLE_FIELD, "ROLE_MANAGER_SALES")]).await {
            Err(PlatformError::Unsupported { message, .. }) => {
                assert!(message.contains("`permissions` option key \"ROLE_MANAGER_SALES\""), "{message}")
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        assert_eq!(sandbox.write_calls(), writes, "nothing is sent before the permissions are known");
    }

    #[tokio::test]
    async fn a_duplicate_email_is_rejected_on_that_record_only() {
        let (sandbox, affise) = start(people(1), 500).await;
        let mut outcomes = Vec::new();
        for email in ["b@yournetwork.com", "P0@YourNetwork.com", "c@yournetwork.com"] {
            outcomes.push(affise.create(&desired(email, MANAGER)).await);
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
    async fn a_wrong_key_is_an_auth_error_and_an_unknown_id_a_rejection() {
        let (sandbox, affise) = start(people(1), 500).await;
        let p0 = account(&affise, "p0@yournetwork.com").await;
        let wrong = AffiseConnector::new(settings_for(&sandbox, "not-the-key", 500)).unwrap();
        assert!(matches!(wrong.list().await, Err(PlatformError::Auth { .. })));
        assert!(matches!(wrong.deactivate(&p0).await, Err(PlatformError::Auth { .. })));
        let gone = Account { id: "5f17ed6b3e10795affffffff".into(), ..p0.clone() };
        match affise.update(&gone, &[change("first_name", "X")]).await {
            Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "User not found"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        let odd = Account { id: "../users".into(), ..p0 };
        assert!(matches!(affise.deactivate(&odd).await, Err(PlatformError::Unsupported { .. })));
        sandbox.faults().script(FaultRule::on("update", failure(422, "work_hours is not valid")));
        let p0 = account(&affise, "p0@yournetwork.com").await;
        let rejected = affise.update(&p0, &[change("work_hours", "always")]).await.unwrap_err();
        assert_eq!(rejected.to_string(), "affise: update refused: work_hours is not valid");
    }

    #[tokio::test]
    async fn a_garbage_page_2_is_malformed_naming_the_page() {
        let (sandbox, affise) = start(people(4), 2).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        let detail = malformed_detail(affise.list().await);
        assert!(detail.starts_with("users page 2: not an Affise answer"), "{detail}");
        assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
        sandbox.faults().script(FaultRule::on("list", failure(400, "limit is too large")).nth(1));
        assert_eq!(malformed_detail(affise.list().await), "users page 1: limit is too large");
    }

    /// A server that serves fewer than `limit` a page says so in `per_page`, and pages by it.
    #[tokio::test]
    async fn a_capped_page_size_is_paged_by_per_page_and_must_hold() {
        let options = people(8).with_page_cap(crate::sandbox::page_cap::PageCap::Count(3));
        let (sandbox, affise) = start(options, 5).await;
        assert_eq!(affise.list().await.unwrap().len(), 9);
        assert_eq!(sandbox.list_calls(), 3, "9 users in the server's pages of 3");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(2));
        assert!(malformed_detail(affise.list().await).contains("users page 2: 2 users where 3 were due"));
        let (sandbox, affise) = start(people(4), 1).await;
        let two = json!([{"id": "5f17ed6b3e10795a0000aaaa", "email": "z@x.com"}]);
        sandbox.faults().script(FaultRule::on("list", page_body(two, 5, 1)));
        assert!(malformed_detail(affise.list().await).contains("per_page is 2, where at most the limit of 1"));
    }

    #[tokio::test]
    async fn a_short_page_or_a_moving_total_is_malformed() {
        let (sandbox, affise) = start(people(4), 2).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(2));
        let detail = malformed_detail(affise.list().await);
        assert_eq!(detail, "users page 2: 1 users where 2 were due (2 of total_count 5 read)");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(3));
        assert!(malformed_detail(affise.list().await).contains("users page 3: 0 users where 1 were due"));
        let user = |id: &str, email: &str| json!({"id": id, "email": email});
        let later = json!([user("5f17ed6b3e10795a0000aaaa", "z@x.com"), user("5f17ed6b3e10795a0000aaab", "y@x.com")]);
        sandbox.faults().script(FaultRule::on("list", page_body(later, 6, 2)).nth(2));
        assert!(malformed_detail(affise.list().await).contains("total_count changed from 5 to 6"));
    }

    #[tokio::test]
    async fn records_without_a_hex_id_or_an_email_are_refused() {
        let (sandbox, affise) = start(AffiseSandboxOptions::default(), 2).await;
        let one = json!({"id": "5f17ed6b3e10795a00000001", "email": "a@x.com"});
        let cases = [
            (json!([{"id": 17, "email": "a@x.com"}]), "row 1: invalid type"),
            (json!([{"id": "5f17ed6b3e10795a0000000z", "email": "a@x.com"}]), "is not 24 hex digits"),
            (json!([{"id": "5f17ed6b3e10795a00000001"}]), "missing field `email`"),
            (json!([one, one]), "listed twice"),
        ];
        for (users, expected) in cases {
            let total = users.as_array().unwrap().len() as u64;
            sandbox.faults().script(FaultRule::on("list", page_body(users, total, 1)));
            let detail = malformed_detail(affise.list().await);
            assert!(detail.contains(expected), "{detail}");
        }
    }

    #[tokio::test]
    async fn a_429_is_retried_and_a_persistent_503_is_a_status_error() {
        let (sandbox, affise) = start(people(2), 500).await;
        sandbox.faults().script(FaultRule::on("list", Fault::too_many(1)));
        let started = std::time::Instant::now();
        assert_eq!(affise.list().await.unwrap().len(), 3);
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        sandbox.faults().script(FaultRule::on("list", Fault::status(503)).always());
        match affise.list().await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
    }

    /// One error of each kind, the sandbox stopped at the end for a transport error.
    async fn errors_of_every_kind(sandbox: AffiseSandbox, affise: &AffiseConnector) -> Vec<PlatformError> {
        let p0 = account(affise, "p0@yournetwork.com").await;
        let user_key = sandbox.user_by_email("p0@yournetwork.com").unwrap().api_key;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        // A cut-short page holding a user's key must not quote it.
        let cut = format!("{{\"status\":1,\"users\":[{{\"id\":\"{}\",\"api_key\":\"{user_key}\"", p0.id);
        faults.script(FaultRule::on("list", Fault::Status { code: 200, retry_after: None, body: cut }));
        errors.push(affise.list().await.unwrap_err());
        faults.script(FaultRule::on("update", failure(400, &format!("Bad request from key {KEY}"))));
        errors.push(affise.update(&p0, &[change("last_name", "X")]).await.unwrap_err());
        faults.script(FaultRule::on("read", Fault::status(503)).always());
        errors.push(affise.deactivate(&p0).await.unwrap_err());
        faults.clear();
        errors.push(affise.create(&desired("p1@yournetwork.com", MANAGER)).await.unwrap_err());
        errors.push(affise.reactivate(&p0, &[change(ROLE_FIELD, "ROLE_ADMIN")]).await.unwrap_err());
        let wrong = AffiseConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
        errors.push(wrong.list().await.unwrap_err());
        sandbox.shutdown().await;
        errors.push(affise.list().await.unwrap_err());
        errors
    }

    /// Every kind of error, and the connector itself, printed both ways: no key is anywhere.
    #[tokio::test]
    async fn no_key_appears_in_any_error_or_debug_output() {
        let (sandbox, affise) = start(people(2), 1).await;
        let settings = settings_for(&sandbox, KEY, 1);
        let user_keys: Vec<String> = sandbox.users().into_iter().map(|u| u.api_key).collect();
        let errors = errors_of_every_kind(sandbox, &affise).await;
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(KEY), "key leaked: {text}");
                assert!(user_keys.iter().all(|k| !text.contains(k.as_str())), "a user's key leaked: {text}");
            }
        }
        assert!(errors[0].to_string().contains("cut-short or invalid JSON"), "{}", errors[0]);
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{affise:?}"), format!("{affise:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }

    /// A `tracing` writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn generated_passwords_reach_no_log_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let (sandbox, affise) = start(people(1), 500).await;
        let created = affise.create(&desired("new@yournetwork.com", MANAGER)).await.unwrap();
        affise.deactivate(&created).await.unwrap();
        sandbox.faults().script(FaultRule::on("password", Fault::status(503)).always());
        assert!(affise.deactivate(&created).await.is_err());
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("transient failure, retrying"), "the subscriber saw the run: {logs}");
        let passwords = sandbox.received_passwords();
        assert_eq!(passwords.len(), 2, "create and a lock-out; the failing attempts never reached the handler");
        for p in &passwords {
            assert!(!logs.contains(p.as_str()), "a password was logged");
        }
    }
}
