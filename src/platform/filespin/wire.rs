//! What FileSpin sends, and how one user record becomes an [`Account`].
//!
//! Unknown fields are ignored; the secrets are removed from every record before it is
//! parsed (see `scrub`), so no error message can quote them either.

use compact_str::ToCompactString;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::*;
use crate::model::{normalize_key, Account, AccountStatus};
use crate::platform::wire::PersonName;
pub(super) use crate::platform::wire::UserAnswer;

#[derive(Debug, Deserialize)]
pub(super) struct UsersPage {
    pub(super) total_users: u64,
    pub(super) count: u64,
    /// Parsed one by one, so that an error names its row.
    pub(super) users: Vec<Value>,
}

/// `id` and `role_id` come as numbers (the contract) or as strings (the vendor's sample).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum NumberOrText {
    Number(u64),
    Text(String),
}

pub(super) fn id_field<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(t) => t.trim().parse().map_err(|_| D::Error::custom(format!("{t:?} is not a number"))),
    }
}

pub(super) fn optional_id_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id_field")] u64);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(n)| n))
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUser {
    #[serde(deserialize_with = "id_field")]
    pub(super) id: u64,
    pub(super) email: String,
    #[serde(flatten)]
    pub(super) name: PersonName,
    pub(super) enabled: bool,
    #[serde(default, deserialize_with = "optional_id_field")]
    pub(super) role_id: Option<u64>,
    #[serde(default)]
    pub(super) role_name: Option<String>,
    #[serde(default)]
    pub(super) locale: Option<String>,
    #[serde(default)]
    pub(super) group_asset_access: Option<bool>,
    #[serde(default)]
    pub(super) invite_status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    pub(super) status: String,
    #[serde(default)]
    pub(super) message: Option<String>,
}

/// Drop the user's own secrets from a record, in place.
pub(super) fn scrub(user: &mut Value) {
    if let Some(fields) = user.as_object_mut() {
        for secret in SECRET_FIELDS {
            fields.remove(secret);
        }
    }
}

/// One user record as an [`Account`]; its secrets were never looked at.
pub(super) fn parse_user(mut value: Value, roles: &RoleTable) -> Result<Account, String> {
    scrub(&mut value);
    let user = WireUser::deserialize(&value).map_err(|e| e.to_string())?;
    if user.email.trim().is_empty() {
        return Err(format!("user {} has an empty email", user.id));
    }
    let by_name = || user.role_name.as_deref().and_then(|name| role_id_of(roles, name));
    let role = user.role_id.or_else(by_name).map(|id| id.to_string());
    let mut fields = user.name.fields([("email", user.email.clone()), ("locale", user.locale.unwrap_or_default())]);
    if let Some(access) = user.group_asset_access {
        fields.insert("group_asset_access".into(), access.to_string());
    }
    if let Some(invite) = user.invite_status.filter(|s| !s.is_empty()) {
        fields.insert(crate::model::INVITE_STATUS_FIELD.into(), invite);
    }
    let status = if user.enabled { AccountStatus::Active } else { AccountStatus::Inactive };
    Ok(Account {
        id: user.id.to_compact_string(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status,
    })
}
