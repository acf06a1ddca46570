//! Guards: hold back removals that might be wrong, so a bad minute at the identity
//! source never locks anyone out. Pure functions over a platform plan: the engine gathers
//! the facts they need (the last complete roster's size, how long people have been missing)
//! from the store and passes them in. This is the one place that decides whether a
//! removal is held or allowed: planning calls [`guard_plan`], approval calls
//! [`release_refused`], [`roster_unconfirmed`] and [`release_verdict`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::plan::{PlatformPlan, Step};

/// What the guards need to know about the run and the operator's limits.
#[derive(Debug, Clone, Default)]
pub struct GuardPolicy {
    /// `None` when the roster is complete; else why it is not.
    pub roster_incomplete: Option<String>,
    /// Hold every removal when a run would remove more than this many accounts...
    pub max_removals_count: Option<usize>,
    /// ...or more than this percentage of the accounts rosterd manages on the platform.
    pub max_removals_percent: Option<f64>,
}

/// Everything the guards of one platform's plan know beyond the plan, gathered by the
/// engine from the connector, the roster and the store.
pub struct GuardFacts<'a> {
    /// Why the connector cannot remove access as configured (AgencyAnalytics without
    /// `allow_delete`), if it cannot.
    pub removals_held: Option<&'a str>,
    /// Why the roster shrank too far, if it did.
    pub shrank: Option<&'a str>,
    /// Why the push burst guard holds this run's removals (too many pushed deactivations
    /// within its window), if it does: see [`burst_reason`].
    pub burst: Option<&'a str>,
    /// A targeted run over pushed people: those the source states inactive (an explicit
    /// `active: false` or a DELETE). An incomplete read does not hold their removal: it is
    /// the source's own statement about a person it holds, not an absence.
    pub stated_inactive: Option<&'a BTreeSet<String>>,
    /// The grace counters, when the grace period applies (a complete roster that did not
    /// shrink); `None` otherwise.
    pub grace: Option<GraceFacts<'a>>,
    /// The run's limits.
    pub policy: &'a GuardPolicy,
    /// Active accounts rosterd has linked here: the base of the removal percentage.
    pub managed_active: usize,
}

/// What the grace period needs: see [`apply_grace`].
pub struct GraceFacts<'a> {
    pub policy: &'a GracePolicy,
    pub missing: &'a BTreeMap<String, Missing>,
    pub inactive: &'a BTreeSet<String>,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
}

/// Apply every guard to one platform's plan, in order: a connector that cannot remove,
/// a burst of pushed deactivations, a shrunk roster (else the grace period), then the
/// incomplete-roster and threshold limits. The first reason that holds a step is the one it keeps.
pub fn guard_plan(plan: &mut PlatformPlan, facts: &GuardFacts<'_>) {
    if let Some(why) = facts.removals_held {
        hold_removals(plan, why);
    }
    if let Some(why) = facts.burst {
        hold_removals(plan, why);
    }
    if let Some(why) = facts.shrank {
        hold_removals(plan, why);
    } else if let Some(g) = &facts.grace {
        apply_grace(plan, g.policy, g.missing, g.inactive, g.run_id, g.now);
    }
    match (&facts.policy.roster_incomplete, facts.stated_inactive) {
        (Some(why), Some(stated)) if !stated.is_empty() => {
            hold_removals_except(plan, &format!("the roster read was incomplete ({why})"), stated);
            let policy = GuardPolicy { roster_incomplete: None, ..facts.policy.clone() };
            apply_guards(plan, &policy, facts.managed_active);
        }
        _ => apply_guards(plan, facts.policy, facts.managed_active),
    }
}

/// Why the removals a guard held on a platform can never be released by approval, if so:
/// a connector that cannot remove access holds them for good.
pub fn release_refused(removals_held: Option<&str>) -> Option<&str> {
    removals_held
}

