//! The CAKE connector: users, roles and account managers over CAKE's `/api/2` JSON API.
//!
//! CAKE's dialect, per `platforms/cake.md`: the key travels as `api_key` (query string on
//! GET, JSON body on POST), success is `"request_status": "Success"` whatever the HTTP
//! status, roles are numeric ids resolved from names once per run, and access is removed
//! with `user_status = "inactive"` (there is no delete).

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;
mod settings;
mod wire;

pub use settings::{CakeSettings, MAX_PAGE_SIZE, SPEC, STATUS_FIELD};
use settings::{CREDENTIALS_CHECK, NAME_FIELDS};
use wire::*;

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use url::Url;

use super::http::{check_base_url, check_page_size, Answer, PlatformHttp, RetryPolicy};
use super::pager::{PageError, Pager};
use super::{Connector, PlatformError, Traits};
use crate::model::{Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};

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

fn page_label(start: u64) -> String {
    format!("users page starting at row {start}")
}

/// Check one page and take its rows; the row to ask for next, or `None` when the listing
/// is complete.
fn add_page(
    listing: &mut Pager<Account>,
    start: u64,
    limit: u64,
    page: UsersPage,
    roles: &RoleMap,
) -> Result<Option<u64>, PageError> {
    let label = page_label(start);
    listing.announce(&label, page.total_rows)?;
    let rows = page.users.len() as u64;
    if rows > limit {
        return Err(PageError::page(label, format!("{rows} rows, more than the {limit} asked for")));
    }
    if rows == 0 {
        // Only an empty tenant may answer an empty first page.
        return match start > page.total_rows {
            true => Ok(None),
            false => Err(PageError::page(label, format!("no rows, but total_rows is {}", page.total_rows))),
        };
    }
    listing.take_accounts(&label, start, &page.users, |value| parse_user(value, roles))?;
    let last = start + rows - 1;
    Ok((last < page.total_rows).then_some(last + 1))
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
        check_base_url(&settings.name, &settings.connection.base_url, Some(""))?;
        check_page_size(&settings.name, settings.page_size, MAX_PAGE_SIZE)?;
        let http = PlatformHttp::keyed(&settings.name, &settings.connection, &settings.api_key)?;
        let Some(endpoints) = Endpoints::new(&settings.connection.base_url) else {
            return Err(http.unsupported("base_url cannot have paths under it".into()));
        };
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
            first_name: m.name.first_name.unwrap_or_default(),
            last_name: m.name.last_name.unwrap_or_default(),
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
        let value = self.get("list", &self.endpoints.users, &query).await;
        let value = value.map_err(|e| self.http.listing_error(&label, e, CREDENTIALS_CHECK))?;
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
        let user_id = self.http.numeric_id(&account.id, "a CAKE user_id")?;
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
        let step = |listing: &mut Pager<Account>, start: &u64, page| add_page(listing, *start, limit, page, &roles);
        let listing = Pager::new("total_rows", "user_id");
        let (accounts, _) = listing.read_accounts(&self.http, 1, |start| self.fetch_page(start), step).await?;
        tracing::debug!(platform = %self.settings.name, accounts = accounts.len(), "listed users");
        Ok(accounts)
    }

    /// No password is sent: CAKE then mails the person a set-password link.
    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let roles = self.roles().await?;
        let role_id = self.role_id(&roles, desired.role.as_deref(), &desired.label)?;
        let mut body = Map::new();
        for field in NAME_FIELDS {
            let value = super::create_value(desired, field, "email");
            let value = value.ok_or_else(|| {
                self.http.unsupported(format!("{} has no {field}, which CAKE requires", desired.label))
            })?;
            body.insert(field.into(), json!(value));
        }
        body.insert("role_id".into(), json!(role_id));
        body.insert("user_status".into(), json!("active"));
        let value = self.post("create", &self.endpoints.create, body).await?;
        let answer =
            UserAnswer::deserialize(&value).map_err(|e| self.http.malformed("create", format!("user.json: {e}")))?;
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

#[cfg(test)]
mod tests;
