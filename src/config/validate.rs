//! The validator: builds the config from the parsed YAML, collecting every problem under
//! its key path instead of stopping at the first. The platforms' entries are checked in
//! [`platforms`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use url::Url;

use super::raw::*;
use super::secret::SecretRef;
use super::*;
use crate::platform::connection::TlsVerification;

mod entra;
mod google;
mod ldap;
mod notify;
mod okta;
mod platforms;
mod push;
mod push_flow;

/// What `source:` may hold, for the messages that ask for one.
const SOURCE_KINDS: &str = "set one of source.scim (a SCIM identity provider), source.okta, source.entra, \
source.google, source.ldap (a directory), source.file (a roster file) or source.push (the identity provider \
pushes to rosterd's /scim/v2)";

/// Validate the parsed YAML of the config file at `path`; every problem is reported at once.
pub(super) fn validate(root: &Value, path: &Path) -> Result<Config, Vec<Problem>> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut v = Validator { problems: Vec::new(), base, secret_files: Vec::new() };
    let config = v.config(root, path);
    match config {
        Some(c) if v.problems.is_empty() => Ok(c),
        _ => Err(v.problems),
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
    "notify",
    "push_flow",
];

/// `tls_insecure_skip_verify`: off unless written `true`.
fn tls(insecure: Option<bool>) -> TlsVerification {
    match insecure {
        Some(true) => TlsVerification::InsecureSkipVerify,
        _ => TlsVerification::Verify,
    }
}

