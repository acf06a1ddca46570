//! The config file as written: serde structs that mirror the YAML, before validation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

mod google;
pub use google::RawGoogle;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// sled's page cache, in MiB.
    pub cache_capacity_mb: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub scim: Option<RawScim>,
    pub file: Option<RawFile>,
    /// Checked by `validate::ldap`, which owns its shape.
    pub ldap: Option<serde_yaml::Value>,
    /// Checked by `validate::okta`, which reads it with its key paths.
    pub okta: Option<serde_yaml::Value>,
    pub google: Option<RawGoogle>,
    pub entra: Option<RawEntra>,
    /// `source.push`: checked by `validate::push`, which owns its shape.
    pub push: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScim {
    pub url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub basic: Option<RawBasic>,
    pub page_size: Option<u32>,
    pub max_pages: Option<u32>,
    /// `auto`, `user` or `endpoint`.
    pub groups: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// Accept any TLS certificate (a test IdP behind a self-signed one); warned at every read.
    pub tls_insecure_skip_verify: Option<bool>,
    /// A PEM file of CA certificates trusted on top of the system's (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Use a non-loopback `http://` url anyway; warned at every read.
    pub allow_insecure_http: Option<bool>,
    /// Inline secrets are refused with a message saying what to use instead.
    pub token: Option<serde_yaml::Value>,
    pub incremental: Option<RawIncremental>,
}

/// `incremental:` of a source or a platform: read only what changed, and in full every N reads.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawIncremental {
    pub enabled: Option<bool>,
    pub full_read_every: Option<u32>,
    /// SCIM source only: seconds taken off the watermark.
    pub overlap_seconds: Option<u64>,
}

/// `source.entra`: Microsoft Entra ID through Graph, with an app's client credentials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntra {
    pub tenant: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Inline secrets are refused with a message saying what to use instead.
    pub client_secret: Option<serde_yaml::Value>,
    pub graph_url: Option<String>,
    pub login_url: Option<String>,
    pub page_size: Option<u32>,
    pub max_pages: Option<u32>,
    pub expand_manager: Option<bool>,
    pub nested_groups: Option<bool>,
    pub count_check: Option<bool>,
    pub token_renew_seconds: Option<u64>,
    pub backoff_start_ms: Option<u64>,
    /// Graph requests a second (0: unpaced); halved while Graph says the budget is mostly spent.
    pub requests_per_second: Option<f64>,
    pub timeout_seconds: Option<u64>,
    pub tls_insecure_skip_verify: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: Option<bool>,
    pub incremental: Option<RawIncremental>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasic {
    pub username: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub path: PathBuf,
    pub complete: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    pub max_removals: Option<RawMaxRemovals>,
    /// Emails, user names or account ids that rosterd never touches, on every platform.
    #[serde(default)]
    pub protected: Vec<String>,
    /// Hold every removal when the roster has more than this percent fewer active people
    /// than the last complete roster whose removals ran.
    pub shrink_guard_percent: Option<f64>,
    pub grace: Option<RawGrace>,
}

/// `safety.grace`: `{ runs: N }` or `{ duration: "2h" }`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGrace {
    pub runs: Option<u32>,
    pub duration: Option<String>,
    pub include_inactive: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMaxRemovals {
    pub count: Option<usize>,
    pub percent: Option<f64>,
}

/// A role rule: `when` (a filter) and `role`, whose shape depends on the platform kind
/// (a name, a list of Affise roles, a Client Toolbox letter with `allowed_campaigns`, ...).
#[derive(Debug, Deserialize)]
pub struct RawRoleRule {
    pub when: Option<String>,
    pub role: serde_yaml::Value,
    /// Other keys of the rule, checked by the platform kind.
    #[serde(flatten)]
    pub extra: serde_yaml::Mapping,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub per_second: Option<f64>,
    pub burst: Option<u32>,
    pub concurrency: Option<usize>,
}

/// One platform entry: the keys every kind shares, and the kind's own settings in
/// `options` (checked by the kind, so an unknown key is still reported by name).
#[derive(Debug, Deserialize)]
pub struct RawPlatform {
    pub name: String,
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub api_key: Option<serde_yaml::Value>,
    pub page_size: Option<u32>,
    pub scope: Option<String>,
    #[serde(default)]
    pub roles: Vec<RawRoleRule>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    pub match_key: Option<String>,
    #[serde(default)]
    pub protected: Vec<String>,
    pub rate_limit: Option<RawRateLimit>,
    pub timeout_seconds: Option<u64>,
    /// Accept any TLS certificate (a test tenant behind a self-signed one); warned at every run.
    pub tls_insecure_skip_verify: Option<bool>,
    /// A PEM file of CA certificates trusted on top of the system's (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Use a non-loopback `http://` base_url anyway; warned at every run.
    pub allow_insecure_http: Option<bool>,
    #[serde(flatten)]
    pub options: serde_yaml::Mapping,
}

fn yes() -> bool {
    true
}

/// `http:`: the daemon's listener and its trigger token.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub trigger_token_file: Option<PathBuf>,
    /// Inline tokens are refused with a message saying what to use instead.
    pub trigger_token: Option<serde_yaml::Value>,
    /// The admin API's token (`/v1/approve`, `/v1/plan`, `/v1/report`, person data in `/v1/status`).
    pub admin_token_file: Option<PathBuf>,
    pub admin_token: Option<serde_yaml::Value>,
}

/// `audit:`: the optional HMAC key of the audit chain.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub hmac_key_file: Option<PathBuf>,
    /// Inline keys are refused with a message saying what to use instead.
    pub hmac_key: Option<serde_yaml::Value>,
}

/// `readiness:`: when `/readyz` stops answering ready.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawReadiness {
    pub max_failure_age_seconds: Option<u64>,
    /// `/healthz` fails once a run has made no progress for this long.
    pub stuck_after_seconds: Option<u64>,
}
