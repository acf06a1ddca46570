//! The SCIM 2.0 target connector: provisions Users into any service provider that speaks RFC 7644.
//!
//! The dialect, per `platforms/scim.md` ("As a target"): a bearer token on every call, paged
//! `GET /Users` read until `totalResults` is held, `POST /Users` carrying `externalId` (the
//! source person's id), updates by `PATCH` when `ServiceProviderConfig` announces it and by a
//! whole-resource `PUT` otherwise, `If-Match` with `meta.version` when ETags are announced,
//! and access removed with `active=false`. No `DELETE` is ever sent.

/// The strict loopback emulator of this platform (tests, benchmarks, `rosterd demo`).
#[cfg(feature = "sandbox")]
pub mod sandbox;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use compact_str::CompactString;
use reqwest::header::{ACCEPT, CONTENT_TYPE, IF_MATCH};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::connection::Connection;
use super::http::{Answer, PlatformHttp, RetryPolicy};
use super::redact::Redactor;
use super::{Connector, PlatformError, Traits};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
use crate::platform::groups::GroupPolicy;
use attributes::Attribute;

mod attributes;
mod groups;
pub mod wire;

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str =
    "the bearer token (or Basic credentials) must be valid for this base_url and allowed to read /Users";
use wire::{ErrorBodies, ListResponse, ACCEPTED, MEDIA_TYPE};
pub use wire::{ERROR_URN, LIST_URN, PATCH_URN, USER_URN};
/// The largest `count` asked for; servers cap it lower themselves and the paging copes.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// The `count` asked when config sets none and the server announces no `filter.maxResults`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The pseudo-field of a change list that carries `active` / `inactive`.
pub const STATUS_FIELD: &str = "status";
/// The fields rosterd compares and writes, by the names config uses.
pub const FIELDS: [&str; 6] = ["userName", "externalId", "givenName", "familyName", "displayName", "email"];
/// Every field config may set: the core six, `title`, the enterprise extension by short
/// name, and any attribute by its URN path (see `attributes`).
pub const FIELDS_ALLOWED: [&str; 14] = [
    FIELDS[0],
    FIELDS[1],
    FIELDS[2],
    FIELDS[3],
    FIELDS[4],
    FIELDS[5],
    attributes::EXTRA_FIELDS[0],
    attributes::EXTRA_FIELDS[1],
    attributes::EXTRA_FIELDS[2],
    attributes::EXTRA_FIELDS[3],
    attributes::EXTRA_FIELDS[4],
    attributes::EXTRA_FIELDS[5],
    attributes::EXTRA_FIELDS[6],
    attributes::EXTRA_FIELDS[7],
];
pub use attributes::{is_extra as is_extra_field, URN_FIELD};

/// Whether to use a feature: as `ServiceProviderConfig` announces it, or regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Announce {
    /// Follow `ServiceProviderConfig`, read once per run.
    #[default]
    Auto,
    Always,
    Never,
}

/// How to reach one SCIM service provider. `Debug` is safe to log: the token is redacted.
#[derive(Debug, Clone)]
pub struct ScimTargetSettings {
    /// The platform's name in config.
    pub name: String,
    /// The SCIM base, before `/Users` (e.g. `https://app.example.com/scim/v2`).
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub token: SecretString,
    /// The `count` of each listing page; `None`: the server's `filter.maxResults` (the
    /// fewest listing calls), else [`DEFAULT_PAGE_SIZE`].
    pub page_size: Option<u32>,
    /// Update by `PATCH` (announced, always, never: then `PUT`).
    pub patch: Announce,
    /// Send `If-Match` with `meta.version` (announced, always, never).
    pub etag: Announce,
    /// Fields beyond the core six that config maps (`department`, URN paths, ...).
    pub extra_fields: Vec<String>,
    /// Which source groups to push, and what rosterd may do with target groups.
    pub groups: Option<GroupPolicy>,
}

impl ScimTargetSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages as
    /// large as the server announces, PATCH and ETags as the server announces them.
    pub fn new(name: &str, connection: impl Into<Connection>, token: SecretString) -> ScimTargetSettings {
        ScimTargetSettings {
            name: name.into(),
            connection: connection.into(),
            token,
            page_size: None,
            patch: Announce::Auto,
            etag: Announce::Auto,
            extra_fields: Vec::new(),
            groups: None,
        }
    }
}

/// The kind's own config keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScimTargetOptions {
    #[serde(default)]
    patch: Announce,
    #[serde(default)]
    etag: Announce,
    groups: Option<groups::RawGroups>,
}

/// What the server supports, as used for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub etag: bool,
}

/// One user resource as listed: the account, plus its `meta.version` for `If-Match`.
#[derive(Debug, Clone)]
struct Remote {
    account: Account,
    external_id: Option<String>,
    version: Option<String>,
}

/// One User resource; a resource without `id` or `userName` is refused.
fn parse_user(resource: Value) -> Result<Remote, String> {
    // Only the attributes compared here are parsed (Unknown ones, a `password` or certificate
    // a server wrongly returns, are dropped and never reach an Account).
    let user = wire::User::core(resource).map_err(|e| e.to_string())?;
    let email = user.primary_email().map(|e| e.to_string());
    let version = user.meta.map(wire::Meta::version).transpose().map_err(|e| e.to_string())?.flatten();
    let id = user.id.filter(|i| !i.is_empty()).ok_or("no id")?;
    let user_name = user.user_name.filter(|u| !u.trim().is_empty());
    let user_name = user_name.ok_or_else(|| format!("id \"{id}\": no userName (RFC 7643 makes it required)"))?;
    let name = user.name.unwrap_or_default();
    let mut fields = BTreeMap::new();
    let mut put = |field: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.insert(field.to_string(), v);
        }
    };
    put("userName", Some(user_name.to_string()));
    put("externalId", user.external_id.as_ref().map(CompactString::to_string));
    put("givenName", name.given_name.map(String::from));
    put("familyName", name.family_name.map(String::from));
    put("displayName", user.display_name.map(String::from));
    put("email", email);
    let status = if user.active.unwrap_or(true) { AccountStatus::Active } else { AccountStatus::Inactive };
    let account = Account { id, key: normalize_key(&user_name), fields: fields.into(), role: None, status };
    Ok(Remote { account, external_id: user.external_id.map(String::from), version })
}

/// One User resource with the configured extra attributes among its fields.
fn parse_user_with(resource: Value, attributes: &[Attribute]) -> Result<Remote, String> {
    let extra: Vec<(String, String)> =
        attributes.iter().filter_map(|a| Some((a.field.clone(), a.read(&resource)?))).collect();
    let mut remote = parse_user(resource)?;
    for (field, value) in extra {
        remote.account.fields.insert(crate::model::FieldName::new(&field), value.into());
    }
    Ok(remote)
}

/// One ListResponse page.
struct Page {
    total: u64,
    start: Option<u64>,
    resources: Vec<Value>,
}

