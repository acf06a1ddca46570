//! FileSpin settings and options: how to reach a tenant, its role table and endpoint
//! paths, and the kind's registry entry (what config needs to know, how it builds a connector).

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

#[cfg(feature = "sandbox")]
use super::sandbox;
use super::{Connector, FileSpinConnector, PlatformError};
use crate::platform::connection::Connection;
use crate::platform::kind::{KindSpec, RoleValue};

/// What to check when a listing's credentials are refused (401/403).
pub(super) const CREDENTIALS_CHECK: &str =
    "the key must belong to a FileSpin user with the Admin role (a user administrator)";
/// FileSpin answers at most this many users per listing call; the page size is not ours to pick.
pub const PAGE_SIZE: u64 = 30;
/// The listing, under the base URL.
pub const USERS_PATH: &str = "/api/v1/users";
/// Create [inferred]: config may move it (`create_path`).
pub const DEFAULT_CREATE_PATH: &str = "/api/v1/user";
/// Update [inferred]: config may move it (`update_path`, with `{id}`).
pub const DEFAULT_UPDATE_PATH: &str = "/api/v1/user/{id}";
/// The built-in roles by `role_id`: a guess (see the module comment); `role_ids` replaces it.
pub const ROLES: [(u64, &str); 4] = [(1, "ADMIN"), (2, "MANAGER"), (3, "CREATOR"), (4, "USER")];
/// The secrets FileSpin puts in every user record: removed before anything else looks.
pub(super) const SECRET_FIELDS: [&str; 3] = ["apikey", "access_id", "uploadKey"];
/// The fields rosterd compares and writes, by FileSpin's own names.
pub(super) const FIELDS: [&str; 5] = ["first_name", "last_name", "email", "locale", "group_asset_access"];
/// The pseudo-field of a change list that carries `active` / `inactive`.
pub(super) const STATUS_FIELD: &str = "status";

/// The kind's own config keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpinOptions {
    /// Where users are created; default [`DEFAULT_CREATE_PATH`].
    #[serde(default)]
    pub create_path: Option<String>,
    /// Where one user is updated, `{id}` standing for the user id; default [`DEFAULT_UPDATE_PATH`].
    #[serde(default)]
    pub update_path: Option<String>,
    /// The tenant's role table, name → `role_id`; default [`ROLES`] (a guess).
    #[serde(default)]
    pub role_ids: Option<BTreeMap<String, u64>>,
}

/// A role table: `role_id` and name, in id order.
pub type RoleTable = Vec<(u64, String)>;

/// The built-in table, [`ROLES`].
pub fn default_roles() -> RoleTable {
    ROLES.iter().map(|(id, name)| (*id, name.to_string())).collect()
}

/// The table config gives (`role_ids`), else the built-in one.
pub(super) fn roles_from(options: &FileSpinOptions) -> RoleTable {
    let Some(map) = &options.role_ids else { return default_roles() };
    let mut table: RoleTable = map.iter().map(|(name, id)| (*id, name.trim().to_uppercase())).collect();
    table.sort();
    table
}

/// Problems with a configured role table: empty, a blank name, an id given twice.
pub(super) fn check_roles(map: &BTreeMap<String, u64>) -> Option<String> {
    let mut ids: Vec<u64> = map.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    if map.is_empty() || map.keys().any(|n| n.trim().is_empty()) {
        return Some("must map each role name to its role_id, e.g. { ADMIN: 1, USER: 4 }".into());
    }
    (ids.len() != map.len()).then(|| "two role names have the same role_id".into())
}

/// How to reach one FileSpin user group. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct FileSpinSettings {
    /// The platform's name in config.
    pub name: String,
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    /// The key of a user with the Admin role; only that admin's user group is visible.
    pub api_key: SecretString,
    pub create_path: String,
    pub update_path: String,
    /// `role_id` ↔ name; default [`ROLES`].
    pub roles: RoleTable,
}

impl FileSpinSettings {
    /// Settings with the usual defaults: the contract's paths, 30 s time-out, 5 requests a second.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> FileSpinSettings {
        FileSpinSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            create_path: DEFAULT_CREATE_PATH.into(),
            update_path: DEFAULT_UPDATE_PATH.into(),
            roles: default_roles(),
        }
    }
}

