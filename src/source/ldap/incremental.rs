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

use async_trait::async_trait;

use super::{LdapSource, Read};
use crate::model::{Person, Roster};
use crate::source::incremental::{Base, Incremental};
use crate::source::snapshot::{keep, merge, Snapshot, SnapshotChanges, SnapshotStore};
use crate::source::SourceError;

#[async_trait]
impl Incremental for LdapSource {
    const GROUPS_FROM_ENDPOINT: bool = false;

    /// What shapes the roster (never the password).
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            s.url, s.users, s.groups, s.in_group, s.membership, s.profile, s.attributes, s.disabled_when
        )
    }

    /// A full read, marked with the newest change mark the directory gave.
    async fn read_marked(&self) -> Result<(Roster, Option<String>), SourceError> {
        let Read { roster, newest } = self.read_since(None).await?;
        Ok((roster.unwrap_or_default(), newest))
    }

    /// The users changed at or after the mark, merged in; none (a full read) when a group
    /// changed since.
    async fn read_changes(&self, base: Base<'_>) -> Result<Option<Roster>, SourceError> {
        let Base { snapshot, memory, key, .. } = base;
        let Read { roster, newest } = self.read_since(Some(&snapshot.meta.max_modified)).await?;
        let Some(changed) = roster else {
            tracing::info!("a group changed since the last source read: a full read");
            return Ok(None);
        };
        Ok(Some(self.merge_into(memory, key, snapshot, changed, newest)))
    }
}

impl LdapSource {
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
        keep(memory, key, &meta, &changes);
        Roster::complete(people)
    }
}