fn parse_page(body: &[u8], redactor: &Redactor) -> Result<Page, wire::WireError> {
    let list = ListResponse::parse(body, redactor)?;
    let (total, start) = (list.total, list.start);
    Ok(Page { total, start, resources: list.resources()? })
}

/// A listing being read page by page; any page that does not add up fails it.
#[derive(Default)]
struct Listing {
    remotes: Vec<Remote>,
    ids: HashSet<CompactString>,
    total: Option<u64>,
    /// The extra attributes read into each account's fields.
    attributes: Vec<Attribute>,
}

impl Listing {
    /// Take one page; the `startIndex` to ask for next, or `None` when the listing is complete.
    fn add_page(&mut self, label: &str, start: u64, page: Page) -> Result<Option<u64>, String> {
        if let Some(before) = self.total.filter(|t| *t != page.total) {
            return Err(format!("{label}: totalResults changed from {before} to {} while paging", page.total));
        }
        self.total = Some(page.total);
        if let Some(answered) = page.start.filter(|s| *s != start) {
            return Err(format!("{label}: the answer starts at index {answered}"));
        }
        let held = self.remotes.len() as u64;
        if page.resources.is_empty() {
            return match held >= page.total {
                true => Ok(None),
                false => Err(format!("{label}: empty page after {held} of totalResults {}", page.total)),
            };
        }
        let count = page.resources.len() as u64;
        for (i, resource) in page.resources.into_iter().enumerate() {
            let remote =
                parse_user_with(resource, &self.attributes).map_err(|e| format!("{label}, resource {}: {e}", i + 1))?;
            if !self.ids.insert(remote.account.id.clone()) {
                return Err(format!("{label}: id \"{}\" listed twice", remote.account.id));
            }
            self.remotes.push(remote);
        }
        let more = (self.remotes.len() as u64) < page.total;
        Ok(more.then_some(start + count))
    }

    fn finish(self) -> Result<Vec<Remote>, String> {
        let total = self.total.unwrap_or(0);
        match self.remotes.len() as u64 == total {
            true => Ok(self.remotes),
            false => Err(format!("the listing holds {} users but totalResults is {total}", self.remotes.len())),
        }
    }
}

/// One attribute to write, by its SCIM path (PATCH `path`, or where PUT sets it).
#[derive(Debug, Clone, PartialEq)]
struct Write {
    path: String,
    value: Value,
}

/// The SCIM path of a rosterd field.
fn attribute_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "userName" => "userName",
        "externalId" => "externalId",
        "givenName" => "name.givenName",
        "familyName" => "name.familyName",
        "displayName" => "displayName",
        "email" => "emails",
        _ => return None,
    })
}

/// The value an attribute takes. rosterd owns `emails` on the target: one primary work
/// address, which is what it compares.
fn attribute_value(path: &str, value: &str) -> Value {
    match path {
        "emails" => json!([{ "value": value, "type": "work", "primary": true }]),
        _ => json!(value),
    }
}

/// Whether the changes planned against the listing still make sense on the resource as it
/// now is: each changed field still holds what was listed, or already what was wanted.
fn still_applies(current: &Account, changes: &[FieldChange]) -> bool {
    changes.iter().filter(|c| attribute_of(&c.field).is_some()).all(|c| {
        let now = current.fields.get(c.field.as_str()).map(CompactString::as_str);
        let same = |want: Option<&str>| match (now, want) {
            (Some(a), Some(b)) if c.field == "userName" => a.trim().eq_ignore_ascii_case(b.trim()),
            (a, b) => a == b,
        };
        same(c.before.as_deref()) || same(c.after.as_deref())
    })
}

/// The value stored under `name` in a SCIM object, found case-insensitively (inserted if absent).
fn entry_ci<'a>(map: &'a mut Map<String, Value>, name: &str) -> &'a mut Value {
    let key = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_string());
    map.entry(key).or_insert(Value::Null)
}

fn set_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        Some((parent, child)) => {
            let entry = entry_ci(map, parent);
            if !entry.is_object() {
                *entry = json!({});
            }
            if let Some(inner) = entry.as_object_mut() {
                set_path(inner, child, value);
            }
        }
        None => *entry_ci(map, path) = value,
    }
}

/// The whole resource for a PUT: as the server holds it, with the writes applied and the
/// read-only `meta` left out. Everything else (attributes rosterd does not manage) is kept.
fn put_body(resource: Value, writes: &[Write]) -> Result<Value, String> {
    let Value::Object(mut map) = resource else { return Err("the resource is not a JSON object".into()) };
    map.retain(|k, _| !k.eq_ignore_ascii_case("meta"));
    for write in writes {
        attributes::set_attribute(&mut map, &write.path, write.value.clone());
    }
    Ok(Value::Object(map))
}

fn patch_body(writes: &[Write]) -> Value {
    let operations: Vec<Value> =
        writes.iter().map(|w| json!({ "op": "replace", "path": w.path, "value": w.value })).collect();
    json!({ "schemas": [PATCH_URN], "Operations": operations })
}

/// A SCIM filter string literal: JSON string rules (RFC 7644 §3.4.2.2).
fn filter_literal(value: &str) -> String {
    Value::String(value.to_string()).to_string()
}

/// The useful part of an error answer: any `detail` a JSON body carries, else its start.
fn error_detail(body: &[u8], redactor: &Redactor) -> String {
    wire::error_detail(body, redactor, ErrorBodies::AnyDetail)
}

/// The SCIM target connector for one service provider.
#[derive(Debug)]
pub struct ScimTargetConnector {
    settings: ScimTargetSettings,
    http: PlatformHttp,
    users: Url,
    service_provider_config: Url,
    /// Discovered once per run by `prepare`. A std lock: only held to copy the value.
    capabilities: RwLock<Option<Capabilities>>,
    /// The `count` of listing pages, settled by `prepare` with the capabilities (0: not yet).
    page_size: AtomicU32,
    /// `meta.version` of each resource as last read, for `If-Match`. Filled by `list`.
    versions: Mutex<HashMap<CompactString, String>>,
    /// The attributes beyond the core six that config maps, read and written as fields.
    attributes: Vec<Attribute>,
}

/// Whether a write went through, or met a 412 (the resource changed since it was read).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Stale,
}

