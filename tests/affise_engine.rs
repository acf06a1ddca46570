//! The real engine against the Affise emulator, end to end: people are created with generated
//! passwords, a second run changes nothing, a leaver is locked out in three steps (and reads as
//! inactive), a returner gets the permissions config maps to their role, and no password the
//! emulator received is found in the logs, the audit trail or the store.

mod support;

use rosterd::config::Config;
use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
use support::logs::Logs;
use support::people::Person;
use support::rig::{assert_nowhere, contains, platform_entry, Rig, FILE_SOURCE};

const KEY: &str = "affise-key-SEEDED-0c4e91d7";
const MANAGER: &str = "ROLE_MANAGER_AFFILIATE,ROLE_SECTION_STATS";

/// The platform entry's keys after its name, kind, address and key file.
const ENTRY: &str = r#"    page_size: 2
    roles:
      - { when: 'groups.display eq "Admins"', role: ROLE_ADMIN }
      - { role: [ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE] }
    permissions:
      "ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE":
        general: { marketplace: { level: read } }
        stats: { clicks-list: { level: read }, conversions-export: { level: read } }
        users: { entity-affiliate: { level: write } }
    rate_limit: { per_second: 1000, burst: 100, concurrency: 4 }
"#;

async fn start() -> Rig<AffiseSandbox> {
    // Someone rosterd never created: never touched, never removed.
    let owner = AffiseUser::new("Api", "Owner", "owner@acme.example", &["ROLE_ADMIN"]);
    let options = AffiseSandboxOptions::default().with_api_key(KEY).with_user(owner);
    let rig = Rig::around(AffiseSandbox::start(options).await.expect("the Affise sandbox"), "affise-key", KEY);
    let entry = platform_entry("affise", "affise", rig.sandbox.base_url(), "affise-key", ENTRY);
    rig.configure(FILE_SOURCE, "  max_removals: { count: 100, percent: 100 }", &entry);
    rig
}

/// `n` people, those in `inactive` marked inactive; person 1 is an admin.
fn roster(rig: &Rig<AffiseSandbox>, n: usize, inactive: &[usize]) {
    rig.roster((1..=n).map(|i| {
        let p = Person::test(i).active(!inactive.contains(&i));
        if i == 1 {
            p.in_group("Admins")
        } else {
            p
        }
    }));
}

fn routes_since(rig: &Rig<AffiseSandbox>, from: usize) -> Vec<&'static str> {
    rig.sandbox.received()[from..].iter().map(|r| r.route).collect()
}

#[tokio::test]
async fn create_converge_lock_out_and_restore_end_to_end_without_leaking_a_password() {
    let captured = Logs::capture();
    let rig = start().await;

    roster(&rig, 5, &[]);
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.record.platforms[0].created, 5, "{:?}", first.record);
    assert_eq!(rig.sandbox.users().len(), 6);
    let admin = rig.sandbox.user_by_login("p1@acme.example").unwrap();
    assert_eq!(admin.roles, ["ROLE_ADMIN"]);
    assert_eq!(rig.sandbox.user_by_login("p2@acme.example").unwrap().roles, MANAGER.split(',').collect::<Vec<_>>());

    // Nothing changed: nothing planned, nothing written.
    let writes = rig.sandbox.write_calls();
    let (plan, second) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "{}", plan.to_table());
    assert_eq!(second.record.platforms[0].changed(), 0);
    assert_eq!(rig.sandbox.write_calls(), writes);

    // Person 3 leaves: the three-step lock-out, then a locked-out account that stays put.
    roster(&rig, 5, &[3]);
    let (before, reads) = (rig.sandbox.received().len(), rig.sandbox.read_calls());
    let leaver = rig.sandbox.user_by_login("p3@acme.example").unwrap();
    let (_, third) = rig.reconcile().await;
    assert_eq!(third.record.platforms[0].deactivated, 1);
    assert_eq!(routes_since(&rig, before), ["permissions", "api_key", "password"]);
    assert_eq!(rig.sandbox.read_calls() - reads, 1);
    let locked = rig.sandbox.user_by_login("p3@acme.example").unwrap();
    assert!(locked.all_denied(), "every permission level is deny");
    assert_ne!(locked.api_key, leaver.api_key);
    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "the links remember the lock-out: {}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), writes);

    // Person 3 comes back: the role's configured permissions, no password.
    roster(&rig, 5, &[]);
    let passwords_before = rig.sandbox.received_passwords().len();
    let (_, fifth) = rig.reconcile().await;
    assert_eq!(fifth.record.platforms[0].reactivated, 1, "{:?}", fifth.record);
    assert_eq!(rig.sandbox.received_passwords().len(), passwords_before);
    let back = rig.sandbox.user_by_login("p3@acme.example").unwrap();
    assert_eq!(back.permissions["users"]["entity-affiliate"]["level"], "write");
    assert_eq!(back.permissions["stats"]["clicks-list"]["level"], "read");
    assert!(!back.all_denied());
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "{}", plan.to_table());
    assert!(rig.sandbox.user_by_login("owner@acme.example").is_some_and(|u| !u.all_denied()));

    let logs = captured.bytes();
    assert!(contains(&logs, "applied"), "the subscriber saw the runs");
    assert_nowhere(&rig.sandbox.received_passwords(), &logs, &rig.path("state"));
}

#[tokio::test]
async fn an_unknown_role_string_fails_the_config_check_naming_it() {
    let rig = start().await;
    rig.edit("rosterd.yaml", "role: ROLE_ADMIN", "role: [ROLE_ADMIN, ROLE_ROOT]");
    let error = Config::load(&rig.path("rosterd.yaml")).unwrap_err().to_string();
    assert!(error.contains("platforms[0].roles[0].role") && error.contains("\"ROLE_ROOT\""), "{error}");
}
