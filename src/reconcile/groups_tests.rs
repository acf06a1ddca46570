//! Tests of the pure group plan: ownership, renames, membership, guards.

use super::*;
use crate::model::{Person, PersonNode};
use crate::platform::groups::GroupPolicy;

fn policy(select: &[&str]) -> GroupPolicy {
    GroupPolicy { select: select.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

/// People p1..pn wanted here, each with account a<i>.
fn states(n: usize) -> MemberStates {
    let mut s = MemberStates { complete: true, ..Default::default() };
    for i in 1..=n {
        let (p, a) = (format!("p{i}"), format!("a{i}"));
        s.wanted.insert(p.clone(), Some(a.clone()));
        s.labels.insert(p.clone(), format!("{p}@x"));
        s.owner.insert(a, p);
    }
    s
}

fn want(key: &str, display: &str, members: &[&str]) -> DesiredGroup {
    DesiredGroup { key: key.into(), display: display.into(), members: members.iter().map(|m| m.to_string()).collect() }
}

fn group(id: &str, display: &str, external_id: Option<&str>, members: &[&str]) -> TargetGroup {
    TargetGroup {
        id: id.into(),
        display: display.into(),
        external_id: external_id.map(str::to_string),
        members: members.iter().map(|m| m.to_string()).collect(),
        version: None,
    }
}

fn link(id: &str, origin: GroupOrigin) -> GroupLink {
    GroupLink { group_id: id.into(), origin }
}

fn plan(
    policy: &GroupPolicy,
    desired: &[DesiredGroup],
    target: &[TargetGroup],
    links: &[(&str, GroupLink)],
    states: &MemberStates,
) -> GroupPlan {
    let links: BTreeMap<String, GroupLink> = links.iter().map(|(k, l)| (k.to_string(), l.clone())).collect();
    plan_groups(&GroupInput { policy, desired, target, links: &links, states })
}

fn labels(members: &[Member]) -> Vec<&str> {
    members.iter().map(|m| m.label.as_str()).collect()
}

#[test]
fn a_new_group_is_created_with_its_members_and_a_converged_one_plans_nothing() {
    let s = states(3);
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1", "p2"])], &[], &[], &s);
    assert_eq!(out.steps.len(), 1);
    assert_eq!((out.steps[0].action, out.steps[0].origin), (GroupAction::Create, Some(GroupOrigin::Created)));
    assert_eq!(labels(&out.steps[0].add), ["p1@x", "p2@x"]);
    let held = [group("t1", "Eng", Some("g1"), &["a1", "a2"])];
    let out = plan(
        &policy(&["g1"]),
        &[want("g1", "Eng", &["p1", "p2"])],
        &held,
        &[("g1", link("t1", GroupOrigin::Created))],
        &s,
    );
    assert_eq!(out, GroupPlan::default());
}

#[test]
fn a_rename_and_a_membership_change_are_one_update_of_the_same_group() {
    let s = states(3);
    let held = [group("t1", "Eng", Some("g1"), &["a1", "a2"])];
    let links = [("g1", link("t1", GroupOrigin::Created))];
    let out = plan(&policy(&["g1"]), &[want("g1", "Engineering", &["p1", "p3"])], &held, &links, &s);
    let step = &out.steps[0];
    assert_eq!((step.action, step.group_id.as_deref()), (GroupAction::Update, Some("t1")));
    assert_eq!(step.rename_from.as_deref(), Some("Eng"));
    assert_eq!((labels(&step.add), labels(&step.remove)), (vec!["p3@x"], vec!["p2@x"]));
    let mut text = String::new();
    write_step(&mut text, step);
    assert!(
        text.contains("~ update group \"Engineering\" [t1]")
            && text.contains("displayName: \"Eng\" -> \"Engineering\""),
        "{text}"
    );
}

#[test]
fn someone_elses_group_of_the_same_name_is_a_conflict_unless_config_hands_it_over() {
    let s = states(2);
    let theirs = [group("t9", "Sales", None, &["a1", "x-manual"])];
    let out = plan(&policy(&["Sales"]), &[want("Sales", "Sales", &["p1", "p2"])], &theirs, &[], &s);
    assert!(out.steps.is_empty());
    assert!(out.conflicts[0].reason.contains("groups.manage"), "{:?}", out.conflicts);
    let managed = GroupPolicy { manage: vec!["sales".into()], ..policy(&["Sales"]) };
    let out = plan(&managed, &[want("Sales", "Sales", &["p1", "p2"])], &theirs, &[], &s);
    let step = &out.steps[0];
    assert_eq!((step.action, step.origin), (GroupAction::Adopt, Some(GroupOrigin::Managed)));
    assert_eq!(labels(&step.add), ["p2@x"]);
    assert!(step.remove.is_empty(), "a member rosterd does not manage stays in a group it did not create");
}

#[test]
fn a_group_rosterd_created_whose_answer_was_lost_is_found_by_its_external_id() {
    let s = states(1);
    let ours = [group("t1", "Eng", Some("g1"), &["a1", "stranger"])];
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &ours, &[], &s);
    let step = &out.steps[0];
    assert_eq!((step.action, step.origin), (GroupAction::Adopt, Some(GroupOrigin::Created)));
    assert_eq!(labels(&step.remove), ["stranger"], "rosterd's own group holds only rosterd's members");
}

#[test]
fn members_stay_while_the_roster_is_incomplete_or_their_removal_is_held() {
    let mut s = states(2);
    s.wanted.remove("p2");
    let held = [group("t1", "Eng", Some("g1"), &["a1", "a2"])];
    let links = [("g1", link("t1", GroupOrigin::Created))];
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &held, &links, &s);
    assert!(out.steps.is_empty(), "p2's removal is not runnable (held, in grace): the membership stays");
    s.leaving.insert("p2".into());
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &held, &links, &s);
    assert_eq!(labels(&out.steps[0].remove), ["p2@x"]);
    s.complete = false;
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &held, &links, &s);
    assert!(out.steps.is_empty(), "an incomplete roster removes no member");
}