/// Why an approval must release nothing: the roster read now is incomplete, so nobody can
/// be confirmed gone.
pub fn roster_unconfirmed(roster_complete: bool, incomplete_reason: Option<&str>) -> Option<String> {
    (!roster_complete).then(|| {
        let why = incomplete_reason.unwrap_or("reason unknown");
        format!(
            "the roster read is incomplete now ({why}), so rosterd cannot confirm that these people are still gone; nothing was released: try again"
        )
    })
}

/// Why approval left a held removal alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreleased {
    #[error("no longer planned for removal (back in the roster, protected, already removed or gone)")]
    NoLongerPlanned,
    #[error("the account changed since run {run_id}; not released")]
    AccountChanged { run_id: String },
}

/// Whether a held removal may be released: `Ok` when a plan made now still removes the same
/// account (`still_planned`) and the account is listed as it was in run `run_id`
/// (`unchanged`); else why not.
pub fn release_verdict(run_id: &str, still_planned: bool, unchanged: bool) -> Result<(), Unreleased> {
    if !still_planned {
        Err(Unreleased::NoLongerPlanned)
    } else if !unchanged {
        Err(Unreleased::AccountChanged { run_id: run_id.to_string() })
    } else {
        Ok(())
    }
}

/// Whether `now` (a plan made now) still removes the account of held step `held`.
pub fn still_planned(now: &PlatformPlan, held: &Step) -> bool {
    now.steps
        .iter()
        .any(|s| s.action.removes_access() && s.person_id == held.person_id && s.account_id == held.account_id)
}

/// Hold removals as the policy says. `managed_active` is the number of active accounts
/// rosterd has linked on this platform: the base of the percentage.
pub fn apply_guards(plan: &mut PlatformPlan, policy: &GuardPolicy, managed_active: usize) {
    if let Some(why) = &policy.roster_incomplete {
        hold_removals(plan, &format!("the roster read was incomplete ({why})"));
        return;
    }
    let removals = plan.steps.iter().filter(|s| s.action.removes_access() && s.held.is_none()).count();
    if let Some(reason) = threshold_breach(policy, removals, managed_active) {
        hold_removals(plan, &reason);
    }
}

/// Why `removals` is too many, if it is.
fn threshold_breach(policy: &GuardPolicy, removals: usize, managed_active: usize) -> Option<String> {
    if removals == 0 {
        return None;
    }
    if let Some(max) = policy.max_removals_count {
        if removals > max {
            return Some(format!(
                "{removals} removals exceed the limit of {max} per run; approve them if they are intended"
            ));
        }
    }
    let pct = policy.max_removals_percent?;
    let share = removals as f64 * 100.0 / managed_active.max(1) as f64;
    (share > pct).then(|| {
        format!(
            "{removals} removals are {share:.0}% of {managed_active} managed accounts, above the {pct}% limit; approve them if they are intended"
        )
    })
}

/// Hold every removal of the plan with this reason.
pub fn hold_removals(plan: &mut PlatformPlan, reason: &str) {
    hold_removals_except(plan, reason, &BTreeSet::new());
}

/// Hold every removal of the plan with this reason, but those of the people in `except`.
fn hold_removals_except(plan: &mut PlatformPlan, reason: &str, except: &BTreeSet<String>) {
    for step in plan.steps.iter_mut().filter(|s| s.action.removes_access() && s.held.is_none()) {
        if !except.contains(&step.person_id) {
            step.held = Some(reason.to_string());
        }
    }
}

/// Defined with the config, which reads it from `push_flow.burst`; the guards apply it.
pub use crate::config::push_flow::BurstPolicy;

