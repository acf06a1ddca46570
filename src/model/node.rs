//! `PersonNode`: a person read in place as the SCIM User resource `Person::scim_view`
//! builds, for filters and templates to walk without building it.
//!
//! Every key, value and absence here mirrors `scim_view` exactly (a property test holds
//! the two to the same answers), so a scope filter or template means the same thing
//! whichever of the two it reads.

use super::{Email, Person, ENTERPRISE_URN};
use crate::resource::{Node, Scalar};

/// One value of a person's SCIM view. Every object variant is made only when it holds at
/// least one attribute, as the view leaves out empty objects.
#[derive(Debug, Clone, Copy)]
pub enum PersonNode<'a> {
    /// The User resource itself.
    Person(&'a Person),
    /// `name`: `givenName`, `familyName`, `middleName`.
    Name(&'a Person),
    /// `emails` or `phoneNumbers`, a non-empty array of `Contact` objects.
    Contacts(&'a [Email]),
    /// One element of `emails`/`phoneNumbers`: `value` and `type` (when sent), `primary`.
    Contact(&'a Email),
    /// `groups`, a non-empty array of `Group` objects.
    Groups(&'a Person),
    /// One element of `groups` by position: `value` (the id), `display`, `type`.
    Group(&'a Person, usize),
    /// `schemas`, a non-empty array of strings.
    Schemas(&'a Person),
    /// `meta`: `resourceType`, `created`, `lastModified`.
    Meta(&'a Person),
    /// The enterprise extension: `employeeNumber`, `costCenter`, `organization`,
    /// `division`, `department`, `manager`.
    Enterprise(&'a Person),
    /// The enterprise `manager`: `value`.
    Manager(&'a str),
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

/// An optional attribute: absent when the source did not send it.
fn maybe(s: Option<&str>) -> Option<PersonNode<'_>> {
    s.map(text)
}

/// A non-optional name field: `""` means the source sent none.
fn non_empty(s: &str) -> Option<PersonNode<'_>> {
    (!s.is_empty()).then(|| text(s))
}

fn has_name(p: &Person) -> bool {
    p.sent_given_name().is_some() || p.sent_family_name().is_some() || p.extras().middle_name.is_some()
}

fn has_meta(p: &Person) -> bool {
    let x = p.extras();
    p.last_modified.is_some() || x.created.is_some() || x.resource_type.is_some()
}

fn has_enterprise(p: &Person) -> bool {
    let x = p.extras();
    [&p.employee_number, &p.department, &p.organization, &p.manager, &x.cost_center, &x.division]
        .iter()
        .any(|v| v.is_some())
}

fn contacts(list: &[Email]) -> Option<PersonNode<'_>> {
    (!list.is_empty()).then_some(PersonNode::Contacts(list))
}

/// A text attribute read straight off the person: its SCIM name and where it lives.
type TextAttribute = (&'static str, fn(&Person) -> Option<&str>);

/// The User resource's optional text attributes; the structured ones are in `person_child`.
const USER_TEXT: &[TextAttribute] = &[
    ("email", |p| p.email()),
    ("externalId", |p| p.external_id.as_deref()),
    ("displayName", |p| p.display_name.as_deref()),
    ("title", |p| p.title.as_deref()),
    ("nickName", |p| p.extras().nick_name.as_deref()),
    ("userType", |p| p.extras().user_type.as_deref()),
    ("locale", |p| p.extras().locale.as_deref()),
];

/// The enterprise extension's text attributes (`manager` is an object, in `enterprise_child`).
const ENTERPRISE_TEXT: &[TextAttribute] = &[
    ("employeeNumber", |p| p.employee_number.as_deref()),
    ("costCenter", |p| p.extras().cost_center.as_deref()),
    ("organization", |p| p.organization.as_deref()),
    ("division", |p| p.extras().division.as_deref()),
    ("department", |p| p.department.as_deref()),
];

/// The attribute of `table` named `name` (any ASCII case): `None` when there is no such
/// attribute, `Some(None)` when there is but the person has no value.
fn text_attribute<'a>(table: &[TextAttribute], p: &'a Person, name: &str) -> Option<Option<PersonNode<'a>>> {
    table.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, read)| maybe(read(p)))
}

/// The child of a person's User resource under `name` (any ASCII case).
fn person_child<'a>(p: &'a Person, name: &str) -> Option<PersonNode<'a>> {
    if let Some(found) = text_attribute(USER_TEXT, p, name) {
        return found;
    }
    let is = |key: &str| key.eq_ignore_ascii_case(name);
    if is("id") {
        Some(text(&p.id))
    } else if is("userName") {
        Some(text(&p.user_name))
    } else if is("emails") {
        contacts(&p.emails)
    } else if is("phoneNumbers") {
        contacts(&p.extras().phone_numbers)
    } else if is("groups") {
        (!p.groups.is_empty()).then_some(PersonNode::Groups(p))
    } else if is("active") {
        (!p.active_unsent).then_some(PersonNode::Leaf(Scalar::Bool(p.active)))
    } else if is("name") {
        has_name(p).then_some(PersonNode::Name(p))
    } else if is("schemas") {
        (!p.extras().schemas.is_empty()).then_some(PersonNode::Schemas(p))
    } else if is("meta") {
        has_meta(p).then_some(PersonNode::Meta(p))
    } else if is(ENTERPRISE_URN) {
        has_enterprise(p).then_some(PersonNode::Enterprise(p))
    } else {
        None
    }
}

fn enterprise_child<'a>(p: &'a Person, name: &str) -> Option<PersonNode<'a>> {
    if let Some(found) = text_attribute(ENTERPRISE_TEXT, p, name) {
        return found;
    }
    name.eq_ignore_ascii_case("manager").then_some(())?;
    p.manager.as_deref().map(PersonNode::Manager)
}

