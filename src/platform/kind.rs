//! The registry of platform kinds: what config needs to know about each (its fields,
//! match key, role values, own settings) and how to build its connector. Adding a
//! platform is one connector file plus one `KindSpec` entry here.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::{Connector, PlatformError};
use crate::config::PlatformConfig;

/// A role rule's role as the platform compares it, plus fields the role implies
/// (Client Toolbox's `allowed_campaigns`, say).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleValue {
    pub role: String,
    pub fields: BTreeMap<String, String>,
}

/// Everything config and setup need to know about one kind of platform.
#[derive(Debug)]
pub struct KindSpec {
    /// The `kind:` value in config.
    pub kind: &'static str,
    /// The vendor's name, for messages.
    pub vendor: &'static str,
    /// Used when config gives no `base_url`.
    pub default_base_url: Option<&'static str>,
    /// Field templates the kind starts from; config `fields` override them one by one.
    pub default_fields: &'static [(&'static str, &'static str)],
    /// Every field config may set.
    pub fields_allowed: &'static [&'static str],
    pub default_match_key: &'static str,
    /// The kind's own settings (keys of the platform entry beyond the common ones).
    pub option_keys: &'static [&'static str],
    /// Check the kind's own settings; each problem as (key, message).
    pub check_options: fn(&Mapping) -> Vec<(String, String)>,
    /// A role rule's `role` (and its other keys) → the platform's role value.
    pub role: fn(&Value, &Mapping) -> Result<RoleValue, String>,
    /// Build the connector for a validated platform entry.
    pub build: fn(&PlatformConfig) -> Result<Box<dyn Connector>, PlatformError>,
}

/// Every kind rosterd knows.
pub fn all() -> &'static [&'static KindSpec] {
    &[
        &super::cake::SPEC,
        &super::affise::SPEC,
        &super::agencyanalytics::SPEC,
        &super::filespin::SPEC,
        &super::clienttoolbox::SPEC,
        &super::scim::SPEC,
    ]
}

/// Whether config may map `field` on this kind: a listed field, or for kinds that list
/// [`super::scim::URN_FIELD`], any well-formed `urn:<schema>:<attribute>` path.
pub fn field_allowed(kind: &KindSpec, field: &str) -> bool {
    kind.fields_allowed.contains(&field)
        || (field.starts_with("urn:")
            && kind.fields_allowed.contains(&super::scim::URN_FIELD)
            && super::scim::is_extra_field(field))
}

pub fn find(kind: &str) -> Option<&'static KindSpec> {
    all().iter().copied().find(|k| k.kind == kind)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|k| k.kind).collect()
}

/// Role values that are one plain string (CAKE role names, AgencyAnalytics roles).
pub fn string_role(value: &Value, extra: &Mapping) -> Result<RoleValue, String> {
    if let Some(k) = extra.keys().next() {
        return Err(format!("unknown key {:?} in a role rule (known: when, role)", k.as_str().unwrap_or("?")));
    }
    match value {
        Value::String(s) if !s.trim().is_empty() => {
            Ok(RoleValue { role: s.trim().to_string(), fields: BTreeMap::new() })
        }
        _ => Err("must be a role name (a string)".into()),
    }
}

/// A role rule's role for `kind`, with the platform's own options at hand: FileSpin's role
/// table is config (`role_ids`), so its role names resolve against it; every other kind's
/// roles do not depend on its options.
pub fn role_value(kind: &KindSpec, value: &Value, extra: &Mapping, options: &Mapping) -> Result<RoleValue, String> {
    match kind.kind {
        "filespin" => super::filespin::spec_role_with_options(value, extra, options),
        _ => (kind.role)(value, extra),
    }
}

/// No options beyond the common keys.
pub fn no_options(_: &Mapping) -> Vec<(String, String)> {
    Vec::new()
}

/// Deserialise a kind's options from the entry's extra keys, reporting (key, message).
pub fn options<T: serde::de::DeserializeOwned>(extra: &Mapping) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(Value::Mapping(extra.clone())).map_err(|e| {
        let path = e.path().to_string();
        (if path == "." { String::new() } else { path }, e.into_inner().to_string())
    })
}
