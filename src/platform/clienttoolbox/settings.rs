//! ClientToolbox settings and options: API versions, fields, user-name and role rules,
//! generated passwords, how to reach a tenant, and the kind's registry entry.

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::SecretString;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

#[cfg(feature = "sandbox")]
use super::sandbox;
use super::{AllowedCampaigns, ClientToolboxConnector, Connector, PlatformError};
use crate::platform::connection::Connection;
use crate::platform::kind::{KindSpec, RoleValue};

/// What to check when a listing's credentials are refused (401/403).
pub(super) const CREDENTIALS_CHECK: &str =
    "caller_user_id must be an Administrator-level user or the account owner of account_id, and the key that user's";
/// `API` sent with `users_list`.
pub const DEFAULT_LIST_API_VERSION: &str = "1.6";
/// `API` sent with `user_new`, `user_update` and `user_delete`.
pub const DEFAULT_WRITE_API_VERSION: &str = "1.1";
/// The listing element that carries `user_custom1`: the vendor's sample shows
/// `user_addtl_info` where the search fields name `user_custom1` (an inference, hence a setting).
pub const DEFAULT_CUSTOM1_ELEMENT: &str = "user_addtl_info";
/// A sanity bound on `length`: the vendor documents no maximum, and 1000 users are about
/// half a megabyte of XML.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// `length` of each listing page when config gives no `page_size`: the largest, so a
/// listing takes the fewest calls of the request budget.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
/// The longest user name Client Toolbox takes.
pub const USER_NAME_MAX: usize = 20;
/// The match-key field, also the account id.
pub const USER_NAME_FIELD: &str = "user_name";
/// The campaigns a user may see, `all`, `none` or sorted comma-joined ids.
pub const ALLOWED_CAMPAIGNS_FIELD: &str = "allowed_campaigns";
/// A role rule without `allowed_campaigns` grants none: access is never wider than written.
pub const DEFAULT_ALLOWED_CAMPAIGNS: &str = "none";
/// The fields rosterd compares and writes, by rosterd's names (the `fields` config keys).
pub(super) const FIELDS: [&str; 6] =
    [USER_NAME_FIELD, "user_first_name", "user_last_name", "user_custom1", "language", "timezone"];
/// Account field → the form field `user_new` / `user_update` take it as.
pub(super) const WRITABLE: [(&str, &str); 6] = [
    ("user_first_name", "user_first_name"),
    ("user_last_name", "user_last_name"),
    ("user_custom1", "user_custom1"),
    ("language", "language_selector"),
    ("timezone", "timezone_selector"),
    (ALLOWED_CAMPAIGNS_FIELD, "allowed_campaigns"),
];
/// The length of generated passwords, in letters and digits (about 143 bits).
pub(super) const PASSWORD_LEN: usize = 24;

/// How to reach one Client Toolbox account. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ClientToolboxSettings {
    /// The platform's name in config.
    pub name: String,
    /// The one API URL every call is posted to.
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    /// The caller's own API key, sent as the `api_access_key` header only.
    pub api_key: SecretString,
    /// The caller's own login name (`user_id` of every call), an administrator or the owner.
    pub caller_user_id: String,
    pub account_id: String,
    pub list_api_version: String,
    pub write_api_version: String,
    /// The listing element read as `user_custom1`.
    pub custom1_element: String,
    /// `length` of each listing page.
    pub page_size: u32,
}

