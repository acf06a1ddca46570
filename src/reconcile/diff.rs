//! The diff: a pure function from (desired, actual, links, protection) to a platform plan.
//!
//! No I/O and no clock: the same inputs give the same plan, byte for byte. Links decide
//! first, the match key second; a key two people share is a conflict for both, never a
//! merge; and access is removed only from accounts rosterd has linked.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::plan::{Action, Conflict, PlatformPlan, Step};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
use crate::platform::Traits;

/// How rosterd came to own an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkOrigin {
    Created,
    Adopted,
}

/// A person's account on one platform, as rosterd remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub account_id: CompactString,
    pub origin: LinkOrigin,
    /// rosterd removed this account's access (and has not restored it since). Platforms
    /// whose listing cannot show it (Affise lock-out) take the account's status from here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// Why a roster person has no desired account on a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// `active` is false at the source: access goes.
    Inactive,
    /// The scope filter or the role rules leave the person out: access goes.
    OutOfScope(String),
    /// The person cannot be mapped (no email, a bad template): leave everything as it is.
    Unmappable(String),
}

/// Everything the diff looks at for one platform.
pub struct DiffInput<'a> {
    pub platform: &'a str,
    pub traits: &'a Traits,
    pub desired: &'a [DesiredAccount],
    /// Roster people with no desired account here, and why.
    pub excluded: &'a BTreeMap<String, Exclusion>,
    pub actual: &'a [Account],
    /// person id → link.
    pub links: &'a BTreeMap<String, Link>,
    /// Match keys and account ids that rosterd never touches.
    pub protected: &'a BTreeSet<String>,
}

/// Index of the actual accounts, by id and by normalised key, and of the links.
struct Actual<'a> {
    by_id: HashMap<&'a str, &'a Account>,
    /// Keys that exactly one account carries (the common case: no allocation per key).
    by_key: HashMap<Cow<'a, str>, &'a Account>,
    /// Keys that several accounts carry, with all of them.
    shared_key: HashMap<Cow<'a, str>, Vec<&'a Account>>,
    /// person id → link: a hash lookup per person instead of a walk down a B-tree.
    link_of: HashMap<&'a str, &'a Link>,
    /// account id → person id, for every link (only ids of listed accounts are looked up).
    owner: HashMap<&'a str, &'a str>,
}

impl<'a> Actual<'a> {
    /// The account indexes and the link indexes are independent: built side by side.
    fn index(actual: &'a [Account], links: &'a BTreeMap<String, Link>) -> Self {
        let index_links = || {
            let mut link_of = HashMap::with_capacity_and_hasher(links.len(), Default::default());
            let mut owner = HashMap::with_capacity_and_hasher(links.len(), Default::default());
            for (person, link) in links {
                link_of.insert(person.as_str(), link);
                owner.insert(link.account_id.as_str(), person.as_str());
            }
            (link_of, owner)
        };
        let ((by_id, by_key, shared_key), (link_of, owner)) = if actual.len() + links.len() < PER_THREAD {
            (index_accounts(actual), index_links())
        } else {
            std::thread::scope(|scope| {
                let links_done = scope.spawn(index_links);
                let accounts = index_accounts(actual);
                (accounts, links_done.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            })
        };
        Actual { by_id, by_key, shared_key, link_of, owner }
    }
}

type AccountIndexes<'a> =
    (HashMap<&'a str, &'a Account>, HashMap<Cow<'a, str>, &'a Account>, HashMap<Cow<'a, str>, Vec<&'a Account>>);

fn index_accounts(actual: &[Account]) -> AccountIndexes<'_> {
    let mut by_id: HashMap<&str, &Account> = HashMap::with_capacity_and_hasher(actual.len(), Default::default());
    let mut by_key: HashMap<Cow<'_, str>, &Account> =
        HashMap::with_capacity_and_hasher(actual.len(), Default::default());
    let mut shared_key: HashMap<Cow<'_, str>, Vec<&Account>> = HashMap::default();
    for a in actual {
        by_id.insert(a.id.as_str(), a);
        let key = normalized(&a.key);
        if let Some(others) = shared_key.get_mut(&key) {
            others.push(a);
        } else if let Some(first) = by_key.remove(&key) {
            shared_key.insert(key, vec![first, a]);
        } else {
            by_key.insert(key, a);
        }
    }
    (by_id, by_key, shared_key)
}

