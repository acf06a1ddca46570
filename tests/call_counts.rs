//! Calls (issue 6): on every platform kind, a converged run of 1,000 people lists in the
//! fewest pages the contract allows and writes nothing; a run with k changes (creates,
//! updates, removals) writes exactly k times (an Affise lock-out is 3 writes); and the
//! only other reads are the ones the contract makes necessary. Counted on the emulators.

mod support;

use rosterd::platform::sandboxes::{kinds, min_list_calls, AnySandbox};
use support::people::Person;
use support::rig::Rig;

const N: usize = 1000;
const JOINERS: [usize; 4] = [1001, 1002, 1003, 1004];
const RENAMED: [usize; 4] = [10, 20, 30, 40];
const LEAVERS: [usize; 4] = [50, 60, 70, 80];

/// Calls one run made, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Calls {
    list: usize,
    writes: usize,
    /// Everything else: role look-ups, discovery, "read one".
    other: usize,
}

async fn start(kind: &str) -> Rig<AnySandbox> {
    // The counts do not depend on the disk; tmpfs keeps 1,000 journaled steps quick.
    let dir = match std::path::Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    };
    let sandbox = AnySandbox::start(kind).await.unwrap();
    let key = sandbox.key();
    let rig = Rig::around_in(dir, sandbox, "key", &key);
    configure(&rig, "");
    rig
}

/// The config: removals at once (no grace), no removal limits in the way.
fn configure(rig: &Rig<AnySandbox>, extra: &str) {
    let limits = "    rate_limit: { per_second: 100000, burst: 100, concurrency: 16 }\n";
    rig.configure_target(
        "  max_removals: { count: 1000, percent: 100 }\n  grace: { runs: 1 }",
        &format!("{limits}{extra}"),
    );
}

/// People 1..=N; `changed` adds the joiners, renames and makes the leavers inactive.
fn roster(rig: &Rig<AnySandbox>, changed: bool) {
    let last = if changed { JOINERS[JOINERS.len() - 1] } else { N };
    rig.roster((1..=last).map(|i| {
        let p = Person::test(i).active(!(changed && LEAVERS.contains(&i)));
        if changed && RENAMED.contains(&i) {
            p.given("Renamed")
        } else {
            p
        }
    }));
}

/// One `reconcile --once` with a fresh engine: the changes it planned and the calls it made.
async fn reconcile(rig: &Rig<AnySandbox>) -> (usize, Calls) {
    let before = counts(&rig.sandbox);
    let (plan, summary) = rig.engine().reconcile("call-counts", false).await.unwrap();
    assert_eq!(plan.platforms[0].error, None);
    assert_eq!(summary.unwrap().failed(), 0);
    let after = counts(&rig.sandbox);
    let calls = Calls {
        list: after.list - before.list,
        writes: after.writes - before.writes,
        other: after.other - before.other,
    };
    (plan.change_count(), calls)
}

fn counts(sandbox: &AnySandbox) -> Calls {
    let (list, writes) = (sandbox.list_calls(), sandbox.write_calls());
    Calls { list, writes, other: sandbox.requests() - list - writes }
}

async fn calls_are_the_minimum(kind: &str) {
    let rig = start(kind).await;
    let page = rig.sandbox.largest_page();

    roster(&rig, false);
    let (planned, first) = reconcile(&rig).await;
    assert_eq!((planned, first.writes), (N, N), "{kind}: the first run creates each person once");

    let listed = rig.sandbox.listed();
    let (planned, converged) = reconcile(&rig).await;
    let wanted = Calls { list: min_list_calls(listed, page), writes: 0, other: rig.sandbox.reads_per_run() };
    assert_eq!((planned, converged), (0, wanted), "{kind}: a converged run of {listed} accounts in pages of {page}");

    roster(&rig, true);
    let listed = rig.sandbox.listed();
    let (planned, changed) = reconcile(&rig).await;
    let k = JOINERS.len() + RENAMED.len() + LEAVERS.len();
    let writes = JOINERS.len() + RENAMED.len() + LEAVERS.len() * rig.sandbox.writes_per_removal();
    let other = rig.sandbox.reads_per_run() + LEAVERS.len() * rig.sandbox.reads_per_removal();
    let wanted = Calls { list: min_list_calls(listed, page), writes, other };
    assert_eq!((planned, changed), (k, wanted), "{kind}: a run with {k} changes");

    let listed = rig.sandbox.listed();
    let (planned, after) = reconcile(&rig).await;
    let wanted = Calls { list: min_list_calls(listed, page), writes: 0, other: rig.sandbox.reads_per_run() };
    assert_eq!((planned, after), (0, wanted), "{kind}: converged again");

    // The same roster in smaller pages still reads each page once (FileSpin's are fixed).
    if rig.sandbox.fixed_page_size().is_none() {
        configure(&rig, "    page_size: 300\n");
        let (planned, paged) = reconcile(&rig).await;
        let wanted = Calls { list: min_list_calls(listed, 300), writes: 0, other: rig.sandbox.reads_per_run() };
        assert_eq!((planned, paged), (0, wanted), "{kind}: {listed} accounts in pages of 300");
    }
    rig.sandbox.shutdown().await;
}

/// Every kind of the registry: a new kind is counted with no edit here.
#[tokio::test]
async fn every_kind_makes_the_fewest_calls() {
    for kind in kinds() {
        calls_are_the_minimum(kind).await;
    }
}
