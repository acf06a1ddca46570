//! Deterministic rosters and platform states at any size: person `i` is always the same
//! person, so every run of the benchmark measures the same work.

use std::collections::BTreeMap;

use compact_str::{format_compact, CompactString, ToCompactString};
use rosterd::model::{Account, AccountStatus, Email, Person};
use rosterd::reconcile::desired::{Mapping, RoleRule};
use rosterd::reconcile::diff::{Link, LinkOrigin};
use rosterd::template::Template;

const GIVEN: [&str; 8] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"];
const FAMILY: [&str; 8] = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"];
const DEPARTMENTS: [&str; 4] = ["Finance", "Sales", "Support", "Engineering"];

/// Person `i` of the roster: a work email, two groups, a department, every 50th inactive.
pub fn person(i: usize) -> Person {
    let email = format_compact!("user{i:07}@example.com");
    let department = DEPARTMENTS[i % DEPARTMENTS.len()];
    Person {
        id: format!("{i:08x}-0000-4000-8000-000000000000").into(),
        user_name: email.clone(),
        given_name: GIVEN[i % GIVEN.len()].into(),
        family_name: format_compact!("{}{}", FAMILY[(i / 8) % FAMILY.len()], i % 1000),
        emails: vec![Email { value: email, kind: Some("work".into()), primary: true }],
        active: i % 50 != 49,
        groups: vec!["staff".into(), department.into()],
        department: Some(department.into()),
        ..Person::default()
    }
}

pub fn roster(n: usize) -> Vec<Person> {
    (0..n).map(person).collect()
}

/// A CAKE-like mapping: everyone active, the Finance department gets the Finance role.
pub fn mapping() -> Mapping {
    let t = |s: &str| Template::parse(s).expect("bench template");
    Mapping {
        scope: Some(rosterd::filter::Filter::parse(r#"groups.display eq "staff""#).expect("bench filter")),
        roles: vec![
            RoleRule {
                when: Some(rosterd::filter::Filter::parse(r#"groups.display eq "Finance""#).expect("bench filter")),
                role: "Finance".into(),
                fields: BTreeMap::new(),
            },
            RoleRule { when: None, role: "Account Manager".into(), fields: BTreeMap::new() },
        ],
        fields: [("first_name", "{name.givenName}"), ("last_name", "{name.familyName}"), ("email", "{email}")]
            .into_iter()
            .map(|(f, s)| (f.to_string(), t(s)))
            .collect(),
        key: t("{email}"),
    }
}

/// The account person `i` has when converged, and the link to it.
pub fn account(i: usize) -> Account {
    let p = person(i);
    let email = CompactString::from(p.email().unwrap_or_default());
    let role = if p.department.as_deref() == Some("Finance") { "Finance" } else { "Account Manager" };
    Account {
        id: (100_000 + i).to_compact_string(),
        key: email.clone(),
        fields: [("first_name", p.given_name.clone()), ("last_name", p.family_name.clone()), ("email", email)].into(),
        role: Some(role.into()),
        status: if p.active { AccountStatus::Active } else { AccountStatus::Inactive },
    }
}

/// The platform state for a roster of `n`: converged, except that `churn` people in every
/// 100 changed: one joiner (no account yet), one leaver (account of someone no longer in the
/// roster), one renamed (last name differs).
/// The links come as `Store::links` gives them: a map built in one go from sorted pairs.
pub fn platform(n: usize, churn: bool) -> (Vec<Account>, BTreeMap<String, Link>) {
    let mut accounts = Vec::with_capacity(n);
    let mut links = Vec::with_capacity(n + n / 100);
    for i in 0..n {
        if churn && i % 100 == 0 {
            continue; // a joiner
        }
        let mut a = account(i);
        if churn && i % 100 == 1 {
            a.fields.insert("last_name".into(), "Renamed".into());
        }
        links.push((
            person(i).id.into(),
            Link { account_id: a.id.clone(), origin: LinkOrigin::Created, removed: false },
        ));
        accounts.push(a);
    }
    if churn {
        // Leavers: linked accounts whose people are gone from the roster.
        for i in (n..n + n / 100).map(|j| j + 10 * n) {
            let a = account(i);
            links.push((
                person(i).id.into(),
                Link { account_id: a.id.clone(), origin: LinkOrigin::Created, removed: false },
            ));
            accounts.push(Account { status: AccountStatus::Active, ..a });
        }
    }
    (accounts, links.into_iter().collect())
}

/// The roster as a YAML roster file (rosterd's own format).
pub fn roster_yaml(n: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(n * 200);
    out.push_str("complete: true\npeople:\n");
    for i in 0..n {
        let p = person(i);
        let _ = write!(
            out,
            "  - id: \"{}\"\n    user_name: {}\n    given_name: {}\n    family_name: {}\n    email: {}\n    active: {}\n    groups: [{}]\n    department: {}\n",
            p.id,
            p.user_name,
            p.given_name,
            p.family_name,
            p.email().unwrap_or_default(),
            p.active,
            p.groups.iter().map(|g| g.display()).collect::<Vec<_>>().join(", "),
            p.department.as_deref().unwrap_or_default()
        );
    }
    out
}

/// One SCIM `ListResponse` page: people `start..start + count` of a roster of `total`.
pub fn scim_page(start: usize, count: usize, total: usize) -> Vec<u8> {
    let resources: Vec<serde_json::Value> = (start..start + count)
        .map(|i| {
            let p = person(i);
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", rosterd::model::ENTERPRISE_URN],
                "id": p.id,
                "userName": p.user_name,
                "name": {"givenName": p.given_name, "familyName": p.family_name},
                "emails": [{"value": p.email(), "type": "work", "primary": true}],
                "active": p.active,
                "groups": p.groups.iter().map(|g| serde_json::json!({"value": g, "display": g})).collect::<Vec<_>>(),
                "meta": {"resourceType": "User", "lastModified": "2026-01-01T00:00:00Z"},
                rosterd::model::ENTERPRISE_URN: {"department": p.department},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start + 1,
        "itemsPerPage": count,
        "Resources": resources,
    }))
    .expect("page serialises")
}
