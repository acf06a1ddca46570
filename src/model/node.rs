//! `PersonNode`: a person read in place as the SCIM User resource `Person::scim_view`
//! builds, for filters and templates to walk without building it.
//!
//! Every key, value and absence here mirrors `scim_view` exactly (a property test holds
//! the two to the same answers), so a scope filter or template means the same thing
//! whichever of the two it reads.

use super::{Email, Person, ENTERPRISE_URN};
use crate::resource::{Node, Scalar};

/// One value of a person's SCIM view.
#[derive(Debug, Clone, Copy)]
pub enum PersonNode<'a> {
    /// The User resource itself.
    Person(&'a Person),
    /// `name`: `givenName`, `familyName`.
    Name(&'a Person),
    /// `emails`, an array of `Email` objects.
    Emails(&'a [Email]),
    /// One element of `emails`: `value`, `type` (absent when unknown), `primary`.
    Email(&'a Email),
    /// `groups`, an array of `Group` objects.
    Groups(&'a Person),
    /// One element of `groups`: `display` and `value`, both the group's name.
    Group(&'a str),
    /// `meta`: `lastModified`.
    Meta(&'a Person),
    /// The enterprise extension: `employeeNumber`, `department`, `organization`, `manager`.
    Enterprise(&'a Person),
    /// The enterprise `manager`: `value`.
    Manager(&'a Person),
    Leaf(Scalar<'a>),
}

impl<'a> PersonNode<'a> {
    pub fn of(person: &'a Person) -> PersonNode<'a> {
        PersonNode::Person(person)
    }
}

fn text(s: &str) -> PersonNode<'_> {
    PersonNode::Leaf(Scalar::Str(s))
}

fn maybe(s: Option<&str>) -> PersonNode<'_> {
    PersonNode::Leaf(s.map_or(Scalar::Null, Scalar::Str))
}

/// The child of a person's User resource under `name` (any ASCII case).
fn person_child<'a>(p: &'a Person, name: &str) -> Option<PersonNode<'a>> {
    let is = |key: &str| key.eq_ignore_ascii_case(name);
    let node = if is("id") {
        text(&p.id)
    } else if is("userName") {
        text(&p.user_name)
    } else if is("emails") {
        PersonNode::Emails(&p.emails)
    } else if is("email") {
        maybe(p.email())
    } else if is("groups") {
        PersonNode::Groups(p)
    } else if is("active") {
        PersonNode::Leaf(Scalar::Bool(p.active))
    } else if is("name") {
        PersonNode::Name(p)
    } else if is("externalId") {
        maybe(p.external_id.as_deref())
    } else if is("displayName") {
        maybe(p.display_name.as_deref())
    } else if is("title") {
        maybe(p.title.as_deref())
    } else if is("meta") {
        PersonNode::Meta(p)
    } else if is(ENTERPRISE_URN) {
        PersonNode::Enterprise(p)
    } else {
        return None;
    };
    Some(node)
}

impl<'a> Node<'a> for PersonNode<'a> {
    fn scalar(self) -> Option<Scalar<'a>> {
        match self {
            PersonNode::Leaf(s) => Some(s),
            _ => None,
        }
    }

    fn is_array(self) -> bool {
        matches!(self, PersonNode::Emails(_) | PersonNode::Groups(_))
    }

    fn each_element(self, f: &mut dyn FnMut(Self)) {
        match self {
            PersonNode::Emails(emails) => emails.iter().for_each(|e| f(PersonNode::Email(e))),
            PersonNode::Groups(p) => p.groups.iter().for_each(|g| f(PersonNode::Group(g.as_str()))),
            _ => {}
        }
    }

    fn each_child(self, name: &str, f: &mut dyn FnMut(Self)) {
        // Keys differ in more than case, so at most one child matches.
        if let Some(child) = self.child(name) {
            f(child);
        }
    }

    fn child(self, name: &str) -> Option<Self> {
        let is = |key: &str| key.eq_ignore_ascii_case(name);
        match self {
            PersonNode::Person(p) => person_child(p, name),
            PersonNode::Name(p) if is("givenName") => Some(text(&p.given_name)),
            PersonNode::Name(p) if is("familyName") => Some(text(&p.family_name)),
            PersonNode::Email(e) if is("value") => Some(text(&e.value)),
            PersonNode::Email(e) if is("type") => e.kind.as_deref().map(text),
            PersonNode::Email(e) if is("primary") => Some(PersonNode::Leaf(Scalar::Bool(e.primary))),
            PersonNode::Group(g) if is("display") || is("value") => Some(text(g)),
            PersonNode::Meta(p) if is("lastModified") => Some(maybe(p.last_modified.as_deref())),
            PersonNode::Enterprise(p) if is("employeeNumber") => Some(maybe(p.employee_number.as_deref())),
            PersonNode::Enterprise(p) if is("department") => Some(maybe(p.department.as_deref())),
            PersonNode::Enterprise(p) if is("organization") => Some(maybe(p.organization.as_deref())),
            PersonNode::Enterprise(p) if is("manager") => Some(PersonNode::Manager(p)),
            PersonNode::Manager(p) if is("value") => Some(maybe(p.manager.as_deref())),
            _ => None,
        }
    }

    fn first_element(self) -> Option<Self> {
        match self {
            PersonNode::Emails(emails) => emails.first().map(PersonNode::Email),
            PersonNode::Groups(p) => p.groups.first().map(|g| PersonNode::Group(g.as_str())),
            _ => None,
        }
    }

    fn is_present(self) -> bool {
        match self {
            PersonNode::Leaf(Scalar::Null) => false,
            PersonNode::Leaf(Scalar::Str(s)) => !s.is_empty(),
            PersonNode::Leaf(Scalar::Bool(_) | Scalar::Num(_)) => true,
            PersonNode::Emails(emails) => !emails.is_empty(),
            PersonNode::Groups(p) => !p.groups.is_empty(),
            // Every object of the view has at least one key.
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use compact_str::CompactString;
    use proptest::prelude::*;

    use super::*;
    use crate::filter::Filter;
    use crate::template::Template;

    /// Short strings from a small alphabet, so that filters' operands often hit.
    fn word() -> impl Strategy<Value = CompactString> {
        prop::sample::select(vec!["", "a", "A", "ab", "Finance", "finance", "staff", "x@y.com", "2026-01-01"])
            .prop_map(CompactString::from)
    }

    fn person() -> impl Strategy<Value = Person> {
        let email = (word(), prop::option::of(word()), any::<bool>()).prop_map(|(value, kind, primary)| Email {
            value,
            kind,
            primary,
        });
        (
            (word(), prop::option::of(word()), word(), word(), word(), prop::option::of(word())),
            (prop::collection::vec(email, 0..3), any::<bool>(), prop::collection::vec(word(), 0..3)),
            prop::collection::vec(prop::option::of(word()), 6),
        )
            .prop_map(
                |((id, external_id, user_name, given_name, family_name, display_name), (emails, active, groups), o)| {
                    Person {
                        id,
                        external_id,
                        user_name,
                        given_name,
                        family_name,
                        display_name,
                        emails,
                        active,
                        groups,
                        title: o[0].clone(),
                        employee_number: o[1].clone(),
                        department: o[2].clone(),
                        organization: o[3].clone(),
                        manager: o[4].clone(),
                        last_modified: o[5].clone(),
                    }
                },
            )
    }

    /// Every attribute of the view, in odd cases, with every operator and `pr`.
    const FILTERS: &[&str] = &[
        r#"id eq "a""#,
        r#"EXTERNALID pr"#,
        r#"externalId ne "a""#,
        r#"username sw "a""#,
        r#"name.givenName eq "ab""#,
        r#"name.FAMILYNAME pr"#,
        r#"name pr"#,
        r#"displayName co "b""#,
        r#"emails pr"#,
        r#"emails.value ew "com""#,
        r#"emails[type eq "finance" and primary eq true]"#,
        r#"emails[type pr].value eq "a""#,
        r#"emails.type eq null"#,
        r#"email eq "x@y.com""#,
        r#"email pr"#,
        r#"active eq true"#,
        r#"active eq false"#,
        r#"groups pr"#,
        r#"groups.display eq "Finance""#,
        r#"groups.value ne "staff""#,
        r#"groups[display eq "staff"]"#,
        r#"title gt "a""#,
        r#"meta.lastModified ge "2026-01-01""#,
        r#"meta pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "finance""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber lt "b""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization pr"#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
        r#"not (groups.display eq "staff") and (active eq true or title pr)"#,
        r#"unknown pr"#,
        r#"unknown ne "a""#,
    ];

    const TEMPLATES: &[&str] = &[
        "{id}",
        "{externalId}",
        "{USERNAME|lower}",
        "{name.givenName} {name.familyName}",
        "{displayName}",
        "{emails.value}/{emails.type}/{emails.primary}",
        "{email|localpart|word|max:3}",
        "{active}",
        "{groups.display}{groups.value}",
        "{title}",
        "{meta.lastModified}",
        "{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department}",
        "{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value}",
        "{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber}",
        "{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization}",
        "{name}{emails}{unknown}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn reads_exactly_as_the_built_scim_view(p in person()) {
            let view = p.scim_view();
            for text in FILTERS {
                let filter = Filter::parse(text).unwrap();
                prop_assert_eq!(filter.matches(PersonNode::of(&p)), filter.matches(&view), "{}", text);
            }
            for text in TEMPLATES {
                let template = Template::parse(text).unwrap();
                prop_assert_eq!(template.render(PersonNode::of(&p)), template.render(&view), "{}", text);
            }
        }
    }
}
