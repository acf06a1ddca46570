//! What the LDAP source needs to know: where the directory is, how to bind, what to search, and
//! which attribute means what (the OpenLDAP and Active Directory profiles, overridable one by one).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Which directory dialect the defaults follow (`platforms/ldap.md`, "Person mapping").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// OpenLDAP and most LDAP v3 servers: `inetOrgPerson`, `entryUUID`, `groupOfNames`.
    OpenLdap,
    /// Active Directory: `objectGUID`, `sAMAccountName`, `userAccountControl`, `memberOf`.
    ActiveDirectory,
}

impl Profile {
    /// `openldap` or `active_directory` (also `ad`), as config writes it.
    pub fn parse(text: &str) -> Option<Profile> {
        match text.to_ascii_lowercase().as_str() {
            "openldap" | "ldap" => Some(Profile::OpenLdap),
            "active_directory" | "ad" | "activedirectory" => Some(Profile::ActiveDirectory),
            _ => None,
        }
    }

    /// The attribute that says when an entry last changed, for incremental reads: the
    /// server's own mark (OpenLDAP's clock, AD's per-DC update sequence number).
    pub fn changed_attribute(self) -> &'static str {
        match self {
            Profile::OpenLdap => "modifyTimestamp",
            Profile::ActiveDirectory => "uSNChanged",
        }
    }

    /// Whether change mark `a` is at or after `b` (generalized times compare as text, USNs as numbers).
    pub fn at_or_after(self, a: &str, b: &str) -> bool {
        match self {
            Profile::OpenLdap => a >= b,
            Profile::ActiveDirectory => a.parse::<u64>().ok() >= b.parse::<u64>().ok(),
        }
    }

    /// The user filter when config sets none.
    pub fn default_filter(self) -> &'static str {
        match self {
            Profile::OpenLdap => "(objectClass=inetOrgPerson)",
            Profile::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))",
        }
    }

    /// The group filter when config sets none.
    pub fn default_group_filter(self) -> &'static str {
        match self {
            Profile::OpenLdap => "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            Profile::ActiveDirectory => "(objectClass=group)",
        }
    }

    /// Where memberships come from when config does not say.
    pub fn default_membership(self) -> Membership {
        match self {
            Profile::OpenLdap => Membership::GroupMember,
            Profile::ActiveDirectory => Membership::MemberOf,
        }
    }
}

/// The search scope (`source.ldap.scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    Subtree,
    OneLevel,
}

impl SearchScope {
    pub fn parse(text: &str) -> Option<SearchScope> {
        match text.to_ascii_lowercase().as_str() {
            "sub" | "subtree" | "wholesubtree" => Some(SearchScope::Subtree),
            "one" | "onelevel" | "singlelevel" => Some(SearchScope::OneLevel),
            _ => None,
        }
    }
}

/// Where a person's groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Users' `memberOf` (direct), nesting from the groups' own `memberOf` (Active Directory).
    MemberOf,
    /// Groups' `member` / `uniqueMember` DNs, member groups expanded (OpenLDAP).
    GroupMember,
}

/// The attribute(s) behind each person field, by config key (`id`, `user_name`, ...). Names
/// are compared without regard to case, as LDAP does. `emails` and `display_name` are lists
/// tried in order; the others use their first name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes(BTreeMap<&'static str, Vec<String>>);

/// Each field's attributes in the two profiles: (key, OpenLDAP, Active Directory).
type Column = &'static [&'static str];
const PROFILES: [(&str, Column, Column); 11] = [
    ("id", &["entryUUID"], &["objectGUID"]),
    ("user_name", &["uid"], &["sAMAccountName"]),
    ("emails", &["mail"], &["mail", "userPrincipalName"]),
    ("given_name", &["givenName"], &["givenName"]),
    ("family_name", &["sn"], &["sn"]),
    ("display_name", &["displayName", "cn"], &["displayName"]),
    ("title", &["title"], &["title"]),
    ("department", &["departmentNumber"], &["department"]),
    ("employee_number", &["employeeNumber"], &["employeeID"]),
    ("manager", &["manager"], &["manager"]),
    ("group_name", &["cn"], &["cn"]),
];

