//! `source.ldap`: the directory's address and TLS, the bind, what to search, the profile and
//! its attribute overrides; every problem under its key path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;
use url::Url;

use super::{resolve, Validator};
use crate::limits;
use crate::source::ldap::settings::ATTRIBUTE_KEYS;
use crate::source::ldap::{DisabledWhen, LdapSettings, Membership, Profile, SearchScope};

/// `source.ldap` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLdap {
    url: String,
    starttls: Option<bool>,
    allow_insecure: Option<bool>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u64>,
    bind_dn: String,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    /// Inline secrets are refused with a message saying what to use instead.
    password: Option<Value>,
    base_dn: String,
    scope: Option<String>,
    filter: Option<String>,
    profile: Option<String>,
    page_size: Option<u32>,
    /// `member` (groups' member DNs) or `member_of` (users' memberOf).
    groups_from: Option<String>,
    group_base_dn: Option<String>,
    group_filter: Option<String>,
    /// Only users of this group at any depth (AD's in-chain rule).
    in_group: Option<String>,
    /// Person field → attribute name (or a list, for `emails` and `display_name`).
    #[serde(default)]
    attributes: BTreeMap<String, OneOrMany>,
    disabled_when: Option<RawDisabledWhen>,
    incremental: Option<super::RawIncremental>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisabledWhen {
    attribute: String,
    values: Vec<String>,
}

const AT: &str = "source.ldap";

impl Validator {
    pub(super) fn ldap(&mut self, value: &Value) -> Option<LdapSettings> {
        let raw: RawLdap = self.section(value, AT)?;
        let url = match Url::parse(&raw.url) {
            Ok(u) => Some(u),
            Err(e) => {
                self.problem(format!("{AT}.url"), format!("{:?} is not a URL: {e}", raw.url));
                None
            }
        };
        let profile = raw.profile.as_deref().unwrap_or("openldap");
        let profile = Profile::parse(profile).or_else(|| {
            self.problem(format!("{AT}.profile"), format!("{profile:?} is not one of openldap, active_directory"));
            None
        });
        let (env, file, inline) = (raw.password_env.as_ref(), raw.password_file.as_ref(), raw.password.is_some());
        let password = self.secret_of("password", (env, file, inline), &format!("{AT}.password"));
        let (url, profile, password) = (url?, profile?, password?);
        let mut s = LdapSettings::new(url, &raw.bind_dn, password, &raw.base_dn, profile);
        s.starttls = raw.starttls.unwrap_or(false);
        s.allow_insecure = raw.allow_insecure.unwrap_or(false);
        s.ca_file = raw.ca_file.as_ref().map(|f| resolve(&self.base, f));
        if let Some(path) = &s.ca_file {
            if let Err(e) = crate::platform::connection::read_ca_file(path) {
                self.problem(format!("{AT}.ca_file"), e);
            }
        }
        self.span(&format!("{AT}.timeout_seconds"), limits::TIMEOUT_SECONDS, raw.timeout_seconds);
        s.timeout = raw.timeout_seconds.map_or(crate::source::ldap::settings::DEFAULT_TIMEOUT, Duration::from_secs);
        if let Some(scope) = &raw.scope {
            match SearchScope::parse(scope) {
                Some(scope) => s.users.scope = scope,
                None => self.problem(format!("{AT}.scope"), format!("{scope:?} is not one of subtree, one")),
            }
        }
        s.users.filter = raw.filter.unwrap_or(s.users.filter);
        s.groups.filter = raw.group_filter.unwrap_or(s.groups.filter);
        s.groups.base_dn = raw.group_base_dn.unwrap_or(s.groups.base_dn);
        s.in_group = raw.in_group;
        s.page_size = raw.page_size.unwrap_or(s.page_size);
        match raw.groups_from.as_deref() {
            None => {}
            Some("member") => s.membership = Membership::GroupMember,
            Some("member_of") => s.membership = Membership::MemberOf,
            Some(other) => {
                self.problem(format!("{AT}.groups_from"), format!("{other:?} is not one of member, member_of"))
            }
        }
        for (key, names) in raw.attributes {
            let names = match names {
                OneOrMany::One(n) => vec![n],
                OneOrMany::Many(n) => n,
            };
            if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                self.problem(format!("{AT}.attributes.{key}"), "name an attribute");
            } else if !ATTRIBUTE_KEYS.contains(&key.as_str()) {
                self.problem(
                    format!("{AT}.attributes.{key}"),
                    format!("unknown key (known: {})", ATTRIBUTE_KEYS.join(", ")),
                );
            }
        }
        s.disabled_when = raw.disabled_when.map(|d| DisabledWhen { attribute: d.attribute, values: d.values });
        if let Some(raw) = raw.incremental {
            if raw.overlap_seconds.is_some() {
                self.problem(
                    format!("{AT}.incremental.overlap_seconds"),
                    "unknown for LDAP: changes are asked for from the last change mark itself (>=)",
                );
            }
            let every = raw
                .full_read_every
                .unwrap_or(crate::records::incremental::IncrementalSettings::DEFAULT_FULL_READ_EVERY);
            self.span(&format!("{AT}.incremental.full_read_every"), limits::FULL_READ_EVERY, Some(every.into()));
            s.incremental = (raw.enabled == Some(true)).then_some(crate::records::incremental::IncrementalSettings {
                full_read_every: every.max(1),
                ..Default::default()
            });
        }
        for (key, problem) in s.problems() {
            self.problem(format!("{AT}.{key}"), problem);
        }
        Some(s)
    }
}
