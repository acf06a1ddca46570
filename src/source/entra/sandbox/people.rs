//! A generated tenant for tests, benches and the demo: `n` people whose looks follow from
//! their number, so a test can say who is in scope without asking the emulator.
//!
//! Person `i` (1-based): id [`user_id`]`(i)`; UPN `user{i:05}@acme.example`; no `mail`
//! when i % 13 == 0 (the UPN stands in); a Guest when i % 25 == 0 (UPN `guest…#EXT#…`);
//! disabled when i % 10 == 0; managed by person (i - 1) / 10 + 1 (nobody manages 1).
//! Groups: `Staff` (i % 4 != 3), `Contractors` (i % 8 == 7), `Everyone` (holding only the
//! groups `Staff` and `Contractors`: nested), `Finance` (i % 7 == 0), `Sales`
//! (i % 3 == 0, and the nested group `Leads`), `Leads` (i % 11 == 0).

use super::directory::{EntraGroup, EntraUser};

/// The id of person `i`: a GUID, as Entra's object ids are.
pub fn user_id(i: usize) -> String {
    format!("{i:08x}-7e57-4a11-8000-{i:012x}")
}

/// The UPN of person `i`.
pub fn upn(i: usize) -> String {
    match i % 25 == 0 {
        true => format!("guest{i:05}_partner.example#EXT#@acme.onmicrosoft.com"),
        false => format!("user{i:05}@acme.example"),
    }
}

/// The primary e-mail rosterd derives for person `i` (`mail`, else the UPN).
pub fn email(i: usize) -> String {
    match (i % 25 == 0, i % 13 == 0) {
        (true, _) => format!("guest{i:05}@partner.example"),
        (false, true) => upn(i),
        (false, false) => format!("first{i}.last@acme.example"),
    }
}

pub fn person(i: usize) -> EntraUser {
    let departments = ["Sales", "Finance", "Engineering", "Support"];
    let guest = i % 25 == 0;
    let mut user = EntraUser::new(&user_id(i), &upn(i))
        .with("mail", (i % 13 != 0 || guest).then(|| email(i)))
        .with("otherMails", if i % 6 == 0 { vec![format!("alt{i}@home.example")] } else { Vec::new() })
        .with("givenName", format!("Given{i}"))
        .with("surname", format!("Family{i}"))
        .with("displayName", format!("Given{i} Family{i}"))
        .with("accountEnabled", i % 10 != 0)
        .with("userType", if guest { "Guest" } else { "Member" })
        .with("employeeId", format!("E{i:06}"))
        .with("department", departments.get(i % 4).copied())
        .with("jobTitle", format!("Title {}", i % 7))
        .with("companyName", "Acme");
    user.manager = (i > 1).then(|| user_id((i - 1) / 10 + 1));
    user
}

fn group(id: &str, name: &str, members: Vec<String>) -> EntraGroup {
    EntraGroup { id: id.into(), display_name: name.into(), members }
}

/// The `n` people and the six groups.
pub fn tenant(n: usize) -> (Vec<EntraUser>, Vec<EntraGroup>) {
    let users: Vec<EntraUser> = (1..=n).map(person).collect();
    let with = |keep: fn(usize) -> bool| (1..=n).filter(|i| keep(*i)).map(user_id).collect::<Vec<_>>();
    let ids = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut sales = with(|i| i % 3 == 0);
    sales.push("60000000-0000-0000-0000-000000000006".into());
    let groups = vec![
        group(
            "10000000-0000-0000-0000-000000000001",
            "Everyone",
            ids(&["20000000-0000-0000-0000-000000000002", "30000000-0000-0000-0000-000000000003"]),
        ),
        group("20000000-0000-0000-0000-000000000002", "Staff", with(|i| i % 4 != 3)),
        group("30000000-0000-0000-0000-000000000003", "Contractors", with(|i| i % 8 == 7)),
        group("40000000-0000-0000-0000-000000000004", "Finance", with(|i| i % 7 == 0)),
        group("50000000-0000-0000-0000-000000000005", "Sales", sales),
        group("60000000-0000-0000-0000-000000000006", "Leads", with(|i| i % 11 == 0)),
    ];
    (users, groups)
}
