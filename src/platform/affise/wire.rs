//! What Affise sends, and how one user record becomes an [`Account`].
//!
//! Unknown fields are ignored: `api_key` in user records is a secret and is never read
//! into anything.

use serde::Deserialize;
use serde_json::{json, Value};

use super::*;
use crate::platform::wire::PersonName;
pub(super) use crate::platform::wire::UserAnswer;

#[derive(Debug, Deserialize)]
pub(super) struct UsersPage {
    /// Parsed one by one, so that an error names its row.
    pub(super) users: Vec<Value>,
    pub(super) pagination: Pagination,
}

#[derive(Debug, Deserialize)]
pub(super) struct Pagination {
    pub(super) total_count: u64,
    #[serde(default)]
    pub(super) page: Option<u64>,
    /// The page size the server applied: below `limit` when it caps page sizes.
    #[serde(default)]
    pub(super) per_page: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUser {
    pub(super) id: String,
    pub(super) email: String,
    #[serde(flatten)]
    pub(super) name: PersonName,
    #[serde(default)]
    pub(super) roles: Vec<String>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) skype: Option<String>,
    #[serde(default)]
    pub(super) work_hours: Option<String>,
}

pub(super) fn is_affise_id(id: &str) -> bool {
    id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// One user record as an [`Account`] (active: the listing cannot tell, see the module doc).
/// Roles outside the fixed set (sub-roles such as `ROLE_SECTION_STATS_COMMON`) are left out
/// of the compared value, since config cannot name them.
pub(super) fn parse_user(value: &Value) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if !is_affise_id(&user.id) {
        return Err(format!("id {:?} is not 24 hex digits", user.id));
    }
    if user.email.trim().is_empty() {
        return Err(format!("user {} has an empty email", user.id));
    }
    let known = user.roles.iter().map(String::as_str).filter(|r| ROLES.contains(r));
    let role = canonical_roles(known).ok();
    let mut fields = user.name.fields([("email", user.email.clone())]);
    for (name, value) in [("type", user.kind), ("skype", user.skype), ("work_hours", user.work_hours)] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.insert(name.to_string(), v);
        }
    }
    Ok(Account {
        id: user.id.into(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status: AccountStatus::Active,
    })
}

/// Whether every permission level is `deny` (nothing granted).
pub fn all_denied(permissions: &Permissions) -> bool {
    let entries = permissions.values().filter_map(Value::as_object).flat_map(|e| e.values());
    entries.map(|e| e["level"].as_str()).all(|l| l == Some("deny"))
}

/// The lock-out body: every permission the user has, at `deny`.
pub(super) fn deny_all(permissions: &Permissions) -> Permissions {
    let section = |entries: &Value| -> Value {
        let names = entries.as_object().into_iter().flat_map(|e| e.keys());
        Value::Object(names.map(|n| (n.clone(), json!({"level": "deny"}))).collect())
    };
    permissions.iter().map(|(s, entries)| (s.clone(), section(entries))).collect()
}

/// A user as "Read one" shows it: the account (inactive when every permission is denied,
/// which is how a locked-out user reads) and its permissions.
#[derive(Debug, Clone, PartialEq)]
pub struct AffiseUserRecord {
    pub account: Account,
    pub permissions: Permissions,
}

impl AffiseUserRecord {
    pub fn all_denied(&self) -> bool {
        all_denied(&self.permissions)
    }
}
