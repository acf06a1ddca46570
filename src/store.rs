//! The sled store: links (which account belongs to which person), the platform cache,
//! and the run history. Versioned, and everything in it can be rebuilt: a store that will
//! not open is moved aside and started afresh rather than stopping the daemon.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::model::{Account, Person};
use crate::reconcile::diff::Link;
use crate::reconcile::journal::{Intent, Quarantined};
use crate::source::snapshot::{Snapshot, SnapshotChanges, SnapshotMeta, SnapshotStore};

mod groups;
pub use groups::{GroupLink, GroupOrigin};

/// Trees of the intent journal and the quarantine.
const INTENTS: &str = "intents";
const QUARANTINE: &str = "quarantine";

/// The layout version of the store; bump it when a tree's encoding changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} is in use by another rosterd process; stop it, or point state_dir elsewhere")]
    Locked { path: PathBuf },
    #[error("the store at {path} failed: {source}; check the disk and the permissions of state_dir")]
    Sled { path: PathBuf, source: sled::Error },
    #[error("the store at {path} could not be moved aside: {source}")]
    MoveAside { path: PathBuf, source: std::io::Error },
    #[error(
        "the store at {path} has schema version {found}, newer than this rosterd ({SCHEMA_VERSION}); upgrade rosterd"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error("the store holds an unreadable {what}: {detail}")]
    Decode { what: String, detail: String },
}

/// How long `open` waits for a lock that a store closed a moment ago still holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// sled reports a held lock as an I/O error whose kind is `WouldBlock`, or wraps that
/// in one of its own that only says "could not acquire lock".
fn is_lock_conflict(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
}

/// One run, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: String,
    pub people: usize,
    pub roster_complete: bool,
    pub result: crate::model::RunResult,
    pub platforms: Vec<crate::reconcile::apply::PlatformSummary>,
}

/// An opened store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    links: sled::Tree,
    cache: sled::Tree,
    runs: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// What `open` had to do, for a warning in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Opened,
    Created,
    /// The old store would not open; it now lives at this path and a fresh one was made.
    Rebuilt {
        moved_to: PathBuf,
        cause: String,
    },
}