impl ClientToolboxSettings {
    /// Settings with the documented API versions, 30 s time-out, 5 requests a second, pages of 1000.
    pub fn new(
        name: &str,
        connection: impl Into<Connection>,
        api_key: SecretString,
        caller_user_id: &str,
        account_id: &str,
    ) -> Self {
        ClientToolboxSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            caller_user_id: caller_user_id.into(),
            account_id: account_id.into(),
            list_api_version: DEFAULT_LIST_API_VERSION.into(),
            write_api_version: DEFAULT_WRITE_API_VERSION.into(),
            custom1_element: DEFAULT_CUSTOM1_ELEMENT.into(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// The kind's own config keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientToolboxOptions {
    pub(super) caller_user_id: String,
    pub(super) account_id: String,
    #[serde(default = "default_list_version")]
    pub(super) list_api_version: String,
    #[serde(default = "default_write_version")]
    pub(super) write_api_version: String,
    #[serde(default = "default_custom1_element")]
    pub(super) custom1_list_element: String,
}

pub(super) fn default_list_version() -> String {
    DEFAULT_LIST_API_VERSION.into()
}

pub(super) fn default_write_version() -> String {
    DEFAULT_WRITE_API_VERSION.into()
}

pub(super) fn default_custom1_element() -> String {
    DEFAULT_CUSTOM1_ELEMENT.into()
}

/// Whether `name` is a Client Toolbox user name: 1 to 20 of `[A-Za-z0-9_]`.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=USER_NAME_MAX).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `role` is one capital letter, as `user_role` takes it.
pub fn is_valid_role(role: &str) -> bool {
    role.len() == 1 && role.chars().all(|c| c.is_ascii_uppercase())
}

/// Whether a failure message says the caller's credentials or rights were refused.
pub(super) fn says_refused_caller(message: &str) -> bool {
    let m = message.to_lowercase().replace(['_', '-'], " ");
    let markers = [
        "api key",
        "access key",
        "apikey",
        "credential",
        "unauthori",
        "not authorized",
        "permission",
        "administrator",
        "account owner",
        "user id",
        "account id",
    ];
    markers.iter().any(|w| m.contains(w))
}

/// A fresh password from the OS's CSPRNG: letters and digits, at least one of each kind.
/// It lives only in the request being built.
pub(super) fn generate_password() -> SecretString {
    pub(super) const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    pub(super) const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    pub(super) const DIGITS: &[u8] = b"23456789";
    let all: Vec<u8> = [UPPER, LOWER, DIGITS].concat();
    let mut rng = OsRng;
    let mut chars: Vec<u8> = [UPPER, LOWER, DIGITS].iter().map(|set| set[rng.gen_range(0..set.len())]).collect();
    while chars.len() < PASSWORD_LEN {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}
/// A role rule: `role: K` (one capital letter) and optionally
/// `allowed_campaigns: all | none | [id, ...]`, which becomes the `allowed_campaigns` field.
/// Without it the rule grants `none`.
pub(super) fn role_value(value: &Value, extra: &Mapping) -> Result<RoleValue, String> {
    let role = match value {
        Value::String(s) if is_valid_role(s.trim()) => s.trim().to_string(),
        _ => return Err("must be one capital letter, e.g. A (Administrator) or K".into()),
    };
    let mut campaigns = DEFAULT_ALLOWED_CAMPAIGNS.to_string();
    for (key, value) in extra {
        match key.as_str() {
            Some(ALLOWED_CAMPAIGNS_FIELD) => campaigns = campaigns_value(value)?,
            other => {
                return Err(format!(
                    "unknown key {:?} in a role rule (known: when, role, allowed_campaigns)",
                    other.unwrap_or("?")
                ))
            }
        }
    }
    Ok(RoleValue { role, fields: BTreeMap::from([(ALLOWED_CAMPAIGNS_FIELD.to_string(), campaigns)]) })
}

/// `all`, `none`, or a list of campaign ids (numbers or strings), as the field's form.
pub(super) fn campaigns_value(value: &Value) -> Result<String, String> {
    let explain = |e: String| format!("allowed_campaigns: {e}");
    match value {
        Value::String(s) if s == "all" || s == "none" => Ok(s.clone()),
        Value::Sequence(items) => {
            let ids: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    Value::Number(n) if n.is_u64() => Ok(n.to_string()),
                    _ => Err(explain("each campaign id must be a string or a whole number".into())),
                })
                .collect::<Result<_, _>>()?;
            Ok(AllowedCampaigns::from_ids(ids.iter().map(String::as_str)).map_err(explain)?.as_field())
        }
        _ => Err(explain("must be all, none, or a list of campaign ids".into())),
    }
}

/// The kind's own settings, checked: each problem as (key, message).
pub(super) fn check_options(options: &Mapping) -> Vec<(String, String)> {
    let parsed = match crate::platform::kind::options::<ClientToolboxOptions>(options) {
        Ok(parsed) => parsed,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, message: &str| {
        if !ok {
            problems.push((key.to_string(), message.to_string()));
        }
    };
    let login = |s: &str| !s.trim().is_empty() && !s.chars().any(char::is_whitespace);
    check(login(&parsed.caller_user_id), "caller_user_id", "must be the caller's own login name (no spaces)");
    check(login(&parsed.account_id), "account_id", "must be the Client Toolbox account id (no spaces)");
    let version = |v: &str| v.split_once('.').is_some_and(|(a, b)| is_number(a) && is_number(b));
    check(version(&parsed.list_api_version), "list_api_version", "must look like 1.6");
    check(version(&parsed.write_api_version), "write_api_version", "must look like 1.1");
    let element = |e: &str| {
        e.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    check(element(&parsed.custom1_list_element), "custom1_list_element", "must be an XML element name");
    problems
}

pub(super) fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// What config needs to know about Client Toolbox.
pub const SPEC: KindSpec = KindSpec::new(
    "clienttoolbox",
    "Client Toolbox",
    &FIELDS,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
)
.base_url("https://api.clienttoolbox.com/")
// `user_name` uses the match key's template, so create sends the name the key finds.
.fields(
    &[
        (USER_NAME_FIELD, "{email|localpart|word|max:20}"),
        ("user_first_name", "{name.givenName}"),
        ("user_last_name", "{name.familyName}"),
    ],
    "{email|localpart|word|max:20}",
)
.options(
    &["caller_user_id", "account_id", "list_api_version", "write_api_version", "custom1_list_element"],
    check_options,
)
.roles(role_value);

pub(super) fn build_from_config(p: &crate::platform::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: ClientToolboxOptions = p.options()?;
    let mut s = ClientToolboxSettings::new(
        p.name,
        p.connection.clone(),
        p.api_key.clone(),
        &options.caller_user_id,
        &options.account_id,
    );
    s.list_api_version = options.list_api_version;
    s.write_api_version = options.write_api_version;
    s.custom1_element = options.custom1_list_element;
    if let Some(size) = p.page_size {
        s.page_size = size;
    }
    Ok(Box::new(ClientToolboxConnector::new(s)?))
}
