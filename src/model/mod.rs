//! The shapes every part of rosterd speaks: people from the roster, accounts on platforms,
//! and the field-level changes between them.

mod fields;
mod group;
mod name;
mod node;
mod outcome;
mod view;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use fields::Fields;
pub use group::Group;
pub use name::FieldName;
pub use node::PersonNode;
pub use outcome::{Outcome, RunResult};

/// One email address (or phone number) of a person, as SCIM carries it. A `value` of `""`
/// is an entry the source sent without a value: filters see it with no `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Email {
    pub value: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<CompactString>,
    #[serde(default)]
    pub primary: bool,
}

/// A person of the authoritative roster, keyed by the source's stable `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Person {
    /// The source's stable id: links hang on it, so a rename never looks like a new person.
    pub id: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<CompactString>,
    pub user_name: CompactString,
    #[serde(default)]
    pub given_name: CompactString,
    #[serde(default)]
    pub family_name: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<CompactString>,
    #[serde(default)]
    pub emails: Vec<Email>,
    /// SCIM's `active`; absent at the source means true.
    #[serde(default = "yes")]
    pub active: bool,
    /// The source did not send `active` (so `active` above is the product's default, true):
    /// filters see no `active` attribute, as the source sent none.
    #[serde(default, skip_serializing_if = "is_false")]
    pub active_unsent: bool,
    /// Which of `given_name`/`family_name` the source sent as `""` (`EMPTY_GIVEN`,
    /// `EMPTY_FAMILY`), as opposed to not at all: filters see `""` only for those.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_names: u8,
    /// The groups the person is in, sorted by name.
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<CompactString>,
    /// Attributes most sources never send, boxed so a person without any costs 8 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Box<Extras>>,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// `Person::empty_names`: the source sent `name.givenName` as `""`.
pub const EMPTY_GIVEN: u8 = 1;
/// `Person::empty_names`: the source sent `name.familyName` as `""`.
pub const EMPTY_FAMILY: u8 = 2;

/// Attributes of the person schema that most sources never send (see the README's
/// "Person schema"). Absent ones are `None` or empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Extras {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division: Option<CompactString>,
    /// `meta.created`, as the source wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<CompactString>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<Email>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<CompactString>,
    /// `groups[i].type`, by the position of the group in `Person::groups`; empty when no
    /// group has a type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_types: Vec<Option<CompactString>>,
}

impl Extras {
    /// `Some` only when something is set, so people without extras cost no heap block.
    pub fn boxed(self) -> Option<Box<Extras>> {
        (self != Extras::default()).then(|| Box::new(self))
    }
}

/// The SCIM schema URN of the enterprise user extension.
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

impl Person {
    /// The primary email, else the first one; entries without a value do not count.
    pub fn email(&self) -> Option<&str> {
        let mut with_value = self.emails.iter().filter(|e| !e.value.is_empty());
        let first = with_value.clone().next();
        with_value.find(|e| e.primary).or(first).map(|e| e.value.as_str())
    }

    /// `name.givenName` as the source sent it: `None` when it sent none.
    pub fn sent_given_name(&self) -> Option<&str> {
        sent_name(&self.given_name, self.empty_names & EMPTY_GIVEN != 0)
    }

    /// `name.familyName` as the source sent it: `None` when it sent none.
    pub fn sent_family_name(&self) -> Option<&str> {
        sent_name(&self.family_name, self.empty_names & EMPTY_FAMILY != 0)
    }

    /// The attributes most sources never send, or their empty defaults.
    pub fn extras(&self) -> &Extras {
        static NONE: std::sync::OnceLock<Extras> = std::sync::OnceLock::new();
        self.extras.as_deref().unwrap_or_else(|| NONE.get_or_init(Extras::default))
    }

    /// A short label for tables and the audit trail: the email, else the user name.
    pub fn label(&self) -> &str {
        self.email().unwrap_or(&self.user_name)
    }

    /// The person as a SCIM User resource, as filters and templates see it: only what the
    /// source sent is there. Mapping reads people in place through `PersonNode`, which
    /// answers exactly as this view does; the view itself is for the places that need JSON.
    pub fn scim_view(&self) -> Value {
        view::build(self)
    }
}

fn sent_name(name: &str, sent_empty: bool) -> Option<&str> {
    (!name.is_empty() || sent_empty).then_some(name)
}

/// The flags of `Person::empty_names` for names a source sent.
pub fn empty_names(given: Option<&str>, family: Option<&str>) -> u8 {
    let flag = |name: Option<&str>, bit: u8| if name == Some("") { bit } else { 0 };
    flag(given, EMPTY_GIVEN) | flag(family, EMPTY_FAMILY)
}

