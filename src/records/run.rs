//! One run, as the run history keeps it (the store) and the daemon reports it.

use serde::{Deserialize, Serialize};

use super::summary::PlatformSummary;

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
    pub platforms: Vec<PlatformSummary>,
}
