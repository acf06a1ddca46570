//! The emulated org's directory: users and groups, the `filter` expressions Okta accepts on
//! users, cursor paging, and a generator of people for tests and benchmarks.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::source::okta::wire::{GroupProfile, OktaGroup, OktaUser};

/// The users (by id, the paging order) and groups (by id) of the org, with members.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: BTreeMap<String, OktaUser>,
    pub groups: BTreeMap<String, OktaGroup>,
    pub members: BTreeMap<String, BTreeSet<String>>,
}

/// One user comparison of a `filter`: `status eq "ACTIVE"`, `lastUpdated gt "..."`.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Status(String),
    Updated(&'static str, DateTime<Utc>),
}

/// A `filter` as Okta reads it: comparisons joined by `and` (this emulator does not take `or`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter(Vec<Term>);

impl UserFilter {
    /// Parse a filter; Err says why Okta would refuse it (400 E0000001).
    pub fn parse(text: &str) -> Result<UserFilter, String> {
        let mut terms = Vec::new();
        for part in text.split(" and ") {
            let mut words = part.trim().splitn(3, ' ');
            let (attribute, op, value) = (words.next(), words.next(), words.next());
            let value = value.and_then(|v| v.strip_prefix('"')?.strip_suffix('"')).ok_or("a value in double quotes")?;
            terms.push(match (attribute, op) {
                (Some("status"), Some("eq")) => Term::Status(value.to_string()),
                (Some("lastUpdated"), Some(op @ ("gt" | "ge" | "lt" | "le" | "eq"))) => {
                    let at = DateTime::parse_from_rfc3339(value).map_err(|e| format!("lastUpdated {value:?}: {e}"))?;
                    Term::Updated(static_op(op), at.with_timezone(&Utc))
                }
                _ => return Err(format!("unsupported filter expression {part:?}")),
            });
        }
        Ok(UserFilter(terms))
    }

    /// Whether a user matches. Without a filter, Okta lists everyone but the deprovisioned.
    pub fn matches(&self, user: &OktaUser) -> bool {
        if self.0.is_empty() {
            return user.status != "DEPROVISIONED";
        }
        self.0.iter().all(|term| match term {
            Term::Status(status) => &user.status == status,
            Term::Updated(op, at) => {
                let updated = user.last_updated.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                updated.is_some_and(|u| compare(op, u.with_timezone(&Utc), *at))
            }
        })
    }
}

fn static_op(op: &str) -> &'static str {
    match op {
        "gt" => "gt",
        "ge" => "ge",
        "lt" => "lt",
        "le" => "le",
        _ => "eq",
    }
}

fn compare(op: &str, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    match op {
        "gt" => a > b,
        "ge" => a >= b,
        "lt" => a < b,
        "le" => a <= b,
        _ => a == b,
    }
}

/// The page after cursor `after` (an id of the listing), `size` long, and whether more
/// follow; `None` when the cursor is not an id of the listing.
pub fn page_after<'a, T>(
    items: &'a [(String, T)],
    after: Option<&str>,
    size: usize,
) -> Option<(&'a [(String, T)], bool)> {
    let start = match after {
        None => 0,
        Some(cursor) => items.iter().position(|(id, _)| id == cursor)? + 1,
    };
    let end = start.saturating_add(size).min(items.len());
    let page = items.get(start..end).unwrap_or_default();
    Some((page, end < items.len()))
}

/// The groups the generated people are in.
pub const GENERATED_GROUPS: [(&str, &str); 5] = [
    ("00g0000everyone", "Everyone"),
    ("00g00cakeusers", "cake-users"),
    ("00g00finance", "Finance"),
    ("00g00sales", "Sales"),
    ("00g00contractors", "Contractors"),
];

/// The status of generated person `i` (1-based): every 20th suspended, every 20th (offset 10)
/// deprovisioned, every 25th (offset 5) staged; some locked out, some with an expired password.
pub fn generated_status(i: usize) -> &'static str {
    match (i % 20, i % 25, i % 15) {
        (0, _, _) => "SUSPENDED",
        (10, _, _) => "DEPROVISIONED",
        (_, 5, _) => "STAGED",
        (_, _, 1) => "LOCKED_OUT",
        (_, _, 2) => "PASSWORD_EXPIRED",
        (_, _, 3) => "RECOVERY",
        _ => "ACTIVE",
    }
}

