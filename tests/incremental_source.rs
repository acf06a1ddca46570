//! Incremental SCIM source reads, end to end through the engine: the SCIM sandbox as the
//! source, the CAKE sandbox as the platform. Counts calls, never times: a quiet run after a
//! full one makes one source call; changes (rename, leaver, joiner) are picked up between
//! full reads; a hard delete waits for the next full read; a failing incremental page
//! removes nobody; a lost or corrupt snapshot means a full read; a server that refuses the
//! filter gets full reads.

mod support;

use rosterd::platform::cake::sandbox::CakeSandboxOptions;
use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser};
use rosterd::sandbox::faults::{Fault, FaultRule};
use rosterd::source::snapshot::{SnapshotChanges, SnapshotStore};
use rosterd::store::Store;
use support::rig::Rig;

const PEOPLE: usize = 30;
const PAGE: usize = 10;
/// Pages of a full read of the seeded users.
const FULL_PAGES: usize = PEOPLE.div_ceil(PAGE);

fn email(i: usize) -> String {
    format!("user{i:02}@acme.example")
}

fn id(i: usize) -> String {
    format!("u{i:06}")
}

/// When user `i` was last modified: an hour apart, in 2024, so the overlap (60 s) before
/// the newest re-reads only the newest.
fn seeded_at(i: usize) -> chrono::DateTime<chrono::Utc> {
    let start = chrono::DateTime::parse_from_rfc3339(rosterd::platform::scim::sandbox::SEEDED_AT).unwrap().to_utc();
    start + chrono::Duration::hours(i as i64)
}

async fn scim(options: ScimSandboxOptions) -> ScimSandbox {
    let options = (1..=PEOPLE).fold(options, |o, i| {
        let user = ScimUser::new(&email(i), &format!("Given{i}"), &format!("Family{i}"), &email(i));
        o.with_user(user.last_modified_at(seeded_at(i)))
    });
    ScimSandbox::start(options).await.expect("the SCIM sandbox")
}

/// A rig whose source is `scim`, read `PAGE` a page, a full read every `every` reads.
/// The SCIM sandbox with these options, and a rig over it (a full read every 12th) after
/// its first run.
async fn synced(options: ScimSandboxOptions) -> (ScimSandbox, Rig) {
    let scim = scim(options).await;
    let rig = rig(&scim, 12).await;
    rig.reconcile().await;
    (scim, rig)
}

async fn rig(scim: &ScimSandbox, every: u32) -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    std::fs::write(rig.path("scim-token"), scim.token()).unwrap();
    let source = format!(
        "  scim: {{ url: \"{}\", token_file: scim-token, page_size: {PAGE}, groups: user, incremental: {{ enabled: true, full_read_every: {every} }} }}",
        scim.base_url()
    );
    let safety = "  max_removals: { count: 100, percent: 100 }\n  grace: { runs: 1 }";
    rig.write_config(&source, safety, "    roles:\n      - { role: Media Buyer }");
    rig
}

fn cake_status(rig: &Rig, email: &str) -> Option<String> {
    rig.sandbox.user_by_login(email).map(|u| u.user_status)
}

/// Source listing calls made by `f`.
async fn calls<T>(scim: &ScimSandbox, f: impl std::future::Future<Output = T>) -> (usize, T) {
    let before = scim.list_calls();
    let out = f.await;
    (scim.list_calls() - before, out)
}

