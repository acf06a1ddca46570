//! A strict Client Toolbox users API emulator on loopback, following `platforms/clienttoolbox.md`.
//!
//! One URL takes form POSTs. Every call is checked: the key (header `api_access_key`, else
//! the `user_api_key` field), the caller's `user_id` and `account_id`, the `API` version of
//! its `type`, administrator rights, and unknown fields. Answers are XML in the contract's
//! shape with HTTP 200, failures `<response status="error">`; user records carry their
//! secrets as the real service returns them. Deleted users stay, unlisted, with their name
//! taken; `action=permanent` works and is recorded, so tests can prove rosterd never sends it.

use crate::sandbox::page_cap::PageCap;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::server::LoopbackServer;

/// Fields every call may carry.
const COMMON: &[&str] = &["API", "user_id", "account_id", "type", "output", "user_api_key"];
const LIST_FIELDS: &[&str] =
    &["offset", "length", "sortField", "sortOrder", "searchField", "searchOper", "searchValue", "show_permissions"];
/// Fields of `user_new`; `user_update` takes the same but the password is optional.
const USER_FIELDS: &[&str] = &[
    "user_name",
    "user_new_password",
    "user_role",
    "allowed_campaigns",
    "user_first_name",
    "user_last_name",
    "user_custom1",
    "language_selector",
    "timezone_selector",
];
const DELETE_FIELDS: &[&str] = &["user_name", "action"];
const SORT_FIELDS: &[&str] =
    &["user_first_name", "user_last_name", "user_role", "user_name", "language", "timezone", "user_custom1"];
const SEARCH_OPERATORS: &[&str] = &["eq", "ne", "bw", "bn", "ew", "en", "cn", "nc", "nu", "nn", "in", "ni"];

/// A user as the emulator stores it, secrets included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtUser {
    pub user_name: String,
    pub first_name: String,
    pub last_name: String,
    pub custom1: String,
    pub language: String,
    pub timezone: String,
    /// One capital letter; `A` is Administrator.
    pub role: String,
    /// `all`, `none`, or comma-joined campaign ids.
    pub allowed_campaigns: String,
    /// The user's own API key, listed as `user_api_key` when set.
    pub api_key: Option<String>,
    /// Listed as `user_password` when set, as the vendor's sample shows.
    pub password: Option<String>,
    pub pin: Option<String>,
    /// Soft-deleted: no longer listed, the name still taken.
    pub deleted: bool,
}

impl CtUser {
    pub fn new(user_name: &str, first_name: &str, last_name: &str, role: &str) -> CtUser {
        CtUser {
            user_name: user_name.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            custom1: String::new(),
            language: "EN".into(),
            timezone: "15".into(),
            role: role.into(),
            allowed_campaigns: "all".into(),
            api_key: None,
            password: None,
            pin: Some("1234".into()),
            deleted: false,
        }
    }

    pub fn with_api_key(mut self, key: &str) -> CtUser {
        self.api_key = Some(key.into());
        self
    }

    pub fn with_campaigns(mut self, allowed: &str) -> CtUser {
        self.allowed_campaigns = allowed.into();
        self
    }

    pub fn deleted(mut self) -> CtUser {
        self.deleted = true;
        self
    }
}

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct CtSandboxOptions {
    pub account_id: String,
    /// The account owner's user name: may call everything whatever its role.
    pub owner: String,
    pub users: Vec<CtUser>,
    /// The campaign ids `allowed_campaigns` may name.
    pub campaigns: Vec<String>,
    pub list_api_version: String,
    pub write_api_version: String,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
}

/// The owner's key in [`CtSandboxOptions::default`].
pub const SANDBOX_OWNER_KEY: &str = "sandbox-ct-owner-key";

impl Default for CtSandboxOptions {
    /// The vendor's sample account: `greatwidgets`, owned by `john1970`, three campaigns.
    fn default() -> Self {
        let owner = CtUser::new("john1970", "John", "Owner", "A").with_api_key(SANDBOX_OWNER_KEY);
        CtSandboxOptions {
            account_id: "greatwidgets".into(),
            owner: "john1970".into(),
            users: vec![owner],
            campaigns: vec!["1234567890123456".into(), "2345678901234567".into(), "3456789012345678".into()],
            list_api_version: "1.6".into(),
            write_api_version: "1.1".into(),
            page_cap: PageCap::None,
        }
    }
}

