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
    async fn read(&self) -> Result<Roster, SourceError> {
        self.read_all().await
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

    /// Read groups, then the users the configured filter selects.
    async fn read_all(&self) -> Result<Roster, SourceError> {
        let s = &self.settings;
        let mut directory = Directory::connect(s).await?;
        let groups = self.read_groups(&mut directory).await;
        let groups = match groups {
            Ok(groups) => groups,
            Err(e) => {
                directory.close().await;
                return Err(e);
            }
        };
        let filter = s.user_filter();
        let attrs = s.attributes.user_attributes(s.profile, &self.rule_attributes());
        let users = directory.search("users", &s.users.base_dn, s.users.scope, &filter, &attrs).await;
        directory.close().await;
        Ok(self.roster(users?, &groups))
    }

    fn rule_attributes(&self) -> Vec<&str> {
        self.settings.disabled_when.iter().map(|r| r.attribute.as_str()).collect()
    }

    /// Every group, its members' ranges followed; anything short fails the read.
    async fn read_groups(&self, directory: &mut Directory) -> Result<Groups, SourceError> {
        let s = &self.settings;
        let attrs: Vec<String> =
            [s.attributes.one("group_name"), "member", "uniqueMember", "memberOf"].map(String::from).to_vec();
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
        Ok(Groups::new(&entries, &members, s))
    }

    /// People from user entries: groups expanded, managers as stable ids. An entry that is
    /// not a usable person, or a repeated id, makes the roster incomplete.
    fn roster(&self, users: Listing, groups: &Groups) -> Roster {
        let s = &self.settings;
        let now = chrono::Utc::now().timestamp();
        let mut problems: Vec<String> = users.problem.into_iter().collect();
        let mut people: Vec<Person> = Vec::with_capacity(users.entries.len());
        let mut ids: HashSet<CompactString> = HashSet::new();
        let mut by_dn: HashMap<String, CompactString> = HashMap::new();
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

#[cfg(test)]
mod tests;
