//! The diff's unit tests: roles, recreation, shared keys and the same plan on any number of threads.

use super::*;
use crate::model::AccountStatus;
use crate::reconcile::desired::Given;

fn desired(id: &str, email: &str, role: &str) -> DesiredAccount {
    DesiredAccount {
        person_id: id.into(),
        label: email.into(),
        key: email.into(),
        fields: [("email".to_string(), email.to_string()), ("first_name".to_string(), "New".to_string())].into(),
        role: Some(role.into()),
    }
}

fn account(id: &str, email: &str, role: &str) -> Account {
    Account {
        id: id.into(),
        key: email.into(),
        fields: [("email".to_string(), email.to_string()), ("first_name".to_string(), "Old".to_string())].into(),
        role: Some(role.into()),
        status: AccountStatus::Active,
    }
}

fn link(id: &str) -> Link {
    Link { account_id: id.into(), origin: LinkOrigin::Created, removed: false }
}

fn run(
    traits: &Traits,
    desired: &[DesiredAccount],
    actual: &[Account],
    links: &BTreeMap<String, Link>,
) -> PlatformPlan {
    let excluded = BTreeMap::new();
    let protected = BTreeSet::new();
    let wants = Given::new(desired, &excluded);
    diff(&DiffInput { platform: "p", traits, wants: &wants, actual, links, protected: &protected })
}

fn staff_client(from: &str, to: &str) -> Result<(), String> {
    if (from == "client") == (to == "client") {
        Ok(())
    } else {
        Err("staff and client sides differ".into())
    }
}

#[test]
fn a_refused_role_change_is_a_conflict_and_other_fields_still_update() {
    let traits = Traits { role_change: staff_client, ..Traits::new("email") };
    let links = [("p1".to_string(), link("7"))].into();
    let plan = run(&traits, &[desired("p1", "a@x.com", "staff")], &[account("7", "a@x.com", "client")], &links);
    assert_eq!(plan.conflicts.len(), 1);
    assert!(plan.conflicts[0].reason.contains("\"client\" -> \"staff\" not sent"));
    assert_eq!(plan.steps.len(), 1);
    assert!(plan.steps[0].changes.iter().all(|c| c.field != ROLE_FIELD));
}

#[test]
fn a_removed_account_that_cannot_come_back_is_a_conflict_not_a_create() {
    let traits = Traits { recreate_removed: false, can_reactivate: false, ..Traits::new("user_name") };
    let links = [("p1".to_string(), link("jdoe"))].into();
    let plan = run(&traits, &[desired("p1", "jdoe", "K")], &[], &links);
    assert!(plan.steps.is_empty());
    assert!(plan.conflicts[0].reason.contains("cannot restore it"));
    let recreating = run(&Traits::new("email"), &[desired("p1", "jdoe", "K")], &[], &links);
    assert_eq!(recreating.steps[0].action, Action::Create);
}

#[test]
fn planning_on_several_threads_gives_the_one_thread_plan_byte_for_byte() {
    // Roster order is not person-id order, some keys are shared, some accounts are
    // protected, some differ: every kind of output, spread over every chunk.
    let n = 3000;
    let ids: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
    let desired: Vec<DesiredAccount> = ids
        .iter()
        .map(|&i| {
            let key = if i % 97 == 0 { "shared@x.com".to_string() } else { format!("p{i}@x.com") };
            desired(&format!("p{i:05}"), &key, if i % 3 == 0 { "a" } else { "b" })
        })
        .collect();
    let actual: Vec<Account> =
        (0..n).filter(|i| i % 5 != 0).map(|i| account(&i.to_string(), &format!("p{i}@x.com"), "a")).collect();
    let links: BTreeMap<String, Link> =
        (0..n).filter(|i| i % 10 == 1).map(|i| (format!("p{i:05}"), link(&i.to_string()))).collect();
    let protected: BTreeSet<String> = (0..n).filter(|i| i % 50 == 2).map(|i| format!("p{i}@x.com")).collect();
    // Linked people who left, were excluded or cannot be mapped: removals and their notes.
    let excluded: BTreeMap<String, Exclusion> = (0..n)
        .filter(|i| i % 10 == 1)
        .map(|i| {
            (format!("q{i:05}"), if i % 20 == 1 { Exclusion::Inactive } else { Exclusion::Unmappable("x".into()) })
        })
        .collect();
    let mut links = links;
    links.extend(
        (0..n).filter(|i| i % 10 == 1 || i % 10 == 3).map(|i| (format!("q{i:05}"), link(&(i + 1).to_string()))),
    );
    let traits = Traits::new("email");
    let wants = Given::new(&desired, &excluded);
    let input = DiffInput {
        platform: "p",
        traits: &traits,
        wants: &wants,
        actual: &actual,
        links: &links,
        protected: &protected,
    };
    let one = diff_on(&input, 1);
    assert!(!one.steps.is_empty() && !one.conflicts.is_empty() && !one.notes.is_empty());
    assert!(one.steps.iter().any(|s| s.action == Action::Deactivate));
    let json = |p: &PlatformPlan| serde_json::to_string(p).unwrap();
    for threads in [2, 3, 8] {
        assert_eq!(json(&diff_on(&input, threads)), json(&one), "{threads} threads");
    }
    let ordered: Vec<&str> = one.steps.iter().map(|s| s.person_id.as_str()).collect();
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "steps in person-id order");
}

#[test]
fn a_repeated_key_hash_is_confirmed_on_the_keys() {
    let desired = [desired("p1", "a@x.com", "r"), desired("p2", "b@x.com", "r"), desired("p3", "a@x.com", "r")];
    let excluded = BTreeMap::new();
    let wants = Given::new(&desired, &excluded);
    // As if the hashes of different keys had collided: nobody shares a key.
    assert!(people_sharing_keys(&wants, vec![(7, 0), (7, 1)]).is_empty());
    let sharing = people_sharing_keys(&wants, vec![(7, 0), (7, 1), (7, 2)]);
    let people: Vec<&str> = sharing.iter().map(|d| d.person_id.as_str()).collect();
    assert_eq!(people, ["p1", "p3"]);
}

#[test]
fn two_people_on_one_key_are_both_conflicts_never_merged() {
    let plan = run(
        &Traits::new("email"),
        &[desired("p1", "a@x.com", "r"), desired("p2", "a@x.com", "r")],
        &[account("7", "a@x.com", "r")],
        &BTreeMap::new(),
    );
    assert!(plan.steps.is_empty());
    let people: Vec<&str> = plan.conflicts.iter().map(|c| c.person_id.as_str()).collect();
    assert_eq!(people, ["p1", "p2"]);
}
