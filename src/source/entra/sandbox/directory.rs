//! The emulated tenant: users and groups, each user property stamped with the version
//! that last changed it, so a delta link (a version) yields exactly the properties changed
//! since, and removed users as `@removed` entries.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use serde_json::{json, Map, Value};

/// A user of the emulated tenant: its id, its Graph properties by name (what `$select`
/// picks from; `accountEnabled: null` makes a record rosterd cannot use) and its manager.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntraUser {
    pub id: String,
    pub properties: Map<String, Value>,
    /// The manager's user id.
    pub manager: Option<String>,
}

/// Every user property the emulator knows (a `$select` of any other is refused).
pub const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "otherMails",
    "givenName",
    "surname",
    "displayName",
    "accountEnabled",
    "userType",
    "employeeId",
    "department",
    "jobTitle",
    "companyName",
];

/// What Graph sends when no `$select` is given: it lacks most of what rosterd needs.
pub const DEFAULT_SELECT: &[&str] =
    &["id", "displayName", "givenName", "jobTitle", "mail", "surname", "userPrincipalName"];

impl EntraUser {
    /// An enabled member with this UPN (and mail), the other properties `null`.
    pub fn new(id: &str, upn: &str) -> EntraUser {
        let properties = USER_PROPERTIES.iter().skip(1).map(|k| (k.to_string(), Value::Null)).collect();
        let user = EntraUser { id: id.into(), properties, manager: None };
        user.with("userPrincipalName", upn).with("mail", upn).with("accountEnabled", true).with("userType", "Member")
    }

    /// The same user with one property set.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> EntraUser {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.properties.insert(key.into(), value.into());
    }

    pub fn upn(&self) -> &str {
        self.properties.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn enabled(&self) -> bool {
        self.properties.get("accountEnabled") == Some(&Value::Bool(true))
    }

    /// The user's properties as Graph writes them, its id included (the manager apart).
    pub fn properties(&self) -> Map<String, Value> {
        let mut m = self.properties.clone();
        m.insert("id".into(), json!(self.id));
        m
    }
}

/// Where a delta page starts: after this user id (`None`: the first), or this far into
/// the removals.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    Users(Option<String>),
    Removed(usize),
}

/// The `@odata.type` of a user and of a group among a listing's members.
pub const USER: &str = "#microsoft.graph.user";
pub const GROUP: &str = "#microsoft.graph.group";

/// A group: its name and its direct members (user or group ids).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntraGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// A user as held: the record, and the version each property (and the manager) last changed.
#[derive(Debug, Clone)]
struct Held {
    user: EntraUser,
    changed: BTreeMap<String, u64>,
}

/// The tenant's data.
#[derive(Debug, Default)]
pub struct Directory {
    users: BTreeMap<String, Held>,
    pub groups: Vec<EntraGroup>,
    /// The version of the latest change.
    pub version: u64,
    /// Users removed, with the version and the reason (`deleted` or `changed`).
    removed: Vec<(String, u64, &'static str)>,
}

impl Directory {
    pub fn new(users: Vec<EntraUser>, groups: Vec<EntraGroup>) -> Directory {
        let mut d = Directory { groups, ..Directory::default() };
        for user in users {
            d.put(user);
        }
        d
    }

    /// Add or replace a user; only properties that differ are stamped as changed.
    pub fn put(&mut self, user: EntraUser) {
        self.version += 1;
        let version = self.version;
        let new = user.properties();
        let before = self.users.get(&user.id).map(|h| (h.user.properties(), h.user.manager.clone(), h.changed.clone()));
        let mut changed = before.as_ref().map(|b| b.2.clone()).unwrap_or_default();
        for (key, value) in &new {
            if before.as_ref().is_none_or(|b| b.0.get(key) != Some(value)) {
                changed.insert(key.clone(), version);
            }
        }
        if before.as_ref().is_none_or(|b| b.1 != user.manager) {
            changed.insert("manager".into(), version);
        }
        self.removed.retain(|(id, _, _)| *id != user.id);
        self.users.insert(user.id.clone(), Held { user, changed });
    }

    pub fn user(&self, id: &str) -> Option<&EntraUser> {
        self.users.get(id).map(|h| &h.user)
    }