impl Store {
    /// Open the store under `dir`, moving a broken one aside and starting afresh.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<(Store, OpenOutcome), StoreError> {
        let path = dir.join("store");
        let existed = path.exists();
        match Self::open_waiting_for_lock(&path, cache_capacity) {
            Ok(store) => Ok((store, if existed { OpenOutcome::Opened } else { OpenOutcome::Created })),
            Err(e @ (StoreError::Locked { .. } | StoreError::TooNew { .. })) => Err(e),
            Err(e) => {
                let moved_to = dir.join(format!("store.broken-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
                std::fs::rename(&path, &moved_to)
                    .map_err(|source| StoreError::MoveAside { path: path.clone(), source })?;
                let store = Self::open_at(&path, cache_capacity)?;
                Ok((store, OpenOutcome::Rebuilt { moved_to, cause: e.to_string() }))
            }
        }
    }

    /// A store just closed in this process keeps its lock for a moment while sled's
    /// threads wind down: wait a little before calling it taken. A lock is never a reason
    /// to move a store aside: another rosterd (a `plan` by hand next to the daemon) holds it.
    fn open_waiting_for_lock(path: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::open_at(path, cache_capacity) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                outcome => return outcome,
            }
        }
    }

    fn open_at(path: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
        let sled_err = |source: sled::Error| match &source {
            sled::Error::Io(io) if is_lock_conflict(io) => StoreError::Locked { path: path.to_path_buf() },
            _ => StoreError::Sled { path: path.to_path_buf(), source },
        };
        let db = sled::Config::new().path(path).cache_capacity(cache_capacity).open().map_err(sled_err)?;
        let store = Store {
            path: path.to_path_buf(),
            links: db.open_tree("links").map_err(sled_err)?,
            cache: db.open_tree("cache").map_err(sled_err)?,
            runs: db.open_tree("runs").map_err(sled_err)?,
            db,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let found = match self.db.get("schema_version").map_err(|e| self.err(e))? {
            Some(v) => std::str::from_utf8(&v).ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0),
            None => {
                self.db.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes()).map_err(|e| self.err(e))?;
                SCHEMA_VERSION
            }
        };
        match found {
            SCHEMA_VERSION => Ok(()),
            f if f > SCHEMA_VERSION => Err(StoreError::TooNew { path: self.path.clone(), found: f }),
            f => Err(StoreError::Decode {
                what: "schema version".into(),
                detail: format!("version {f} is not readable"),
            }),
        }
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled { path: self.path.clone(), source }
    }

    /// Where the audit trail's head is anchored (the `audit_head` tree).
    pub fn audit_head(&self) -> Result<crate::anchor::SledHead, StoreError> {
        self.db.open_tree("audit_head").map(crate::anchor::SledHead).map_err(|e| self.err(e))
    }

    /// Every link of one platform, person id → link.
    pub fn links(&self, platform: &str) -> Result<BTreeMap<String, Link>, StoreError> {
        self.scan(&self.links, platform, "link")
    }

    pub fn set_link(&self, platform: &str, person_id: &str, link: &Link) -> Result<(), StoreError> {
        self.put(&self.links, platform, person_id, link)
    }

    pub fn remove_link(&self, platform: &str, person_id: &str) -> Result<(), StoreError> {
        self.links.remove(key(platform, person_id)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Replace one platform's cached accounts with a fresh listing.
    pub fn replace_cache(&self, platform: &str, accounts: &[Account]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in self.cache.scan_prefix(prefix(platform)).keys() {
            batch.remove(k.map_err(|e| self.err(e))?);
        }
        for a in accounts {
            batch.insert(key(platform, &a.id), encode(a));
        }
        self.cache.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Record one account as it now stands (after a write).
    pub fn cache_account(&self, platform: &str, account: &Account) -> Result<(), StoreError> {
        self.put(&self.cache, platform, &account.id, account)
    }

    pub fn cached_accounts(&self, platform: &str) -> Result<Vec<Account>, StoreError> {
        Ok(self.scan::<Account>(&self.cache, platform, "cached account")?.into_values().collect())
    }

    pub fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.runs.insert(run.run_id.as_bytes(), encode(run)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The most recent runs, newest first (run ids sort by time).
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.runs.iter().rev().take(limit).map(|r| self.decode_value(r, "run record")).collect()
    }

    /// Make everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Bytes on disk, for metrics and benchmarks.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    fn put<T: Serialize>(&self, tree: &sled::Tree, platform: &str, id: &str, value: &T) -> Result<(), StoreError> {
        tree.insert(key(platform, id), encode(value)).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn scan<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        platform: &str,
        what: &str,
    ) -> Result<BTreeMap<String, T>, StoreError> {
        let skip = prefix(platform).len();
        let mut sorted = Vec::new();
        for item in tree.scan_prefix(prefix(platform)) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let id = String::from_utf8_lossy(&k[skip..]).into_owned();
            sorted.push((id, decode(&v, what)?));
        }
        // Built in one go from sorted pairs, the map's nodes are full; inserted one by one
        // in order they would be half empty (a million links: ~100 bytes each, not ~60).
        Ok(sorted.into_iter().collect())
    }

    // ---- The intent journal and the quarantine (trees opened on use).

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(|e| self.err(e))
    }

    /// Record a write about to be sent; made durable before the write goes out.
    pub fn record_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        let tree = self.tree(INTENTS)?;
        self.put(&tree, &intent.platform, &intent.person_id, intent)?;
        tree.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The write's outcome is known (and audited): forget its intent.
    pub fn clear_intent(&self, platform: &str, person_id: &str) -> Result<(), StoreError> {
        self.tree(INTENTS)?.remove(key(platform, person_id)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes whose outcome rosterd never learnt, oldest platform first.
    pub fn pending_intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.tree(INTENTS)?.iter().map(|r| self.decode_value(r, "intent")).collect()
    }

    /// The quarantine entry of one record, if any.
    pub fn quarantine_entry(&self, platform: &str, person_id: &str) -> Result<Option<Quarantined>, StoreError> {
        match self.tree(QUARANTINE)?.get(key(platform, person_id)).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(&v, "quarantine entry")?)),
            None => Ok(None),
        }
    }

    pub fn set_quarantined(&self, entry: &Quarantined) -> Result<(), StoreError> {
        self.put(&self.tree(QUARANTINE)?, &entry.platform, &entry.person_id, entry)
    }

    /// Release a record from quarantine; true when it was there.
    pub fn release(&self, platform: &str, person_id: &str) -> Result<bool, StoreError> {
        Ok(self.tree(QUARANTINE)?.remove(key(platform, person_id)).map_err(|e| self.err(e))?.is_some())
    }

    /// One platform's quarantined records, person id → entry.
    pub fn quarantined_in(&self, platform: &str) -> Result<BTreeMap<String, Quarantined>, StoreError> {
        self.scan(&self.tree(QUARANTINE)?, platform, "quarantine entry")
    }

    /// Every quarantined record.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        self.tree(QUARANTINE)?.iter().map(|r| self.decode_value(r, "quarantine entry")).collect()
    }

    fn decode_value<T: DeserializeOwned>(
        &self,
        item: sled::Result<(sled::IVec, sled::IVec)>,
        what: &str,
    ) -> Result<T, StoreError> {
        let (_, v) = item.map_err(|e| self.err(e))?;
        decode(&v, what)
    }
}