impl ScimTargetConnector {
    pub fn new(settings: ScimTargetSettings) -> Result<ScimTargetConnector, PlatformError> {
        let refuse = |message: &str| {
            Err(PlatformError::Unsupported { platform: settings.name.clone(), message: message.into() })
        };
        let url = &settings.connection.base_url;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return refuse("base_url must be an http or https URL");
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            // The token belongs in api_key_file/env: a URL gets printed, a secret must not be.
            return refuse("base_url must carry no credentials and no query string");
        }
        if settings.page_size.is_some_and(|size| !(1..=MAX_PAGE_SIZE).contains(&size)) {
            return refuse("page_size must be between 1 and 10000");
        }
        if settings.token.expose_secret().trim().is_empty() {
            return refuse("the bearer token (api key) is empty");
        }
        let at = |name: &str| {
            let mut url = settings.connection.base_url.clone();
            url.set_fragment(None);
            // Push a segment rather than `join`, so the base's own path (`/scim/v2`) is kept.
            url.path_segments_mut().map(|mut s| {
                s.pop_if_empty().push(name);
            })?;
            Ok::<Url, ()>(url)
        };
        let (Ok(users), Ok(service_provider_config)) = (at("Users"), at("ServiceProviderConfig")) else {
            return refuse("base_url cannot have paths under it");
        };
        let attributes = match settings.extra_fields.iter().map(|f| Attribute::of(f)).collect() {
            Ok(attributes) => attributes,
            Err(message) => return refuse(&message),
        };
        let http = PlatformHttp::new(&settings.name, &settings.connection)?.scrubbing(settings.token.clone());
        let settings_page_size = settings.page_size.unwrap_or(0);
        Ok(ScimTargetConnector {
            settings,
            http,
            users,
            service_provider_config,
            capabilities: RwLock::new(None),
            page_size: AtomicU32::new(settings_page_size),
            versions: Mutex::new(HashMap::new()),
            attributes,
        })
    }

    /// Replace the retry policy (tests use a short one).
    pub fn with_retry(mut self, policy: RetryPolicy) -> ScimTargetConnector {
        self.http.retry = policy;
        self
    }

    /// What this run uses: discovered (or overridden) once, by `prepare` or the first write.
    pub async fn capabilities(&self) -> Result<Capabilities, PlatformError> {
        let known = *self.capabilities.read().unwrap_or_else(PoisonError::into_inner);
        match known {
            Some(c) => Ok(c),
            None => self.discover().await,
        }
    }

    // ---- Errors. Every server text passes through `redact`: a server could echo the token.

    fn rejected(&self, operation: &str, message: String) -> PlatformError {
        PlatformError::Rejected {
            platform: self.settings.name.clone(),
            operation: operation.into(),
            message: self.http.redact(&message),
        }
    }

    /// An answer that is not a success: a client error is the record's own problem, the
    /// rest is the server's (5xx arrive here only once the retries are spent).
    fn failure(&self, operation: &str, answer: &Answer) -> PlatformError {
        let message = self.http.redact(&error_detail(&answer.body, self.http.redactor()));
        match answer.status.as_u16() {
            400 | 404 | 409 | 412 | 422 => self.rejected(operation, message),
            status => PlatformError::Status {
                platform: self.settings.name.clone(),
                operation: operation.into(),
                status,
                message,
            },
        }
    }

    // ---- Requests. The token travels only in the Authorization header.

    async fn call(
        &self,
        operation: &str,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, PlatformError> {
        let token = self.settings.token.expose_secret();
        let payload = body.map(Value::to_string);
        let build = || {
            let mut request =
                self.http.client.request(method.clone(), url.clone()).bearer_auth(token).header(ACCEPT, ACCEPTED);
            if let Some(payload) = &payload {
                request = request.header(CONTENT_TYPE, MEDIA_TYPE).body(payload.clone());
            }
            if let Some(version) = if_match {
                request = request.header(IF_MATCH, version);
            }
            request
        };
        let answer = self.http.send_with(groups::retry_mode(operation), operation, build).await?;
        let status = answer.status.as_u16();
        if status == 401 || status == 403 {
            let message = self.http.redact(&error_detail(&answer.body, self.http.redactor()));
            return Err(PlatformError::Auth {
                platform: self.settings.name.clone(),
                operation: operation.into(),
                message,
            });
        }
        Ok(answer)
    }

    /// A success answer's JSON body.
    fn json_of(&self, operation: &str, answer: &Answer) -> Result<Value, PlatformError> {
        if !answer.status.is_success() {
            return Err(self.failure(operation, answer));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| self.http.malformed(operation, format!("not JSON ({e}): {}", self.http.snippet(&answer.body))))
    }

    fn user_url(&self, id: &str) -> Url {
        let mut url = self.users.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(id);
        }
        url
    }

    fn remember(&self, remote: &Remote) {
        let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        match &remote.version {
            Some(v) => versions.insert(remote.account.id.clone(), v.clone()),
            None => versions.remove(remote.account.id.as_str()),
        };
    }

    fn forget(&self, id: &str) {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    fn cached_version(&self, id: &str) -> Option<String> {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    // ---- Discovery.

    async fn discover(&self) -> Result<Capabilities, PlatformError> {
        let fixed = |a: Announce| match a {
            Announce::Auto => None,
            Announce::Always => Some(true),
            Announce::Never => Some(false),
        };
        let (patch, etag) = (fixed(self.settings.patch), fixed(self.settings.etag));
        let announced = match patch.is_none() || etag.is_none() || self.settings.page_size.is_none() {
            true => Some(self.announced().await?),
            false => None,
        };
        let capabilities = Capabilities {
            patch: patch.or(announced.map(|a| a.0.patch)).unwrap_or(false),
            etag: etag.or(announced.map(|a| a.0.etag)).unwrap_or(false),
        };
        let page_size = self.settings.page_size.or(announced.and_then(|a| a.1)).unwrap_or(DEFAULT_PAGE_SIZE);
        self.page_size.store(page_size, Ordering::Relaxed);
        *self.capabilities.write().unwrap_or_else(PoisonError::into_inner) = Some(capabilities);
        tracing::debug!(platform = %self.settings.name, ?capabilities, page_size, "SCIM capabilities");
        Ok(capabilities)
    }

    /// The `count` of each listing page: as configured, else as large as the server allows.
    async fn page_size(&self) -> Result<u32, PlatformError> {
        if self.page_size.load(Ordering::Relaxed) == 0 {
            self.discover().await?;
        }
        Ok(self.page_size.load(Ordering::Relaxed))
    }

    /// `GET /ServiceProviderConfig`: `patch.supported` and `etag.supported` (absent is
    /// false), and `filter.maxResults` (the largest page the server answers), clamped to
    /// 1 ..= [`MAX_PAGE_SIZE`].
    async fn announced(&self) -> Result<(Capabilities, Option<u32>), PlatformError> {
        let operation = "service provider config";
        let answer = self.call(operation, Method::GET, &self.service_provider_config, None, None).await?;
        let value = wire::lowercase_keys(self.json_of(operation, &answer)?);
        if !value.is_object() {
            return Err(self
                .http
                .malformed(operation, format!("not a ServiceProviderConfig: {}", self.http.snippet(&answer.body))));
        }
        let supported = |feature: &str| value[feature]["supported"].as_bool().unwrap_or(false);
        let max_results = value["filter"]["maxresults"].as_u64().map(|m| m.clamp(1, u64::from(MAX_PAGE_SIZE)) as u32);
        Ok((Capabilities { patch: supported("patch"), etag: supported("etag") }, max_results))
    }
}

impl ScimTargetConnector {
    // ---- Reading.

    async fn fetch_page(&self, label: &str, start: u64) -> Result<Page, PlatformError> {
        let mut url = self.users.clone();
        url.set_query(Some(&wire::page_query(start, self.page_size().await?)));
        let answer = self.call(label, Method::GET, &url, None, None).await;
        let answer = answer.map_err(|e| e.with_credentials_hint(CREDENTIALS_CHECK))?;
        if !answer.status.is_success() {
            return Err(self.failure(label, &answer));
        }
        parse_page(&answer.body, self.http.redactor())
            .map_err(|detail| self.http.malformed("list", format!("{label}: {detail}")))
    }

    /// `GET /Users/{id}`, as the raw resource (PUT sends it back) and as parsed.
    async fn read_user(&self, operation: &str, id: &str) -> Result<(Value, Remote), PlatformError> {
        let answer = self.call(operation, Method::GET, &self.user_url(id), None, None).await?;
        let value = self.json_of(operation, &answer)?;
        let remote = parse_user_with(value.clone(), &self.attributes)
            .map_err(|e| self.http.malformed(operation, format!("user {id}: {e}")))?;
        if remote.account.id != id {
            return Err(self
                .http
                .malformed(operation, format!("asked for user {id}, the answer is {}", remote.account.id)));
        }
        self.remember(&remote);
        Ok((value, remote))
    }

    /// `GET /Users?filter=userName eq "..."`: the resource holding this userName, if any.
    async fn find_by_user_name(&self, operation: &str, user_name: &str) -> Result<Option<Remote>, PlatformError> {
        let filter = format!("userName eq {}", filter_literal(user_name));
        let mut url = self.users.clone();
        url.set_query(Some(&format!("filter={}", wire::encode_filter(&filter))));
        let answer = self.call(operation, Method::GET, &url, None, None).await?;
        if !answer.status.is_success() {
            return Err(self.failure(operation, &answer));
        }
        let page = parse_page(&answer.body, self.http.redactor())
            .map_err(|d| self.http.malformed(operation, format!("userName filter: {d}")))?;
        let wanted = normalize_key(user_name);
        let mut found = Vec::new();
        for resource in page.resources {
            let remote = parse_user_with(resource, &self.attributes)
                .map_err(|e| self.http.malformed(operation, format!("userName filter: {e}")))?;
            if remote.account.key == wanted {
                found.push(remote);
            }
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(self.rejected(operation, format!("{n} resources hold userName {user_name:?}"))),
        }
    }

    // ---- Writing.

    /// The attributes a change list writes; anything rosterd cannot write is refused before
    /// a request is sent.
    fn writes_for(
        &self,
        account: &Account,
        changes: &[FieldChange],
        active: Option<bool>,
    ) -> Result<Vec<Write>, PlatformError> {
        let cannot =
            |what: String| self.http.unsupported(format!("cannot {what} of {} (id {})", account.key, account.id));
        let mut writes = Vec::new();
        for change in changes {
            let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let field = change.field.as_str();
            let write = match (field, after) {
                (ROLE_FIELD, _) => return Err(cannot("change the role: roles are not managed on SCIM targets".into())),
                (STATUS_FIELD, Some("active")) => Write { path: "active".into(), value: json!(true) },
                (STATUS_FIELD, Some("inactive")) => Write { path: "active".into(), value: json!(false) },
                (STATUS_FIELD, other) => return Err(cannot(format!("set status {other:?}"))),
                (_, after) => {
                    let path = match attribute_of(field) {
                        Some(path) => path.to_string(),
                        None => self.extra_path(field).ok_or_else(|| {
                            cannot(format!("change {field:?}: not a field rosterd writes on SCIM targets"))
                        })?,
                    };
                    let value = after.ok_or_else(|| cannot(format!("clear {field}")))?;
                    Write { value: attribute_value(&path, value), path }
                }
            };
            writes.push(write);
        }
        if let Some(active) = active {
            // Last, so that a reactivation always ends active.
            writes.retain(|w| w.path != "active");
            writes.push(Write { path: "active".into(), value: json!(active) });
        }
        Ok(writes)
    }

    /// Write the changes (and the status), by PATCH or PUT; a 412 re-reads the resource and
    /// tries once more if the changes still make sense on it.
    async fn write(
        &self,
        operation: &str,
        account: &Account,
        changes: &[FieldChange],
        active: Option<bool>,
    ) -> Result<(), PlatformError> {
        let writes = self.writes_for(account, changes, active)?;
        if writes.is_empty() {
            return Ok(());
        }
        let capabilities = self.capabilities().await?;
        if self.attempt(operation, &account.id, &writes, capabilities).await? == Outcome::Done {
            return Ok(());
        }
        let stale = || self.rejected(operation, format!("user {} changed concurrently; re-plan", account.id));
        let (_, current) = self.read_user(operation, &account.id).await?;
        if !still_applies(&current.account, changes) {
            return Err(stale());
        }
        match self.attempt(operation, &account.id, &writes, capabilities).await? {
            Outcome::Done => Ok(()),
            Outcome::Stale => Err(stale()),
        }
    }

    async fn attempt(
        &self,
        operation: &str,
        id: &str,
        writes: &[Write],
        capabilities: Capabilities,
    ) -> Result<Outcome, PlatformError> {
        let (method, body, version) = if capabilities.patch {
            let version = match (capabilities.etag, self.cached_version(id)) {
                (false, _) => None,
                (true, Some(v)) => Some(v),
                (true, None) => self.read_user(operation, id).await?.1.version,
            };
            (Method::PATCH, patch_body(writes), version)
        } else {
            let (resource, remote) = self.read_user(operation, id).await?;
            let body =
                put_body(resource, writes).map_err(|d| self.http.malformed(operation, format!("user {id}: {d}")))?;
            (Method::PUT, body, remote.version.filter(|_| capabilities.etag))
        };
        let answer = self.call(operation, method, &self.user_url(id), Some(&body), version.as_deref()).await?;
        if answer.status.as_u16() == 412 {
            return Ok(Outcome::Stale);
        }
        if !answer.status.is_success() {
            return Err(self.failure(operation, &answer));
        }
        self.after_write(id, &answer);
        Ok(Outcome::Done)
    }

    /// The PATCH path of a configured extra attribute.
    fn extra_path(&self, field: &str) -> Option<String> {
        self.attributes.iter().find(|a| a.field == field).map(Attribute::patch_path)
    }

    /// Keep the version the answer gives (200 with the resource); a 204 gives none here.
    fn after_write(&self, id: &str, answer: &Answer) {
        let remote = serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| parse_user(v).ok());
        match remote.filter(|r| r.account.id == id) {
            Some(remote) => self.remember(&remote),
            None => self.forget(id),
        }
    }

    /// The POST body: every desired field rosterd writes, and `active`.
    fn create_body(&self, desired: &DesiredAccount) -> Result<(String, Value), PlatformError> {
        let field = |name: &str| desired.fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let user_name = field("userName").or(Some(desired.key.as_str()).filter(|k| !k.is_empty()));
        let user_name = user_name
            .ok_or_else(|| self.http.unsupported(format!("{} has no userName, which SCIM requires", desired.label)))?;
        let mut body = Map::new();
        body.insert("schemas".into(), json!([USER_URN]));
        body.insert("userName".into(), json!(user_name));
        for name in ["externalId", "givenName", "familyName", "displayName", "email"] {
            if let (Some(value), Some(path)) = (field(name), attribute_of(name)) {
                set_path(&mut body, path, attribute_value(path, value));
            }
        }
        for attribute in &self.attributes {
            if let Some(value) = field(&attribute.field) {
                attributes::set_attribute(&mut body, &attribute.patch_path(), json!(value));
            }
        }
        let known = |f: &str| FIELDS.contains(&f) || self.extra_path(f).is_some();
        if let Some(unknown) = desired.fields.keys().find(|f| !known(f.as_str())) {
            return Err(self.http.unsupported(format!("{unknown:?} is not a field rosterd writes on SCIM targets")));
        }
        if desired.role.is_some() {
            return Err(self.http.unsupported("roles are not managed on SCIM targets".into()));
        }
        body.insert("active".into(), json!(true));
        Ok((user_name.to_string(), Value::Object(body)))
    }

    /// A 409 on create: the name is taken. The resource holding it is this person's account
    /// (linked) when its externalId is this person's or absent; otherwise it is someone else's.
    async fn adopt_existing(
        &self,
        desired: &DesiredAccount,
        user_name: &str,
        answer: &Answer,
    ) -> Result<Account, PlatformError> {
        let detail = self.http.redact(&error_detail(&answer.body, self.http.redactor()));
        let Some(existing) = self.find_by_user_name("create", user_name).await? else {
            return Err(self
                .rejected("create", format!("userName {user_name:?} conflicts ({detail}), but no resource holds it")));
        };
        let wanted = desired.fields.get("externalId").map(|v| v.trim()).filter(|v| !v.is_empty());
        match (existing.external_id.as_deref().filter(|v| !v.is_empty()), wanted) {
            (None, _) | (_, None) => {}
            (Some(have), Some(want)) if have == want => {}
            (Some(have), Some(_)) => {
                let message = format!("userName {user_name:?} is taken by user {} with externalId {have:?}: a conflict for a person to resolve", existing.account.id);
                return Err(self.rejected("create", message));
            }
        }
        tracing::info!(platform = %self.settings.name, id = %existing.account.id, "create met an existing resource; linked it");
        self.remember(&existing);
        Ok(existing.account)
    }
}

