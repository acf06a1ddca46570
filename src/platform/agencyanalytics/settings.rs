//! AgencyAnalytics settings and options: endpoints, auth scheme, roles and their sides,
//! generated passwords, how to reach an account, and the kind's registry entry.

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

#[cfg(feature = "sandbox")]
use super::sandbox;
use super::{AgencyAnalyticsConnector, Connector, PlatformError};
use crate::platform::connection::Connection;
use crate::platform::kind::{KindSpec, RoleValue};

/// Why `recreate_on_role_change` alone is refused: re-creating deletes the user first.
pub(super) const RECREATE_NEEDS_DELETE: &str =
    "recreate_on_role_change deletes the user before creating it anew: it needs allow_delete: true";

/// An error-message pointer must be a JSON Pointer (RFC 6901): empty or starting with `/`.
pub(super) fn check_pointer(pointer: &str) -> Result<(), String> {
    match pointer.starts_with('/') {
        true => Ok(()),
        false => Err(format!("{pointer:?} must be a JSON Pointer such as {DEFAULT_ERROR_MESSAGE_POINTER}")),
    }
}

/// A path option must be absolute and carry no query: it goes under the base URL.
pub(super) fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['?', '#']) || path.split('/').all(str::is_empty) {
        return Err(format!("{path:?} must be a path such as {DEFAULT_USERS_PATH}"));
    }
    Ok(())
}

/// What to check when a listing's credentials are refused (401/403).
pub(super) const CREDENTIALS_CHECK: &str =
    "the key must be an AgencyAnalytics API key with access to users, sent as auth_scheme says (default: HTTP Basic, the key as user name)";
/// Where the users API lives under the base URL [inferred]; v3 is announced for retirement,
/// so config may move it (`users_path`).
pub const DEFAULT_USERS_PATH: &str = "/v3/users";
/// A sanity bound on `page_size`; the vendor documents no maximum.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// `limit` of each listing page when config gives no `page_size`: the largest, so a
/// listing takes the fewest calls of the request budget.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
/// The role values AgencyAnalytics knows, as config and the listing spell them.
pub const ROLES: [&str; 3] = ["admin", "staff", "client"];
/// Why removals are held when config does not allow deleting.
pub const REMOVALS_HELD: &str =
    "AgencyAnalytics has no disable flag and deleting is not allowed by this platform's config (allow_delete: false)";
/// The fields rosterd compares and writes, by AgencyAnalytics' own names.
pub(super) const FIELDS: [&str; 4] = ["first_name", "last_name", "username", "email"];
/// Generated passwords: long, and drawing on every class so any password policy is met.
pub(super) const PASSWORD_LEN: usize = 24;
pub(super) const PASSWORD_CLASSES: [&[u8]; 4] =
    [b"abcdefghijkmnopqrstuvwxyz", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"23456789", b"!#%+-.=?@_~"];

/// The kind's own config keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyAnalyticsOptions {
    /// The users collection under the base URL; default [`DEFAULT_USERS_PATH`].
    #[serde(default)]
    pub users_path: Option<String>,
    /// Whether rosterd may delete users to remove access (the only way there is).
    #[serde(default)]
    pub allow_delete: bool,
    /// How the key is sent [inferred]; default HTTP Basic, the key as user name.
    #[serde(default)]
    pub auth_scheme: Option<AuthScheme>,
    /// The value sent as `email_credentials` on create [inferred: its encoding]; default `"true"`.
    #[serde(default)]
    pub email_credentials: Option<EmailCredentials>,
    /// Where an error answer holds its message, as a JSON Pointer [inferred]; default `/error/message`.
    #[serde(default)]
    pub error_message_pointer: Option<String>,
    /// A role change between the staff side and client deletes the user and creates it
    /// anew with the new role (its id and history are lost); needs `allow_delete: true`.
    #[serde(default)]
    pub recreate_on_role_change: bool,
}

/// How the API key travels (the contract's HTTP Basic is [inferred]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// `Authorization: Basic base64(key + ":")`: the key as user name, an empty password.
    #[default]
    Basic,
    /// `Authorization: Bearer <key>`.
    Bearer,
}

/// The JSON value sent as `email_credentials`: the seed types it as a string, so `"true"`
/// by default; config may send a JSON boolean or number instead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum EmailCredentials {
    Flag(bool),
    Number(i64),
    Text(String),
}

impl EmailCredentials {
    pub(super) fn json(&self) -> Value {
        match self {
            EmailCredentials::Flag(b) => json!(b),
            EmailCredentials::Number(n) => json!(n),
            EmailCredentials::Text(t) => json!(t),
        }
    }
}

/// Where an error answer's message is [inferred]: `{"error":{"message":..}}`.
pub const DEFAULT_ERROR_MESSAGE_POINTER: &str = "/error/message";

