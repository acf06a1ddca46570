//! The diff: a pure function from (desired, actual, links, protection) to a platform plan.
//!
//! No I/O and no clock: the same inputs give the same plan, byte for byte. Links decide
//! first, the match key second; a key two people share is a conflict for both, never a
//! merge; and access is removed only from accounts rosterd has linked.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet, FxHasher};

mod leaver;

use leaver::{plan_leaver, settle_leaver_keys};

use super::desired::Wants;
use super::plan::{Action, Conflict, PlatformPlan, Step};
use crate::model::{normalize_key, Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
use crate::platform::Traits;

/// Defined below both the diff and the store, which keeps them.
pub use crate::records::link::{Link, LinkOrigin};

/// Why a roster person has no desired account on a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// `active` is false at the source: access goes.
    Inactive,
    /// `active` is false at the source, yet the scope and the role rules still take the
    /// person in: access goes, and an account on this match key that rosterd never linked
    /// is adopted to take it away (a leaver whose account existed before rosterd).
    Leaver(CompactString),
    /// The scope filter or the role rules leave the person out: access goes.
    OutOfScope(Arc<str>),
    /// The person cannot be mapped (no email, a bad template): leave everything as it is.
    Unmappable(String),
}

/// Everything the diff looks at for one platform.
pub struct DiffInput<'a> {
    pub platform: &'a str,
    pub traits: &'a Traits,
    /// What each roster person should have here, asked person by person.
    pub wants: &'a dyn Wants,
    pub actual: &'a [Account],
    /// person id → link.
    pub links: &'a BTreeMap<String, Link>,
    /// Match keys and account ids that rosterd never touches.
    pub protected: &'a BTreeSet<String>,
}

/// Indexes over the listing and the links (the index by account id is only needed to
/// find each link's account, and is dropped once it has). Each holds 4-byte positions in a hash table
/// keyed by a string it does not copy: at a million records an index costs ~10 MB where a
/// map of borrowed strings cost ~50 MB.
struct Actual<'a> {
    accounts: &'a [Account],
    /// normalised key → position, for keys that exactly one account carries.
    by_key: HashTable<u32>,
    /// Keys that several accounts carry, with all their positions (rare: a separate small map).
    shared_key: HashMap<Cow<'a, str>, Vec<u32>>,
    /// The links in person-id order, each with its listed account found once, up front.
    links: Vec<LinkAt<'a>>,
    /// person id → position in `links`.
    link_of: HashTable<u32>,
    /// account position → the first link (in `links` order) to that account, or `NONE`.
    owner_of: Vec<u32>,
}

/// A link and where its account is in the listing (`NONE`: not listed). The person id is
/// held by a thin reference: 24 bytes a link, not 32.
struct LinkAt<'a> {
    person: &'a String,
    link: &'a Link,
    account: u32,
}

const NONE: u32 = u32::MAX;

fn hash_of(text: &str) -> u64 {
    let mut hasher = FxHasher::default();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Index `items` by `key_of`: a table of positions.
fn index_by<'k, T>(items: &'k [T], key_of: impl Fn(&'k T) -> &'k str) -> HashTable<u32> {
    let mut table = HashTable::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        table.insert_unique(hash_of(key_of(item)), i as u32, |&j| hash_of(key_of(&items[j as usize])));
    }
    table
}

