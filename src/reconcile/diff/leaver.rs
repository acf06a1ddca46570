//! Leavers whose account rosterd never linked: an inactive person the scope still takes in
//! loses the one active, unowned account on their match key, adopted and deactivated in one step.
//!
//! Removals otherwise walk only linked accounts, so an account made by hand before rosterd
//! (or linked by a store since lost) would keep a leaver's access for good. The rules stay
//! those of adoption: exactly one candidate, never a protected account, never an account
//! another person is linked to, never a key another roster person also maps to.

use compact_str::CompactString;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{hash_of, is_protected, Actual, DiffInput, KeyHash, Part, Wants};
use crate::model::{normalize_key, Account, AccountStatus};
use crate::reconcile::plan::{Conflict, PlatformPlan, Step};

/// Why the step is there, in the plan and the audit trail: it says the account is adopted.
pub(super) const REASON: &str =
    "inactive at the source; an account rosterd had not linked, adopted to remove its access";

/// Plan the leaver at roster index `i` whose match key is `key`. A link to a listed account
/// decides alone (the removals of linked accounts): moving it would free that account for
/// someone else to adopt. A link to an account no longer listed does not stop another
/// account on the key losing access.
pub(super) fn plan_leaver(input: &DiffInput<'_>, actual: &Actual<'_>, i: usize, key: &str, part: &mut Part) {
    let person_id = input.wants.person_id(i);
    if actual.link_position(person_id).and_then(|at| actual.linked_account(at)).is_some() {
        return;
    }
    let positions: Vec<usize> = match actual.shared_key.get(key) {
        Some(all) => all.iter().map(|&p| p as usize).collect(),
        None => actual.by_key(key).map(|(p, _)| p).into_iter().collect(),
    };
    let mut candidates: Vec<&Account> = Vec::new();
    for p in positions {
        let account = &actual.accounts[p];
        if account.status != AccountStatus::Active || actual.owner(p).is_some() {
            continue;
        }
        if is_protected(input, key, Some(&account.id)) || is_protected(input, &account.key, None) {
            part.notes.push((person_id.into(), format!("{key}: protected account {} keeps its access", account.id)));
            continue;
        }
        candidates.push(account);
    }
    match candidates.as_slice() {
        [] => {}
        [account] => {
            part.plan.steps.push(adopt_and_deactivate(person_id, account));
            part.leavers.push((hash_of(key) as KeyHash, i as u32));
        }
        several => {
            let ids: Vec<&str> = several.iter().map(|a| a.id.as_str()).collect();
            let reason = format!(
                "inactive at the source, and several active accounts carry this key ({}); a person must choose which to remove",
                ids.join(", ")
            );
            part.plan.conflicts.push(Conflict {
                person_id: person_id.into(),
                label: key.into(),
                key: key.into(),
                reason,
            });
        }
    }
}

fn adopt_and_deactivate(person_id: &str, account: &Account) -> Step {
    super::deactivate_step(person_id, account, true, REASON.into())
}

