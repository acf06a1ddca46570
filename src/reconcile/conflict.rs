//! A conflict: a person (or group) for whom rosterd will not act until someone resolves
//! something. Its own module so that the plan and the group plan can both hold it without
//! importing each other.

use serde::{Deserialize, Serialize};

/// A person for whom rosterd will not act until someone resolves something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub person_id: String,
    pub label: String,
    pub key: String,
    pub reason: String,
}