/// Below this many records a second thread costs more than it saves.
const PER_THREAD: usize = 8192;

/// `key` normalised, borrowed when it already is (connectors hand keys over normalised).
fn normalized(key: &str) -> Cow<'_, str> {
    let clean = key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        && !key.starts_with(|c: char| c.is_whitespace())
        && !key.ends_with(|c: char| c.is_whitespace());
    if clean {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(normalize_key(key).into())
    }
}

/// Plan one platform.
pub fn diff(input: &DiffInput<'_>) -> PlatformPlan {
    let actual = Actual::index(input.actual, input.links);
    let shared = shared_keys(input.desired);
    let mut plan = plan_people(input, &actual, &shared);
    plan_removals(input, &actual, &mut plan);
    plan
}

/// Every desired person, in chunks across the cores. The plan lists people in person-id
/// order (what makes it byte-identical run to run): only what was planned is sorted, by a
/// stable sort, so it comes out as if the people had been walked in that order.
fn plan_people(input: &DiffInput<'_>, actual: &Actual<'_>, shared: &BTreeSet<&str>) -> PlatformPlan {
    plan_people_on(input, actual, shared, super::chunks::threads_for(input.desired.len(), PER_THREAD))
}

fn plan_people_on(input: &DiffInput<'_>, actual: &Actual<'_>, shared: &BTreeSet<&str>, threads: usize) -> PlatformPlan {
    let plan_chunk = |chunk: &[DesiredAccount]| {
        let mut part = PlatformPlan::new(input.platform);
        let mut notes: Vec<(CompactString, String)> = Vec::new();
        for d in chunk {
            if shared.contains(d.key.as_str()) {
                part.conflicts.push(conflict(
                    d,
                    "another person in the roster has the same match key; fix the source so each key belongs to one person",
                ));
                continue;
            }
            plan_person(input, actual, d, &mut part);
            notes.extend(part.notes.drain(..).map(|n| (d.person_id.clone(), n)));
        }
        (part, notes)
    };
    let parts = super::chunks::map_chunks(input.desired, threads, plan_chunk);
    let mut plan = PlatformPlan::new(input.platform);
    let mut notes = Vec::new();
    for (part, part_notes) in parts {
        plan.steps.extend(part.steps);
        plan.conflicts.extend(part.conflicts);
        notes.extend(part_notes);
    }
    plan.steps.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    plan.conflicts.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    notes.sort_by(|a, b| a.0.cmp(&b.0));
    plan.notes = notes.into_iter().map(|(_, n)| n).collect();
    plan
}

/// Keys that more than one desired person maps to.
fn shared_keys(desired: &[DesiredAccount]) -> BTreeSet<&str> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity_and_hasher(desired.len(), Default::default());
    for d in desired {
        *seen.entry(d.key.as_str()).or_default() += 1;
    }
    seen.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect()
}

fn conflict(d: &DesiredAccount, reason: &str) -> Conflict {
    Conflict {
        person_id: d.person_id.as_str().into(),
        label: d.label.as_str().into(),
        key: d.key.as_str().into(),
        reason: reason.to_string(),
    }
}

fn is_protected(input: &DiffInput<'_>, key: &str, account_id: Option<&str>) -> bool {
    input.protected.contains(key) || account_id.is_some_and(|id| input.protected.contains(id))
}