/// How to reach one AgencyAnalytics account. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct AgencyAnalyticsSettings {
    /// The platform's name in config.
    pub name: String,
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// The users collection under `base_url`, e.g. `/v3/users`.
    pub users_path: String,
    /// Removal deletes the user; without this, removals are held and reported.
    pub allow_delete: bool,
    /// `limit` of each listing page.
    pub page_size: u32,
    pub auth_scheme: AuthScheme,
    pub email_credentials: EmailCredentials,
    /// A JSON Pointer to the message of an error answer.
    pub error_message_pointer: String,
    /// A staff ↔ client role change deletes and re-creates the user (with `allow_delete`).
    pub recreate_on_role_change: bool,
}

impl AgencyAnalyticsSettings {
    /// Settings with the usual defaults: v3 paths, deleting not allowed, pages of 1000.
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> AgencyAnalyticsSettings {
        AgencyAnalyticsSettings {
            name: name.into(),
            connection: connection.into(),
            api_key,
            users_path: DEFAULT_USERS_PATH.into(),
            allow_delete: false,
            page_size: DEFAULT_PAGE_SIZE,
            auth_scheme: AuthScheme::Basic,
            email_credentials: EmailCredentials::Text("true".into()),
            error_message_pointer: DEFAULT_ERROR_MESSAGE_POINTER.into(),
            recreate_on_role_change: false,
        }
    }
}

/// The side of a role: a user never moves between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Staff,
    Client,
}

pub(super) fn side(role: &str) -> Option<Side> {
    match role.trim().to_lowercase().as_str() {
        "admin" | "staff" => Some(Side::Staff),
        "client" => Some(Side::Client),
        _ => None,
    }
}

/// The rule the diff applies ([`Traits::role_change`]): within a side, any change; across, none.
pub fn role_change(from: &str, to: &str) -> Result<(), String> {
    match (side(from), side(to)) {
        (Some(a), Some(b)) if a != b => {
            Err("AgencyAnalytics cannot move a user between the staff side (admin, staff) \
             and client; a person must change it by hand (delete and re-create)"
                .into())
        }
        _ => Ok(()),
    }
}

/// A fresh random password from the OS's CSPRNG, with one character of each class at least.
pub(super) fn generate_password() -> SecretString {
    let mut rng = OsRng;
    let pick = |class: &[u8], rng: &mut OsRng| class[rng.gen_range(0..class.len())];
    let mut chars: Vec<u8> = PASSWORD_CLASSES.iter().map(|class| pick(class, &mut rng)).collect();
    let all = PASSWORD_CLASSES.concat();
    while chars.len() < PASSWORD_LEN {
        chars.push(pick(&all, &mut rng));
    }
    chars.shuffle(&mut rng);
    SecretString::from(chars.into_iter().map(char::from).collect::<String>())
}
/// What config needs to know about AgencyAnalytics.
pub const SPEC: KindSpec = KindSpec::new(
    "agencyanalytics",
    "AgencyAnalytics",
    &FIELDS,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
)
.base_url("https://api.clientseoreport.com")
.fields(
    &[
        ("first_name", "{name.givenName}"),
        ("last_name", "{name.familyName}"),
        ("username", "{email}"),
        ("email", "{email}"),
    ],
    "{email}",
)
.options(
    &[
        "users_path",
        "allow_delete",
        "auth_scheme",
        "email_credentials",
        "error_message_pointer",
        "recreate_on_role_change",
    ],
    check_options,
)
.roles(spec_role);

/// A role rule's role: one of [`ROLES`], any case, kept lower-case.
pub(super) fn spec_role(value: &serde_yaml::Value, extra: &serde_yaml::Mapping) -> Result<RoleValue, String> {
    let mut role = crate::platform::kind::string_role(value, extra)?;
    role.role = role.role.to_lowercase();
    match ROLES.contains(&role.role.as_str()) {
        true => Ok(role),
        false => Err(format!("{:?} is not an AgencyAnalytics role (known: {})", role.role, ROLES.join(", "))),
    }
}

pub(super) fn check_options(extra: &serde_yaml::Mapping) -> Vec<(String, String)> {
    let options: AgencyAnalyticsOptions = match crate::platform::kind::options(extra) {
        Ok(options) => options,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    if let Some(Err(message)) = options.users_path.as_deref().map(check_path) {
        problems.push(("users_path".into(), message));
    }
    if let Some(Err(message)) = options.error_message_pointer.as_deref().map(check_pointer) {
        problems.push(("error_message_pointer".into(), message));
    }
    if options.recreate_on_role_change && !options.allow_delete {
        problems.push(("recreate_on_role_change".into(), RECREATE_NEEDS_DELETE.into()));
    }
    problems
}

pub(super) fn build_from_config(p: &crate::platform::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let options: AgencyAnalyticsOptions = p.options()?;
    let mut settings = AgencyAnalyticsSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    settings.users_path = options.users_path.unwrap_or_else(|| DEFAULT_USERS_PATH.into());
    settings.allow_delete = options.allow_delete;
    settings.auth_scheme = options.auth_scheme.unwrap_or_default();
    if let Some(value) = options.email_credentials {
        settings.email_credentials = value;
    }
    if let Some(pointer) = options.error_message_pointer {
        settings.error_message_pointer = pointer;
    }
    settings.recreate_on_role_change = options.recreate_on_role_change;
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    Ok(Box::new(AgencyAnalyticsConnector::new(settings)?))
}
