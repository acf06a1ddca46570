//! Identity-source faults at the level of a whole run (issue 5): an empty roster, a roster
//! far smaller than last time, a person missing for fewer runs than the grace period: none
//! removes anyone. `rosterd approve RUN_ID` then releases exactly the held removals, audited.
//!
//! The other faults of that acceptance list have their own tests: a 503 on a middle page
//! (`tests/scim_to_cake.rs`, `src/source/scim/tests.rs`) and a totalResults larger than
//! what is served (`src/source/scim/tests.rs`).

mod support;

use rosterd::audit;
use rosterd::platform::cake::sandbox::CakeSandboxOptions;
use rosterd::reconcile::EngineError;
use support::people::{self, Person};
use support::rig::Rig;

/// A complete roster file of the people `ids`, all active.
fn roster(ids: impl IntoIterator<Item = usize>) -> String {
    people::roster(ids.into_iter().map(Person::test))
}

const SOURCE: &str = "  file: { path: roster.yaml }";
const PLATFORM: &str =
    "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }";
/// Only the guards under test: the removal-count limits are out of the way.
const LOOSE: &str = "  max_removals: { count: 1000, percent: 100 }";

fn write_roster(rig: &Rig, ids: impl IntoIterator<Item = usize>) {
    std::fs::write(rig.path("roster.yaml"), roster(ids)).unwrap();
}

/// A CAKE rig with these safety lines whose people 1..=`n` were created by a first run.
async fn synced(safety: &str, n: usize) -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write_config(SOURCE, safety, PLATFORM);
    write_roster(&rig, 1..=n);
    rig.reconcile().await;
    rig
}

fn active(rig: &Rig) -> usize {
    rig.sandbox.users().iter().filter(|u| u.user_status == "active").count()
}

#[tokio::test]
async fn an_empty_complete_roster_after_twenty_people_removes_nobody_and_says_why() {
    let rig = synced(&format!("{LOOSE}\n  grace: {{ runs: 1 }}"), 20).await;
    write_roster(&rig, []);
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    let why = plan.roster_shrank.clone().expect("the shrink guard fired");
    assert!(why.contains("from 20 to 0"), "{why}");
    assert!(plan.to_table().contains("no access will be removed"), "{}", plan.to_table());
    assert_eq!(plan.platforms[0].held().count(), 20);
    assert!(plan.platforms[0].held().all(|s| s.held.as_deref() == Some(why.as_str())));
    assert_eq!((summary.record.platforms[0].held, summary.record.platforms[0].deactivated), (20, 0));
    assert_eq!(rig.sandbox.write_calls(), writes, "a held removal reached CAKE");
    assert_eq!(active(&rig), 20);
}

#[tokio::test]
async fn a_roster_sixty_percent_smaller_removes_nobody_run_after_run() {
    let rig = synced(&format!("{LOOSE}\n  grace: {{ runs: 1 }}"), 20).await;
    write_roster(&rig, 1..=8);
    for _ in 0..2 {
        // The baseline stays the last roster whose removals ran: the shrink is held each time.
        let (plan, summary) = rig.reconcile().await;
        let held: Vec<_> = plan.platforms[0].held().collect();
        assert_eq!(held.len(), 12);
        let why = held[0].held.as_deref().unwrap_or_default();
        assert!(why.contains("from 20 to 8 active people (60% fewer)") && why.contains("30%"), "{why}");
        assert_eq!(summary.record.platforms[0].deactivated, 0);
        assert_eq!(active(&rig), 20);
    }
}

#[tokio::test]
async fn a_small_shrink_is_not_held_by_the_shrink_guard() {
    let rig = synced(&format!("{LOOSE}\n  grace: {{ runs: 1 }}"), 20).await;
    write_roster(&rig, 1..=15);
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.roster_shrank, None);
    assert_eq!(summary.record.platforms[0].deactivated, 5);
}

#[tokio::test]
async fn by_default_a_leaver_is_removed_on_the_second_run_they_are_missing() {
    let rig = synced(LOOSE, 10).await;

    // p3 is missing: held for the first run; p4 misses one run and comes back.
    write_roster(&rig, (1..=10).filter(|i| *i != 3 && *i != 4));
    let (plan, summary) = rig.reconcile().await;
    let held: Vec<_> = plan.platforms[0].held().map(|s| (s.label.as_str(), s.held.as_deref().unwrap_or(""))).collect();
    assert_eq!(
        held,
        [
            ("p3@acme.example", "in grace: missing for 1 of 2 runs"),
            ("p4@acme.example", "in grace: missing for 1 of 2 runs")
        ]
    );
    assert_eq!(summary.record.platforms[0].deactivated, 0);

    write_roster(&rig, (1..=10).filter(|i| *i != 3));
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1, "p3 goes on the second run");
    let inactive: Vec<String> =
        rig.sandbox.users().into_iter().filter(|u| u.user_status == "inactive").map(|u| u.email).collect();
    assert_eq!(inactive, ["p3@acme.example"]);

    // p4 came back in between: missing again starts the count afresh.
    write_roster(&rig, (1..=10).filter(|i| *i != 3 && *i != 4));
    let (plan, _) = rig.reconcile().await;
    let p4 = plan.platforms[0].steps.iter().find(|s| s.label == "p4@acme.example").expect("p4's removal");
    assert_eq!(p4.held.as_deref(), Some("in grace: missing for 1 of 2 runs"));
}