impl CtSandboxOptions {
    pub fn with_user(mut self, user: CtUser) -> Self {
        self.users.push(user);
        self
    }

    /// Give the owner this key.
    pub fn with_owner_key(mut self, key: &str) -> Self {
        let owner = self.owner.clone();
        for user in self.users.iter_mut().filter(|u| u.user_name == owner) {
            user.api_key = Some(key.into());
        }
        self
    }

    /// Serve listing pages no larger than `cap` allows, as a server that caps page sizes does.
    pub fn with_page_cap(mut self, cap: PageCap) -> Self {
        self.page_cap = cap;
        self
    }
}

/// One authenticated call as received: its `type` and fields, secrets replaced by `[set]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtRequest {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
    /// Whether the key came as the `user_api_key` form field rather than the header.
    pub key_in_form: bool,
}

impl CtRequest {
    /// The field names beyond the common ones, sorted.
    pub fn own_fields(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).filter(|k| !COMMON.contains(k)).collect()
    }
}

/// The mutable part of the emulator.
#[derive(Debug, Default)]
struct Store {
    /// Keyed by the lower-cased name: names are unique without regard to case.
    users: BTreeMap<String, CtUser>,
    requests: Vec<CtRequest>,
    permanent_deletes: Vec<String>,
    /// Serve the vendor sample's unclosed `<user_language>` in listings.
    malformed_language: bool,
    pins: u32,
}

impl Store {
    fn active(&self, name: &str) -> Option<&CtUser> {
        self.users.get(&name.to_lowercase()).filter(|u| !u.deleted)
    }
}

/// Everything the handlers share.
#[derive(Debug)]
struct Shared {
    options: CtSandboxOptions,
    // A std Mutex: handlers never await while holding it.
    store: Mutex<Store>,
    faults: Faults,
}

type Fields = BTreeMap<String, String>;
type Outcome = Result<String, String>;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_answer(outcome: Outcome) -> Response {
    let body = match outcome {
        Ok(inner) => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response status=\"success\">\n{inner}</response>\n"),
        Err(message) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response status=\"error\">\n  <error>{}</error>\n</response>\n",
            escape(&message)
        ),
    };
    // Failures too come with HTTP 200: only the status attribute tells.
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The form body; a repeated field is refused rather than one of them silently winning.
fn parse_form(body: &[u8]) -> Result<Fields, String> {
    let mut fields = Fields::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("Field {k} is given twice"));
        }
    }
    Ok(fields)
}