fn group_child<'a>(p: &'a Person, i: usize, name: &str) -> Option<PersonNode<'a>> {
    let is = |key: &str| key.eq_ignore_ascii_case(name);
    let group = p.groups.get(i)?;
    if is("value") {
        maybe(group.value())
    } else if is("display") {
        non_empty(group.display())
    } else if is("type") {
        maybe(p.extras().group_types.get(i)?.as_deref())
    } else {
        None
    }
}

impl<'a> Node<'a> for PersonNode<'a> {
    fn scalar(self) -> Option<Scalar<'a>> {
        match self {
            PersonNode::Leaf(s) => Some(s),
            _ => None,
        }
    }

    fn is_array(self) -> bool {
        matches!(self, PersonNode::Contacts(_) | PersonNode::Groups(_) | PersonNode::Schemas(_))
    }

    fn each_element(self, f: &mut dyn FnMut(Self)) {
        match self {
            PersonNode::Contacts(list) => list.iter().for_each(|e| f(PersonNode::Contact(e))),
            PersonNode::Groups(p) => (0..p.groups.len()).for_each(|i| f(PersonNode::Group(p, i))),
            PersonNode::Schemas(p) => p.extras().schemas.iter().for_each(|s| f(text(s))),
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
            PersonNode::Name(p) if is("givenName") => maybe(p.sent_given_name()),
            PersonNode::Name(p) if is("familyName") => maybe(p.sent_family_name()),
            PersonNode::Name(p) if is("middleName") => maybe(p.extras().middle_name.as_deref()),
            PersonNode::Contact(e) if is("value") => non_empty(&e.value),
            PersonNode::Contact(e) if is("type") => maybe(e.kind.as_deref()),
            PersonNode::Contact(e) if is("primary") => Some(PersonNode::Leaf(Scalar::Bool(e.primary))),
            PersonNode::Group(p, i) => group_child(p, i, name),
            PersonNode::Meta(p) if is("lastModified") => maybe(p.last_modified.as_deref()),
            PersonNode::Meta(p) if is("created") => maybe(p.extras().created.as_deref()),
            PersonNode::Meta(p) if is("resourceType") => maybe(p.extras().resource_type.as_deref()),
            PersonNode::Enterprise(p) => enterprise_child(p, name),
            PersonNode::Manager(m) if is("value") => Some(text(m)),
            _ => None,
        }
    }

    fn first_element(self) -> Option<Self> {
        match self {
            PersonNode::Contacts(list) => list.first().map(PersonNode::Contact),
            PersonNode::Groups(p) => (!p.groups.is_empty()).then_some(PersonNode::Group(p, 0)),
            PersonNode::Schemas(p) => p.extras().schemas.first().map(|s| text(s)),
            _ => None,
        }
    }

    fn is_present(self) -> bool {
        match self {
            PersonNode::Leaf(Scalar::Null) => false,
            PersonNode::Leaf(Scalar::Str(s)) => !s.is_empty(),
            PersonNode::Leaf(Scalar::Bool(_) | Scalar::Num(_)) => true,
            // A name of `""`s only is not "a non-empty node" (RFC 7644 §3.4.2.2).
            PersonNode::Name(p) => {
                !p.given_name.is_empty()
                    || !p.family_name.is_empty()
                    || p.extras().middle_name.as_deref().is_some_and(|m| !m.is_empty())
            }
            PersonNode::Meta(p) => ["lastModified", "created", "resourceType"]
                .iter()
                .any(|key| PersonNode::Meta(p).child(key).is_some_and(Node::is_present)),
            PersonNode::Enterprise(p) => {
                ["employeeNumber", "costCenter", "organization", "division", "department", "manager"]
                    .iter()
                    .any(|key| PersonNode::Enterprise(p).child(key).is_some_and(Node::is_present))
            }
            PersonNode::Manager(m) => !m.is_empty(),
            PersonNode::Group(p, i) => ["value", "display", "type"]
                .iter()
                .any(|key| PersonNode::Group(p, i).child(key).is_some_and(Node::is_present)),
            // Arrays are made only when they hold something; a contact has `primary`.
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
    use crate::model::{Extras, Group};
    use crate::template::Template;

    /// Short strings from a small alphabet, so that filters' operands often hit.
    fn word() -> impl Strategy<Value = CompactString> {
        prop::sample::select(vec!["", "a", "A", "ab", "Finance", "finance", "staff", "x@y.com", "2026-01-01"])
            .prop_map(CompactString::from)
    }

    fn contact() -> impl Strategy<Value = Email> {
        (word(), prop::option::of(word()), any::<bool>()).prop_map(|(value, kind, primary)| Email {
            value,
            kind,
            primary,
        })
    }

    fn extras() -> impl Strategy<Value = Option<Box<Extras>>> {
        let text = || prop::option::of(word());
        (
            prop::array::uniform8(text()),
            prop::collection::vec(contact(), 0..2),
            prop::collection::vec(word(), 0..2),
            prop::collection::vec(text(), 0..3),
        )
            .prop_map(|(texts, phone_numbers, schemas, group_types)| {
                let [middle_name, nick_name, user_type, locale, cost_center, division, created, resource_type] = texts;
                let extras = Extras {
                    middle_name,
                    nick_name,
                    user_type,
                    locale,
                    cost_center,
                    division,
                    created,
                    resource_type,
                    phone_numbers,
                    schemas,
                    group_types,
                };
                extras.boxed()
            })
    }

    fn group() -> impl Strategy<Value = Group> {
        // A group has a name or an id (sources drop entries with neither).
        (word(), prop::option::of(word())).prop_map(|(display, value)| {
            let value = value.or_else(|| display.is_empty().then(|| "id".into()));
            Group::new(display, value)
        })
    }

    fn person() -> impl Strategy<Value = Person> {
        (
            (word(), prop::option::of(word()), word(), word(), word(), prop::option::of(word())),
            (
                prop::collection::vec(contact(), 0..3),
                any::<bool>(),
                any::<bool>(),
                prop::collection::vec(group(), 0..3),
                0u8..4,
            ),
            prop::array::uniform6(prop::option::of(word())),
            extras(),
        )
            .prop_map(
                |(
                    (id, external_id, user_name, given_name, family_name, display_name),
                    (emails, active, active_unsent, groups, empty_names),
                    [title, employee_number, department, organization, manager, last_modified],
                    extras,
                )| {
                    Person {
                        id,
                        external_id,
                        user_name,
                        given_name,
                        family_name,
                        display_name,
                        emails,
                        active,
                        active_unsent,
                        empty_names,
                        groups,
                        title,
                        employee_number,
                        department,
                        organization,
                        manager,
                        last_modified,
                        extras,
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
        r#"name.middleName eq "a""#,
        r#"nickName pr and userType eq "staff" and locale ne "a""#,
        r#"phoneNumbers[type eq "a"].value pr"#,
        r#"phoneNumbers pr"#,
        r#"groups.type eq "a" or groups[value eq "id"]"#,
        r#"schemas eq "a""#,
        r#"meta.created ge "2026-01-01" or meta.resourceType eq "A""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter eq "a""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"#,
        r#"title eq null or name eq null or emails[value eq null]"#,
        r#"active eq null"#,
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

    fn admits(p: &Person, text: &str) -> bool {
        match Filter::parse_person(text) {
            Ok(f) => f.matches(PersonNode::of(p)),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    /// The issue's cases: what the source did not send is absent, `""` is not null.
    #[test]
    fn absent_is_absent_and_empty_is_not_null() {
        let mut p = Person::test("a");
        (p.given_name, p.family_name) = (CompactString::default(), CompactString::default());
        p.title = Some("".into());
        p.active_unsent = true;
        assert!(!admits(&p, "name pr") && !admits(&p, r#"name.givenName eq """#));
        assert!(admits(&p, "name eq null") && admits(&p, "name.givenName eq null"));
        let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr";
        assert!(!admits(&p, manager));
        assert!(!admits(&p, "title eq null") && admits(&p, r#"title eq """#) && !admits(&p, "title pr"));
        assert!(!admits(&p, "active eq true") && admits(&p, "not (active eq false)") && admits(&p, "active eq null"));
        p.empty_names = crate::model::EMPTY_GIVEN;
        assert!(admits(&p, r#"name.givenName eq """#) && !admits(&p, "name pr"));
        p.manager = Some("m-1".into());
        assert!(admits(&p, manager));
    }

    #[test]
    fn groups_value_is_the_id_and_display_the_name() {
        let mut p = Person::test("a");
        p.groups = vec![Group::new("Contractors", Some("G-7".into()))];
        assert!(admits(&p, r#"groups.value eq "G-7" and groups.display eq "contractors""#));
        assert!(!admits(&p, r#"groups.value eq "g-7""#), "ids compare exactly");
        assert!(!admits(&p, r#"groups.value eq "Contractors""#));
        assert!(!admits(&p, r#"not (groups.display eq "Contractors")"#));
    }

    #[test]
    fn an_email_without_a_value_is_still_an_email() {
        let mut p = Person::test("a");
        p.emails.push(Email { value: "".into(), kind: Some("pager".into()), primary: false });
        assert!(admits(&p, r#"emails[type eq "pager"]"#) && !admits(&p, r#"emails[type eq "pager"].value pr"#));
        assert_eq!(p.email(), Some("a@example.com"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn reads_exactly_as_the_built_scim_view(p in person()) {
            let view = p.scim_view();
            for text in FILTERS {
                let filter = Filter::parse(text).unwrap();
                prop_assert_eq!(filter.matches(PersonNode::of(&p)), filter.matches(&view), "{}", text);
                if let Ok(typed) = Filter::parse_person(text) {
                    prop_assert_eq!(typed.matches(PersonNode::of(&p)), typed.matches(&view), "{}", text);
                }
            }
            for text in TEMPLATES {
                let template = Template::parse(text).unwrap();
                prop_assert_eq!(template.render(PersonNode::of(&p)), template.render(&view), "{}", text);
            }
        }
    }
}
