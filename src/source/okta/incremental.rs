//! Incremental Okta reads (`source.okta.incremental`, off by default): a complete full read
//! stores a snapshot stamped with when it started; the reads between full ones ask only for
//! users with `lastUpdated gt` that stamp (minus the overlap, 5 min by default [inferred]) and
//! re-read the members of groups whose `lastMembershipUpdated` is newer, merging both in.
//!
//! As for SCIM: a status change (to SUSPENDED...) is a statement and acts at once; a user
//! deleted outright does not show in a filter and leaves at the next full read. A changed
//! listing that fails part-way gives an incomplete roster and keeps the old stamp.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use compact_str::CompactString;

use super::wire::{OktaGroup, OktaUser};
use super::OktaSource;
use crate::model::{Person, Roster};
use crate::records::incremental::IncrementalSettings;
use crate::source::snapshot::{merge, Snapshot, SnapshotChanges, SnapshotMeta, SnapshotStore};
use crate::source::{Source, SourceError};

type People = BTreeMap<CompactString, Person>;

impl OktaSource {
    pub(super) async fn read_incrementally(
        &self,
        policy: &IncrementalSettings,
        memory: &dyn SnapshotStore,
    ) -> Result<Roster, SourceError> {
        let key = self.describe();
        let started = Utc::now();
        let stored = memory.load_snapshot(&key).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the Okta roster snapshot is unreadable: a full read rebuilds it");
            None
        });
        match stored.filter(|s| self.usable(s, policy)) {
            Some(snapshot) => self.read_changes(memory, &key, snapshot, policy).await,
            None => {
                let roster = self.read_full().await?;
                self.store_full(memory, &key, &roster, started);
                Ok(roster)
            }
        }
    }

    /// The settings that shape the roster: a snapshot taken under others is not used.
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!("okta|{}|{:?}|{}", s.connection.base_url, s.active_statuses, s.read_deprovisioned)
    }

    fn usable(&self, snapshot: &Snapshot, policy: &IncrementalSettings) -> bool {
        let meta = &snapshot.meta;
        let due = meta.reads_since_full.saturating_add(1) >= policy.full_read_every;
        let usable = meta.complete && meta.fingerprint == self.fingerprint() && !due && since(meta, policy).is_some();
        if !usable {
            tracing::info!(full_read_due = due, "a full Okta read");
        }
        usable
    }

    /// Keep a complete full read as the snapshot, stamped with when it started.
    fn store_full(&self, memory: &dyn SnapshotStore, key: &str, roster: &Roster, started: DateTime<Utc>) {
        let result = match roster.complete {
            true => {
                let meta = SnapshotMeta {
                    fingerprint: self.fingerprint(),
                    people: roster.people.len(),
                    complete: true,
                    max_modified: stamp(started),
                    reads_since_full: 0,
                    full_read_at: stamp(started),
                    groups_from_endpoint: true,
                };
                let people = roster.people.iter().map(|p| (p.id.clone(), p.clone())).collect();
                memory.save_snapshot(key, &Snapshot { meta, people })
            }
            false => memory.forget_snapshot(key),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not keep the Okta roster snapshot: the next read is a full one");
        }
    }

    /// Users changed since the stamp, and the members of groups changed since it.
    async fn read_changes(
        &self,
        memory: &dyn SnapshotStore,
        key: &str,
        snapshot: Snapshot,
        policy: &IncrementalSettings,
    ) -> Result<Roster, SourceError> {
        let started = Utc::now();
        let since = since(&snapshot.meta, policy).unwrap_or_default();
        let filter = format!("lastUpdated gt \"{since}\"");
        let users = self.list::<OktaUser>("changed users", self.listing("api/v1/users", Some(&filter))).await?;
        let groups = self.list::<OktaGroup>("groups", self.listing("api/v1/groups", None)).await?;
        let mut problems: Vec<String> = users.problem.into_iter().chain(groups.problem).collect();
        let changed = self.with_old_groups(&snapshot.people, users.items);
        let mut merged = merge(&snapshot.people, changed);
        problems.extend(self.regroup(&mut merged, &groups.items, &since).await?);
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
        if let Err(e) = memory.update_snapshot(key, &meta, &changes) {
            tracing::warn!(error = %e, "could not update the Okta roster snapshot: the next read is a full one");
            let _ = memory.forget_snapshot(key);
        }
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
