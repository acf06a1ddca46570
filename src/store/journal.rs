//! The intent journal and the quarantine in the store (trees opened on use): writes whose
//! answer is not yet known, and records set aside after failing for good.

use std::collections::BTreeMap;

use super::{decode, key, Store, StoreError};
use crate::records::{Intent, Quarantined};

/// Trees of the intent journal and the quarantine.
const INTENTS: &str = "intents";
const QUARANTINE: &str = "quarantine";

impl Store {
    /// Record a write about to be sent; made durable before the write goes out.
    pub fn record_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        let tree = self.tree(INTENTS)?;
        self.put(&tree, &intent.platform, &intent.step.person_id, intent)?;
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
}
