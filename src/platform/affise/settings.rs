//! Affise settings and options: roles, permission levels, incremental reads, generated
//! passwords, how to reach a tenant, and the kind's registry entry.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

#[cfg(feature = "sandbox")]
use super::sandbox;
use super::{AffiseConnector, Connector, PlatformError};
use crate::platform::connection::Connection;
use crate::platform::kind::{self, RoleValue};

/// What to check when a listing's credentials are refused (401/403).
pub(super) const CREDENTIALS_CHECK: &str =
    "the key must be the API key of a General manager, sent in the API-Key header";
/// Affise's largest `limit`.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The fixed role set (there is no listing endpoint).
pub const ROLES: [&str; 12] = [
    "ROLE_ADMIN",
    "ROLE_MANAGER_AFFILIATE",
    "ROLE_MANAGER_SALES",
    "ROLE_SECTION_OFFER",
    "ROLE_SECTION_SUPPLIER",
    "ROLE_SECTION_DASHBOARD",
    "ROLE_SECTION_NEWS",
    "ROLE_SECTION_CATEGORY",
    "ROLE_SECTION_PARTNER",
    "ROLE_SECTION_TICKET",
    "ROLE_SECTION_AUTOMATION",
    "ROLE_SECTION_STATS",
];
/// Permission levels Affise knows.
pub const LEVELS: [&str; 3] = ["deny", "read", "write"];
/// Fields that every create needs.
pub(super) const NAME_FIELDS: [&str; 3] = ["first_name", "last_name", "email"];
/// Every field rosterd may write, by Affise's own names.
pub(super) const FIELDS: [&str; 6] = ["first_name", "last_name", "email", "skype", "work_hours", "type"];
/// Fields that may be cleared (sent empty).
pub(super) const CLEARABLE: [&str; 2] = ["skype", "work_hours"];
pub(super) const DEFAULT_READ_PATH: &str = "/3.0/admin/user/{id}";
pub(super) const DEFAULT_PERMISSIONS_FIELD: &str = "user.permissions";

/// A user's permissions: section → permission → `{"level": ..., ...}`.
pub type Permissions = Map<String, Value>;

// ---- Roles.

/// Role strings as the value the diff compares: known, de-duplicated, sorted, comma-joined.
/// Case is forgiven; an unknown string is an error naming it and the valid ones.
pub fn canonical_roles<'a>(roles: impl IntoIterator<Item = &'a str>) -> Result<String, String> {
    let mut set = BTreeSet::new();
    for raw in roles.into_iter().map(str::trim).filter(|r| !r.is_empty()) {
        match ROLES.iter().find(|k| k.eq_ignore_ascii_case(raw)) {
            Some(known) => set.insert(*known),
            None => return Err(format!("unknown Affise role {raw:?} (valid: {})", ROLES.join(", "))),
        };
    }
    if set.is_empty() {
        return Err(format!("needs at least one Affise role (valid: {})", ROLES.join(", ")));
    }
    Ok(set.into_iter().collect::<Vec<_>>().join(","))
}

/// A role value written as one string: a comma-separated list.
pub(super) fn canonical_value(value: &str) -> Result<String, String> {
    canonical_roles(value.split(','))
}

/// A role rule's `role`: a list of `ROLE_` strings, or one string.
pub(super) fn role_value(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    if let Some(k) = extra.keys().next() {
        return Err(format!("unknown key {:?} in a role rule (known: when, role)", k.as_str().unwrap_or("?")));
    }
    let role = match value {
        serde_yaml::Value::String(s) => canonical_value(s)?,
        serde_yaml::Value::Sequence(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(serde_yaml::Value::as_str).collect();
            let strings = strings.ok_or("must be a list of Affise role strings")?;
            canonical_roles(strings)?
        }
        _ => return Err("must be a list of Affise roles (ROLE_...) or one role string".into()),
    };
    Ok(RoleValue { role, fields: BTreeMap::new() })
}

// ---- Options.

/// The kind's own settings, as config writes them; every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AffiseOptions {
    pub(super) permissions: BTreeMap<String, Permissions>,
    pub(super) permissions_read_path: Option<String>,
    pub(super) permissions_field: Option<String>,
    pub(super) incremental: Option<IncrementalOption>,
}

/// `incremental:` of an Affise platform; every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct IncrementalOption {
    pub(super) enabled: bool,
    pub(super) full_read_every: Option<u32>,
}

/// Listings between full ones when `incremental.full_read_every` is not set.
pub const DEFAULT_FULL_READ_EVERY: u32 = 12;

/// Problems of a permissions object, each as (key path under it, message).
pub(super) fn permission_problems(permissions: &Permissions) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (section, entries) in permissions {
        let Some(entries) = entries.as_object() else {
            problems.push((section.clone(), "must be a mapping of permission → { level: ... }".into()));
            continue;
        };
        for (name, entry) in entries {
            if !entry["level"].as_str().is_some_and(|l| LEVELS.contains(&l)) {
                problems.push((format!("{section}.{name}.level"), format!("must be one of {}", LEVELS.join(", "))));
            }
        }
    }
    problems
}

