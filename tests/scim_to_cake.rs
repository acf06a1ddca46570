//! End to end: a real scim2-server (PyPI) as the identity source, 250 users read 50 a
//! page, converged into the CAKE emulator; then a quiet run, three leavers, a rename, and
//! a source that fails on page 3 of 5.

mod support;

use std::collections::BTreeMap;

use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use rosterd::sandbox::proxy::{Fault, FaultProxy};
use support::rig::Rig;
use support::scim_server::ScimServer;

const TOKEN: &str = "scim-token-SEEDED-91c4e0aa";

/// User `i` (1..=250): inactive when i % 10 == 0; in cake-users unless i % 4 == 0;
/// Finance when i % 7 == 0; Sales when i % 3 == 0.
fn email(i: usize) -> String {
    format!("user{i:03}@acme.example")
}

fn in_scope(i: usize) -> bool {
    i % 10 != 0 && i % 4 != 0
}

/// CAKE role ids of the emulator: 2 Media Buyer, 3 Account Manager, 4 Finance.
fn role_id(i: usize) -> u64 {
    if i % 7 == 0 {
        4
    } else if i % 3 == 0 {
        3
    } else {
        2
    }
}

async fn seed(server: &ScimServer) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=250 {
        let id =
            server.create_user(&email(i), &format!("Given{i}"), &format!("Family{i}"), &email(i), i % 10 != 0).await;
        ids.push(id);
    }
    let members = |keep: fn(usize) -> bool| -> Vec<String> {
        ids.iter().enumerate().filter(|(n, _)| keep(n + 1)).map(|(_, id)| id.clone()).collect()
    };
    server.create_group("cake-users", &members(|i| i % 4 != 0)).await;
    server.create_group("Finance", &members(|i| i % 7 == 0)).await;
    server.create_group("Sales", &members(|i| i % 3 == 0)).await;
    ids
}

const PLATFORM: &str = r#"    scope: 'groups.display eq "cake-users"'
    roles:
      - { when: 'groups.display eq "Finance"', role: Finance }
      - { when: 'groups.display eq "Sales"', role: Account Manager }
      - { role: Media Buyer }
    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }"#;

fn source(url: &url::Url) -> String {
    format!("  scim: {{ url: \"{url}\", token_file: scim-token, page_size: 50 }}")
}

/// email → (status, role id) as CAKE holds it.
fn cake_state(rig: &Rig) -> BTreeMap<String, (String, u64)> {
    rig.sandbox.users().into_iter().map(|u| (u.email.to_lowercase(), (u.user_status, u.role_id))).collect()
}

#[tokio::test]
async fn a_real_scim_roster_converges_into_cake_and_stays_converged() {
    let server = ScimServer::start(TOKEN).await;
    let ids = seed(&server).await;
    let rig =
        Rig::start(CakeSandboxOptions::default().with_user(CakeUser::new("Api", "Owner", "owner@acme.example", 1)))
            .await;
    std::fs::write(rig.path("scim-token"), TOKEN).unwrap();
    rig.write_config(
        &source(&server.base),
        "  max_removals: { count: 25, percent: 10 }\n  protected: [owner@acme.example]",
        PLATFORM,
    );

    // First run: exactly the in-scope people, with their mapped roles.
    let (plan, summary) = rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, 250);
    let expected: BTreeMap<String, (String, u64)> =
        (1..=250).filter(|i| in_scope(*i)).map(|i| (email(i), ("active".to_string(), role_id(i)))).collect();
    let mut held = cake_state(&rig);
    assert_eq!(held.remove("owner@acme.example"), Some(("active".into(), 1)));
    assert_eq!(held, expected);
    assert_eq!(summary.record.platforms[0].created, expected.len());
    assert_eq!(summary.record.platforms[0].failed, 0);

    // Second run: zero write calls.
    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), writes);

    // Three leavers at the source: exactly those three lose access.
    let leavers = [1usize, 2, 5];
    for i in leavers {
        server.patch_user_active(&ids[i - 1], false).await;
    }
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 3);
    assert_eq!(rig.sandbox.write_calls(), writes + 3);
    let now = cake_state(&rig);
    for (email_, (status, _)) in &now {
        let leaver = leavers.iter().any(|i| &email(*i) == email_);
        assert_eq!(status == "inactive", leaver, "{email_} is {status}");
    }

    // A rename at the source updates the same account: no second account.
    let count = rig.sandbox.users().len();
    server.replace_email(&ids[2], "renamed.user003@acme.example").await;
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 1, "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].updated, 1);
    assert_eq!(rig.sandbox.users().len(), count);
    assert!(rig.sandbox.user_by_login("renamed.user003@acme.example").is_some());
    assert!(rig.sandbox.user_by_login(&email(3)).is_none());
    assert_eq!(rig.sandbox.write_calls(), writes + 4);
}

#[tokio::test]
async fn a_source_that_fails_on_page_3_of_5_removes_nobody_and_says_why() {
    let server = ScimServer::start(TOKEN).await;
    seed(&server).await;
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    std::fs::write(rig.path("scim-token"), TOKEN).unwrap();
    let proxy = FaultProxy::start(server.base.clone()).await.expect("proxy");
    // Limits wide open: only the completeness guard stands between a short read and removals.
    rig.write_config(&source(&proxy.url()), "  max_removals: { count: 1000, percent: 100 }", PLATFORM);
    rig.reconcile().await;
    let before = cake_state(&rig);
    let writes = rig.sandbox.write_calls();

    proxy.fail_when(|r| r.path.ends_with("/Users") && r.query_param("startIndex") == Some("101"), Fault::Status(503));
    let (plan, summary) = rig.reconcile().await;
    assert!(!plan.roster_complete);
    let why = plan.roster_incomplete_reason.clone().unwrap_or_default();
    assert!(why.contains("page 3") && why.contains("503"), "{why}");
    let held: Vec<_> = plan.platforms[0].held().collect();
    assert!(!held.is_empty(), "the people of pages 3-5 would have been removed");
    assert!(held.iter().all(|s| s.held.as_deref().unwrap_or_default().contains("incomplete")));
    assert!(plan.to_table().contains("roster incomplete"), "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].deactivated, 0);
    assert_eq!(summary.record.platforms[0].held, held.len());
    assert_eq!(cake_state(&rig), before);
    assert_eq!(rig.sandbox.write_calls(), writes);
}
