//! The people and groups a Google emulator holds (users and members as the source's wire types): seeded by tests, or generated for 2,500
//! or 100,000 people with every case the source must handle (suspended and archived people,
//! a guest, several groups, a nested group, a group cycle, the whole-account member).

use serde_json::{json, Value};

use crate::source::google::wire::{Address, Member, Name, Organization, Typed, User};

/// An active user with this id, email and names, as `users.list` sends one.
pub fn user(id: &str, email: &str, given: &str, family: &str) -> User {
    let name = Name {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        full_name: Some(format!("{given} {family}").into()),
    };
    let emails = vec![Address { address: Some(email.into()) }];
    User {
        id: id.into(),
        primary_email: email.into(),
        name,
        org_unit_path: Some("/".into()),
        emails,
        ..User::default()
    }
}

/// A direct member of kind `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
fn member(id: &str, email: Option<&str>, kind: &str) -> Member {
    Member { id: id.into(), email: email.map(Into::into), kind: kind.into() }
}

/// `user` as a direct member.
pub fn user_member(user: &User) -> Member {
    member(&user.id, Some(&user.primary_email), "USER")
}

/// `group` nested as a direct member.
pub fn group_member(group: &DirectoryGroup) -> Member {
    member(&group.id, Some(&group.email), "GROUP")
}

/// A guest: someone outside the directory, ignored by the source.
pub fn external_member(id: &str, email: &str) -> Member {
    member(id, Some(email), "EXTERNAL")
}

/// Every user of the account.
pub fn customer_member() -> Member {
    member(super::CUSTOMER_ID, None, "CUSTOMER")
}

/// A group with its direct members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub id: String,
    pub email: String,
    pub name: String,
    pub members: Vec<Member>,
    /// `directMembersCount` as listed when it lags the members (a fresh change); else their number.
    pub listed_count: Option<usize>,
}

impl DirectoryGroup {
    pub fn new(id: &str, name: &str) -> DirectoryGroup {
        DirectoryGroup {
            id: id.into(),
            email: format!("{id}@acme.example"),
            name: name.into(),
            members: Vec::new(),
            listed_count: None,
        }
    }

    /// As `groups.list` sends it: `directMembersCount` is an int64 in a string.
    pub fn json(&self) -> Value {
        json!({ "kind": "admin#directory#group", "id": self.id, "email": self.email, "name": self.name,
                "directMembersCount": self.listed_count.unwrap_or(self.members.len()).to_string() })
    }
}

/// The generated directory's email of person `i` (1-based).
pub fn email(i: usize) -> String {
    format!("user{i:06}@acme.example")
}

/// Person `i` of a generated directory: suspended when `i % 10 == 0`, archived (a leaver
/// kept for their data) when `i % 25 == 5`; department Sales when `i % 3 == 0`.
pub fn generated_user(i: usize) -> User {
    let mut user = user(&format!("1{i:020}"), &email(i), &format!("Given{i}"), &format!("Family{i}"));
    user.suspended = i % 10 == 0;
    user.archived = i % 25 == 5;
    let department = if i % 3 == 0 { "Sales" } else { "Operations" };
    user.organizations = vec![Organization {
        title: Some(format!("Title {}", i % 7).into()),
        department: Some(department.into()),
        primary: true,
    }];
    user.external_ids = vec![Typed { value: Some(format!("E{i}").into()), kind: Some("organization".into()) }];
    if i > 1 {
        user.relations = vec![Typed { value: Some(email(1).into()), kind: Some("manager".into()) }];
    }
    user.org_unit_path = Some(format!("/{department}").into());
    user
}

/// Whether generated person `i` is active (neither suspended nor archived).
pub fn generated_active(i: usize) -> bool {
    i % 10 != 0 && i % 25 != 5
}

/// `n` generated people and these groups:
/// - `Sales` (i % 3 == 0), `Finance` (i % 7 == 0);
/// - `cake-users`: people with i % 4 != 0, the whole `Sales` group nested, and a guest;
/// - `filespin-users`: i % 5 == 0 and the whole `Finance` group nested;
/// - `Everyone`: the account (`CUSTOMER`); `Loop A`/`Loop B`: each other's member (a cycle).
pub fn generated(n: usize) -> (Vec<User>, Vec<DirectoryGroup>) {
    let users: Vec<User> = (1..=n).map(generated_user).collect();
    let members = |keep: fn(usize) -> bool| -> Vec<Member> {
        users.iter().enumerate().filter(|(k, _)| keep(k + 1)).map(|(_, u)| user_member(u)).collect()
    };
    let mut sales = DirectoryGroup::new("g-sales", "Sales");
    sales.members = members(|i| i % 3 == 0);
    let mut finance = DirectoryGroup::new("g-finance", "Finance");
    finance.members = members(|i| i % 7 == 0);
    let mut cake = DirectoryGroup::new("g-cake", "cake-users");
    cake.members = members(|i| i % 4 != 0 && i % 3 != 0);
    cake.members.push(group_member(&sales));
    cake.members.push(external_member("guest-1", "guest@partner.example"));
    let mut filespin = DirectoryGroup::new("g-filespin", "filespin-users");
    filespin.members = members(|i| i % 5 == 0 && i % 7 != 0);
    filespin.members.push(group_member(&finance));
    let mut everyone = DirectoryGroup::new("g-everyone", "Everyone");
    everyone.members.push(customer_member());
    let mut loop_a = DirectoryGroup::new("g-loop-a", "Loop A");
    let mut loop_b = DirectoryGroup::new("g-loop-b", "Loop B");
    loop_a.members = members(|i| i == 2);
    loop_b.members = members(|i| i == 4);
    loop_a.members.push(group_member(&loop_b));
    loop_b.members.push(group_member(&loop_a));
    (users, vec![sales, finance, cake, filespin, everyone, loop_a, loop_b])
}

/// Whether generated person `i` is in `cake-users` (directly or through `Sales`).
pub fn in_cake_users(i: usize) -> bool {
    i % 4 != 0 || i % 3 == 0
}

/// Whether generated person `i` is in `filespin-users` (directly or through `Finance`).
pub fn in_filespin_users(i: usize) -> bool {
    i % 5 == 0 || i % 7 == 0
}
