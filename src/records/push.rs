//! A change an identity provider pushed (`source: push`, the SCIM service provider), kept in
//! the store's push inbox until the worker has reconciled its person on every platform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One accepted push, journaled before the identity provider got its 2xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// Order of acceptance (the inbox's key): older changes are reconciled first.
    pub seq: u64,
    /// The person's id at the push source (rosterd's `Person.id`: the SCIM `id` it assigned).
    pub person_id: String,
    /// An explicit `active: false` or a DELETE: what the burst guard counts.
    pub deactivates: bool,
    /// When the service provider accepted it; the burst guard's window counts from here.
    pub at: DateTime<Utc>,
}