/// Whether generated person `i` is a guest (a contractor from a partner's domain).
pub fn generated_guest(i: usize) -> bool {
    i % 9 == 0
}

/// The names of the groups generated person `i` is in (Everyone aside): cake-users unless a
/// guest or `i % 4 == 0`, Finance when `i % 7 == 0`, Sales when `i % 3 == 0`, Contractors
/// for guests.
pub fn generated_groups(i: usize) -> Vec<&'static str> {
    let mut groups = Vec::new();
    if !generated_guest(i) && i % 4 != 0 {
        groups.push("cake-users");
    }
    if i % 7 == 0 {
        groups.push("Finance");
    }
    if i % 3 == 0 {
        groups.push("Sales");
    }
    if generated_guest(i) {
        groups.push("Contractors");
    }
    groups
}

/// The id of generated person `i`.
pub fn generated_id(i: usize) -> String {
    format!("00u{i:07}")
}

/// The login (and email) of generated person `i`.
pub fn generated_login(i: usize) -> String {
    match generated_guest(i) {
        true => format!("guest{i:06}@partner.example"),
        false => format!("user{i:06}@acme.example"),
    }
}

impl Directory {
    /// People 1..=n as the generator describes them, all updated at `updated`.
    pub fn generated(n: usize, updated: &str) -> Directory {
        let mut directory = Directory::default();
        for (id, name) in GENERATED_GROUPS {
            let kind = if name == "Everyone" { "BUILT_IN" } else { "OKTA_GROUP" };
            let group = OktaGroup {
                id: id.into(),
                kind: kind.into(),
                profile: GroupProfile { name: name.into() },
                last_membership_updated: Some(updated.into()),
            };
            directory.groups.insert(id.into(), group);
        }
        for i in 1..=n {
            let user = generated_user(i, updated);
            directory.join("00g0000everyone", &user.id);
            for name in generated_groups(i) {
                if let Some((gid, _)) = GENERATED_GROUPS.iter().find(|(_, g)| *g == name) {
                    directory.join(gid, &user.id);
                }
            }
            directory.users.insert(user.id.clone(), user);
        }
        directory
    }

    pub fn join(&mut self, group: &str, user: &str) {
        self.members.entry(group.to_string()).or_default().insert(user.to_string());
    }
}

fn generated_user(i: usize, updated: &str) -> OktaUser {
    let login = generated_login(i);
    let department = ["Sales", "Finance", "Ops"].get(i % 3).copied();
    let profile = serde_json::json!({
        "login": login, "email": login,
        "secondEmail": (i % 11 == 0).then(|| format!("p{i}@home.example")),
        "firstName": format!("Given{i}"), "lastName": format!("Family{i}"), "displayName": null,
        "department": department, "title": "Analyst",
        "employeeNumber": i.to_string(), "managerId": (i > 1).then(|| generated_id(1)),
    });
    let profile = profile.as_object().cloned().unwrap_or_default();
    OktaUser { id: generated_id(i), status: generated_status(i).into(), last_updated: Some(updated.into()), profile }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_okta_takes_them_and_refuse_the_rest() {
        let f = UserFilter::parse("status eq \"DEPROVISIONED\"").unwrap();
        let mut user = generated_user(10, "2024-05-02T10:11:12.000Z");
        assert!(f.matches(&user));
        let since = UserFilter::parse("lastUpdated gt \"2024-05-02T10:00:00.000Z\"").unwrap();
        assert!(since.matches(&user));
        user.last_updated = Some("2024-05-01T00:00:00.000Z".into());
        assert!(!since.matches(&user));
        assert!(!UserFilter::default().matches(&generated_user(10, "x")), "no filter: no deprovisioned user");
        for bad in ["not status eq \"A\"", "profile.department eq \"x\"", "status eq ACTIVE", "lastUpdated gt \"soon\""]
        {
            assert!(UserFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_follow_the_cursor_and_refuse_an_unknown_one() {
        let items: Vec<(String, ())> = (0..5).map(|i| (format!("u{i}"), ())).collect();
        let (page, more) = page_after(&items, None, 2).unwrap();
        assert_eq!((page.len(), more), (2, true));
        let (page, more) = page_after(&items, Some("u3"), 2).unwrap();
        assert_eq!((page.len(), more), (1, false));
        assert!(page_after(&items, Some("nope"), 2).is_none());
    }
}
