//! The config model: loading the YAML file, validating it with every problem reported at
//! once under its key path, and reading the secrets it points to.

/// The ranges live below the config: the audit trail's `--since` parses durations too.
pub use crate::limits;
pub mod grace;
pub mod mapping;
pub mod notify;
pub mod push_flow;
mod raw;
pub mod secret;
mod validate;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde_yaml::Value;

use crate::platform::connection::Connection;
use crate::platform::kind::KindSpec;
pub use mapping::{Mapping, RoleRule};

/// One problem in a config file, under its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} has {} problem(s):", self.file.display(), self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        write!(f, "see config/rosterd.example.yaml for a commented example")
    }
}

/// How to reach the identity source.
// One per config, built once: boxing the SCIM settings would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Scim(ScimConfig),
    File {
        path: PathBuf,
        complete: Option<bool>,
    },
    /// `source.ldap`: a directory (OpenLDAP, Active Directory).
    Ldap(Box<crate::source::ldap::LdapSettings>),
    Okta(crate::source::okta::OktaSettings),
    /// `source.google`: the settings as the Google source takes them (the key parsed).
    Google(crate::source::google::GoogleSettings),
    Entra(crate::source::entra::EntraSettings),
    /// `source.push`: rosterd serves SCIM 2.0 and the identity provider pushes to it.
    Push(crate::source::push::PushSettings),
    /// `source.push` beside one pull source: the pulled roster is the truth (ids, scope,
    /// completeness); pushes reconcile the people they name at once, and a pushed
    /// deactivation stands (`source::push::pulled`).
    PullAndPush {
        pull: Box<SourceConfig>,
        push: crate::source::push::PushSettings,
    },
}

#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// `url`, `timeout_seconds`, `tls_insecure_skip_verify`, `ca_file` and `allow_insecure_http`; never paced.
    pub connection: Connection,
    pub auth: ScimAuthConfig,
    pub page_size: u32,
    pub max_pages: u32,
    /// `auto`, `user` or `endpoint`.
    pub groups: String,
    /// `source.scim.incremental`, when enabled.
    pub incremental: Option<crate::records::incremental::IncrementalSettings>,
}

#[derive(Debug, Clone)]
pub enum ScimAuthConfig {
    Bearer(SecretString),
    Basic { username: String, password: SecretString },
}

/// Limits on removals, and accounts never touched.
#[derive(Debug, Clone, Default)]
pub struct Safety {
    pub max_removals_count: Option<usize>,
    pub max_removals_percent: Option<f64>,
    pub protected: BTreeSet<String>,
    /// Hold every removal when the roster shrank by more than this percent.
    pub shrink_guard_percent: f64,
    pub grace: grace::GracePolicy,
}

/// The default shrink limit: a roster with 30% fewer active people removes nobody.
pub const DEFAULT_SHRINK_GUARD_PERCENT: f64 = 30.0;

/// One platform, validated.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub name: String,
    pub kind: &'static KindSpec,
    /// The kind's own settings, checked by the kind; its connector reads them.
    pub options: serde_yaml::Mapping,
    pub enabled: bool,
    /// `base_url`, `timeout_seconds`, `rate_limit` and `tls_insecure_skip_verify`.
    pub connection: Connection,
    pub api_key: SecretString,
    pub page_size: Option<u32>,
    pub mapping: Mapping,
    /// Platform protection plus the global list, normalised.
    pub protected: BTreeSet<String>,
}

/// The request rate when config sets none.
pub const DEFAULT_PER_SECOND: f64 = 10.0;
/// The latency the default concurrency hides: a request may take this long and the
/// budget still runs full (Little's law: in flight = rate × latency).
pub const HIDDEN_LATENCY: Duration = Duration::from_millis(250);

/// Concurrency when config sets none: `per_second` × [`HIDDEN_LATENCY`], at least 4.
pub fn default_concurrency(per_second: f64) -> usize {
    let in_flight = (per_second * HIDDEN_LATENCY.as_secs_f64()).ceil();
    if in_flight.is_finite() && in_flight > 4.0 {
        in_flight.min(1000.0) as usize
    } else {
        4
    }
}

/// The whole validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub cache_capacity: u64,
    pub source: SourceConfig,
    pub safety: Safety,
    pub platforms: Vec<PlatformConfig>,
    /// `rosterd run` only: schedule, HTTP, readiness and shutdown.
    pub daemon: DaemonConfig,
    /// `audit.hmac_key_file`: makes the audit chain an HMAC chain.
    pub audit_key: Option<crate::anchor::AuditKey>,
    /// `notify:`: webhooks told when a person must look.
    pub notify: notify::NotifyConfig,
    /// `push_flow:`: targeted reconciles of pushed changes, and the push burst guard.
    pub push_flow: push_flow::PushFlowConfig,
    /// Every secret read from a file, under its key path (for `check-config`'s mode check).
    pub secret_files: Vec<(String, PathBuf)>,
}

