//! The resources a SCIM source listing holds: a User as a person, a Group with its members,
//! and the ListResponse page they arrive in (parsed through `platform::scim::wire`).

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::Value;

use super::{Listed, Page};
use crate::model::{empty_names, Email, Extras, Group, Person};
use crate::platform::redact::Redactor;
use crate::platform::scim::wire::{self, ListResponse, WireError};

/// One `GET /Users` page as the source reads it: its `totalResults` and the people it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    pub total_results: u64,
    pub people: Vec<Person>,
}

/// Parse one `GET /Users` ListResponse body with exactly the checks the source applies to
/// every page; Err says why the page is malformed. Public so a fuzz target can call it.
pub fn parse_users_page(body: &[u8]) -> Result<UsersPage, PageError> {
    let page = parse_page::<ListedUser>("Users page", body, &Redactor::none())?;
    Ok(UsersPage { total_results: page.total, people: page.items.into_iter().map(|u| u.person).collect() })
}

/// Parse a ListResponse. SCIM attribute names are case-insensitive (RFC 7643 §2.1), so
/// every key is lower-cased first and the structs below use lower-case names.
/// Text quoted from the body is redacted with `redactor` before it is cut.
pub(super) fn parse_page<T: Listed>(at: &str, body: &[u8], redactor: &Redactor) -> Result<Page<T>, PageError> {
    let list = ListResponse::parse(body, redactor)?;
    let total = list.total;
    let resources = list.resources_for_total()?;
    let mut items = Vec::with_capacity(resources.len());
    for (i, resource) in resources.into_iter().enumerate() {
        let item =
            T::from_scim(resource).map_err(|problem| PageError::Resource { n: i + 1, at: at.into(), problem })?;
        items.push(item);
    }
    Ok(Page { total, items })
}

/// Why a listing page is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("resource {n} of {at}: {problem}")]
    Resource { n: usize, at: String, problem: ResourceError },
}

/// Why one listed resource cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("no id")]
    NoId,
    /// `kind` is `""` for a user and `"group "` for a group, as the messages always read.
    #[error("{kind}id \"{id}\": {detail}")]
    Invalid { kind: &'static str, id: String, detail: String },
    #[error("{kind}id \"{id}\": no {attribute} (RFC 7643 makes it required)")]
    Missing { kind: &'static str, id: String, attribute: &'static str },
}

fn required_id(resource: &Value) -> Result<String, ResourceError> {
    match resource.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(ResourceError::NoId),
    }
}

/// A SCIM User as listed, with whether it carried a `groups` attribute at all.
pub(super) struct ListedUser {
    pub(super) person: Person,
    pub(super) carries_groups: bool,
}

impl Listed for ListedUser {
    fn from_scim(resource: Value) -> Result<Self, ResourceError> {
        let id = required_id(&resource)?;
        let user = wire::User::from_lowercased(resource).map_err(|e| ResourceError::Invalid {
            kind: "",
            id: id.clone(),
            detail: e.to_string(),
        })?;
        let user_name = user.user_name.clone().filter(|u| !u.is_empty());
        let user_name = user_name.ok_or(ResourceError::Missing { kind: "", id: id.clone(), attribute: "userName" })?;
        let carries_groups = user.groups.is_some();
        Ok(ListedUser { person: person_of(user, id.into(), user_name), carries_groups })
    }

    fn id(&self) -> &str {
        &self.person.id
    }
}

/// One SCIM User resource (keys in any case) as a person, as a listing would read it:
/// for sources that hold SCIM Users themselves (`source: push`).
pub(crate) fn person_of_resource(resource: Value) -> Result<Person, ResourceError> {
    ListedUser::from_scim(wire::lowercase_keys(resource)).map(|u| u.person)
}

/// A listed User as a person.
fn person_of(user: wire::User, id: CompactString, user_name: CompactString) -> Person {
    let name = user.name.unwrap_or_default();
    let enterprise = user.enterprise.unwrap_or_default();
    let meta = user.meta.unwrap_or_default();
    let (groups, group_types) = groups_of(user.groups.unwrap_or_default());
    let extras = Extras {
        middle_name: name.middle_name,
        nick_name: user.nick_name,
        user_type: user.user_type,
        locale: user.locale,
        cost_center: enterprise.cost_center,
        division: enterprise.division,
        created: meta.created,
        resource_type: meta.resource_type,
        phone_numbers: user.phone_numbers.unwrap_or_default().into_iter().map(email_of).collect(),
        schemas: user.schemas.unwrap_or_default(),
        group_types,
    };
    Person {
        id,
        external_id: user.external_id,
        user_name,
        empty_names: empty_names(name.given_name.as_deref(), name.family_name.as_deref()),
        given_name: name.given_name.unwrap_or_default(),
        family_name: name.family_name.unwrap_or_default(),
        display_name: user.display_name,
        emails: user.emails.unwrap_or_default().into_iter().map(email_of).collect(),
        active: user.active.unwrap_or(true),
        active_unsent: user.active.is_none(),
        groups,
        title: user.title,
        employee_number: enterprise.employee_number,
        department: enterprise.department,
        organization: enterprise.organization,
        manager: enterprise.manager.and_then(|m| m.value),
        last_modified: meta.last_modified,
        extras: extras.boxed(),
    }
}