#[test]
fn a_group_no_longer_selected_is_deleted_only_if_rosterd_created_it_and_config_allows() {
    let s = states(1);
    let held = [group("t1", "Old", Some("g1"), &["a1"]), group("t2", "Kept", None, &[])];
    let links = [("g1", link("t1", GroupOrigin::Created)), ("g2", link("t2", GroupOrigin::Managed))];
    let out = plan(&policy(&[]), &[], &held, &links, &s);
    assert!(out.steps.is_empty());
    assert_eq!(out.notes.len(), 2);
    assert!(out.notes[0].contains("allow_delete is off"), "{:?}", out.notes);
    let deleting = GroupPolicy { allow_delete: true, ..policy(&[]) };
    let out = plan(&deleting, &[], &held, &links, &s);
    assert_eq!(out.steps.len(), 1);
    assert_eq!((out.steps[0].action, out.steps[0].group_id.as_deref()), (GroupAction::Delete, Some("t1")));
    assert!(out.notes[0].contains("did not create it"));
}

#[test]
fn a_linked_group_deleted_at_the_target_is_created_again() {
    let s = states(1);
    let links = [("g1", link("gone", GroupOrigin::Created))];
    let out = plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &[], &links, &s);
    assert_eq!(out.steps[0].action, GroupAction::Create);
}

#[test]
fn desired_groups_are_keyed_by_value_and_hold_only_wanted_people() {
    let people = [
        Person::test("p1").in_group("Eng"),
        Person::test("p2").in_group("Eng").in_group("Ops"),
        Person::test("p9").in_group("Eng"),
    ];
    let s = states(2);
    let memberships = people.iter().map(|p| (p.id.to_string(), groups_of(PersonNode::of(p))));
    let desired = desired_groups(&policy(&["eng"]), memberships, &s);
    assert_eq!(desired, [want("Eng", "Eng", &["p1", "p2"])]);
    let view =
        serde_json::json!({"groups": [{"value": "id-7", "display": "Sales"}, {"display": "NoId"}, {"value": ""}]});
    assert_eq!(groups_of(&view), [("id-7".to_string(), "Sales".to_string()), ("NoId".into(), "NoId".into())]);
}

#[test]
fn a_protected_account_is_never_taken_out_of_a_group() {
    let mut s = states(2);
    s.wanted.remove("p2");
    s.leaving.insert("p2".into());
    s.protected.insert("a2".into());
    let held = [group("t1", "Eng", Some("g1"), &["a1", "a2"])];
    let out =
        plan(&policy(&["g1"]), &[want("g1", "Eng", &["p1"])], &held, &[("g1", link("t1", GroupOrigin::Created))], &s);
    assert!(out.steps.is_empty(), "{:?}", out.steps);
}
