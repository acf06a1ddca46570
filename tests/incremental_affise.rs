//! Incremental Affise listings through the engine: after a full listing, a quiet run lists
//! once (`updated_at` = the day before the last listing); users changed in Affise are merged
//! into the cached listing; a lock-out still reads the user's permissions; a user deleted in
//! Affise's UI is noticed at the next full listing only; a failing incremental page plans
//! nothing for the platform; a lost listing state means a full listing. Counts calls only.

mod support;

use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use rosterd::sandbox::faults::{Fault, FaultRule};
use rosterd::store::Store;
use support::people::Person;
use support::rig::{Rig, FILE_SOURCE};

const KEY: &str = "affise-key-SEEDED-7d21be90";
const PEOPLE: usize = 9;
const PAGE: usize = 2;
/// The people plus the owner, two a page.
const FULL_PAGES: usize = (PEOPLE + 1).div_ceil(PAGE);

/// The platform entry.
fn config(base_url: &url::Url, every: u32) -> String {
    format!(
        r#"  - name: affise
    kind: affise
    base_url: "{base_url}"
    api_key_file: affise-key
    page_size: {PAGE}
    protected: [owner@acme.example]
    roles:
      - {{ role: [ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE] }}
    incremental: {{ enabled: true, full_read_every: {every} }}
    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}
"#
    )
}

fn email(i: usize) -> String {
    format!("p{i}@acme.example")
}

fn roster(rig: &Rig<AffiseSandbox>, inactive: &[usize]) {
    rig.roster((1..=PEOPLE).map(|i| Person::test(i).active(!inactive.contains(&i))));
}

/// An Affise user last changed long ago, so an incremental listing does not see it.
fn old(user: AffiseUser) -> AffiseUser {
    AffiseUser { created_at: "2024-01-01 00:00:00".into(), updated_at: "2024-01-01 00:00:00".into(), ..user }
}

async fn start(every: u32) -> Rig<AffiseSandbox> {
    let mut options = AffiseSandboxOptions::default().with_api_key(KEY).with_user(old(AffiseUser::new(
        "Api",
        "Owner",
        "owner@acme.example",
        &["ROLE_ADMIN"],
    )));
    for i in 1..=PEOPLE {
        let roles = ["ROLE_MANAGER_AFFILIATE", "ROLE_SECTION_STATS"];
        options = options.with_user(old(AffiseUser::new(&format!("G{i}"), &format!("F{i}"), &email(i), &roles)));
    }
    let rig = Rig::around(AffiseSandbox::start(options).await.unwrap(), "affise-key", KEY);
    let safety = "  max_removals: { count: 100, percent: 100 }\n  grace: { runs: 1 }";
    rig.configure(FILE_SOURCE, safety, &config(&rig.sandbox.base_url(), every));
    roster(&rig, &[]);
    rig
}

/// Listing calls of one run, and the run.
async fn counted(rig: &Rig<AffiseSandbox>) -> (usize, Plan, RunSummary) {
    let before = rig.sandbox.list_calls();
    let (plan, summary) = rig.reconcile().await;
    (rig.sandbox.list_calls() - before, plan, summary)
}

#[tokio::test]
async fn quiet_runs_list_once_and_changes_merge_until_the_next_full_listing() {
    let rig = start(3).await;
    let (calls, plan, summary) = counted(&rig).await;
    assert_eq!(calls, FULL_PAGES);
    assert_eq!(summary.record.platforms[0].linked, PEOPLE, "{}", plan.to_table());

    // Read 2 of 3: nobody changed since yesterday, one call.
    let (calls, plan, _) = counted(&rig).await;
    assert_eq!(calls, 1);
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive().format("%Y-%m-%d").to_string();
    assert_eq!(rig.sandbox.list_queries().last().unwrap().get("updated_at"), Some(&yesterday));

    // Read 3 of 3: a drifted name and a leaver; a user deleted in the UI is not noticed.
    rig.sandbox.modify(&email(3), |u| u.first_name = "Drifted".into());
    rig.sandbox.delete_user(&email(7));
    roster(&rig, &[5]);
    let reads = rig.sandbox.read_calls();
    let (calls, plan, summary) = counted(&rig).await;
    assert_eq!(calls, 1);
    let affise = &summary.record.platforms[0];
    assert_eq!((affise.updated, affise.deactivated, affise.created), (1, 1, 0), "{}", plan.to_table());
    assert_eq!(rig.sandbox.user_by_login(&email(3)).unwrap().first_name, "G3");
    assert!(rig.sandbox.user_by_login(&email(5)).unwrap().all_denied(), "the lock-out ran");
    assert_eq!(rig.sandbox.read_calls() - reads, 1, "the lock-out read the leaver's permissions");

    // The next listing is full: the deleted user is missing and gets a new account.
    let (calls, plan, summary) = counted(&rig).await;
    assert_eq!(calls, PEOPLE.div_ceil(PAGE), "nine users now, owner included");
    assert_eq!(summary.record.platforms[0].created, 1, "{}", plan.to_table());
    assert!(rig.sandbox.user_by_login(&email(7)).is_some());
}

#[tokio::test]
async fn a_failing_incremental_page_plans_nothing_and_the_next_run_catches_up() {
    let rig = start(12).await;
    rig.reconcile().await;
    for i in 1..=3 {
        rig.sandbox.modify(&email(i), |u| u.skype = Some(format!("skype{i}")));
    }
    roster(&rig, &[2]);
    rig.sandbox.faults().script(FaultRule::on("list", Fault::Garbage).nth(2));
    let (calls, plan, summary) = counted(&rig).await;
    assert_eq!(calls, 2);
    assert!(plan.platforms[0].error.is_some(), "{}", plan.to_table());
    assert_eq!(summary.record.platforms[0].deactivated, 0);
    assert!(!rig.sandbox.user_by_login(&email(2)).unwrap().all_denied());
    let (calls, _, summary) = counted(&rig).await;
    assert_eq!(calls, 2, "the same changed users, since the same day");
    assert_eq!(summary.record.platforms[0].deactivated, 1);
}

#[tokio::test]
async fn a_lost_listing_state_means_a_full_listing() {
    let rig = start(12).await;
    rig.reconcile().await;
    {
        let (store, _) = Store::open(&rig.path("state"), 1 << 20).unwrap();
        assert!(store.listing_state("affise").unwrap().is_some());
        store.forget_listing_state("affise").unwrap();
        store.flush().unwrap();
    }
    let (calls, plan, _) = counted(&rig).await;
    assert_eq!((calls, plan.change_count()), (FULL_PAGES, 0));
    let (calls, _, _) = counted(&rig).await;
    assert_eq!(calls, 1);
}