/// An entry without a value is kept (filters see it with no `value`, RFC 7643 §2.4 does not
/// drop it); `Person::email` skips it.
fn email_of(entry: wire::Email) -> Email {
    Email { value: entry.value.unwrap_or_default(), kind: entry.kind, primary: entry.primary.unwrap_or(false) }
}

/// `User.groups` as groups (id as `value`, name as `display`) sorted and once each, so the
/// roster does not depend on the server's order; and their types, empty when none has one.
fn groups_of(refs: Vec<wire::Ref>) -> (Vec<Group>, Vec<Option<CompactString>>) {
    let mut pairs: Vec<(Group, Option<CompactString>)> = refs
        .into_iter()
        .filter(|r| r.value.is_some() || r.display.is_some())
        .map(|r| (Group::new(r.display.unwrap_or_default(), r.value), r.kind))
        .collect();
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    let types: Vec<Option<CompactString>> = pairs.iter().map(|(_, t)| t.clone()).collect();
    let groups = pairs.into_iter().map(|(g, _)| g).collect();
    let types = if types.iter().all(Option::is_none) { Vec::new() } else { types };
    (groups, types)
}

/// Groups sorted and once each, so the roster does not depend on the server's order.
fn sorted_unique(groups: impl Iterator<Item = Group>) -> Vec<Group> {
    let mut groups: Vec<Group> = groups.collect();
    groups.sort();
    groups.dedup();
    groups
}

/// A SCIM Group as listed: its display name and the ids of its direct members (users or
/// groups). Other sources that list groups with their direct members build these too.
pub(crate) struct ListedGroup {
    pub(crate) id: String,
    pub(crate) name: CompactString,
    pub(crate) members: Vec<CompactString>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScimGroup {
    #[serde(rename = "displayname")]
    display_name: Option<CompactString>,
    members: Option<Vec<wire::Ref>>,
}

impl Listed for ListedGroup {
    fn from_scim(resource: Value) -> Result<Self, ResourceError> {
        let id = required_id(&resource)?;
        let group: ScimGroup = serde_json::from_value(resource).map_err(|e| ResourceError::Invalid {
            kind: "group ",
            id: id.clone(),
            detail: e.to_string(),
        })?;
        // Scope rules name groups by display name: a group without one cannot be placed.
        let name = group.display_name.filter(|n| !n.is_empty());
        let name = name.ok_or(ResourceError::Missing { kind: "group ", id: id.clone(), attribute: "displayName" })?;
        let members = group.members.unwrap_or_default().into_iter().filter_map(|m| m.value).collect();
        Ok(ListedGroup { id, name, members })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Set each person's groups from the groups' members, replacing what `User.groups` said.
/// A member that is itself a group passes its members on, as `User.groups` would count
/// nested membership (RFC 7643 §4.1.2).
pub(crate) fn assign_groups(people: &mut [Person], groups: &[ListedGroup]) {
    let by_id: HashMap<&str, &ListedGroup> = groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let mut of_user: HashMap<&str, Vec<Group>> = HashMap::new();
    for group in groups {
        let entry = Group::new(group.name.clone(), Some(group.id.as_str().into()));
        for user in users_in(group, &by_id) {
            of_user.entry(user).or_default().push(entry);
        }
    }
    for person in people {
        let found = of_user.remove(person.id.as_str()).unwrap_or_default();
        person.groups = sorted_unique(found.into_iter());
        // The types `User.groups` gave belonged to the groups just replaced.
        if let Some(extras) = person.extras.take() {
            person.extras = Extras { group_types: Vec::new(), ..*extras }.boxed();
        }
    }
}

/// The user ids in a group, through nested groups, each group visited once (cycles end).
fn users_in<'a>(group: &'a ListedGroup, by_id: &HashMap<&str, &'a ListedGroup>) -> HashSet<&'a str> {
    let (mut users, mut seen, mut todo) = (HashSet::new(), HashSet::from([group.id.as_str()]), vec![group]);
    while let Some(current) = todo.pop() {
        for member in &current.members {
            match by_id.get(member.as_str()) {
                Some(nested) if seen.insert(nested.id.as_str()) => todo.push(nested),
                Some(_) => {}
                None => {
                    users.insert(member.as_str());
                }
            }
        }
    }
    users
}