impl<'a> Actual<'a> {
    /// The account indexes and the link index are independent: built side by side. Then
    /// every link finds its account once, across the cores, so planning a person costs one
    /// lookup, not two.
    fn index(actual: &'a [Account], links: &'a BTreeMap<String, Link>, threads: usize) -> Self {
        let index_links = || {
            let links: Vec<LinkAt<'a>> =
                links.iter().map(|(person, link)| LinkAt { person, link, account: NONE }).collect();
            let link_of = index_by(&links, |l| l.person);
            (links, link_of)
        };
        let index_accounts = || (index_by(actual, |a| a.id.as_str()), index_keys(actual));
        let ((by_id, (by_key, shared_key)), (mut links, link_of)) = if threads <= 1 {
            (index_accounts(), index_links())
        } else {
            std::thread::scope(|scope| {
                let links_done = scope.spawn(index_links);
                let accounts = index_accounts();
                (accounts, links_done.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            })
        };
        let owner: Vec<AtomicU32> = actual.iter().map(|_| AtomicU32::new(NONE)).collect();
        let found: Vec<AtomicU32> = links.iter().map(|_| AtomicU32::new(NONE)).collect();
        let resolve = |range: std::ops::Range<usize>| {
            for at in range {
                let id = links[at].link.account_id.as_str();
                if let Some(&i) = by_id.find(hash_of(id), |&i| actual[i as usize].id == id) {
                    found[at].store(i, Ordering::Relaxed);
                    owner[i as usize].fetch_min(at as u32, Ordering::Relaxed);
                }
            }
        };
        super::chunks::map_ranges(links.len(), threads, resolve);
        drop(by_id);
        for (link, account) in links.iter_mut().zip(found) {
            link.account = account.into_inner();
        }
        let owner_of = owner.into_iter().map(AtomicU32::into_inner).collect();
        Actual { accounts: actual, by_key, shared_key, links, link_of, owner_of }
    }

    fn link_position(&self, person_id: &str) -> Option<usize> {
        let links = &self.links;
        self.link_of.find(hash_of(person_id), |&i| links[i as usize].person == person_id).map(|&i| i as usize)
    }

    /// The listed account of the link at `at`, if it is listed.
    fn linked_account(&self, at: usize) -> Option<&'a Account> {
        let account = self.links[at].account;
        (account != NONE).then(|| &self.accounts[account as usize])
    }

    /// The person linked to the account at position `account`, if any.
    fn owner(&self, account: usize) -> Option<&'a str> {
        let at = self.owner_of[account];
        (at != NONE).then(|| self.links[at as usize].person.as_str())
    }

    /// The one account whose normalised key is `key`, if exactly one has it, and its position.
    fn by_key(&self, key: &str) -> Option<(usize, &'a Account)> {
        let accounts = self.accounts;
        self.by_key
            .find(hash_of(key), |&i| normalized(&accounts[i as usize].key) == key)
            .map(|&i| (i as usize, &accounts[i as usize]))
    }
}

/// Index accounts by normalised key; a key several accounts carry goes to the shared map.
fn index_keys(actual: &[Account]) -> (HashTable<u32>, HashMap<Cow<'_, str>, Vec<u32>>) {
    let key_at = |i: u32| normalized(&actual[i as usize].key);
    let mut by_key: HashTable<u32> = HashTable::with_capacity(actual.len());
    let mut shared_key: HashMap<Cow<'_, str>, Vec<u32>> = HashMap::default();
    for (i, a) in actual.iter().enumerate() {
        let key = normalized(&a.key);
        if let Some(others) = shared_key.get_mut(&key) {
            others.push(i as u32);
            continue;
        }
        let hash = hash_of(&key);
        match by_key.find_entry(hash, |&j| key_at(j) == key) {
            Ok(first) => {
                let (j, _) = first.remove();
                shared_key.insert(key, vec![j, i as u32]);
            }
            Err(_) => {
                by_key.insert_unique(hash, i as u32, |&j| hash_of(&key_at(j)));
            }
        }
    }
    (by_key, shared_key)
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
    diff_on(input, super::chunks::threads_for(input.wants.len() + input.actual.len(), PER_THREAD))
}

fn diff_on(input: &DiffInput<'_>, threads: usize) -> PlatformPlan {
    let actual = Actual::index(input.actual, input.links, threads);
    let wanted_links: Vec<AtomicBool> = actual.links.iter().map(|_| AtomicBool::new(false)).collect();
    let (mut plan, unwanted_people) = plan_people(input, &actual, &wanted_links, threads);
    plan_removals(input, &actual, &wanted_links, &unwanted_people, &mut plan);
    plan
}