/// The removals a guard held in one run, kept so that `rosterd approve RUN_ID` can release them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldRun {
    pub run_id: String,
    pub created_at: String,
    /// The identity source the run read.
    pub source: String,
    /// The run's active roster size when the shrink guard held it: approving it makes
    /// this the new baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk_to: Option<usize>,
    pub platforms: BTreeMap<String, HeldPlatform>,
}

/// One platform's held removals in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldPlatform {
    pub steps: Vec<crate::reconcile::plan::Step>,
    /// account id → hash of the account as listed in the run: a release needs it unchanged.
    pub accounts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// When the held removals of a platform were released, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub at: String,
    pub released: usize,
    pub skipped: usize,
}

/// The guards' state: grace counters, the last complete roster's size, held removals.
/// One tree (`guards`) with a namespace per kind of record.
impl Store {
    fn guards(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree("guards").map_err(|e| self.err(e))
    }

    /// Grace counters of one platform: person id → how long their removal has been planned.
    pub fn missing(&self, platform: &str) -> Result<BTreeMap<String, crate::reconcile::guard::Missing>, StoreError> {
        self.scan(&self.guards()?, &format!("grace/{platform}"), "grace counter")
    }

    pub fn set_missing(
        &self,
        platform: &str,
        person_id: &str,
        missing: &crate::reconcile::guard::Missing,
    ) -> Result<(), StoreError> {
        self.put(&self.guards()?, &format!("grace/{platform}"), person_id, missing)
    }

    pub fn clear_missing(&self, platform: &str, person_id: &str) -> Result<(), StoreError> {
        self.guards()?.remove(key(&format!("grace/{platform}"), person_id)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The active size of the last complete roster of this source whose removals ran.
    pub fn roster_size(&self, source: &str) -> Result<Option<usize>, StoreError> {
        self.get_guard(&key("size", source), "roster size")
    }

    pub fn set_roster_size(&self, source: &str, size: usize) -> Result<(), StoreError> {
        self.put(&self.guards()?, "size", source, &size)
    }

    pub fn held_run(&self, run_id: &str) -> Result<Option<HeldRun>, StoreError> {
        self.get_guard(&key("held", run_id), "held run")
    }

    pub fn put_held_run(&self, run: &HeldRun) -> Result<(), StoreError> {
        self.put(&self.guards()?, "held", &run.run_id, run)
    }

    fn get_guard<T: DeserializeOwned>(&self, k: &[u8], what: &str) -> Result<Option<T>, StoreError> {
        self.guards()?.get(k).map_err(|e| self.err(e))?.map(|v| decode(&v, what)).transpose()
    }
}

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

    fn load_snapshot_inner(&self, source: &str) -> Result<Option<Snapshot>, StoreError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        let Some(raw) = meta_tree.get(source.as_bytes()).map_err(|e| self.err(e))? else { return Ok(None) };
        let meta: SnapshotMeta = decode(&raw, "snapshot meta")?;
        let people: BTreeMap<compact_str::CompactString, Person> =
            self.scan(&people_tree, source, "snapshot person")?.into_iter().map(|(id, p)| (id.into(), p)).collect();
        if people.len() != meta.people {
            return Err(StoreError::Decode {
                what: "snapshot".into(),
                detail: format!("{} people stored where the meta says {}", people.len(), meta.people),
            });
        }
        Ok(Some(Snapshot { meta, people }))
    }

