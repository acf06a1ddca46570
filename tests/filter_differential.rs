//! Scope filters against a real SCIM server's own filter evaluation (RFC 7644 §3.4.2.2).
//!
//! The same seeded people are created in `scim2-server` (PyPI) and read back by rosterd's
//! SCIM source; a few hundred filters (hand-written tricky ones plus seeded random
//! compositions) are then asked of the server (`GET /Users?filter=...`) and evaluated by
//! rosterd on the people it read. Every disagreement must be one of the deliberate ones
//! listed in `DIFFERENCES` (and in the README), each with the RFC sentence that decides it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rosterd::filter::Filter;
use rosterd::model::{Person, PersonNode};
use rosterd::source::scim::{ScimAuth, ScimSettings, ScimSource};
use rosterd::source::Source;
use secrecy::SecretString;
use serde_json::{json, Value};
use support::scim_server::ScimServer;

const TOKEN: &str = "differential-token-51c2";
const PEOPLE: usize = 200;
const RANDOM_FILTERS: usize = 230;
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Where rosterd and scim2-server answer differently on purpose, and why. A disagreement
/// is accepted only for a filter that contains the marker.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "primary eq false",
        "RFC 7643 §2.4: \"If not specified, the value of 'primary' SHALL be assumed to be 'false'\" \
         (scim2-server treats an unspecified primary as absent)",
    ),
    (
        "not (value pr)",
        "RFC 7643 §2.5: unassigned attributes \"SHALL be considered to be equivalent in 'state'\"; \
         scim2-server matches an email entry holding nothing, which it never returns",
    ),
    (
        "emails eq null",
        "RFC 7643 §2.5: the null value is equivalent to unassigned, and these emails are assigned \
         (scim2-server answers true for users with emails)",
    ),
    (
        "schemas eq",
        "RFC 7643 §3: `schemas` lists the schemas of the representation; rosterd reads the one \
         returned, and scim2-server matches an extension URN its response leaves out",
    ),
];

