//! The SCIM source against a real, independent SCIM server (`scim2-server` from PyPI), directly and through the fault proxy.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rosterd::model::Roster;
use rosterd::platform::http::RetryPolicy;
use rosterd::sandbox::proxy::{Fault, FaultProxy, RequestInfo};
use rosterd::source::scim::{GroupsFrom, ScimAuth, ScimSettings, ScimSource};
use rosterd::source::{Source, SourceError};
use secrecy::SecretString;
use serde_json::json;
use support::scim_server::ScimServer;
use url::Url;

const TOKEN: &str = "integration-token-7f3a9c";

fn settings(base: Url, page_size: u32) -> ScimSettings {
    let mut s = ScimSettings::new(base, ScimAuth::Bearer(SecretString::from(TOKEN)));
    s.page_size = page_size;
    s.connection.timeout = Duration::from_secs(10);
    s.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    };
    s
}

async fn read(settings: ScimSettings) -> Result<Roster, SourceError> {
    ScimSource::new(settings).expect("valid settings").read().await
}

/// Which seeded users are where: user `i` (1-based) is inactive when `i % 10 == 0`, in
/// Sales when `i % 3 == 0`, in Engineering when `i % 5 == 0`, and everyone is in Everyone.
fn expected_groups(i: usize) -> BTreeSet<String> {
    let mut groups = BTreeSet::from(["Everyone".to_string()]);
    if i % 3 == 0 {
        groups.insert("Sales".into());
    }
    if i % 5 == 0 {
        groups.insert("Engineering".into());
    }
    groups
}

/// 250 users and three groups; returns the users' ids in seeding order.
async fn seed(server: &ScimServer) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=250 {
        let name = format!("user{i:03}");
        let id = server
            .create_user(
                &name,
                &format!("Given{i}"),
                &format!("Family{i}"),
                &format!("{name}@example.com"),
                i % 10 != 0,
            )
            .await;
        ids.push(id);
    }
    let members = |keep: fn(usize) -> bool| -> Vec<String> {
        ids.iter().enumerate().filter(|(n, _)| keep(n + 1)).map(|(_, id)| id.clone()).collect()
    };
    server.create_group("Sales", &members(|i| i % 3 == 0)).await;
    server.create_group("Engineering", &members(|i| i % 5 == 0)).await;
    server.create_group("Everyone", &members(|_| true)).await;
    ids
}

fn check_people(roster: &Roster) {
    assert_eq!(roster.people.len(), 250);
    for person in &roster.people {
        let i: usize = person.user_name.trim_start_matches("user").parse().expect("a seeded user name");
        assert_eq!(person.active, i % 10 != 0, "{}", person.user_name);
        assert_eq!(
            person.groups.iter().map(|g| g.display().to_string()).collect::<BTreeSet<_>>(),
            expected_groups(i),
            "{}",
            person.user_name
        );
        assert_eq!(person.email(), Some(format!("user{i:03}@example.com").as_str()));
        assert_eq!(person.given_name, format!("Given{i}"));
    }
}

fn users_page(r: &RequestInfo, start: &str) -> bool {
    r.path.ends_with("/Users") && r.query_param("startIndex") == Some(start)
}

