//! The sled store: links (which account belongs to which person), the platform cache,
//! and the run history. Versioned, and everything in it can be rebuilt: a store that will
//! not open is moved aside and started afresh rather than stopping the daemon.
//!
//! One file per family of trees: [`journal`] (intents, quarantine), [`guards`] (grace
//! counters, roster size, held runs), [`snapshot`] (source snapshots, listing states),
//! [`groups`] (group links); this file opens the store and keeps links, cache and runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::model::Account;
use crate::records::Link;

mod groups;
mod guards;
mod journal;
mod push;
mod push_journal;
mod snapshot;
#[cfg(test)]
mod tests;

pub use crate::records::RunRecord;
pub use groups::{GroupLink, GroupOrigin};
pub use guards::{HeldPlatform, HeldRun, Release};
pub use push::PushInbox;
pub use snapshot::ListingState;

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

/// An opened store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    links: sled::Tree,
    cache: sled::Tree,
    runs: sled::Tree,
    /// Shared by every [`PushInbox`] handle: a push wakes the worker that waits.
    push_wake: std::sync::Arc<tokio::sync::Notify>,
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
            push_wake: Default::default(),
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

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(|e| self.err(e))
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
