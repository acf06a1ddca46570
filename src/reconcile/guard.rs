//! Guards: hold back removals that might be wrong, so a bad minute at the identity
//! source never locks anyone out. Pure functions over a platform plan.

use super::plan::PlatformPlan;

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
    for step in plan.steps.iter_mut().filter(|s| s.action.removes_access() && s.held.is_none()) {
        step.held = Some(reason.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::plan::{Action, Step};

    fn removals(n: usize) -> PlatformPlan {
        let mut plan = PlatformPlan::new("cake");
        for i in 0..n {
            plan.steps.push(Step {
                action: Action::Deactivate,
                person_id: format!("p{i}"),
                label: format!("p{i}"),
                key: format!("p{i}"),
                account_id: Some(i.to_string()),
                changes: vec![],
                adopt: false,
                reason: None,
                held: None,
            });
        }
        plan
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
        let mut plan = removals(3);
        let policy =
            GuardPolicy { max_removals_count: Some(5), max_removals_percent: Some(10.0), ..Default::default() };
        apply_guards(&mut plan, &policy, 100);
        assert_eq!(plan.held().count(), 0);
    }

    #[test]
    fn count_limit_holds_even_under_the_percentage() {
        let mut plan = removals(30);
        let policy =
            GuardPolicy { max_removals_count: Some(25), max_removals_percent: Some(50.0), ..Default::default() };
        apply_guards(&mut plan, &policy, 1000);
        assert_eq!(plan.held().count(), 30);
    }
}
