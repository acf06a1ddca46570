//! The intent journal and the quarantine.
//!
//! Before a write, its intent is recorded in the store; after its outcome, the intent is
//! removed. An intent still there when a run starts belongs to a write whose answer
//! rosterd never saw (a crash, a kill): it is resolved by reading the platform, never by
//! writing again. A create whose answer is lost in flight is resolved the same way, at once.
//!
//! A record that fails for good (the platform refused it) is quarantined with its reason:
//! it is set aside in later plans until its next attempt is due, each failure doubling the
//! wait; a success releases it. Removals are never set aside: access goes regardless.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::plan::{Action, PlatformPlan, SetAside};
use crate::platform::PlatformError;

/// Defined below both the engine and the store, which keeps them.
pub use crate::records::journal::{retry_interval, Intent, Quarantined};

/// A failure that says the record itself is wrong for the platform, and will stay so
/// until someone changes it: the record is quarantined. Transport trouble, throttling and
/// refused credentials concern the whole platform and are not.
pub fn is_permanent(action: Action, e: &PlatformError) -> bool {
    match e {
        PlatformError::Rejected { .. } | PlatformError::Unsupported { .. } => true,
        // A create's garbled answer is resolved by reading, not quarantined.
        PlatformError::Malformed { .. } => action != Action::Create,
        PlatformError::Status { status, .. } => (400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 429),
        PlatformError::Transport { .. } | PlatformError::Certificate { .. } | PlatformError::Auth { .. } => false,
    }
}

/// A failed create that may nonetheless have been made: no answer, a server error after
/// sending, or an answer that could not be read.
pub fn is_ambiguous(e: &PlatformError) -> bool {
    match e {
        PlatformError::Transport { .. } | PlatformError::Malformed { .. } => true,
        PlatformError::Status { status, .. } => *status == 408 || *status >= 500,
        _ => false,
    }
}

/// Move the steps of quarantined records that are not yet due out of the plan, into its
/// `quarantined` list. Removals and links always stay.
pub fn set_aside(plan: &mut PlatformPlan, quarantine: &BTreeMap<String, Quarantined>, now: DateTime<Utc>) {
    if quarantine.is_empty() {
        return;
    }
    let steps = std::mem::take(&mut plan.steps);
    for step in steps {
        let waiting = quarantine.get(&step.person_id).filter(|q| !q.due(now));
        match waiting {
            Some(q) if step.action.writes() && !step.action.removes_access() && step.held.is_none() => {
                plan.quarantined.push(SetAside {
                    step,
                    reason: q.reason.clone(),
                    attempts: q.attempts,
                    next_attempt: q.next_attempt.clone(),
                });
            }
            _ => plan.steps.push(step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Step;
    use std::time::Duration;

    fn step(action: Action, person: &str) -> Step {
        Step {
            action,
            person_id: person.into(),
            label: format!("{person}@x"),
            key: format!("{person}@x"),
            account_id: None,
            changes: vec![],
            adopt: false,
            reason: None,
            held: None,
        }
    }

    #[test]
    fn intervals_grow_from_the_next_run_to_a_day() {
        assert_eq!(retry_interval(1), Duration::ZERO);
        assert_eq!(retry_interval(2), Duration::from_secs(900));
        assert_eq!(retry_interval(3), Duration::from_secs(1800));
        assert_eq!(retry_interval(4), Duration::from_secs(3600));
        assert_eq!(retry_interval(20), Duration::from_secs(86_400));
    }

    #[test]
    fn a_second_failure_waits_and_keeps_its_start() {
        let now = Utc::now();
        let s = step(Action::Create, "p1");
        let first = Quarantined::after_failure(None, "cake", &s, "no".into(), now);
        assert!(first.due(now), "the first retry is the next run");
        let second = Quarantined::after_failure(Some(first.clone()), "cake", &s, "no again".into(), now);
        assert_eq!((second.attempts, second.since.as_str()), (2, first.since.as_str()));
        assert!(!second.due(now + chrono::Duration::minutes(14)));
        assert!(second.due(now + chrono::Duration::minutes(15)));
    }

    #[test]
    fn waiting_records_are_set_aside_but_removals_never_are() {
        let now = Utc::now();
        let s = step(Action::Create, "p1");
        let first = Quarantined::after_failure(None, "cake", &s, "no".into(), now);
        let waiting = Quarantined::after_failure(Some(first), "cake", &s, "no".into(), now);
        let mut q = BTreeMap::new();
        q.insert("p1".to_string(), waiting.clone());
        q.insert("p2".to_string(), Quarantined { person_id: "p2".into(), ..waiting });
        let mut plan = PlatformPlan::new("cake");
        plan.steps = vec![step(Action::Create, "p1"), step(Action::Deactivate, "p2"), step(Action::Update, "p3")];
        set_aside(&mut plan, &q, now);
        assert_eq!(plan.quarantined.len(), 1);
        assert_eq!(plan.quarantined[0].step.person_id, "p1");
        assert_eq!(plan.steps.iter().map(|s| s.person_id.as_str()).collect::<Vec<_>>(), ["p2", "p3"]);
    }

    #[test]
    fn permanent_and_ambiguous_failures() {
        let status = |status| PlatformError::Status {
            platform: "p".into(),
            operation: "create".into(),
            status,
            message: String::new(),
        };
        assert!(is_permanent(Action::Create, &status(400)));
        assert!(!is_permanent(Action::Create, &status(429)));
        assert!(!is_permanent(Action::Create, &status(503)));
        assert!(is_ambiguous(&status(500)));
        assert!(!is_ambiguous(&status(429)));
        let garbled = PlatformError::Malformed { platform: "p".into(), operation: "x".into(), detail: String::new() };
        assert!(is_ambiguous(&garbled));
        assert!(!is_permanent(Action::Create, &garbled));
        assert!(is_permanent(Action::Update, &garbled));
    }
}
