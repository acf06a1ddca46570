//! A user as the SCIM emulator stores it, how request values land on it (names
//! case-insensitive, types checked as a real server's schema does) and how it is rendered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{enterprise, ScimError, BASE_PATH, ENTERPRISE_URN, USER_URN};

/// One email of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimEmail {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub primary: bool,
}

/// A user as the emulator stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    /// Empty asks [`ScimSandbox::insert_user`] to assign the next id.
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub emails: Vec<ScimEmail>,
    pub active: bool,
    /// Bumped on every change; served as `W/"<version>"`.
    pub version: u64,
    /// Write-only (RFC 7643 `returned: never`): kept, never served.
    pub password: Option<String>,
    /// The enterprise extension's attributes by name (`department`, `manager`, ...).
    pub enterprise: BTreeMap<String, String>,
    /// `meta.lastModified`: set to the server's clock on every change; a seeded user keeps
    /// what it was given ([`SEEDED_AT`] unless set), so tests start from a quiet past.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// When seeded users were last modified, unless a test says otherwise.
pub const SEEDED_AT: &str = "2024-01-01T00:00:00Z";

pub(super) fn seeded_at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(SEEDED_AT).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default()
}

impl ScimUser {
    /// An active user with a primary work email, an id to be assigned on insertion.
    pub fn new(user_name: &str, given: &str, family: &str, email: &str) -> ScimUser {
        ScimUser {
            user_name: user_name.into(),
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            emails: vec![ScimEmail { value: email.into(), kind: Some("work".into()), primary: true }],
            ..ScimUser::blank("")
        }
    }

    pub(super) fn blank(id: &str) -> ScimUser {
        ScimUser {
            id: id.into(),
            user_name: String::new(),
            external_id: None,
            given_name: None,
            family_name: None,
            display_name: None,
            emails: Vec::new(),
            active: true,
            version: 1,
            password: None,
            enterprise: BTreeMap::new(),
            last_modified: seeded_at(),
        }
    }

    pub fn inactive(mut self) -> ScimUser {
        self.active = false;
        self
    }

    pub fn with_external_id(mut self, external_id: &str) -> ScimUser {
        self.external_id = Some(external_id.into());
        self
    }

    /// Seed with this `meta.lastModified` (tests spread seeded users over the past).
    pub fn last_modified_at(mut self, at: chrono::DateTime<chrono::Utc>) -> ScimUser {
        self.last_modified = at;
        self
    }

    pub fn with_password(mut self, password: &str) -> ScimUser {
        self.password = Some(password.into());
        self
    }

    /// The primary email, else the first.
    pub fn email(&self) -> Option<&str> {
        self.emails.iter().find(|e| e.primary).or(self.emails.first()).map(|e| e.value.as_str())
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

// ---- Attributes: how a value in a request lands on a stored user. Names are
// case-insensitive (RFC 7643 §2.1); types are checked, as a real server's schema does.

pub(super) fn string_of(path: &str, value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::value(format!("{path} must be a string"))),
    }
}

pub(super) fn emails_of(value: &Value) -> Result<Vec<ScimEmail>, ScimError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(_) => {
            let emails: Vec<ScimEmail> = serde_json::from_value(value.clone())
                .map_err(|e| ScimError::value(format!("emails must be a list of {{value, type, primary}}: {e}")))?;
            if emails.iter().filter(|e| e.primary).count() > 1 {
                return Err(ScimError::value("at most one email may be primary"));
            }
            Ok(emails)
        }
        _ => Err(ScimError::value("emails must be a list")),
    }
}

/// Set one attribute (a top-level name, or `name.givenName` / `name.familyName`).
pub(super) fn set_attribute(user: &mut ScimUser, path: &str, value: &Value) -> Result<(), ScimError> {
    match path.to_lowercase().as_str() {
        "username" => match string_of(path, value)? {
            Some(name) if !name.trim().is_empty() => user.user_name = name,
            _ => return Err(ScimError::value("userName is required and may not be empty")),
        },
        "externalid" => user.external_id = string_of(path, value)?,
        "displayname" => user.display_name = string_of(path, value)?,
        "name.givenname" => user.given_name = string_of(path, value)?,
        "name.familyname" => user.family_name = string_of(path, value)?,
        "name" => set_name(user, value)?,
        "emails" => user.emails = emails_of(value)?,
        "active" => user.active = value.as_bool().ok_or_else(|| ScimError::value("active must be a boolean"))?,
        "password" => user.password = string_of(path, value)?,
        _ => return Err(ScimError::path(format!("attribute {path:?} is not supported"))),
    }
    Ok(())
}

