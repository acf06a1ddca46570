//! What AgencyAnalytics sends, and how one user record becomes an [`Account`].
//!
//! Unknown fields are ignored (and `password`, which the listing carries as null, is never
//! read); the fields rosterd relies on must be typed.

use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::platform::wire::PersonName;

#[derive(Debug, Deserialize)]
pub(super) struct Metadata {
    pub(super) total_pages: u64,
    pub(super) total_records: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ListAnswer {
    pub(super) metadata: Metadata,
    /// Parsed one by one, so that an error names its row.
    pub(super) data: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OneAnswer {
    pub(super) data: Value,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUser {
    pub(super) id: u64,
    pub(super) username: String,
    #[serde(default)]
    pub(super) email: Option<String>,
    #[serde(flatten)]
    pub(super) name: PersonName,
    pub(super) role: String,
}

/// One user record as an [`Account`]; every listed user can sign in (there is no disable flag).
pub(super) fn parse_user(value: &Value) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if user.username.trim().is_empty() {
        return Err(format!("user {} has an empty username", user.id));
    }
    if side(&user.role).is_none() {
        return Err(format!("user {} has role {:?}, not one of {}", user.id, user.role, ROLES.join(", ")));
    }
    let fields = user.name.fields([("username", user.username.clone()), ("email", user.email.unwrap_or_default())]);
    Ok(Account {
        id: user.id.to_compact_string(),
        key: normalize_key(&user.username),
        fields: fields.into(),
        role: Some(CompactString::from_str_to_lowercase(user.role.trim())),
        status: AccountStatus::Active,
    })
}
