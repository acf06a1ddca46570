//! Property tests on the pure diff: applying a plan to the actual state gives the desired
//! state; a converged state plans nothing; held removals are never applied; accounts
//! rosterd never linked are never changed.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rosterd::model::{normalize_key, Account, AccountStatus, DesiredAccount};
use rosterd::platform::Traits;
use rosterd::reconcile::apply::{account_after, desired_from};
use rosterd::reconcile::desired::Given;
use rosterd::reconcile::diff::{diff, field_changes, DiffInput, Exclusion, Link, LinkOrigin};
use rosterd::reconcile::guard::{apply_guards, GuardPolicy};
use rosterd::reconcile::plan::{Action, PlatformPlan};

fn traits() -> Traits {
    Traits::new("email")
}

/// A whole platform world: what the roster wants, what the platform holds, what rosterd knows.
#[derive(Debug, Clone)]
struct World {
    desired: Vec<DesiredAccount>,
    excluded: BTreeMap<String, Exclusion>,
    actual: Vec<Account>,
    links: BTreeMap<String, Link>,
}

fn account(id: usize, key: usize, name: usize, role: usize, active: bool) -> Account {
    let email = format!("K{key}@Example.com");
    Account {
        id: format!("a{id}").into(),
        key: normalize_key(&email),
        fields: [("email".to_string(), email), ("first_name".to_string(), format!("n{name}"))].into_iter().collect(),
        role: Some(format!("r{role}").into()),
        status: if active { AccountStatus::Active } else { AccountStatus::Inactive },
    }
}

fn desired(person: usize, key: usize, name: usize, role: usize) -> DesiredAccount {
    let email = format!("k{key}@example.com");
    DesiredAccount {
        person_id: format!("p{person}").into(),
        label: email.as_str().into(),
        key: email.as_str().into(),
        fields: [("email".to_string(), email), ("first_name".to_string(), format!("n{name}"))].into_iter().collect(),
        role: Some(format!("r{role}").into()),
    }
}

prop_compose! {
    fn world()(
        people in prop::collection::vec((any::<bool>(), 0..12usize, 0..3usize, 0..2usize, 0..4u8), 1..10),
        accounts in prop::collection::vec((0..12usize, 0..3usize, 0..2usize, any::<bool>()), 0..10),
        link_choices in prop::collection::vec(prop::option::of(0..10usize), 10),
    ) -> World {
        let actual: Vec<Account> = accounts.iter().enumerate().map(|(i, (k, n, r, a))| account(i, *k, *n, *r, *a)).collect();
        let mut desired_people = Vec::new();
        let mut excluded = BTreeMap::new();
        for (i, (wanted, key, name, role, why)) in people.iter().enumerate() {
            if *wanted {
                desired_people.push(desired(i, *key, *name, *role));
            } else {
                match why {
                    0 => { excluded.insert(format!("p{i}"), Exclusion::Inactive); }
                    1 => { excluded.insert(format!("p{i}"), Exclusion::OutOfScope("test".into())); }
                    2 => { excluded.insert(format!("p{i}"), Exclusion::Leaver(format!("k{key}@example.com").into())); }
                    _ => {} // left the roster
                }
            }
        }
        // Links: each person may link to a distinct existing (or vanished) account.
        let mut links = BTreeMap::new();
        let mut used = BTreeSet::new();
        for (i, choice) in link_choices.iter().enumerate().take(people.len()) {
            if let Some(a) = choice {
                if used.insert(*a) {
                    links.insert(format!("p{i}"), Link { account_id: format!("a{a}").into(), origin: LinkOrigin::Created, removed: false });
                }
            }
        }
        World { desired: desired_people, excluded, actual, links }
    }
}

fn plan(w: &World, protected: &BTreeSet<String>) -> PlatformPlan {
    diff(&DiffInput {
        platform: "p",
        traits: &traits(),
        wants: &Given::new(&w.desired, &w.excluded),
        actual: &w.actual,
        links: &w.links,
        protected,
    })
}

/// What a faithful platform and rosterd's apply do with the runnable steps.
fn simulate(w: &mut World, plan: &PlatformPlan) {
    let mut next = w.actual.len() + 100;
    for step in plan.runnable() {
        if step.action == Action::Create {
            let d = desired_from(step);
            next += 1;
            w.actual.push(Account {
                id: format!("a{next}").into(),
                key: normalize_key(&d.fields["email"]),
                fields: d.fields.clone(),
                role: d.role.clone(),
                status: AccountStatus::Active,
            });
            w.links.insert(
                step.person_id.clone(),
                Link { account_id: format!("a{next}").into(), origin: LinkOrigin::Created, removed: false },
            );
            continue;
        }
        let id = step.account_id.clone().expect("non-create steps name their account");
        let idx = w.actual.iter().position(|a| a.id == id).expect("steps refer to listed accounts");
        let mut after = account_after(&w.actual[idx], step);
        after.key = normalize_key(&after.fields["email"]);
        w.actual[idx] = after;
        if step.adopt {
            w.links.insert(
                step.person_id.clone(),
                Link { account_id: id.into(), origin: LinkOrigin::Adopted, removed: false },
            );
        }
    }
}

