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
mod settings;
mod wire;

use settings::*;
pub use settings::{
    canonical_roles, AffiseSettings, Permissions, DEFAULT_FULL_READ_EVERY, LEVELS, MAX_PAGE_SIZE, ROLES, SPEC,
};
use wire::*;
pub use wire::{all_denied, AffiseUserRecord};

#[cfg(test)]
use std::collections::BTreeMap;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::http::{check_base_url, check_page_size, Answer, PlatformHttp, RetryPolicy};
use super::pager::{number_label, PageError, Pager};
use super::redact::Redactor;
use super::search::Found;
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// Check one page and take its rows; the page to ask for next, or `None` when the listing
/// is complete. `per_page` holds the page size the first page announced.
fn add_page(
    listing: &mut Pager<Account>,
    per_page: &mut Option<u64>,
    (page, limit): (u64, u64),
    answer: UsersPage,
) -> Result<Option<u64>, PageError> {
    let label = number_label(page);
    let total = answer.pagination.total_count;
    listing.announce(&label, total)?;
    if let Some(other) = answer.pagination.page.filter(|p| *p != page) {
        return Err(PageError::page(label, format!("the answer is page {other}")));
    }
    // Paging is by page number: a short page cannot be made up by asking again.
    let size = page_size(&label, per_page, limit, answer.pagination.per_page)?;
    let (rows, before) = (answer.users.len() as u64, listing.held());
    let due = size.min(total.saturating_sub(before));
    if rows != due {
        let detail = format!("{rows} users where {due} were due ({before} of total_count {total} read)");
        return Err(PageError::page(label, detail));
    }
    listing.take_accounts(&label, 1, &answer.users, parse_user)?;
    Ok((listing.held() < total).then_some(page + 1))
}

/// The page size pages are numbered by: the `limit` asked for, or the smaller `per_page`
/// of a server that caps page sizes. It must hold for every page.
fn page_size(label: &str, per_page: &mut Option<u64>, limit: u64, announced: Option<u64>) -> Result<u64, PageError> {
    let size = announced.unwrap_or(limit);
    if size == 0 || size > limit {
        let detail = format!("per_page is {size}, where at most the limit of {limit} was asked for");
        return Err(PageError::page(label, detail));
    }
    if let Some(before) = per_page.filter(|p| *p != size) {
        return Err(PageError::page(label, format!("per_page changed from {before} to {size} while paging")));
    }
    *per_page = Some(size);
    Ok(size)
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
        let query = "; the key goes in api_key_file/env";
        check_base_url(&settings.name, &settings.connection.base_url, Some(query))?;
        check_page_size(&settings.name, settings.page_size, MAX_PAGE_SIZE)?;
        let http = PlatformHttp::keyed(&settings.name, &settings.connection, &settings.api_key)?;
        if !settings.permissions_read_path.contains("{id}") {
            return Err(http.unsupported("permissions_read_path must hold {id}".into()));
        }
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
        let label = number_label(page);
        let url = self.url(&["3.0", "admin", "users"])?;
        let value = self.get("list", &url, &query).await;
        let value = value.map_err(|e| self.http.listing_error(&label, e, CREDENTIALS_CHECK))?;
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
        let mut per_page = None;
        let step =
            |listing: &mut Pager<Account>, page: &u64, answer| add_page(listing, &mut per_page, (*page, limit), answer);
        let listing = Pager::new("total_count", "user");
        let (accounts, _) = listing.read_accounts(&self.http, 1, |page| self.fetch_page(page, since), step).await?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), ?since, "listed users");
        Ok(accounts)
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
            let value = super::create_value(desired, field, "email");
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
    /// `GET /3.0/admin/users?q=<email>`: `q` is a free-text search, so every page of its
    /// answer is read and matched on the email.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let url = self.url(&["3.0", "admin", "users"])?;
        let mut found = Found::new(key);
        let (mut page, mut seen) = (1u64, 0u64);
        loop {
            let query = [("page", page.to_string()), ("limit", MAX_PAGE_SIZE.to_string()), ("q", key.to_string())];
            let value = self.get("find", &url, &query).await?;
            let answer = UsersPage::deserialize(&value).map_err(|e| self.malformed("find", e.to_string()))?;
            seen += answer.users.len() as u64;
            found.take(&answer.users, parse_user).map_err(|e| self.malformed("find", e))?;
            if answer.users.is_empty() || seen >= answer.pagination.total_count {
                break;
            }
            page += 1;
        }
        found.one(&self.http, "email", key)
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