impl AffiseOptions {
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for (key, permissions) in &self.permissions {
            let at = format!("permissions.{key}");
            match canonical_value(key) {
                Ok(role) if !seen.insert(role.clone()) => {
                    problems.push((at.clone(), format!("role {role} is configured twice")))
                }
                Ok(_) => {}
                Err(e) => problems.push((at.clone(), e)),
            }
            problems.extend(permission_problems(permissions).into_iter().map(|(k, m)| (format!("{at}.{k}"), m)));
        }
        if let Some(path) = self.permissions_read_path.as_deref() {
            if !path.starts_with('/') || !path.contains("{id}") || path.contains('?') {
                problems.push(("permissions_read_path".into(), "must be a path starting with / holding {id}".into()));
            }
        }
        if self.incremental.as_ref().is_some_and(|i| i.full_read_every == Some(0)) {
            problems
                .push(("incremental.full_read_every".into(), "must be at least 1 (1 = every listing is full)".into()));
        }
        if self.permissions_field.as_deref().is_some_and(|f| f.split('.').any(str::is_empty)) {
            problems.push(("permissions_field".into(), "must be a dotted field path like user.permissions".into()));
        }
        problems
    }

    /// The permissions by canonical role value.
    pub(super) fn permissions_by_role(&self) -> Result<BTreeMap<String, Permissions>, String> {
        let by_role = self.permissions.iter().map(|(k, p)| Ok((canonical_value(k)?, p.clone())));
        by_role.collect()
    }
}

pub(super) fn check_options(options: &serde_yaml::Mapping) -> Vec<(String, String)> {
    match kind::options::<AffiseOptions>(options) {
        Ok(o) => o.problems(),
        Err(problem) => vec![problem],
    }
}

// ---- Passwords.

pub(super) const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(super) const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
pub(super) const DIGITS: &[u8] = b"0123456789";
pub(super) const SPECIAL: &[u8] = b"!#$%*+-=?@^_~";
/// Within Affise's 8–30, long enough for ~150 bits.
pub(super) const PASSWORD_LENGTH: usize = 24;

/// A fresh password meeting the strictest published rule (8–30 characters with an upper-case
/// letter, a lower-case letter, a digit and a special character), from the OS's CSPRNG.
/// It is sent once and never stored, logged or returned anywhere else.
pub(super) fn generate_password() -> SecretString {
    let mut rng = rand::rngs::OsRng;
    let classes = [UPPER, LOWER, DIGITS, SPECIAL];
    // One of each class first, so the rule always holds; the shuffle hides where they are.
    let mut chars: Vec<u8> = classes.iter().map(|c| c[rng.gen_range(0..c.len())]).collect();
    let all = classes.concat();
    while chars.len() < PASSWORD_LENGTH {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}

// ---- Settings.

/// How to reach one Affise tenant. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct AffiseSettings {
    /// The platform's name in config (`affise`, `affise-eu`, ...).
    pub name: String,
    /// The tenant's API URL, e.g. `https://api-acme.affise.com`; `/3.0/...` goes under it.
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// `limit` of each listing page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// Canonical role value → the permissions restored on reactivation.
    pub permissions: BTreeMap<String, Permissions>,
    /// Where a user's permissions are read (`{id}` is the user's id) ...
    pub permissions_read_path: String,
    /// ... and the dotted field of that answer that holds them.
    pub permissions_field: String,
    /// Incremental listings: a full listing every this many (`None`: always full).
    pub incremental: Option<u32>,
}

impl AffiseSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages of 500.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> AffiseSettings {
        AffiseSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            page_size: MAX_PAGE_SIZE,
            permissions: BTreeMap::new(),
            permissions_read_path: DEFAULT_READ_PATH.into(),
            permissions_field: DEFAULT_PERMISSIONS_FIELD.into(),
            incremental: None,
        }
    }
}
/// What config needs to know about Affise.
pub const SPEC: kind::KindSpec = kind::KindSpec::new(
    "affise",
    "Affise",
    &FIELDS,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
)
.options(&["permissions", "permissions_read_path", "permissions_field", "incremental"], check_options)
.roles(role_value);

pub(super) fn build_from_config(p: &crate::platform::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: AffiseOptions = p.options()?;
    let mut settings = AffiseSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    settings.permissions = options.permissions_by_role().map_err(|message| p.unsupported(message))?;
    if let Some(path) = options.permissions_read_path {
        settings.permissions_read_path = path;
    }
    if let Some(field) = options.permissions_field {
        settings.permissions_field = field;
    }
    settings.incremental =
        options.incremental.filter(|i| i.enabled).map(|i| i.full_read_every.unwrap_or(DEFAULT_FULL_READ_EVERY).max(1));
    Ok(Box::new(AffiseConnector::new(settings)?))
}
