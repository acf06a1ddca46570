//! What the registry knows of one platform kind ([`KindSpec`]): what config needs to know
//! about it (its fields, match key, role values, own settings), how to build its connector
//! and, with the `sandbox` feature, its emulator. The list of kinds is [`super::registry`].

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use secrecy::SecretString;

use super::connection::Connection;
use super::{Connector, PlatformError};

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
    /// Fields beyond [`KindSpec::fields_allowed`] config may map (SCIM's extension
    /// attributes, `urn:<schema>:<attribute>`).
    pub extra_field: Option<fn(&str) -> bool>,
    /// A role rule's `role` (and its other keys) → the platform's role value.
    pub role: fn(&Value, &Mapping) -> Result<RoleValue, String>,
    /// For kinds whose role table is config (FileSpin's `role_ids`): the role value read
    /// against the platform's own options; takes the place of [`KindSpec::role`].
    pub role_with_options: Option<RoleWithOptions>,
    /// Build the connector for a validated platform entry.
    pub build: fn(&BuildInput) -> Result<Box<dyn Connector>, PlatformError>,
    /// The kind's strict loopback emulator.
    #[cfg(feature = "sandbox")]
    pub sandbox: super::emulator::EmulatorSpec,
}

/// The fields most kinds start from: a person's first name, last name and email.
pub const NAME_AND_EMAIL: &[(&str, &str)] =
    &[("first_name", "{name.givenName}"), ("last_name", "{name.familyName}"), ("email", "{email}")];

/// A registry entry is built from what every kind must say (its name, vendor, fields, how to
/// build its connector and emulator), then the const builder methods below set only what
/// differs from the usual, so each entry reads as what is its own.
impl KindSpec {
    /// A kind with the usual: no default base URL, the [`NAME_AND_EMAIL`] fields matched by
    /// `{email}`, no settings of its own, a role as one plain string, no extra fields.
    pub const fn new(
        kind: &'static str,
        vendor: &'static str,
        fields_allowed: &'static [&'static str],
        build: fn(&BuildInput) -> Result<Box<dyn Connector>, PlatformError>,
        #[cfg(feature = "sandbox")] sandbox: super::emulator::EmulatorSpec,
    ) -> Self {
        KindSpec {
            kind,
            vendor,
            default_base_url: None,
            default_fields: NAME_AND_EMAIL,
            fields_allowed,
            default_match_key: "{email}",
            option_keys: &[],
            check_options: no_options,
            extra_field: None,
            role: string_role,
            role_with_options: None,
            build,
            #[cfg(feature = "sandbox")]
            sandbox,
        }
    }

    /// The base URL used when config gives none.
    pub const fn base_url(mut self, url: &'static str) -> Self {
        self.default_base_url = Some(url);
        self
    }

    /// Other default fields and match key than [`NAME_AND_EMAIL`] and `{email}`.
    pub const fn fields(
        mut self,
        default_fields: &'static [(&'static str, &'static str)],
        match_key: &'static str,
    ) -> Self {
        self.default_fields = default_fields;
        self.default_match_key = match_key;
        self
    }

    /// The kind's own settings: their keys and the check run on them.
    pub const fn options(
        mut self,
        keys: &'static [&'static str],
        check: fn(&Mapping) -> Vec<(String, String)>,
    ) -> Self {
        self.option_keys = keys;
        self.check_options = check;
        self
    }

    /// Role values read otherwise than as one plain string.
    pub const fn roles(mut self, role: fn(&Value, &Mapping) -> Result<RoleValue, String>) -> Self {
        self.role = role;
        self
    }

    /// Role values read against the platform's own options (see [`KindSpec::role_with_options`]).
    pub const fn roles_with_options(mut self, role: RoleWithOptions) -> Self {
        self.role_with_options = Some(role);
        self
    }

    /// Fields beyond `fields_allowed` that config may map (see [`KindSpec::extra_field`]).
    pub const fn extra_fields(mut self, accepts: fn(&str) -> bool) -> Self {
        self.extra_field = Some(accepts);
        self
    }
}

/// A role rule's role read against the platform's own options (role, other keys, options).
pub type RoleWithOptions = fn(&Value, &Mapping, &Mapping) -> Result<RoleValue, String>;

/// What a connector is built from: the validated platform entry, as far as the connection goes.
#[derive(Debug)]
pub struct BuildInput<'a> {
    pub name: &'a str,
    pub connection: &'a Connection,
    pub api_key: &'a SecretString,
    pub page_size: Option<u32>,
    /// The kind's own settings, already checked by [`KindSpec::check_options`].
    pub options: &'a Mapping,
    /// The fields config maps (a SCIM target pushes the extension ones it is given).
    pub mapped_fields: Vec<&'a str>,
}

impl BuildInput<'_> {
    /// The kind's own settings, deserialised.
    pub fn options<T: serde::de::DeserializeOwned>(&self) -> Result<T, PlatformError> {
        options(self.options).map_err(|(key, message)| self.unsupported(format!("option {key}: {message}")))
    }

    /// A setting this platform cannot work with.
    pub fn unsupported(&self, message: String) -> PlatformError {
        PlatformError::Unsupported { platform: self.name.to_string(), message }
    }
}

/// Whether config may map `field` on this kind: a listed field, or one the kind's
/// [`KindSpec::extra_field`] accepts.
pub fn field_allowed(kind: &KindSpec, field: &str) -> bool {
    kind.fields_allowed.contains(&field) || kind.extra_field.is_some_and(|extra| extra(field))
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
    match kind.role_with_options {
        Some(role) => role(value, extra, options),
        None => (kind.role)(value, extra),
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
