//! The intent journal's and the quarantine's records: what the store keeps between runs
//! about writes whose answer was lost and records that failed for good. The logic that
//! makes and uses them is in `reconcile::journal`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::{Action, Step};
use crate::model::FieldChange;

/// A write rosterd is about to make (or made, and has not yet seen the answer of).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub run_id: String,
    pub trigger: String,
    pub platform: String,
    pub person_id: String,
    pub label: String,
    pub action: Action,
    /// The match key: how a create whose answer was lost is found again.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// When the write was about to be sent (RFC 3339).
    pub at: String,
}

impl Intent {
    pub fn of(run_id: &str, trigger: &str, platform: &str, step: &Step) -> Intent {
        Intent {
            run_id: run_id.into(),
            trigger: trigger.into(),
            platform: platform.into(),
            person_id: step.person_id.clone(),
            label: step.label.clone(),
            action: step.action,
            key: step.key.clone(),
            account_id: step.account_id.clone(),
            changes: step.changes.clone(),
            at: Utc::now().to_rfc3339(),
        }
    }

    /// The step this intent was recorded for, for the audit trail.
    pub fn step(&self) -> Step {
        Step {
            action: self.action,
            person_id: self.person_id.clone(),
            label: self.label.clone(),
            key: self.key.clone(),
            account_id: self.account_id.clone(),
            changes: self.changes.clone(),
            adopt: false,
            reason: None,
            held: None,
        }
    }
}

/// A record set aside after failing for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub platform: String,
    pub person_id: String,
    pub label: String,
    /// The action that failed last.
    pub action: Action,
    /// The platform's last refusal.
    pub reason: String,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// First failure of this streak (RFC 3339).
    pub since: String,
    pub last_failed: String,
    /// No write for this record is planned before this time (RFC 3339).
    pub next_attempt: String,
}

/// The first retry comes at the next run (a one-off refusal gets a second chance at
/// once); then 15 minutes, doubling each time, capped at a day.
pub fn retry_interval(attempts: u32) -> Duration {
    const FIRST: u64 = 15 * 60;
    const CAP: u64 = 24 * 60 * 60;
    match attempts {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(FIRST.saturating_mul(1u64 << (n - 2).min(16)).min(CAP)),
    }
}

impl Quarantined {
    /// The entry after one more permanent failure of `step` at `now`.
    pub fn after_failure(
        previous: Option<Quarantined>,
        platform: &str,
        step: &Step,
        reason: String,
        now: DateTime<Utc>,
    ) -> Quarantined {
        let attempts = previous.as_ref().map_or(0, |q| q.attempts).saturating_add(1);
        let wait = chrono::Duration::from_std(retry_interval(attempts)).unwrap_or(chrono::Duration::days(1));
        Quarantined {
            platform: platform.into(),
            person_id: step.person_id.clone(),
            label: step.label.clone(),
            action: step.action,
            reason,
            attempts,
            since: previous.map_or_else(|| now.to_rfc3339(), |q| q.since),
            last_failed: now.to_rfc3339(),
            next_attempt: (now + wait).to_rfc3339(),
        }
    }

    /// Whether a write for this record may be tried at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        DateTime::parse_from_rfc3339(&self.next_attempt).map_or(true, |t| t <= now)
    }
}