fn is_user_name(name: &str) -> bool {
    (1..=20).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_role(role: &str) -> bool {
    role.len() == 1 && role.chars().all(|c| c.is_ascii_uppercase())
}

fn number(fields: &Fields, name: &str) -> Result<Option<usize>, String> {
    fields
        .get(name)
        .map(|v| v.trim().parse::<usize>().map_err(|_| format!("{name} must be a whole number")))
        .transpose()
}

fn required<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, String> {
    fields.get(name).map(String::as_str).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{name} is required"))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who is calling, and may they: key, caller, account, administrator rights.
    fn authorize(&self, headers: &HeaderMap, fields: &Fields) -> Result<bool, String> {
        let header_key = headers.get("api_access_key").map(|v| v.to_str().unwrap_or_default().to_string());
        // When both are given only the header counts.
        let key_in_form = header_key.is_none() && fields.contains_key("user_api_key");
        let key = header_key.or_else(|| fields.get("user_api_key").cloned()).ok_or("Missing API access key")?;
        if fields.get("account_id") != Some(&self.options.account_id) {
            return Err("Invalid account_id".into());
        }
        let caller = required(fields, "user_id").map_err(|_| "Missing user_id")?;
        let store = self.lock();
        let user = store.active(caller).filter(|u| u.api_key.as_deref() == Some(key.as_str()));
        let Some(user) = user else { return Err("Invalid user_id or API access key".into()) };
        if user.role != "A" && !user.user_name.eq_ignore_ascii_case(&self.options.owner) {
            return Err(
                "Permission denied: only Administrator-level users or the account owner may manage users".into()
            );
        }
        Ok(key_in_form)
    }

    /// The whole call: authorization, version, fields, then the operation.
    fn handle(&self, headers: &HeaderMap, body: &[u8], injected: Injected) -> Outcome {
        let fields = parse_form(body)?;
        let key_in_form = self.authorize(headers, &fields)?;
        let kind = required(&fields, "type")?.to_string();
        let (version, allowed) = match kind.as_str() {
            "users_list" => (&self.options.list_api_version, LIST_FIELDS),
            "user_new" | "user_update" => (&self.options.write_api_version, USER_FIELDS),
            "user_delete" => (&self.options.write_api_version, DELETE_FIELDS),
            other => return Err(format!("Unknown type {other}")),
        };
        let sent = fields.get("API").map(String::as_str).unwrap_or_default();
        if sent != version {
            return Err(format!("API version {sent:?} is not supported for {kind}; use {version}"));
        }
        if let Some(unknown) = fields.keys().find(|k| !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str())) {
            return Err(format!("Unknown field {unknown} for {kind}"));
        }
        if fields.get("output").is_some_and(|o| !o.eq_ignore_ascii_case("XML")) {
            return Err("Only output=XML is emulated".into());
        }
        self.record(&kind, &fields, key_in_form);
        match kind.as_str() {
            "users_list" => self.list(&fields, injected),
            "user_new" => self.create(&fields),
            "user_update" => self.update(&fields),
            _ => self.delete(&fields),
        }
    }

    fn record(&self, kind: &str, fields: &Fields, key_in_form: bool) {
        let secret = |k: &str| k == "user_api_key" || k == "user_new_password";
        let fields = fields.iter().map(|(k, v)| (k.clone(), if secret(k) { "[set]".into() } else { v.clone() }));
        self.lock().requests.push(CtRequest { kind: kind.into(), fields: fields.collect(), key_in_form });
    }

    fn check_campaigns(&self, allowed: &str) -> Result<(), String> {
        if allowed == "all" || allowed == "none" {
            return Ok(());
        }
        for id in allowed.split(',') {
            if !self.options.campaigns.iter().any(|c| c == id.trim()) {
                return Err(format!("Unknown campaign id {}", id.trim()));
            }
        }
        Ok(())
    }

    /// The optional user fields of `user_new` and `user_update`, checked, applied to `user`.
    fn apply_fields(&self, user: &mut CtUser, fields: &Fields) -> Result<usize, String> {
        let mut changed = 0;
        for (name, value) in fields {
            let slot = match name.as_str() {
                "user_first_name" => &mut user.first_name,
                "user_last_name" => &mut user.last_name,
                "user_custom1" => &mut user.custom1,
                "language_selector" if value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()) => {
                    &mut user.language
                }
                "language_selector" => return Err(format!("Invalid language_selector {value:?}")),
                "timezone_selector" if value.parse::<u32>().is_ok() => &mut user.timezone,
                "timezone_selector" => return Err(format!("Invalid timezone_selector {value:?}")),
                "user_role" if is_role(value) => &mut user.role,
                "user_role" => return Err(format!("Invalid user_role {value:?}: one capital letter")),
                "allowed_campaigns" => {
                    self.check_campaigns(value)?;
                    &mut user.allowed_campaigns
                }
                "user_new_password" if value.len() >= 8 => {
                    user.password = Some(value.clone());
                    changed += 1;
                    continue;
                }
                "user_new_password" => return Err("user_new_password must be at least 8 characters".into()),
                _ => continue,
            };
            *slot = value.clone();
            changed += 1;
        }
        Ok(changed)
    }

    fn create(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        if !is_user_name(name) {
            return Err(format!("Invalid user_name {name:?}: use 1 to 20 letters, digits or underscores"));
        }
        for needed in ["user_new_password", "user_role", "allowed_campaigns"] {
            required(fields, needed)?;
        }
        let mut user = CtUser::new(name, "", "", "K");
        user.language = String::new();
        user.timezone = String::new();
        self.apply_fields(&mut user, fields)?;
        let mut store = self.lock();
        // Deleted users keep their names.
        if store.users.contains_key(&name.to_lowercase()) {
            return Err(format!("User name {name} is already in use"));
        }
        store.pins += 1;
        user.pin = Some(format!("{:04}", store.pins % 10_000));
        store.users.insert(name.to_lowercase(), user);
        Ok(format!("  <user_name>{}</user_name>\n", escape(name)))
    }

    fn update(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        let mut store = self.lock();
        let Some(mut user) = store.active(name).cloned() else { return Err(format!("User {name} not found")) };
        if self.apply_fields(&mut user, fields)? == 0 {
            return Err("Nothing to update".into());
        }
        store.users.insert(name.to_lowercase(), user);
        Ok(format!("  <user_name>{}</user_name>\n", escape(name)))
    }

    fn delete(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        let permanent = match fields.get("action").map(String::as_str) {
            None => false,
            Some("permanent") => true,
            Some(other) => return Err(format!("Unknown action {other:?}")),
        };
        let caller = fields.get("user_id").map(String::as_str).unwrap_or_default();
        if name.eq_ignore_ascii_case(&self.options.owner) || name.eq_ignore_ascii_case(caller) {
            return Err("The account owner and the calling user cannot be deleted".into());
        }
        let mut store = self.lock();
        if store.active(name).is_none() && !permanent {
            return Err(format!("User {name} not found"));
        }
        if permanent {
            // The name is free again: whoever takes it inherits the old transactions.
            store.users.remove(&name.to_lowercase()).ok_or_else(|| format!("User {name} not found"))?;
            store.permanent_deletes.push(name.to_string());
        } else if let Some(user) = store.users.get_mut(&name.to_lowercase()) {
            user.deleted = true;
        }
        Ok(String::new())
    }
}

