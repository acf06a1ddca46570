//! The incremental reads' state in the store: the source snapshots and how each
//! platform's cached listing came to be.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{decode, encode, key, prefix, Store, StoreError};
use crate::model::{Account, Person};
use crate::source::snapshot::{Snapshot, SnapshotChanges, SnapshotError, SnapshotMeta, SnapshotStore};

/// Trees of the incremental reads: the source snapshots and the platform listing states.
const SNAPSHOT_META: &str = "snapshot_meta";
const SNAPSHOT_PEOPLE: &str = "snapshot_people";
const LISTING_STATE: &str = "listing_state";

/// The source snapshot (see [`crate::source::snapshot`]): meta keyed by the source's
/// description, people keyed `source NUL id`. Adding these trees changes no existing
/// encoding, so the schema version stays: an older store simply has no snapshot yet.
impl Store {
    fn snapshot_trees(&self) -> Result<(sled::Tree, sled::Tree), StoreError> {
        Ok((self.tree(SNAPSHOT_META)?, self.tree(SNAPSHOT_PEOPLE)?))
    }

    /// How one platform's cached listing came to be, for incremental listings.
    pub fn listing_state(&self, platform: &str) -> Result<Option<ListingState>, StoreError> {
        match self.tree(LISTING_STATE)?.get(platform.as_bytes()).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(&v, "listing state")?)),
            None => Ok(None),
        }
    }

    pub fn set_listing_state(&self, platform: &str, state: &ListingState) -> Result<(), StoreError> {
        self.tree(LISTING_STATE)?.insert(platform.as_bytes(), encode(state)).map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn forget_listing_state(&self, platform: &str) -> Result<(), StoreError> {
        self.tree(LISTING_STATE)?.remove(platform.as_bytes()).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Merge changed accounts into one platform's cache (an incremental listing).
    pub fn merge_cache(&self, platform: &str, accounts: &[Account]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for a in accounts {
            batch.insert(key(platform, &a.id), encode(a));
        }
        self.cache.apply_batch(batch).map_err(|e| self.err(e))
    }
}

/// The state behind a platform's cached listing: when it was last read whole, and how
/// many incremental listings were merged into it since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingState {
    /// When the last full listing started (rosterd's clock, RFC 3339).
    pub full_at: String,
    /// When the last listing (full or incremental) started (rosterd's clock, RFC 3339).
    pub read_at: String,
    pub reads_since_full: u32,
}

/// Every snapshot failure is the store's own error, its cause kept.
impl From<StoreError> for SnapshotError {
    fn from(e: StoreError) -> SnapshotError {
        SnapshotError::new(e)
    }
}

impl SnapshotStore for Store {
    fn load_snapshot(&self, source: &str) -> Result<Option<Snapshot>, SnapshotError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        let Some(raw) = meta_tree.get(source.as_bytes()).map_err(|e| self.err(e))? else { return Ok(None) };
        let meta: SnapshotMeta = decode(&raw, "snapshot meta")?;
        let people: BTreeMap<compact_str::CompactString, Person> =
            self.scan(&people_tree, source, "snapshot person")?.into_iter().map(|(id, p)| (id.into(), p)).collect();
        if people.len() != meta.people {
            let detail = format!("{} people stored where the meta says {}", people.len(), meta.people);
            return Err(StoreError::Decode { what: "snapshot".into(), detail }.into());
        }
        Ok(Some(Snapshot { meta, people }))
    }

    fn save_snapshot(&self, source: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        // The meta goes first and last: while the people are replaced, no meta claims them.
        meta_tree.remove(source.as_bytes()).map_err(|e| self.err(e))?;
        let mut batch = sled::Batch::default();
        for k in people_tree.scan_prefix(prefix(source)).keys() {
            let k = k.map_err(|e| self.err(e))?;
            let id = &k[prefix(source).len()..];
            if !snapshot.people.contains_key(String::from_utf8_lossy(id).as_ref()) {
                batch.remove(k);
            }
        }
        for (id, person) in &snapshot.people {
            batch.insert(key(source, id), encode(person));
        }
        people_tree.apply_batch(batch).map_err(|e| self.err(e))?;
        meta_tree.insert(source.as_bytes(), encode(&snapshot.meta)).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn update_snapshot(
        &self,
        source: &str,
        meta: &SnapshotMeta,
        changes: &SnapshotChanges<'_>,
    ) -> Result<(), SnapshotError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        meta_tree.remove(source.as_bytes()).map_err(|e| self.err(e))?;
        let mut batch = sled::Batch::default();
        for id in &changes.dropped {
            batch.remove(key(source, id));
        }
        for person in &changes.changed {
            batch.insert(key(source, &person.id), encode(*person));
        }
        people_tree.apply_batch(batch).map_err(|e| self.err(e))?;
        meta_tree.insert(source.as_bytes(), encode(meta)).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn forget_snapshot(&self, source: &str) -> Result<(), SnapshotError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        meta_tree.remove(source.as_bytes()).map_err(|e| self.err(e))?;
        let mut batch = sled::Batch::default();
        for k in people_tree.scan_prefix(prefix(source)).keys() {
            batch.remove(k.map_err(|e| self.err(e))?);
        }
        people_tree.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(())
    }
}