/// Filters rosterd refuses at load although scim2-server evaluates them, and why.
const REFUSED: &[(&str, &str)] = &[
    ("active gt", "RFC 7644 §3.4.2.2: booleans support eq/ne only (\"gt\" etc. on a boolean is invalid)"),
    ("_title", "RFC 7644 §3.10: ATTRNAME = ALPHA *(nameChar)"),
    ("givenName.first", "RFC 7644 §3.10: attrPath = [URI \":\"] ATTRNAME *1subAttr"),
    ("core:2.0:Group:", "RFC 7644 §3.10: a URN prefix names a schema of the resource, and a Group's is not a User's"),
    ("title eq 1", "RFC 7643 §2.3.1: title is a string; 1 is a number"),
    ("dispaly", "not an attribute of the person schema (a typo rosterd names at load)"),
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// `Some(value)` with probability `p` (the value is drawn only then).
macro_rules! maybe {
    ($rng:expr, $p:expr, $value:expr) => {
        if $rng.gen_bool($p) {
            Some($value)
        } else {
            None
        }
    };
}

const GIVEN: &[&str] = &["Ada", "ada", "Grace", "Émile", "Zoë", ""];
const FAMILY: &[&str] = &["Lovelace", "Hopper", "O'Neil", "van Rossum"];
const TITLES: &[&str] = &["Engineer", "engineer", "Tour Guide", "", "Manager"];
const TYPES: &[&str] = &["Employee", "Contractor", "contractor", "Intern"];
const GROUPS: &[(&str, &str)] =
    &[("g-100", "Sales"), ("g-200", "Contractors"), ("g-300", "Finance"), ("G-400", "sales-emea")];
const EMAIL_TYPES: &[&str] = &["work", "home", "pager", "Work"];
const DEPARTMENTS: &[&str] = &["Finance", "Sales", "R&D", ""];

/// Person `i` as a SCIM User resource: most attributes present, absent or empty at random.
fn seeded_user(i: usize, rng: &mut StdRng) -> Value {
    let mut user = json!({ "schemas": [USER], "userName": format!("user{i:03}@Example.com") });
    let set = |user: &mut Value, key: &str, value: Option<Value>| {
        if let Some(v) = value {
            user[key] = v;
        }
    };
    let external = match rng.gen_range(0..3) {
        0 => None,
        1 => Some(format!("EMP-{i:04}")),
        _ => Some(format!("emp-{i:04}")),
    };
    set(&mut user, "externalId", external.map(Value::from));
    if rng.gen_bool(0.85) {
        let mut name = json!({});
        set(&mut name, "givenName", maybe!(rng, 0.8, json!(pick(rng, GIVEN))));
        set(&mut name, "familyName", maybe!(rng, 0.8, json!(pick(rng, FAMILY))));
        set(&mut name, "middleName", maybe!(rng, 0.2, json!("B")));
        user["name"] = name;
    }
    set(&mut user, "displayName", maybe!(rng, 0.6, json!(format!("Person {i}"))));
    set(&mut user, "nickName", maybe!(rng, 0.3, json!(pick(rng, &["Babs", "", "ace"]))));
    set(&mut user, "title", maybe!(rng, 0.7, json!(pick(rng, TITLES))));
    set(&mut user, "userType", maybe!(rng, 0.7, json!(pick(rng, TYPES))));
    set(&mut user, "locale", maybe!(rng, 0.3, json!(pick(rng, &["en-GB", "fr-FR"]))));
    set(&mut user, "active", maybe!(rng, 0.85, json!(rng.gen_bool(0.8))));
    let emails: Vec<Value> = (0..rng.gen_range(0..3))
        .map(|n| {
            let mut email = json!({});
            set(
                &mut email,
                "value",
                maybe!(rng, 0.85, json!(format!("u{i}.{n}@{}", pick(rng, &["acme.com", "Acme.org"])))),
            );
            set(&mut email, "type", maybe!(rng, 0.8, json!(pick(rng, EMAIL_TYPES))));
            set(&mut email, "primary", maybe!(rng, 0.7, json!(n == 0)));
            email
        })
        .collect();
    set(&mut user, "emails", (!emails.is_empty()).then_some(Value::Array(emails)));
    set(
        &mut user,
        "phoneNumbers",
        maybe!(rng, 0.3, json!([{ "value": format!("+1 555 {i:04}"), "type": pick(rng, &["work", "mobile"]) }])),
    );
    let mut groups: Vec<Value> = Vec::new();
    for (id, name) in GROUPS {
        if rng.gen_bool(0.35) {
            groups.push(json!({ "value": id, "display": name, "type": pick(rng, &["direct", "indirect"]) }));
        }
    }
    set(&mut user, "groups", (!groups.is_empty()).then_some(Value::Array(groups)));
    if rng.gen_bool(0.7) {
        let mut ext = json!({});
        set(&mut ext, "employeeNumber", maybe!(rng, 0.6, json!(format!("{}", 1000 + i))));
        set(&mut ext, "costCenter", maybe!(rng, 0.5, json!(pick(rng, &["4130", "4200", "5100"]))));
        set(&mut ext, "division", maybe!(rng, 0.4, json!(pick(rng, &["Retail", "retail", "Wholesale"]))));
        set(&mut ext, "department", maybe!(rng, 0.6, json!(pick(rng, DEPARTMENTS))));
        set(&mut ext, "organization", maybe!(rng, 0.3, json!("Acme")));
        set(&mut ext, "manager", maybe!(rng, 0.4, json!({ "value": format!("m-{}", i % 7) })));
        user["schemas"] = json!([USER, ENTERPRISE]);
        user[ENTERPRISE] = ext;
    }
    user
}

/// Filters written to hit the corners: absence, null, empty strings, case rules, grammar.
fn tricky(times: &[String]) -> Vec<String> {
    let mut out: Vec<String> = [
        r#"userName eq "USER001@example.com""#,
        r#"userName sw "user00" and not (userName ew ".com")"#,
        r#"externalId eq "emp-0011""#,
        r#"externalId eq "EMP-0011""#,
        r#"externalId sw "EMP" or externalId pr"#,
        r#"externalId ne "emp-0012""#,
        r#"id pr"#,
        r#"name pr"#,
        r#"not (name pr)"#,
        r#"name.givenName eq """#,
        r#"name.givenName pr"#,
        r#"name.givenName eq "ada""#,
        r#"name.givenName co "Ë""#,
        r#"name.givenName eq "émile""#,
        r#"name.familyName co "'""#,
        r#"name.middleName pr"#,
        r#"name.middleName eq null"#,
        r#"displayName eq null"#,
        r#"displayName ne null"#,
        r#"nickName pr"#,
        r#"nickName eq """#,
        r#"nickName eq null"#,
        r#"title eq null"#,
        r#"title eq """#,
        r#"title pr"#,
        r#"title ne "engineer""#,
        r#"title gt "M" and title lt "T""#,
        r#"title ge "tour guide""#,
        r#"not (userType eq "Contractor")"#,
        r#"userType eq "contractor""#,
        r#"userType ne "Employee" and userType pr"#,
        r#"locale sw "en""#,
        r#"active eq true"#,
        r#"active eq false"#,
        r#"active ne true"#,
        r#"active pr"#,
        r#"not (active eq false)"#,
        r#"active eq null"#,
        r#"emails pr"#,
        r#"emails.value pr"#,
        r#"emails.value ew "acme.org""#,
        r#"emails[type eq "pager"]"#,
        r#"emails[type eq "work"]"#,
        r#"emails[type eq "work" and primary eq true]"#,
        r#"emails[primary eq false]"#,
        r#"emails[not (value pr)]"#,
        r#"emails[type eq "work"].value co "acme""#,
        r#"emails.type eq "work" and emails.primary eq true"#,
        r#"emails eq null"#,
        r#"phoneNumbers pr"#,
        r#"phoneNumbers[type eq "mobile"]"#,
        r#"phoneNumbers.value sw "+1 555 00""#,
        r#"groups pr"#,
        r#"groups.value eq "g-100""#,
        r#"groups.value eq "g-400""#,
        r#"groups.display eq "Sales""#,
        r#"groups.display sw "sales""#,
        r#"not (groups.display eq "Contractors")"#,
        r#"groups.display ne "Sales""#,
        r#"groups[value eq "g-200" and type eq "direct"]"#,
        r#"groups.type eq "indirect""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"meta.resourceType eq "User""#,
        r#"meta.resourceType eq "user""#,
        r#"meta.created pr and meta.lastModified pr"#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "USER01""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Grace""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"#,
        r#"not (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr)"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-3""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter eq "4130""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division eq "RETAIL""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq """#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq null"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt "1150""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization pr"#,
        r#"title eq "Tour Guide" or active eq false and userType eq "Intern""#,
        r#"(title eq "Tour Guide" or active eq false) and userType eq "Intern""#,
        r#"not (not (emails pr) or groups pr)"#,
        r#"userName eq "user001@example.com" and title eq "tab\there""#,
        r#"active gt "x""#,
        r#"_title pr"#,
        r#"name.givenName.first pr"#,
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
        r#"title eq 1"#,
        r#"not (groups.dispaly eq "Contractors")"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for t in times.iter().take(4) {
        out.push(format!(r#"meta.lastModified gt "{t}""#));
        out.push(format!(r#"meta.lastModified ge "{t}""#));
        out.push(format!(r#"meta.created le "{t}""#));
        out.push(format!(r#"meta.created eq "{t}""#));
        // The same instant written with an offset, and to the whole second.
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(t) {
            let shifted = at.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("an offset"));
            out.push(format!(r#"meta.lastModified lt "{}""#, shifted.to_rfc3339()));
            out.push(format!(r#"meta.lastModified gt "{}""#, at.format("%Y-%m-%dT%H:%M:%SZ")));
        }
    }
    out
}

/// A leaf from the values people actually hold, so random filters often match someone.
fn leaf(rng: &mut StdRng) -> String {
    let string = |rng: &mut StdRng, path: &str, pool: &[&str]| {
        let op = pick(rng, &["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);
        format!("{path} {op} {}", json!(pick(rng, pool)))
    };
    match rng.gen_range(0..14) {
        0 => string(rng, "title", TITLES),
        1 => string(rng, "userType", TYPES),
        2 => string(rng, "name.givenName", GIVEN),
        3 => string(rng, "name.familyName", FAMILY),
        4 => string(rng, "groups.display", &["Sales", "sales", "Finance", "Contractors"]),
        5 => string(rng, "emails.type", EMAIL_TYPES),
        6 => string(rng, &format!("{ENTERPRISE}:department"), DEPARTMENTS),
        7 => format!("active {} {}", pick(rng, &["eq", "ne"]), pick(rng, &["true", "false"])),
        8 => format!(
            "{} pr",
            pick(rng, &["title", "nickName", "name", "emails", "groups", "externalId", "displayName", "locale"])
        ),
        9 => format!(r#"emails[type eq {} and primary eq {}]"#, json!(pick(rng, EMAIL_TYPES)), rng.gen_bool(0.5)),
        10 => string(rng, "externalId", &["EMP-0042", "emp-0042", "EMP", "emp"]),
        11 => format!("{} eq null", pick(rng, &["title", "nickName", "userType", "name.givenName"])),
        12 => string(rng, "userName", &["user1", "USER2", "example.com", "user150@example.com"]),
        _ => string(rng, "groups.value", &["g-100", "G-100", "g-300", "G-400"]),
    }
}

fn random_filter(rng: &mut StdRng, depth: u32) -> String {
    if depth == 0 || rng.gen_bool(0.3) {
        return leaf(rng);
    }
    match rng.gen_range(0..4) {
        0 => format!("{} and {}", random_filter(rng, depth - 1), random_filter(rng, depth - 1)),
        1 => format!("{} or {}", random_filter(rng, depth - 1), random_filter(rng, depth - 1)),
        2 => format!("not ({})", random_filter(rng, depth - 1)),
        _ => format!("({})", random_filter(rng, depth - 1)),
    }
}

/// rosterd's answer: the ids its scope evaluation admits, or why it refuses the filter.
fn rosterd_ids(people: &[Person], text: &str) -> Result<BTreeSet<String>, String> {
    let filter = Filter::parse_person(text).map_err(|e| e.to_string())?;
    Ok(people.iter().filter(|p| filter.matches(PersonNode::of(p))).map(|p| p.id.to_string()).collect())
}

async fn read_people(server: &ScimServer) -> Vec<Person> {
    let mut settings = ScimSettings::new(server.base.clone(), ScimAuth::Bearer(SecretString::from(TOKEN)));
    settings.page_size = 1000;
    settings.connection.timeout = Duration::from_secs(30);
    let roster = ScimSource::new(settings).expect("valid settings").read().await.expect("the roster");
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    roster.people
}

fn explained(text: &str, list: &[(&str, &str)]) -> bool {
    list.iter().any(|(marker, _)| text.contains(marker))
}

#[tokio::test]
async fn scope_filters_agree_with_a_real_scim_server() {
    let server = ScimServer::start_with_writable_groups(TOKEN).await;
    let mut rng = StdRng::seed_from_u64(7644);
    for i in 0..PEOPLE {
        server.create_user_as_is(&seeded_user(i, &mut rng)).await;
    }
    let people = read_people(&server).await;
    assert_eq!(people.len(), PEOPLE);
    let times: Vec<String> = people.iter().filter_map(|p| p.last_modified.as_ref().map(|t| t.to_string())).collect();
    let mut filters = tricky(&times[times.len() / 3..]);
    filters.extend((0..RANDOM_FILTERS).map(|_| random_filter(&mut rng, 3)));

    let mut unexplained = Vec::new();
    let (mut agreed, mut deliberate) = (0, 0);
    for text in &filters {
        let ours = rosterd_ids(&people, text);
        let theirs = server.ids_matching(text).await.map(|ids| ids.into_iter().collect::<BTreeSet<_>>());
        let verdict = match (&ours, &theirs) {
            (Ok(a), Ok(b)) if a == b => None,
            (Err(_), Err(_)) => None,
            (Err(e), Ok(_)) => (!explained(text, REFUSED)).then(|| format!("rosterd refuses: {e}")),
            (Ok(_), Err(e)) => Some(format!("scim2-server refuses: {e}")),
            (Ok(a), Ok(b)) => (!explained(text, DIFFERENCES)).then(|| {
                let only_ours: Vec<_> = a.difference(b).take(3).collect();
                let only_theirs: Vec<_> = b.difference(a).take(3).collect();
                let sample = |ids: &[&String]| {
                    ids.iter()
                        .filter_map(|id| people.iter().find(|p| p.id == id.as_str()))
                        .map(|p| format!("{}", p.scim_view()))
                        .collect::<Vec<_>>()
                };
                format!(
                    "rosterd {} / server {}; only rosterd: {:?}; only server: {:?}",
                    a.len(),
                    b.len(),
                    sample(&only_ours),
                    sample(&only_theirs)
                )
            }),
        };
        match verdict {
            None if ours.as_ref().ok() == theirs.as_ref().ok() || (ours.is_err() && theirs.is_err()) => agreed += 1,
            None => deliberate += 1,
            Some(why) => unexplained.push(format!("{text}\n    {why}")),
        }
    }
    eprintln!("{} filters: {agreed} agree, {deliberate} differ on purpose", filters.len());
    assert!(unexplained.is_empty(), "{} unexplained disagreements:\n{}", unexplained.len(), unexplained.join("\n"));
    assert!(filters.len() >= 300 && agreed >= filters.len() * 3 / 4, "{agreed} of {} agree", filters.len());
}
