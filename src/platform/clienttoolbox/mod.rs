//! The Client Toolbox connector: users over the one-URL form-POST API, answers in XML.
//!
//! Client Toolbox's dialect, per `platforms/clienttoolbox.md`: every call is a POST of form
//! fields (`API`, the caller's `user_id`, `account_id`, `type`, `output=XML`) with the key
//! in the `api_access_key` header; success and failure both come with HTTP 200 and are told
//! apart by `<response status>`. Users are matched by `user_name`, which rosterd derives
//! from the roster; removal is `user_delete` (soft: the name stays taken, and the API cannot
//! restore it), never `action=permanent`.

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

pub mod xml;

use std::collections::BTreeMap;

use async_trait::async_trait;
use compact_str::CompactString;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::kind::{KindSpec, RoleValue};
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
pub use xml::{parse_users_list, AllowedCampaigns, AnswerError, ListedUser, UsersPage};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str =
    "caller_user_id must be an Administrator-level user or the account owner of account_id, and the key that user's";
/// `API` sent with `users_list`.
pub const DEFAULT_LIST_API_VERSION: &str = "1.6";
/// `API` sent with `user_new`, `user_update` and `user_delete`.
pub const DEFAULT_WRITE_API_VERSION: &str = "1.1";
/// The listing element that carries `user_custom1`: the vendor's sample shows
/// `user_addtl_info` where the search fields name `user_custom1` (an inference, hence a setting).
pub const DEFAULT_CUSTOM1_ELEMENT: &str = "user_addtl_info";
/// A sanity bound on `length`: the vendor documents no maximum, and 1000 users are about
/// half a megabyte of XML.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// `length` of each listing page when config gives no `page_size`: the largest, so a
/// listing takes the fewest calls of the request budget.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
/// The longest user name Client Toolbox takes.
pub const USER_NAME_MAX: usize = 20;
/// The match-key field, also the account id.
pub const USER_NAME_FIELD: &str = "user_name";
/// The campaigns a user may see, `all`, `none` or sorted comma-joined ids.
pub const ALLOWED_CAMPAIGNS_FIELD: &str = "allowed_campaigns";
/// A role rule without `allowed_campaigns` grants none: access is never wider than written.
pub const DEFAULT_ALLOWED_CAMPAIGNS: &str = "none";
/// The fields rosterd compares and writes, by rosterd's names (the `fields` config keys).
const FIELDS: [&str; 6] =
    [USER_NAME_FIELD, "user_first_name", "user_last_name", "user_custom1", "language", "timezone"];
/// Account field → the form field `user_new` / `user_update` take it as.
const WRITABLE: [(&str, &str); 6] = [
    ("user_first_name", "user_first_name"),
    ("user_last_name", "user_last_name"),
    ("user_custom1", "user_custom1"),
    ("language", "language_selector"),
    ("timezone", "timezone_selector"),
    (ALLOWED_CAMPAIGNS_FIELD, "allowed_campaigns"),
];
/// The length of generated passwords, in letters and digits (about 143 bits).
const PASSWORD_LEN: usize = 24;

/// How to reach one Client Toolbox account. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ClientToolboxSettings {
    /// The platform's name in config.
    pub name: String,
    /// The one API URL every call is posted to.
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    /// The caller's own API key, sent as the `api_access_key` header only.
    pub api_key: SecretString,
    /// The caller's own login name (`user_id` of every call), an administrator or the owner.
    pub caller_user_id: String,
    pub account_id: String,
    pub list_api_version: String,
    pub write_api_version: String,
    /// The listing element read as `user_custom1`.
    pub custom1_element: String,
    /// `length` of each listing page.
    pub page_size: u32,
}

