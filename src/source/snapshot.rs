//! The roster snapshot an incremental source read starts from, and the small store interface that keeps it.
//!
//! A full read stores its roster (only a complete one) with the server's watermark; an
//! incremental read merges the people changed since into it. Everything here can be rebuilt:
//! a snapshot that is missing, unreadable, or from other settings makes the next read a full one.

use std::collections::{BTreeMap, HashMap, HashSet};

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::model::Person;

/// What a snapshot says about itself; stored apart from its people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The settings that shape the roster (base url, groups mode): other settings, other roster.
    pub fingerprint: String,
    /// How many people are stored: a load that finds another number is not trusted.
    pub people: usize,
    /// Only complete rosters are kept; an incomplete one is never a base for removals.
    pub complete: bool,
    /// The largest `meta.lastModified` the server returned (its clock, RFC 3339).
    pub max_modified: String,
    /// Incremental reads since the last full one (successful or not).
    pub reads_since_full: u32,
    /// When the last full read ran (rosterd's clock), for logs.
    pub full_read_at: String,
    /// Whether memberships come from `GET /Groups`, as the full read decided.
    pub groups_from_endpoint: bool,
}

/// A stored roster and its meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    /// By source id.
    pub people: BTreeMap<CompactString, Person>,
}

/// Where snapshots live (the sled store in production). Errors are plain text: a snapshot
/// that cannot be read or written only costs a full read.
/// Why the snapshot store could not be read or written, its cause kept (the store's own error).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SnapshotError(#[from] Box<dyn std::error::Error + Send + Sync>);

impl SnapshotError {
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> SnapshotError {
        SnapshotError(Box::new(cause))
    }
}

pub trait SnapshotStore: Send + Sync {
    /// The snapshot of this source, if one is stored and readable.
    fn load_snapshot(&self, source: &str) -> Result<Option<Snapshot>, SnapshotError>;
    /// Replace the whole snapshot (after a full read).
    fn save_snapshot(&self, source: &str, snapshot: &Snapshot) -> Result<(), SnapshotError>;
    /// Write the changed and dropped people, then the new meta (after an incremental read).
    fn update_snapshot(
        &self,
        source: &str,
        meta: &SnapshotMeta,
        changes: &SnapshotChanges<'_>,
    ) -> Result<(), SnapshotError>;
    /// Drop the snapshot: the next read is a full one.
    fn forget_snapshot(&self, source: &str) -> Result<(), SnapshotError>;
}

/// What an incremental read changed in a snapshot.
#[derive(Debug, Default)]
pub struct SnapshotChanges<'a> {
    /// People new or different from their stored version.
    pub changed: Vec<&'a Person>,
    /// Ids no longer in the snapshot.
    pub dropped: Vec<CompactString>,
}

impl<'a> SnapshotChanges<'a> {
    /// The difference between a stored snapshot's people and the merged ones.
    pub fn between(
        before: &BTreeMap<CompactString, Person>,
        after: &'a BTreeMap<CompactString, Person>,
    ) -> SnapshotChanges<'a> {
        let changed = after.iter().filter(|(id, p)| before.get(*id) != Some(*p)).map(|(_, p)| p).collect();
        let dropped = before.keys().filter(|id| !after.contains_key(*id)).cloned().collect();
        SnapshotChanges { changed, dropped }
    }
}

/// A store that keeps nothing: every read is a full one.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSnapshots;

impl SnapshotStore for NoSnapshots {
    fn load_snapshot(&self, _: &str) -> Result<Option<Snapshot>, SnapshotError> {
        Ok(None)
    }
    fn save_snapshot(&self, _: &str, _: &Snapshot) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn update_snapshot(&self, _: &str, _: &SnapshotMeta, _: &SnapshotChanges<'_>) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn forget_snapshot(&self, _: &str) -> Result<(), SnapshotError> {
        Ok(())
    }
}