#[async_trait]
impl Connector for ScimTargetConnector {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// Deactivated accounts come back with `active=true`; a deleted one is created anew.
    fn traits(&self) -> Traits {
        Traits::new("userName")
    }

    /// Read what the server supports afresh for this run.
    async fn prepare(&self) -> Result<(), PlatformError> {
        self.discover().await.map(|_| ())
    }

    async fn list(&self) -> Result<Vec<Account>, PlatformError> {
        let mut listing = Listing { attributes: self.attributes.clone(), ..Listing::default() };
        let (mut next, mut page) = (Some(1), 0);
        while let Some(start) = next {
            page += 1;
            let label = wire::page_label("Users", page, start);
            let answer = self.fetch_page(&label, start).await?;
            next = listing.add_page(&label, start, answer).map_err(|detail| self.http.malformed("list", detail))?;
        }
        let remotes = listing.finish().map_err(|detail| self.http.malformed("list", detail))?;
        let versions: HashMap<CompactString, String> =
            remotes.iter().filter_map(|r| Some((r.account.id.clone(), r.version.clone()?))).collect();
        *self.versions.lock().unwrap_or_else(PoisonError::into_inner) = versions;
        tracing::debug!(platform = %self.settings.name, accounts = remotes.len(), pages = page, "listed users");
        Ok(remotes.into_iter().map(|r| r.account).collect())
    }