fn conflicted(plan: &PlatformPlan) -> BTreeSet<String> {
    plan.conflicts.iter().map(|c| c.person_id.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Applying the plan gives the desired state. A key still held by an account that is
    /// moving to another key is a conflict for one run, so convergence takes at most two.
    #[test]
    fn applying_the_plan_reaches_the_desired_state(w in world()) {
        let none = BTreeSet::new();
        let mut state = w.clone();
        let mut last = plan(&state, &none);
        for _ in 0..2 {
            simulate(&mut state, &last);
            last = plan(&state, &none);
        }
        prop_assert!(last.steps.is_empty(), "not converged: {:?}", last.steps);
        let stuck = conflicted(&last);
        for d in state.desired.iter().filter(|d| !stuck.contains(d.person_id.as_str())) {
            let link = state.links.get(d.person_id.as_str()).expect("every desired person is linked");
            let acc = state.actual.iter().find(|a| a.id == link.account_id).expect("linked account exists");
            prop_assert_eq!(acc.status, AccountStatus::Active);
            prop_assert!(field_changes(&traits(), d, acc).is_empty());
        }
        let desired_ids: BTreeSet<&str> = state.desired.iter().map(|d| d.person_id.as_str()).collect();
        for (person, link) in &state.links {
            if desired_ids.contains(person.as_str()) { continue; }
            if let Some(acc) = state.actual.iter().find(|a| a.id == link.account_id) {
                prop_assert_eq!(acc.status, AccountStatus::Inactive, "leaver {} keeps access", person);
            }
        }
        // A leaver in scope keeps no access on their key through an account nobody links,
        // unless a wanted person maps to that key, the leaver is a conflict, or their link
        // names a listed account (that link alone decides: moving it would free the account).
        let owned: BTreeSet<&str> = state.links.values().map(|l| l.account_id.as_str()).collect();
        let wanted_keys: BTreeSet<&str> = state.desired.iter().map(|d| d.key.as_str()).collect();
        let listed = |id: &str| state.actual.iter().any(|a| a.id == id);
        for (person, why) in &state.excluded {
            let Exclusion::Leaver(key) = why else { continue };
            let linked_listed = state.links.get(person).is_some_and(|l| listed(&l.account_id));
            if stuck.contains(person.as_str()) || wanted_keys.contains(key.as_str()) || linked_listed { continue; }
            let open = state.actual.iter().filter(|a| a.key == *key && a.status == AccountStatus::Active && !owned.contains(a.id.as_str()));
            prop_assert_eq!(open.count(), 0, "leaver {} keeps an unlinked account", person);
        }
    }

    /// Accounts rosterd never linked are deactivated only when adopted for a leaver on
    /// their key, and never change unless adopted.
    #[test]
    fn unlinked_accounts_never_lose_access(w in world()) {
        let p = plan(&w, &BTreeSet::new());
        let linked: BTreeSet<&str> = w.links.values().map(|l| l.account_id.as_str()).collect();
        for s in p.steps.iter().filter(|s| s.action == Action::Deactivate) {
            if linked.contains(s.account_id.as_deref().unwrap_or_default()) { continue; }
            let leaver_key = match w.excluded.get(&s.person_id) {
                Some(Exclusion::Leaver(key)) => Some(key.as_str()),
                _ => None,
            };
            prop_assert!(s.adopt && leaver_key == Some(s.key.as_str()), "an unlinked account lost access: {:?}", s);
        }
        for s in p.steps.iter().filter(|s| s.account_id.as_deref().is_some_and(|id| !linked.contains(id))) {
            prop_assert!(s.adopt, "an unlinked account is touched without adoption: {:?}", s);
        }
    }

    /// A converged state plans nothing, and the plan is a pure function of its inputs.
    #[test]
    fn a_converged_state_plans_nothing(w in world()) {
        let none = BTreeSet::new();
        let mut state = w;
        for _ in 0..2 {
            let p = plan(&state, &none);
            simulate(&mut state, &p);
        }
        let a = plan(&state, &none);
        let b = plan(&state, &none);
        prop_assert_eq!(a.steps.len(), 0);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }

    /// Held removals are never applied: with an incomplete roster nobody loses access.
    #[test]
    fn held_removals_are_never_applied(w in world(), threshold in prop::option::of(0..3usize)) {
        let mut p = plan(&w, &BTreeSet::new());
        let policy = GuardPolicy {
            roster_incomplete: threshold.is_none().then(|| "page 3 failed".to_string()),
            max_removals_count: threshold,
            max_removals_percent: None,
        };
        apply_guards(&mut p, &policy, 10);
        let removals = p.steps.iter().filter(|s| s.action == Action::Deactivate).count();
        let mut state = w.clone();
        simulate(&mut state, &p);
        let lost = w.actual.iter().filter(|before| {
            before.status == AccountStatus::Active
                && state.actual.iter().any(|a| a.id == before.id && a.status == AccountStatus::Inactive)
        }).count();
        if threshold.is_none() || removals > threshold.unwrap_or(0) {
            prop_assert_eq!(lost, 0);
        } else {
            prop_assert_eq!(lost, removals);
        }
    }

    /// Protected keys and accounts are never touched.
    #[test]
    fn protected_accounts_are_never_touched(w in world(), pick in 0..12usize) {
        let key = format!("k{pick}@example.com");
        let protected: BTreeSet<String> = [key.clone()].into_iter().collect();
        let p = plan(&w, &protected);
        prop_assert!(p.steps.iter().all(|s| s.key != key));
        let touched = p.steps.iter().filter_map(|s| s.account_id.as_deref());
        for id in touched {
            let acc = w.actual.iter().find(|a| a.id == id).expect("steps refer to listed accounts");
            prop_assert_ne!(&acc.key, &key, "protected account {} touched", id);
        }
    }
}
