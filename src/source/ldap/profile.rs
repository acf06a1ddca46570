//! From directory entries to people: the stable id (AD's `objectGUID` as Microsoft renders it),
//! the fields by the configured attributes, whether the account is active, and group
//! memberships with nesting expanded (cycle-safe).

use std::collections::{BTreeSet, HashMap, HashSet};

use compact_str::CompactString;

use super::entry::Entry;
use super::settings::{LdapSettings, Membership, Profile};
use crate::model::{Email, Group, Person};

/// `userAccountControl` ACCOUNTDISABLE.
pub const UAC_DISABLED: u64 = 0x2;

/// Why one entry is not a person rosterd can use: the entry's DN, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{dn}: {problem}")]
pub struct EntryProblem {
    pub dn: String,
    pub problem: String,
}

impl EntryProblem {
    fn no(entry: &Entry, attribute: &str, what: &str, key: &str) -> EntryProblem {
        let problem =
            format!("no {attribute} ({what}); check source.ldap.attributes.{key} and that the bind DN may read it");
        EntryProblem { dn: entry.dn.clone(), problem }
    }
}

/// A DN as a key: lower case, no blanks around separators (`CN=A, OU=B` = `cn=a,ou=b`).
pub fn dn_key(dn: &str) -> String {
    let mut key = String::with_capacity(dn.len());
    for part in dn.split(',') {
        if !key.is_empty() {
            key.push(',');
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        key.push_str(&name.trim().to_lowercase());
        key.push('=');
        key.push_str(&value.trim().to_lowercase());
    }
    key
}

/// `objectGUID`'s 16 bytes as Microsoft renders them: the first three groups little-endian.
pub fn guid_string(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let order = [3, 2, 1, 0, 4 + 1, 4, 6 + 1, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut out = String::with_capacity(36);
    for (i, at) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{:02x}", b[*at]));
    }
    Some(out)
}

/// `accountExpires` (100 ns ticks since 1601-01-01 UTC): 0 and 2^63−1 mean never.
pub fn expired(account_expires: Option<&str>, now_unix_seconds: i64) -> bool {
    const TICKS_PER_SECOND: i64 = 10_000_000;
    const UNIX_EPOCH_IN_1601_SECONDS: i64 = 11_644_473_600;
    let Some(ticks) = account_expires.and_then(|v| v.trim().parse::<i64>().ok()) else { return false };
    if ticks == 0 || ticks == i64::MAX {
        return false;
    }
    ticks / TICKS_PER_SECOND - UNIX_EPOCH_IN_1601_SECONDS <= now_unix_seconds
}

/// Whether an entry is an active account by the profile's flag and the configured rule.
pub fn active(entry: &Entry, settings: &LdapSettings, now_unix_seconds: i64) -> bool {
    if let Some(rule) = &settings.disabled_when {
        let hit = entry.texts(&rule.attribute).iter().any(|v| rule.values.iter().any(|d| d.eq_ignore_ascii_case(v)));
        if hit {
            return false;
        }
    }
    if settings.profile != Profile::ActiveDirectory {
        return true;
    }
    let uac = entry.text("userAccountControl").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    uac as u64 & UAC_DISABLED == 0 && !expired(entry.text("accountExpires"), now_unix_seconds)
}

/// The stable id of an entry: a GUID string for `objectGUID`, the text value otherwise.
pub fn stable_id(entry: &Entry, attribute: &str) -> Result<CompactString, EntryProblem> {
    let missing = || EntryProblem::no(entry, attribute, "the stable id", "id");
    let raw = entry.raw(attribute).first().ok_or_else(missing)?;
    if attribute.eq_ignore_ascii_case("objectGUID") {
        let problem = format!("{attribute} is not a 16-byte GUID");
        return guid_string(raw).map(Into::into).ok_or(EntryProblem { dn: entry.dn.clone(), problem });
    }
    match std::str::from_utf8(raw).map(str::trim) {
        Ok(text) if !text.is_empty() => Ok(text.to_lowercase().into()),
        _ => Err(missing()),
    }
}

/// One user entry as a person; groups and manager are filled in later (they need the others).
pub fn person(entry: &Entry, settings: &LdapSettings, now_unix_seconds: i64) -> Result<Person, EntryProblem> {
    let a = &settings.attributes;
    let id = stable_id(entry, a.one("id"))?;
    let user_name = entry
        .text(a.one("user_name"))
        .ok_or_else(|| EntryProblem::no(entry, a.one("user_name"), "the user name", "user_name"))?;
    let first_of = |names: &[String]| names.iter().find_map(|n| (!entry.texts(n).is_empty()).then(|| entry.texts(n)));
    let emails = first_of(a.list("emails")).unwrap_or_default();
    let emails = emails
        .iter()
        .filter(|v| !v.trim().is_empty())
        .enumerate()
        .map(|(i, v)| Email { value: v.trim().into(), kind: Some("work".into()), primary: i == 0 })
        .collect();
    let text = |name: &str| entry.text(name).map(CompactString::from);
    Ok(Person {
        id,
        external_id: None,
        user_name: user_name.into(),
        given_name: text(a.one("given_name")).unwrap_or_default(),
        family_name: text(a.one("family_name")).unwrap_or_default(),
        display_name: a.list("display_name").iter().find_map(|n| text(n)),
        emails,
        active: active(entry, settings, now_unix_seconds),
        title: text(a.one("title")),
        department: text(a.one("department")),
        employee_number: text(a.one("employee_number")),
        manager: text(a.one("manager")),
        ..Person::default()
    })
}

/// The groups read, and who is in which (nesting expanded).
#[derive(Debug, Default)]
pub struct Groups {
    names: Vec<CompactString>,
    /// Each group's DN key, by index.
    dns: Vec<String>,
    by_dn: HashMap<String, usize>,
    /// A DN (user or group) → the groups that list it directly.
    parents: HashMap<String, Vec<usize>>,
}

impl Groups {
    /// Index group entries. `members` holds each group's member DNs (ranges already joined),
    /// in the order of `entries`; unused with `memberOf`.
    pub fn new(entries: &[Entry], members: &[Vec<String>], settings: &LdapSettings) -> Groups {
        let mut groups = Groups::default();
        for entry in entries {
            let name = entry.text(settings.attributes.one("group_name")).unwrap_or(entry.dn.as_str());
            groups.by_dn.insert(dn_key(&entry.dn), groups.names.len());
            groups.dns.push(dn_key(&entry.dn));
            groups.names.push(name.into());
        }
        for (index, entry) in entries.iter().enumerate() {
            let listed: Vec<String> = match settings.membership {
                Membership::GroupMember => members.get(index).cloned().unwrap_or_default(),
                Membership::MemberOf => Vec::new(),
            };
            for member in listed {
                groups.parents.entry(dn_key(&member)).or_default().push(index);
            }
            if settings.membership == Membership::MemberOf {
                let parents = groups.indexes(&entry.texts("memberOf"));
                groups.parents.entry(dn_key(&entry.dn)).or_default().extend(parents);
            }
        }
        groups
    }

    fn indexes(&self, dns: &[&str]) -> Vec<usize> {
        dns.iter().filter_map(|dn| self.by_dn.get(&dn_key(dn)).copied()).collect()
    }

    /// Every group a user is in at any depth, by name, sorted. Cycles end the walk.
    pub fn of(&self, user: &Entry, membership: Membership) -> Vec<Group> {
        let mut queue: Vec<usize> = match membership {
            Membership::MemberOf => self.indexes(&user.texts("memberOf")),
            Membership::GroupMember => self.parents.get(&dn_key(&user.dn)).cloned().unwrap_or_default(),
        };
        let mut seen: HashSet<usize> = HashSet::new();
        while let Some(index) = queue.pop() {
            if !seen.insert(index) {
                continue;
            }
            let parents = self.dns.get(index).and_then(|dn| self.parents.get(dn));
            queue.extend(parents.into_iter().flatten().copied());
        }
        let names: BTreeSet<&CompactString> = seen.iter().filter_map(|i| self.names.get(*i)).collect();
        names.into_iter().map(|n| Group::named(n.clone())).collect()
    }
}
