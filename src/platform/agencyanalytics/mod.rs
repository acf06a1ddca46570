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
mod settings;
mod wire;

use settings::*;
pub use settings::{
    role_change, AgencyAnalyticsOptions, AgencyAnalyticsSettings, AuthScheme, EmailCredentials,
    DEFAULT_ERROR_MESSAGE_POINTER, DEFAULT_PAGE_SIZE, DEFAULT_USERS_PATH, MAX_PAGE_SIZE, REMOVALS_HELD, ROLES, SPEC,
};
use wire::*;

use async_trait::async_trait;
use compact_str::{CompactString, ToCompactString};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::http::{check_base_url, check_option, check_page_size, Answer, JsonRequest, PlatformHttp, RetryPolicy};
use super::pager::{number_label, PageError, Pager};
use super::search::Found;
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

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

/// Check one page and take its rows; the page to ask for next, or `None` when the listing
/// is complete. `totals` holds `(total_pages, total_records)` as the first page announced them.
fn add_page(
    listing: &mut Pager<Account>,
    totals: &mut Option<(u64, u64)>,
    (page, limit): (u64, u64),
    answer: ListAnswer,
) -> Result<Option<u64>, PageError> {
    let label = number_label(page);
    let now = (answer.metadata.total_pages, answer.metadata.total_records);
    if let Some(before) = totals.filter(|t| *t != now) {
        let detail = format!(
            "metadata changed from {} pages / {} records to {} / {} while paging",
            before.0, before.1, now.0, now.1
        );
        return Err(PageError::page(label, detail));
    }
    *totals = Some(now);
    listing.announce(&label, now.1)?;
    let rows = answer.data.len() as u64;
    if rows > limit {
        return Err(PageError::page(label, format!("{rows} users, more than the limit of {limit} asked for")));
    }
    if rows == 0 && page < now.0 {
        return Err(PageError::page(label, format!("no users, but total_pages is {}", now.0)));
    }
    listing.take_accounts(&label, 1, &answer.data, parse_user)?;
    Ok((page < now.0).then_some(page + 1))
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
        check_base_url(&settings.name, &settings.connection.base_url, None)?;
        check_option(&settings.name, "users_path", check_path(&settings.users_path))?;
        check_option(&settings.name, "error_message_pointer", check_pointer(&settings.error_message_pointer))?;
        if settings.recreate_on_role_change && !settings.allow_delete {
            return refuse(RECREATE_NEEDS_DELETE.into());
        }
        check_page_size(&settings.name, settings.page_size, MAX_PAGE_SIZE)?;
        let http = PlatformHttp::keyed(&settings.name, &settings.connection, &settings.api_key)?;
        let Some(endpoints) = Endpoints::new(&settings.connection.base_url, &settings.users_path) else {
            return refuse("base_url cannot have paths under it".into());
        };
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
    async fn send_raw(&self, operation: &str, request: JsonRequest<'_>) -> Result<Answer, PlatformError> {
        let key = self.settings.api_key.expose_secret();
        let authorize = |request: reqwest::RequestBuilder| match self.settings.auth_scheme {
            AuthScheme::Basic => request.basic_auth(key, Some("")),
            AuthScheme::Bearer => request.bearer_auth(key),
        };
        self.http.send_json(operation, request, authorize).await
    }

    async fn send(&self, operation: &str, request: JsonRequest<'_>) -> Result<Option<Value>, PlatformError> {
        let answer = self.send_raw(operation, request).await?;
        self.interpret(operation, answer)
    }

    /// A write whose answer's `data` is a user: that user, parsed.
    async fn send_user(&self, operation: &str, request: JsonRequest<'_>) -> Result<Account, PlatformError> {
        let value = self.send(operation, request).await?;
        let value =
            value.ok_or_else(|| self.http.malformed(operation, "an empty answer, where the user was due".into()))?;
        let answer = OneAnswer::deserialize(&value).map_err(|e| self.http.malformed(operation, e.to_string()))?;
        parse_user(&answer.data).map_err(|e| self.http.malformed(operation, format!("data: {e}")))
    }

    fn user_id(&self, account: &Account) -> Result<u64, PlatformError> {
        self.http.numeric_id(&account.id, "an AgencyAnalytics user id")
    }

    // ---- Listing.

    async fn fetch_page(&self, page: u64) -> Result<ListAnswer, PlatformError> {
        let query = [("page", page.to_string()), ("limit", self.settings.page_size.to_string())];
        let label = number_label(page);
        let value = self.send("list", JsonRequest::get(&self.endpoints.users, &query)).await;
        let value = value.map_err(|e| self.http.listing_error(&label, e, CREDENTIALS_CHECK))?;
        let value = value.ok_or_else(|| self.http.malformed("list", format!("{label}: an empty answer")))?;
        ListAnswer::deserialize(&value).map_err(|e| self.http.malformed("list", format!("{label}: {e}")))
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

/// Whether `changes` move the account's role between the staff side and client.
fn crosses_sides(account: &Account, changes: &[FieldChange]) -> bool {
    let to = changes.iter().find(|c| c.field == ROLE_FIELD).and_then(|c| c.after.as_deref());
    matches!((account.role.as_deref(), to), (Some(from), Some(to)) if role_change(from, to).is_err())
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

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let limit = u64::from(self.settings.page_size);
        let mut totals = None;
        let step =
            |listing: &mut Pager<Account>, page: &u64, answer| add_page(listing, &mut totals, (*page, limit), answer);
        let listing = Pager::new("total_records", "user");
        let (accounts, pages) = listing.read_accounts(&self.http, 1, |page| self.fetch_page(page), step).await?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), pages, "listed users");
        Ok(accounts)
    }

    /// A generated password is sent once, with `email_credentials` so the person gets a login.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let role = self.role_value(desired.role.as_deref(), &desired.label)?;
        let mut body = Map::new();
        for field in FIELDS {
            let value = super::create_value(desired, field, "username");
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
        self.send_user("create", JsonRequest::write(reqwest::Method::POST, &self.endpoints.users, &body)).await
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
        let answered =
            self.send_user("update", JsonRequest::write(reqwest::Method::PUT, &self.endpoints.user(id), &body)).await?;
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
        let answer =
            self.send_raw("delete", JsonRequest::bare(reqwest::Method::DELETE, &self.endpoints.user(id))).await?;
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
    /// `GET /v3/users?filter=<username>`: `filter` is a free-text search, so every page of
    /// its answer is read and matched on the username.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let mut found = Found::new(key);
        let mut page = 1u64;
        loop {
            let query = [("page", page.to_string()), ("limit", MAX_PAGE_SIZE.to_string()), ("filter", key.to_string())];
            let value = match self.send("find", JsonRequest::get(&self.endpoints.users, &query)).await? {
                Some(value) => value,
                None => return Err(self.http.malformed("find", "an empty answer".into())),
            };
            let answer = ListAnswer::deserialize(&value).map_err(|e| self.http.malformed("find", e.to_string()))?;
            found.take(&answer.data, parse_user).map_err(|e| self.http.malformed("find", e))?;
            if answer.data.is_empty() || page >= answer.metadata.total_pages {
                break;
            }
            page += 1;
        }
        found.one(&self.http, "username", key)
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(Some(ROLES.iter().map(|r| r.to_string()).collect()))
    }
}

#[cfg(test)]
mod tests;
