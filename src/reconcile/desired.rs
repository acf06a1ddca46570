//! Desired accounts: which roster people a platform should have, with which fields and
//! which role, computed from the platform's mapping in config.

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;

use super::diff::Exclusion;
use crate::model::{normalize_key, DesiredAccount, FieldName, Fields, Person, PersonNode};

/// Defined with the config, which builds them; the mapping below reads them.
pub use crate::config::mapping::{Mapping, RoleRule};

/// Defined with the diff, which asks it; [`Mapped`] below answers it.
pub use super::diff::Wants;

/// A roster mapped onto one platform, person by person, as the diff asks.
pub struct Mapped<'a> {
    people: &'a [Person],
    mapping: &'a Mapping,
    /// Why people are out of scope, written once: most of a roster can be out of a
    /// platform's scope, and each of them is asked for on every run.
    outside_scope: Arc<str>,
    no_role: Arc<str>,
    /// The mapping's field names, interned once, in the mapping's order.
    field_names: Vec<FieldName>,
}

impl<'a> Mapped<'a> {
    pub fn new(people: &'a [Person], mapping: &'a Mapping) -> Mapped<'a> {
        let outside_scope = match &mapping.scope {
            Some(scope) => format!("does not match scope {scope}").into(),
            None => "".into(),
        };
        let field_names = mapping.fields.keys().map(|name| FieldName::new(name)).collect();
        Mapped { people, mapping, outside_scope, no_role: "no role rule matches".into(), field_names }
    }
}

impl Wants for Mapped<'_> {
    fn len(&self) -> usize {
        self.people.len()
    }

    fn person_id(&self, i: usize) -> &str {
        &self.people[i].id
    }

    fn account(&self, i: usize) -> Result<DesiredAccount, Exclusion> {
        self.one(&self.people[i])
    }
}

impl Mapped<'_> {
    /// One person's account on the platform, or why there is none.
    fn one(&self, person: &Person) -> Result<DesiredAccount, Exclusion> {
        let mapping = self.mapping;
        if !person.active {
            return Err(self.leaver(person));
        }
        let view = PersonNode::of(person);
        if !mapping.scope.as_ref().is_none_or(|scope| scope.matches(view)) {
            return Err(Exclusion::OutOfScope(self.outside_scope.clone()));
        }
        let rule = match pick_role(&mapping.roles, view) {
            Ok(rule) => rule,
            Err(()) => return Err(Exclusion::OutOfScope(self.no_role.clone())),
        };
        let key = normalize_key(&mapping.key.render_compact(view));
        if key.is_empty() {
            return Err(Exclusion::Unmappable(format!("match key {:?} renders empty", mapping.key.as_str())));
        }
        let implied = rule.into_iter().flat_map(|r| r.fields.iter());
        let mut pairs = Vec::with_capacity(mapping.fields.len() + rule.map_or(0, |r| r.fields.len()));
        for (field, template) in self.field_names.iter().zip(mapping.fields.values()) {
            let value = template.render_compact(view);
            if !value.is_empty() {
                pairs.push((*field, value));
            }
        }
        pairs.extend(implied.map(|(k, v)| (FieldName::new(k), CompactString::from(v.as_str()))));
        let fields = Fields::from_pairs(pairs);
        let role = rule.map(|r| r.role.as_str().into());
        Ok(DesiredAccount { person_id: person.id.clone(), label: person.label().into(), key, fields, role })
    }
}

impl Mapped<'_> {
    /// Why an inactive person has no account: a leaver with their match key when the
    /// scope and the role rules would take them in (their access is looked for even on
    /// accounts rosterd never linked), else plainly inactive (hands off what is unlinked).
    fn leaver(&self, person: &Person) -> Exclusion {
        let mapping = self.mapping;
        let view = PersonNode::of(person);
        let in_scope =
            mapping.scope.as_ref().is_none_or(|scope| scope.matches(view)) && pick_role(&mapping.roles, view).is_ok();
        if !in_scope {
            return Exclusion::Inactive;
        }
        let key = normalize_key(&mapping.key.render_compact(view));
        if key.is_empty() {
            return Exclusion::Inactive;
        }
        Exclusion::Leaver(key)
    }
}

/// Desired accounts computed beforehand, and the people left out: what tests state directly.
pub struct Given<'a> {
    desired: &'a [DesiredAccount],
    excluded: Vec<(&'a String, &'a Exclusion)>,
}

impl<'a> Given<'a> {
    pub fn new(desired: &'a [DesiredAccount], excluded: &'a BTreeMap<String, Exclusion>) -> Given<'a> {
        Given { desired, excluded: excluded.iter().collect() }
    }
}

impl Wants for Given<'_> {
    fn len(&self) -> usize {
        self.desired.len() + self.excluded.len()
    }

    fn person_id(&self, i: usize) -> &str {
        match self.desired.get(i) {
            Some(d) => &d.person_id,
            None => self.excluded[i - self.desired.len()].0,
        }
    }

    fn account(&self, i: usize) -> Result<DesiredAccount, Exclusion> {
        match self.desired.get(i) {
            Some(d) => Ok(d.clone()),
            None => Err(self.excluded[i - self.desired.len()].1.clone()),
        }
    }
}

/// Every person's outcome, in roster order: for tests and reports that want them all.
pub fn desired_accounts(people: &[Person], mapping: &Mapping) -> Vec<Result<DesiredAccount, Exclusion>> {
    let mapped = Mapped::new(people, mapping);
    (0..people.len()).map(|i| mapped.account(i)).collect()
}

/// The first matching rule; no rules means no role is managed.
fn pick_role<'a>(rules: &'a [RoleRule], view: PersonNode<'_>) -> Result<Option<&'a RoleRule>, ()> {
    if rules.is_empty() {
        return Ok(None);
    }
    rules.iter().find(|r| r.when.as_ref().is_none_or(|f| f.matches(view))).map(Some).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::template::Template;

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
            Person::test("e").inactive(),
        ];
        let mapping = mapping();
        let t = desired_accounts(&people, &mapping);
        let roles: Vec<_> = t.iter().flatten().map(|d| d.role.clone().unwrap()).collect();
        assert_eq!(roles, ["Finance", "Account Manager"]);
        assert!(matches!(t[2], Err(Exclusion::OutOfScope(_))));
        // An inactive person the scope takes in carries their key (an unlinked account on
        // it loses access); one outside the scope is plainly inactive.
        assert_eq!(t[3], Err(Exclusion::Leaver("d@example.com".into())));
        assert_eq!(t[4], Err(Exclusion::Inactive));
    }

    #[test]
    fn a_person_without_an_email_is_unmappable_not_removed() {
        let mut p = Person::test("a").in_group("cake-users");
        p.emails.clear();
        let mapping = mapping();
        let t = desired_accounts(std::slice::from_ref(&p), &mapping);
        assert!(matches!(t[0], Err(Exclusion::Unmappable(_))));
    }
}