/// What planning a run of people gives: the plan's parts, the notes by person, and every
/// planned person's key hash, for finding keys that more than one person maps to.
struct Part {
    plan: PlatformPlan,
    notes: Vec<(CompactString, String)>,
    keys: Vec<(KeyHash, u32)>,
    /// The people with no account here, for the reasons removals give.
    unwanted: Vec<u32>,
    /// Leavers whose unlinked account this part adopts to remove, with their key hash.
    leavers: Vec<(KeyHash, u32)>,
}

/// 32 bits of a key's hash: eight bytes a person with its index. A million keys repeat
/// some hashes by chance; those people are mapped once more and their keys compared.
type KeyHash = u32;

/// Every wanted person, in chunks across the cores, in one pass: each person is mapped,
/// planned and dropped. A key two people share makes both of them conflicts; that is only
/// known once everyone is mapped, so whatever was planned for them is taken back then.
/// The plan lists people in person-id order (what makes it byte-identical run to run):
/// only what was planned is sorted, by a stable sort, as if the people had been walked in
/// that order.
fn plan_people(
    input: &DiffInput<'_>,
    actual: &Actual<'_>,
    wanted_links: &[AtomicBool],
    threads: usize,
) -> (PlatformPlan, Vec<u32>) {
    let plan_range = |range: std::ops::Range<usize>| {
        let mut part = Part {
            plan: PlatformPlan::new(input.platform),
            notes: Vec::new(),
            keys: Vec::new(),
            unwanted: Vec::new(),
            leavers: Vec::new(),
        };
        for i in range {
            let d = match input.wants.account(i) {
                Ok(d) => d,
                Err(why) => {
                    if let Exclusion::Leaver(key) = why {
                        plan_leaver(input, actual, i, &key, &mut part);
                    }
                    part.unwanted.push(i as u32);
                    continue;
                }
            };
            part.keys.push((hash_of(&d.key) as KeyHash, i as u32));
            let link = actual.link_position(&d.person_id);
            if let Some(at) = link {
                wanted_links[at].store(true, Ordering::Relaxed);
            }
            plan_person(input, actual, &d, link, &mut part.plan);
            part.notes.extend(part.plan.notes.drain(..).map(|n| (d.person_id.clone(), n)));
        }
        part
    };
    let parts = super::chunks::map_ranges(input.wants.len(), threads, plan_range);
    let mut plan = PlatformPlan::new(input.platform);
    let mut notes = Vec::new();
    let mut keys = Vec::with_capacity(parts.iter().map(|p| p.keys.len()).sum());
    let mut unwanted = Vec::with_capacity(parts.iter().map(|p| p.unwanted.len()).sum());
    let mut leavers = Vec::new();
    for part in parts {
        unwanted.extend(part.unwanted);
        leavers.extend(part.leavers);
        plan.steps.extend(part.plan.steps);
        plan.conflicts.extend(part.plan.conflicts);
        notes.extend(part.notes);
        keys.extend(part.keys);
    }
    if !leavers.is_empty() {
        settle_leaver_keys(input.wants, &keys, &leavers, &mut plan, &mut notes);
    }
    let sharing = people_sharing_keys(input.wants, keys);
    if !sharing.is_empty() {
        let ids: HashSet<&str> = sharing.iter().map(|d| d.person_id.as_str()).collect();
        plan.steps.retain(|s| !ids.contains(s.person_id.as_str()));
        plan.conflicts.retain(|c| !ids.contains(c.person_id.as_str()));
        notes.retain(|(person, _)| !ids.contains(person.as_str()));
        plan.conflicts.extend(sharing.iter().map(|d| {
            conflict(
                d,
                "another person in the roster has the same match key; fix the source so each key belongs to one person",
            )
        }));
    }
    plan.steps.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    plan.conflicts.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    notes.sort_by(|a, b| a.0.cmp(&b.0));
    plan.notes = notes.into_iter().map(|(_, n)| n).collect();
    (plan, unwanted)
}

