//! The incremental read the snapshot-keeping sources share (Entra delta, LDAP, Okta): build on a usable snapshot, else read in full and keep a complete read for the next one.
//!
//! Each source says how it reads in full (and the mark its next read starts from) and how
//! it reads what changed since a snapshot; the rest is the same for all, and is the part
//! that keeps access safe:
//! - only a snapshot made under the same settings, complete, with a mark, and not due for
//!   its full read (every `full_read_every` reads) is built on;
//! - only a complete full read with a mark is kept; any other drops the snapshot, so the
//!   next read is a full one too.

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};

use super::snapshot::{forget, save_full, usable, Snapshot, SnapshotMeta, SnapshotStore};
use super::{Source, SourceError};
use crate::model::Roster;
use crate::records::incremental::IncrementalSettings;

/// A source that can read only what changed since a stored snapshot.
#[async_trait]
pub trait Incremental: Source {
    /// Whether memberships come from group listings (kept in the snapshot's meta).
    const GROUPS_FROM_ENDPOINT: bool = true;

    /// The settings that shape the roster (never a secret): a snapshot made under others
    /// is not built on.
    fn fingerprint(&self) -> String;

    /// A full read, and the mark the next read starts from (`None`: nothing to build on).
    async fn read_marked(&self) -> Result<(Roster, Option<String>), SourceError>;

    /// What changed since `snapshot`, merged into it (and the snapshot kept up to date);
    /// `Ok(None)` when this read must be a full one after all.
    async fn read_changes(&self, base: Base<'_>) -> Result<Option<Roster>, SourceError>;
}

/// What a read of the changes builds on: the snapshot, where it is kept, and the policy.
pub struct Base<'a> {
    pub snapshot: Snapshot,
    pub memory: &'a dyn SnapshotStore,
    /// The snapshot's key in `memory`: the source, described.
    pub key: &'a str,
    pub policy: &'a IncrementalSettings,
}

/// [`Source::read_with`] of an incremental source under `policy` (`source.<kind>.incremental`,
/// `None`: a full read every run): the changes since a usable snapshot, or a full read that
/// becomes the next snapshot when it is complete.
pub async fn read_with<S: Incremental>(
    source: &S,
    policy: Option<&IncrementalSettings>,
    memory: &dyn SnapshotStore,
) -> Result<Roster, SourceError> {
    let Some(policy) = policy else {
        return source.read().await;
    };
    let key = source.describe();
    let fingerprint = source.fingerprint();
    let snapshot = usable(memory, &key, &fingerprint, policy.full_read_every);
    if let Some(snapshot) = snapshot.filter(|s| !s.meta.max_modified.is_empty()) {
        if let Some(roster) = source.read_changes(Base { snapshot, memory, key: &key, policy }).await? {
            return Ok(roster);
        }
    }
    let (roster, mark) = source.read_marked().await?;
    let Some(mark) = mark.filter(|_| roster.complete) else {
        forget(memory, &key);
        return Ok(roster);
    };
    let meta = SnapshotMeta {
        fingerprint,
        people: roster.people.len(),
        complete: true,
        max_modified: mark,
        reads_since_full: 0,
        full_read_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        groups_from_endpoint: S::GROUPS_FROM_ENDPOINT,
    };
    save_full(memory, &key, meta, &roster.people);
    Ok(roster)
}
