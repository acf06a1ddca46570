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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use compact_str::CompactString;
use reqwest::header::{ACCEPT, CONTENT_TYPE, IF_MATCH};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::connection::Connection;
use super::http::{check_base_url, check_page_size, Answer, PlatformHttp, RetryPolicy};
use super::redact::Redactor;
use super::{Connector, PlatformError, Traits};
use crate::model::{Account, DesiredAccount, FieldChange};
use crate::platform::groups::GroupPolicy;
use attributes::Attribute;

mod attributes;
mod groups;
mod listing;
pub mod wire;
mod write;
use listing::{parse_page, parse_user_with, Listing, Remote};
use write::{entry_ci, set_path};

/// What to check when a listing's credentials are refused (401/403).
const CREDENTIALS_CHECK: &str =
    "the bearer token (or Basic credentials) must be valid for this base_url and allowed to read /Users";
use wire::{ErrorBodies, ACCEPTED, MEDIA_TYPE};
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

impl ScimTargetConnector {
    pub fn new(settings: ScimTargetSettings) -> Result<ScimTargetConnector, PlatformError> {
        let refuse = |message: &str| {
            Err(PlatformError::Unsupported { platform: settings.name.clone(), message: message.into() })
        };
        let url = &settings.connection.base_url;
        check_base_url(&settings.name, url, None)?;
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            // The token belongs in api_key_file/env: a URL gets printed, a secret must not be.
            return refuse("base_url must carry no credentials and no query string");
        }
        if let Some(size) = settings.page_size {
            check_page_size(&settings.name, size, MAX_PAGE_SIZE)?;
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
pub const SPEC: super::kind::KindSpec = super::kind::KindSpec::new(
    "scim",
    "SCIM 2.0",
    &FIELDS_ALLOWED,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
)
.fields(
    &[
        ("userName", "{userName}"),
        ("externalId", "{id}"),
        ("givenName", "{name.givenName}"),
        ("familyName", "{name.familyName}"),
        ("displayName", "{displayName}"),
        ("email", "{email}"),
    ],
    "{userName}",
)
.options(&["patch", "etag", "groups"], check_options)
.roles(no_roles)
.extra_fields(|field| field.starts_with("urn:") && is_extra_field(field));

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
mod tests;