/// The listing's `offset`, `length`, sorting and search, as parsed from the form.
#[derive(Debug)]
struct ListQuery {
    offset: usize,
    length: Option<usize>,
    sort: String,
    descending: bool,
    search: Option<(String, String, String)>,
    permissions: bool,
}

impl ListQuery {
    fn parse(fields: &Fields) -> Result<ListQuery, String> {
        let length = number(fields, "length")?;
        if length == Some(0) {
            return Err("length must be at least 1".into());
        }
        let sort = fields.get("sortField").cloned().unwrap_or_else(|| "user_name".into());
        if !SORT_FIELDS.contains(&sort.as_str()) {
            return Err(format!("Invalid sortField {sort}"));
        }
        let descending = match fields.get("sortOrder").map(String::as_str) {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => return Err(format!("Invalid sortOrder {other}")),
        };
        Ok(ListQuery {
            offset: number(fields, "offset")?.unwrap_or(0),
            length,
            sort,
            descending,
            search: ListQuery::search(fields)?,
            permissions: fields.get("show_permissions").is_some_and(|v| v == "Yes"),
        })
    }

    fn search(fields: &Fields) -> Result<Option<(String, String, String)>, String> {
        let Some(field) = fields.get("searchField") else { return Ok(None) };
        if !SORT_FIELDS.contains(&field.as_str()) && field != "user_full_name" {
            return Err(format!("Invalid searchField {field}"));
        }
        let oper = fields.get("searchOper").cloned().unwrap_or_else(|| "eq".into());
        if !SEARCH_OPERATORS.contains(&oper.as_str()) {
            return Err(format!("Invalid searchOper {oper}"));
        }
        Ok(Some((field.clone(), oper, fields.get("searchValue").cloned().unwrap_or_default())))
    }

    fn keeps(&self, user: &CtUser) -> bool {
        let Some((field, oper, value)) = &self.search else { return true };
        let have = value_of(user, field).to_lowercase();
        let want = value.to_lowercase();
        let listed = || want.split(',').map(str::trim).any(|v| v == have);
        match oper.as_str() {
            "eq" => have == want,
            "ne" => have != want,
            "bw" => have.starts_with(&want),
            "bn" => !have.starts_with(&want),
            "ew" => have.ends_with(&want),
            "en" => !have.ends_with(&want),
            "cn" => have.contains(&want),
            "nc" => !have.contains(&want),
            "nu" => have.is_empty(),
            "nn" => !have.is_empty(),
            "in" => listed(),
            _ => !listed(),
        }
    }
}

fn value_of(user: &CtUser, field: &str) -> String {
    match field {
        "user_first_name" => user.first_name.clone(),
        "user_last_name" => user.last_name.clone(),
        "user_full_name" => format!("{} {}", user.first_name, user.last_name),
        "user_role" => user.role.clone(),
        "language" => user.language.clone(),
        "timezone" => user.timezone.clone(),
        "user_custom1" => user.custom1.clone(),
        _ => user.user_name.clone(),
    }
}

