//! The Directory API's JSON as the Google source reads it (`platforms/google.md`): a listing
//! page, a user and how it maps to a person, a group, a member, and an error answer.

use compact_str::CompactString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{empty_names, Email, Extras, Person};

/// One page of `users.list`, `groups.list` or `members.list`: the items (absent on an empty
/// page) and the token of the next page (absent on the last).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    #[serde(rename = "nextPageToken", default)]
    pub next_page_token: Option<String>,
    #[serde(alias = "users", alias = "groups", alias = "members", default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T: DeserializeOwned> Page<T> {
    /// Parse one page; Err says where the JSON is wrong (serde's message names no value).
    pub fn parse(body: &[u8]) -> Result<Page<T>, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

/// Something a listing holds, known by its id.
pub trait Listed {
    fn id(&self) -> &str;
}

/// A user as `users.list` sends it (the emulator serves the same type).
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// The stable id (a decimal string): links hang on it.
    pub id: String,
    /// The sign-in address: `userName` and the primary email.
    pub primary_email: String,
    pub name: Name,
    /// Suspended or archived users are inactive.
    pub suspended: bool,
    pub archived: bool,
    /// Kept for scoping, as `userType` "admin".
    pub is_admin: bool,
    /// Kept for scoping, as `organization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_unit_path: Option<CompactString>,
    /// The primary one (else the first) gives `title` and `department`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Organization>,
    /// `type: organization` is the employee number.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<Typed>,
    /// `type: manager` is the manager's email.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Typed>,
    /// Other addresses, with `aliases`: the person's other emails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<CompactString>,
}

/// `name`: `fullName` is the display name.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Name {
    pub given_name: Option<CompactString>,
    pub family_name: Option<CompactString>,
    pub full_name: Option<CompactString>,
}

/// One of `organizations[]`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Organization {
    pub title: Option<CompactString>,
    pub department: Option<CompactString>,
    pub primary: bool,
}

/// An entry with a `value` and a `type` (`externalIds[]`, `relations[]`).
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Typed {
    pub value: Option<CompactString>,
    #[serde(rename = "type")]
    pub kind: Option<CompactString>,
}

/// One of `emails[]`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Address {
    pub address: Option<CompactString>,
}

impl Listed for User {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    pub id: String,
    pub email: CompactString,
    pub name: CompactString,
    /// An int64 sent as a JSON string; `None` when absent or unreadable.
    #[serde(deserialize_with = "int64_string")]
    pub direct_members_count: Option<u64>,
}

impl Listed for Group {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A direct member as `members.list` sends it (the emulator serves the same type).
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Member {
    /// The user's or the nested group's id.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<CompactString>,
    /// `USER`, `GROUP`, `CUSTOMER` (every user) or `EXTERNAL` (a guest, ignored).
    #[serde(rename = "type")]
    pub kind: CompactString,
}

impl Listed for Member {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Google sends int64s as strings; a number is taken too.
fn int64_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Text(t)) => t.parse().ok(),
        Some(Either::Number(n)) => Some(n),
        None => None,
    })
}

