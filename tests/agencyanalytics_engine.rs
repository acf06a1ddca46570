//! End to end on AgencyAnalytics: the real engine (config YAML with `kind: agencyanalytics`,
//! a roster file, the emulator) creates, stays quiet, deletes a leaver only where allowed
//! and holds the removal otherwise, reports a staff ↔ client role change as a conflict that
//! is never sent, and leaves generated passwords in no log and no state file.

mod support;

use rosterd::platform::agencyanalytics::sandbox::{
    AgencyAnalyticsSandbox, AgencyAnalyticsSandboxOptions, AgencyAnalyticsUser,
};
use rosterd::platform::agencyanalytics::REMOVALS_HELD;
use rosterd::reconcile::plan::Action;
use support::configs::ConfigDir;
use support::logs::Logs;
use support::people::Person;
use support::rig::{all_files, contains, platform_entry, Rig};

const KEY: &str = "aa-key-SEEDED-0d7c43e9b1";

/// One person of the roster: `(n, groups, active)`; p1.. with emails pN@agency.example.
type Who<'a> = (usize, &'a [&'a str], bool);

async fn start(allow_delete: bool) -> Rig<AgencyAnalyticsSandbox> {
    start_with(allow_delete, "").await
}

/// A rig whose TEAM was created by a first run.
async fn team_synced(allow_delete: bool) -> Rig<AgencyAnalyticsSandbox> {
    let rig = start(allow_delete).await;
    roster(&rig, &TEAM, "F");
    rig.reconcile().await;
    rig
}

/// With `extra` platform keys (indented lines).
async fn start_with(allow_delete: bool, extra: &str) -> Rig<AgencyAnalyticsSandbox> {
    let owner = AgencyAnalyticsUser::new("Api", "Owner", "owner@agency.example", "admin");
    let options = AgencyAnalyticsSandboxOptions::default().with_api_key(KEY).with_user(owner);
    let rig = Rig::around(AgencyAnalyticsSandbox::start(options).await.expect("the sandbox"), "aa-key", KEY);
    let rest = format!(
        r#"    allow_delete: {allow_delete}
    page_size: 2
    roles:
      - {{ when: 'groups.display eq "Clients"', role: client }}
      - {{ when: 'groups.display eq "Admins"', role: Admin }}
      - {{ role: staff }}
    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}
{extra}"#
    );
    let platform = platform_entry("agency", "agencyanalytics", rig.sandbox.base_url(), "aa-key", &rest);
    rig.configure_protecting("owner@agency.example", &platform);
    rig
}

fn roster(rig: &Rig<AgencyAnalyticsSandbox>, people: &[Who<'_>], family: &str) {
    rig.roster(people.iter().map(|&(n, groups, active)| {
        let person = Person::test(n).at("agency.example").family(family).active(active);
        groups.iter().fold(person, |p, g| p.in_group(g))
    }));
}

/// None of `secrets` (nor the key) is in the captured logs or any file under `state`.
fn assert_nowhere(secrets: &[String], logs: &[u8], state: &std::path::Path) {
    assert!(contains(logs, "p3@agency.example"), "the logs were captured");
    let files = all_files(state);
    assert!(files.iter().any(|(_, bytes)| contains(bytes, "p3@agency.example")), "the state was written");
    for secret in secrets.iter().map(String::as_str).chain([KEY]) {
        assert!(!contains(logs, secret), "a secret reached the logs");
        for (path, bytes) in &files {
            assert!(!contains(bytes, secret), "a secret reached {}", path.display());
        }
    }
}

const TEAM: [Who<'static>; 5] =
    [(1, &["Clients"], true), (2, &[], true), (3, &[], true), (4, &["Admins"], true), (5, &["Clients"], true)];

#[tokio::test]
async fn creates_stays_quiet_deletes_a_leaver_and_recreates_them_when_they_return() {
    let logs = Logs::capture();
    let rig = start(true).await;
    roster(&rig, &TEAM, "F");
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.record.platforms[0].created, 5, "{:?}", first.record.platforms[0]);
    let p1 = rig.sandbox.user_by_login("p1@agency.example").expect("p1 created");
    assert_eq!((p1.role.as_str(), p1.first_name.as_str(), p1.credentials_emailed), ("client", "G1", true));
    assert_eq!(rig.sandbox.user_by_login("p4@agency.example").expect("p4").role, "admin");

    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), writes, "a quiet run writes nothing");

    let mut leaving = TEAM;
    leaving[2].2 = false;
    roster(&rig, &leaving, "F");
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    let delete = rig.sandbox.writes().pop().expect("a delete");
    assert_eq!(delete.method, "DELETE");
    assert!(rig.sandbox.user_by_login("p3@agency.example").is_none());
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "a deleted leaver stays gone: {}", plan.to_table());

    roster(&rig, &TEAM, "F");
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.platforms[0].steps[0].action, Action::Create, "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].created, 1);
    assert!(rig.sandbox.user_by_login("p3@agency.example").is_some());

    let passwords = rig.sandbox.passwords();
    assert_eq!(passwords.len(), 6);
    let logged = logs.bytes();
    assert_nowhere(&passwords, &logged, &rig.path("state"));
}

#[tokio::test]
async fn without_allow_delete_a_leaver_is_held_and_reported() {
    let rig = team_synced(false).await;
    let mut leaving = TEAM;
    leaving[1].2 = false;
    roster(&rig, &leaving, "F");
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    let held: Vec<_> = plan.platforms[0].held().collect();
    assert_eq!((held.len(), held[0].label.as_str()), (1, "p2@agency.example"));
    assert_eq!(held[0].held.as_deref(), Some(REMOVALS_HELD));
    assert!(plan.to_table().contains("HELD: AgencyAnalytics has no disable flag"), "{}", plan.to_table());
    assert_eq!((summary.record.platforms[0].held, summary.record.platforms[0].deactivated), (1, 0));
    assert_eq!(rig.sandbox.write_calls(), writes, "nothing was deleted");
    assert!(rig.sandbox.user_by_login("p2@agency.example").is_some());
}