/// One `<user>` as the real service writes it, secrets and all.
fn user_xml(user: &CtUser, permissions: bool, malformed_language: bool) -> String {
    let mut out = String::from("    <user>\n");
    let mut leaf = |tag: &str, value: &str| {
        let _ = writeln!(out, "      <{tag}>{}</{tag}>", escape(value));
    };
    leaf("user_id", &user.user_name);
    leaf("user_first_name", &user.first_name);
    leaf("user_last_name", &user.last_name);
    if let Some(key) = &user.api_key {
        leaf("user_api_key", key);
    }
    if let Some(password) = &user.password {
        leaf("user_password", password);
    }
    if let Some(pin) = &user.pin {
        leaf("user_PIN", pin);
    }
    leaf("user_addtl_info", &user.custom1);
    if malformed_language {
        // Exactly as the vendor's own example prints it.
        let _ = writeln!(out, "      <user_language>{}<user_language>", escape(&user.language));
    } else {
        let _ = writeln!(out, "      <user_language>{}</user_language>", escape(&user.language));
    }
    let _ = writeln!(out, "      <user_timezone>{}</user_timezone>", escape(&user.timezone));
    let _ = writeln!(out, "      <user_role>{}</user_role>", escape(&user.role));
    if permissions {
        out.push_str(
            "      <user_permissions>\n        <view_account_info>Yes</view_account_info>\n      </user_permissions>\n",
        );
    }
    out.push_str(&campaigns_xml(&user.allowed_campaigns));
    out.push_str("    </user>\n");
    out
}

fn campaigns_xml(allowed: &str) -> String {
    match allowed {
        "all" | "none" => {
            format!("      <user_allowed_campaigns status=\"{allowed}\">\n      </user_allowed_campaigns>\n")
        }
        ids => {
            let mut out = String::from("      <user_allowed_campaigns status=\"some\">\n");
            for id in ids.split(',') {
                let _ = writeln!(out, "        <campaign_id>{}</campaign_id>", escape(id.trim()));
            }
            out + "      </user_allowed_campaigns>\n"
        }
    }
}

impl Shared {
    fn list(&self, fields: &Fields, injected: Injected) -> Outcome {
        let query = ListQuery::parse(fields)?;
        let store = self.lock();
        let mut users: Vec<&CtUser> = store.users.values().filter(|u| !u.deleted && query.keeps(u)).collect();
        users.sort_by_cached_key(|u| (value_of(u, &query.sort).to_lowercase(), u.user_name.to_lowercase()));
        if query.descending {
            users.reverse();
        }
        let total = users.len();
        let length = self.options.page_cap.apply(query.length.unwrap_or(total));
        let mut page: Vec<&CtUser> = users.into_iter().skip(query.offset).take(length).collect();
        if injected.truncate {
            // The page claims the same total but is one user short.
            page.pop();
        }
        let mut out = format!(
            "  <pagination>\n    <total>{total}</total>\n    <offset>{}</offset>\n    <length>{length}</length>\n  </pagination>\n  <users>\n",
            query.offset
        );
        for user in page {
            out.push_str(&user_xml(user, query.permissions, store.malformed_language));
        }
        out.push_str("  </users>\n");
        Ok(out)
    }
}

/// The faults route label of a call, from its `type`.
fn route_of(body: &[u8]) -> &'static str {
    let kind = url::form_urlencoded::parse(body).find(|(k, _)| k == "type").map(|(_, v)| v.to_string());
    match kind.as_deref() {
        Some("users_list") => "list",
        Some("user_new") => "create",
        Some("user_update") => "update",
        Some("user_delete") => "delete",
        _ => "unknown",
    }
}

