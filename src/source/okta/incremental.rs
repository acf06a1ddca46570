//! Incremental Okta reads (`source.okta.incremental`, off by default): a complete full read
//! stores a snapshot stamped with when it started; the reads between full ones ask only for
//! users with `lastUpdated gt` that stamp (minus the overlap, 5 min by default [inferred]) and
//! re-read the members of groups whose `lastMembershipUpdated` is newer, merging both in.
//!
//! As for SCIM: a status change (to SUSPENDED...) is a statement and acts at once; a user
//! deleted outright does not show in a filter and leaves at the next full read. A changed
//! listing that fails part-way gives an incomplete roster and keeps the old stamp.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use compact_str::CompactString;

use super::wire::{OktaGroup, OktaUser};
use super::OktaSource;
use crate::model::{Person, Roster};
use crate::records::incremental::IncrementalSettings;
use crate::source::incremental::{Base, Incremental};
use crate::source::snapshot::{keep, merge, Snapshot, SnapshotChanges, SnapshotMeta, SnapshotStore};
use crate::source::SourceError;

type People = BTreeMap<CompactString, Person>;

#[async_trait]
impl Incremental for OktaSource {
    /// The settings that shape the roster: a snapshot taken under others is not used.
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!("okta|{}|{:?}|{}", s.connection.base_url, s.active_statuses, s.read_deprovisioned)
    }

    /// A full read, stamped with when it started.
    async fn read_marked(&self) -> Result<(Roster, Option<String>), SourceError> {
        let started = Utc::now();
        Ok((self.read_full().await?, Some(stamp(started))))
    }

    /// Users changed since the stamp, and the members of groups changed since it; none (a
    /// full read) when the stamp is not a time.
    async fn read_changes(&self, base: Base<'_>) -> Result<Option<Roster>, SourceError> {
        let Base { snapshot, memory, key, policy } = base;
        let Some(since) = since(&snapshot.meta, policy) else {
            tracing::info!("the Okta snapshot's stamp is not a time: a full Okta read");
            return Ok(None);
        };
        self.read_since(memory, key, snapshot, &since).await.map(Some)
    }
}

impl OktaSource {
    /// Users changed since `since`, and the members of groups changed since it.
    async fn read_since(
        &self,
        memory: &dyn SnapshotStore,
        key: &str,
        snapshot: Snapshot,
        since: &str,
    ) -> Result<Roster, SourceError> {
        let started = Utc::now();
        let filter = format!("lastUpdated gt \"{since}\"");
        let users = self.list::<OktaUser>("changed users", self.listing("api/v1/users", Some(&filter))).await?;
        let groups = self.list::<OktaGroup>("groups", self.listing("api/v1/groups", None)).await?;
        let mut problems: Vec<String> = users.problem.into_iter().chain(groups.problem).collect();
        let changed = self.with_old_groups(&snapshot.people, users.items);
        let mut merged = merge(&snapshot.people, changed);
        problems.extend(self.regroup(&mut merged, &groups.items, since).await?);
        let mut meta = snapshot.meta.clone();
        meta.reads_since_full += 1;
        tracing::info!(people = merged.len(), "incremental Okta read");
        let changes = match problems.is_empty() {
            true => {
                meta.people = merged.len();
                meta.max_modified = stamp(started);
                SnapshotChanges::between(&snapshot.people, &merged)
            }
            false => SnapshotChanges::default(),
        };
        keep(memory, key, &meta, &changes);
        let people = merged.into_values().collect();
        match problems.is_empty() {
            true => Ok(Roster::complete(people)),
            false => Ok(Roster::incomplete(people, format!("Okta incremental read: {}", problems.join("; ")))),
        }
    }

    /// Changed users as people, carrying the groups the snapshot knew them in.
    fn with_old_groups(&self, snapshot: &People, users: Vec<OktaUser>) -> Vec<Person> {
        let people = self.people(users).into_values();
        let regrouped = people.map(|mut p| {
            p.groups = snapshot.get(&p.id).map(|old| old.groups.clone()).unwrap_or_default();
            p
        });
        regrouped.collect()
    }

    /// Drop groups that no longer exist and re-read the members of those changed since the
    /// stamp; a group deleted meanwhile (404) leaves the roster incomplete.
    async fn regroup(
        &self,
        people: &mut People,
        groups: &[OktaGroup],
        since: &str,
    ) -> Result<Vec<String>, SourceError> {
        let live: HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let changed: Vec<&OktaGroup> = groups
            .iter()
            .filter(|g| g.kind != "BUILT_IN")
            .filter(|g| g.last_membership_updated.as_deref().and_then(parse).is_none_or(|at| Some(at) > parse(since)))
            .collect();
        let reread: HashSet<&str> = changed.iter().map(|g| g.id.as_str()).collect();
        for person in people.values_mut() {
            person.groups.retain(|g| g.value().is_some_and(|id| live.contains(id) && !reread.contains(id)));
        }
        let mut problems = Vec::new();
        for group in changed {
            let members = match self.members(group).await {
                Ok(members) => members,
                Err(SourceError::Provider(e)) if e.status == Some(404) => {
                    problems.push(format!("{}: group {:?} was deleted during the read", e.at, group.profile.name));
                    continue;
                }
                Err(e) => return Err(e),
            };
            for member in members {
                if let Some(person) = people.get_mut(member.id.as_str()) {
                    person.groups.push(group.as_group());
                    person.groups.sort();
                }
            }
        }
        Ok(problems)
    }
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The filter's time: the last complete read's start minus the overlap, as Okta writes
/// times (`2024-05-01T09:55:00.000Z`).
fn since(meta: &SnapshotMeta, policy: &IncrementalSettings) -> Option<String> {
    let overlap = chrono::Duration::from_std(policy.overlap).ok()?;
    Some(stamp(parse(&meta.max_modified)?.checked_sub_signed(overlap)?))
}