    pub fn users(&self) -> impl Iterator<Item = &EntraUser> {
        self.users.values().map(|h| &h.user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Remove a user: it leaves every group and delta rounds report it `@removed`.
    pub fn remove(&mut self, id: &str, reason: &'static str) -> bool {
        if self.users.remove(id).is_none() {
            return false;
        }
        self.version += 1;
        self.removed.push((id.to_string(), self.version, reason));
        for group in &mut self.groups {
            group.members.retain(|m| m != id);
        }
        true
    }

    /// A user's properties as Graph lists them: `select`ed ones, and the manager when expanded.
    pub fn listed(&self, user: &EntraUser, select: &[String], expand_manager: bool) -> Value {
        let all = user.properties();
        let mut m: Map<String, Value> =
            all.into_iter().filter(|(k, _)| k == "id" || select.iter().any(|s| s == k)).collect();
        if expand_manager {
            if let Some(manager) = &user.manager {
                m.insert("manager".into(), json!({"@odata.type": "#microsoft.graph.user", "id": manager}));
            }
        }
        Value::Object(m)
    }

    /// One page of the delta entries after version `since` up to `upto`: changed users (by
    /// id) with the selected properties that changed (all of them for a user new since),
    /// then removed ones as `@removed`; `since` 0 is the initial round: every user, no
    /// removals. Starts at `from`, holds at most `limit`, and says where the next page starts.
    pub fn changes(
        &self,
        (since, upto): (u64, u64),
        select: &[String],
        from: &Resume,
        limit: usize,
    ) -> (Vec<Value>, Option<Resume>) {
        let in_range = |v: u64| v > since && v <= upto;
        let selected = |key: &str| select.iter().any(|s| s == key);
        let mut out = Vec::new();
        if let Resume::Users(after) = from {
            let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let users = self.users.range::<str, _>((start, Bound::Unbounded));
            let mut last: Option<&str> = None;
            for (id, held) in users.filter(|(_, h)| h.changed.iter().any(|(k, v)| in_range(*v) && selected(k))) {
                if out.len() == limit {
                    return (out, Some(Resume::Users(last.map(str::to_string))));
                }
                out.push(self.changed_entry(held, &in_range, &selected));
                last = Some(id);
            }
        }
        let skip = if let Resume::Removed(n) = from { *n } else { 0 };
        let removed = self.removed.iter().filter(|(_, v, _)| since > 0 && in_range(*v));
        for (k, (id, _, reason)) in removed.enumerate().skip(skip) {
            if out.len() == limit {
                return (out, Some(Resume::Removed(k)));
            }
            out.push(json!({"id": id, "@removed": {"reason": reason}}));
        }
        (out, None)
    }

    /// A changed user's delta entry: its id and the selected properties that changed.
    fn changed_entry(&self, held: &Held, in_range: &dyn Fn(u64) -> bool, selected: &dyn Fn(&str) -> bool) -> Value {
        let all = held.user.properties();
        let mut m = Map::new();
        m.insert("id".into(), json!(held.user.id));
        for (key, _) in held.changed.iter().filter(|(k, v)| in_range(**v) && selected(k)) {
            if key == "manager" {
                let entry =
                    held.user.manager.as_ref().map(|id| json!({"@odata.type": "#microsoft.graph.user", "id": id}));
                m.insert("manager@delta".into(), json!(entry.into_iter().collect::<Vec<_>>()));
            } else if let Some(value) = all.get(key) {
                m.insert(key.clone(), value.clone());
            }
        }
        Value::Object(m)
    }

    /// The members of a group, as (id, `@odata.type`): direct ones, or through nested
    /// groups (each group once).
    pub fn members(&self, group_id: &str, transitive: bool) -> Option<Vec<(&str, &'static str)>> {
        let group = self.groups.iter().find(|g| g.id == group_id)?;
        let mut seen: HashSet<&str> = HashSet::from([group.id.as_str()]);
        let (mut out, mut todo) = (Vec::new(), vec![group]);
        while let Some(current) = todo.pop() {
            for member in current.members.iter().filter(|m| seen.insert(m.as_str())) {
                match self.groups.iter().find(|g| &g.id == member) {
                    Some(nested) => {
                        out.push((nested.id.as_str(), GROUP));
                        if transitive {
                            todo.push(nested);
                        }
                    }
                    None if self.users.contains_key(member) => out.push((member.as_str(), USER)),
                    None => {}
                }
            }
        }
        Some(out)
    }

    /// The groups a user is in, directly or through nesting.
    pub fn member_of(&self, user_id: &str, transitive: bool) -> Option<Vec<Value>> {
        self.users.get(user_id)?;
        let groups = self.groups.iter().filter(|g| {
            self.members(&g.id, transitive).is_some_and(|m| m.iter().any(|(id, kind)| *id == user_id && *kind == USER))
        });
        Some(
            groups
                .map(|g| json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name}))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> EntraUser {
        EntraUser::new(id, &format!("{id}@t"))
    }

    #[test]
    fn a_delta_carries_only_what_changed_and_removals() {
        let mut d = Directory::new(vec![user("a"), user("b")], vec![]);
        let select: Vec<String> = USER_PROPERTIES.iter().map(|s| s.to_string()).collect();
        let all = |d: &Directory, since| d.changes((since, d.version), &select, &Resume::Users(None), 10).0;
        assert_eq!(all(&d, 0).len(), 2);
        let (first, next) = d.changes((0, d.version), &select, &Resume::Users(None), 1);
        assert_eq!((first[0]["id"].as_str(), next.clone()), (Some("a"), Some(Resume::Users(Some("a".into())))));
        let (second, next) = d.changes((0, d.version), &select, &next.unwrap_or(Resume::Removed(0)), 1);
        assert_eq!((second[0]["id"].as_str(), next), (Some("b"), None));
        let since = d.version;
        d.put(user("a").with("accountEnabled", false));
        d.remove("b", "deleted");
        let changes = all(&d, since);
        assert_eq!(changes[0], json!({"id": "a", "accountEnabled": false}));
        assert_eq!(changes[1], json!({"id": "b", "@removed": {"reason": "deleted"}}));
        assert!(all(&d, d.version).is_empty());
    }

    #[test]
    fn nested_groups_reach_their_users_once() {
        let mut inner = EntraGroup { id: "g2".into(), display_name: "In".into(), members: vec!["b".into()] };
        let outer = EntraGroup { id: "g1".into(), display_name: "Out".into(), members: vec!["a".into(), "g2".into()] };
        inner.members.push("g1".into());
        let d = Directory::new(vec![user("a"), user("b")], vec![outer, inner]);
        assert_eq!(d.members("g1", true).unwrap().len(), 3);
        assert_eq!(d.members("g1", false).unwrap().len(), 2);
        assert_eq!(d.member_of("b", true).unwrap().len(), 2);
    }
}