/// The roster as read from the identity source.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub people: Vec<Person>,
    /// Only a complete roster may remove access: a short read must never look like leavers.
    pub complete: bool,
    /// Why the roster is incomplete, for the run summary.
    pub incomplete_reason: Option<String>,
}

impl Roster {
    pub fn complete(people: Vec<Person>) -> Self {
        Roster { people, complete: true, incomplete_reason: None }
    }

    pub fn incomplete(people: Vec<Person>, reason: impl Into<String>) -> Self {
        Roster { people, complete: false, incomplete_reason: Some(reason.into()) }
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Inactive,
}

/// An account as a platform lists it, reduced to what rosterd compares. Secrets that
/// platforms return in user records are dropped by the connector before this exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The platform's own id (CAKE `user_id`, Affise 24-hex id, Client Toolbox user name).
    pub id: CompactString,
    /// The platform's match key, normalised (trimmed, lower-cased).
    pub key: CompactString,
    /// Comparable fields by the platform's own names (`first_name`, `email`, ...).
    pub fields: Fields,
    /// The role as the connector compares it (a CAKE role name, a sorted Affise role list, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<CompactString>,
    pub status: AccountStatus,
}

/// The account a person should have on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredAccount {
    pub person_id: CompactString,
    /// The person's label (email or user name), for people reading plans.
    pub label: CompactString,
    /// The match key, normalised.
    pub key: CompactString,
    pub fields: Fields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<CompactString>,
}

/// One field's value before and after a change; `None` is "absent".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// The name of the role pseudo-field in a change list.
pub const ROLE_FIELD: &str = "role";

/// An account field a connector fills with the platform's invitation status (FileSpin),
/// for the access report; no mapping sets it, so the diff never compares it.
pub const INVITE_STATUS_FIELD: &str = "invite_status";

/// Normalise a match key: trimmed and lower-cased, as every platform compares them.
/// Lower-cased exactly as `str::to_lowercase` does, but a key of up to 24 bytes (most
/// emails) never touches the heap.
pub fn normalize_key(raw: &str) -> CompactString {
    let trimmed = raw.trim();
    if trimmed.is_ascii() {
        // The common case, and `to_lowercase` of ASCII is `to_ascii_lowercase`.
        let mut key = CompactString::from(trimmed);
        key.as_mut_str().make_ascii_lowercase();
        return key;
    }
    CompactString::from_str_to_lowercase(trimmed)
}

#[cfg(test)]
pub mod fixtures {
    //! Builders that read like prose: `Person::test("p1").in_group("Finance").inactive()`.
    use super::*;

    impl Person {
        pub fn test(id: &str) -> Person {
            Person {
                id: id.into(),
                user_name: format!("{id}@example.com").into(),
                given_name: format!("Given{id}").into(),
                family_name: format!("Family{id}").into(),
                emails: vec![Email {
                    value: format!("{id}@example.com").into(),
                    kind: Some("work".into()),
                    primary: true,
                }],
                active: true,
                ..Person::default()
            }
        }
        pub fn inactive(mut self) -> Person {
            self.active = false;
            self
        }
        pub fn in_group(mut self, group: &str) -> Person {
            self.groups.push(Group::named(group));
            self
        }
        pub fn with_email(mut self, email: &str) -> Person {
            self.emails = vec![Email { value: email.into(), kind: Some("work".into()), primary: true }];
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_email_wins_over_first() {
        let mut p = Person::test("a");
        p.emails.insert(0, Email { value: "other@x.com".into(), kind: None, primary: false });
        assert_eq!(p.email(), Some("a@example.com"));
    }

    #[test]
    fn a_key_is_lower_cased_exactly_as_str_does_it() {
        for raw in
            ["  Grace@Example.COM ", "ὈΔΥΣΣΕΎΣ@x.gr", "İstanbul@X.TR", "a-very-long-USER-name-beyond-24@example.com"]
        {
            assert_eq!(normalize_key(raw), raw.trim().to_lowercase(), "{raw}");
        }
    }

    #[test]
    fn scim_view_carries_groups_and_enterprise_fields() {
        let mut p = Person::test("a").in_group("Sales");
        p.department = Some("Finance".into());
        let v = p.scim_view();
        assert_eq!(v["groups"][0]["display"], "Sales");
        assert_eq!(v[ENTERPRISE_URN]["department"], "Finance");
    }
}