/// A role id from a config value in `table`: a role name in any case, or an id (a number or its digits).
pub fn role_id_of(table: &RoleTable, raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let by_id = raw.parse::<u64>().ok().filter(|id| table.iter().any(|(i, _)| i == id));
    by_id.or_else(|| table.iter().find(|(_, n)| n.eq_ignore_ascii_case(raw)).map(|(i, _)| *i))
}

pub(super) fn role_names(table: &RoleTable) -> String {
    table.iter().map(|(i, n)| format!("{n} ({i})")).collect::<Vec<_>>().join(", ")
}

/// A path option must be absolute and carry no query: it goes under the base URL.
pub(super) fn check_path(path: &str, needs_id: bool) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(format!("{path:?} must be a path such as {DEFAULT_CREATE_PATH}"));
    }
    match (needs_id, path.matches("{id}").count()) {
        (true, 1) | (false, 0) => Ok(()),
        (true, _) => Err(format!("{path:?} must hold {{id}} once, where the user id goes")),
        (false, _) => Err(format!("{path:?} must not hold {{id}}")),
    }
}

/// `path` under `base`, keeping any path prefix the base has.
pub(super) fn endpoint(base: &Url, path: &str) -> Option<Url> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut().ok()?.pop_if_empty().extend(path.split('/').filter(|s| !s.is_empty()));
    Some(url)
}
/// What config needs to know about FileSpin.
pub const SPEC: KindSpec = KindSpec::new(
    "filespin",
    "FileSpin",
    &FIELDS,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
)
.base_url("https://app.filespin.io")
.options(&["create_path", "update_path", "role_ids"], check_options)
.roles(spec_role)
.roles_with_options(spec_role_with_options);

/// A role rule's role with the built-in table: a role name or id, kept as the role id.
pub(super) fn spec_role(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    spec_role_in(value, extra, &default_roles())
}

/// A role rule's role with the platform's own table (`role_ids`, when its options give one).
pub fn spec_role_with_options(
    value: &serde_yaml::Value,
    extra: &serde_yaml::Mapping,
    options: &serde_yaml::Mapping,
) -> Result<RoleValue, String> {
    // Options that do not parse are reported on their own key; the built-in table stands in.
    let table = crate::platform::kind::options(options).map(|o| roles_from(&o)).unwrap_or_else(|_| default_roles());
    spec_role_in(value, extra, &table)
}

pub(super) fn spec_role_in(
    value: &serde_yaml::Value,
    extra: &serde_yaml::Mapping,
    table: &RoleTable,
) -> Result<RoleValue, String> {
    let text = match value {
        serde_yaml::Value::Number(n) => serde_yaml::Value::String(n.to_string()),
        other => other.clone(),
    };
    let mut role = crate::platform::kind::string_role(&text, extra)?;
    let id = role_id_of(table, &role.role).ok_or_else(|| {
        format!("{:?} is not a FileSpin role (known: {}; set role_ids for another table)", role.role, role_names(table))
    })?;
    role.role = id.to_string();
    Ok(role)
}

pub(super) fn check_options(extra: &serde_yaml::Mapping) -> Vec<(String, String)> {
    let options: FileSpinOptions = match crate::platform::kind::options(extra) {
        Ok(options) => options,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    if let Some(Err(message)) = options.create_path.as_deref().map(|p| check_path(p, false)) {
        problems.push(("create_path".to_string(), message));
    }
    if let Some(message) = options.role_ids.as_ref().and_then(check_roles) {
        problems.push(("role_ids".to_string(), message));
    }
    if let Some(Err(message)) = options.update_path.as_deref().map(|p| check_path(p, true)) {
        problems.push(("update_path".to_string(), message));
    }
    problems
}

pub(super) fn build_from_config(p: &crate::platform::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: FileSpinOptions = p.options()?;
    if p.page_size.is_some() {
        tracing::warn!(platform = %p.name, "page_size is ignored: FileSpin always answers 30 users a page");
    }
    let mut settings = FileSpinSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    settings.roles = roles_from(&options);
    settings.create_path = options.create_path.unwrap_or_else(|| DEFAULT_CREATE_PATH.into());
    settings.update_path = options.update_path.unwrap_or_else(|| DEFAULT_UPDATE_PATH.into());
    Ok(Box::new(FileSpinConnector::new(settings)?))
}
