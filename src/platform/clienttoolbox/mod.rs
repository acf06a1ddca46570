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

mod settings;
pub mod xml;

use settings::*;
pub use settings::{
    is_valid_role, is_valid_user_name, ClientToolboxSettings, ALLOWED_CAMPAIGNS_FIELD, DEFAULT_ALLOWED_CAMPAIGNS,
    DEFAULT_CUSTOM1_ELEMENT, DEFAULT_LIST_API_VERSION, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_API_VERSION, MAX_PAGE_SIZE,
    SPEC, USER_NAME_FIELD, USER_NAME_MAX,
};

use std::collections::BTreeMap;

use async_trait::async_trait;
use compact_str::CompactString;
use secrecy::ExposeSecret;

use super::http::{check_page_size, Answer, PlatformHttp, RetryPolicy};
use super::pager::offset_label;
use super::search::Found;
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
pub use xml::{parse_users_list, AllowedCampaigns, AnswerError, ListedUser, UsersPage};

/// A listing being read page by page, checking that the pages add up.
#[derive(Debug, Default)]
struct Listing {
    accounts: Vec<Account>,
    keys: std::collections::HashSet<CompactString>,
    total: Option<u64>,
}

impl Listing {
    /// Take the page asked for at `offset` with `length`: at least one user while any remain,
    /// never more than asked. A server may serve fewer than asked (it caps page sizes), so
    /// the next offset is this one plus the users that came; a user lost from a page is read
    /// on the next one, and one read twice fails the listing.
    fn add_page(&mut self, offset: u64, length: u64, page: UsersPage, custom1: &str) -> Result<(), String> {
        let label = offset_label(offset);
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
        check_page_size(&settings.name, settings.page_size, MAX_PAGE_SIZE)?;
        let http = PlatformHttp::keyed(&settings.name, &settings.connection, &settings.api_key)?;
        if settings.caller_user_id.trim().is_empty() || settings.account_id.trim().is_empty() {
            return refuse("caller_user_id and account_id must both be set".into());
        }
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

    /// The form of a `users_list` page at `offset`, in user-name order.
    fn list_form(&self, offset: u64) -> Form {
        vec![
            ("offset", offset.to_string()),
            ("length", self.settings.page_size.to_string()),
            ("sortField", "user_name".to_string()),
            ("sortOrder", "ASC".to_string()),
        ]
    }

    async fn fetch_page(&self, offset: u64) -> Result<UsersPage, PlatformError> {
        let form = self.list_form(offset);
        let label = offset_label(offset);
        // `call` never answers `Rejected`: the shared listing error reads as this one did.
        let body = self.call("list", "users_list", &self.settings.list_api_version, form).await;
        let body = body.map_err(|e| self.http.listing_error(&label, e, CREDENTIALS_CHECK))?;
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

    /// `users_list` searched by `user_name eq`, not a full listing: a lost create is found
    /// in one call. The user with this name, if any, matched again on the key (the search's
    /// case rules are not in the contract).
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        let mut form = self.list_form(0);
        form.extend([
            ("searchField", "user_name".to_string()),
            ("searchOper", "eq".to_string()),
            ("searchValue", key.to_string()),
        ]);
        let body = self.call("find", "users_list", &self.settings.list_api_version, form).await?;
        let page = parse_users_list(&body).map_err(|e| match e {
            AnswerError::Refused(m) if says_refused_caller(&m) => self.refused("find", &m),
            AnswerError::Refused(m) => self.http.malformed("find", format!("the platform answered error: {m}")),
            AnswerError::Malformed(d) => self.http.malformed("find", d),
        })?;
        let custom1 = &self.settings.custom1_element;
        let mut found = Found::new(key);
        found.take(page.users, |u| Ok(account_from(u, custom1))).map_err(|e| self.http.malformed("find", e))?;
        found.one(&self.http, "user name", key)
    }

    /// The role letters are not listed by the API.
    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