    async fn create(&self, desired: &DesiredAccount) -> Result<Account, PlatformError> {
        let (user_name, body) = self.create_body(desired)?;
        let answer = self.call("create", Method::POST, &self.users, Some(&body), None).await?;
        if answer.status.as_u16() == 409 {
            return self.adopt_existing(desired, &user_name, &answer).await;
        }
        let value = self.json_of("create", &answer)?;
        let remote = parse_user_with(value, &self.attributes)
            .map_err(|e| self.http.malformed("create", format!("the created user: {e}")))?;
        self.remember(&remote);
        Ok(remote.account)
    }

    async fn update(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        self.write("update", account, changes, None).await
    }

    /// `active=false`: the account stays, and can come back.
    async fn deactivate(&self, account: &Account) -> Result<(), PlatformError> {
        self.write("deactivate", account, &[], Some(false)).await
    }

    /// One call: `active=true` plus the changes.
    async fn reactivate(&self, account: &Account, changes: &[FieldChange]) -> Result<(), PlatformError> {
        self.write("reactivate", account, changes, Some(true)).await
    }

    /// The contract's own look-up, `filter=userName eq "..."`: one call, not a listing.
    async fn find(&self, key: &str) -> Result<Option<Account>, PlatformError> {
        Ok(self.find_by_user_name("find", key).await?.map(|remote| remote.account))
    }

    async fn known_roles(&self) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }

    fn groups(&self) -> Option<&dyn crate::platform::groups::GroupTarget> {
        self.settings.groups.as_ref().map(|_| self as &dyn crate::platform::groups::GroupTarget)
    }
}

/// Roles are not managed on SCIM targets: a role rule is a config error.
fn no_roles(_: &serde_yaml::Value, _: &serde_yaml::Mapping) -> Result<super::kind::RoleValue, String> {
    Err("roles are not managed on SCIM targets; leave roles out".into())
}

fn check_options(options: &serde_yaml::Mapping) -> Vec<(String, String)> {
    match super::kind::options::<ScimTargetOptions>(options) {
        Ok(ScimTargetOptions { groups: Some(groups), .. }) => groups.policy().err().into_iter().collect(),
        Ok(_) => Vec::new(),
        Err(problem) => vec![problem],
    }
}

/// What config needs to know about SCIM targets.
pub const SPEC: super::kind::KindSpec = super::kind::KindSpec {
    kind: "scim",
    vendor: "SCIM 2.0",
    default_base_url: None,
    default_fields: &[
        ("userName", "{userName}"),
        ("externalId", "{id}"),
        ("givenName", "{name.givenName}"),
        ("familyName", "{name.familyName}"),
        ("displayName", "{displayName}"),
        ("email", "{email}"),
    ],
    fields_allowed: &FIELDS_ALLOWED,
    default_match_key: "{userName}",
    option_keys: &["patch", "etag", "groups"],
    check_options,
    role: no_roles,
    extra_field: Some(|field| field.starts_with("urn:") && is_extra_field(field)),
    role_with_options: None,
    build: build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox: sandbox::EMULATOR,
};

