//! The platforms' entries of the config: common keys, connection numbers, the kind's
//! options, and the mapping (scope, role rules, field templates, match key).

use std::collections::BTreeSet;

use serde_yaml::Value;
use url::Url;

use super::super::raw::*;
use super::super::*;
use super::{tls, Validator};
use crate::filter::Filter;
use crate::platform::connection::Connection;
use crate::platform::kind::{self, KindSpec};
use crate::template::Template;

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

impl Validator {
    pub(super) fn platforms(&mut self, value: Option<&Value>, safety: &Safety) -> Vec<PlatformConfig> {
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
        let Some(kind) = crate::platform::registry::find(&raw.kind) else {
            self.problem(
                format!("{path}.kind"),
                format!("unknown kind {:?} (known: {})", raw.kind, crate::platform::registry::names().join(", ")),
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
        let given = (raw.api_key_env.as_ref(), raw.api_key_file.as_ref(), raw.api_key.is_some());
        let api_key = if raw.enabled {
            self.secret_of("api_key", given, &format!("{path}.api_key"))
        } else {
            Some(SecretString::from(""))
        };
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
}
