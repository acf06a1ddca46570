//! The config model: loading the YAML file, validating it with every problem reported at
//! once under its key path, and reading the secrets it points to.

pub mod limits;
mod raw;
pub mod secret;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use url::Url;

use crate::filter::Filter;
use crate::platform::connection::{Connection, TlsVerification};
use crate::platform::kind::{self, KindSpec};
use crate::reconcile::desired::{Mapping, RoleRule};
use crate::template::Template;
use raw::*;
use secret::SecretRef;

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
    File { path: PathBuf, complete: Option<bool> },
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
    pub incremental: Option<crate::source::scim::IncrementalSettings>,
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
    pub grace: crate::reconcile::guard::GracePolicy,
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
}

impl DaemonConfig {
    pub const DEFAULT_SCHEDULE: &'static str = "0 */15 * * * *";
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:9464";
}

/// The cron dialect the daemon schedule runs (croner): seconds required, day-of-month and
/// day-of-week both honoured.
pub fn parse_schedule(text: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(text)
        .map_err(|e| format!("{text:?} is not a cron schedule with seconds (e.g. \"0 */15 * * * *\"): {e}"))
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
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut v = Validator { problems: Vec::new(), base, secret_files: Vec::new() };
        let config = v.config(&root, path);
        match config {
            Some(c) if v.problems.is_empty() => Ok(c),
            _ => Err(v.problems),
        }
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
    /// Said at every read while the SCIM source's certificate is not checked.
    pub fn insecure_warning(&self) -> Option<String> {
        match self {
            SourceConfig::Scim(s) => s.connection.insecure_warning("the SCIM source"),
            SourceConfig::File { .. } => None,
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

const TOP_KEYS: &[&str] = &[
    "state_dir",
    "store",
    "source",
    "safety",
    "platforms",
    "schedule",
    "timezone",
    "http",
    "readiness",
    "shutdown_grace_seconds",
    "audit",
];

/// The keys every platform entry may have, whatever its kind.
const COMMON_PLATFORM_KEYS: &[&str] = &[
    "name",
    "kind",
    "enabled",
    "base_url",
    "api_key_env",
    "api_key_file",
    "page_size",
    "scope",
    "roles",
    "fields",
    "match_key",
    "protected",
    "rate_limit",
    "timeout_seconds",
    "tls_insecure_skip_verify",
    "ca_file",
    "allow_insecure_http",
];

/// A platform's connection settings, with config's defaults: 30 s time-out, 10 requests a
/// second in bursts of 10, 4 writes at once, certificates verified.
fn connection(base_url: Url, raw: &RawPlatform) -> Connection {
    let limit = raw.rate_limit.as_ref();
    let per_second = limit.and_then(|l| l.per_second).unwrap_or(DEFAULT_PER_SECOND);
    Connection {
        base_url,
        timeout: Duration::from_secs(raw.timeout_seconds.unwrap_or(30)),
        per_second,
        burst: limit.and_then(|l| l.burst).unwrap_or(1).max(1),
        concurrency: limit.and_then(|l| l.concurrency).unwrap_or_else(|| default_concurrency(per_second)).max(1),
        tls: tls(raw.tls_insecure_skip_verify),
        ca_file: None,
        allow_insecure_http: false,
    }
}

/// `tls_insecure_skip_verify`: off unless written `true`.
fn tls(insecure: Option<bool>) -> TlsVerification {
    match insecure {
        Some(true) => TlsVerification::InsecureSkipVerify,
        _ => TlsVerification::Verify,
    }
}

/// Collects problems while building the validated config.
struct Validator {
    problems: Vec<Problem>,
    base: PathBuf,
    secret_files: Vec<(String, PathBuf)>,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), message: message.into() });
    }

    /// Deserialise one section, reporting a type error under its full key path.
    fn section<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let full = match (path, inner.as_str()) {
                    (p, ".") => p.to_string(),
                    ("", i) => i.to_string(),
                    (p, i) if i.starts_with('[') => format!("{p}{i}"),
                    (p, i) => format!("{p}.{i}"),
                };
                self.problem(full, e.into_inner().to_string());
                None
            }
        }
    }

    fn config(&mut self, root: &Value, path: &Path) -> Option<Config> {
        let Some(map) = root.as_mapping() else {
            self.problem("(top)", "the config must be a YAML mapping (see config/rosterd.example.yaml)");
            return None;
        };
        for k in map.keys() {
            let name = k.as_str().unwrap_or("?");
            if !TOP_KEYS.contains(&name) {
                self.problem(name, format!("unknown key (known: {})", TOP_KEYS.join(", ")));
            }
        }
        let state_dir = self.state_dir(root.get("state_dir"));
        let store: RawStore = root.get("store").and_then(|v| self.section(v, "store")).unwrap_or_default();
        let source = self.source(root.get("source"));
        let safety = self.safety(root.get("safety"));
        let platforms = self.platforms(root.get("platforms"), &safety);
        let daemon = self.daemon(root);
        let audit_key = self.audit_key(root.get("audit"));
        self.span("store.cache_capacity_mb", limits::CACHE_MB, store.cache_capacity_mb);
        Some(Config {
            path: path.to_path_buf(),
            state_dir: state_dir?,
            cache_capacity: store.cache_capacity_mb.unwrap_or(64).clamp(1, limits::CACHE_MB.max) * 1024 * 1024,
            source: source?,
            safety,
            platforms,
            daemon: daemon?,
            audit_key,
            secret_files: std::mem::take(&mut self.secret_files),
        })
    }

    fn state_dir(&mut self, value: Option<&Value>) -> Option<PathBuf> {
        let raw: Option<PathBuf> = value.and_then(|v| self.section(v, "state_dir"));
        let from_env = std::env::var_os("STATE_DIRECTORY").map(PathBuf::from);
        Some(raw.map(|p| resolve(&self.base, &p)).or(from_env).unwrap_or_else(|| PathBuf::from("/var/lib/rosterd")))
    }

    fn source(&mut self, value: Option<&Value>) -> Option<SourceConfig> {
        let Some(value) = value else {
            self.problem("source", "missing: set source.scim (an identity provider) or source.file (a roster file)");
            return None;
        };
        let raw: RawSource = self.section(value, "source")?;
        match (raw.scim, raw.file) {
            (Some(s), None) => self.scim(s).map(SourceConfig::Scim),
            (None, Some(f)) => Some(SourceConfig::File { path: resolve(&self.base, &f.path), complete: f.complete }),
            (Some(_), Some(_)) => {
                self.problem("source", "set one of source.scim and source.file, not both");
                None
            }
            (None, None) => {
                self.problem("source", "set source.scim (an identity provider) or source.file (a roster file)");
                None
            }
        }
    }

    fn scim(&mut self, s: RawScim) -> Option<ScimConfig> {
        let url = self.url(&s.url, "source.scim.url");
        let connection = url.map(|u| {
            let mut c = Connection {
                timeout: Duration::from_secs(s.timeout_seconds.unwrap_or(30)),
                tls: tls(s.tls_insecure_skip_verify),
                ..Connection::new(u).unpaced()
            };
            self.transport(&mut c, s.ca_file.as_ref(), s.allow_insecure_http, "source.scim", "url");
            c
        });
        let auth = self.scim_auth(&s);
        let groups = s.groups.unwrap_or_else(|| "auto".into());
        if !["auto", "user", "endpoint"].contains(&groups.as_str()) {
            self.problem("source.scim.groups", format!("{groups:?} is not one of auto, user, endpoint"));
        }
        let page_size = s.page_size.unwrap_or(200);
        self.span("source.scim.page_size", limits::PAGE_SIZE, Some(page_size.into()));
        self.span("source.scim.max_pages", limits::MAX_PAGES, s.max_pages.map(u64::from));
        self.span("source.scim.timeout_seconds", limits::TIMEOUT_SECONDS, s.timeout_seconds);
        let incremental = s.incremental.and_then(|i| self.scim_incremental(i));
        Some(ScimConfig {
            connection: connection?,
            auth: auth?,
            page_size,
            max_pages: s.max_pages.unwrap_or(10_000),
            groups,
            incremental,
        })
    }

    /// `source.scim.incremental`: off unless `enabled: true`.
    fn scim_incremental(&mut self, raw: RawIncremental) -> Option<crate::source::scim::IncrementalSettings> {
        use crate::source::scim::IncrementalSettings;
        let full_read_every = raw.full_read_every.unwrap_or(IncrementalSettings::DEFAULT_FULL_READ_EVERY);
        let at = "source.scim.incremental";
        self.span(&format!("{at}.full_read_every"), limits::FULL_READ_EVERY, Some(full_read_every.into()));
        self.span(&format!("{at}.overlap_seconds"), limits::OVERLAP_SECONDS, raw.overlap_seconds);
        let overlap = raw.overlap_seconds.map_or(IncrementalSettings::DEFAULT_OVERLAP, Duration::from_secs);
        (raw.enabled == Some(true)).then_some(IncrementalSettings { full_read_every: full_read_every.max(1), overlap })
    }

    fn scim_auth(&mut self, s: &RawScim) -> Option<ScimAuthConfig> {
        if let Some(b) = &s.basic {
            if s.token_env.is_some() || s.token_file.is_some() {
                self.problem("source.scim", "set either a bearer token (token_env/token_file) or basic, not both");
            }
            let r = SecretRef::from_pair(
                "password",
                b.password_env.as_ref(),
                b.password_file.as_ref(),
                b.password.is_some(),
                &self.base,
            );
            let password = self.secret(r, "source.scim.basic.password")?;
            return Some(ScimAuthConfig::Basic { username: b.username.clone(), password });
        }
        let r =
            SecretRef::from_pair("token", s.token_env.as_ref(), s.token_file.as_ref(), s.token.is_some(), &self.base);
        self.secret(r, "source.scim.token").map(ScimAuthConfig::Bearer)
    }

    fn secret(&mut self, r: Result<SecretRef, String>, path: &str) -> Option<SecretString> {
        if let Ok(SecretRef::File(file)) = &r {
            self.secret_files.push((format!("{path}_file"), file.clone()));
        }
        match r.and_then(|r| r.load()) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(path, e);
                None
            }
        }
    }

    /// `ca_file` and `allow_insecure_http` of the entry at `prefix`: the file must hold
    /// certificates, and a cleartext address off loopback must be allowed in so many words.
    fn transport(
        &mut self,
        connection: &mut Connection,
        ca_file: Option<&PathBuf>,
        allow: Option<bool>,
        prefix: &str,
        url_key: &str,
    ) {
        connection.allow_insecure_http = allow == Some(true);
        if let Some(problem) = connection.cleartext_problem() {
            self.problem(format!("{prefix}.{url_key}"), problem);
        }
        if let Some(file) = ca_file {
            let path = resolve(&self.base, file);
            if let Err(e) = crate::platform::connection::read_ca_file(&path) {
                self.problem(format!("{prefix}.ca_file"), e);
            }
            connection.ca_file = Some(path);
        }
    }

    fn url(&mut self, raw: &str, path: &str) -> Option<Url> {
        match Url::parse(raw) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            Ok(u) => {
                self.problem(path, format!("scheme {:?} is not http or https", u.scheme()));
                None
            }
            Err(e) => {
                self.problem(path, format!("{raw:?} is not a URL: {e}"));
                None
            }
        }
    }

    fn safety(&mut self, value: Option<&Value>) -> Safety {
        let raw: RawSafety = value.and_then(|v| self.section(v, "safety")).unwrap_or_default();
        let max = raw.max_removals.unwrap_or(RawMaxRemovals { count: Some(25), percent: Some(10.0) });
        if let Some(p) = max.percent {
            if !(0.0..=100.0).contains(&p) {
                self.problem("safety.max_removals.percent", format!("{p} is not between 0 and 100"));
            }
        }
        let shrink = raw.shrink_guard_percent.unwrap_or(DEFAULT_SHRINK_GUARD_PERCENT);
        if !(0.0..=100.0).contains(&shrink) {
            self.problem("safety.shrink_guard_percent", format!("{shrink} is not between 0 and 100"));
        }
        Safety {
            max_removals_count: max.count,
            max_removals_percent: max.percent,
            protected: raw.protected.iter().map(|s| crate::model::normalize_key(s).into()).collect(),
            shrink_guard_percent: shrink,
            grace: self.grace(raw.grace),
        }
    }

    fn grace(&mut self, raw: Option<RawGrace>) -> crate::reconcile::guard::GracePolicy {
        use crate::reconcile::guard::{parse_duration, Grace, GracePolicy};
        let Some(raw) = raw else { return GracePolicy::default() };
        let grace = match (raw.runs, raw.duration) {
            (Some(n), None) if limits::GRACE_RUNS.check(n.into()).is_some() => {
                self.span("safety.grace.runs", limits::GRACE_RUNS, Some(n.into()));
                Grace::Runs(1)
            }
            (Some(n), None) => Grace::Runs(n),
            (None, Some(d)) => match parse_duration(&d) {
                Ok(d) => Grace::Duration(d),
                Err(e) => {
                    self.problem("safety.grace.duration", e);
                    Grace::Runs(1)
                }
            },
            (Some(_), Some(_)) => {
                self.problem("safety.grace", "set either runs or duration, not both");
                Grace::Runs(1)
            }
            (None, None) => GracePolicy::default().grace,
        };
        GracePolicy { grace, include_inactive: raw.include_inactive.unwrap_or(false) }
    }

    fn platforms(&mut self, value: Option<&Value>, safety: &Safety) -> Vec<PlatformConfig> {
        let Some(list) = value.and_then(Value::as_sequence) else {
            self.problem("platforms", "missing: list at least one platform (see config/rosterd.example.yaml)");
            return Vec::new();
        };
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let path = format!("platforms[{i}]");
            let Some(raw) = self.section::<RawPlatform>(entry, &path) else { continue };
            if !names.insert(raw.name.clone()) {
                self.problem(
                    format!("{path}.name"),
                    format!("{:?} is used by another platform; names must be unique", raw.name),
                );
            }
            if let Some(p) = self.platform(raw, &path, safety) {
                out.push(p);
            }
        }
        out
    }

    fn platform(&mut self, raw: RawPlatform, path: &str, safety: &Safety) -> Option<PlatformConfig> {
        let Some(kind) = kind::find(&raw.kind) else {
            self.problem(
                format!("{path}.kind"),
                format!("unknown kind {:?} (known: {})", raw.kind, kind::names().join(", ")),
            );
            return None;
        };
        self.options(&raw.options, kind, path);
        if raw.name.is_empty() || raw.name.contains(['\0', '/']) {
            self.problem(format!("{path}.name"), "must be non-empty, without '/' or NUL");
        }
        let base_url = match raw.base_url.as_deref().or(kind.default_base_url) {
            Some(u) => self.url(u, &format!("{path}.base_url")),
            None => {
                self.problem(format!("{path}.base_url"), "missing: the platform's API address");
                None
            }
        };
        let key_ref = SecretRef::from_pair(
            "api_key",
            raw.api_key_env.as_ref(),
            raw.api_key_file.as_ref(),
            raw.api_key.is_some(),
            &self.base,
        );
        let api_key =
            if raw.enabled { self.secret(key_ref, &format!("{path}.api_key")) } else { Some(SecretString::from("")) };
        let mapping = self.mapping(&raw, kind, path);
        self.connection_numbers(&raw, path);
        let connection = base_url.map(|u| {
            let mut c = connection(u, &raw);
            if raw.enabled {
                self.transport(&mut c, raw.ca_file.as_ref(), raw.allow_insecure_http, path, "base_url");
            }
            c
        });
        let mut protected = safety.protected.clone();
        protected.extend(raw.protected.iter().map(|s| crate::model::normalize_key(s).into()));
        Some(PlatformConfig {
            name: raw.name,
            kind,
            options: raw.options,
            enabled: raw.enabled,
            connection: connection?,
            api_key: api_key?,
            page_size: raw.page_size,
            mapping: mapping?,
            protected,
        })
    }

    /// `audit.hmac_key_file`: read now, at least [`crate::anchor::MIN_KEY_LEN`] bytes.
    fn audit_key(&mut self, value: Option<&Value>) -> Option<crate::anchor::AuditKey> {
        let raw: RawAudit = value.and_then(|v| self.section(v, "audit")).unwrap_or_default();
        if raw.hmac_key_file.is_none() && raw.hmac_key.is_none() {
            return None;
        }
        let r = SecretRef::from_pair("hmac_key", None, raw.hmac_key_file.as_ref(), raw.hmac_key.is_some(), &self.base);
        let key = self.secret(r, "audit.hmac_key")?;
        crate::anchor::AuditKey::new(key).map_err(|e| self.problem("audit.hmac_key_file", e)).ok()
    }

    /// A whole number outside its range is a problem under its key path.
    fn span(&mut self, path: &str, span: limits::Span, value: Option<u64>) {
        if let Some(message) = value.and_then(|v| span.check(v)) {
            self.problem(path, message);
        }
    }

    /// A platform's `page_size`, `timeout_seconds` and `rate_limit` numbers, in range.
    fn connection_numbers(&mut self, raw: &RawPlatform, path: &str) {
        let limit = raw.rate_limit.as_ref();
        if let Some(message) = limit.and_then(|l| l.per_second).and_then(limits::check_per_second) {
            self.problem(format!("{path}.rate_limit.per_second"), message);
        }
        self.span(&format!("{path}.rate_limit.burst"), limits::BURST, limit.and_then(|l| l.burst).map(u64::from));
        let concurrency = limit.and_then(|l| l.concurrency).map(|c| c as u64);
        self.span(&format!("{path}.rate_limit.concurrency"), limits::CONCURRENCY, concurrency);
        self.span(&format!("{path}.timeout_seconds"), limits::TIMEOUT_SECONDS, raw.timeout_seconds);
        self.span(&format!("{path}.page_size"), limits::PAGE_SIZE, raw.page_size.map(u64::from));
    }

    /// The kind's own settings: unknown keys by name, then the kind's checks.
    fn options(&mut self, options: &serde_yaml::Mapping, kind: &KindSpec, path: &str) {
        for k in options.keys() {
            let key = k.as_str().unwrap_or("?");
            if !kind.option_keys.contains(&key) {
                let known: Vec<&str> = COMMON_PLATFORM_KEYS.iter().chain(kind.option_keys).copied().collect();
                self.problem(
                    format!("{path}.{key}"),
                    format!("unknown key for kind {} (known: {})", kind.kind, known.join(", ")),
                );
            }
        }
        for (key, message) in (kind.check_options)(options) {
            let at = if key.is_empty() { path.to_string() } else { format!("{path}.{key}") };
            self.problem(at, message);
        }
    }

    fn mapping(&mut self, raw: &RawPlatform, kind: &KindSpec, path: &str) -> Option<Mapping> {
        let scope = raw.scope.as_deref().and_then(|s| self.filter(s, &format!("{path}.scope")));
        let scope_ok = raw.scope.is_none() || scope.is_some();
        let mut roles = Vec::new();
        let before = self.problems.len();
        for (i, r) in raw.roles.iter().enumerate() {
            let when = match &r.when {
                Some(w) => self.filter(w, &format!("{path}.roles[{i}].when")),
                None => None,
            };
            match crate::platform::kind::role_value(kind, &r.role, &r.extra, &raw.options) {
                Ok(v) => roles.push(RoleRule { when, role: v.role, fields: v.fields }),
                Err(e) => self.problem(format!("{path}.roles[{i}].role"), e),
            }
        }
        let roles_ok = self.problems.len() == before;
        let fields = self.fields(raw, kind, path)?;
        let key =
            self.template(raw.match_key.as_deref().unwrap_or(kind.default_match_key), &format!("{path}.match_key"))?;
        (scope_ok && roles_ok).then_some(Mapping { scope, roles, fields, key })
    }

    fn fields(
        &mut self,
        raw: &RawPlatform,
        kind: &KindSpec,
        path: &str,
    ) -> Option<std::collections::BTreeMap<String, Template>> {
        let mut out = std::collections::BTreeMap::new();
        let mut ok = true;
        for (f, t) in kind.default_fields {
            out.insert(f.to_string(), Template::parse(t).ok()?);
        }
        for (f, t) in &raw.fields {
            if !kind::field_allowed(kind, f) {
                self.problem(
                    format!("{path}.fields.{f}"),
                    format!("not a {} field (known: {})", kind.kind, kind.fields_allowed.join(", ")),
                );
                ok = false;
                continue;
            }
            match self.template(t, &format!("{path}.fields.{f}")) {
                Some(t) => {
                    out.insert(f.clone(), t);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Scope and role filters: parsed and checked against the person schema.
    fn filter(&mut self, text: &str, path: &str) -> Option<Filter> {
        match Filter::parse_person(text) {
            Ok(f) => Some(f),
            Err(e) => {
                self.problem(path, format!("bad filter {text:?}: {e}"));
                None
            }
        }
    }

    fn template(&mut self, text: &str, path: &str) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }

    /// The daemon's sections: `schedule`, `timezone`, `http`, `readiness`, `shutdown_grace_seconds`.
    fn daemon(&mut self, root: &Value) -> Option<DaemonConfig> {
        let schedule: Option<String> = root.get("schedule").and_then(|v| self.section(v, "schedule"));
        let schedule = schedule.unwrap_or_else(|| DaemonConfig::DEFAULT_SCHEDULE.into());
        if let Err(e) = parse_schedule(&schedule) {
            self.problem("schedule", e);
        }
        let tz: String = root.get("timezone").and_then(|v| self.section(v, "timezone")).unwrap_or("UTC".into());
        let timezone = tz
            .parse::<chrono_tz::Tz>()
            .map_err(|_| self.problem("timezone", format!("{tz:?} is not an IANA time zone (e.g. UTC, Europe/Paris)")));
        let http: RawHttp = root.get("http").and_then(|v| self.section(v, "http")).unwrap_or_default();
        let listen = http.listen.as_deref().unwrap_or(DaemonConfig::DEFAULT_LISTEN);
        let http_listen = listen.parse::<SocketAddr>().map_err(|_| {
            self.problem("http.listen", format!("{listen:?} is not an address:port (e.g. 127.0.0.1:9464)"))
        });
        let trigger_token = match (&http.trigger_token_file, http.trigger_token.is_some()) {
            (None, false) => None,
            (file, inline) => {
                let r = SecretRef::from_pair("trigger_token", None, file.as_ref(), inline, &self.base);
                Some(self.secret(r, "http.trigger_token")?)
            }
        };
        let readiness: RawReadiness =
            root.get("readiness").and_then(|v| self.section(v, "readiness")).unwrap_or_default();
        let grace: u64 =
            root.get("shutdown_grace_seconds").and_then(|v| self.section(v, "shutdown_grace_seconds")).unwrap_or(20);
        self.span("shutdown_grace_seconds", limits::SHUTDOWN_GRACE_SECONDS, Some(grace));
        let at = "readiness.max_failure_age_seconds";
        self.span(at, limits::FAILURE_AGE_SECONDS, readiness.max_failure_age_seconds);
        Some(DaemonConfig {
            schedule,
            timezone: timezone.ok()?,
            http_listen: http_listen.ok()?,
            trigger_token,
            max_failure_age: Duration::from_secs(readiness.max_failure_age_seconds.unwrap_or(3600)),
            shutdown_grace: Duration::from_secs(grace),
        })
    }
}
