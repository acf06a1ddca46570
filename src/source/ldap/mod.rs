//! The LDAP / Active Directory identity source: one bound connection, groups then users read by
//! paged searches, into a roster that says whether it is complete (`platforms/ldap.md`).
//!
//! Groups are read first and must read whole: they decide scope and roles, so a group search
//! that ends short fails the run (nothing changes). Users are read next; a user search that
//! ends short (a dropped connection, a size or time limit, a lost cookie, an unfollowed
//! referral) gives an *incomplete* roster of the people read so far: it may add and update,
//! never remove.

pub mod entry;
pub mod profile;
pub mod search;
pub mod settings;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use compact_str::CompactString;

use super::snapshot::SnapshotStore;
use super::{Source, SourceError};
use crate::model::{Person, Roster};
use profile::{dn_key, Groups};
use search::{Directory, Listing};
pub use settings::{Attributes, DisabledWhen, LdapSettings, Membership, Profile, Search, SearchScope};

/// The LDAP identity source.
#[derive(Debug)]
pub struct LdapSource {
    settings: LdapSettings,
}

#[async_trait]
impl Source for LdapSource {
    /// Groups, then the users the configured filter selects.
    async fn read(&self) -> Result<Roster, SourceError> {
        let read = self.read_since(None).await?;
        Ok(read.roster.unwrap_or_default())
    }

    async fn read_with(&self, memory: &dyn SnapshotStore) -> Result<Roster, SourceError> {
        super::incremental::read_with(self, self.settings.incremental.as_ref(), memory).await
    }

    fn describe(&self) -> String {
        format!("LDAP {} ({})", self.settings.url.as_str().trim_end_matches('/'), self.settings.users.base_dn)
    }
}

