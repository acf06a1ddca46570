//! Lost answers, crashes and quarantine, at the level of whole runs against sandbox CAKE:
//! a create whose answer is lost is found again by reading, never sent twice; a write
//! interrupted by a crash is resolved by the next run the same way; and a record CAKE
//! refuses for good is set aside, retried with growing intervals, and released on success.

mod support;

use std::collections::{BTreeMap, HashSet};

use rosterd::audit::{self, AuditRecord};
use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use rosterd::reconcile::journal::Intent;
use rosterd::reconcile::plan::{Action, Step};
use rosterd::sandbox::faults::{Fault, FaultRule, LostAs};
use rosterd::store::Store;
use support::people::people;
use support::rig::Rig;

const SOURCE: &str = "  file: { path: roster.yaml }";
const SAFETY: &str = "  max_removals: { count: 25, percent: 10 }";
const PLATFORM: &str =
    "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }";

fn records(rig: &Rig) -> Vec<AuditRecord> {
    audit::read_records(&rig.audit_path()).unwrap().map(|r| r.unwrap()).collect()
}

/// Audit lines of create steps, per person label.
fn creates_by_person(records: &[AuditRecord]) -> BTreeMap<String, Vec<&AuditRecord>> {
    let mut out: BTreeMap<String, Vec<&AuditRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.action == "create") {
        out.entry(r.person.clone()).or_default().push(r);
    }
    out
}

fn open_store(rig: &Rig) -> Store {
    std::fs::create_dir_all(rig.path("state")).unwrap();
    Store::open(&rig.path("state"), 1 << 20).unwrap().0
}

/// A CAKE rig configured for these tests, its roster people 1..=`n`.
async fn start(n: usize) -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write_config(SOURCE, SAFETY, PLATFORM);
    rig.roster(people(n));
    rig
}

#[tokio::test]
async fn creates_whose_answers_are_lost_at_30_percent_make_exactly_one_account_each() {
    for (lost, seed) in [(LostAs::ServerError, 5), (LostAs::Disconnect, 11)] {
        let rig = start(200).await;
        rig.sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(lost)).with_probability(0.3, seed));

        let (_, summary) = rig.reconcile().await;
        let s = &summary.record.platforms[0];
        let lost_answers = rig.sandbox.faults().injected();
        assert!((35..=85).contains(&lost_answers), "{lost:?}: about 60 of 200 answers lost, got {lost_answers}");
        assert_eq!((s.created, s.failed), (200, 0), "{lost:?}: {s:?}");

        // Exactly 200 accounts, no duplicate email, each sent once.
        let users = rig.sandbox.users();
        let emails: HashSet<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
        assert_eq!((users.len(), emails.len()), (200, 200), "{lost:?}");
        assert_eq!(rig.sandbox.faults().count("create"), 200, "{lost:?}: a create was sent twice");

        // One audit line per person's create, with its final outcome.
        let records = records(&rig);
        let creates = creates_by_person(&records);
        assert_eq!(creates.len(), 200, "{lost:?}");
        assert!(creates.values().all(|lines| lines.len() == 1 && lines[0].outcome == "ok"), "{lost:?}");
        let found = records
            .iter()
            .filter(|r| {
                r.detail.as_deref().is_some_and(|d| d.contains("answer lost") && d.contains("found on the platform"))
            })
            .count();
        assert_eq!(found, lost_answers, "{lost:?}: every lost answer resolved by reading");
        assert_eq!(audit::verify(&rig.audit_path()).unwrap(), Ok(200));

        // Converged: the next run writes nothing.
        rig.sandbox.faults().clear();
        let writes = rig.sandbox.write_calls();
        let (plan, _) = rig.reconcile().await;
        assert_eq!(plan.change_count(), 0, "{lost:?}: {}", plan.to_table());
        assert_eq!(rig.sandbox.write_calls(), writes);
        assert!(Store::open(&rig.path("state"), 1 << 20).unwrap().0.pending_intents().unwrap().is_empty());
        eprintln!("{lost:?}: 200 people, {lost_answers} lost answers, {} accounts, 1 run + 1 idle run", users.len());
    }
}

#[tokio::test]
async fn a_write_interrupted_by_a_crash_is_resolved_by_reading_the_platform_at_the_next_run() {
    let rig = start(3).await;
    // rosterd journaled creates for p2 and p3 and died: p2's reached CAKE, p3's did not.
    rig.sandbox.insert_user(CakeUser::new("G2", "F2", "p2@acme.example", 3));
    let store = open_store(&rig);
    for i in [2, 3] {
        store.record_intent(&dead_create(&i.to_string())).unwrap();
    }
    store.flush().unwrap();
    drop(store);

    let (plan, summary) = rig.reconcile().await;
    let s = &summary.record.platforms[0];
    // p2 is linked by the resolution (no create, no adopt step); p1 and p3 are created.
    assert_eq!((s.created, s.linked, s.failed), (2, 0, 0), "{}", plan.to_table());
    assert_eq!(rig.sandbox.faults().count("create"), 2);
    assert_eq!(rig.sandbox.users().len(), 3);

    let records = records(&rig);
    let creates = creates_by_person(&records);
    let p2 = &creates["p2@acme.example"];
    assert_eq!(p2.len(), 1, "{p2:?}");
    assert_eq!((p2[0].outcome.as_str(), p2[0].run_id.as_str()), ("ok", "20240101T000000.000Z-dead"));
    assert!(p2[0].detail.as_deref().unwrap_or_default().contains("found on the platform"), "{:?}", p2[0].detail);
    assert!(p2[0].account_id.is_some());
    let p3: Vec<&str> = creates["p3@acme.example"].iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(p3, ["failed", "ok"], "the interrupted attempt, then this run's create");
    assert!(!records.iter().any(|r| r.person == "p2@acme.example" && r.action == "link"));

    let store = open_store(&rig);
    assert!(store.pending_intents().unwrap().is_empty());
    assert_eq!(store.links("cake").unwrap()["2"].origin, rosterd::reconcile::diff::LinkOrigin::Created);
    drop(store);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0);
}