/// How `rosterd run` behaves; ignored by the one-shot commands.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Cron with seconds (`sec min hour day-of-month month day-of-week`).
    pub schedule: String,
    pub timezone: chrono_tz::Tz,
    pub http_listen: SocketAddr,
    /// `POST /v1/reconcile` is off without one.
    pub trigger_token: Option<SecretString>,
    /// `/readyz` fails once runs have been failing for longer than this.
    pub max_failure_age: Duration,
    /// How long in-flight platform calls may take to finish on SIGTERM.
    pub shutdown_grace: Duration,
    /// The admin API (`/v1/approve`, `/v1/plan`, `/v1/report`) is off without one.
    pub admin_token: Option<SecretString>,
    /// `/healthz` fails (and the systemd watchdog pings stop) once a run has made no
    /// progress for this long.
    pub stuck_after: Duration,
}

impl DaemonConfig {
    pub const DEFAULT_SCHEDULE: &'static str = "0 */15 * * * *";
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:9464";
    pub const DEFAULT_STUCK_AFTER_SECONDS: u64 = 900;
}

/// The cron dialect the daemon schedule runs (croner): seconds required, day-of-month and
/// day-of-week both honoured.
pub fn parse_schedule(text: &str) -> Result<croner::Cron, ScheduleError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(text)
        .map_err(|source| ScheduleError { text: text.to_string(), source })
}

/// A schedule that is not a cron expression with seconds.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a cron schedule with seconds (e.g. \"0 */15 * * * *\"): {source}")]
pub struct ScheduleError {
    pub text: String,
    pub source: croner::errors::CronError,
}

impl Config {
    /// Read and validate a config file; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError { file: path.to_path_buf(), problems };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(vec![Problem { path: "(file)".into(), message: format!("cannot read: {e}") }]))?;
        Self::parse(&text, path).map_err(fail)
    }

    /// Validate config text; relative paths are taken from `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<Problem>> {
        let root: Value = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(&e)])?;
        validate::validate(&root, path)
    }

    pub fn platform(&self, name: &str) -> Option<&PlatformConfig> {
        self.platforms.iter().find(|p| p.name == name)
    }

    pub fn audit_path(&self) -> PathBuf {
        self.state_dir.join("audit.jsonl")
    }

    /// A warning for the source and each enabled platform that skips TLS verification.
    pub fn insecure_tls_warnings(&self) -> Vec<String> {
        let platforms = self.platforms.iter().filter(|p| p.enabled).filter_map(PlatformConfig::insecure_warning);
        self.source.insecure_warning().into_iter().chain(platforms).collect()
    }
}

impl SourceConfig {
    /// What the SCIM service provider serves with, when the identity provider pushes
    /// (`source.push`, alone or beside a pull source).
    pub fn push_settings(&self) -> Option<&crate::source::push::PushSettings> {
        match self {
            SourceConfig::Push(push) | SourceConfig::PullAndPush { push, .. } => Some(push),
            _ => None,
        }
    }

    /// Said at every read while the SCIM source's certificate is not checked.
    pub fn insecure_warning(&self) -> Option<String> {
        match self {
            SourceConfig::Scim(s) => s.connection.insecure_warning("the SCIM source"),
            SourceConfig::File { .. } => None,
            SourceConfig::Ldap(l) => l.insecure_warning(),
            SourceConfig::Okta(s) => s.connection.insecure_warning("the Okta source"),
            SourceConfig::Google(g) => g.connection.insecure_warning("the Google source"),
            SourceConfig::Entra(s) => s.graph.insecure_warning("the Entra ID source"),
            SourceConfig::Push(_) => None,
            SourceConfig::PullAndPush { pull, .. } => pull.insecure_warning(),
        }
    }
}

impl PlatformConfig {
    /// Said at every run while this platform's certificate is not checked.
    pub fn insecure_warning(&self) -> Option<String> {
        self.connection.insecure_warning(&format!("platform {:?}", self.name))
    }
}

fn yaml_problem(e: &serde_yaml::Error) -> Problem {
    let at =
        e.location().map(|l| format!("line {} column {}", l.line(), l.column())).unwrap_or_else(|| "(yaml)".into());
    Problem { path: at, message: format!("not valid YAML: {e}") }
}

/// A relative path is taken from the config file's folder, so an example config works
/// from wherever rosterd is started.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