/// The transport keys every HTTP source has, as written.
struct SourceTransport<'a> {
    url: &'a str,
    timeout_seconds: Option<u64>,
    insecure: Option<bool>,
    ca_file: Option<&'a PathBuf>,
    allow_insecure_http: Option<bool>,
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
        let notify = self.notify(root.get("notify"));
        let push_flow = self.push_flow(root.get("push_flow"), safety.max_removals_count);
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
            notify,
            push_flow,
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
            self.problem("source", format!("missing: {SOURCE_KINDS}"));
            return None;
        };
        let mut raw: RawSource = self.section(value, "source")?;
        let pulls: Vec<&str> = [
            ("scim", raw.scim.is_some()),
            ("file", raw.file.is_some()),
            ("ldap", raw.ldap.is_some()),
            ("okta", raw.okta.is_some()),
            ("google", raw.google.is_some()),
            ("entra", raw.entra.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, set)| set.then_some(kind))
        .collect();
        if pulls.len() > 1 {
            let keys: Vec<String> = pulls.iter().map(|k| format!("source.{k}")).collect();
            self.problem(
                "source",
                format!("set one source, not several: {} (source.push may sit beside one of them)", keys.join(", ")),
            );
            return None;
        }
        let Some(push) = raw.push.take() else { return self.pull_source(raw) };
        let push = self.push(&push);
        if pulls.is_empty() {
            return push.map(SourceConfig::Push);
        }
        // Push beside a pull source: the pulled roster is the truth, pushes make it prompt.
        let pull = self.pull_source(raw);
        Some(SourceConfig::PullAndPush { pull: Box::new(pull?), push: push? })
    }

    /// The one pull source `raw` sets (push already taken out).
    fn pull_source(&mut self, raw: RawSource) -> Option<SourceConfig> {
        if let Some(ldap) = &raw.ldap {
            return self.ldap(ldap).map(|s| SourceConfig::Ldap(Box::new(s)));
        }
        if let Some(okta) = &raw.okta {
            return self.okta(okta);
        }
        if let Some(g) = raw.google {
            return self.google(g).map(SourceConfig::Google);
        }
        if let Some(e) = raw.entra {
            return self.entra(e).map(SourceConfig::Entra);
        }
        match (raw.scim, raw.file) {
            (Some(s), _) => self.scim(s).map(SourceConfig::Scim),
            (None, Some(f)) => Some(SourceConfig::File { path: resolve(&self.base, &f.path), complete: f.complete }),
            (None, None) => {
                self.problem("source", SOURCE_KINDS);
                None
            }
        }
    }

    fn scim(&mut self, s: RawScim) -> Option<ScimConfig> {
        let transport = SourceTransport {
            url: &s.url,
            timeout_seconds: s.timeout_seconds,
            insecure: s.tls_insecure_skip_verify,
            ca_file: s.ca_file.as_ref(),
            allow_insecure_http: s.allow_insecure_http,
        };
        let connection = self.source_connection("source.scim", &transport);
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

    /// The connection of the source at `prefix` (`source.scim`): never paced, a source
    /// read is not a platform's write budget.
    fn source_connection(&mut self, prefix: &str, t: &SourceTransport<'_>) -> Option<Connection> {
        let url = self.url(t.url, &format!("{prefix}.url"))?;
        let mut c = Connection {
            timeout: Duration::from_secs(t.timeout_seconds.unwrap_or(30)),
            tls: tls(t.insecure),
            ..Connection::new(url).unpaced()
        };
        self.transport(&mut c, t.ca_file, t.allow_insecure_http, prefix, "url");
        Some(c)
    }

    /// `source.scim.incremental`: off unless `enabled: true`.
    fn scim_incremental(&mut self, raw: RawIncremental) -> Option<crate::records::incremental::IncrementalSettings> {
        let overlap = crate::records::incremental::IncrementalSettings::DEFAULT_OVERLAP;
        self.incremental_at("source.scim", &raw, overlap)
    }

    /// `{source}.incremental`: off unless `enabled: true`; `overlap` when none is written.
    fn incremental_at(
        &mut self,
        source: &str,
        raw: &RawIncremental,
        overlap: Duration,
    ) -> Option<crate::records::incremental::IncrementalSettings> {
        use crate::records::incremental::IncrementalSettings;
        let full_read_every = raw.full_read_every.unwrap_or(IncrementalSettings::DEFAULT_FULL_READ_EVERY);
        let at = format!("{source}.incremental");
        self.span(&format!("{at}.full_read_every"), limits::FULL_READ_EVERY, Some(full_read_every.into()));
        self.span(&format!("{at}.overlap_seconds"), limits::OVERLAP_SECONDS, raw.overlap_seconds);
        let overlap = raw.overlap_seconds.map_or(overlap, Duration::from_secs);
        (raw.enabled == Some(true)).then_some(IncrementalSettings { full_read_every: full_read_every.max(1), overlap })
    }

    fn scim_auth(&mut self, s: &RawScim) -> Option<ScimAuthConfig> {
        if let Some(b) = &s.basic {
            if s.token_env.is_some() || s.token_file.is_some() {
                self.problem("source.scim", "set either a bearer token (token_env/token_file) or basic, not both");
            }
            let given = (b.password_env.as_ref(), b.password_file.as_ref(), b.password.is_some());
            let password = self.secret_of("password", given, "source.scim.basic.password")?;
            return Some(ScimAuthConfig::Basic { username: b.username.clone(), password });
        }
        let given = (s.token_env.as_ref(), s.token_file.as_ref(), s.token.is_some());
        self.secret_of("token", given, "source.scim.token").map(ScimAuthConfig::Bearer)
    }

    /// The secret `name` from its `_env` or `_file` key (an inline value is refused),
    /// loaded; a problem under `path` when it cannot be.
    fn secret_of(&mut self, name: &str, given: Given<'_>, path: &str) -> Option<SecretString> {
        let (env, file, inline) = given;
        let r = SecretRef::from_pair(name, env, file, inline, &self.base);
        self.secret(r, path)
    }

    fn secret(&mut self, r: Result<SecretRef, super::secret::SecretError>, path: &str) -> Option<SecretString> {
        if let Ok(SecretRef::File(file)) = &r {
            self.secret_files.push((format!("{path}_file"), file.clone()));
        }
        match r.and_then(|r| r.load()) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(path, e.to_string());
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

    fn grace(&mut self, raw: Option<RawGrace>) -> grace::GracePolicy {
        use super::grace::{parse_duration, Grace, GracePolicy};
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
                    self.problem("safety.grace.duration", e.to_string());
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

    /// `audit.hmac_key_file`: read now, at least [`crate::anchor::MIN_KEY_LEN`] bytes.
    fn audit_key(&mut self, value: Option<&Value>) -> Option<crate::anchor::AuditKey> {
        let raw: RawAudit = value.and_then(|v| self.section(v, "audit")).unwrap_or_default();
        if raw.hmac_key_file.is_none() && raw.hmac_key.is_none() {
            return None;
        }
        let key =
            self.secret_of("hmac_key", (None, raw.hmac_key_file.as_ref(), raw.hmac_key.is_some()), "audit.hmac_key")?;
        crate::anchor::AuditKey::new(key).map_err(|e| self.problem("audit.hmac_key_file", e.to_string())).ok()
    }

    /// An optional token read from `http.<name>_file` (inline values are refused); Err when
    /// it is set but cannot be read, the problem noted.
    fn token(&mut self, name: &str, file: Option<&PathBuf>, inline: bool) -> Result<Option<SecretString>, ()> {
        if file.is_none() && !inline {
            return Ok(None);
        }
        self.secret_of(name, (None, file, inline), &format!("http.{name}")).map(Some).ok_or(())
    }

    /// A whole number outside its range is a problem under its key path.
    fn span(&mut self, path: &str, span: limits::Span, value: Option<u64>) {
        if let Some(message) = value.and_then(|v| span.check(v)) {
            self.problem(path, message);
        }
    }

    /// The daemon's sections: `schedule`, `timezone`, `http`, `readiness`, `shutdown_grace_seconds`.
    fn daemon(&mut self, root: &Value) -> Option<DaemonConfig> {
        let schedule: Option<String> = root.get("schedule").and_then(|v| self.section(v, "schedule"));
        let schedule = schedule.unwrap_or_else(|| DaemonConfig::DEFAULT_SCHEDULE.into());
        if let Err(e) = parse_schedule(&schedule) {
            self.problem("schedule", e.to_string());
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
        let trigger_token = self.token("trigger_token", http.trigger_token_file.as_ref(), http.trigger_token.is_some());
        let admin_token = self.token("admin_token", http.admin_token_file.as_ref(), http.admin_token.is_some());
        let readiness: RawReadiness =
            root.get("readiness").and_then(|v| self.section(v, "readiness")).unwrap_or_default();
        let grace: u64 =
            root.get("shutdown_grace_seconds").and_then(|v| self.section(v, "shutdown_grace_seconds")).unwrap_or(20);
        self.span("shutdown_grace_seconds", limits::SHUTDOWN_GRACE_SECONDS, Some(grace));
        let at = "readiness.max_failure_age_seconds";
        self.span(at, limits::FAILURE_AGE_SECONDS, readiness.max_failure_age_seconds);
        let stuck_after = readiness.stuck_after_seconds.unwrap_or(DaemonConfig::DEFAULT_STUCK_AFTER_SECONDS);
        self.span("readiness.stuck_after_seconds", limits::STUCK_AFTER_SECONDS, Some(stuck_after));
        Some(DaemonConfig {
            schedule,
            timezone: timezone.ok()?,
            http_listen: http_listen.ok()?,
            trigger_token: trigger_token.ok()?,
            max_failure_age: Duration::from_secs(readiness.max_failure_age_seconds.unwrap_or(3600)),
            shutdown_grace: Duration::from_secs(grace),
            admin_token: admin_token.ok()?,
            stuck_after: Duration::from_secs(stuck_after),
        })
    }
}

/// A secret as written: its `_env` and `_file` keys, and whether an inline value was given
/// (refused).
type Given<'a> = (Option<&'a String>, Option<&'a PathBuf>, bool);