/// Every attribute key of `source.ldap.attributes`, for config validation.
pub const ATTRIBUTE_KEYS: [&str; 11] = {
    let mut keys = [""; 11];
    let mut i = 0;
    while i < 11 {
        keys[i] = PROFILES[i].0;
        i += 1;
    }
    keys
};

impl Attributes {
    pub fn of(profile: Profile) -> Attributes {
        let names = |(key, openldap, ad): &(&'static str, Column, Column)| {
            let column = if profile == Profile::ActiveDirectory { ad } else { openldap };
            (*key, column.iter().map(|n| n.to_string()).collect())
        };
        Attributes(PROFILES.iter().map(names).collect())
    }

    /// Replace one attribute by its config key; false when the key is unknown.
    pub fn set(&mut self, key: &str, names: Vec<String>) -> bool {
        match ATTRIBUTE_KEYS.iter().find(|k| **k == key) {
            Some(known) => self.0.insert(known, names).is_some(),
            None => false,
        }
    }

    /// The attribute of a single-valued field (`""` for an unknown key: no entry has it).
    pub fn one(&self, key: &str) -> &str {
        self.list(key).first().map_or("", String::as_str)
    }

    /// The attributes of a field, in the order they are tried.
    pub fn list(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Every attribute a user search names (operational ones come only when named).
    pub fn user_attributes(&self, profile: Profile, extra: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = self.0.values().flatten().cloned().collect();
        names.extend(extra.iter().map(|s| s.to_string()));
        if profile == Profile::ActiveDirectory {
            names.extend(["userAccountControl", "accountExpires"].map(String::from));
        }
        names.push("memberOf".into());
        names.push(profile.changed_attribute().into());
        names.sort_by_key(|n| n.to_ascii_lowercase());
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        names
    }
}

/// Entries with this attribute holding one of these values are inactive (where the
/// directory has no flag of its own) [inferred: no standard one].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledWhen {
    pub attribute: String,
    /// Compared without regard to case.
    pub values: Vec<String>,
}

/// The page size when config sets none [inferred].
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Active Directory's MaxPageSize: it never sends more a page.
pub const AD_MAX_PAGE_SIZE: u32 = 1000;
/// Each operation's time-out when config sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One search: its base, its depth, its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub base_dn: String,
    pub scope: SearchScope,
    pub filter: String,
}

/// Everything the LDAP source needs.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldaps://host:636` or `ldap://host:389`.
    pub url: Url,
    /// StartTLS before the bind on an `ldap://` URL.
    pub starttls: bool,
    /// `ldap://` in the clear to a host off loopback; warned at every run.
    pub allow_insecure: bool,
    /// PEM CA certificates trusted on top of the system's.
    pub ca_file: Option<PathBuf>,
    /// Each operation's time-out: connect, bind, each page.
    pub timeout: Duration,
    /// Who rosterd binds as, and the password (never shown by `Debug`: secrecy redacts it).
    pub bind_dn: String,
    pub password: SecretString,
    /// Where users are, how deep, and which.
    pub users: Search,
    /// Only users of this group at any depth (AD's in-chain matching rule).
    pub in_group: Option<String>,
    /// Entries a page (RFC 2696).
    pub page_size: u32,
    /// Where groups are and which entries are groups (the users' base DN unless set), and
    /// where memberships come from.
    pub groups: Search,
    pub membership: Membership,
    /// The dialect, its attributes as overridden, and the rule where there is no flag.
    pub profile: Profile,
    pub attributes: Attributes,
    pub disabled_when: Option<DisabledWhen>,
    /// Read only entries changed since the last read, and whole every N reads.
    pub incremental: Option<crate::records::incremental::IncrementalSettings>,
}