/// One desired person: update the linked account, adopt a matching one, or create.
fn plan_person(input: &DiffInput<'_>, actual: &Actual<'_>, d: &DesiredAccount, plan: &mut PlatformPlan) {
    let link = actual.link_of.get(d.person_id.as_str()).copied();
    let linked = link.and_then(|l| actual.by_id.get(l.account_id.as_str()).copied());
    if let (Some(l), None, false) = (link, linked, input.traits.recreate_removed) {
        let why = format!("account {} was removed and no longer lists; this platform cannot restore it and keeps its name taken: a person must resolve it", l.account_id);
        return plan.conflicts.push(conflict(d, &why));
    }
    let (account, adopt) = match linked {
        Some(a) => (a, false),
        None => match find_by_key(actual, d) {
            Ok(Some(a)) => (a, true),
            Ok(None) => {
                if is_protected(input, &d.key, None) {
                    plan.notes.push(format!("{}: protected, not created", d.label));
                } else {
                    plan.steps.push(create_step(d));
                }
                return;
            }
            Err(reason) => return plan.conflicts.push(conflict(d, &reason)),
        },
    };
    if is_protected(input, &d.key, Some(&account.id)) || is_protected(input, &account.key, None) {
        plan.notes.push(format!("{}: protected account {} left untouched", d.label, account.id));
        return;
    }
    if let Some(step) = converge_step(input.traits, d, account, adopt, plan) {
        plan.steps.push(step);
    } else if account.status == AccountStatus::Inactive && !input.traits.can_reactivate {
        plan.conflicts.push(conflict(
            d,
            &format!("account {} is removed and the platform cannot restore it; a person must resolve it", account.id),
        ));
    }
}

/// The unlinked account that carries the person's key, if exactly one does.
fn find_by_key<'a>(actual: &Actual<'a>, d: &DesiredAccount) -> Result<Option<&'a Account>, String> {
    if let Some(candidates) = actual.shared_key.get(d.key.as_str()) {
        let ids: Vec<&str> = candidates.iter().map(|a| a.id.as_str()).collect();
        return Err(format!("several accounts carry this key ({}); a person must choose", ids.join(", ")));
    }
    let Some(&account) = actual.by_key.get(d.key.as_str()) else { return Ok(None) };
    match actual.owner.get(account.id.as_str()) {
        Some(other) if *other != d.person_id => {
            Err(format!("account {} with this key is linked to another person ({other})", account.id))
        }
        _ => Ok(Some(account)),
    }
}

fn create_step(d: &DesiredAccount) -> Step {
    let mut changes: Vec<FieldChange> = d
        .fields
        .iter()
        .map(|(f, v)| FieldChange { field: f.as_str().into(), before: None, after: Some(v.as_str().into()) })
        .collect();
    if let Some(role) = &d.role {
        changes.push(FieldChange { field: ROLE_FIELD.into(), before: None, after: Some(role.as_str().into()) });
    }
    Step {
        action: Action::Create,
        person_id: d.person_id.as_str().into(),
        label: d.label.as_str().into(),
        key: d.key.as_str().into(),
        account_id: None,
        changes,
        adopt: false,
        reason: None,
        held: None,
    }
}

/// The step that makes `account` match `d`, or none when it already does.
fn converge_step(
    traits: &Traits,
    d: &DesiredAccount,
    account: &Account,
    adopt: bool,
    plan: &mut PlatformPlan,
) -> Option<Step> {
    let mut changes = field_changes(traits, d, account);
    if let Some(refused) = refused_role_change(traits, &changes) {
        changes.retain(|c| c.field != ROLE_FIELD);
        plan.conflicts.push(conflict(d, &refused));
    }
    let inactive = account.status == AccountStatus::Inactive;
    let action = match (inactive, changes.is_empty()) {
        (true, _) if traits.can_reactivate => Action::Reactivate,
        (true, _) => return None,
        (false, false) => Action::Update,
        (false, true) if adopt => Action::Link,
        (false, true) => return None,
    };
    Some(Step {
        action,
        person_id: d.person_id.as_str().into(),
        label: d.label.as_str().into(),
        key: d.key.as_str().into(),
        account_id: Some(account.id.as_str().into()),
        changes,
        adopt,
        reason: None,
        held: None,
    })
}

