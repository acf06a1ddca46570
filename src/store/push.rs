//! The push inbox: changes the SCIM service provider accepted (`source: push`), durable
//! before the identity provider is answered, and kept until the worker has reconciled each
//! person. A crash between the 2xx and the reconcile loses nothing: the inbox is read again
//! at start-up.
//!
//! The inbox is a handle of its own (cloned sled trees and a wake-up), so the service
//! provider's HTTP handlers write to it beside the engine, which owns the [`Store`].

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use super::{decode, encode, Store, StoreError};
use crate::records::Pushed;

/// The tree of pending pushes, keyed by big-endian sequence number (so in order).
const INBOX: &str = "push_inbox";

/// Where pushed changes wait for their person's targeted reconcile.
#[derive(Clone)]
pub struct PushInbox {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for PushInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushInbox").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// The push inbox of this store; every handle shares one wake-up.
    pub fn push_inbox(&self) -> Result<PushInbox, StoreError> {
        Ok(PushInbox {
            db: self.db.clone(),
            tree: self.tree(INBOX)?,
            path: self.path.clone(),
            wake: self.push_wake.clone(),
        })
    }
}

impl PushInbox {
    /// The store's database: the service provider keeps its resource trees here too.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Journal one accepted change and make it durable (with everything written to the
    /// store before it) before returning; then wake whoever waits in [`PushInbox::changed`].
    pub fn record(&self, person_id: &str, deactivates: bool) -> Result<Pushed, StoreError> {
        let seq = self.db.generate_id().map_err(|e| self.err(e))?;
        let pushed = Pushed { seq, person_id: person_id.to_string(), deactivates, at: chrono::Utc::now() };
        self.tree.insert(seq.to_be_bytes(), encode(&pushed)).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        self.wake.notify_one();
        Ok(pushed)
    }

    /// Every change not yet reconciled, oldest first.
    pub fn pending(&self) -> Result<Vec<Pushed>, StoreError> {
        self.tree
            .iter()
            .map(|item| {
                let (_, v) = item.map_err(|e| self.err(e))?;
                decode(&v, "pushed change")
            })
            .collect()
    }

    /// These changes are reconciled (or held by a guard, which keeps its own record): forget them.
    pub fn done(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for seq in seqs {
            batch.remove(&seq.to_be_bytes());
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.tree.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Wait until a change is recorded after the last wait returned (or before the first).
    pub async fn changed(&self) {
        self.wake.notified().await
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled { path: self.path.clone(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_in_order_survive_a_reopen_and_forget_what_is_done() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
            let inbox = store.push_inbox().unwrap();
            let a = inbox.record("p-1", false).unwrap();
            let b = inbox.record("p-2", true).unwrap();
            assert!(a.seq < b.seq);
            // The wake-up was stored: a waiter after the record returns at once.
            tokio::time::timeout(std::time::Duration::from_secs(1), inbox.changed()).await.unwrap();
        }
        let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
        let inbox = store.push_inbox().unwrap();
        let pending = inbox.pending().unwrap();
        assert_eq!(
            pending.iter().map(|p| (p.person_id.as_str(), p.deactivates)).collect::<Vec<_>>(),
            [("p-1", false), ("p-2", true)]
        );
        inbox.done(&[pending[0].seq]).unwrap();
        assert_eq!(inbox.pending().unwrap().len(), 1);
        assert_eq!(inbox.pending().unwrap()[0].person_id, "p-2");
    }
}