/// Merge changed people into the snapshot's, by id. A snapshot person whose `userName` a
/// changed person of another id now holds is dropped: SCIM keeps `userName` unique, so that
/// person was deleted (a renamed one would be among the changed people itself).
/// Returns the merged people by id.
pub fn merge(snapshot: &BTreeMap<CompactString, Person>, changed: Vec<Person>) -> BTreeMap<CompactString, Person> {
    let changed_ids: HashSet<&str> = changed.iter().map(|p| p.id.as_str()).collect();
    let names: HashMap<CompactString, &str> =
        changed.iter().map(|p| (p.user_name.to_lowercase(), p.id.as_str())).collect();
    let gone: HashSet<CompactString> = snapshot
        .values()
        .filter(|p| !changed_ids.contains(p.id.as_str()))
        .filter(|p| names.get(&p.user_name.to_lowercase()).is_some_and(|other| *other != p.id))
        .map(|p| p.id.clone())
        .collect();
    let mut merged: BTreeMap<CompactString, Person> =
        snapshot.iter().filter(|(id, _)| !gone.contains(*id)).map(|(id, p)| (id.clone(), p.clone())).collect();
    for person in changed {
        merged.insert(person.id.clone(), person);
    }
    merged
}

/// The stored snapshot of `key` if a read may start from it: made under the same settings
/// (`fingerprint`), complete, and not due for its full read (every `full_read_every`
/// reads). Says in the log why not.
pub fn usable(memory: &dyn SnapshotStore, key: &str, fingerprint: &str, full_read_every: u32) -> Option<Snapshot> {
    let snapshot = match memory.load_snapshot(key) {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::info!("no roster snapshot yet: a full source read");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the roster snapshot is unreadable: a full source read rebuilds it");
            return None;
        }
    };
    let meta = &snapshot.meta;
    let why = if meta.fingerprint != fingerprint {
        "the source settings changed since the snapshot"
    } else if !meta.complete {
        "the snapshot is not complete"
    } else if meta.reads_since_full.saturating_add(1) >= full_read_every {
        "a full read is due (incremental.full_read_every)"
    } else {
        return Some(snapshot);
    };
    tracing::info!(reason = why, "a full source read");
    None
}

/// Store a full read's people under `meta`; a store that fails is dropped instead, so the
/// next read is a full one too.
pub fn save_full(memory: &dyn SnapshotStore, key: &str, meta: SnapshotMeta, people: &[Person]) {
    let people = people.iter().map(|p| (p.id.clone(), p.clone())).collect();
    if let Err(e) = memory.save_snapshot(key, &Snapshot { meta, people }) {
        tracing::warn!(error = %e, "could not store the roster snapshot: the next source read is a full one too");
        forget(memory, key);
    }
}

/// Write an incremental read's changes and meta; a store that fails is dropped instead.
pub fn keep(memory: &dyn SnapshotStore, key: &str, meta: &SnapshotMeta, changes: &SnapshotChanges<'_>) {
    if let Err(e) = memory.update_snapshot(key, meta, changes) {
        tracing::warn!(error = %e, "could not update the roster snapshot: the next source read is a full one");
        forget(memory, key);
    }
}

/// Drop the snapshot of `key` (the next read is a full one), logging a store that fails.
pub fn forget(memory: &dyn SnapshotStore, key: &str) {
    if let Err(e) = memory.forget_snapshot(key) {
        tracing::warn!(error = %e, "could not drop the roster snapshot");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, user_name: &str) -> Person {
        Person { id: id.into(), user_name: user_name.into(), active: true, ..Person::default() }
    }

    fn by_id(people: Vec<Person>) -> BTreeMap<CompactString, Person> {
        people.into_iter().map(|p| (p.id.clone(), p)).collect()
    }

    #[test]
    fn changed_people_replace_theirs_by_id_and_new_ones_join() {
        let snapshot = by_id(vec![person("1", "a"), person("2", "b")]);
        let renamed = person("2", "bee");
        let merged = merge(&snapshot, vec![renamed.clone(), person("3", "c")]);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged["2"], renamed);
    }

    #[test]
    fn a_user_name_taken_by_another_id_drops_the_old_person() {
        let snapshot = by_id(vec![person("1", "a"), person("2", "b")]);
        let merged = merge(&snapshot, vec![person("9", "B")]);
        assert_eq!(merged.keys().collect::<Vec<_>>(), ["1", "9"]);
        // A swap of names between two changed people drops nobody.
        let merged = merge(&snapshot, vec![person("1", "b"), person("2", "a")]);
        assert_eq!(merged.len(), 2);
    }
}