/// Why the plan's role change may not be sent, if it may not.
fn refused_role_change(traits: &Traits, changes: &[FieldChange]) -> Option<String> {
    let c = changes.iter().find(|c| c.field == ROLE_FIELD)?;
    let (from, to) = (c.before.as_deref()?, c.after.as_deref()?);
    (traits.role_change)(from, to).err().map(|why| format!("role {from:?} -> {to:?} not sent: {why}"))
}

/// Desired fields that differ from the account; the key field and the role compare
/// case-insensitively because platforms do.
pub fn field_changes(traits: &Traits, d: &DesiredAccount, account: &Account) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    for (field, want) in &d.fields {
        let have = account.fields.get(field);
        let same = match have {
            Some(h) if field == traits.key_field => h.trim().eq_ignore_ascii_case(want.trim()),
            Some(h) => h == want,
            None => false,
        };
        if !same {
            changes.push(FieldChange {
                field: field.as_str().into(),
                before: have.map(|h| h.as_str().into()),
                after: Some(want.as_str().into()),
            });
        }
    }
    if let Some(want) = &d.role {
        if !account.role.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(want)) {
            changes.push(FieldChange {
                field: ROLE_FIELD.into(),
                before: account.role.as_deref().map(String::from),
                after: Some(want.as_str().into()),
            });
        }
    }
    changes
}

/// Linked people with no desired account lose access, if their account is still active.
fn plan_removals(input: &DiffInput<'_>, actual: &Actual<'_>, plan: &mut PlatformPlan) {
    let desired: HashSet<&str> = input.desired.iter().map(|d| d.person_id.as_str()).collect();
    for (person_id, link) in input.links {
        if desired.contains(person_id.as_str()) {
            continue;
        }
        let reason = match input.excluded.get(person_id) {
            Some(Exclusion::Unmappable(_)) => continue,
            Some(Exclusion::Inactive) => "inactive at the source".to_string(),
            Some(Exclusion::OutOfScope(why)) => format!("out of scope: {why}"),
            None => "no longer in the roster".to_string(),
        };
        let Some(account) = actual.by_id.get(link.account_id.as_str()) else { continue };
        if account.status == AccountStatus::Inactive {
            continue;
        }
        if is_protected(input, &account.key, Some(&account.id)) {
            plan.notes.push(format!("{}: protected account {} keeps its access", account.key, account.id));
            continue;
        }
        plan.steps.push(Step {
            action: Action::Deactivate,
            person_id: person_id.clone(),
            label: account.key.as_str().into(),
            key: account.key.as_str().into(),
            account_id: Some(account.id.as_str().into()),
            changes: vec![FieldChange {
                field: "status".into(),
                before: Some("active".into()),
                after: Some("inactive".into()),
            }],
            adopt: false,
            reason: Some(reason),
            held: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountStatus;

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
        diff(&DiffInput { platform: "p", traits, desired, excluded: &excluded, actual, links, protected: &protected })
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
        let excluded = BTreeMap::new();
        let traits = Traits::new("email");
        let input = DiffInput {
            platform: "p",
            traits: &traits,
            desired: &desired,
            excluded: &excluded,
            actual: &actual,
            links: &links,
            protected: &protected,
        };
        let index = Actual::index(&actual, &links);
        let shared = shared_keys(&desired);
        let one = plan_people_on(&input, &index, &shared, 1);
        assert!(!one.steps.is_empty() && !one.conflicts.is_empty() && !one.notes.is_empty());
        let json = |p: &PlatformPlan| serde_json::to_string(p).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(json(&plan_people_on(&input, &index, &shared, threads)), json(&one), "{threads} threads");
        }
        let ordered: Vec<&str> = one.steps.iter().map(|s| s.person_id.as_str()).collect();
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "steps in person-id order");
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
}
