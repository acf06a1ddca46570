//! The intent journal's and the quarantine's records: what the store keeps between runs
//! about writes whose answer was lost and records that failed for good. The logic that
//! makes and uses them is in `reconcile::journal`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::{Action, Step};

/// A write rosterd is about to make (or made, and has not yet seen the answer of): the
/// step as planned, and where and when it goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub run_id: String,
    pub trigger: String,
    pub platform: String,
    /// The write. Its `key` (the match key) is how a create whose answer was lost is found
    /// again; what only the plan needs (adoption, reason, hold) is left out.
    #[serde(flatten)]
    pub step: Step,
    /// When the write was about to be sent (RFC 3339).
    pub at: String,
}

impl Intent {
    pub fn of(run_id: &str, trigger: &str, platform: &str, step: &Step) -> Intent {
        Intent {
            run_id: run_id.into(),
            trigger: trigger.into(),
            platform: platform.into(),
            step: Step { adopt: false, reason: None, held: None, ..step.clone() },
            at: Utc::now().to_rfc3339(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An intent as stores before the step was flattened into it hold one: read the same.
    #[test]
    fn an_intent_written_field_by_field_reads_back_whole() {
        let stored = r#"{"run_id":"r1","trigger":"schedule","platform":"cake","person_id":"7","label":"p7@acme.example","action":"create","key":"p7@acme.example","at":"2024-01-01T00:00:00+00:00"}"#;
        let intent: Intent = serde_json::from_str(stored).expect("an old intent");
        assert_eq!(
            (intent.step.person_id.as_str(), intent.step.action, intent.step.key.as_str()),
            ("7", Action::Create, "p7@acme.example")
        );
        assert!(!intent.step.adopt && intent.step.reason.is_none() && intent.step.held.is_none());
        let again: Intent = serde_json::from_str(&serde_json::to_string(&intent).unwrap()).unwrap();
        assert_eq!(again, intent);
    }
}
