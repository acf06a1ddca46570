//! The push inbox as the push source's [`Journal`]: the service provider writes its
//! resources to the store's database and journals each change here, without naming the store.

use super::PushInbox;
use crate::source::push::{Journal, JournalError};

impl Journal for PushInbox {
    fn db(&self) -> &sled::Db {
        PushInbox::db(self)
    }

    fn record(&self, person_id: &str, deactivates: bool) -> Result<(), JournalError> {
        PushInbox::record(self, person_id, deactivates).map(drop).map_err(|e| JournalError(e.to_string()))
    }
}