/// Take back a leaver's adoption when another roster person maps to the same key: an
/// active one keeps the account for themselves (a note), another leaver makes a conflict
/// for both (never a merge). `keys` are the wanted people's key hashes; hashes that repeat
/// by chance are confirmed on the keys themselves. Leavers are few: one pass over `keys`.
pub(super) fn settle_leaver_keys(
    wants: &dyn Wants,
    keys: &[(KeyHash, u32)],
    leavers: &[(KeyHash, u32)],
    plan: &mut PlatformPlan,
    notes: &mut Vec<(CompactString, String)>,
) {
    let hashes: HashSet<KeyHash> = leavers.iter().map(|l| l.0).collect();
    let mut wanted_keys: HashSet<CompactString> = HashSet::default();
    for &(_, j) in keys.iter().filter(|(h, _)| hashes.contains(h)) {
        if let Ok(d) = wants.account(j as usize) {
            wanted_keys.insert(normalize_key(&d.key));
        }
    }
    let ids: HashSet<&str> = leavers.iter().map(|&(_, i)| wants.person_id(i as usize)).collect();
    let mut per_key: HashMap<&str, usize> = HashMap::default();
    for s in plan.steps.iter().filter(|s| s.adopt && ids.contains(s.person_id.as_str())) {
        *per_key.entry(s.key.as_str()).or_default() += 1;
    }
    let (wanted, twins): (HashSet<String>, HashSet<String>) = {
        let mine = |s: &&Step| s.adopt && ids.contains(s.person_id.as_str());
        let taken = plan.steps.iter().filter(mine).filter(|s| wanted_keys.contains(s.key.as_str()));
        let shared = plan.steps.iter().filter(mine).filter(|s| per_key.get(s.key.as_str()).is_some_and(|n| *n > 1));
        (taken.map(|s| s.person_id.clone()).collect(), shared.map(|s| s.person_id.clone()).collect())
    };
    let mut kept = Vec::with_capacity(plan.steps.len());
    for step in std::mem::take(&mut plan.steps) {
        if wanted.contains(&step.person_id) {
            let id = step.account_id.unwrap_or_default();
            let note = format!(
                "{}: inactive, but an active person maps to the same key; account {id} is left to them",
                step.key
            );
            notes.push((step.person_id.as_str().into(), note));
        } else if twins.contains(&step.person_id) {
            plan.conflicts.push(Conflict {
                person_id: step.person_id,
                label: step.key.clone(),
                key: step.key,
                reason: "inactive at the source, and another person in the roster has the same match key; fix the source so each key belongs to one person".into(),
            });
        } else {
            kept.push(step);
        }
    }
    plan.steps = kept;
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::{diff, diff_on, Exclusion, Link, LinkOrigin};
    use super::*;
    use crate::model::DesiredAccount;
    use crate::platform::Traits;
    use crate::reconcile::desired::Given;
    use crate::reconcile::plan::Action;

    fn account(id: &str, key: &str, status: AccountStatus) -> Account {
        Account {
            id: id.into(),
            key: key.into(),
            fields: [("email".to_string(), key.to_string())].into(),
            role: None,
            status,
        }
    }

    fn wanted(id: &str, key: &str) -> DesiredAccount {
        DesiredAccount {
            person_id: id.into(),
            label: key.into(),
            key: key.into(),
            fields: [("email".to_string(), key.to_string())].into(),
            role: None,
        }
    }

    struct World {
        desired: Vec<DesiredAccount>,
        excluded: BTreeMap<String, Exclusion>,
        actual: Vec<Account>,
        links: BTreeMap<String, Link>,
        protected: BTreeSet<String>,
    }

    impl World {
        fn new(actual: Vec<Account>) -> World {
            World {
                desired: Vec::new(),
                excluded: BTreeMap::new(),
                actual,
                links: BTreeMap::new(),
                protected: BTreeSet::new(),
            }
        }

        fn leaver(mut self, id: &str, key: &str) -> World {
            self.excluded.insert(id.into(), Exclusion::Leaver(key.into()));
            self
        }

        fn plan_on(&self, threads: Option<usize>) -> PlatformPlan {
            let traits = Traits::new("email");
            let wants = Given::new(&self.desired, &self.excluded);
            let input = DiffInput {
                platform: "p",
                traits: &traits,
                wants: &wants,
                actual: &self.actual,
                links: &self.links,
                protected: &self.protected,
            };
            match threads {
                Some(n) => diff_on(&input, n),
                None => diff(&input),
            }
        }

        fn plan(&self) -> PlatformPlan {
            self.plan_on(None)
        }
    }

    #[test]
    fn a_leavers_unlinked_account_is_adopted_and_deactivated_in_one_step() {
        let plan = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]).leaver("p1", "ana@x.com").plan();
        assert_eq!(plan.steps.len(), 1, "{plan:?}");
        let step = &plan.steps[0];
        assert_eq!((step.action, step.adopt, step.account_id.as_deref()), (Action::Deactivate, true, Some("7")));
        assert!(step.reason.as_deref().is_some_and(|r| r.contains("inactive at the source") && r.contains("adopted")));
        assert!(plan.conflicts.is_empty());
    }

    #[test]
    fn plainly_inactive_or_out_of_scope_people_leave_unlinked_accounts_alone() {
        let mut world = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]);
        world.excluded.insert("p1".into(), Exclusion::Inactive);
        world.excluded.insert("p2".into(), Exclusion::OutOfScope("not in scope".into()));
        assert!(world.plan().steps.is_empty());
    }

    #[test]
    fn two_candidate_accounts_are_a_conflict_and_no_write() {
        let actual =
            vec![account("7", "ana@x.com", AccountStatus::Active), account("8", "Ana@X.com", AccountStatus::Active)];
        let plan = World::new(actual).leaver("p1", "ana@x.com").plan();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(plan.conflicts.len(), 1);
        assert!(plan.conflicts[0].reason.contains("7, 8"), "{}", plan.conflicts[0].reason);
    }

    #[test]
    fn only_active_unowned_unprotected_accounts_are_candidates() {
        // One inactive account and one active: the active one is the only candidate.
        let actual =
            vec![account("7", "ana@x.com", AccountStatus::Inactive), account("8", "Ana@x.com", AccountStatus::Active)];
        let plan = World::new(actual).leaver("p1", "ana@x.com").plan();
        assert_eq!(plan.steps[0].account_id.as_deref(), Some("8"));
        // Linked to another person: theirs, not the leaver's.
        let mut owned = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]).leaver("p1", "ana@x.com");
        owned.links.insert("p9".into(), Link { account_id: "7".into(), origin: LinkOrigin::Created, removed: false });
        owned.excluded.insert("p9".into(), Exclusion::Unmappable("x".into()));
        assert!(owned.plan().steps.is_empty());
        // Protected: a note, never a step.
        let mut protected =
            World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]).leaver("p1", "ana@x.com");
        protected.protected.insert("ana@x.com".into());
        let plan = protected.plan();
        assert!(plan.steps.is_empty());
        assert!(plan.notes.iter().any(|n| n.contains("protected")));
    }

    #[test]
    fn a_linked_leaver_is_removed_through_the_link_once() {
        let mut world = World::new(vec![
            account("7", "ana@x.com", AccountStatus::Active),
            account("8", "ana.old@x.com", AccountStatus::Active),
        ])
        .leaver("p1", "ana@x.com");
        world.links.insert("p1".into(), Link { account_id: "8".into(), origin: LinkOrigin::Created, removed: false });
        let plan = world.plan();
        let ids: Vec<_> = plan.steps.iter().map(|s| (s.account_id.as_deref(), s.adopt)).collect();
        assert_eq!(ids, [(Some("8"), false)]);
    }

    #[test]
    fn a_key_an_active_person_maps_to_is_left_to_them_and_two_leavers_on_one_key_conflict() {
        let mut world = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]).leaver("p1", "ana@x.com");
        world.desired.push(wanted("p2", "ana@x.com"));
        let plan = world.plan();
        let steps: Vec<_> = plan.steps.iter().map(|s| (s.person_id.as_str(), s.action)).collect();
        assert_eq!(steps, [("p2", Action::Link)]);
        assert!(plan.notes.iter().any(|n| n.contains("left to them")));
        let twins = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)])
            .leaver("p1", "ana@x.com")
            .leaver("p2", "ana@x.com");
        let plan = twins.plan();
        assert!(plan.steps.is_empty());
        let people: Vec<&str> = plan.conflicts.iter().map(|c| c.person_id.as_str()).collect();
        assert_eq!(people, ["p1", "p2"]);
    }

    #[test]
    fn a_link_to_an_account_no_longer_listed_does_not_keep_another_account_open() {
        let mut world = World::new(vec![account("7", "ana@x.com", AccountStatus::Active)]).leaver("p1", "ana@x.com");
        world.links.insert("p1".into(), Link { account_id: "8".into(), origin: LinkOrigin::Created, removed: false });
        let plan = world.plan();
        let steps: Vec<_> = plan.steps.iter().map(|s| (s.account_id.as_deref(), s.adopt)).collect();
        assert_eq!(steps, [(Some("7"), true)]);
        // A link to a listed account decides alone: moving it would free that account.
        world.actual.push(account("8", "ana.old@x.com", AccountStatus::Inactive));
        assert!(world.plan().steps.is_empty());
    }

    #[test]
    fn leavers_plan_the_same_on_any_number_of_threads() {
        let n = 20_000;
        let actual: Vec<Account> =
            (0..n).map(|i| account(&i.to_string(), &format!("p{i}@x.com"), AccountStatus::Active)).collect();
        let mut world = World::new(actual);
        for i in (0..n).filter(|i| i % 7 == 0) {
            world = world.leaver(&format!("q{i:05}"), &format!("p{i}@x.com"));
        }
        world.desired = (0..n)
            .filter(|i| i % 7 != 0 || i % 91 == 0)
            .map(|i| wanted(&format!("w{i:05}"), &format!("p{i}@x.com")))
            .collect();
        let one = world.plan_on(Some(1));
        assert!(one.steps.iter().any(|s| s.adopt && s.action == Action::Deactivate));
        assert!(one.notes.iter().any(|n| n.contains("left to them")));
        let json = |p: &PlatformPlan| serde_json::to_string(p).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(json(&one), json(&world.plan_on(Some(threads))), "{threads} threads");
        }
    }
}