#[tokio::test]
async fn a_quiet_run_after_a_full_one_makes_one_source_call() {
    let scim = scim(ScimSandboxOptions::default()).await;
    let rig = rig(&scim, 12).await;
    let (full, (plan, _)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(full, FULL_PAGES);
    assert!(plan.roster_complete);
    assert_eq!(rig.sandbox.users().len(), PEOPLE);
    let (quiet, (plan, _)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(quiet, 1, "one filtered page that holds only the newest user (the overlap)");
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, PEOPLE);
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    let filter = scim.list_queries().last().and_then(|q| q.get("filter").cloned()).unwrap();
    assert_eq!(
        filter, "meta.lastModified gt \"2024-01-02T05:59:00Z\"",
        "the newest seen (user 30), minus the 60 s overlap"
    );
}

#[tokio::test]
async fn changes_are_picked_up_between_full_reads_and_a_hard_delete_at_the_next_full_read() {
    let scim = scim(ScimSandboxOptions::default()).await;
    let rig = rig(&scim, 2).await;
    rig.reconcile().await;
    scim.modify(&id(3), |u| u.given_name = Some("Renamed".into()));
    scim.modify(&id(5), |u| u.active = false);
    scim.insert_user(ScimUser {
        last_modified: chrono::Utc::now(),
        ..ScimUser::new("joiner@acme.example", "New", "Joiner", "joiner@acme.example")
    });
    scim.delete_user(&id(7));

    // Read 2 of 2: incremental, one page; the hard-deleted user is still in the roster.
    let (made, (plan, summary)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, 1);
    assert!(plan.roster_complete);
    assert_eq!(plan.people, PEOPLE + 1, "the joiner is in, the deleted user not yet out");
    let cake = &summary.record.platforms[0];
    assert_eq!((cake.created, cake.updated, cake.deactivated), (1, 1, 1), "{}", plan.to_table());
    assert_eq!(rig.sandbox.user_by_login(&email(3)).unwrap().first_name, "Renamed");
    assert_eq!(cake_status(&rig, &email(5)).as_deref(), Some("inactive"));
    assert_eq!(cake_status(&rig, "joiner@acme.example").as_deref(), Some("active"));
    assert_eq!(cake_status(&rig, &email(7)).as_deref(), Some("active"), "not seen before the full read");

    // The next read is full again; the hard delete is seen and removed.
    let (made, (plan, summary)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, (PEOPLE + 1 - 1).div_ceil(PAGE));
    assert_eq!(plan.people, PEOPLE);
    assert_eq!(summary.record.platforms[0].deactivated, 1, "{}", plan.to_table());
    assert_eq!(cake_status(&rig, &email(7)).as_deref(), Some("inactive"));
}

#[tokio::test]
async fn a_failing_incremental_page_removes_nobody_and_the_watermark_stays() {
    let (scim, rig) = synced(ScimSandboxOptions::default()).await;
    // Fifteen changed users (two pages), one a leaver; page 2 of the listing is garbage.
    for i in 1..=15 {
        scim.modify(&id(i), |u| u.active = i != 4);
    }
    scim.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
    let (made, (plan, summary)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, 2);
    assert!(!plan.roster_complete);
    assert!(plan.roster_incomplete_reason.as_deref().unwrap().starts_with("incremental read: "));
    assert_eq!(summary.record.platforms[0].deactivated, 0, "an incomplete roster removes nobody");
    assert_eq!(cake_status(&rig, &email(4)).as_deref(), Some("active"));
    // The next run reads the same changes again (the watermark did not move) and acts.
    let (made, (plan, summary)) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, 2);
    assert!(plan.roster_complete);
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert_eq!(cake_status(&rig, &email(4)).as_deref(), Some("inactive"));
}

#[tokio::test]
async fn a_missing_or_corrupt_snapshot_means_a_full_read() {
    let (scim, rig) = synced(ScimSandboxOptions::default()).await;
    let source = format!("SCIM {}", scim.base_url().as_str().trim_end_matches('/'));
    let forget = |corrupt: bool| {
        let (store, _) = Store::open(&rig.path("state"), 1 << 20).unwrap();
        let snapshot = store.load_snapshot(&source).unwrap().expect("a snapshot after a full read");
        if corrupt {
            // The meta claims more people than are stored.
            let mut meta = snapshot.meta.clone();
            meta.people += 1;
            store.update_snapshot(&source, &meta, &SnapshotChanges::default()).unwrap();
        } else {
            store.forget_snapshot(&source).unwrap();
        }
    };
    forget(false);
    let (made, (plan, _)) = calls(&scim, rig.reconcile()).await;
    assert_eq!((made, plan.roster_complete), (FULL_PAGES, true));
    forget(true);
    let (made, _) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, FULL_PAGES);
    let (made, _) = calls(&scim, rig.reconcile()).await;
    assert_eq!(made, 1, "the full read rebuilt the snapshot");
}

#[tokio::test]
async fn a_server_that_refuses_the_filter_gets_full_reads() {
    let (scim, rig) = synced(ScimSandboxOptions::default().without_last_modified_filter()).await;
    let engine = rosterd::setup::engine(rig.config()).unwrap();
    // The refused filtered page, then a full read in the same run.
    let (made, plan) = calls(&scim, engine.plan(None)).await;
    assert_eq!(made, 1 + FULL_PAGES);
    assert!(plan.unwrap().plan.roster_complete);
    // The same source does not try again.
    let (made, _) = calls(&scim, engine.plan(None)).await;
    assert_eq!(made, FULL_PAGES);
}