fn build_from_config(p: &super::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: ScimTargetOptions = p.options()?;
    let mut settings = ScimTargetSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    settings.patch = options.patch;
    settings.etag = options.etag;
    settings.page_size = p.page_size;
    settings.extra_fields = p.mapped_fields.iter().filter(|f| !FIELDS.contains(f)).map(|f| f.to_string()).collect();
    if let Some(groups) = options.groups {
        let policy = groups.policy().map_err(|(key, message)| p.unsupported(format!("option {key}: {message}")))?;
        settings.groups = Some(policy);
    }
    Ok(Box::new(ScimTargetConnector::new(settings)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser};
    use crate::sandbox::faults::{Fault, FaultRule};
    use std::time::Duration;

    /// Distinctive, so a leak anywhere is found by a plain substring search.
    const TOKEN: &str = "scim-LEAKCHECK-4be01f9c77";

    fn settings_for(sandbox: &ScimSandbox, token: &str, page_size: u32) -> ScimTargetSettings {
        let mut settings = ScimTargetSettings::new("scim", sandbox.base_url(), SecretString::from(token.to_string()));
        settings.connection.timeout = Duration::from_secs(5);
        settings.connection.per_second = 0.0;
        settings.page_size = Some(page_size);
        settings
    }

    async fn start(options: ScimSandboxOptions, page_size: u32) -> (ScimSandbox, ScimTargetConnector) {
        let sandbox = ScimSandbox::start(options.with_token(TOKEN)).await.unwrap();
        let connector = ScimTargetConnector::new(settings_for(&sandbox, TOKEN, page_size))
            .unwrap()
            .with_retry(RetryPolicy::quick());
        (sandbox, connector)
    }

    fn people(n: usize) -> ScimSandboxOptions {
        (0..n).fold(ScimSandboxOptions::default(), |options, i| {
            let name = format!("p{i}@acme.example");
            options.with_user(
                ScimUser::new(&name, "Given", &format!("Family{i}"), &name).with_external_id(&format!("src-{i}")),
            )
        })
    }

    fn desired(user_name: &str, external_id: &str) -> DesiredAccount {
        DesiredAccount {
            person_id: external_id.into(),
            label: user_name.into(),
            key: normalize_key(user_name),
            fields: crate::model::Fields::from([
                ("userName".to_string(), user_name.to_string()),
                ("externalId".to_string(), external_id.to_string()),
                ("givenName".to_string(), "Alex".to_string()),
                ("familyName".to_string(), "Chen".to_string()),
                ("email".to_string(), user_name.to_lowercase()),
            ]),
            role: None,
        }
    }

    fn change(field: &str, before: Option<&str>, after: &str) -> FieldChange {
        FieldChange { field: field.into(), before: before.map(str::to_string), after: Some(after.into()) }
    }

    async fn account(connector: &ScimTargetConnector, user_name: &str) -> Account {
        connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(user_name)).unwrap()
    }

    fn page_body(resources: Value, total: u64, start: u64) -> Fault {
        let body = json!({"schemas": [LIST_URN], "totalResults": total, "startIndex": start, "Resources": resources});
        Fault::Status { code: 200, retry_after: None, body: body.to_string() }
    }

    fn malformed_detail<T: std::fmt::Debug>(result: Result<T, PlatformError>) -> String {
        match result {
            Err(PlatformError::Malformed { detail, .. }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn rejected_message<T: std::fmt::Debug>(result: Result<T, PlatformError>) -> String {
        match result {
            Err(PlatformError::Rejected { message, .. }) => message,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn listing_across_pages_returns_every_user_once_with_its_fields() {
        let (sandbox, scim) = start(people(7), 3).await;
        let accounts = scim.list().await.unwrap();
        assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
        let starts: Vec<String> = sandbox.list_queries().iter().map(|q| q["startIndex"].clone()).collect();
        assert_eq!(starts, ["1", "4", "7"]);
        assert!(sandbox.list_queries().iter().all(|q| q["count"] == "3"));
        let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        assert_eq!(ids, sandbox.users().into_iter().map(|u| u.id).collect::<Vec<_>>());
        let p3 = &accounts[3];
        assert_eq!(p3.key, "p3@acme.example");
        assert_eq!(p3.status, AccountStatus::Active);
        let fields: Vec<(&str, &str)> = p3.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("email", "p3@acme.example"),
                ("externalId", "src-3"),
                ("familyName", "Family3"),
                ("givenName", "Given"),
                ("userName", "p3@acme.example")
            ]
        );
    }

    #[tokio::test]
    async fn a_server_that_caps_count_is_paged_by_what_it_returned() {
        let (sandbox, scim) = start(people(7).with_max_results(2), 5).await;
        assert_eq!(scim.list().await.unwrap().len(), 7);
        let starts: Vec<String> = sandbox.list_queries().iter().map(|q| q["startIndex"].clone()).collect();
        assert_eq!(starts, ["1", "3", "5", "7"]);
    }

    #[tokio::test]
    async fn without_a_page_size_pages_are_as_large_as_the_server_announces() {
        let sandbox = ScimSandbox::start(people(7).with_max_results(4).with_token(TOKEN)).await.unwrap();
        let mut settings = settings_for(&sandbox, TOKEN, 1);
        settings.page_size = None;
        let scim = ScimTargetConnector::new(settings).unwrap();
        scim.prepare().await.unwrap();
        assert_eq!(scim.list().await.unwrap().len(), 7);
        assert!(sandbox.list_queries().iter().all(|q| q["count"] == "4"), "{:?}", sandbox.list_queries());
        assert_eq!(sandbox.list_calls(), 2, "7 users in pages of 4");
        assert_eq!(sandbox.faults().count("config"), 1, "one discovery read serves the run");
    }

    #[tokio::test]
    async fn an_empty_server_lists_no_users() {
        let (_sandbox, scim) = start(ScimSandboxOptions::default(), 10).await;
        assert!(scim.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn create_sends_the_resource_with_external_id_and_active() {
        let (sandbox, scim) = start(people(1), 10).await;
        let created = scim.create(&desired("A.Chen@acme.example", "src-9")).await.unwrap();
        assert_eq!((created.key.as_str(), created.status), ("a.chen@acme.example", AccountStatus::Active));
        let write = sandbox.last_write().unwrap();
        assert_eq!(write.method, "POST");
        let mut keys: Vec<&String> = write.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["active", "emails", "externalId", "name", "schemas", "userName"]);
        assert_eq!(write.body["emails"], json!([{"value": "a.chen@acme.example", "type": "work", "primary": true}]));
        let stored = sandbox.user_by_name("a.chen@acme.example").unwrap();
        assert_eq!((stored.external_id.as_deref(), stored.given_name.as_deref()), (Some("src-9"), Some("Alex")));
        assert_eq!(account(&scim, "a.chen@acme.example").await, created);
    }

    #[tokio::test]
    async fn update_patches_only_the_changed_attributes_with_if_match() {
        let (sandbox, scim) = start(people(2), 10).await;
        scim.prepare().await.unwrap();
        let p1 = account(&scim, "p1@acme.example").await;
        let version = sandbox.user(&p1.id).unwrap().etag();
        scim.update(&p1, &[change("givenName", Some("Given"), "Gina")]).await.unwrap();
        let write = sandbox.last_write().unwrap();
        assert_eq!((write.method.as_str(), write.patch_paths()), ("PATCH", vec!["name.givenName".to_string()]));
        assert_eq!(write.if_match, Some(version));
        assert_eq!(write.body["Operations"][0], json!({"op": "replace", "path": "name.givenName", "value": "Gina"}));
        let stored = sandbox.user(&p1.id).unwrap();
        assert_eq!((stored.given_name.as_deref(), stored.family_name.as_deref()), (Some("Gina"), Some("Family1")));
        let writes = sandbox.write_calls();
        scim.update(&p1, &[]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes, "nothing to change, nothing sent");
    }

    #[tokio::test]
    async fn without_patch_announced_an_update_puts_the_whole_resource() {
        let (sandbox, scim) = start(people(2).without_patch(), 10).await;
        scim.prepare().await.unwrap();
        assert_eq!(scim.capabilities().await.unwrap(), Capabilities { patch: false, etag: true });
        let p0 = account(&scim, "p0@acme.example").await;
        scim.update(&p0, &[change("email", Some("p0@acme.example"), "p0.new@acme.example")]).await.unwrap();
        let write = sandbox.last_write().unwrap();
        assert_eq!(write.method, "PUT");
        assert_eq!(write.if_match, Some("W/\"1\"".to_string()));
        assert!(write.body.get("meta").is_none(), "meta is read-only");
        let stored = sandbox.user(&p0.id).unwrap();
        assert_eq!(stored.email(), Some("p0.new@acme.example"));
        assert_eq!(stored.family_name.as_deref(), Some("Family0"), "the rest of the resource is kept");
        assert_eq!(stored.external_id.as_deref(), Some("src-0"));
        assert!(sandbox.writes().iter().all(|w| w.method != "PATCH"));
    }

    #[tokio::test]
    async fn deactivate_sets_active_false_and_reactivate_restores_it_with_changes_in_one_call() {
        let (sandbox, scim) = start(people(1), 10).await;
        let p0 = account(&scim, "p0@acme.example").await;
        scim.deactivate(&p0).await.unwrap();
        let write = sandbox.last_write().unwrap();
        assert_eq!(write.body["Operations"], json!([{"op": "replace", "path": "active", "value": false}]));
        let off = account(&scim, "p0@acme.example").await;
        assert_eq!(off.status, AccountStatus::Inactive);
        let writes = sandbox.write_calls();
        scim.reactivate(&off, &[change("familyName", Some("Family0"), "Okafor")]).await.unwrap();
        assert_eq!(sandbox.write_calls(), writes + 1);
        assert_eq!(sandbox.last_write().unwrap().patch_paths(), ["name.familyName", "active"]);
        let back = sandbox.user(&p0.id).unwrap();
        assert_eq!((back.active, back.family_name.as_deref()), (true, Some("Okafor")));
    }

    #[tokio::test]
    async fn deactivate_by_put_when_patch_is_not_announced() {
        let (sandbox, scim) = start(people(1).without_patch(), 10).await;
        let p0 = account(&scim, "p0@acme.example").await;
        scim.deactivate(&p0).await.unwrap();
        assert_eq!(sandbox.last_write().unwrap().method, "PUT");
        assert!(!sandbox.user(&p0.id).unwrap().active);
    }

    #[tokio::test]
    async fn a_409_on_create_links_the_resource_when_its_external_id_matches_or_is_absent() {
        let options = people(0)
            .with_user(ScimUser::new("mine@acme.example", "A", "B", "mine@acme.example").with_external_id("src-1"))
            .with_user(ScimUser::new("bare@acme.example", "A", "B", "bare@acme.example"))
            .with_user(ScimUser::new("theirs@acme.example", "A", "B", "t@acme.example").with_external_id("other"));
        let (sandbox, scim) = start(options, 10).await;
        let linked = scim.create(&desired("MINE@acme.example", "src-1")).await.unwrap();
        assert_eq!(linked.id, sandbox.user_by_name("mine@acme.example").unwrap().id);
        let bare = scim.create(&desired("bare@acme.example", "src-2")).await.unwrap();
        assert_eq!(bare.id, sandbox.user_by_name("bare@acme.example").unwrap().id);
        let message = rejected_message(scim.create(&desired("theirs@acme.example", "src-3")).await);
        assert!(message.contains("externalId \"other\"") && message.contains("a person to resolve"), "{message}");
        assert_eq!(sandbox.users().len(), 3, "nothing was created twice");
        assert_eq!(sandbox.faults().count("find"), 3);
        let lookup = sandbox.list_queries().last().unwrap().clone();
        assert_eq!(lookup["filter"], "userName eq \"theirs@acme.example\"");
    }

    #[tokio::test]
    async fn a_412_rereads_and_retries_once_when_the_change_still_applies() {
        let (sandbox, scim) = start(people(1), 10).await;
        let p0 = account(&scim, "p0@acme.example").await;
        // Another admin edits an attribute rosterd is not changing.
        sandbox.modify(&p0.id, |u| u.display_name = Some("Someone".into()));
        scim.update(&p0, &[change("givenName", Some("Given"), "Gina")]).await.unwrap();
        let patches: Vec<_> = sandbox.writes().into_iter().filter(|w| w.method == "PATCH").collect();
        assert_eq!(patches.len(), 2);
        assert_eq!(
            (patches[0].if_match.as_deref(), patches[1].if_match.as_deref()),
            (Some("W/\"1\""), Some("W/\"2\""))
        );
        let stored = sandbox.user(&p0.id).unwrap();
        assert_eq!((stored.given_name.as_deref(), stored.display_name.as_deref()), (Some("Gina"), Some("Someone")));
    }

    #[tokio::test]
    async fn a_412_on_a_field_changed_meanwhile_is_rejected_for_a_new_plan() {
        for options in [people(1), people(1).without_patch()] {
            let (sandbox, scim) = start(options, 10).await;
            let p0 = account(&scim, "p0@acme.example").await;
            sandbox.modify(&p0.id, |u| u.given_name = Some("Greta".into()));
            if !scim.capabilities().await.unwrap().patch {
                // A PUT reads first, so the race must land between its read and its write.
                sandbox.faults().script(FaultRule::on("put", Fault::status(412)));
            }
            let message = rejected_message(scim.update(&p0, &[change("givenName", Some("Given"), "Gina")]).await);
            assert!(message.contains("changed concurrently; re-plan"), "{message}");
            assert_eq!(sandbox.user(&p0.id).unwrap().given_name.as_deref(), Some("Greta"), "nothing overwritten");
        }
    }

    #[tokio::test]
    async fn without_etags_no_if_match_is_sent() {
        let (sandbox, scim) = start(people(1).without_etag(), 10).await;
        let p0 = account(&scim, "p0@acme.example").await;
        scim.deactivate(&p0).await.unwrap();
        assert_eq!(sandbox.last_write().unwrap().if_match, None);
    }

    #[tokio::test]
    async fn contract_errors_surface_on_their_record() {
        let (sandbox, scim) = start(people(2), 10).await;
        let accounts = scim.list().await.unwrap();
        let gone = Account { id: "u999999".into(), ..accounts[0].clone() };
        assert!(rejected_message(scim.deactivate(&gone).await).contains("not found"));
        let message = rejected_message(scim.update(&accounts[0], &[change("userName", None, "p1@acme.example")]).await);
        assert!(message.contains("uniqueness"), "{message}");
        let writes = sandbox.write_calls();
        for bad in
            [change(ROLE_FIELD, None, "admin"), change("title", None, "Boss"), change(STATUS_FIELD, None, "gone")]
        {
            assert!(matches!(scim.update(&accounts[1], &[bad]).await, Err(PlatformError::Unsupported { .. })));
        }
        assert_eq!(sandbox.write_calls(), writes, "nothing unwritable is sent");
        sandbox.faults().script(FaultRule::on("patch", Fault::status(503)).always());
        match scim.deactivate(&accounts[1]).await {
            Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
            other => panic!("expected Status 503, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_wrong_token_is_an_auth_error() {
        let (sandbox, _) = start(people(1), 10).await;
        let scim = ScimTargetConnector::new(settings_for(&sandbox, "not-the-token", 10)).unwrap();
        assert!(matches!(scim.prepare().await, Err(PlatformError::Auth { .. })));
        assert!(matches!(scim.list().await, Err(PlatformError::Auth { .. })));
    }

    #[tokio::test]
    async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
        let (sandbox, scim) = start(people(7), 3).await;
        sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
        let detail = malformed_detail(scim.list().await);
        assert!(detail.starts_with("Users page 2 (startIndex=4): not JSON"), "{detail}");
        sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(3));
        let detail = malformed_detail(scim.list().await);
        assert!(detail.contains("Users page 3 (startIndex=7): empty page after 6 of totalResults 7"), "{detail}");
    }

    #[tokio::test]
    async fn pages_that_do_not_add_up_are_malformed() {
        let (sandbox, scim) = start(people(4), 2).await;
        let user = |id: &str| json!({"id": id, "userName": format!("{id}@x.com")});
        let faults = sandbox.faults();
        faults.script(FaultRule::on("list", page_body(json!([user("u000001")]), 4, 3)).nth(2));
        assert!(malformed_detail(scim.list().await).contains("id \"u000001\" listed twice"));
        faults.script(FaultRule::on("list", page_body(json!([user("a"), user("b")]), 5, 3)).nth(2));
        assert!(malformed_detail(scim.list().await).contains("totalResults changed from 4 to 5"));
        faults.script(FaultRule::on("list", page_body(json!([user("a")]), 4, 1)).nth(2));
        assert!(malformed_detail(scim.list().await).contains("the answer starts at index 1"));
        faults.script(FaultRule::on("list", page_body(json!([{"id": "x"}]), 1, 1)));
        assert!(malformed_detail(scim.list().await).contains("resource 1: id \"x\": no userName"));
        faults.script(FaultRule::on("list", page_body(json!([]), 3, 1)));
        assert!(malformed_detail(scim.list().await).contains("empty page after 0 of totalResults 3"));
    }

    /// One error of each kind, the sandbox stopped at the end for a transport error.
    async fn errors_of_every_kind(sandbox: ScimSandbox, scim: &ScimTargetConnector) -> Vec<PlatformError> {
        let p0 = account(scim, "p0@acme.example").await;
        let faults = sandbox.faults();
        let mut errors = Vec::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        errors.push(scim.list().await.unwrap_err());
        // A server echoing the token back in a message must not carry it further.
        let echo =
            json!({"schemas": [ERROR_URN], "status": "400", "detail": format!("bad request from Bearer {TOKEN}")});
        faults.script(FaultRule::on("patch", Fault::Status { code: 400, retry_after: None, body: echo.to_string() }));
        errors.push(scim.update(&p0, &[change("givenName", None, "X")]).await.unwrap_err());
        faults.script(FaultRule::on("patch", Fault::status(503)).always());
        errors.push(scim.deactivate(&p0).await.unwrap_err());
        faults.clear();
        errors.push(scim.update(&p0, &[change(ROLE_FIELD, None, "admin")]).await.unwrap_err());
        let wrong = ScimTargetConnector::new(settings_for(&sandbox, &format!("{TOKEN}-old"), 1)).unwrap();
        errors.push(wrong.prepare().await.unwrap_err());
        sandbox.shutdown().await;
        errors.push(scim.prepare().await.unwrap_err());
        errors
    }

    #[tokio::test]
    async fn the_token_and_returned_passwords_appear_in_no_account_error_or_debug_output() {
        let (sandbox, scim) = start(people(2), 1).await;
        let settings = settings_for(&sandbox, TOKEN, 1);
        // A server that wrongly returns a password with a user: dropped at parse time.
        let leaky = json!([{"id": "z", "userName": "z@x.com", "password": "pw-LEAKCHECK-91", "x509Certificates": [{"value": "MIIC"}]}]);
        sandbox.faults().script(FaultRule::on("list", page_body(leaky, 1, 1)));
        let accounts = scim.list().await.unwrap();
        let text = format!("{accounts:?} {}", serde_json::to_string(&accounts).unwrap());
        assert!(!text.contains("pw-LEAKCHECK") && !text.contains("MIIC"), "{text}");
        let errors = errors_of_every_kind(sandbox, &scim).await;
        let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
        assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(TOKEN), "token leaked: {text}");
            }
        }
        assert!(errors[1].to_string().contains("[redacted]"));
        for text in [format!("{scim:?}"), format!("{scim:#?}"), format!("{settings:?}")] {
            assert!(!text.contains(TOKEN), "token leaked: {text}");
        }
    }

    #[test]
    fn endpoints_keep_the_base_path_and_refuse_credentials_in_the_url() {
        let token = || SecretString::from("t".to_string());
        let base = Url::parse("https://app.example/scim/v2/").unwrap();
        let scim = ScimTargetConnector::new(ScimTargetSettings::new("s", base, token())).unwrap();
        assert_eq!(scim.users.as_str(), "https://app.example/scim/v2/Users");
        assert_eq!(scim.user_url("a b").as_str(), "https://app.example/scim/v2/Users/a%20b");
        for bad in ["https://u:p@app.example/scim", "https://app.example/scim?token=x", "ftp://app.example/"] {
            let settings = ScimTargetSettings::new("s", Url::parse(bad).unwrap(), token());
            assert!(matches!(ScimTargetConnector::new(settings), Err(PlatformError::Unsupported { .. })), "{bad}");
        }
    }

    #[test]
    fn options_are_checked_and_roles_refused() {
        let options: serde_yaml::Mapping = serde_yaml::from_str("patch: never\netag: always").unwrap();
        assert!(check_options(&options).is_empty());
        let bad: serde_yaml::Mapping = serde_yaml::from_str("patch: sometimes").unwrap();
        assert_eq!(check_options(&bad)[0].0, "patch");
        assert!(no_roles(&serde_yaml::Value::from("admin"), &serde_yaml::Mapping::new()).is_err());
        assert_eq!(filter_literal("a\"b"), "\"a\\\"b\"");
    }
}