pub(super) fn set_name(user: &mut ScimUser, value: &Value) -> Result<(), ScimError> {
    let Value::Object(name) = value else { return Err(ScimError::value("name must be an object")) };
    user.given_name = None;
    user.family_name = None;
    for (key, v) in name {
        match key.to_lowercase().as_str() {
            "givenname" | "familyname" => set_attribute(user, &format!("name.{key}"), v)?,
            // Formatted and the rest are accepted and not kept: rosterd never writes them.
            "formatted" | "middlename" | "honorificprefix" | "honorificsuffix" => {}
            _ => return Err(ScimError::syntax(format!("name.{key} is not an attribute of name"))),
        }
    }
    Ok(())
}

/// The user as a SCIM resource: never the password.
pub(super) fn user_json(user: &User<'_>) -> Value {
    let u = user.user;
    let mut body = json!({
        "schemas": [USER_URN],
        "id": u.id,
        "userName": u.user_name,
        "active": u.active,
        "meta": {
            "resourceType": "User",
            "location": format!("{BASE_PATH}/Users/{}", u.id),
            "lastModified": u.last_modified.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        },
    });
    if user.versioned {
        body["meta"]["version"] = json!(u.etag());
    }
    if let Some(v) = &u.external_id {
        body["externalId"] = json!(v);
    }
    if u.given_name.is_some() || u.family_name.is_some() {
        body["name"] = json!({ "givenName": u.given_name, "familyName": u.family_name });
    }
    if let Some(v) = &u.display_name {
        body["displayName"] = json!(v);
    }
    if !u.emails.is_empty() {
        body["emails"] = json!(u.emails);
    }
    enterprise::render(u, &mut body);
    body
}

/// A user and whether versions are served, for rendering.
pub(super) struct User<'a> {
    pub(super) user: &'a ScimUser,
    pub(super) versioned: bool,
}
/// The paths a PATCH `replace` may name: the attributes rosterd writes.
pub(super) const PATCH_PATHS: &[&str] =
    &["username", "externalid", "name.givenname", "name.familyname", "displayname", "emails", "active"];
/// Top-level attributes a POST or PUT may carry (`id` and `meta` only on PUT, and ignored).
pub(super) const RESOURCE_ATTRIBUTES: &[&str] =
    &["schemas", "username", "externalid", "name", "displayname", "emails", "active", "password"];
/// Set every attribute of a POST or PUT body; `ignored` names are accepted and skipped.
pub(super) fn fill(user: &mut ScimUser, map: &Map<String, Value>, ignored: &[&str]) -> Result<(), ScimError> {
    for (key, value) in map {
        let lower = key.to_lowercase();
        if ignored.contains(&lower.as_str()) || lower == "schemas" {
            continue;
        }
        if key.eq_ignore_ascii_case(ENTERPRISE_URN) {
            enterprise::set_all(user, map, value)?;
            continue;
        }
        if !RESOURCE_ATTRIBUTES.contains(&lower.as_str()) {
            return Err(ScimError::syntax(format!("unknown attribute {key:?}")));
        }
        set_attribute(user, key, value)?;
    }
    if user.user_name.trim().is_empty() {
        return Err(ScimError::value("userName is required"));
    }
    Ok(())
}

pub(super) fn apply_operation(user: &mut ScimUser, operation: &Value) -> Result<(), ScimError> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default();
    if !op.eq_ignore_ascii_case("replace") {
        return Err(ScimError::syntax(format!("op {op:?} is not supported here (replace only)")));
    }
    let path = operation
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::syntax("every operation needs a path"))?;
    if let Some(inner) = enterprise::patch_path(path) {
        let value = operation.get("value").ok_or_else(|| ScimError::syntax("a replace needs a value"))?;
        return enterprise::set_one(user, inner, value);
    }
    if !PATCH_PATHS.contains(&path.to_lowercase().as_str()) {
        return Err(ScimError::path(format!("path {path:?} is not supported")));
    }
    let value = operation.get("value").ok_or_else(|| ScimError::syntax("a replace needs a value"))?;
    set_attribute(user, path, value)
}
