//! Desired accounts: which roster people a platform should have, with which fields and
//! which role, computed from the platform's mapping in config.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diff::Exclusion;
use crate::filter::Filter;
use crate::model::{normalize_key, DesiredAccount, Fields, Person, ViewAttributes};
use crate::template::Template;

/// A role rule: the first rule whose `when` matches (or that has none) gives the role.
#[derive(Debug, Clone)]
pub struct RoleRule {
    pub when: Option<Filter>,
    pub role: String,
    /// Fields the role implies (Client Toolbox's `allowed_campaigns`).
    pub fields: BTreeMap<String, String>,
}

/// How the roster maps onto one platform.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Who belongs on the platform; `None` means everyone active.
    pub scope: Option<Filter>,
    pub roles: Vec<RoleRule>,
    /// Platform field → template.
    pub fields: BTreeMap<String, Template>,
    /// The match key template (e.g. `{email}`).
    pub key: Template,
}

impl Mapping {
    /// The parts of a person's SCIM view this mapping reads.
    pub fn view_attributes(&self) -> ViewAttributes {
        let mut wanted = ViewAttributes::default();
        let filters = self.scope.iter().chain(self.roles.iter().filter_map(|r| r.when.as_ref()));
        let templates = self.fields.values().chain([&self.key]);
        for name in filters.flat_map(Filter::root_attributes).chain(templates.flat_map(Template::root_attributes)) {
            wanted.add(&name);
        }
        wanted
    }
}

/// The platform's desired accounts, and why everyone else is left out.
#[derive(Debug, Default)]
pub struct Target {
    pub desired: Vec<DesiredAccount>,
    pub excluded: BTreeMap<String, Exclusion>,
}

/// Below this many people the work is not worth a thread.
const PEOPLE_PER_THREAD: usize = 4096;

/// Map every person, in roster order. Each person's view is built with only what the
/// mapping reads and dropped at once; large rosters are split across the cores.
pub fn desired_accounts(people: &[Person], mapping: &Mapping) -> Target {
    let wanted = mapping.view_attributes();
    let map_chunk = |chunk: &[Person]| -> Vec<Result<DesiredAccount, Exclusion>> {
        chunk.iter().map(|p| desired_one(p, &wanted, mapping)).collect()
    };
    let threads = super::chunks::threads_for(people.len(), PEOPLE_PER_THREAD);
    let outcomes = super::chunks::map_chunks(people, threads, map_chunk);
    let mut target = Target::default();
    target.desired.reserve(people.len());
    for (person, outcome) in people.iter().zip(outcomes.into_iter().flatten()) {
        match outcome {
            Ok(d) => target.desired.push(d),
            Err(why) => {
                target.excluded.insert(person.id.as_str().into(), why);
            }
        }
    }
    target
}

fn desired_one(person: &Person, wanted: &ViewAttributes, mapping: &Mapping) -> Result<DesiredAccount, Exclusion> {
    if !person.active {
        return Err(Exclusion::Inactive);
    }
    let view = person.scim_view_of(wanted);
    if let Some(scope) = &mapping.scope {
        if !scope.matches(&view) {
            return Err(Exclusion::OutOfScope(format!("does not match scope {scope}")));
        }
    }
    let rule = pick_role(&mapping.roles, &view)?;
    let key = normalize_key(&mapping.key.render(&view));
    if key.is_empty() {
        return Err(Exclusion::Unmappable(format!("match key {:?} renders empty", mapping.key.as_str())));
    }
    let mut fields: Fields = mapping
        .fields
        .iter()
        .map(|(f, t)| (f.clone(), t.render(&view)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    if let Some(rule) = rule {
        fields.extend(rule.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let role = rule.map(|r| r.role.as_str().into());
    Ok(DesiredAccount { person_id: person.id.clone(), label: person.label().into(), key, fields, role })
}

/// The first matching rule; no rules means no role is managed.
fn pick_role<'a>(rules: &'a [RoleRule], view: &Value) -> Result<Option<&'a RoleRule>, Exclusion> {
    if rules.is_empty() {
        return Ok(None);
    }
    rules
        .iter()
        .find(|r| r.when.as_ref().is_none_or(|f| f.matches(view)))
        .map(Some)
        .ok_or_else(|| Exclusion::OutOfScope("no role rule matches".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        Mapping {
            scope: Some(Filter::parse(r#"groups.display eq "cake-users""#).unwrap()),
            roles: vec![
                RoleRule {
                    when: Some(Filter::parse(r#"groups.display eq "Finance""#).unwrap()),
                    role: "Finance".into(),
                    fields: BTreeMap::new(),
                },
                RoleRule { when: None, role: "Account Manager".into(), fields: BTreeMap::new() },
            ],
            fields: [("email".to_string(), Template::parse("{email}").unwrap())].into_iter().collect(),
            key: Template::parse("{email}").unwrap(),
        }
    }

    #[test]
    fn scope_roles_and_exclusions() {
        let people = vec![
            Person::test("a").in_group("cake-users").in_group("Finance"),
            Person::test("b").in_group("cake-users"),
            Person::test("c"),
            Person::test("d").in_group("cake-users").inactive(),
        ];
        let t = desired_accounts(&people, &mapping());
        let roles: Vec<_> = t.desired.iter().map(|d| d.role.clone().unwrap()).collect();
        assert_eq!(roles, ["Finance", "Account Manager"]);
        assert!(matches!(t.excluded["c"], Exclusion::OutOfScope(_)));
        assert_eq!(t.excluded["d"], Exclusion::Inactive);
    }

    #[test]
    fn a_person_without_an_email_is_unmappable_not_removed() {
        let mut p = Person::test("a").in_group("cake-users");
        p.emails.clear();
        let t = desired_accounts(&[p], &mapping());
        assert!(matches!(t.excluded["a"], Exclusion::Unmappable(_)));
    }
}