impl ClientToolboxSettings {
    /// Settings with the documented API versions, 30 s time-out, 5 requests a second, pages of 1000.
    pub fn new(
        name: &str,
        connection: impl Into<Connection>,
        api_key: SecretString,
        caller_user_id: &str,
        account_id: &str,
    ) -> Self {
        ClientToolboxSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            caller_user_id: caller_user_id.into(),
            account_id: account_id.into(),
            list_api_version: DEFAULT_LIST_API_VERSION.into(),
            write_api_version: DEFAULT_WRITE_API_VERSION.into(),
            custom1_element: DEFAULT_CUSTOM1_ELEMENT.into(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// The kind's own config keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientToolboxOptions {
    caller_user_id: String,
    account_id: String,
    #[serde(default = "default_list_version")]
    list_api_version: String,
    #[serde(default = "default_write_version")]
    write_api_version: String,
    #[serde(default = "default_custom1_element")]
    custom1_list_element: String,
}

fn default_list_version() -> String {
    DEFAULT_LIST_API_VERSION.into()
}

fn default_write_version() -> String {
    DEFAULT_WRITE_API_VERSION.into()
}

fn default_custom1_element() -> String {
    DEFAULT_CUSTOM1_ELEMENT.into()
}

/// Whether `name` is a Client Toolbox user name: 1 to 20 of `[A-Za-z0-9_]`.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=USER_NAME_MAX).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `role` is one capital letter, as `user_role` takes it.
pub fn is_valid_role(role: &str) -> bool {
    role.len() == 1 && role.chars().all(|c| c.is_ascii_uppercase())
}

/// Whether a failure message says the caller's credentials or rights were refused.
fn says_refused_caller(message: &str) -> bool {
    let m = message.to_lowercase().replace(['_', '-'], " ");
    let markers = [
        "api key",
        "access key",
        "apikey",
        "credential",
        "unauthori",
        "not authorized",
        "permission",
        "administrator",
        "account owner",
        "user id",
        "account id",
    ];
    markers.iter().any(|w| m.contains(w))
}

/// A fresh password from the OS's CSPRNG: letters and digits, at least one of each kind.
/// It lives only in the request being built.
fn generate_password() -> SecretString {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    let all: Vec<u8> = [UPPER, LOWER, DIGITS].concat();
    let mut rng = OsRng;
    let mut chars: Vec<u8> = [UPPER, LOWER, DIGITS].iter().map(|set| set[rng.gen_range(0..set.len())]).collect();
    while chars.len() < PASSWORD_LEN {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    keys: std::collections::HashSet<CompactString>,
    total: Option<u64>,
}

fn page_label(offset: u64) -> String {
    format!("users page at offset {offset}")
}

impl Listing {
    /// Take the page asked for at `offset` with `length`: at least one user while any remain,
    /// never more than asked. A server may serve fewer than asked (it caps page sizes), so
    /// the next offset is this one plus the users that came; a user lost from a page is read
    /// on the next one, and one read twice fails the listing.
    fn add_page(&mut self, offset: u64, length: u64, page: UsersPage, custom1: &str) -> Result<(), String> {
        let label = page_label(offset);
        if let Some(total) = self.total.filter(|t| *t != page.total) {
            return Err(format!("{label}: the total changed from {total} to {} while paging", page.total));
        }
        self.total = Some(page.total);
        if let Some(answered) = page.offset.filter(|o| *o != offset) {
            return Err(format!("{label}: the answer is for offset {answered}"));
        }
        let remaining = page.total.saturating_sub(offset);
        let rows = page.users.len() as u64;
        if rows > remaining.min(length) || (rows == 0 && remaining > 0) {
            let due = remaining.min(length);
            return Err(format!("{label}: {rows} users where 1 to {due} were due (total {})", page.total));
        }
        for user in page.users {
            let account = account_from(user, custom1);
            if !self.keys.insert(account.key.clone()) {
                return Err(format!("{label}: user name {} listed twice", account.id));
            }
            self.accounts.push(account);
        }
        Ok(())
    }

    /// The accounts, if their number is the total Client Toolbox announced.
    fn finish(self) -> Result<Vec<Account>, String> {
        let total = self.total.unwrap_or(0);
        match self.accounts.len() as u64 == total {
            true => Ok(self.accounts),
            false => Err(format!("the listing holds {} users but the total is {total}", self.accounts.len())),
        }
    }
}

/// A listed user as an [`Account`]: the user name is both the id and the key.
fn account_from(user: ListedUser, custom1: &str) -> Account {
    let mut fields = BTreeMap::from([
        (USER_NAME_FIELD.to_string(), user.user_name.clone()),
        (ALLOWED_CAMPAIGNS_FIELD.to_string(), user.allowed_campaigns.as_field()),
    ]);
    let listed = [
        ("user_first_name", "user_first_name"),
        ("user_last_name", "user_last_name"),
        ("user_custom1", custom1),
        ("language", "user_language"),
        ("timezone", "user_timezone"),
    ];
    for (field, element) in listed {
        if let Some(value) = user.fields.get(element) {
            fields.insert(field.to_string(), value.clone());
        }
    }
    Account {
        id: user.user_name.as_str().into(),
        key: normalize_key(&user.user_name),
        fields: fields.into(),
        role: Some(user.role.into()),
        // Soft-deleted users do not list: whatever lists may sign in.
        status: AccountStatus::Active,
    }
}

/// The Client Toolbox connector for one account.
#[derive(Debug)]
pub struct ClientToolboxConnector {
    settings: ClientToolboxSettings,
    http: PlatformHttp,
}

/// The form fields of one call beyond the common ones.
type Form = Vec<(&'static str, String)>;

impl ClientToolboxConnector {
    pub fn new(settings: ClientToolboxSettings) -> Result<ClientToolboxConnector, PlatformError> {
        let refuse = |message: String| Err(PlatformError::Unsupported { platform: settings.name.clone(), message });
        let url = &settings.connection.base_url;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        // HTTPS only, as the contract says; plain HTTP to loopback is for the emulator.
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return refuse("base_url must be an https URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return refuse("base_url must not carry a query string or fragment".into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&settings.page_size) {
            return refuse(format!("page_size must be between 1 and {MAX_PAGE_SIZE}"));
        }
        if settings.api_key.expose_secret().trim().is_empty() {
            return refuse("the api key is empty".into());
        }
        if settings.caller_user_id.trim().is_empty() || settings.account_id.trim().is_empty() {
            return refuse("caller_user_id and account_id must both be set".into());
        }
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.api_key.clone());
        Ok(ClientToolboxConnector { settings, http })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> ClientToolboxConnector {
        self.http.retry = policy;
        self
    }

    // ---- Errors. Every message passes through `redact`: the platform could echo the key.

    /// A failure answer: refused credentials or rights are `Auth`, anything else `Rejected`.
    fn refused(&self, operation: &str, message: &str) -> PlatformError {
        let (platform, operation, message) =
            (self.settings.name.clone(), operation.to_string(), self.http.redact(message));
        match says_refused_caller(&message) {
            true => PlatformError::Auth { platform, operation, message },
            false => PlatformError::Rejected { platform, operation, message },
        }
    }

    fn answer_error(&self, operation: &str, error: AnswerError) -> PlatformError {
        match error {
            AnswerError::Refused(message) => self.refused(operation, &message),
            AnswerError::Malformed(detail) => self.http.malformed(operation, detail),
        }
    }

    /// HTTP-level failures, before the body is read as XML.
    fn check_http(&self, operation: &str, answer: &Answer) -> Result<(), PlatformError> {
        let status = answer.status.as_u16();
        if answer.status.is_success() {
            return Ok(());
        }
        let (platform, operation) = (self.settings.name.clone(), operation.to_string());
        let message = self.http.snippet(&answer.body);
        match status {
            401 | 403 => Err(PlatformError::Auth { platform, operation, message: format!("HTTP {status}") }),
            _ => Err(PlatformError::Status { platform, operation, status, message }),
        }
    }

    // ---- Requests. The key travels in a header and is never formatted anywhere.

    /// POST one call: the common fields, then `form`. Returns the body of a 2xx answer.
    async fn call(
        &self,
        operation: &str,
        kind: &str,
        version: &str,
        form: Form,
    ) -> Result<bytes::Bytes, PlatformError> {
        let s = &self.settings;
        let mut fields: Vec<(&str, &str)> = vec![
            ("API", version),
            ("user_id", s.caller_user_id.as_str()),
            ("account_id", s.account_id.as_str()),
            ("type", kind),
            ("output", "XML"),
        ];
        fields.extend(form.iter().map(|(k, v)| (*k, v.as_str())));
        let key = s.api_key.expose_secret();
        let build = || self.http.client.post(s.connection.base_url.clone()).header("api_access_key", key).form(&fields);
        let answer = self.http.send(operation, build).await?;
        self.check_http(operation, &answer)?;
        Ok(answer.body)
    }

    /// A write call whose answer only has to say success.
    async fn write(&self, operation: &str, kind: &str, form: Form) -> Result<(), PlatformError> {
        let body = self.call(operation, kind, &self.settings.write_api_version, form).await?;
        xml::parse_status(&body).map_err(|e| self.answer_error(operation, e))
    }

    // ---- Listing.

    async fn fetch_page(&self, offset: u64) -> Result<UsersPage, PlatformError> {
        let form = vec![
            ("offset", offset.to_string()),
            ("length", self.settings.page_size.to_string()),
            ("sortField", "user_name".to_string()),
            ("sortOrder", "ASC".to_string()),
        ];
        let label = page_label(offset);
        let body = match self.call("list", "users_list", &self.settings.list_api_version, form).await {
            Ok(body) => body,
            Err(PlatformError::Malformed { detail, .. }) => {
                return Err(self.http.malformed("list", format!("{label}: {detail}")))
            }
            Err(other) => return Err(other.with_credentials_hint(CREDENTIALS_CHECK)),
        };
        parse_users_list(&body).map_err(|e| match e {
            // A refused listing is unreadable, never "no users"; refused credentials stay Auth.
            AnswerError::Refused(m) if says_refused_caller(&m) => {
                self.refused("list", &m).with_credentials_hint(CREDENTIALS_CHECK)
            }
            AnswerError::Refused(m) => {
                self.http.malformed("list", format!("{label}: the platform answered error: {m}"))
            }
            AnswerError::Malformed(d) => self.http.malformed("list", format!("{label}: {d}")),
        })
    }

    /// `users_list` with `searchField=user_name`, `searchOper=eq`: the user with this name,
    /// if any, matched again on the key (the search's case rules are not in the contract).
    async fn find_by_user_name(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let form = vec![
            ("offset", "0".to_string()),
            ("length", self.settings.page_size.to_string()),
            ("sortField", "user_name".to_string()),
            ("sortOrder", "ASC".to_string()),
            ("searchField", "user_name".to_string()),
            ("searchOper", "eq".to_string()),
            ("searchValue", key.to_string()),
        ];
        let body = self.call("find", "users_list", &self.settings.list_api_version, form).await?;
        let page = parse_users_list(&body).map_err(|e| match e {
            AnswerError::Refused(m) if says_refused_caller(&m) => self.refused("find", &m),
            AnswerError::Refused(m) => self.http.malformed("find", format!("the platform answered error: {m}")),
            AnswerError::Malformed(d) => self.http.malformed("find", d),
        })?;
        let wanted = normalize_key(key);
        let custom1 = &self.settings.custom1_element;
        let mut found: Vec<Account> =
            page.users.into_iter().map(|u| account_from(u, custom1)).filter(|a| a.key == wanted).collect();
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(self.http.malformed("find", format!("{n} users hold the user name {key}"))),
        }
    }

    // ---- Writes.

    /// The user name a create sends: the `user_name` field (else the key), checked against
    /// the platform's rule and the match key, so that it is found again on the next run.
    fn user_name_for(&self, desired: &DesiredAccount) -> Result<String, PlatformError> {
        let name = desired.fields.get(USER_NAME_FIELD).map(|n| n.trim()).unwrap_or(desired.key.as_str());
        if !is_valid_user_name(name) {
            return Err(self.http.unsupported(format!(
                "the user name {name:?} derived for {} is not a Client Toolbox user name (1 to {USER_NAME_MAX} of A-Z, a-z, 0-9, _); not sent: fix the user_name template, e.g. {{email|localpart|word|max:20}}",
                desired.label
            )));
        }
        if normalize_key(name) != desired.key {
            return Err(self.http.unsupported(format!(
                "the user_name field renders {name:?} but the match key renders {:?} for {}; give fields.user_name and match_key the same template",
                desired.key, desired.label
            )));
        }
        Ok(name.to_string())
    }

    fn role_for(&self, role: Option<&str>, label: &str) -> Result<String, PlatformError> {
        match role.map(str::trim) {
            Some(r) if is_valid_role(r) => Ok(r.to_string()),
            Some(r) => Err(self.http.unsupported(format!("role {r:?} for {label} is not one capital letter"))),
            None => Err(self.http.unsupported(format!(
                "Client Toolbox needs a role for every user, and no role rule gave one for {label}"
            ))),
        }
    }

    /// A field's form name and checked value, for create and update alike.
    fn form_field(
        &self,
        field: &str,
        value: Option<&str>,
        label: &str,
    ) -> Result<(&'static str, String), PlatformError> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        let Some((_, form_name)) = WRITABLE.iter().find(|(f, _)| *f == field) else {
            return Err(self
                .http
                .unsupported(format!("cannot write {field:?} of {label}: Client Toolbox users have no such field")));
        };
        let Some(value) = value else {
            return Err(self.http.unsupported(format!("cannot clear {field} of {label}")));
        };
        if field == ALLOWED_CAMPAIGNS_FIELD {
            let parsed =
                AllowedCampaigns::parse_field(value).map_err(|e| self.http.unsupported(format!("{label}: {e}")))?;
            return Ok((form_name, parsed.as_field()));
        }
        Ok((form_name, value.to_string()))
    }

    /// The `user_new` form for a desired account (the password is added by the caller).
    fn create_form(&self, desired: &DesiredAccount) -> Result<(Form, Account), PlatformError> {
        let label = desired.label.as_str();
        let name = self.user_name_for(desired)?;
        let role = self.role_for(desired.role.as_deref(), label)?;
        let mut fields = desired.fields.clone();
        fields.remove(USER_NAME_FIELD);
        fields.get_or_insert_with(ALLOWED_CAMPAIGNS_FIELD, || DEFAULT_ALLOWED_CAMPAIGNS.into());
        let mut form: Form = vec![("user_name", name.clone()), ("user_role", role.clone())];
        let mut stored = BTreeMap::from([(USER_NAME_FIELD.to_string(), name.clone())]);
        for (field, value) in &fields {
            let (form_name, value) = self.form_field(field, Some(value), label)?;
            form.push((form_name, value.clone()));
            stored.insert(field.to_string(), value);
        }
        let account = Account {
            id: name.as_str().into(),
            key: normalize_key(&name),
            fields: stored.into(),
            role: Some(role.into()),
            status: AccountStatus::Active,
        };
        Ok((form, account))
    }
}

#[async_trait]
impl Connector for ClientToolboxConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// Removal is a soft delete the API cannot undo, and the name stays taken.
    fn traits(&self) -> Traits {
        Traits { can_reactivate: false, recreate_removed: false, ..Traits::new(USER_NAME_FIELD) }
    }

    async fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let length = u64::from(self.settings.page_size);
        let mut listing = Listing::default();
        let mut offset = 0;
        loop {
            let page = self.fetch_page(offset).await?;
            let custom1 = &self.settings.custom1_element;
            let rows = page.users.len() as u64;
            listing.add_page(offset, length, page, custom1).map_err(|d| self.http.malformed("list", d))?;
            // By what came back, not by what was asked: a server may cap its pages.
            offset += rows;
            if offset >= listing.total.unwrap_or(0) {
                break;
            }
        }
        let accounts = listing.finish().map_err(|detail| self.http.malformed("list", detail))?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), "listed users");
        Ok(accounts)
    }

    /// `user_new` with a generated password, sent once and never kept. A name already in
    /// use (a soft-deleted user's too) comes back as `Rejected` on this record.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let (mut form, account) = self.create_form(desired)?;
        form.push(("user_new_password", generate_password().expose_secret().to_string()));
        self.write("create", "user_new", form).await?;
        Ok(account)
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut form: Form = vec![("user_name", account.id.to_string())];
        for change in changes {
            let after = change.after.as_deref();
            match change.field.as_str() {
                ROLE_FIELD => form.push(("user_role", self.role_for(after, &account.id)?)),
                USER_NAME_FIELD => {
                    return Err(self.http.unsupported(format!(
                        "user name {} cannot change to {after:?} on Client Toolbox; a person must resolve it",
                        account.id
                    )))
                }
                field => form.push(self.form_field(field, after, &account.id)?),
            }
        }
        self.write("update", "user_update", form).await
    }

    /// `user_delete` without `action=permanent`: a permanently deleted name could be taken
    /// again, and the new user would inherit the old one's transactions.
    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        self.write("deactivate", "user_delete", vec![("user_name", account.id.to_string())]).await
    }

    async fn reactivate(&self, account: &Account, _changes: &[FieldChange]) -> Result<(), PlatformError> {
        Err(self.http.unsupported(format!(
            "user {} was deleted and Client Toolbox cannot restore it; a person must resolve it",
            account.id
        )))
    }

    /// The role letters are not listed by the API.
    /// `users_list` searched by `user_name eq`, not a full listing: a lost create is found
    /// in one call.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        self.find_by_user_name(key).await
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }
}

