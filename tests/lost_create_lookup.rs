//! A create whose answer is lost is resolved by the platform's own targeted look-up where
//! its contract offers one (issue 13): Affise's `q` search, AgencyAnalytics' `filter`
//! search, Client Toolbox's `searchField=user_name&searchOper=eq`, SCIM's
//! `filter=userName eq`, each matched exactly on the key; never a full listing. A look-alike account the free-text search also returns is not taken for it.

mod support;

use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseUser};
use rosterd::platform::agencyanalytics::sandbox::{AgencyAnalyticsSandbox, AgencyAnalyticsUser};
use rosterd::platform::sandboxes::AnySandbox;
use rosterd::sandbox::faults::{Fault, FaultRule, LostAs};
use support::people::people;
use support::rig::{Rig, FILE_SOURCE};

const PEOPLE: usize = 3;

async fn start(kind: &str) -> Rig<AnySandbox> {
    let rig = Rig::kind(kind).await;
    // One account a page: a full listing would cost a call per account.
    let extra = "    page_size: 1\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 1 }\n";
    rig.configure(FILE_SOURCE, "", &rig.sandbox.platform_entry("target", "key", extra));
    rig.roster(people(PEOPLE));
    rig
}

async fn lost_creates_are_found_by_a_targeted_look_up(kind: &str) {
    let rig = start(kind).await;
    // A look-alike a free-text search for p1's key also returns.
    if let Some(s) = rig.sandbox.get::<AffiseSandbox>() {
        drop(s.insert_user(AffiseUser::new("X", "Y", "xp1@acme.example", &["ROLE_ADMIN"])));
    }
    if let Some(s) = rig.sandbox.get::<AgencyAnalyticsSandbox>() {
        drop(s.insert_user(AgencyAnalyticsUser::new("X", "Y", "xp1@acme.example", "staff")));
    }
    let decoys = rig.sandbox.listed();
    rig.sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(LostAs::ServerError)).always());
    let engine = rosterd::setup::engine(rig.config()).expect("an engine");
    let (_, summary) = engine.reconcile("test", false).await.expect("a run");
    let summary = summary.expect("applied");
    assert_eq!((summary.record.platforms[0].created, summary.failed()), (PEOPLE, 0), "{kind}: {:?}", summary.record);
    assert_eq!(rig.sandbox.faults().count("create"), PEOPLE, "{kind}: a create was sent twice");
    assert_eq!(rig.sandbox.listed(), decoys + PEOPLE, "{kind}");
    // The planning listing (one page per account, at least one), then one look-up per lost answer.
    let listing = decoys.max(1);
    let (lists, finds) = match rig.sandbox.kind() {
        "scim" => (rig.sandbox.list_calls(), rig.sandbox.faults().count("find")),
        _ => (listing, rig.sandbox.list_calls() - listing),
    };
    assert_eq!((lists, finds), (listing, PEOPLE), "{kind}: one targeted look-up per lost create");
    let audit = std::fs::read_to_string(rig.audit_path()).expect("the audit trail");
    assert_eq!(audit.matches("found on the platform").count(), PEOPLE, "{kind}");
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn affise_finds_a_lost_create_by_its_q_search() {
    lost_creates_are_found_by_a_targeted_look_up("affise").await;
}

#[tokio::test]
async fn agencyanalytics_finds_a_lost_create_by_its_filter_search() {
    lost_creates_are_found_by_a_targeted_look_up("agencyanalytics").await;
}

#[tokio::test]
async fn clienttoolbox_finds_a_lost_create_by_its_user_name_search() {
    lost_creates_are_found_by_a_targeted_look_up("clienttoolbox").await;
}

#[tokio::test]
async fn scim_finds_a_lost_create_by_its_username_filter() {
    lost_creates_are_found_by_a_targeted_look_up("scim").await;
}