impl LdapSource {
    pub fn new(settings: LdapSettings) -> Result<LdapSource, SourceError> {
        if let Some((key, problem)) = settings.problems().into_iter().next() {
            return Err(SourceError::Settings { message: format!("source.ldap.{key}: {problem}") });
        }
        Ok(LdapSource { settings })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// Read groups, then the users the filter selects; with `since` (a change mark), only
    /// users changed at or after it, and no users at all when a group changed since (the
    /// caller reads in full: memberships moved).
    pub(crate) async fn read_since(&self, since: Option<&str>) -> Result<Read, SourceError> {
        let s = &self.settings;
        let mut directory = Directory::connect(s).await?;
        let (groups, mut newest) = match self.read_groups(&mut directory).await {
            Ok(read) => read,
            Err(e) => {
                directory.close().await;
                return Err(e);
            }
        };
        let mark = s.profile.changed_attribute();
        let filter = match since {
            Some(since) if newest.as_deref().is_some_and(|n| s.profile.at_or_after(n, since)) => {
                directory.close().await;
                return Ok(Read { roster: None, newest });
            }
            Some(since) => format!("(&{}({mark}>={}))", s.user_filter(), ldap3::ldap_escape(since)),
            None => s.user_filter(),
        };
        let attrs = s.attributes.user_attributes(s.profile, &self.rule_attributes());
        let users = directory.search("users", &s.users.base_dn, s.users.scope, &filter, &attrs).await;
        let users = match users {
            Ok(users) => users,
            Err(e) => {
                directory.close().await;
                return Err(e);
            }
        };
        let managers = match since {
            Some(_) => self.managers_elsewhere(&mut directory, &users.entries).await,
            None => (HashMap::new(), Vec::new()),
        };
        directory.close().await;
        for entry in &users.entries {
            newest = newest_of(s.profile, newest, entry.text(mark));
        }
        Ok(Read { roster: Some(self.roster(users, &groups, managers)), newest })
    }

    /// The stable ids of managers who are not among `entries` (an incremental read holds
    /// only the changed users), each looked up by its DN; and what could not be.
    async fn managers_elsewhere(
        &self,
        directory: &mut Directory,
        entries: &[entry::Entry],
    ) -> (HashMap<String, CompactString>, Vec<String>) {
        let attrs = &self.settings.attributes;
        let here: HashSet<String> = entries.iter().map(|e| dn_key(&e.dn)).collect();
        let wanted: HashSet<&str> = entries.iter().filter_map(|e| e.text(attrs.one("manager"))).collect();
        let (mut found, mut problems) = (HashMap::new(), Vec::new());
        for dn in wanted.into_iter().filter(|dn| !here.contains(&dn_key(dn))) {
            let id_attr = [attrs.one("id").to_string()];
            match directory.entry(dn, &id_attr).await {
                Ok(Some(entry)) => match profile::stable_id(&entry, attrs.one("id")) {
                    Ok(id) => drop(found.insert(dn_key(dn), id)),
                    Err(e) => problems.push(e.to_string()),
                },
                Ok(None) => {}
                Err(e) => problems.push(format!("manager {dn}: {e}")),
            }
        }
        (found, problems)
    }

    fn rule_attributes(&self) -> Vec<&str> {
        self.settings.disabled_when.iter().map(|r| r.attribute.as_str()).collect()
    }

    /// Every group, its members' ranges followed; anything short fails the read.
    async fn read_groups(&self, directory: &mut Directory) -> Result<(Groups, Option<String>), SourceError> {
        let s = &self.settings;
        let attrs: Vec<String> =
            [s.attributes.one("group_name"), "member", "uniqueMember", "memberOf", s.profile.changed_attribute()]
                .map(String::from)
                .to_vec();
        let short = |detail: String| SourceError::Groups { detail: format!("{}: groups: {detail}", s.label()) };
        let Listing { entries, problem } =
            directory.search("groups", &s.groups.base_dn, s.groups.scope, &s.groups.filter, &attrs).await?;
        if let Some(detail) = problem {
            return Err(SourceError::Groups { detail });
        }
        let mut members = Vec::with_capacity(entries.len());
        for group in &entries {
            let mut all: Vec<String> = Vec::new();
            for attr in ["member", "uniqueMember"] {
                let (values, next) = group.ranged(attr);
                all.extend(values.into_iter().map(String::from));
                if let Some(next) = next {
                    all.extend(directory.rest_of_range(&group.dn, attr, next).await.map_err(short)?);
                }
            }
            members.push(all);
        }
        let mark = s.profile.changed_attribute();
        let newest = entries.iter().fold(None, |newest, e| newest_of(s.profile, newest, e.text(mark)));
        Ok((Groups::new(&entries, &members, s), newest))
    }

    /// People from user entries: groups expanded, managers as stable ids. An entry that is
    /// not a usable person, or a repeated id, makes the roster incomplete.
    fn roster(
        &self,
        users: Listing,
        groups: &Groups,
        elsewhere: (HashMap<String, CompactString>, Vec<String>),
    ) -> Roster {
        let s = &self.settings;
        let now = chrono::Utc::now().timestamp();
        let (mut by_dn, lookups) = elsewhere;
        let mut problems: Vec<String> = users.problem.into_iter().chain(lookups).collect();
        let mut people: Vec<Person> = Vec::with_capacity(users.entries.len());
        let mut ids: HashSet<CompactString> = HashSet::new();
        for entry in &users.entries {
            match profile::person(entry, s, now) {
                Ok(mut person) => {
                    if !ids.insert(person.id.clone()) {
                        problems.push(format!("{}: id {} repeated", entry.dn, person.id));
                        continue;
                    }
                    person.groups = groups.of(entry, s.membership);
                    by_dn.insert(dn_key(&entry.dn), person.id.clone());
                    people.push(person);
                }
                Err(problem) => problems.push(problem.to_string()),
            }
        }
        for person in &mut people {
            person.manager = person.manager.take().and_then(|dn| by_dn.get(&dn_key(&dn)).cloned());
        }
        match problems.is_empty() {
            true => Roster::complete(people),
            false => Roster::incomplete(people, problems.join("; ")),
        }
    }
}

/// One read: the roster (`None` when an incremental read found a group changed), and the
/// newest change mark among the entries read.
pub(crate) struct Read {
    pub roster: Option<Roster>,
    pub newest: Option<String>,
}

/// The newer of two change marks.
fn newest_of(profile: Profile, current: Option<String>, seen: Option<&str>) -> Option<String> {
    match (current, seen) {
        (Some(c), Some(s)) if !profile.at_or_after(s, &c) => Some(c),
        (current, seen) => seen.map(String::from).or(current),
    }
}

mod incremental;
#[cfg(test)]
mod tests;
