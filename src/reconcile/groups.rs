//! Group steps: which target groups rosterd creates, renames, fills, empties or deletes so
//! that the groups config selects match the source. Pure: the engine gathers the inputs
//! (`group_run.rs`) and applies the steps after the account steps.
//!
//! Ownership works as for accounts: rosterd touches a target group only when it created
//! it (its `externalId` is the source group's key) or config names it in `groups.manage`,
//! and deletes only groups it created, only with `groups.allow_delete`. A member leaves a
//! group only when the roster is complete and the person's access may go (see
//! [`MemberStates::may_remove`]), so a guard that holds a removal also holds the membership.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::conflict::Conflict;
use crate::platform::groups::{GroupPolicy, TargetGroup};
use crate::resource::{Node, Scalar};
use crate::store::{GroupLink, GroupOrigin};

/// What a group step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupAction {
    Create,
    /// Take over an existing group (rosterd's own found again, or one `groups.manage` names).
    Adopt,
    Update,
    Delete,
}

impl GroupAction {
    pub fn symbol(self) -> &'static str {
        match self {
            GroupAction::Create => "+",
            GroupAction::Adopt => "=",
            GroupAction::Update => "~",
            GroupAction::Delete => "-",
        }
    }

    /// The audit trail's `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupAction::Create => "group_create",
            GroupAction::Adopt => "group_adopt",
            GroupAction::Update => "group_update",
            GroupAction::Delete => "group_delete",
        }
    }
}

/// A member going in or out. In: by person (a new account gets its id during the run);
/// out: by the account id the group holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The person's label, else the account id.
    pub label: String,
}

/// One change to one target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStep {
    pub action: GroupAction,
    /// The source group's key: its id (`groups.value`), else its name.
    pub key: String,
    /// The name the group has after the step.
    pub display: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The target group as listed (for `If-Match` and a PUT); absent for a create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<TargetGroup>,
    /// The old name when the step renames the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename_from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<Member>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<Member>,
    /// For a create or an adoption: how rosterd owns the group once it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<GroupOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl GroupStep {
    fn new(action: GroupAction, key: &str, display: &str, group: Option<&TargetGroup>) -> GroupStep {
        GroupStep {
            action,
            key: key.into(),
            display: display.into(),
            group_id: group.map(|g| g.id.clone()),
            listed: group.cloned(),
            rename_from: None,
            add: Vec::new(),
            remove: Vec::new(),
            origin: None,
            reason: None,
        }
    }

    /// Whether the step calls the platform (an adoption with nothing to change only links).
    pub fn writes(&self) -> bool {
        self.action != GroupAction::Adopt
            || self.rename_from.is_some()
            || !self.add.is_empty()
            || !self.remove.is_empty()
    }
}

/// A source group as the roster shows it, with the people who should be its members here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub key: String,
    pub display: String,
    /// Person ids of members who should have an account on this platform.
    pub members: BTreeSet<String>,
}

/// Each element of a person's `groups`: `(key, display)`, the key being `value` when the
/// source gives one (the group's id) and the name otherwise.
pub fn groups_of<'a>(person: impl Node<'a>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(groups) = person.child("groups") else { return out };
    groups.each_element(&mut |g| {
        let value = scalar_text(g.child("value"));
        let display = scalar_text(g.child("display"));
        match (value.is_empty(), display.is_empty()) {
            (true, true) => {}
            (false, true) => out.push((value.clone(), value)),
            (true, false) => out.push((display.clone(), display)),
            (false, false) => out.push((value, display)),
        }
    });
    out
}

fn scalar_text<'a, N: Node<'a>>(node: Option<N>) -> String {
    match node.and_then(|n| n.scalar()) {
        Some(Scalar::Str(s)) => s.trim().to_string(),
        _ => String::new(),
    }
}

/// Who may be a member, and whose membership may go, on one platform this run.
#[derive(Debug, Clone, Default)]
pub struct MemberStates {
    /// People who should have an account here → their account id (`None`: created this run).
    pub wanted: BTreeMap<String, Option<String>>,
    /// Person labels, for the plan.
    pub labels: HashMap<String, String>,
    /// Linked account id → person id.
    pub owner: HashMap<String, String>,
    /// People not wanted here whose access goes this run or is gone (a runnable removal, or
    /// a removal already made): their memberships may go too.
    pub leaving: HashSet<String>,
    /// Only a complete roster removes members.
    pub complete: bool,
    /// Protected accounts (`safety.protected`, `platforms[].protected`): never added or removed.
    pub protected: HashSet<String>,
}