#[tokio::test]
async fn a_grace_duration_holds_a_new_leaver_and_inactive_people_go_at_once() {
    let rig = synced(&format!("{LOOSE}\n  grace: {{ duration: 1h }}"), 10).await;
    rig.roster((1..=9).map(|i| Person::test(i).active(i != 2)));
    let (plan, summary) = rig.reconcile().await;
    let p10 = plan.platforms[0].steps.iter().find(|s| s.label == "p10@acme.example").expect("p10's removal");
    assert!(p10.held.as_deref().unwrap_or_default().starts_with("in grace: missing for 0s of 1h"), "{p10:?}");
    assert_eq!(summary.record.platforms[0].deactivated, 1, "p2, inactive at the source, goes at once");
}

#[tokio::test]
async fn approve_releases_exactly_the_held_removals_of_a_run_audited_and_only_once() {
    let rig = synced(&format!("{LOOSE}\n  grace: {{ runs: 1 }}"), 20).await;
    write_roster(&rig, 1..=8);
    let (shrunk, _) = rig.reconcile().await;
    assert_eq!(shrunk.platforms[0].held().count(), 12);
    let run = shrunk.run_id.clone();

    // Since that run: p9 came back, and p10 was made a protected account.
    write_roster(&rig, (1..=9).collect::<Vec<_>>());
    rig.write_config(SOURCE, &format!("{LOOSE}\n  grace: {{ runs: 1 }}\n  protected: [p10@acme.example]"), PLATFORM);
    let engine = rosterd::setup::engine(rig.config()).expect("an engine");
    let unknown = engine.approve("20200101T000000.000Z-0000", None).await;
    assert!(matches!(unknown, Err(EngineError::NotApprovable(_))), "{unknown:?}");

    let results = engine.approve(&run, None).await.expect("an approval");
    assert_eq!(results.len(), 1);
    let released: Vec<&str> = results[0].released.iter().map(|s| s.label.as_str()).collect();
    let expected: Vec<String> = (11..=20).map(|i| format!("p{i}@acme.example")).collect();
    let mut sorted = released.clone();
    sorted.sort_by_key(|l| l[1..].split('@').next().and_then(|n| n.parse::<u32>().ok()));
    assert_eq!(sorted, expected);
    let skipped: Vec<&str> = results[0].skipped.iter().map(|(s, _)| s.label.as_str()).collect();
    assert_eq!(skipped, ["p10@acme.example", "p9@acme.example"]);
    assert_eq!(results[0].summary.as_ref().map(|s| s.deactivated), Some(10));
    let inactive = rig.sandbox.users().into_iter().filter(|u| u.user_status == "inactive").count();
    assert_eq!(inactive, 10);
    assert!(rig.sandbox.users().iter().any(|u| u.email == "p10@acme.example" && u.user_status == "active"));

    let records: Vec<_> =
        audit::read_records(&rig.audit_path()).unwrap().filter_map(Result::ok).filter(|r| r.run_id == run).collect();
    let outcomes = |o: &str| records.iter().filter(|r| r.outcome == o && r.trigger == "approve").count();
    assert_eq!((outcomes("released"), outcomes("ok")), (10, 10));
    let first_ok = records.iter().position(|r| r.outcome == "ok").unwrap_or(0);
    let first_released = records.iter().position(|r| r.outcome == "released").unwrap_or(usize::MAX);
    assert!(first_released < first_ok, "the release is audited before the change");
    assert!(audit::verify(&rig.audit_path()).unwrap().is_ok());

    let again = engine.approve(&run, None).await;
    match again {
        Err(EngineError::NotApprovable(m)) => assert!(m.contains("already released"), "{m}"),
        other => panic!("a second approval was not refused: {other:?}"),
    }
    drop(engine);
    // The approved shrink is the new baseline: the next run is not held by it.
    let (next, _) = rig.reconcile().await;
    assert_eq!(next.roster_shrank, None, "{}", next.to_table());
}
