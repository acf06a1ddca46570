//! Affise reads a user whose every permission level is `deny` as locked out (issue 13): a
//! person locked out, then forgotten by a lost store, then back in the roster is reactivated
//! in one run, and `rosterd report` flags the locked-out account meanwhile.

mod support;

use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions};
use rosterd::reconcile::plan::Action;
use support::people::Person;
use support::rig::{platform_entry, Rig, FILE_SOURCE};

const KEY: &str = "affise-key-SEEDED-7d1f20aa";

/// The platform entry's keys after its name, kind, address and key file.
const ENTRY: &str = r#"    roles:
      - { role: [ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE] }
    permissions:
      "ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE":
        stats: { clicks-list: { level: read } }
        users: { entity-affiliate: { level: write } }
    rate_limit: { per_second: 1000, burst: 100, concurrency: 4 }
"#;

async fn start() -> Rig<AffiseSandbox> {
    let affise =
        AffiseSandbox::start(AffiseSandboxOptions::default().with_api_key(KEY)).await.expect("the Affise sandbox");
    let rig = Rig::around(affise, "affise-key", KEY);
    let entry = platform_entry("affise", "affise", rig.sandbox.base_url(), "affise-key", ENTRY);
    rig.configure(FILE_SOURCE, "  max_removals: { count: 100, percent: 100 }", &entry);
    rig
}

/// People 1..=3, those in `inactive` marked inactive.
fn roster(rig: &Rig<AffiseSandbox>, inactive: &[usize]) {
    rig.roster((1..=3).map(|i| Person::test(i).active(!inactive.contains(&i))));
}

/// p2 locked out, then the store lost: rosterd no longer knows it did that.
async fn locked_out_and_forgotten() -> Rig<AffiseSandbox> {
    let rig = start().await;
    roster(&rig, &[]);
    rig.reconcile().await;
    roster(&rig, &[2]);
    rig.reconcile().await;
    rig.lose_the_store();
    rig
}

#[tokio::test]
async fn a_locked_out_person_who_comes_back_after_a_lost_store_is_reactivated_in_one_run() {
    let rig = start().await;
    roster(&rig, &[]);
    rig.reconcile().await;
    roster(&rig, &[2]);
    let (_, locked) = rig.reconcile().await;
    assert_eq!(locked.record.platforms[0].deactivated, 1);
    assert!(rig.sandbox.user_by_login("p2@acme.example").expect("p2").all_denied());

    rig.lose_the_store();
    let report = rig.engine().report(None).await.expect("a report");
    let row = report.rows.iter().find(|r| r.key == "p2@acme.example").expect("p2's row");
    assert!(row.locked_out && !row.inactive_person_active_account, "{row:?}");
    assert!(report.to_table().contains("LOCKED-OUT"), "{}", report.to_table());

    roster(&rig, &[]);
    let (plan, back) = rig.reconcile().await;
    let steps: Vec<_> = plan.platforms[0].steps.iter().map(|s| (s.person_id.as_str(), s.action, s.adopt)).collect();
    assert_eq!(
        steps,
        [("1", Action::Link, true), ("2", Action::Reactivate, true), ("3", Action::Link, true)],
        "{}",
        plan.to_table()
    );
    assert_eq!((back.failed(), back.record.platforms[0].reactivated), (0, 1), "{:?}", back.record);
    let p2 = rig.sandbox.user_by_login("p2@acme.example").expect("p2");
    assert_eq!(p2.permissions["users"]["entity-affiliate"]["level"], "write");

    // Linked again: the link says what rosterd did; no more reads, nothing to change.
    let reads = rig.sandbox.read_calls();
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.read_calls(), reads);
}

#[tokio::test]
async fn a_locked_out_leaver_after_a_lost_store_is_left_as_is() {
    let rig = locked_out_and_forgotten().await;
    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.iter().all(|s| s.person_id != "2"), "{}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), writes, "an account already locked out is not locked out again");
}

#[tokio::test]
async fn a_reviewed_plan_reactivating_a_returner_applies_as_planned() {
    let rig = locked_out_and_forgotten().await;
    roster(&rig, &[]);
    let planned = rig.engine().plan(None).await.expect("a plan");
    assert!(planned.plan.platforms[0].steps.iter().any(|s| s.person_id == "2" && s.action == Action::Reactivate));
    // A fresh engine re-reads the platform (and p2's permissions) and finds it unchanged.
    let summary = rig.engine().apply_reviewed(planned.plan, "test").await.expect("applied");
    assert_eq!(summary.record.platforms[0].error, None);
    assert_eq!(summary.record.platforms[0].reactivated, 1, "{:?}", summary.record);
    assert!(!rig.sandbox.user_by_login("p2@acme.example").expect("p2").all_denied());
}
