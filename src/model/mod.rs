//! The shapes every part of rosterd speaks: people from the roster, accounts on platforms,
//! and the field-level changes between them.

mod fields;
mod name;
mod node;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use fields::Fields;
pub use name::FieldName;
pub use node::PersonNode;

/// One email address of a person, as SCIM carries it.
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
    /// Group display names.
    #[serde(default)]
    pub groups: Vec<CompactString>,
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
}

fn yes() -> bool {
    true
}

/// The SCIM schema URN of the enterprise user extension.
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

impl Person {
    /// The primary email, else the first one.
    pub fn email(&self) -> Option<&str> {
        self.emails.iter().find(|e| e.primary).or_else(|| self.emails.first()).map(|e| e.value.as_str())
    }

    /// A short label for tables and the audit trail: the email, else the user name.
    pub fn label(&self) -> &str {
        self.email().unwrap_or(&self.user_name)
    }

    /// The person as a SCIM User resource, as filters and templates see it. Mapping reads
    /// people in place through `PersonNode`, which answers exactly as this view does; the
    /// view itself is for the places that need JSON.
    pub fn scim_view(&self) -> Value {
        json!({
            "id": self.id,
            "externalId": self.external_id,
            "userName": self.user_name,
            "name": { "givenName": self.given_name, "familyName": self.family_name },
            "displayName": self.display_name,
            "emails": self.emails,
            "email": self.email(),
            "active": self.active,
            "groups": self.groups.iter().map(|g| json!({ "display": g, "value": g })).collect::<Vec<_>>(),
            "title": self.title,
            "meta": { "lastModified": self.last_modified },
            ENTERPRISE_URN: {
                "employeeNumber": self.employee_number,
                "department": self.department,
                "organization": self.organization,
                "manager": { "value": self.manager },
            },
        })
    }
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
            self.groups.push(group.into());
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