impl MemberStates {
    /// Whether a member account may be taken out of a group of this origin.
    pub fn may_remove(&self, account_id: &str, origin: GroupOrigin) -> bool {
        if !self.complete || self.protected.contains(account_id) {
            return false;
        }
        match self.owner.get(account_id) {
            Some(person) => self.wanted.contains_key(person) || self.leaving.contains(person),
            // An account rosterd does not manage: only its own groups are cleared of it.
            None => origin == GroupOrigin::Created,
        }
    }

    fn member(&self, person_id: &str) -> Member {
        Member {
            person_id: Some(person_id.to_string()),
            account_id: self.wanted.get(person_id).cloned().flatten(),
            label: self.labels.get(person_id).cloned().unwrap_or_else(|| person_id.to_string()),
        }
    }

    fn leaver(&self, account_id: &str) -> Member {
        let person = self.owner.get(account_id);
        let label = person.and_then(|p| self.labels.get(p)).cloned().unwrap_or_else(|| account_id.to_string());
        Member { person_id: person.cloned(), account_id: Some(account_id.to_string()), label }
    }
}

/// The groups of the roster that `policy` selects, with their wanted members.
pub fn desired_groups(
    policy: &GroupPolicy,
    people: impl Iterator<Item = (String, Vec<(String, String)>)>,
    states: &MemberStates,
) -> Vec<DesiredGroup> {
    let mut groups: BTreeMap<String, DesiredGroup> = BTreeMap::new();
    for (person_id, memberships) in people {
        for (key, display) in memberships {
            if !policy.selects(&key, &display) {
                continue;
            }
            let group =
                groups.entry(key.clone()).or_insert_with(|| DesiredGroup { key, display, members: BTreeSet::new() });
            if states.wanted.contains_key(&person_id) {
                group.members.insert(person_id.clone());
            }
        }
    }
    // By name, then id: a plan reads in the order a person looks groups up, and ids (often
    // random) still make the order total.
    let mut groups: Vec<DesiredGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| a.display.cmp(&b.display).then_with(|| a.key.cmp(&b.key)));
    groups
}

/// Everything the group plan of one platform depends on.
pub struct GroupInput<'a> {
    pub policy: &'a GroupPolicy,
    pub desired: &'a [DesiredGroup],
    pub target: &'a [TargetGroup],
    pub links: &'a BTreeMap<String, GroupLink>,
    pub states: &'a MemberStates,
}

/// The plan's group part: steps, groups rosterd will not touch, and notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPlan {
    pub steps: Vec<GroupStep>,
    pub conflicts: Vec<Conflict>,
    pub notes: Vec<String>,
}

/// Plan the group steps of one platform.
pub fn plan_groups(input: &GroupInput<'_>) -> GroupPlan {
    let mut out = GroupPlan::default();
    let by_id: HashMap<&str, &TargetGroup> = input.target.iter().map(|g| (g.id.as_str(), g)).collect();
    // A link to a group that is gone counts as no link: the group is made again.
    let linked: HashMap<&str, &str> = input
        .links
        .iter()
        .filter(|(_, l)| by_id.contains_key(l.group_id.as_str()))
        .map(|(k, l)| (l.group_id.as_str(), k.as_str()))
        .collect();
    for want in input.desired {
        match input.links.get(&want.key).and_then(|l| by_id.get(l.group_id.as_str()).map(|g| (l, *g))) {
            Some((link, group)) => out.steps.extend(update_step(input.states, want, group, link.origin)),
            None => plan_unlinked(input, want, &linked, &mut out),
        }
    }
    let wanted: HashSet<&str> = input.desired.iter().map(|d| d.key.as_str()).collect();
    for (key, link) in input.links.iter().filter(|(k, _)| !wanted.contains(k.as_str())) {
        if let Some(group) = by_id.get(link.group_id.as_str()) {
            no_longer_selected(input, key, link, group, &mut out);
        }
    }
    out
}

