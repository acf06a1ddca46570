//! Guards and bad answers at the level of a whole run: a removal spike is held and
//! reported, a malformed CAKE answer fails that platform's run with a clear error naming
//! the page, and neither ever panics or removes anyone.

mod support;

use rosterd::audit;
use rosterd::platform::cake::sandbox::CakeSandboxOptions;
use rosterd::sandbox::faults::{Fault, FaultRule};
use support::people::{self, Person};
use support::rig::{assert_not_planned, Rig};

/// A roster file of `n` people, those in `inactive` marked inactive.
fn roster(n: usize, inactive: &[usize]) -> String {
    people::roster((1..=n).map(|i| Person::test(i).active(!inactive.contains(&i))))
}

const SOURCE: &str = "  file: { path: roster.yaml }";
const PLATFORM: &str =
    "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }";

/// A CAKE rig configured with these guards and platform lines, its roster `n` active people.
async fn start(guards: &str, platform: &str, n: usize) -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write_config(SOURCE, guards, platform);
    write_roster(&rig, roster(n, &[]));
    rig
}

fn write_roster(rig: &Rig, text: String) {
    std::fs::write(rig.path("roster.yaml"), text).unwrap();
}

#[tokio::test]
async fn removing_40_of_100_at_a_10_percent_threshold_holds_every_removal_and_reports_them() {
    // 40 of 100 going inactive is also a 40% shrink: the shrink guard (tests/source_faults.rs)
    // is set aside so that this test sees the removal threshold alone.
    let rig = start("  max_removals: { count: 1000, percent: 10 }\n  shrink_guard_percent: 100", PLATFORM, 100).await;
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.record.platforms[0].created, 100);

    let leaving: Vec<usize> = (1..=40).collect();
    write_roster(&rig, roster(100, &leaving));
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;

    let held: Vec<_> = plan.platforms[0].held().collect();
    assert_eq!(held.len(), 40);
    assert!(held[0]
        .held
        .as_deref()
        .unwrap_or_default()
        .contains("40 removals are 40% of 100 managed accounts, above the 10% limit"));
    assert_eq!(summary.record.platforms[0].held, 40);
    assert_eq!(summary.record.platforms[0].deactivated, 0);
    assert_eq!(rig.sandbox.write_calls(), writes, "a held removal reached CAKE");
    assert!(rig.sandbox.users().iter().all(|u| u.user_status == "active"));
    let table = plan.to_table();
    assert_eq!(table.matches("HELD:").count(), 40, "{table}");
    let held_lines = audit::read_records(&rig.audit_path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|r| r.outcome == "held" && r.run_id == plan.run_id)
        .count();
    assert_eq!(held_lines, 40);
    assert_eq!(audit::verify(&rig.audit_path()).unwrap(), Ok(140));
}

#[tokio::test]
async fn removals_under_the_threshold_go_through() {
    let rig = start("  max_removals: { count: 25, percent: 10 }", PLATFORM, 100).await;
    rig.reconcile().await;
    write_roster(&rig, roster(100, &[7, 8]));
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 2);
    let inactive: Vec<String> =
        rig.sandbox.users().into_iter().filter(|u| u.user_status == "inactive").map(|u| u.email).collect();
    assert_eq!(inactive, ["p7@acme.example", "p8@acme.example"]);
}

#[tokio::test]
async fn an_incomplete_roster_file_removes_nobody() {
    let rig = start("  max_removals: { count: 1000, percent: 100 }", PLATFORM, 10).await;
    rig.reconcile().await;
    let partial = roster(5, &[]).replace("complete: true", "complete: false");
    write_roster(&rig, partial);
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.platforms[0].held().count(), 5);
    assert_eq!(summary.record.platforms[0].deactivated, 0);
    assert!(rig.sandbox.users().iter().all(|u| u.user_status == "active"));
}

#[tokio::test]
async fn a_malformed_cake_page_fails_that_platform_clearly_and_changes_nothing() {
    let rig =
        start("  max_removals: { count: 1000, percent: 100 }", &format!("    page_size: 10\n{PLATFORM}"), 30).await;
    rig.reconcile().await;
    // Everyone leaves, and CAKE's second listing page is garbage: were the listing read as
    // short, the plan would be built on a wrong picture.
    write_roster(&rig, roster(30, &(1..=30).collect::<Vec<_>>()));
    rig.sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    assert_not_planned(&plan, &summary, &["malformed", "row 11"], (writes, rig.sandbox.write_calls()));
    assert!(plan.to_table().contains("not planned"));
}

#[tokio::test]
async fn an_unknown_role_fails_the_platform_and_names_the_known_ones() {
    let rig = start("  max_removals: { count: 25, percent: 10 }", "    roles: [ { role: Fnance } ]", 3).await;
    let (plan, _) = rig.reconcile().await;
    let error = plan.platforms[0].error.clone().unwrap_or_default();
    assert!(error.contains("unknown role \"Fnance\"") && error.contains("Finance"), "{error}");
    assert_eq!(rig.sandbox.write_calls(), 0);
}

#[tokio::test]
async fn one_failing_record_is_recorded_and_the_run_goes_on() {
    let rig = start("  max_removals: { count: 25, percent: 10 }", PLATFORM, 10).await;
    // The third create is refused for good (a 400 is not retried).
    rig.sandbox.faults().script(FaultRule::on("create", Fault::status(400)).nth(3));
    let (_, summary) = rig.reconcile().await;
    let s = &summary.record.platforms[0];
    assert_eq!((s.created, s.failed), (9, 1), "{s:?}");
    assert_eq!(rig.sandbox.users().len(), 9);
    let failed: Vec<_> = audit::read_records(&rig.audit_path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|r| r.outcome == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].detail.as_deref().unwrap_or_default().contains("HTTP 400"), "{:?}", failed[0].detail);
    // The next run picks the missing person up.
    let (_, again) = rig.reconcile().await;
    assert_eq!(again.record.platforms[0].created, 1);
    assert_eq!(rig.sandbox.users().len(), 10);
}

#[tokio::test]
async fn a_lost_store_is_rebuilt_from_the_platform_without_a_second_account() {
    let rig = start("  max_removals: { count: 25, percent: 10 }", PLATFORM, 20).await;
    rig.reconcile().await;
    // The store is damaged beyond opening.
    let store = rig.path("state").join("store");
    for entry in std::fs::read_dir(&store).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::write(entry.path(), vec![0xA5u8; 512]).unwrap();
        }
    }
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    assert!(std::fs::read_dir(rig.path("state"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("store.broken-")));
    // Every account is adopted again by its email: no create, no write.
    assert_eq!(summary.record.platforms[0].linked, 20, "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].created, 0);
    assert_eq!(rig.sandbox.write_calls(), writes);
    assert_eq!(rig.sandbox.users().len(), 20);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0);
}
