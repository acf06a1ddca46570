//! `source.google` as written, before validation (`config::validate` checks it).

use std::path::PathBuf;

use serde::Deserialize;

/// `source.google` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGoogle {
    /// The service account's JSON key: a file, or an environment variable holding it.
    pub key_file: Option<PathBuf>,
    pub key_env: Option<String>,
    /// Inline keys are refused with a message saying what to use instead.
    pub key: Option<serde_yaml::Value>,
    /// The admin the service account acts as (the assertion's `sub`).
    pub admin: Option<String>,
    /// `my_customer` (default), or a customer id; or `domain` instead.
    pub customer: Option<String>,
    pub domain: Option<String>,
    pub base_url: Option<String>,
    /// Overrides the key file's `token_uri`.
    pub token_url: Option<String>,
    pub page_size: Option<u32>,
    pub max_pages: Option<u32>,
    pub groups: Option<bool>,
    pub check_member_counts: Option<bool>,
    /// Requests a second to the Directory API [inferred: 30, 75 % of Google's quota].
    pub per_second: Option<f64>,
    pub timeout_seconds: Option<u64>,
    pub tls_insecure_skip_verify: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: Option<bool>,
}
