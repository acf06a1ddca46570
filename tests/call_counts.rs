//! Calls (issue 6): on every platform kind, a converged run of 1,000 people lists in the
//! fewest pages the contract allows and writes nothing; a run with k changes (creates,
//! updates, removals) writes exactly k times (an Affise lock-out is 3 writes); and the
//! only other reads are the ones the contract makes necessary. Counted on the emulators.

use std::path::PathBuf;

use rosterd::config::Config;
use rosterd::platform::sandboxes::{min_list_calls, AnySandbox};
use tempfile::TempDir;

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

struct Rig {
    dir: TempDir,
    sandbox: AnySandbox,
}

impl Rig {
    async fn start(kind: &str) -> Rig {
        // The counts do not depend on the disk; tmpfs keeps 1,000 journaled steps quick.
        let dir = match std::path::Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm").unwrap(),
            false => tempfile::tempdir().unwrap(),
        };
        let sandbox = AnySandbox::start(kind).await.unwrap();
        std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).unwrap();
        let rig = Rig { dir, sandbox };
        rig.configure("");
        rig
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config: removals at once (no grace), no removal limits in the way.
    fn configure(&self, extra: &str) {
        let limits = "    rate_limit: { per_second: 100000, burst: 100, concurrency: 16 }\n";
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 1000, percent: 100 }}\n  grace: {{ runs: 1 }}\nplatforms:\n{}",
            self.sandbox.platform_entry("target", "key", &format!("{limits}{extra}"))
        );
        std::fs::write(self.path("rosterd.yaml"), config).unwrap();
    }

    /// People 1..=N; `changed` adds the joiners, renames and makes the leavers inactive.
    fn roster(&self, changed: bool) {
        let mut out = String::from("complete: true\npeople:\n");
        let last = if changed { JOINERS[JOINERS.len() - 1] } else { N };
        for i in 1..=last {
            let active = !(changed && LEAVERS.contains(&i));
            let given = if changed && RENAMED.contains(&i) { format!("Renamed{i}") } else { format!("G{i}") };
            out.push_str(&format!(
                "  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: {given}, family_name: F{i}, email: p{i}@acme.example, active: {active} }}\n"
            ));
        }
        std::fs::write(self.path("roster.yaml"), out).unwrap();
    }

    /// One `reconcile --once` with a fresh engine: the changes it planned and the calls it made.
    async fn reconcile(&self) -> (usize, Calls) {
        let before = self.counts();
        let config = Config::load(&self.path("rosterd.yaml")).unwrap();
        let engine = rosterd::setup::engine(config).unwrap();
        let (plan, summary) = engine.reconcile("call-counts", false).await.unwrap();
        assert_eq!(plan.platforms[0].error, None);
        assert_eq!(summary.unwrap().failed(), 0);
        let after = self.counts();
        let calls = Calls {
            list: after.list - before.list,
            writes: after.writes - before.writes,
            other: after.other - before.other,
        };
        (plan.change_count(), calls)
    }

    fn counts(&self) -> Calls {
        let (list, writes) = (self.sandbox.list_calls(), self.sandbox.write_calls());
        Calls { list, writes, other: self.sandbox.requests() - list - writes }
    }
}

async fn calls_are_the_minimum(kind: &str) {
    let rig = Rig::start(kind).await;
    let page = rig.sandbox.largest_page();

    rig.roster(false);
    let (planned, first) = rig.reconcile().await;
    assert_eq!((planned, first.writes), (N, N), "{kind}: the first run creates each person once");

    let listed = rig.sandbox.listed();
    let (planned, converged) = rig.reconcile().await;
    let wanted = Calls { list: min_list_calls(listed, page), writes: 0, other: rig.sandbox.reads_per_run() };
    assert_eq!((planned, converged), (0, wanted), "{kind}: a converged run of {listed} accounts in pages of {page}");

    rig.roster(true);
    let listed = rig.sandbox.listed();
    let (planned, changed) = rig.reconcile().await;
    let k = JOINERS.len() + RENAMED.len() + LEAVERS.len();
    let writes = JOINERS.len() + RENAMED.len() + LEAVERS.len() * rig.sandbox.writes_per_removal();
    let other = rig.sandbox.reads_per_run() + LEAVERS.len() * rig.sandbox.reads_per_removal();
    let wanted = Calls { list: min_list_calls(listed, page), writes, other };
    assert_eq!((planned, changed), (k, wanted), "{kind}: a run with {k} changes");

    let listed = rig.sandbox.listed();
    let (planned, after) = rig.reconcile().await;
    let wanted = Calls { list: min_list_calls(listed, page), writes: 0, other: rig.sandbox.reads_per_run() };
    assert_eq!((planned, after), (0, wanted), "{kind}: converged again");

    // The same roster in smaller pages still reads each page once (FileSpin's are fixed).
    if rig.sandbox.kind() != "filespin" {
        rig.configure("    page_size: 300\n");
        let (planned, paged) = rig.reconcile().await;
        let wanted = Calls { list: min_list_calls(listed, 300), writes: 0, other: rig.sandbox.reads_per_run() };
        assert_eq!((planned, paged), (0, wanted), "{kind}: {listed} accounts in pages of 300");
    }
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn cake_makes_the_fewest_calls() {
    calls_are_the_minimum("cake").await;
}

#[tokio::test]
async fn affise_makes_the_fewest_calls() {
    calls_are_the_minimum("affise").await;
}

#[tokio::test]
async fn agencyanalytics_makes_the_fewest_calls() {
    calls_are_the_minimum("agencyanalytics").await;
}

#[tokio::test]
async fn filespin_makes_the_fewest_calls() {
    calls_are_the_minimum("filespin").await;
}

#[tokio::test]
async fn clienttoolbox_makes_the_fewest_calls() {
    calls_are_the_minimum("clienttoolbox").await;
}

#[tokio::test]
async fn scim_makes_the_fewest_calls() {
    calls_are_the_minimum("scim").await;
}