impl LdapSettings {
    /// Settings with the profile's defaults.
    pub fn new(url: Url, bind_dn: &str, password: SecretString, base_dn: &str, profile: Profile) -> LdapSettings {
        LdapSettings {
            url,
            starttls: false,
            allow_insecure: false,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
            bind_dn: bind_dn.into(),
            password,
            users: Search {
                base_dn: base_dn.into(),
                scope: SearchScope::Subtree,
                filter: profile.default_filter().into(),
            },
            groups: Search {
                base_dn: base_dn.into(),
                scope: SearchScope::Subtree,
                filter: profile.default_group_filter().into(),
            },
            page_size: DEFAULT_PAGE_SIZE,
            profile,
            attributes: Attributes::of(profile),
            disabled_when: None,
            incremental: None,
            membership: profile.default_membership(),
            in_group: None,
        }
    }

    /// Why these settings would put the bind password on the wire in the clear, if they would.
    pub fn cleartext_problem(&self) -> Option<String> {
        if self.url.scheme() != "ldap" || self.starttls || self.allow_insecure || is_loopback(&self.url) {
            return None;
        }
        Some(
            "ldap:// to a host off loopback would send the bind password in the clear: use ldaps://, \
             set starttls: true, or (only on a trusted network) allow_insecure: true"
                .into(),
        )
    }

    /// Said at every run while `allow_insecure` sends the bind password in the clear.
    pub fn insecure_warning(&self) -> Option<String> {
        let clear = self.url.scheme() == "ldap" && !self.starttls && !is_loopback(&self.url);
        (clear && self.allow_insecure).then(|| {
            format!(
                "{}: allow_insecure is on: the bind password and every entry cross the network in the clear",
                self.label()
            )
        })
    }

    /// Refuse settings that cannot work; each message names the key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !matches!(self.url.scheme(), "ldap" | "ldaps") || self.url.host().is_none() {
            out.push(("url", "must be ldaps://host[:port] or ldap://host[:port]".into()));
        } else if self.url.scheme() == "ldaps" && self.starttls {
            out.push(("starttls", "StartTLS is for ldap:// URLs; ldaps:// is TLS already".into()));
        }
        if !self.url.username().is_empty() || self.url.password().is_some() {
            out.push(("url", "must not carry credentials: set bind_dn and password_file".into()));
        }
        if let Some(problem) = self.cleartext_problem() {
            out.push(("url", problem));
        }
        if self.password.expose_secret().is_empty() {
            out.push(("password", "is empty: an empty password is an unauthenticated bind, refused".into()));
        }
        for (key, dn) in
            [("bind_dn", &self.bind_dn), ("base_dn", &self.users.base_dn), ("group_base_dn", &self.groups.base_dn)]
        {
            if dn.trim().is_empty() {
                out.push((key, "is empty".into()));
            }
        }
        if self.page_size == 0 {
            out.push(("page_size", "must be at least 1".into()));
        } else if self.profile == Profile::ActiveDirectory && self.page_size > AD_MAX_PAGE_SIZE {
            out.push(("page_size", format!("Active Directory sends at most {} a page", AD_MAX_PAGE_SIZE)));
        }
        if self.incremental.as_ref().is_some_and(|i| i.full_read_every == 0) {
            out.push(("incremental.full_read_every", "must be at least 1 (1 = every read is a full one)".into()));
        }
        for (key, filter) in [("filter", &self.users.filter), ("group_filter", &self.groups.filter)] {
            if ldap3::parse_filter(filter).is_err() {
                out.push((key, format!("{filter:?} is not an LDAP filter (RFC 4515), e.g. (objectClass=person)")));
            }
        }
        out
    }

    /// The user filter as sent: the configured one, narrowed to the `in_group` tree when set.
    pub fn user_filter(&self) -> String {
        match &self.in_group {
            Some(dn) => {
                format!("(&{}(memberOf:1.2.840.113556.1.4.1941:={}))", self.users.filter, ldap3::ldap_escape(dn))
            }
            None => self.users.filter.clone(),
        }
    }

    /// For messages: `source.ldap (ldaps://dc1.corp.example:636)`.
    pub fn label(&self) -> String {
        let url = self.url.as_str().trim_end_matches('/');
        format!("source.ldap ({url})")
    }
}

/// 127.0.0.0/8, ::1 or `localhost`. `ldap:` is not a scheme the URL standard knows, so its
/// host comes as text, IP addresses included: read it here.
fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}