/// A role rule: `role: K` (one capital letter) and optionally
/// `allowed_campaigns: all | none | [id, ...]`, which becomes the `allowed_campaigns` field.
/// Without it the rule grants `none`.
fn role_value(value: &Value, extra: &Mapping) -> Result<RoleValue, String> {
    let role = match value {
        Value::String(s) if is_valid_role(s.trim()) => s.trim().to_string(),
        _ => return Err("must be one capital letter, e.g. A (Administrator) or K".into()),
    };
    let mut campaigns = DEFAULT_ALLOWED_CAMPAIGNS.to_string();
    for (key, value) in extra {
        match key.as_str() {
            Some(ALLOWED_CAMPAIGNS_FIELD) => campaigns = campaigns_value(value)?,
            other => {
                return Err(format!(
                    "unknown key {:?} in a role rule (known: when, role, allowed_campaigns)",
                    other.unwrap_or("?")
                ))
            }
        }
    }
    Ok(RoleValue { role, fields: BTreeMap::from([(ALLOWED_CAMPAIGNS_FIELD.to_string(), campaigns)]) })
}

/// `all`, `none`, or a list of campaign ids (numbers or strings), as the field's form.
fn campaigns_value(value: &Value) -> Result<String, String> {
    let explain = |e: String| format!("allowed_campaigns: {e}");
    match value {
        Value::String(s) if s == "all" || s == "none" => Ok(s.clone()),
        Value::Sequence(items) => {
            let ids: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    Value::Number(n) if n.is_u64() => Ok(n.to_string()),
                    _ => Err(explain("each campaign id must be a string or a whole number".into())),
                })
                .collect::<Result<_, _>>()?;
            Ok(AllowedCampaigns::from_ids(ids.iter().map(String::as_str)).map_err(explain)?.as_field())
        }
        _ => Err(explain("must be all, none, or a list of campaign ids".into())),
    }
}

