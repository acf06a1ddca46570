//! The guards' state in the store: grace counters, the last complete roster's size, and
//! the removals a guard held (for `rosterd approve`).

use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{decode, key, Store, StoreError};
use crate::records::{Missing, Step};

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
    /// A targeted run over pushed people: approval reads and plans just them again (a push
    /// source's whole roster is never complete, so a whole plan could confirm nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<Vec<String>>,
}

/// One platform's held removals in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldPlatform {
    pub steps: Vec<Step>,
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
    pub fn missing(&self, platform: &str) -> Result<BTreeMap<String, Missing>, StoreError> {
        self.scan(&self.guards()?, &format!("grace/{platform}"), "grace counter")
    }

    pub fn set_missing(&self, platform: &str, person_id: &str, missing: &Missing) -> Result<(), StoreError> {
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

    /// People pushed deactivated (person id → when the push was accepted): the push burst
    /// guard's window. Kept in the store so a restart does not empty the window.
    pub fn pushed_deactivations(&self) -> Result<BTreeMap<String, chrono::DateTime<chrono::Utc>>, StoreError> {
        self.scan(&self.guards()?, "burst", "pushed deactivation")
    }

    pub fn set_pushed_deactivation(
        &self,
        person_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.put(&self.guards()?, "burst", person_id, &at)
    }

    pub fn clear_pushed_deactivation(&self, person_id: &str) -> Result<(), StoreError> {
        self.guards()?.remove(key("burst", person_id)).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn get_guard<T: DeserializeOwned>(&self, k: &[u8], what: &str) -> Result<Option<T>, StoreError> {
        self.guards()?.get(k).map_err(|e| self.err(e))?.map(|v| decode(&v, what)).transpose()
    }
}