/// The wanted people whose key another wanted person also has, in roster order. Keys are
/// compared by hash first and then, for the few whose hashes repeat, by the keys
/// themselves, so a hash collision is never taken for a shared key.
fn people_sharing_keys(wants: &dyn Wants, mut keys: Vec<(KeyHash, u32)>) -> Vec<DesiredAccount> {
    keys.sort_unstable();
    let mut suspects: Vec<u32> = Vec::new();
    for run in keys.chunk_by(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        suspects.extend(run.iter().map(|(_, i)| *i));
    }
    drop(keys);
    suspects.sort_unstable();
    let accounts: Vec<DesiredAccount> = suspects.iter().filter_map(|&i| wants.account(i as usize).ok()).collect();
    let mut count: HashMap<&str, usize> = HashMap::default();
    for d in &accounts {
        *count.entry(d.key.as_str()).or_default() += 1;
    }
    let shared: HashSet<String> = count.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k.to_string()).collect();
    accounts.into_iter().filter(|d| shared.contains(d.key.as_str())).collect()
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
/// `link` is the position of the person's link in `actual.links`, if they have one.
fn plan_person(
    input: &DiffInput<'_>,
    actual: &Actual<'_>,
    d: &DesiredAccount,
    link: Option<usize>,
    plan: &mut PlatformPlan,
) {
    let linked = link.and_then(|at| actual.linked_account(at));
    let link = link.map(|at| actual.links[at].link);
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
        let ids: Vec<&str> = candidates.iter().map(|&i| actual.accounts[i as usize].id.as_str()).collect();
        return Err(format!("several accounts carry this key ({}); a person must choose", ids.join(", ")));
    }
    let Some((position, account)) = actual.by_key(&d.key) else { return Ok(None) };
    match actual.owner(position) {
        Some(other) if other != d.person_id => {
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
/// `unwanted_people` are the roster people with no account here (by index): a linked
/// person who is neither wanted nor among them has left the roster.
fn plan_removals(
    input: &DiffInput<'_>,
    actual: &Actual<'_>,
    wanted_links: &[AtomicBool],
    unwanted_people: &[u32],
    plan: &mut PlatformPlan,
) {
    let unwanted: Vec<(usize, &LinkAt<'_>)> =
        actual.links.iter().enumerate().filter(|(at, _)| !wanted_links[*at].load(Ordering::Relaxed)).collect();
    if unwanted.is_empty() {
        return;
    }
    // Why each of them is not wanted: asked again, only for them.
    let mut why: HashMap<&str, Option<Exclusion>> = unwanted.iter().map(|(_, l)| (l.person.as_str(), None)).collect();
    for &i in unwanted_people {
        if let Some(slot) = why.get_mut(input.wants.person_id(i as usize)) {
            *slot = input.wants.account(i as usize).err();
        }
    }
    for (at, LinkAt { person: person_id, .. }) in unwanted {
        let Some(account) = actual.linked_account(at) else { continue };
        if account.status == AccountStatus::Inactive {
            continue;
        }
        let reason = match why.get(person_id.as_str()).and_then(Option::as_ref) {
            Some(Exclusion::Unmappable(_)) => continue,
            Some(Exclusion::Inactive | Exclusion::Leaver(_)) => "inactive at the source".to_string(),
            Some(Exclusion::OutOfScope(why)) => format!("out of scope: {why}"),
            None => "no longer in the roster".to_string(),
        };
        if is_protected(input, &account.key, Some(&account.id)) {
            plan.notes.push(format!("{}: protected account {} keeps its access", account.key, account.id));
            continue;
        }
        plan.steps.push(Step {
            action: Action::Deactivate,
            person_id: person_id.to_string(),
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
}