#[tokio::test]
async fn reads_250_users_whole_then_a_503_on_page_3_makes_it_incomplete() {
    let server = ScimServer::start(TOKEN).await;
    let ids = seed(&server).await;

    // scim2-server does not fill User.groups, so Auto reads /Groups.
    let roster = read(settings(server.base.clone(), 50)).await.expect("a roster");
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    check_people(&roster);
    let mut explicit = settings(server.base.clone(), 50);
    explicit.groups = GroupsFrom::GroupsEndpoint;
    check_people(&read(explicit).await.expect("a roster"));

    // Page 3 of 5 fails on every try: the read stops there, holding pages 1 and 2.
    let proxy = FaultProxy::start(server.base.clone()).await.expect("the proxy");
    proxy.fail_when(|r| users_page(r, "101"), Fault::Status(503));
    let roster = read(settings(proxy.url(), 50)).await.expect("an incomplete roster, not an error");
    assert!(!roster.complete);
    let reason = roster.incomplete_reason.clone().expect("a reason");
    assert!(reason.starts_with("Users page 3 (startIndex=101): HTTP 503"), "{reason}");
    assert!(reason.contains("\"fault injected by the test proxy\""), "the SCIM error detail is quoted: {reason}");
    assert_eq!(roster.people.len(), 100);
    let first_pages: BTreeSet<&str> = roster.people.iter().map(|p| p.id.as_str()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort(); // the server lists by id
    assert_eq!(first_pages, expected[..100].iter().copied().collect());
    assert_eq!(proxy.requests().iter().filter(|r| users_page(r, "101")).count(), 2, "retried per the policy");
    assert!(!proxy.requests().iter().any(|r| users_page(r, "151")), "pages after a failed one are not read");
    proxy.shutdown().await;
}

#[tokio::test]
async fn changes_made_through_scim_show_in_the_next_read() {
    let server = ScimServer::start(TOKEN).await;
    let ada = server.create_user("ada", "Ada", "Lovelace", "ada@example.com", true).await;
    let bob = server
        .create_user_json(json!({
            "userName": "bob", "externalId": "emp-2", "title": "Engineer",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "2", "department": "R&D", "manager": { "value": ada } },
        }))
        .await;
    server.patch_user_active(&ada, false).await;
    server.replace_email(&ada, "ada@new.example.com").await;
    let roster = read(settings(server.base.clone(), 1)).await.expect("a roster");
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    let find = |id: &str| roster.people.iter().find(|p| p.id == id).expect("the person");
    assert!(!find(&ada).active);
    assert_eq!(find(&ada).email(), Some("ada@new.example.com"));
    assert!(find(&ada).last_modified.is_some());
    let bob = find(&bob);
    assert!(bob.active, "absent active reads as true");
    assert_eq!(
        (bob.external_id.as_deref(), bob.title.as_deref(), bob.department.as_deref()),
        (Some("emp-2"), Some("Engineer"), Some("R&D"))
    );
    assert_eq!(bob.manager.as_deref(), Some(ada.as_str()));
}

#[tokio::test]
async fn user_groups_are_taken_when_the_server_fills_them() {
    let server = ScimServer::start_with_writable_groups(TOKEN).await;
    let with_groups =
        json!({ "userName": "carol", "groups": [{ "value": "g-1", "display": "Finance" }, { "value": "g-2" }] });
    let carol = server.create_user_json(with_groups).await;
    server.create_user("dan", "Dan", "D", "dan@example.com", true).await;
    let proxy = FaultProxy::start(server.base.clone()).await.expect("the proxy");
    for mode in [GroupsFrom::Auto, GroupsFrom::User] {
        let mut s = settings(proxy.url(), 10);
        s.groups = mode;
        let roster = read(s).await.expect("a roster");
        assert!(roster.complete, "{:?}", roster.incomplete_reason);
        let carol = roster.people.iter().find(|p| p.id == carol).expect("carol");
        let groups: Vec<(&str, Option<&str>)> = carol.groups.iter().map(|g| (g.display(), g.value())).collect();
        assert_eq!(groups, [("", Some("g-2")), ("Finance", Some("g-1"))], "value is the id, display the name");
    }
    assert!(!proxy.requests().iter().any(|r| r.path.ends_with("/Groups")), "/Groups is not read");
}