/// Why a batch of pushed changes must have its removals held, if it must: `recent` people
/// were pushed deactivated earlier within the window, and `batch` more are in this batch;
/// the window may hold `policy.count` at most. The whole batch's removals are held then
/// (not the part above the limit): a burst is for a person to look at, not to half-apply.
pub fn burst_reason(policy: &BurstPolicy, recent: usize, batch: usize) -> Option<String> {
    let total = recent.saturating_add(batch);
    (batch > 0 && total > policy.count).then(|| {
        format!(
            "{total} deactivations pushed within {}s exceed the push burst limit of {} (push_flow.burst); approve them if they are intended",
            policy.window.as_secs(),
            policy.count
        )
    })
}

/// Why the roster's shrink against the last complete one is too large, if it is.
/// `previous` is the active size of the last complete roster whose removals ran; an empty
/// roster after a non-empty one is always too large (a 100% shrink); one person fewer never
/// is (in a team of three, one leaver is a third of the roster, not a fault of the source).
pub fn shrink_reason(previous: Option<usize>, current: usize, limit_percent: f64) -> Option<String> {
    let prev = previous.filter(|p| *p > 0)?;
    if current + 1 >= prev && current > 0 {
        return None;
    }
    let fell = (prev - current) as f64 * 100.0 / prev as f64;
    (current == 0 || fell > limit_percent).then(|| {
        format!(
            "the roster shrank from {prev} to {current} active people ({fell:.0}% fewer) since the last complete run, above the {limit_percent}% shrink limit; approve the removals if they are intended"
        )
    })
}

/// Defined with the config, which reads them from `safety.grace`; the guards apply them.
pub use crate::config::grace::{parse_duration, Grace, GracePolicy};

/// Defined below both the guards and the store, which keeps the counters.
pub use crate::records::guard::Missing;

/// Hold every removal still in its grace period. `missing` holds the counters before this
/// run; `inactive` the people the source marks inactive (exempt unless the policy says).
pub fn apply_grace(
    plan: &mut PlatformPlan,
    policy: &GracePolicy,
    missing: &BTreeMap<String, Missing>,
    inactive: &BTreeSet<String>,
    run_id: &str,
    now: DateTime<Utc>,
) {
    for step in plan.steps.iter_mut().filter(|s| s.action.removes_access() && s.held.is_none()) {
        if !policy.include_inactive && inactive.contains(&step.person_id) {
            continue;
        }
        let m = Missing::advanced(missing.get(&step.person_id), run_id, now);
        step.held = in_grace(policy.grace, &m, now);
    }
}

fn in_grace(grace: Grace, m: &Missing, now: DateTime<Utc>) -> Option<String> {
    match grace {
        Grace::Runs(n) => (m.runs < n).then(|| format!("in grace: missing for {} of {n} runs", m.runs)),
        Grace::Duration(d) => {
            let elapsed = (now - m.since).max(chrono::Duration::zero());
            (elapsed < d).then(|| {
                format!(
                    "in grace: missing for {} of {} (since {})",
                    human(elapsed),
                    human(d),
                    m.since.format("%Y-%m-%d %H:%M UTC")
                )
            })
        }
    }
}

