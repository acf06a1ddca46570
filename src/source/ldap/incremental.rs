//! Incremental LDAP reads (`source.ldap.incremental`): a complete full read is kept as a
//! snapshot with the newest change mark the directory gave (OpenLDAP `modifyTimestamp`, AD
//! `uSNChanged`, the server's own); the reads between full ones ask only for users changed at
//! or after it, merged into the snapshot by stable id.
//!
//! - A group changed since the mark means memberships may have moved: that read is full.
//! - A deleted entry never matches a change filter: it leaves at the next full read (every
//!   `full_read_every` reads).
//! - An incremental read that ends short gives an incomplete roster (nothing is removed) and
//!   leaves the snapshot and its mark as they were.

use super::{LdapSource, Read};
use crate::model::{Person, Roster};
use crate::records::incremental::IncrementalSettings;
use crate::source::snapshot::{merge, Snapshot, SnapshotChanges, SnapshotMeta, SnapshotStore};
use crate::source::{Source, SourceError};

impl LdapSource {
    pub(super) async fn read_incrementally(
        &self,
        policy: &IncrementalSettings,
        memory: &dyn SnapshotStore,
    ) -> Result<Roster, SourceError> {
        let key = self.describe();
        if let Some(snapshot) = self.snapshot_to_build_on(memory, &key, policy) {
            let Read { roster, newest } = self.read_since(Some(&snapshot.meta.max_modified)).await?;
            if let Some(changed) = roster {
                return Ok(self.merge_into(memory, &key, snapshot, changed, newest));
            }
            tracing::info!("a group changed since the last source read: a full read");
        }
        let Read { roster, newest } = self.read_since(None).await?;
        let roster = roster.unwrap_or_default();
        self.keep(memory, &key, &roster, newest);
        Ok(roster)
    }

    /// What shapes the roster (never the password): a snapshot made under other settings
    /// is not built on.
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            s.url, s.users, s.groups, s.in_group, s.membership, s.profile, s.attributes, s.disabled_when
        )
    }

    /// The stored snapshot, when it fits these settings and no full read is due.
    fn snapshot_to_build_on(
        &self,
        memory: &dyn SnapshotStore,
        key: &str,
        policy: &IncrementalSettings,
    ) -> Option<Snapshot> {
        let stored = memory.load_snapshot(key).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the roster snapshot is unreadable: a full source read rebuilds it");
            None
        })?;
        let meta = &stored.meta;
        let fits = meta.complete && meta.fingerprint == self.fingerprint() && !meta.max_modified.is_empty();
        let due = meta.reads_since_full.saturating_add(1) >= policy.full_read_every;
        (fits && !due).then_some(stored)
    }

    /// Keep a complete full read (and its newest mark) as the snapshot; forget any other.
    fn keep(&self, memory: &dyn SnapshotStore, key: &str, roster: &Roster, newest: Option<String>) {
        let Some(newest) = newest.filter(|_| roster.complete) else {
            if let Err(e) = memory.forget_snapshot(key) {
                tracing::warn!(error = %e, "could not drop the roster snapshot");
            }
            return;
        };
        let meta = SnapshotMeta {
            fingerprint: self.fingerprint(),
            people: roster.people.len(),
            complete: true,
            max_modified: newest,
            reads_since_full: 0,
            full_read_at: chrono::Utc::now().to_rfc3339(),
            groups_from_endpoint: false,
        };
        let people = roster.people.iter().map(|p| (p.id.clone(), p.clone())).collect();
        if let Err(e) = memory.save_snapshot(key, &Snapshot { meta, people }) {
            tracing::warn!(error = %e, "could not store the roster snapshot: the next source read is a full one too");
        }
    }

    /// The snapshot with the changed people merged in. Only a complete change read moves
    /// the mark and is stored.
    fn merge_into(
        &self,
        memory: &dyn SnapshotStore,
        key: &str,
        snapshot: Snapshot,
        changed: Roster,
        newest: Option<String>,
    ) -> Roster {
        let count = changed.people.len();
        let merged = merge(&snapshot.people, changed.people);
        let people: Vec<Person> = merged.values().cloned().collect();
        if !changed.complete {
            return Roster::incomplete(people, changed.incomplete_reason.unwrap_or_default());
        }
        let mut meta = snapshot.meta.clone();
        meta.reads_since_full += 1;
        meta.people = merged.len();
        if let Some(newest) = newest.filter(|n| self.settings.profile.at_or_after(n, &meta.max_modified)) {
            meta.max_modified = newest;
        }
        tracing::info!(changed = count, people = merged.len(), "incremental source read");
        let changes = SnapshotChanges::between(&snapshot.people, &merged);
        if let Err(e) = memory.update_snapshot(key, &meta, &changes) {
            tracing::warn!(error = %e, "could not update the roster snapshot: the next source read is a full one");
            let _ = memory.forget_snapshot(key);
        }
        Roster::complete(people)
    }
}