#[tokio::test]
async fn a_failing_groups_read_fails_and_a_garbage_page_makes_the_roster_incomplete() {
    let server = ScimServer::start(TOKEN).await;
    for i in 0..5 {
        server.create_user(&format!("u{i}"), "G", "F", &format!("u{i}@example.com"), true).await;
    }
    let proxy = FaultProxy::start(server.base.clone()).await.expect("the proxy");
    proxy.fail_when(|r| r.path.ends_with("/Groups"), Fault::Status(503));
    let reason = read(settings(proxy.url(), 2)).await.expect_err("unknown groups fail the read").to_string();
    assert!(
        reason.starts_with("Groups page 1 (startIndex=1): HTTP 503")
            && reason.contains("group memberships decide scope and roles"),
        "{reason}"
    );

    proxy.clear_faults();
    proxy.fail_when(|r| users_page(r, "3"), Fault::Garbage);
    let roster = read(settings(proxy.url(), 2)).await.expect("a roster");
    assert_eq!(roster.people.len(), 2);
    assert!(roster
        .incomplete_reason
        .expect("incomplete")
        .starts_with("Users page 2 (startIndex=3): malformed answer: not JSON"));
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_shows_neither_token() {
    let server = ScimServer::start(TOKEN).await;
    let mut s = settings(server.base.clone(), 10);
    s.auth = ScimAuth::Bearer(SecretString::from("wrong-token-0d1e2f"));
    let source = ScimSource::new(s).expect("valid settings");
    let err = source.read().await.expect_err("refused");
    assert!(matches!(err, SourceError::Auth { status: 401, .. }), "{err:?}");
    let shown = format!("{err} {err:?} {source:?} {}", source.describe());
    assert!(shown.contains("check the SCIM source's token"), "{shown}");
    assert!(!shown.contains("wrong-token-0d1e2f") && !shown.contains(TOKEN), "{shown}");
}

/// `reconcile --person` against SCIM (issue 16): one filtered read (`userName eq` for an
/// e-mail-like query, `id eq` otherwise) with the person's groups from `/Groups`; a person the
/// filter misses (asked for by e-mail or external id) is found by a full read.
#[tokio::test(flavor = "multi_thread")]
async fn one_person_is_read_by_a_filter_with_their_groups_and_found_by_email_in_a_full_read() {
    use rosterd::source::person::PersonQuery;
    let server = ScimServer::start(TOKEN).await;
    let ada = server.create_user("ada@example.com", "Ada", "Lovelace", "ada@example.com", true).await;
    let bob = server.create_user("bob", "Bob", "B", "bob@mail.example.com", true).await;
    server.create_group("Sales", std::slice::from_ref(&ada)).await;
    let proxy = FaultProxy::start(server.base.clone()).await.expect("the proxy");
    let source = ScimSource::new(settings(proxy.url(), 50)).expect("valid settings");

    let roster = source.read_person(&PersonQuery::new("ADA@example.com").unwrap()).await.expect("a read");
    assert_eq!(roster.people.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(), std::slice::from_ref(&ada));
    assert!(roster.complete);
    assert_eq!(roster.people[0].groups.iter().map(|g| g.display().to_string()).collect::<Vec<_>>(), ["Sales"]);
    let users: Vec<RequestInfo> = proxy.requests().into_iter().filter(|r| r.path.ends_with("/Users")).collect();
    assert_eq!(users.len(), 1, "one filtered read: {users:?}");
    assert_eq!(users[0].query_param("filter"), Some(r#"userName eq "ADA@example.com""#));

    let by_id = source.read_person(&PersonQuery::new(&bob).unwrap()).await.expect("a read");
    assert_eq!(by_id.people.len(), 1);
    assert_eq!(by_id.people[0].user_name, "bob");
    // By e-mail, which is not bob's userName: the filter finds nobody, a full read does.
    let by_mail = source.read_person(&PersonQuery::new("bob@mail.example.com").unwrap()).await.expect("a read");
    assert_eq!(by_mail.people.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(), [bob]);
    let nobody = source.read_person(&PersonQuery::new("nobody@example.com").unwrap()).await.expect("a read");
    assert!(nobody.people.is_empty() && nobody.complete);
}