#[tokio::test]
async fn a_record_refused_for_good_is_quarantined_skipped_retried_when_due_and_released() {
    let rig = start(3).await;
    rig.reconcile().await;
    rig.roster(people(4));
    rig.sandbox.faults().script(FaultRule::on("create", Fault::status(400)).always());

    // First refusal: quarantined, due again at the next run.
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].failed, summary.record.platforms[0].quarantined), (1, 0));
    let q = open_store(&rig).quarantined().unwrap();
    assert_eq!((q.len(), q[0].attempts, q[0].person_id.as_str()), (1, 1, "4"));
    assert!(q[0].reason.contains("HTTP 400"), "{}", q[0].reason);

    // Second refusal: now it waits 15 minutes.
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].failed, 1);
    let q = open_store(&rig).quarantined().unwrap();
    assert_eq!(q[0].attempts, 2);

    // While it waits: set aside, no write, not a failure again; the run goes on.
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(rig.sandbox.write_calls(), writes, "a quarantined record reached CAKE");
    let s = &summary.record.platforms[0];
    assert_eq!((s.failed, s.quarantined, s.created), (0, 1, 0), "{s:?}");
    assert_eq!(summary.record.result, "ok");
    assert_eq!(plan.platforms[0].quarantined.len(), 1);
    assert!(plan.to_table().contains("QUARANTINED after 2 failure(s)"), "{}", plan.to_table());
    assert!(summary.to_table().contains("quarantined"), "{}", summary.to_table());
    assert_eq!(summary.quarantined(), 1);

    // Due again (the wait has passed) and CAKE accepts it now: created and released.
    let store = open_store(&rig);
    let mut entry = store.quarantined().unwrap().remove(0);
    entry.next_attempt = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    store.set_quarantined(&entry).unwrap();
    store.flush().unwrap();
    drop(store);
    rig.sandbox.faults().clear();
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].quarantined), (1, 0));
    assert!(open_store(&rig).quarantined().unwrap().is_empty());
    assert_eq!(rig.sandbox.users().len(), 4);
    let p4: Vec<String> =
        creates_by_person(&records(&rig))["p4@acme.example"].iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(p4, ["failed", "failed", "ok"], "one line per attempt, none for the run that skipped it");
}

#[tokio::test]
async fn a_write_audited_just_before_a_kill_is_resolved_without_a_second_audit_line() {
    let rig = start(1).await;
    // rosterd created p1, audited the outcome and was killed before the store made the
    // cleared intent (and the link) durable.
    rig.sandbox.insert_user(CakeUser::new("G1", "F1", "p1@acme.example", 3));
    let id = rig.sandbox.users()[0].user_id.to_string();
    let intent = dead_create("1");
    let store = open_store(&rig);
    store.record_intent(&intent).unwrap();
    store.flush().unwrap();
    drop(store);
    audit::AuditLog::open(&rig.audit_path())
        .unwrap()
        .append(AuditRecord {
            time: chrono::Utc::now().to_rfc3339(),
            run_id: intent.run_id.clone(),
            trigger: intent.trigger.clone(),
            platform: "cake".into(),
            person_id: "1".into(),
            person: intent.step.label.clone(),
            account_id: Some(id.clone()),
            action: "create".into(),
            changes: vec![],
            outcome: "ok".into(),
            detail: None,
            prev: String::new(),
            hash: String::new(),
        })
        .unwrap();

    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), 0);
    let records = records(&rig);
    assert_eq!(records.len(), 1, "the outcome was audited once already: {records:?}");
    let store = open_store(&rig);
    assert!(store.pending_intents().unwrap().is_empty());
    assert_eq!(store.links("cake").unwrap()["1"].account_id, id);
}

/// The intent a dead run left for creating person `n` (`p{n}@acme.example`) on CAKE.
fn dead_create(n: &str) -> Intent {
    let email = format!("p{n}@acme.example");
    let step = Step {
        action: Action::Create,
        person_id: n.into(),
        label: email.clone(),
        key: email,
        account_id: None,
        changes: vec![],
        adopt: false,
        reason: None,
        held: None,
    };
    Intent::of("20240101T000000.000Z-dead", "schedule", "cake", &step)
}