/// The kind's own settings, checked: each problem as (key, message).
fn check_options(options: &Mapping) -> Vec<(String, String)> {
    let parsed = match super::kind::options::<ClientToolboxOptions>(options) {
        Ok(parsed) => parsed,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, message: &str| {
        if !ok {
            problems.push((key.to_string(), message.to_string()));
        }
    };
    let login = |s: &str| !s.trim().is_empty() && !s.chars().any(char::is_whitespace);
    check(login(&parsed.caller_user_id), "caller_user_id", "must be the caller's own login name (no spaces)");
    check(login(&parsed.account_id), "account_id", "must be the Client Toolbox account id (no spaces)");
    let version = |v: &str| v.split_once('.').is_some_and(|(a, b)| is_number(a) && is_number(b));
    check(version(&parsed.list_api_version), "list_api_version", "must look like 1.6");
    check(version(&parsed.write_api_version), "write_api_version", "must look like 1.1");
    let element = |e: &str| {
        e.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    check(element(&parsed.custom1_list_element), "custom1_list_element", "must be an XML element name");
    problems
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// What config needs to know about Client Toolbox.
pub const SPEC: KindSpec = KindSpec {
    kind: "clienttoolbox",
    vendor: "Client Toolbox",
    default_base_url: Some("https://api.clienttoolbox.com/"),
    // `user_name` uses the match key's template, so create sends the name the key finds.
    default_fields: &[
        (USER_NAME_FIELD, "{email|localpart|word|max:20}"),
        ("user_first_name", "{name.givenName}"),
        ("user_last_name", "{name.familyName}"),
    ],
    fields_allowed: &FIELDS,
    default_match_key: "{email|localpart|word|max:20}",
    option_keys: &["caller_user_id", "account_id", "list_api_version", "write_api_version", "custom1_list_element"],
    check_options,
    role: role_value,
    extra_field: None,
    role_with_options: None,
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: ClientToolboxOptions = p.options()?;
    let mut s = ClientToolboxSettings::new(
        p.name,
        p.connection.clone(),
        p.api_key.clone(),
        &options.caller_user_id,
        &options.account_id,
    );
    s.list_api_version = options.list_api_version;
    s.write_api_version = options.write_api_version;
    s.custom1_element = options.custom1_list_element;
    if let Some(size) = p.page_size {
        s.page_size = size;
    }
    Ok(Box::new(ClientToolboxConnector::new(s)?))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::platform::clienttoolbox::sandbox::{CtSandbox, CtSandboxOptions, CtUser};
    use crate::sandbox::faults::{Fault, FaultRule};
    use std::time::Duration;
    use url::Url;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const KEY: &str = "ct-LEAKCHECK-91c2e7aa04";
    const USER_KEY: &str = "ct-USERKEY-LEAK-5d0b";
    const USER_PASSWORD: &str = "pw-LEAK-p4sf8nvrdr8vhsd98";

    fn settings_for(sandbox: &CtSandbox, key: &str, page_size: u32) -> ClientToolboxSettings {
        let key = SecretString::from(key.to_string());
        let mut s = ClientToolboxSettings::new("ct", sandbox.base_url(), key, sandbox.owner(), sandbox.account_id());
        s.connection.timeout = Duration::from_secs(5);
        s.connection.per_second = 0.0;
        s.page_size = page_size;
        s
    }

    async fn start(options: CtSandboxOptions, page_size: u32) -> (CtSandbox, ClientToolboxConnector) {
        let sandbox = CtSandbox::start(options.with_owner_key(KEY)).await.unwrap();
        let ct = ClientToolboxConnector::new(settings_for(&sandbox, KEY, page_size))
            .unwrap()
            .with_retry(RetryPolicy::quick());
        (sandbox, ct)
    }

    /// The owner plus `n` cashiers `p0`..; `p0` carries a key, a password and a PIN.
    fn people(n: usize) -> CtSandboxOptions {
        (0..n).fold(CtSandboxOptions::default(), |options, i| {
            let mut user = CtUser::new(&format!("p{i}"), "Given", &format!("Family{i}"), "K");
            if i == 0 {
                user = user.with_api_key(USER_KEY);
                user.password = Some(USER_PASSWORD.into());
            }
            options.with_user(user)
        })
    }

    fn desired(name: &str, role: Option<&str>) -> DesiredAccount {
        DesiredAccount {
            person_id: name.into(),
            label: format!("{name}@acme.example").into(),
            key: normalize_key(name),
            fields: crate::model::Fields::from([
                (USER_NAME_FIELD.to_string(), name.to_string()),
                ("user_first_name".to_string(), "Alex".to_string()),
                ("user_last_name".to_string(), "Chen".to_string()),
            ]),
            role: role.map(Into::into),
        }
    }

    fn change(field: &str, after: &str) -> FieldChange {
        FieldChange { field: field.into(), before: None, after: Some(after.into()) }
    }

    async fn account(ct: &ClientToolboxConnector, name: &str) -> Account {
        ct.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(name)).unwrap()
    }

    fn xml_body(body: String) -> Fault {
        Fault::Status { code: 200, retry_after: None, body }
    }

    fn error_body(message: &str) -> Fault {
        xml_body(format!("<response status=\"error\"><error>{message}</error></response>"))
    }

    fn page_body(total: u64, names: &[&str]) -> Fault {
        let users: String = names
            .iter()
            .map(|n| format!("<user><user_id>{n}</user_id><user_role>K</user_role><user_allowed_campaigns status=\"none\"/></user>"))
            .collect();
        xml_body(format!(
            "<response status=\"success\"><pagination><total>{total}</total></pagination><users>{users}</users></response>"
        ))
    }

    fn malformed_detail(result: Result<Vec<Account>, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn listing_pages_by_offset_and_length_through_every_user() {
        let (sandbox, ct) = start(people(7), 3).await;
        let accounts = ct.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3, "8 users in pages of 3");
        let mut names: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        names.sort();
        assert_eq!(names, ["john1970", "p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
        let offsets: Vec<String> = sandbox.requests().iter().map(|r| r.fields["offset"].clone()).collect();
        assert_eq!(offsets, ["0", "3", "6"]);
        for request in sandbox.requests() {
            let f = &request.fields;
            assert_eq!((f["API"].as_str(), f["type"].as_str(), f["output"].as_str()), ("1.6", "users_list", "XML"));
            assert_eq!((f["user_id"].as_str(), f["account_id"].as_str()), ("john1970", "greatwidgets"));
            assert_eq!(
                (f["length"].as_str(), f["sortField"].as_str(), f["sortOrder"].as_str()),
                ("3", "user_name", "ASC")
            );
            assert!(!request.key_in_form && !f.contains_key("user_api_key"), "the key travels as a header only");
        }
        let p3 = accounts.iter().find(|a| a.id == "p3").unwrap();
        assert_eq!((p3.role.as_deref(), p3.status), (Some("K"), AccountStatus::Active));
        assert_eq!(p3.fields["user_last_name"], "Family3");
        assert_eq!((p3.fields["language"].as_str(), p3.fields["timezone"].as_str()), ("EN", "15"));
        assert_eq!(p3.fields[ALLOWED_CAMPAIGNS_FIELD], "all");
    }

    #[tokio::test]
    async fn an_empty_listing_reads_as_no_users_only_when_the_total_says_so() {
        let (sandbox, ct) = start(people(0), 10).await;
        sandbox.faults().script(FaultRule::on("list", page_body(0, &[])));
        assert!(ct.list().await.unwrap().is_empty());
        sandbox.faults().script(FaultRule::on("list", page_body(2, &[])));
        assert!(malformed_detail(ct.list().await).contains("0 users where 1 to 2 were due"));
    }

    #[tokio::test]
    async fn create_sends_the_derived_name_a_fresh_password_and_no_campaigns_by_default() {
        let (sandbox, ct) = start(people(1), 100).await;
        let created = ct.create(&desired("Alex_Chen", Some("K"))).await.unwrap();
        let request = sandbox.last_request("user_new").unwrap();
        assert_eq!(
            request.own_fields(),
            ["allowed_campaigns", "user_first_name", "user_last_name", "user_name", "user_new_password", "user_role"]
        );
        assert_eq!(request.fields["API"], "1.1");
        assert_eq!(request.fields["allowed_campaigns"], "none");
        let stored = sandbox.user("alex_chen").unwrap();
        let password = stored.password.clone().unwrap();
        assert_eq!(password.len(), PASSWORD_LEN);
        assert!(password.chars().any(|c| c.is_ascii_digit()) && password.chars().any(|c| c.is_ascii_uppercase()));
        assert_eq!((stored.user_name.as_str(), stored.role.as_str()), ("Alex_Chen", "K"));
        let listed = account(&ct, "alex_chen").await;
        for field in ["user_name", "user_first_name", "user_last_name", "allowed_campaigns"] {
            assert_eq!(listed.fields[field], created.fields[field], "{field}");
        }
        assert_eq!(
            (listed.id.as_str(), listed.key.as_str(), listed.role.as_deref()),
            ("Alex_Chen", "alex_chen", Some("K"))
        );
        assert!(!format!("{created:?}{listed:?}").contains(&password), "the password was kept");
        ct.create(&desired("Bo", Some("K"))).await.unwrap();
        assert_ne!(sandbox.user("bo").unwrap().password.unwrap(), password, "every password is fresh");
    }

    #[tokio::test]
    async fn a_role_rules_campaigns_and_optional_fields_are_sent_by_their_form_names() {
        let (sandbox, ct) = start(people(0), 100).await;
        let mut d = desired("ana", Some("A"));
        d.fields.insert(ALLOWED_CAMPAIGNS_FIELD.into(), "2345678901234567,1234567890123456".into());
        d.fields.insert("language".into(), "FR".into());
        d.fields.insert("timezone".into(), "12".into());
        d.fields.insert("user_custom1".into(), "Paris".into());
        ct.create(&d).await.unwrap();
        let fields = sandbox.last_request("user_new").unwrap().fields;
        assert_eq!(fields["allowed_campaigns"], "1234567890123456,2345678901234567");
        assert_eq!((fields["language_selector"].as_str(), fields["timezone_selector"].as_str()), ("FR", "12"));
        let listed = account(&ct, "ana").await;
        assert_eq!(listed.fields["user_custom1"], "Paris", "read back from user_addtl_info");
        assert_eq!(listed.fields[ALLOWED_CAMPAIGNS_FIELD], "1234567890123456,2345678901234567");
    }

    #[tokio::test]
    async fn a_derived_name_outside_the_rule_is_refused_and_never_sent() {
        let (sandbox, ct) = start(people(0), 100).await;
        for bad in ["jean.luc", "", "a_name_longer_than_twenty", "zoë"] {
            let mut d = desired("x", Some("K"));
            d.key = normalize_key(bad);
            d.fields.insert(USER_NAME_FIELD.into(), bad.into());
            match ct.create(&d).await {
                Err(PlatformError::Unsupported { message, .. }) => {
                    assert!(
                        message.contains("not a Client Toolbox user name") && message.contains("not sent"),
                        "{message}"
                    )
                }
                other => panic!("{bad:?}: expected Unsupported, got {other:?}"),
            }
        }
        let mut mismatched = desired("alex", Some("K"));
        mismatched.key = "alex_chen".into();
        assert!(matches!(ct.create(&mismatched).await, Err(PlatformError::Unsupported { .. })));
        for role in [None, Some("k"), Some("KA")] {
            assert!(matches!(ct.create(&desired("ok", role)).await, Err(PlatformError::Unsupported { .. })));
        }
        assert_eq!(sandbox.write_calls(), 0);
    }

    #[tokio::test]
    async fn a_name_in_use_even_by_a_deleted_user_is_rejected_on_that_record() {
        let options = people(1).with_user(CtUser::new("gone_user", "Old", "Timer", "K").deleted());
        let (sandbox, ct) = start(options, 100).await;
        for name in ["gone_user", "P0"] {
            match ct.create(&desired(name, Some("K"))).await {
                Err(PlatformError::Rejected { operation, message, .. }) => {
                    assert_eq!(operation, "create");
                    assert!(message.contains("already in use") && message.contains(name), "{message}");
                }
                other => panic!("expected Rejected, got {other:?}"),
            }
        }
        assert!(ct.create(&desired("fresh", Some("K"))).await.is_ok(), "the next record goes on");
        assert_eq!(sandbox.users().len(), 4);
    }

    #[tokio::test]
    async fn update_sends_only_the_changed_fields() {
        let (sandbox, ct) = start(people(2), 100).await;
        let p1 = account(&ct, "p1").await;
        ct.update(&p1, &[change("user_last_name", "Okafor")]).await.unwrap();
        let request = sandbox.last_request("user_update").unwrap();
        assert_eq!(request.own_fields(), ["user_last_name", "user_name"]);
        assert_eq!((request.fields["user_name"].as_str(), request.fields["API"].as_str()), ("p1", "1.1"));
        ct.update(&p1, &[change(ROLE_FIELD, "A"), change(ALLOWED_CAMPAIGNS_FIELD, "none"), change("language", "DE")])
            .await
            .unwrap();
        let request = sandbox.last_request("user_update").unwrap();
        assert_eq!(request.own_fields(), ["allowed_campaigns", "language_selector", "user_name", "user_role"]);
        let stored = sandbox.user("p1").unwrap();
        assert_eq!(
            (
                stored.last_name.as_str(),
                stored.role.as_str(),
                stored.allowed_campaigns.as_str(),
                stored.first_name.as_str()
            ),
            ("Okafor", "A", "none", "Given")
        );
        let writes = sandbox.write_calls();
        ct.update(&p1, &[]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes, "nothing to change, nothing sent");
    }

    #[tokio::test]
    async fn updates_refuse_what_cannot_be_written() {
        let (sandbox, ct) = start(people(1), 100).await;
        let p0 = account(&ct, "p0").await;
        let cleared = FieldChange { field: "user_first_name".into(), before: Some("Given".into()), after: None };
        let bad = [
            change(USER_NAME_FIELD, "p0_new"),
            change("email", "a@b.c"),
            change("status", "inactive"),
            change(ROLE_FIELD, "Cashier"),
            change(ALLOWED_CAMPAIGNS_FIELD, "1,,2"),
            cleared,
        ];
        for change in bad {
            let outcome = ct.update(&p0, std::slice::from_ref(&change)).await;
            assert!(matches!(outcome, Err(PlatformError::Unsupported { .. })), "{change:?}: {outcome:?}");
        }
        assert_eq!(sandbox.write_calls(), 0);
    }

    #[tokio::test]
    async fn removal_is_a_soft_user_delete_never_permanent_and_cannot_be_undone() {
        let (sandbox, ct) = start(people(2), 100).await;
        let p1 = account(&ct, "p1").await;
        ct.deactivate(&p1).await.unwrap();
        let request = sandbox.last_request("user_delete").unwrap();
        assert_eq!(request.own_fields(), ["user_name"], "no action=permanent");
        assert!(sandbox.permanent_deletes().is_empty());
        assert!(sandbox.user("p1").unwrap().deleted, "soft-deleted, still there");
        assert!(ct.list().await.unwrap().iter().all(|a| a.id != "p1"), "a deleted user no longer lists");
        let writes = sandbox.write_calls();
        match ct.reactivate(&p1, &[]).await {
            Err(PlatformError::Unsupported { message, .. }) => assert!(message.contains("cannot restore"), "{message}"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        assert_eq!(sandbox.write_calls(), writes);
        assert!(matches!(ct.create(&desired("p1", Some("K"))).await, Err(PlatformError::Rejected { .. })));
        let traits = ct.traits();
        assert_eq!((traits.key_field, traits.can_reactivate, traits.recreate_removed), ("user_name", false, false));
    }

    #[tokio::test]
    async fn refused_credentials_and_rights_are_auth_errors() {
        let options = people(1).with_user(CtUser::new("clerk", "C", "K", "K").with_api_key("clerk-key"));
        let (sandbox, _) = start(options, 100).await;
        let wrong_key = ClientToolboxConnector::new(settings_for(&sandbox, "not-the-key", 100)).unwrap();
        let mut clerk = settings_for(&sandbox, "clerk-key", 100);
        clerk.caller_user_id = "clerk".into();
        let clerk = ClientToolboxConnector::new(clerk).unwrap();
        let mut elsewhere = settings_for(&sandbox, KEY, 100);
        elsewhere.account_id = "otherwidgets".into();
        let elsewhere = ClientToolboxConnector::new(elsewhere).unwrap();
        for ct in [&wrong_key, &clerk, &elsewhere] {
            assert!(matches!(ct.list().await, Err(PlatformError::Auth { .. })), "{:?}", ct.list().await);
            assert!(matches!(ct.create(&desired("x", Some("K"))).await, Err(PlatformError::Auth { .. })));
        }
        assert!(sandbox.user("x").is_none());
    }

    #[tokio::test]
    async fn a_wrong_api_version_fails_the_listing_and_rejects_the_write() {
        let (sandbox, _) = start(people(1), 100).await;
        let mut settings = settings_for(&sandbox, KEY, 100);
        settings.list_api_version = "1.5".into();
        settings.write_api_version = "1.6".into();
        let ct = ClientToolboxConnector::new(settings).unwrap();
        assert!(malformed_detail(ct.list().await).contains("not supported for users_list"));
        match ct.create(&desired("x", Some("K"))).await {
            Err(PlatformError::Rejected { message, .. }) => assert!(message.contains("use 1.1"), "{message}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_error_status_with_http_200_is_an_error_on_that_call() {
        let (sandbox, ct) = start(people(3), 2).await;
        sandbox.faults().script(FaultRule::on("create", error_body("Too many users on this plan")));
        match ct.create(&desired("x", Some("K"))).await {
            Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "Too many users on this plan"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        sandbox.faults().script(FaultRule::on("list", error_body("Report server busy")).nth(2));
        let detail = malformed_detail(ct.list().await);
        assert!(detail.contains("users page at offset 2") && detail.contains("Report server busy"), "{detail}");
    }

    #[tokio::test]
    async fn the_vendors_malformed_sample_fails_the_listing_never_no_users() {
        let (sandbox, ct) = start(people(3), 100).await;
        sandbox.set_malformed_language(true);
        let detail = malformed_detail(ct.list().await);
        assert!(detail.contains("users page at offset 0") && detail.contains("not well-formed"), "{detail}");
        sandbox.set_malformed_language(false);
        assert_eq!(ct.list().await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn garbage_truncated_or_shifting_pages_are_malformed_naming_the_page() {
        let (sandbox, ct) = start(people(5), 2).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        assert!(malformed_detail(ct.list().await).contains("users page at offset 2"));
        assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
        // A page one user short is not a short listing: the next page starts at the lost user.
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(1));
        let calls = sandbox.list_calls();
        assert_eq!(ct.list().await.unwrap().len(), 6, "the user cut from page 1 is read on page 2");
        assert_eq!(sandbox.list_calls() - calls, 4, "pages at offsets 0, 1, 3, 5");
        sandbox.faults().script(FaultRule::on("list", page_body(6, &[])).nth(2));
        assert!(malformed_detail(ct.list().await).contains("0 users where 1 to 2 were due"));
        sandbox.faults().script(FaultRule::on("list", page_body(7, &["z1", "z2"])).nth(2));
        assert!(malformed_detail(ct.list().await).contains("the total changed from 6 to 7"));
        sandbox.faults().script(FaultRule::on("list", page_body(6, &["john1970", "p0"])).nth(2));
        assert!(malformed_detail(ct.list().await).contains("listed twice"));
        let cut =
            Fault::Status { code: 200, retry_after: None, body: "<response status=\"success\"><pagination>".into() };
        sandbox.faults().script(FaultRule::on("list", cut));
        assert!(malformed_detail(ct.list().await).contains("not well-formed"));
    }

    #[tokio::test]
    async fn a_429_is_retried_and_a_persistent_503_is_a_status_error() {
        let (sandbox, ct) = start(people(2), 100).await;
        sandbox.faults().script(FaultRule::on("list", Fault::too_many(1)));
        assert_eq!(ct.list().await.unwrap().len(), 3);
        assert_eq!(sandbox.list_calls(), 2);
        sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
        let p0 = account(&ct, "p0").await;
        match ct.update(&p0, &[change("user_last_name", "X")]).await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
    }

    /// One error of each kind, the sandbox stopped at the end for a transport error.
    async fn errors_of_every_kind(sandbox: CtSandbox, ct: &ClientToolboxConnector) -> Vec<PlatformError> {
        let p0 = account(ct, "p0").await;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        errors.push(ct.list().await.unwrap_err());
        // The platform echoing the key back must not carry it further.
        faults.script(FaultRule::on("update", error_body(&format!("Bad request from key {KEY}"))));
        errors.push(ct.update(&p0, &[change("user_last_name", "X")]).await.unwrap_err());
        faults.script(FaultRule::on("delete", Fault::status(503)).always());
        errors.push(ct.deactivate(&p0).await.unwrap_err());
        faults.clear();
        errors.push(ct.create(&desired("p0", Some("K"))).await.unwrap_err());
        errors.push(ct.create(&desired("bad.name", Some("K"))).await.unwrap_err());
        let wrong = ClientToolboxConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
        errors.push(wrong.list().await.unwrap_err());
        sandbox.shutdown().await;
        errors.push(ct.list().await.unwrap_err());
        errors
    }

    /// Every kind of error, the accounts and the connector printed: no key, password or PIN.
    #[tokio::test]
    async fn secrets_appear_in_no_account_error_or_debug_output() {
        let (sandbox, ct) = start(people(2), 1).await;
        let settings = settings_for(&sandbox, KEY, 1);
        let accounts = ct.list().await.unwrap();
        let printed = format!("{accounts:?}{}", serde_json::to_string(&accounts).unwrap());
        for secret in [KEY, USER_KEY, USER_PASSWORD, "1234", "user_PIN", "user_api_key", "user_password"] {
            assert!(!printed.contains(secret), "{secret} kept in {printed}");
        }
        let errors = errors_of_every_kind(sandbox, &ct).await;
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(KEY), "key leaked: {text}");
            }
        }
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{ct:?}"), format!("{ct:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }

    #[test]
    fn base_urls_must_be_https_except_on_loopback() {
        let key = || SecretString::from("k".to_string());
        let build = |url: &str| {
            ClientToolboxConnector::new(ClientToolboxSettings::new("ct", Url::parse(url).unwrap(), key(), "u", "a"))
        };
        assert!(build(SPEC.default_base_url.unwrap()).is_ok());
        assert!(build("http://127.0.0.1:8080/").is_ok());
        for bad in ["http://api.clienttoolbox.com/", "https://api.clienttoolbox.com/?user_api_key=oops"] {
            assert!(matches!(build(bad), Err(PlatformError::Unsupported { .. })), "{bad}");
        }
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn mapping(text: &str) -> Mapping {
        yaml(text).as_mapping().cloned().unwrap_or_default()
    }

    #[test]
    fn role_rules_take_one_letter_and_campaigns_defaulting_to_none() {
        let campaigns = |r: &RoleValue| r.fields[ALLOWED_CAMPAIGNS_FIELD].clone();
        let plain = role_value(&yaml("K"), &Mapping::new()).unwrap();
        assert_eq!((plain.role.as_str(), campaigns(&plain).as_str()), ("K", "none"));
        let all = role_value(&yaml("A"), &mapping("allowed_campaigns: all")).unwrap();
        assert_eq!(campaigns(&all), "all");
        let some =
            role_value(&yaml("K"), &mapping("allowed_campaigns: [2345678901234567, \"1234567890123456\"]")).unwrap();
        assert_eq!(campaigns(&some), "1234567890123456,2345678901234567");
        for bad_role in ["k", "Cashier", "[A]", "1"] {
            assert!(role_value(&yaml(bad_role), &Mapping::new()).is_err(), "{bad_role}");
        }
        for bad in ["allowed_campaigns: some", "allowed_campaigns: []", "allowed_campaigns: [\"1,2\"]", "other: 1"] {
            assert!(role_value(&yaml("K"), &mapping(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_need_the_caller_and_account_and_check_versions() {
        assert!(check_options(&mapping("caller_user_id: john1970\naccount_id: greatwidgets")).is_empty());
        let missing = check_options(&mapping("account_id: greatwidgets"));
        assert!(missing[0].1.contains("caller_user_id"), "{missing:?}");
        let unknown = check_options(&mapping("caller_user_id: j\naccount_id: a\nuser_api_key: x"));
        assert!(unknown[0].1.contains("unknown field"), "{unknown:?}");
        let bad = check_options(&mapping(
            "caller_user_id: john 1970\naccount_id: a\nlist_api_version: v2\nwrite_api_version: '1.1'\ncustom1_list_element: '<x>'",
        ));
        let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["caller_user_id", "list_api_version", "custom1_list_element"]);
    }

    #[test]
    fn the_default_match_key_and_user_name_template_agree_and_obey_the_rule() {
        let user_name = SPEC.default_fields.iter().find(|(f, _)| *f == USER_NAME_FIELD).unwrap().1;
        assert_eq!(user_name, SPEC.default_match_key);
        let template = crate::template::Template::parse(user_name).unwrap();
        for email in ["Jean-Luc.Picard.the.captain@ent.example", "zoë.o'brien@x.example", "a+b@x", "ok_1@x"] {
            let person = crate::model::Person::test("x").with_email(email);
            let name = template.render(&person.scim_view());
            assert!(is_valid_user_name(&name), "{email} → {name:?}");
        }
    }

    #[test]
    fn passwords_are_long_mixed_and_different() {
        let a = generate_password();
        let b = generate_password();
        let (a, b) = (a.expose_secret(), b.expose_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()) && a.chars().any(|c| c.is_ascii_uppercase()));
    }
}