/// `{"error":{"code":403,"message":"…","errors":[{"reason":"…"}]}}`, or the token endpoint's
/// `{"error":"invalid_grant","error_description":"…"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Api { error: ApiError },
    OAuth { error: String, error_description: Option<String> },
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApiError {
    message: String,
    errors: Vec<Reason>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Reason {
    reason: String,
}

/// An error answer's `errors[0].reason` (or OAuth `error`) and its message, when it has them.
pub fn error_of(body: &[u8]) -> Option<(String, String)> {
    match serde_json::from_slice::<ErrorBody>(body).ok()? {
        ErrorBody::Api { error } => {
            let reason = error.errors.into_iter().next().map(|r| r.reason).unwrap_or_default();
            Some((reason, error.message))
        }
        ErrorBody::OAuth { error, error_description } => Some((error, error_description.unwrap_or_default())),
    }
}

/// Quota answers that mean "slow down", not "refused" (contract: Errors).
pub fn is_quota(status: u16, reason: &str) -> bool {
    matches!((status, reason), (403, "userRateLimitExceeded" | "quotaExceeded" | "rateLimitExceeded"))
}

impl User {
    /// The person this user is (contract: Person mapping). `manager` is the manager's email
    /// here; the read turns it into the manager's id when the manager is in the roster.
    pub fn into_person(self) -> Person {
        let primary = self.primary_email.to_lowercase();
        let mut emails = vec![Email { value: primary.as_str().into(), kind: Some("work".into()), primary: true }];
        let others = self.emails.into_iter().filter_map(|a| a.address).chain(self.aliases);
        for other in others {
            let other = other.to_lowercase();
            if !other.is_empty() && emails.iter().all(|e| e.value != other) {
                emails.push(Email { value: other, kind: Some("other".into()), primary: false });
            }
        }
        let org = self.organizations.iter().find(|o| o.primary).or(self.organizations.first());
        let typed = |list: &[Typed], kind: &str| {
            list.iter().find(|t| t.kind.as_deref() == Some(kind)).and_then(|t| t.value.clone())
        };
        let extras = Extras { user_type: self.is_admin.then(|| "admin".into()), ..Extras::default() };
        Person {
            empty_names: empty_names(self.name.given_name.as_deref(), self.name.family_name.as_deref()),
            id: self.id.into(),
            user_name: self.primary_email.into(),
            given_name: self.name.given_name.unwrap_or_default(),
            family_name: self.name.family_name.unwrap_or_default(),
            display_name: self.name.full_name,
            emails,
            active: !self.suspended && !self.archived,
            title: org.and_then(|o| o.title.clone()),
            department: org.and_then(|o| o.department.clone()),
            employee_number: typed(&self.external_ids, "organization"),
            manager: typed(&self.relations, "manager").map(|m| m.to_lowercase()),
            organization: self.org_unit_path,
            extras: extras.boxed(),
            ..Person::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_example_maps_as_the_contract_says() {
        let body = br#"{"nextPageToken":"Cg8","users":[{"id":"104819205512345678901","primaryEmail":"Ana@acme.com",
 "name":{"givenName":"Ana","familyName":"Lima","fullName":"Ana Lima"},"suspended":false,
 "archived":false,"orgUnitPath":"/Sales","organizations":[{"title":"Intern"},{"title":"AE","department":"Sales","primary":true}],
 "externalIds":[{"value":"4711","type":"organization"}],"relations":[{"value":"bo@acme.com","type":"manager"}],
 "emails":[{"address":"ana@acme.com","primary":true},{"address":"ana.lima@acme.com"}],"aliases":["al@acme.com"],"isAdmin":true}]}"#;
        let page = Page::<User>::parse(body).unwrap();
        assert_eq!(page.next_page_token.as_deref(), Some("Cg8"));
        let p = page.items.into_iter().next().unwrap().into_person();
        assert_eq!((p.id.as_str(), p.user_name.as_str()), ("104819205512345678901", "Ana@acme.com"));
        let emails: Vec<&str> = p.emails.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(emails, ["ana@acme.com", "ana.lima@acme.com", "al@acme.com"]);
        assert_eq!(
            (p.given_name.as_str(), p.family_name.as_str(), p.display_name.as_deref()),
            ("Ana", "Lima", Some("Ana Lima"))
        );
        assert!(p.active);
        assert_eq!((p.title.as_deref(), p.department.as_deref()), (Some("AE"), Some("Sales")));
        assert_eq!((p.employee_number.as_deref(), p.manager.as_deref()), (Some("4711"), Some("bo@acme.com")));
        assert_eq!((p.organization.as_deref(), p.extras().user_type.as_deref()), (Some("/Sales"), Some("admin")));
    }

    #[test]
    fn suspended_or_archived_is_inactive_and_an_empty_page_has_no_users_key() {
        for (s, a, active) in [(true, false, false), (false, true, false), (false, false, true)] {
            let u = User { id: "1".into(), primary_email: "a@b".into(), suspended: s, archived: a, ..User::default() };
            assert_eq!(u.into_person().active, active);
        }
        let page = Page::<User>::parse(b"{\"kind\":\"admin#directory#users\"}").unwrap();
        assert!(page.items.is_empty() && page.next_page_token.is_none());
        let g = Page::<Group>::parse(br#"{"groups":[{"id":"g","name":"G","directMembersCount":"12"}]}"#).unwrap();
        assert_eq!(g.items[0].direct_members_count, Some(12));
    }

    #[test]
    fn error_answers_give_their_reason() {
        let api = br#"{"error":{"code":403,"message":"Quota","errors":[{"message":"x","domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        let (reason, message) = error_of(api).unwrap();
        assert!(is_quota(403, &reason) && message == "Quota");
        let oauth = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert_eq!(error_of(oauth), Some(("invalid_grant".into(), "Invalid JWT Signature.".into())));
        assert!(!is_quota(403, "forbidden") && error_of(b"<html>").is_none());
    }
}
