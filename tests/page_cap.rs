//! Paging tolerance (issue 13): on every platform kind, against an emulator that serves a
//! quarter of the page size asked for (as a real server capping page sizes does, saying so
//! only through the pages themselves), the listing still reads whole: the first run creates
//! everyone, the second changes nothing, the listing never fails, and it takes exactly the
//! pages the capped size needs (each page read once, no page skipped or read twice).

mod support;

use rosterd::platform::sandboxes::{kinds, min_list_calls, AnySandbox};
use rosterd::sandbox::page_cap::PageCap;
use support::people::people;
use support::rig::Rig;

/// People in the roster: with the page sizes below, every kind pages many times.
const N: usize = 45;
/// The page size asked for (FileSpin's is fixed at 30 by the vendor).
const PAGE_SIZE: usize = 8;

async fn start(kind: &str) -> Rig<AnySandbox> {
    let rig = Rig::kind_capped(kind, PageCap::QUARTER).await;
    let limits = "    rate_limit: { per_second: 100000, burst: 100, concurrency: 4 }\n";
    let page = match rig.sandbox.fixed_page_size() {
        Some(_) => String::new(),
        None => format!("    page_size: {PAGE_SIZE}\n"),
    };
    rig.configure_target("  max_removals: { count: 100, percent: 100 }", &format!("{limits}{page}"));
    rig.roster(people(N));
    rig
}

/// One run: the changes planned and the listing calls it made; the platform never fails.
async fn reconcile(rig: &Rig<AnySandbox>) -> (usize, usize) {
    let before = rig.sandbox.list_calls();
    let engine = rosterd::setup::engine(rig.config()).unwrap();
    let (plan, summary) = engine.reconcile("page-cap", false).await.unwrap();
    assert_eq!(plan.platforms[0].error, None, "{}: the capped listing failed", rig.sandbox.kind());
    assert_eq!(summary.unwrap().failed(), 0);
    (plan.change_count(), rig.sandbox.list_calls() - before)
}

async fn a_capped_server_still_lists_whole(kind: &str) {
    let rig = start(kind).await;
    let (planned, _) = reconcile(&rig).await;
    assert_eq!(planned, N, "{kind}: the first run creates everyone");
    let listed = rig.sandbox.listed();
    assert!(listed >= N, "{kind}: {listed} accounts");
    let asked = rig.sandbox.fixed_page_size().unwrap_or(PAGE_SIZE);
    let served = PageCap::QUARTER.apply(asked);
    let (planned, calls) = reconcile(&rig).await;
    assert_eq!(planned, 0, "{kind}: converged: the whole listing was read");
    assert_eq!(calls, min_list_calls(listed, served), "{kind}: {listed} accounts in capped pages of {served}");
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn every_kind_lists_whole_through_a_page_cap() {
    for kind in kinds() {
        a_capped_server_still_lists_whole(kind).await;
    }
}
