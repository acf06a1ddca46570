//! What CAKE sends, and how one user record becomes an [`Account`].
//!
//! Unknown fields are ignored (CAKE adds fields, and secrets in user records must never be
//! kept); the fields rosterd relies on must be there and typed.

use chrono::NaiveDateTime;
use compact_str::ToCompactString;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::RoleMap;
use crate::platform::wire::PersonName;
pub(super) use crate::platform::wire::UserAnswer;

use crate::model::{normalize_key, Account, AccountStatus};

#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    pub(super) request_status: String,
    #[serde(default)]
    pub(super) message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UsersAnswer {
    pub(super) response: UsersPage,
}

#[derive(Debug, Deserialize)]
pub(super) struct UsersPage {
    /// Parsed one by one, so that an error names its row.
    pub(super) users: Vec<Value>,
    pub(super) total_rows: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUser {
    pub(super) user_id: u64,
    #[serde(flatten)]
    pub(super) name: PersonName,
    pub(super) email: String,
    #[serde(deserialize_with = "status_field")]
    pub(super) user_status: AccountStatus,
    pub(super) role_id: u64,
    #[serde(default)]
    pub(super) role_name: Option<String>,
    /// Not compared; parsed so that a record in neither documented format is noticed.
    #[serde(default, deserialize_with = "created_field")]
    #[allow(dead_code)]
    pub(super) created: Option<NaiveDateTime>,
}

/// An update's answer: "it may carry only some fields", but those it carries are typed.
#[derive(Debug, Deserialize)]
pub(super) struct PartialUser {
    #[serde(default)]
    pub(super) user_id: Option<u64>,
    #[serde(default, deserialize_with = "optional_status_field")]
    pub(super) user_status: Option<AccountStatus>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UpdateAnswer {
    #[serde(default)]
    pub(super) user: Option<PartialUser>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RolesAnswer {
    pub(super) roles: Vec<WireRole>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireRole {
    pub(super) role_id: u64,
    pub(super) role_name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ManagersAnswer {
    pub(super) account_managers: Vec<WireManager>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireManager {
    pub(super) account_manager_id: u64,
    #[serde(flatten)]
    pub(super) name: PersonName,
    pub(super) email: String,
    #[serde(deserialize_with = "status_field")]
    pub(super) status: AccountStatus,
}

pub(super) fn parse_status(raw: &str) -> Option<AccountStatus> {
    match raw.trim().to_lowercase().as_str() {
        "active" => Some(AccountStatus::Active),
        "inactive" => Some(AccountStatus::Inactive),
        _ => None,
    }
}

pub(super) fn status_field<'de, D: Deserializer<'de>>(d: D) -> Result<AccountStatus, D::Error> {
    let raw = String::deserialize(d)?;
    parse_status(&raw).ok_or_else(|| D::Error::custom(format!("status {raw:?} is neither active nor inactive")))
}

pub(super) fn optional_status_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AccountStatus>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    raw.map(|raw| {
        parse_status(&raw).ok_or_else(|| D::Error::custom(format!("status {raw:?} is neither active nor inactive")))
    })
    .transpose()
}

/// `created` comes as `2023-06-15T09:22:00` or `2026-06-19 10:00:00`.
pub(super) fn parse_created(raw: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw.trim(), format).ok())
}

pub(super) fn created_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    raw.map(|raw| {
        parse_created(&raw).ok_or_else(|| D::Error::custom(format!("created {raw:?} is in neither CAKE format")))
    })
    .transpose()
}

/// One user record as an [`Account`]; a record without `user_id` or email is refused.
pub(super) fn parse_user(value: &Value, roles: &RoleMap) -> Result<Account, String> {
    let user = WireUser::deserialize(value).map_err(|e| e.to_string())?;
    if user.email.trim().is_empty() {
        return Err(format!("user_id {} has an empty email", user.user_id));
    }
    let role =
        user.role_name.filter(|n| !n.trim().is_empty()).or_else(|| roles.name_of(user.role_id).map(str::to_string));
    let fields = user.name.fields([("email", user.email.clone())]);
    Ok(Account {
        id: user.user_id.to_compact_string(),
        key: normalize_key(&user.email),
        fields: fields.into(),
        role: role.map(Into::into),
        status: user.user_status,
    })
}
