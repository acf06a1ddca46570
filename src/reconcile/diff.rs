//! The diff: a pure function from (desired, actual, links, protection) to a platform plan.
//!
//! No I/O and no clock: the same inputs give the same plan, byte for byte. Links decide
//! first, the match key second; a key two people share is a conflict for both, never a
//! merge; and access is removed only from accounts rosterd has linked.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use compact_str::CompactString;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

mod leaver;

use leaver::{plan_leaver, settle_leaver_keys};

mod index;
use index::{hash_of, Actual, LinkAt};

use super::plan::{Action, Conflict, PlatformPlan, Step};
use crate::model::{Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
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

/// What each roster person should have on one platform, asked person by person, so that
/// a million desired accounts are never held at once: the diff asks for a person's
/// account, plans it, and drops it.
pub trait Wants: Sync {
    /// How many people there are; each is asked for by its index, `0..len()`.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn person_id(&self, i: usize) -> &str;

    /// The person's desired account, or why they have none.
    fn account(&self, i: usize) -> Result<DesiredAccount, Exclusion>;
}

/// Below this many records a second thread costs more than it saves.
const PER_THREAD: usize = 8192;

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
            Err(clash) => return plan.conflicts.push(conflict(d, &clash.to_string())),
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
fn find_by_key<'a>(actual: &Actual<'a>, d: &DesiredAccount) -> Result<Option<&'a Account>, KeyClash> {
    if let Some(candidates) = actual.shared_key.get(d.key.as_str()) {
        let ids: Vec<&str> = candidates.iter().map(|&i| actual.accounts[i as usize].id.as_str()).collect();
        return Err(KeyClash::Shared { ids: ids.join(", ") });
    }
    let Some((position, account)) = actual.by_key(&d.key) else { return Ok(None) };
    match actual.owner(position) {
        Some(other) if other != d.person_id => {
            Err(KeyClash::LinkedElsewhere { account: account.id.to_string(), other: other.to_string() })
        }
        _ => Ok(Some(account)),
    }
}

/// Why a person's key cannot pick an account to adopt: the plan's conflict says it.
#[derive(Debug, thiserror::Error)]
enum KeyClash {
    #[error("several accounts carry this key ({ids}); a person must choose")]
    Shared { ids: String },
    #[error("account {account} with this key is linked to another person ({other})")]
    LinkedElsewhere { account: String, other: String },
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
        plan.steps.push(deactivate_step(person_id, account, false, reason));
    }
}

/// The one shape of a removal: the account's status goes from active to inactive.
/// `adopt` marks an account rosterd had not linked (a leaver's, see `leaver`).
fn deactivate_step(person_id: &str, account: &Account, adopt: bool, reason: String) -> Step {
    Step {
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
        adopt,
        reason: Some(reason),
        held: None,
    }
}

#[cfg(test)]
mod tests;