    fn save_snapshot_inner(&self, source: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
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

    fn update_snapshot_inner(
        &self,
        source: &str,
        meta: &SnapshotMeta,
        changes: &SnapshotChanges<'_>,
    ) -> Result<(), StoreError> {
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

    fn forget_snapshot_inner(&self, source: &str) -> Result<(), StoreError> {
        let (meta_tree, people_tree) = self.snapshot_trees()?;
        meta_tree.remove(source.as_bytes()).map_err(|e| self.err(e))?;
        let mut batch = sled::Batch::default();
        for k in people_tree.scan_prefix(prefix(source)).keys() {
            batch.remove(k.map_err(|e| self.err(e))?);
        }
        people_tree.apply_batch(batch).map_err(|e| self.err(e))
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

impl SnapshotStore for Store {
    fn load_snapshot(&self, source: &str) -> Result<Option<Snapshot>, String> {
        self.load_snapshot_inner(source).map_err(|e| e.to_string())
    }

    fn save_snapshot(&self, source: &str, snapshot: &Snapshot) -> Result<(), String> {
        self.save_snapshot_inner(source, snapshot).map_err(|e| e.to_string())
    }

    fn update_snapshot(&self, source: &str, meta: &SnapshotMeta, changes: &SnapshotChanges<'_>) -> Result<(), String> {
        self.update_snapshot_inner(source, meta, changes).map_err(|e| e.to_string())
    }

    fn forget_snapshot(&self, source: &str) -> Result<(), String> {
        self.forget_snapshot_inner(source).map_err(|e| e.to_string())
    }
}

/// Keys are `platform NUL id`: NUL cannot appear in a platform name, so prefixes never overlap.
fn prefix(platform: &str) -> Vec<u8> {
    let mut p = platform.as_bytes().to_vec();
    p.push(0);
    p
}

fn key(platform: &str, id: &str) -> Vec<u8> {
    let mut k = prefix(platform);
    k.extend_from_slice(id.as_bytes());
    k
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data structs: serialisation cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode { what: what.to_string(), detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::diff::LinkOrigin;
    use compact_str::ToCompactString;

    #[test]
    fn links_round_trip_per_platform() {
        let dir = tempfile::tempdir().unwrap();
        let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(outcome, OpenOutcome::Created);
        let link = Link { account_id: "42".into(), origin: LinkOrigin::Created, removed: false };
        store.set_link("cake", "p1", &link).unwrap();
        store.set_link("cakeshop", "p2", &link).unwrap();
        assert_eq!(store.links("cake").unwrap().len(), 1);
        drop(store);
        let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        assert_eq!(store.links("cake").unwrap()["p1"], link);
    }

    /// Links and cached accounts as rosterd wrote them while their ids, keys and fields
    /// were `String`s: the shapes are copied here so that a change of the in-memory string
    /// type can never silently change what the store holds.
    mod string_era {
        use std::collections::BTreeMap;

        #[derive(serde::Serialize)]
        pub struct Link {
            pub account_id: String,
            pub origin: &'static str,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            pub removed: bool,
        }

        #[derive(serde::Serialize)]
        pub struct Account {
            pub id: String,
            pub key: String,
            pub fields: BTreeMap<String, String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub role: Option<String>,
            pub status: &'static str,
        }

        #[derive(serde::Serialize)]
        pub struct Email {
            pub value: String,
            #[serde(skip_serializing_if = "Option::is_none", rename = "type")]
            pub kind: Option<String>,
            pub primary: bool,
        }

        /// A snapshot person, every optional field set.
        #[derive(serde::Serialize)]
        pub struct Person {
            pub id: String,
            pub external_id: Option<String>,
            pub user_name: String,
            pub given_name: String,
            pub family_name: String,
            pub display_name: Option<String>,
            pub emails: Vec<Email>,
            pub active: bool,
            pub groups: Vec<String>,
            pub title: Option<String>,
            pub employee_number: Option<String>,
            pub department: Option<String>,
            pub organization: Option<String>,
            pub manager: Option<String>,
            pub last_modified: Option<String>,
        }
    }

    #[test]
    fn a_store_written_with_string_fields_reads_and_writes_back_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
        let long_id = "an-account-id-well-beyond-twenty-four-bytes".to_string();
        let old_link = string_era::Link { account_id: long_id.clone(), origin: "adopted", removed: true };
        let old_account = string_era::Account {
            id: long_id.clone(),
            key: "grace@example.com".into(),
            fields: [("email", "grace@example.com"), ("first_name", "Grace"), ("note", &"x".repeat(40))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            role: Some("Account Manager".into()),
            status: "active",
        };
        store.put(&store.links, "cake", "p1", &old_link).unwrap();
        store.put(&store.cache, "cake", &long_id, &old_account).unwrap();

        let link = store.links("cake").unwrap().remove("p1").unwrap();
        assert_eq!(link, Link { account_id: long_id.as_str().into(), origin: LinkOrigin::Adopted, removed: true });
        let account = store.cached_accounts("cake").unwrap().remove(0);
        assert_eq!((account.id.as_str(), account.fields["first_name"].as_str()), (long_id.as_str(), "Grace"));
        assert_eq!(encode(&link), encode(&old_link));
        assert_eq!(encode(&account), encode(&old_account));
    }

    #[test]
    fn a_snapshot_person_written_with_string_fields_reads_and_writes_back_the_same_bytes() {
        let some = |v: &str| Some(v.to_string());
        let old = string_era::Person {
            id: "2819c223-7f76-453a-919d-413861904646".into(),
            external_id: some("e-1"),
            user_name: "grace@example.com".into(),
            given_name: "Grace".into(),
            family_name: "Hopper".into(),
            display_name: some("Grace Brewster Murray Hopper, Rear Admiral"),
            emails: vec![string_era::Email { value: "grace@example.com".into(), kind: some("work"), primary: true }],
            active: false,
            groups: vec!["staff".into(), "a group whose name is longer than inline".into()],
            title: some("Admiral"),
            employee_number: some("701"),
            department: some("Navy"),
            organization: some("US"),
            manager: some("26118915-6090-4610-87e4-49d8ca9f808d"),
            last_modified: some("2026-01-01T00:00:00Z"),
        };
        let person: Person = decode(&encode(&old), "snapshot person").unwrap();
        assert_eq!((person.id.as_str(), person.active, person.groups.len()), (old.id.as_str(), false, 2));
        assert_eq!(encode(&person), encode(&old));
    }

    #[test]
    fn a_store_in_use_is_refused_never_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
        store
            .set_link("cake", "p1", &Link { account_id: "7".into(), origin: LinkOrigin::Created, removed: false })
            .unwrap();
        let second = Store::open(dir.path(), 1 << 20);
        assert!(matches!(second, Err(StoreError::Locked { .. })), "{second:?}");
        let entries: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["store"], "nothing moved aside");
        assert_eq!(store.links("cake").unwrap().len(), 1);
    }

    #[test]
    fn a_store_closed_a_moment_ago_reopens_with_its_links() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..5 {
            let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
            assert!(round == 0 || outcome == OpenOutcome::Opened, "round {round}: {outcome:?}");
            let link = Link { account_id: round.to_compact_string(), origin: LinkOrigin::Created, removed: false };
            store.set_link("cake", &format!("p{round}"), &link).unwrap();
            store.flush().unwrap();
            assert_eq!(store.links("cake").unwrap().len(), round + 1);
        }
    }

    #[test]
    fn a_broken_store_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
        store.flush().unwrap();
        drop(store);
        std::fs::write(dir.path().join("store").join("conf"), b"this is not a sled config").unwrap();
        std::fs::write(dir.path().join("store").join("db"), vec![0xFFu8; 4096]).unwrap();
        let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt { .. }), "{outcome:?}");
        assert!(store.links("cake").unwrap().is_empty());
    }
}
