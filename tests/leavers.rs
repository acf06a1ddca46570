//! Leavers lose access at once even on accounts rosterd never created (issue 13): on every
//! platform kind, an account made before rosterd's store (here: by a store since lost)
//! whose person is now inactive is adopted and deactivated in one run, audited as such;
//! two candidate accounts are a conflict and no write.

mod support;

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeUser};
use rosterd::platform::sandboxes::{kinds, AnySandbox};
use rosterd::reconcile::plan::Action;
use support::people::Person;
use support::rig::{Rig, FAST};

async fn start(kind: &str) -> Rig<AnySandbox> {
    let rig = Rig::kind(kind).await;
    rig.configure_target("  max_removals: { count: 10, percent: 100 }", FAST);
    rig
}

/// A CAKE rig whose three people were created, then whose store was lost: their accounts
/// are there, unlinked.
async fn cake_synced_then_store_lost() -> Rig<AnySandbox> {
    let rig = start("cake").await;
    roster(&rig, &[]);
    rig.reconcile().await;
    rig.lose_the_store();
    rig
}

/// People 1..=3, those in `inactive` marked inactive.
fn roster(rig: &Rig<AnySandbox>, inactive: &[usize]) {
    rig.roster((1..=3).map(|i| Person::test(i).active(!inactive.contains(&i))));
}

/// Accounts that can still sign in, each kind judged by its own means of removal.
fn with_access(sandbox: &AnySandbox) -> usize {
    sandbox.with_access()
}

async fn a_leaver_loses_an_account_rosterd_never_created(kind: &str) {
    let rig = start(kind).await;
    roster(&rig, &[]);
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.failed(), 0, "{kind}: {:?}", first.record);
    let before = with_access(&rig.sandbox);

    rig.lose_the_store();
    roster(&rig, &[1]);
    let (plan, summary) = rig.reconcile().await;
    let steps = &plan.platforms[0].steps;
    let leaver: Vec<_> = steps.iter().filter(|s| s.person_id == "1").collect();
    assert_eq!(leaver.len(), 1, "{kind}: {steps:?}");
    assert_eq!((leaver[0].action, leaver[0].adopt, leaver[0].held.as_deref()), (Action::Deactivate, true, None));
    assert!(plan.to_table().contains("- deactivate p1"), "{kind}: {}", plan.to_table());
    assert!(plan.to_table().contains("(adopt existing account)"), "{kind}");
    assert_eq!((summary.failed(), summary.record.platforms[0].deactivated), (0, 1), "{kind}: {:?}", summary.record);
    assert_eq!(with_access(&rig.sandbox), before - 1, "{kind}: the leaver's access is gone");

    let audited: Vec<_> = rig.audit_lines().into_iter().filter(|r| r["person_id"] == "1").collect();
    let last = audited.last().expect("the leaver's audit line");
    assert_eq!((last["action"].as_str(), last["outcome"].as_str()), (Some("deactivate"), Some("ok")), "{kind}");
    assert!(last["detail"].as_str().is_some_and(|d| d.contains("adopted")), "{kind}: {last}");

    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{kind}: converged: {}", plan.to_table());
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn every_kind_removes_a_leaver_from_an_account_it_never_created() {
    for kind in kinds() {
        a_leaver_loses_an_account_rosterd_never_created(kind).await;
    }
}

#[tokio::test]
async fn two_candidate_accounts_are_a_conflict_and_no_write() {
    let rig = start("cake").await;
    let cake = rig.sandbox.get::<CakeSandbox>().expect("a CAKE emulator");
    // Seeded straight into the emulator (its API refuses a second email): two accounts
    // that both answer to p1's key.
    cake.insert_user(CakeUser::new("Old", "One", "p1@acme.example", 3));
    cake.insert_user(CakeUser::new("Old", "Two", "P1@Acme.example", 3));
    roster(&rig, &[1]);
    let writes = cake.write_calls();
    let (plan, summary) = rig.reconcile().await;
    let p = &plan.platforms[0];
    assert!(p.steps.iter().all(|s| s.person_id != "1"), "{:?}", p.steps);
    let conflict = p.conflicts.iter().find(|c| c.person_id == "1").expect("a conflict for the leaver");
    assert!(conflict.reason.contains("several active accounts"), "{}", conflict.reason);
    assert_eq!(summary.record.platforms[0].conflicts, 1);
    // Only the two active people were created: nothing was written for the leaver.
    assert_eq!(cake.write_calls() - writes, 2);
    assert_eq!(cake.users().iter().filter(|u| u.user_status == "active").count(), 4);
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn the_guards_hold_a_leavers_adoption_like_any_removal() {
    let rig = cake_synced_then_store_lost().await;
    roster(&rig, &[1]);
    rig.edit("roster.yaml", "complete: true", "complete: false");
    let before = with_access(&rig.sandbox);
    let (plan, summary) = rig.reconcile().await;
    let step = plan.platforms[0].steps.iter().find(|s| s.person_id == "1").expect("the leaver's step");
    assert!(step.adopt && step.held.as_deref().is_some_and(|h| h.contains("incomplete")), "{step:?}");
    assert_eq!((summary.record.platforms[0].held, with_access(&rig.sandbox)), (1, before));
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_held_adoption_is_released_by_approve_and_then_linked() {
    let rig = cake_synced_then_store_lost().await;
    rig.edit("rosterd.yaml", "count: 10,", "count: 0,");
    roster(&rig, &[1]);
    let before = with_access(&rig.sandbox);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.held_count(), 1, "{}", plan.to_table());
    assert_eq!(with_access(&rig.sandbox), before);

    let config = Config::load(&rig.path("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let engine = rosterd::setup::engine(config).expect("an engine");
    let approved = engine.approve(&plan.run_id, None).await.expect("an approval");
    let released: Vec<_> =
        approved.iter().flat_map(|p| p.released.iter()).map(|s| (s.person_id.as_str(), s.adopt)).collect();
    assert_eq!(released, [("1", true)]);
    assert_eq!(with_access(&rig.sandbox), before - 1);
    drop(engine);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "linked and removed: {}", plan.to_table());
    rig.sandbox.shutdown().await;
}
