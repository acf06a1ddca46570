//! Group steps in a run: gather what the pure group plan needs (the target's groups, the
//! group links, who is wanted and who is leaving), and apply the steps after the account
//! steps, when every new account has its id.

use std::collections::{BTreeSet, HashMap};

use super::apply::{ApplyContext, PlatformSummary};
use super::desired::{Mapped, Mapping, Wants};
use super::groups::{desired_groups, groups_of, plan_groups, GroupAction, GroupInput, GroupStep, MemberStates};
use super::plan::{Action, PlatformPlan};
use crate::audit::{AuditRecord, Subject};
use crate::model::{Account, FieldChange, Outcome, PersonNode, Roster};
use crate::platform::groups::{GroupChange, GroupTarget};
use crate::store::{GroupLink, Store};

/// Add the group steps of one platform to its plan. A failure to read the groups leaves the
/// account steps as they are and is reported as the platform's group error.
pub async fn plan_platform_groups(
    store: &Store,
    target: &dyn GroupTarget,
    platform: &str,
    roster: &Roster,
    mapping: &Mapping,
    accounts_here: (&[Account], &BTreeSet<String>),
    plan: &mut PlatformPlan,
) {
    let listed = target.list_groups().await.map_err(|e| e.to_string());
    let links = store.group_links(platform).map_err(|e| e.to_string());
    let accounts = store.links(platform).map_err(|e| e.to_string());
    let (listed, links, accounts) = match (listed, links, accounts) {
        (Ok(g), Ok(l), Ok(a)) => (g, l, a),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(platform, error = %e, "groups not planned");
            plan.group_error = Some(format!("groups not planned: {e}"));
            return;
        }
    };
    let mut states = member_states(roster, mapping, &accounts, plan);
    let (actual, protected) = accounts_here;
    let is_protected = |a: &&Account| protected.contains(a.key.as_str()) || protected.contains(a.id.as_str());
    states.protected = actual.iter().filter(is_protected).map(|a| a.id.to_string()).collect();
    states.wanted.retain(|_, account| account.as_ref().is_none_or(|id| !states.protected.contains(id)));
    let people = roster.people.iter().map(|p| (p.id.to_string(), groups_of(PersonNode::of(p))));
    let desired = desired_groups(target.policy(), people, &states);
    let input =
        GroupInput { policy: target.policy(), desired: &desired, target: &listed, links: &links, states: &states };
    let planned = plan_groups(&input);
    plan.groups = planned.steps;
    plan.conflicts.extend(planned.conflicts);
    plan.notes.extend(planned.notes);
}

/// Who may be a member on this platform, from the mapping, the links and the account steps.
fn member_states(
    roster: &Roster,
    mapping: &Mapping,
    links: &std::collections::BTreeMap<String, super::diff::Link>,
    plan: &PlatformPlan,
) -> MemberStates {
    let mut states = MemberStates { complete: roster.complete, ..Default::default() };
    // Accounts the steps give people: adopted ones by id, created ones during the run.
    let mut by_step: HashMap<&str, Option<&str>> = HashMap::new();
    for step in plan.runnable() {
        match step.action {
            Action::Deactivate => {
                states.leaving.insert(step.person_id.clone());
            }
            _ => {
                by_step.insert(step.person_id.as_str(), step.account_id.as_deref());
            }
        }
    }
    for (person, link) in links {
        states.owner.insert(link.account_id.to_string(), person.clone());
        if link.removed {
            states.leaving.insert(person.clone());
        }
    }
    let wants = Mapped::new(&roster.people, mapping);
    for (i, person) in roster.people.iter().enumerate() {
        states.labels.insert(person.id.to_string(), person.label().to_string());
        if wants.account(i).is_err() {
            continue;
        }
        let account = match (by_step.get(person.id.as_str()), links.get(person.id.as_str())) {
            (Some(from_step), link) => from_step.map(str::to_string).or(link.map(|l| l.account_id.to_string())),
            (None, Some(link)) => Some(link.account_id.to_string()),
            // No account and none coming (a conflict, a quarantined create): not a member yet.
            (None, None) => continue,
        };
        states.wanted.insert(person.id.to_string(), account);
    }
    states
}