#[tokio::test]
async fn a_staff_client_role_change_is_a_conflict_and_never_sent() {
    let rig = team_synced(true).await;
    // p2 (staff) joins Clients and p4 (admin) leaves Admins, and everyone's family name changes.
    let mut moved = TEAM;
    moved[1].1 = &["Clients"];
    moved[3].1 = &[];
    roster(&rig, &moved, "New");
    let before = rig.sandbox.writes().len();
    let (plan, summary) = rig.reconcile().await;
    let conflicts = &plan.platforms[0].conflicts;
    assert_eq!(conflicts.len(), 1, "{}", plan.to_table());
    assert_eq!(conflicts[0].label, "p2@agency.example");
    assert!(conflicts[0].reason.contains(r#"role "staff" -> "client" not sent"#), "{}", conflicts[0].reason);
    assert_eq!(summary.record.platforms[0].updated, 5, "the other field changes still go");

    let sent = rig.sandbox.writes().split_off(before);
    let p2 = rig.sandbox.user_by_login("p2@agency.example").expect("p2");
    let to_p2: Vec<_> = sent.iter().filter(|r| r.path.ends_with(&format!("/{}", p2.id))).collect();
    assert_eq!(to_p2.len(), 1);
    assert_eq!(to_p2[0].body.as_ref().expect("a body"), &serde_json::json!({"last_name": "New2"}));
    assert!(sent.iter().filter(|r| r.sets_role()).all(|r| r.body.as_ref().expect("body")["role"] == "staff"));
    assert_eq!(sent.iter().filter(|r| r.sets_role()).count(), 1, "only p4's admin -> staff");
    assert_eq!((p2.role.as_str(), p2.last_name.as_str()), ("staff", "New2"));
    assert_eq!(rig.sandbox.user_by_login("p4@agency.example").expect("p4").role, "staff");

    let (plan, _) = rig.reconcile().await;
    assert_eq!((plan.change_count(), plan.conflict_count()), (0, 1), "reported again, still never sent");
}

#[tokio::test]
async fn with_recreate_on_role_change_a_staff_client_move_deletes_and_creates() {
    let rig = start_with(true, "    recreate_on_role_change: true\n").await;
    roster(&rig, &TEAM, "F");
    rig.reconcile().await;
    let old = rig.sandbox.user_by_login("p2@agency.example").expect("p2");
    let mut moved = TEAM;
    moved[1].1 = &["Clients"];
    roster(&rig, &moved, "F");
    let before = rig.sandbox.writes().len();
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.conflict_count(), 0, "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].failed, 0);
    let sent: Vec<(String, String)> =
        rig.sandbox.writes().split_off(before).into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(sent, [("DELETE".into(), format!("/v3/users/{}", old.id)), ("POST".into(), "/v3/users".into())]);
    let new = rig.sandbox.user_by_login("p2@agency.example").expect("p2 again");
    assert_eq!(new.role, "client");
    assert_ne!(new.id, old.id);

    let (plan, _) = rig.reconcile().await;
    let writes = rig.sandbox.writes().len();
    assert_eq!(plan.conflict_count(), 0, "{}", plan.to_table());
    let steps: Vec<Action> = plan.platforms[0].steps.iter().map(|s| s.action).collect();
    assert!(steps.iter().all(|a| *a == Action::Link), "at most the new account is linked: {}", plan.to_table());
    let (plan, _) = rig.reconcile().await;
    assert_eq!((plan.change_count(), rig.sandbox.writes().len()), (0, writes), "converged: {}", plan.to_table());
}

#[test]
fn config_problems_of_the_kind_are_reported_under_their_keys() {
    let (dir, text) = ConfigDir::with_platform(
        ("aa-key", KEY),
        "agency",
        "agencyanalytics",
        r#"    allow_delete: maybe
    roles: [ { role: owner } ]
    fields: { title: "{title}" }
"#,
    );
    let (paths, problems) = dir.problems(&text);
    assert_eq!(paths, ["platforms[0].allow_delete", "platforms[0].roles[0].role", "platforms[0].fields.title"]);
    assert!(problems[1].message.contains("admin, staff, client"), "{:?}", problems[1]);
    let fine = text.replace("maybe", "true").replace("owner", "Staff").replace("fields: { title: \"{title}\" }", "");
    let config = dir.parse(&fine);
    assert_eq!(config.platforms[0].connection.base_url.as_str(), "https://api.clientseoreport.com/");
    assert_eq!(config.platforms[0].mapping.roles[0].role, "staff");
}

#[test]
fn the_inferred_overrides_are_checked_under_their_keys() {
    let (dir, text) = ConfigDir::with_platform(
        ("aa-key", KEY),
        "agency",
        "agencyanalytics",
        r#"    recreate_on_role_change: true
    auth_scheme: digest
    error_message_pointer: error.message
"#,
    );
    let (paths, _) = dir.problems(&text);
    assert_eq!(paths, ["platforms[0].auth_scheme"], "an unknown scheme stops the rest of the kind's checks");
    let text = text.replace("digest", "bearer");
    let (paths, problems) = dir.problems(&text);
    assert_eq!(paths, ["platforms[0].error_message_pointer", "platforms[0].recreate_on_role_change"]);
    assert!(problems[1].message.contains("allow_delete: true"), "{:?}", problems[1]);
    let fine = text
        .replace("error.message", "/errors/0/detail")
        .replace("    auth_scheme", "    allow_delete: true\n    auth_scheme");
    dir.parse(&fine);
}
