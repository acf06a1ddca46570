//! `calls`: on every platform kind, the calls a converged run and a run with k changes
//! make, against the fewest the platform's contract allows.

use rosterd::platform::sandboxes::min_list_calls;

use crate::sandbox_rig::{per_kind, Rig, Run, StateOn};
use crate::table::{ratio, Table};

/// Accounts on each platform.
const N: usize = 10_000;
/// The changes of the second run: people who join, are renamed, leave.
const JOINERS: usize = 10;
const RENAMED: usize = 10;
const LEAVERS: usize = 10;

pub fn run() -> Vec<Table> {
    let table = Table::new(
        format!(
            "Calls per run, {N} accounts; the k-change run has {JOINERS} creates, {RENAMED} updates, {LEAVERS} removals \
             (state on tmpfs; minimum = ceil(listed / largest page) listing calls, 1 write per change, 3 per Affise \
             lock-out, plus the reads the contract needs: CAKE roles and the SCIM ServiceProviderConfig once a run, \
             Affise \"read one\" per lock-out)"
        ),
        &[
            "platform",
            "N",
            "largest page",
            "list calls (actual/min)",
            "other reads (actual/min)",
            "converged writes",
            "k",
            "k-run writes (actual/min)",
            "k-run other reads (actual/min)",
            "ratio (all calls actual/min)",
        ],
    );
    per_kind(table, platform)
}

async fn platform(kind: &str) -> Vec<String> {
    let rig = Rig::seeded(kind, StateOn::Tmpfs, "{ per_second: 100000, burst: 100, concurrency: 32 }", N).await;
    check(kind, "seeding", rig.reconcile().await, N);
    let page = rig.sandbox.largest_page();

    let listed = rig.sandbox.listed();
    let converged = check(kind, "converged", rig.reconcile().await, 0);
    let min_list = min_list_calls(listed, page);
    let min_other = rig.sandbox.reads_per_run();

    let renamed: Vec<usize> = (1..=RENAMED).map(|i| i * 7).collect();
    let leavers: Vec<usize> = (1..=LEAVERS).map(|i| i * 7 + 3).collect();
    rig.roster(N + JOINERS, &renamed, &leavers);
    let k_listed = rig.sandbox.listed();
    let k = JOINERS + RENAMED + LEAVERS;
    let changed = check(kind, "k changes", rig.reconcile().await, k);
    let k_min_writes = JOINERS + RENAMED + LEAVERS * rig.sandbox.writes_per_removal();
    let k_min_list = min_list_calls(k_listed, page);
    let k_min_other = min_other + LEAVERS * rig.sandbox.reads_per_removal();

    let actual = converged.requests + changed.requests;
    let minimum = min_list + min_other + k_min_list + k_min_writes + k_min_other;
    rig.sandbox.shutdown().await;
    vec![
        kind.to_string(),
        listed.to_string(),
        page.to_string(),
        format!("{}/{min_list}", converged.list),
        format!("{}/{min_other}", converged.other()),
        converged.writes.to_string(),
        k.to_string(),
        format!("{}/{k_min_writes}", changed.writes),
        format!("{}/{k_min_other}", changed.other()),
        ratio(actual as f64, minimum as f64),
    ]
}

/// A run that planned other than `planned` changes, or failed a step, is no measurement.
fn check(kind: &str, what: &str, run: Run, planned: usize) -> Run {
    assert!(
        run.failed == 0 && run.planned == planned,
        "{kind} {what}: planned {} (not {planned}), {} failed",
        run.planned,
        run.failed
    );
    run
}