/// Apply the group steps of one platform, after its account steps.
pub async fn apply_platform_groups(
    ctx: &ApplyContext<'_>,
    target: &dyn GroupTarget,
    plan: &PlatformPlan,
    summary: &mut PlatformSummary,
) {
    if let Some(e) = &plan.group_error {
        summary.error.get_or_insert_with(|| e.clone());
        return;
    }
    if plan.groups.is_empty() {
        return;
    }
    let accounts: HashMap<String, String> = match ctx.store.links(&plan.platform) {
        Ok(links) => links.into_iter().map(|(person, l)| (person, l.account_id.to_string())).collect(),
        Err(e) => {
            summary.error.get_or_insert_with(|| format!("groups not applied: {e}"));
            return;
        }
    };
    for step in &plan.groups {
        if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            summary.skipped += 1;
            continue;
        }
        match run_group_step(ctx, target, &plan.platform, step, &accounts).await {
            Ok(()) => summary.groups += 1,
            Err(()) => summary.failed += 1,
        }
    }
}

/// Run one group step, record its link and audit its outcome once.
async fn run_group_step(
    ctx: &ApplyContext<'_>,
    target: &dyn GroupTarget,
    platform: &str,
    step: &GroupStep,
    accounts: &HashMap<String, String>,
) -> Result<(), ()> {
    let (add, unresolved) = resolve_members(step, accounts);
    let change = GroupChange {
        rename: step.rename_from.as_ref().map(|_| step.display.clone()),
        add,
        remove: step.remove.iter().filter_map(|m| m.account_id.clone()).collect(),
    };
    let outcome = match (step.action, &step.listed) {
        (GroupAction::Create, _) => {
            target.create_group(&step.display, &step.key, &change.add).await.map(|g| Some(g.id))
        }
        (GroupAction::Delete, Some(group)) => target.delete_group(group).await.map(|()| None),
        (_, Some(group)) if change.is_empty() => Ok(Some(group.id.clone())),
        (_, Some(group)) => target.update_group(group, &change).await.map(|()| Some(group.id.clone())),
        (_, None) => Ok(None),
    };
    let detail = (!unresolved.is_empty())
        .then(|| format!("not added (their account was not created): {}", unresolved.join(", ")));
    match outcome {
        Ok(group_id) => {
            record_link(ctx, platform, step, group_id.as_deref());
            audit_group(ctx, platform, step, group_id, Outcome::Ok.as_str(), detail.or(step.reason.clone()));
            Ok(())
        }
        Err(e) => {
            tracing::warn!(platform, group = %step.display, error = %e, "group step failed");
            audit_group(ctx, platform, step, step.group_id.clone(), Outcome::Failed.as_str(), Some(e.to_string()));
            Err(())
        }
    }
}

/// The account ids of the members to add, and the labels of those who have none.
fn resolve_members(step: &GroupStep, accounts: &HashMap<String, String>) -> (Vec<String>, Vec<String>) {
    let (mut add, mut unresolved) = (Vec::new(), Vec::new());
    for m in &step.add {
        let from_link = m.person_id.as_ref().and_then(|p| accounts.get(p)).cloned();
        match from_link.or(m.account_id.clone()) {
            Some(id) => add.push(id),
            None => unresolved.push(m.label.clone()),
        }
    }
    (add, unresolved)
}

fn record_link(ctx: &ApplyContext<'_>, platform: &str, step: &GroupStep, group_id: Option<&str>) {
    let result = match (step.action, group_id, step.origin) {
        (GroupAction::Delete, _, _) => ctx.store.remove_group_link(platform, &step.key),
        (_, Some(id), Some(origin)) => {
            ctx.store.set_group_link(platform, &step.key, &GroupLink { group_id: id.to_string(), origin })
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!(platform, group = %step.display, error = %e, "group link not recorded; the next run finds the group by its externalId or name");
    }
}

/// One audit line per group step: the rename and each member in or out as a change.
fn audit_group(
    ctx: &ApplyContext<'_>,
    platform: &str,
    step: &GroupStep,
    group_id: Option<String>,
    outcome: &str,
    detail: Option<String>,
) {
    ctx.metrics.step(platform, "group", outcome);
    let mut changes = Vec::new();
    if let Some(old) = &step.rename_from {
        changes.push(FieldChange {
            field: "displayName".into(),
            before: Some(old.clone()),
            after: Some(step.display.clone()),
        });
    }
    for m in &step.add {
        changes.push(FieldChange { field: "member".into(), before: None, after: Some(m.label.clone()) });
    }
    for m in &step.remove {
        changes.push(FieldChange { field: "member".into(), before: Some(m.label.clone()), after: None });
    }
    let subject = Subject {
        platform: platform.into(),
        person_id: format!("group:{}", step.key),
        person: step.display.clone(),
        account_id: group_id,
        action: step.action.as_str().into(),
        changes,
    };
    let record = AuditRecord::new(ctx.run_id, ctx.trigger, subject, outcome, detail);
    if let Err(e) = ctx.audit.append(record) {
        tracing::error!(platform, error = %e, "audit write failed");
    }
}