async fn api_route(State(s): State<Arc<Shared>>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let faults = s.faults.clone();
    let route = if method == Method::POST { route_of(&body) } else { "unknown" };
    faults
        .run(route, |injected| async move {
            if method != Method::POST {
                return (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response();
            }
            xml_answer(s.handle(&headers, &body, injected))
        })
        .await
}

/// A running Client Toolbox emulator on `127.0.0.1`; stops when shut down or dropped.
#[derive(Debug)]
pub struct CtSandbox {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl CtSandbox {
    /// Bind a free loopback port and serve the one API URL (any path).
    pub async fn start(options: CtSandboxOptions) -> std::io::Result<CtSandbox> {
        let mut store = Store::default();
        for user in &options.users {
            store.users.insert(user.user_name.to_lowercase(), user.clone());
        }
        let shared = Arc::new(Shared { options, store: Mutex::new(store), faults: Faults::new() });
        let app = Router::new().fallback(api_route).with_state(shared.clone());
        let server = LoopbackServer::start(app, "clienttoolbox").await?;
        let base_url = server.url("/")?;
        Ok(CtSandbox { shared, base_url, server })
    }

    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    pub fn account_id(&self) -> &str {
        &self.shared.options.account_id
    }

    pub fn owner(&self) -> &str {
        &self.shared.options.owner
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every user, deleted ones included, by lower-cased name.
    pub fn users(&self) -> Vec<CtUser> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user of this name (any case), deleted or not.
    pub fn user(&self, name: &str) -> Option<CtUser> {
        self.shared.lock().users.get(&name.to_lowercase()).cloned()
    }

    /// Seed a user (an admin, a leftover). Not validated, so tests can seed odd states.
    pub fn insert_user(&self, user: CtUser) {
        self.shared.lock().users.insert(user.user_name.to_lowercase(), user);
    }

    /// Serve listings with the vendor sample's unclosed `<user_language>` (or stop).
    pub fn set_malformed_language(&self, on: bool) {
        self.shared.lock().malformed_language = on;
    }

    /// Every authenticated call, oldest first.
    pub fn requests(&self) -> Vec<CtRequest> {
        self.shared.lock().requests.clone()
    }

    /// The latest authenticated call of this `type`.
    pub fn last_request(&self, kind: &str) -> Option<CtRequest> {
        self.shared.lock().requests.iter().rev().find(|r| r.kind == kind).cloned()
    }

    /// Names removed with `action=permanent`.
    pub fn permanent_deletes(&self) -> Vec<String> {
        self.shared.lock().permanent_deletes.clone()
    }

    /// Listing calls received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.shared.faults.count("list")
    }

    /// Write calls received (create, update, delete), faulted or not.
    pub fn write_calls(&self) -> usize {
        ["create", "update", "delete"].iter().map(|r| self.shared.faults.count(r)).sum()
    }

    /// Stop serving: graceful for a second, then abandoned.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// How the registry starts and measures this emulator.
pub const EMULATOR: crate::platform::emulator::EmulatorSpec = crate::platform::emulator::EmulatorSpec {
    start: |cap| Box::pin(async move {
        let emulator = CtSandbox::start(CtSandboxOptions::default().with_page_cap(cap)).await?;
        Ok(Box::new(emulator) as Box<dyn crate::platform::emulator::Emulator>)
    }),
    test_entry: "    caller_user_id: john1970\n    account_id: greatwidgets\n    roles: [ { role: K, allowed_campaigns: none } ]\n",
    reads_per_run: 0,
    reads_per_removal: 0,
    writes_per_removal: 1,
    demo: crate::platform::emulator::DemoSeed {
        label: "loyalty",
        key_file: "loyalty-api-key",
        entry: include_str!("demo.yaml"),
        start: || Box::pin(async move {
            let options = CtSandboxOptions::default();
            Ok(Box::new(CtSandbox::start(options).await?) as Box<dyn crate::platform::emulator::Emulator>)
        }),
    },
};

impl crate::platform::emulator::Emulator for CtSandbox {
    fn faults(&self) -> &Faults {
        CtSandbox::faults(self)
    }

    fn base_url(&self) -> url::Url {
        CtSandbox::base_url(self)
    }

    fn key(&self) -> String {
        SANDBOX_OWNER_KEY.to_string()
    }

    fn write_calls(&self) -> usize {
        CtSandbox::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.users().iter().filter(|u| !u.deleted).count()
    }

    fn with_access(&self) -> usize {
        self.users().iter().filter(|u| !u.deleted).count()
    }

    fn largest_page(&self) -> usize {
        super::MAX_PAGE_SIZE as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(CtSandbox::shutdown(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client {
        http: reqwest::Client,
        sandbox: CtSandbox,
    }

    impl Client {
        async fn start(options: CtSandboxOptions) -> Client {
            Client { http: reqwest::Client::new(), sandbox: CtSandbox::start(options).await.unwrap() }
        }

        /// POST `fields` after the common ones, with `header_key` as `api_access_key` when given.
        async fn call_with(&self, header_key: Option<&str>, kind: &str, fields: &[(&str, &str)]) -> String {
            let version = if kind == "users_list" { "1.6" } else { "1.1" };
            let mut form =
                vec![("API", version), ("user_id", "john1970"), ("account_id", "greatwidgets"), ("type", kind)];
            form.extend_from_slice(fields);
            let mut request = self.http.post(self.sandbox.base_url()).form(&form);
            if let Some(key) = header_key {
                request = request.header("api_access_key", key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "failures too come with HTTP 200");
            response.text().await.unwrap()
        }

        async fn call(&self, kind: &str, fields: &[(&str, &str)]) -> String {
            self.call_with(Some(SANDBOX_OWNER_KEY), kind, fields).await
        }
    }

    fn error_of(body: &str) -> Option<String> {
        let start = body.find("<error>")? + "<error>".len();
        Some(body[start..body.find("</error>")?].to_string())
    }

    fn new_user(name: &str) -> Vec<(&str, &str)> {
        vec![
            ("user_name", name),
            ("user_new_password", "Secret123x"),
            ("user_role", "K"),
            ("allowed_campaigns", "none"),
        ]
    }

    #[tokio::test]
    async fn the_key_is_checked_and_the_header_wins_over_the_form_field() {
        let c = Client::start(CtSandboxOptions::default()).await;
        assert_eq!(error_of(&c.call_with(None, "users_list", &[]).await).unwrap(), "Missing API access key");
        let wrong = c.call_with(Some("nope"), "users_list", &[("user_api_key", SANDBOX_OWNER_KEY)]).await;
        assert_eq!(error_of(&wrong).unwrap(), "Invalid user_id or API access key", "only the header counts");
        let form_only = c.call_with(None, "users_list", &[("user_api_key", SANDBOX_OWNER_KEY)]).await;
        assert!(form_only.contains("status=\"success\""), "{form_only}");
        assert!(c.sandbox.requests()[0].key_in_form);
        assert_eq!(c.sandbox.requests()[0].fields["user_api_key"], "[set]", "the key is not recorded");
    }

    #[tokio::test]
    async fn only_administrators_or_the_owner_may_call_and_versions_are_per_type() {
        let mut options = CtSandboxOptions::default();
        options.users[0].role = "K".into();
        let options = options.with_user(CtUser::new("clerk", "C", "K", "K").with_api_key("clerk-key"));
        let c = Client::start(options).await;
        assert!(c.call("users_list", &[]).await.contains("status=\"success\""), "the owner, whatever its role");
        let form = [("API", "1.6"), ("user_id", "clerk"), ("account_id", "greatwidgets"), ("type", "users_list")];
        let r = c.http.post(c.sandbox.base_url()).header("api_access_key", "clerk-key").form(&form).send().await;
        assert!(error_of(&r.unwrap().text().await.unwrap()).unwrap().starts_with("Permission denied"));
        let old = [("API", "1.5"), ("user_id", "john1970"), ("account_id", "greatwidgets"), ("type", "users_list")];
        let r = c.http.post(c.sandbox.base_url()).header("api_access_key", SANDBOX_OWNER_KEY).form(&old).send().await;
        assert!(error_of(&r.unwrap().text().await.unwrap()).unwrap().contains("use 1.6"));
        let unknown = c.call("users_list", &[("start", "0")]).await;
        assert_eq!(error_of(&unknown).unwrap(), "Unknown field start for users_list");
    }

    #[tokio::test]
    async fn listings_page_sort_search_and_carry_the_secrets() {
        let mut options = CtSandboxOptions::default();
        for name in ["dora", "Bea", "carl", "al"] {
            options = options.with_user(CtUser::new(name, "F", name, "K"));
        }
        let c = Client::start(options.with_user(CtUser::new("gone", "G", "G", "K").deleted())).await;
        let page = c.call("users_list", &[("offset", "1"), ("length", "2"), ("sortField", "user_name")]).await;
        assert!(page.contains("<total>5</total>") && page.contains("<offset>1</offset>"), "{page}");
        let names: Vec<&str> = page.split("<user_id>").skip(1).filter_map(|s| s.split('<').next()).collect();
        assert_eq!(names, ["Bea", "carl"]);
        assert!(page.contains("<user_PIN>1234</user_PIN>"));
        let owner =
            c.call("users_list", &[("searchField", "user_name"), ("searchOper", "eq"), ("searchValue", "JOHN1970")]);
        let owner = owner.await;
        assert!(
            owner.contains("<total>1</total>") && owner.contains(SANDBOX_OWNER_KEY),
            "secrets as the service lists them"
        );
        let bw =
            c.call("users_list", &[("searchField", "user_name"), ("searchOper", "bw"), ("searchValue", "c")]).await;
        assert!(bw.contains("<total>1</total>"));
    }

    #[tokio::test]
    async fn the_malformed_switch_serves_the_vendors_own_broken_sample() {
        let c = Client::start(CtSandboxOptions::default()).await;
        c.sandbox.set_malformed_language(true);
        assert!(c.call("users_list", &[]).await.contains("<user_language>EN<user_language>"));
    }

    #[tokio::test]
    async fn create_checks_names_roles_campaigns_and_keeps_deleted_names_taken() {
        let c = Client::start(CtSandboxOptions::default().with_user(CtUser::new("old", "O", "O", "K").deleted())).await;
        assert!(c.call("user_new", &new_user("Alex_1")).await.contains("status=\"success\""));
        assert!(c.sandbox.user("alex_1").unwrap().password.is_some());
        for (name, message) in [("ALEX_1", "already in use"), ("old", "already in use"), ("a.b", "Invalid user_name")] {
            let body = c.call("user_new", &new_user(name)).await;
            assert!(error_of(&body).unwrap().contains(message), "{name}: {body}");
        }
        let mut bad = new_user("zed");
        bad[3] = ("allowed_campaigns", "1234567890123456,999");
        assert_eq!(error_of(&c.call("user_new", &bad).await).unwrap(), "Unknown campaign id 999");
        let mut lower = new_user("zed");
        lower[2] = ("user_role", "k");
        assert!(error_of(&c.call("user_new", &lower).await).unwrap().starts_with("Invalid user_role"));
        let missing = c.call("user_new", &new_user("zed")[..3]).await;
        assert_eq!(error_of(&missing).unwrap(), "allowed_campaigns is required");
    }

    #[tokio::test]
    async fn soft_delete_hides_the_user_and_permanent_delete_frees_the_name_and_is_recorded() {
        let options = CtSandboxOptions::default()
            .with_user(CtUser::new("soft", "S", "S", "K"))
            .with_user(CtUser::new("hard", "H", "H", "K"));
        let c = Client::start(options).await;
        assert!(c.call("user_delete", &[("user_name", "soft")]).await.contains("status=\"success\""));
        assert!(c.sandbox.user("soft").unwrap().deleted);
        assert!(!c.call("users_list", &[]).await.contains("<user_id>soft</user_id>"));
        let again = c.call("user_update", &[("user_name", "soft"), ("user_last_name", "X")]).await;
        assert_eq!(error_of(&again).unwrap(), "User soft not found");
        c.call("user_delete", &[("user_name", "hard"), ("action", "permanent")]).await;
        assert_eq!(c.sandbox.permanent_deletes(), ["hard"]);
        assert!(c.call("user_new", &new_user("hard")).await.contains("status=\"success\""), "the name is free again");
        let owner = c.call("user_delete", &[("user_name", "john1970")]).await;
        assert!(error_of(&owner).is_some());
    }

    #[tokio::test]
    async fn update_changes_only_the_given_fields() {
        let c = Client::start(CtSandboxOptions::default().with_user(CtUser::new("ann", "Ann", "Lee", "K"))).await;
        let body =
            c.call("user_update", &[("user_name", "ANN"), ("timezone_selector", "12"), ("user_role", "A")]).await;
        assert!(body.contains("status=\"success\""), "{body}");
        let ann = c.sandbox.user("ann").unwrap();
        assert_eq!((ann.timezone.as_str(), ann.role.as_str(), ann.last_name.as_str()), ("12", "A", "Lee"));
        assert_eq!(error_of(&c.call("user_update", &[("user_name", "ann")]).await).unwrap(), "Nothing to update");
    }

    #[tokio::test]
    async fn every_route_goes_through_the_fault_script() {
        use crate::sandbox::faults::{Fault, FaultRule};
        let c = Client::start(CtSandboxOptions::default()).await;
        c.sandbox.faults().script(FaultRule::on("create", Fault::Garbage));
        assert!(c.call("user_new", &new_user("x1")).await.contains("<html>"));
        assert!(c.sandbox.user("x1").is_none());
        c.call("user_delete", &[("user_name", "nobody")]).await;
        c.call("users_list", &[]).await;
        assert_eq!((c.sandbox.write_calls(), c.sandbox.list_calls()), (2, 1));
    }
}