/// `1d2h`, `45m`, `0s`.
pub fn human(d: chrono::Duration) -> String {
    let mut secs = d.num_seconds().max(0);
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removals(n: usize) -> PlatformPlan {
        let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        super::extended_tests::removals(&ids.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn incomplete_roster_holds_every_removal() {
        let mut plan = removals(3);
        apply_guards(
            &mut plan,
            &GuardPolicy { roster_incomplete: Some("page 3 failed".into()), ..Default::default() },
            100,
        );
        assert_eq!(plan.held().count(), 3);
        assert!(plan.steps[0].held.as_deref().unwrap_or_default().contains("page 3 failed"));
    }

    #[test]
    fn forty_of_a_hundred_at_ten_percent_are_all_held() {
        let mut plan = removals(40);
        apply_guards(&mut plan, &GuardPolicy { max_removals_percent: Some(10.0), ..Default::default() }, 100);
        assert_eq!(plan.held().count(), 40);
        assert_eq!(plan.runnable().count(), 0);
    }

    #[test]
    fn removals_within_limits_run() {
        assert_eq!(held_under_limits(3, 5, 10.0, 100), 0);
    }

    #[test]
    fn a_push_burst_above_the_limit_holds_the_batch() {
        let policy = BurstPolicy { count: 25, window: std::time::Duration::from_secs(60) };
        assert_eq!(burst_reason(&policy, 20, 5), None, "25 of 25 is within the limit");
        assert_eq!(burst_reason(&policy, 30, 0), None, "a batch without deactivations is never held");
        let why = burst_reason(&policy, 20, 6).unwrap_or_default();
        assert!(why.contains("26 deactivations") && why.contains("limit of 25"), "{why}");
        let mut plan = removals(3);
        let facts = GuardFacts {
            removals_held: None,
            shrank: None,
            burst: Some(&why),
            stated_inactive: None,
            grace: None,
            policy: &GuardPolicy::default(),
            managed_active: 100,
        };
        guard_plan(&mut plan, &facts);
        assert_eq!(plan.held().count(), 3);
    }

    #[test]
    fn an_incomplete_read_holds_all_removals_but_those_the_source_states() {
        let stated: BTreeSet<String> = ["p1".to_string()].into();
        let policy = GuardPolicy { roster_incomplete: Some("push source".into()), ..Default::default() };
        let mut plan = removals(3);
        let facts = GuardFacts {
            removals_held: None,
            shrank: None,
            burst: None,
            stated_inactive: Some(&stated),
            grace: None,
            policy: &policy,
            managed_active: 100,
        };
        guard_plan(&mut plan, &facts);
        let held: Vec<&str> = plan.held().map(|s| s.person_id.as_str()).collect();
        assert_eq!(held, ["p0", "p2"]);
        // The threshold still counts what is stated.
        let strict = GuardPolicy { max_removals_count: Some(0), ..policy.clone() };
        let mut plan = removals(3);
        guard_plan(&mut plan, &GuardFacts { policy: &strict, ..facts });
        assert_eq!(plan.held().count(), 3);
    }

    #[test]
    fn count_limit_holds_even_under_the_percentage() {
        assert_eq!(held_under_limits(30, 25, 50.0, 1000), 30);
    }

    /// How many of `n` removals a count and a percent limit hold, of `accounts` in all.
    fn held_under_limits(n: usize, count: usize, percent: f64, accounts: usize) -> usize {
        let mut plan = removals(n);
        let policy =
            GuardPolicy { max_removals_count: Some(count), max_removals_percent: Some(percent), ..Default::default() };
        apply_guards(&mut plan, &policy, accounts);
        plan.held().count()
    }
}

#[cfg(test)]
mod extended_tests {
    use super::*;
    use crate::reconcile::plan::{Action, Step};

    pub(super) fn removals(ids: &[&str]) -> PlatformPlan {
        let mut plan = PlatformPlan::new("cake");
        for id in ids {
            plan.steps.push(Step {
                action: Action::Deactivate,
                person_id: id.to_string(),
                label: id.to_string(),
                key: id.to_string(),
                account_id: Some(id.to_string()),
                changes: vec![],
                adopt: false,
                reason: None,
                held: None,
            });
        }
        plan
    }

    #[test]
    fn an_empty_roster_after_a_full_one_is_always_a_shrink() {
        let why = shrink_reason(Some(20), 0, 100.0).unwrap_or_default();
        assert!(why.contains("from 20 to 0") && why.contains("100%"), "{why}");
        assert!(shrink_reason(Some(20), 0, 30.0).is_some());
    }

    #[test]
    fn a_shrink_above_the_limit_names_both_sizes() {
        let why = shrink_reason(Some(20), 8, 30.0).unwrap_or_default();
        assert!(why.contains("from 20 to 8") && why.contains("60% fewer") && why.contains("30%"), "{why}");
    }

    #[test]
    fn small_shrinks_growth_and_first_runs_pass() {
        assert_eq!(shrink_reason(Some(20), 14, 30.0), None, "exactly 30% is not more than 30%");
        assert_eq!(shrink_reason(Some(20), 25, 30.0), None);
        assert_eq!(shrink_reason(None, 0, 30.0), None);
        assert_eq!(shrink_reason(Some(0), 0, 30.0), None);
        assert_eq!(shrink_reason(Some(3), 2, 30.0), None, "one leaver of three is not a shrink");
        assert!(shrink_reason(Some(1), 0, 30.0).is_some(), "but nobody left is");
        assert!(shrink_reason(Some(5), 3, 30.0).is_some());
    }

    #[test]
    fn grace_in_runs_holds_until_the_nth_run() {
        let now = Utc::now();
        let policy = GracePolicy::default();
        let mut plan = removals(&["a", "b"]);
        let mut missing = BTreeMap::new();
        missing.insert("b".to_string(), Missing { since: now, runs: 1, last_run: "r1".into() });
        apply_grace(&mut plan, &policy, &missing, &BTreeSet::new(), "r2", now);
        assert_eq!(plan.steps[0].held.as_deref(), Some("in grace: missing for 1 of 2 runs"));
        assert_eq!(plan.steps[1].held, None, "b is missing for the second run");
    }

    #[test]
    fn the_same_run_is_counted_once() {
        let now = Utc::now();
        let m = Missing { since: now, runs: 1, last_run: "r1".into() };
        assert_eq!(Missing::advanced(Some(&m), "r1", now).runs, 1);
        assert_eq!(Missing::advanced(Some(&m), "r2", now).runs, 2);
    }

    #[test]
    fn inactive_people_are_exempt_unless_the_policy_says() {
        let now = Utc::now();
        let inactive: BTreeSet<String> = ["a".to_string()].into();
        let mut plan = removals(&["a"]);
        apply_grace(&mut plan, &GracePolicy::default(), &BTreeMap::new(), &inactive, "r1", now);
        assert_eq!(plan.held().count(), 0);
        let policy = GracePolicy { include_inactive: true, ..Default::default() };
        apply_grace(&mut plan, &policy, &BTreeMap::new(), &inactive, "r1", now);
        assert_eq!(plan.held().count(), 1);
    }

    #[test]
    fn grace_by_duration_counts_from_the_first_missing_run() {
        let now = Utc::now();
        let policy = GracePolicy { grace: Grace::Duration(chrono::Duration::hours(2)), include_inactive: false };
        let mut missing = BTreeMap::new();
        missing.insert(
            "old".to_string(),
            Missing { since: now - chrono::Duration::hours(3), runs: 1, last_run: "r1".into() },
        );
        missing.insert(
            "new".to_string(),
            Missing { since: now - chrono::Duration::minutes(30), runs: 5, last_run: "r1".into() },
        );
        let mut plan = removals(&["old", "new", "fresh"]);
        apply_grace(&mut plan, &policy, &missing, &BTreeSet::new(), "r2", now);
        assert_eq!(plan.steps[0].held, None);
        assert!(plan.steps[1].held.as_deref().unwrap_or_default().starts_with("in grace: missing for 30m of 2h"));
        assert!(plan.steps[2].held.as_deref().unwrap_or_default().starts_with("in grace: missing for 0s of 2h"));
    }

    #[test]
    fn one_run_of_grace_is_no_grace() {
        let mut plan = removals(&["a"]);
        let policy = GracePolicy { grace: Grace::Runs(1), include_inactive: true };
        apply_grace(&mut plan, &policy, &BTreeMap::new(), &BTreeSet::new(), "r1", Utc::now());
        assert_eq!(plan.held().count(), 0);
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("2h"), Ok(chrono::Duration::hours(2)));
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("99999999999d").is_err());
        assert_eq!(human(chrono::Duration::minutes(90)), "1h30m");
    }
}
