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
mod settings;
mod wire;

use settings::*;
pub use settings::{
    default_roles, role_id_of, spec_role_with_options, FileSpinOptions, FileSpinSettings, RoleTable,
    DEFAULT_CREATE_PATH, DEFAULT_UPDATE_PATH, PAGE_SIZE, ROLES, SPEC, USERS_PATH,
};
use wire::*;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::http::{check_base_url, check_option, Answer, JsonRequest, PlatformHttp, RetryPolicy};
use super::pager::{offset_label, PageError, Pager};
use super::{Connector, PlatformError, Traits};
use crate::model::{Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

/// Check one page and take its rows; the offset to ask for next, or `None` when the
/// listing is complete.
fn add_page(
    listing: &mut Pager<Account>,
    offset: u64,
    page: UsersPage,
    roles: &RoleTable,
) -> Result<Option<u64>, PageError> {
    let label = offset_label(offset);
    listing.announce(&label, page.total_users)?;
    let rows = page.users.len() as u64;
    if rows != page.count {
        return Err(PageError::page(label, format!("count says {} but {rows} users came", page.count)));
    }
    if rows > PAGE_SIZE {
        return Err(PageError::page(label, format!("{rows} users, more than FileSpin's {PAGE_SIZE}")));
    }
    if rows == 0 && offset < page.total_users {
        // Paging on would never end, and stopping would read as a short list.
        return Err(PageError::page(label, format!("no users, but total_users is {}", page.total_users)));
    }
    listing.take_accounts(&label, 1, page.users, |value| parse_user(value, roles))?;
    let next = offset + rows;
    Ok((next < page.total_users).then_some(next))
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
        check_base_url(&settings.name, &settings.connection.base_url, None)?;
        check_option(&settings.name, "create_path", check_path(&settings.create_path, false))?;
        check_option(&settings.name, "update_path", check_path(&settings.update_path, true))?;
        let http = PlatformHttp::keyed(&settings.name, &settings.connection, &settings.api_key)?;
        let (Some(users), Some(create)) = (
            endpoint(&settings.connection.base_url, USERS_PATH),
            endpoint(&settings.connection.base_url, &settings.create_path),
        ) else {
            return Err(http.unsupported("base_url cannot have paths under it".into()));
        };
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

    async fn send(&self, operation: &str, request: JsonRequest<'_>) -> Result<Value, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let authorize = |request: reqwest::RequestBuilder| request.header("X-FileSpin-Api-Key", key);
        let answer = self.http.send_json(operation, request, authorize).await?;
        self.interpret(operation, answer)
    }

    /// A write whose answer carries the user: that user, parsed (and scrubbed).
    async fn send_user(&self, operation: &str, request: JsonRequest<'_>) -> Result<Account, PlatformError> {
        let value = self.send(operation, request).await?;
        let answer = UserAnswer::deserialize(value).map_err(|e| self.http.malformed(operation, e.to_string()))?;
        parse_user(answer.user, &self.settings.roles).map_err(|e| self.http.malformed(operation, format!("user: {e}")))
    }

    async fn fetch_page(&self, offset: u64) -> Result<UsersPage, PlatformError> {
        let label = offset_label(offset);
        let query = [("offset", offset.to_string())];
        let value = self.send("list", JsonRequest::get(&self.users, &query)).await;
        let value = value.map_err(|e| self.http.listing_error(&label, e, CREDENTIALS_CHECK))?;
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
        let id = self.http.numeric_id(&account.id, "a FileSpin user id")?;
        let body = self.change_body(account, changes, enabled)?;
        let answered =
            self.send_user(operation, JsonRequest::write(reqwest::Method::PUT, &self.update_url(id)?, &body)).await?;
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

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let roles = &self.settings.roles;
        let step = |listing: &mut Pager<Account>, offset: &u64, page| add_page(listing, *offset, page, roles);
        let listing = Pager::new("total_users", "user");
        let (accounts, pages) = listing.read_accounts(&self.http, 0, |offset| self.fetch_page(offset), step).await?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), pages, "listed users");
        Ok(accounts)
    }

    /// FileSpin mails the invitation; the user stays `REQUESTED` until they activate.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let mut body = Map::new();
        for field in FIELDS {
            let value = super::create_value(desired, field, "email");
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
        self.send_user("create", JsonRequest::write(reqwest::Method::POST, &self.create, &body)).await
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

#[cfg(test)]
mod tests;
