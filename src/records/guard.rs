//! The grace period's counter: how long a person's removal has been planned on one
//! platform. The store keeps it between runs; `reconcile::guard` reads and advances it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a person's removal has been planned on one platform, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// The first complete run that planned the removal.
    pub since: DateTime<Utc>,
    /// Consecutive complete runs that planned it, this one included once recorded.
    pub runs: u32,
    /// The last run counted (a plan applied twice is counted once).
    pub last_run: String,
}

impl Missing {
    /// The counter once run `run_id` (at `now`) has planned the removal too.
    pub fn advanced(prev: Option<&Missing>, run_id: &str, now: DateTime<Utc>) -> Missing {
        match prev {
            Some(m) if m.last_run == run_id => m.clone(),
            Some(m) => Missing { since: m.since, runs: m.runs.saturating_add(1), last_run: run_id.to_string() },
            None => Missing { since: now, runs: 1, last_run: run_id.to_string() },
        }
    }
}