/// A desired group with no linked target group: found again by externalId, taken over by
/// name when config allows it, refused when its name is someone else's, else created.
fn plan_unlinked(input: &GroupInput<'_>, want: &DesiredGroup, linked: &HashMap<&str, &str>, out: &mut GroupPlan) {
    let free = |g: &&TargetGroup| !linked.contains_key(g.id.as_str());
    let ours = input.target.iter().filter(free).find(|g| g.external_id.as_deref() == Some(want.key.as_str()));
    let named = input.target.iter().find(|g| g.display.trim().eq_ignore_ascii_case(want.display.trim()));
    let (group, origin, why) = match (ours, named) {
        (Some(g), _) => (g, GroupOrigin::Created, "rosterd's group (externalId), found again"),
        (None, Some(g)) if free(&g) && input.policy.may_manage(&want.display) => {
            (g, GroupOrigin::Managed, "groups.manage names it")
        }
        (None, Some(g)) => return out.conflicts.push(name_taken(want, g, linked.get(g.id.as_str()))),
        (None, None) => {
            let mut step = GroupStep::new(GroupAction::Create, &want.key, &want.display, None);
            step.add = want.members.iter().map(|p| input.states.member(p)).collect();
            step.origin = Some(GroupOrigin::Created);
            return out.steps.push(step);
        }
    };
    let mut step = update_step(input.states, want, group, origin)
        .unwrap_or_else(|| GroupStep::new(GroupAction::Update, &want.key, &want.display, Some(group)));
    step.action = GroupAction::Adopt;
    step.origin = Some(origin);
    step.reason = Some(why.to_string());
    out.steps.push(step);
}

/// A selected group whose name a target group rosterd may not touch already has.
fn name_taken(want: &DesiredGroup, g: &TargetGroup, linked_to: Option<&&str>) -> Conflict {
    let reason = match linked_to {
        Some(other) => format!(
            "group {:?} (id {}) stands for source group {other:?} already; rename one of them at the source",
            g.display, g.id
        ),
        None => format!(
            "a group named {:?} (id {}) exists that rosterd did not create; add it to groups.manage to let rosterd manage it, or rename the source group",
            g.display, g.id
        ),
    };
    Conflict { person_id: format!("group:{}", want.key), label: want.display.clone(), key: want.key.clone(), reason }
}

/// The rename and the members in and out that make `group` match `want`; `None` when it does.
fn update_step(
    states: &MemberStates,
    want: &DesiredGroup,
    group: &TargetGroup,
    origin: GroupOrigin,
) -> Option<GroupStep> {
    let rename_from = (group.display != want.display).then(|| group.display.clone());
    let mut keep: HashSet<String> = HashSet::new();
    let mut add = Vec::new();
    for person in &want.members {
        match states.wanted.get(person).cloned().flatten() {
            Some(account) if group.members.contains(&account) => {
                keep.insert(account);
            }
            _ => add.push(states.member(person)),
        }
    }
    let remove: Vec<Member> = group
        .members
        .iter()
        .filter(|m| !keep.contains(m.as_str()) && states.may_remove(m, origin))
        .map(|m| states.leaver(m))
        .collect();
    if rename_from.is_none() && add.is_empty() && remove.is_empty() {
        return None;
    }
    Some(GroupStep {
        rename_from,
        add,
        remove,
        ..GroupStep::new(GroupAction::Update, &want.key, &want.display, Some(group))
    })
}

/// A linked group whose source group is gone or no longer selected: deleted when rosterd
/// created it and config allows it, else left as it is (and said).
fn no_longer_selected(input: &GroupInput<'_>, key: &str, link: &GroupLink, group: &TargetGroup, out: &mut GroupPlan) {
    let deletable = link.origin == GroupOrigin::Created && input.policy.allow_delete && input.states.complete;
    if !deletable {
        let why = match (link.origin, input.policy.allow_delete, input.states.complete) {
            (GroupOrigin::Managed, _, _) => "rosterd manages it but did not create it",
            (_, false, _) => "groups.allow_delete is off",
            _ => "the roster read was incomplete",
        };
        out.notes.push(format!(
            "group {:?} [{}] is no longer selected at the source; left in place ({why})",
            group.display, group.id
        ));
        return;
    }
    let mut step = GroupStep::new(GroupAction::Delete, key, &group.display, Some(group));
    step.reason = Some("its source group is gone or no longer selected".into());
    out.steps.push(step);
}

/// A group step as the plan table prints it.
pub fn write_step(out: &mut String, s: &GroupStep) {
    let id = s.group_id.as_deref().map(|i| format!(" [{i}]")).unwrap_or_default();
    let reason = s.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    let verb = match s.action {
        GroupAction::Create => "create",
        GroupAction::Adopt => "adopt",
        GroupAction::Update => "update",
        GroupAction::Delete => "delete",
    };
    let _ = writeln!(out, "  {} {verb} group {:?}{id}{reason}", s.action.symbol(), s.display);
    if let Some(old) = &s.rename_from {
        let _ = writeln!(out, "      displayName: {old:?} -> {:?}", s.display);
    }
    for m in &s.add {
        let new = if m.account_id.is_none() { " (account created in this run)" } else { "" };
        let _ = writeln!(out, "      + member {}{new}", m.label);
    }
    for m in &s.remove {
        let _ = writeln!(out, "      - member {}", m.label);
    }
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
