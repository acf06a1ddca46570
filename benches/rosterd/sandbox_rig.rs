//! A folder with a config, a roster file and a state directory, next to one emulator:
//! runs the real engine (`setup::engine` + `reconcile`) the way `rosterd reconcile --once` does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rosterd::config::Config;
use rosterd::platform::sandboxes::AnySandbox;
use tempfile::TempDir;

use crate::table::Table;

/// Where the state directory lives: tmpfs leaves the disk's fsyncs out of the figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOn {
    Tmpfs,
    Disk,
}

impl StateOn {
    pub fn label(self) -> &'static str {
        match self {
            StateOn::Tmpfs => "tmpfs",
            StateOn::Disk => "disk",
        }
    }

    fn tempdir(self) -> TempDir {
        match self {
            StateOn::Tmpfs if Path::new("/dev/shm").is_dir() => tempfile::tempdir_in("/dev/shm"),
            _ => tempfile::tempdir(),
        }
        .expect("a temporary folder")
    }
}

pub struct Rig {
    dir: TempDir,
    pub sandbox: AnySandbox,
}

/// What one run did, read from the engine and the emulator.
pub struct Run {
    pub planned: usize,
    pub failed: usize,
    pub list: usize,
    pub writes: usize,
    pub requests: usize,
    pub throttled: usize,
    pub wall: Duration,
}

impl Run {
    /// Requests that were neither listing pages nor writes.
    pub fn other(&self) -> usize {
        self.requests - self.list - self.writes
    }
}

impl Rig {
    pub async fn start(kind: &str, state: StateOn) -> Rig {
        let dir = state.tempdir();
        let sandbox = AnySandbox::start(kind).await.expect("the emulator");
        std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).expect("the key file");
        Rig { dir, sandbox }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config: the one platform with `extra` keys, removals at once and unlimited.
    pub fn configure(&self, extra: &str) {
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 100000, percent: 100 }}\n  grace: {{ runs: 1 }}\nplatforms:\n{}",
            self.sandbox.platform_entry("target", "key", extra)
        );
        std::fs::write(self.path("rosterd.yaml"), config).expect("the config");
    }

    /// People `1..=people` (`p{i}@acme.example`); those in `renamed` get a new given name,
    /// those in `leavers` are inactive.
    pub fn roster(&self, people: usize, renamed: &[usize], leavers: &[usize]) {
        std::fs::write(self.path("roster.yaml"), roster_text(people, renamed, leavers)).expect("the roster");
    }

    /// One `reconcile --once` with a fresh engine, counted on the emulator.
    pub async fn reconcile(&self) -> Run {
        let faults = self.sandbox.faults();
        let before = (self.sandbox.list_calls(), self.sandbox.write_calls(), faults.requests(), faults.throttled());
        let started = Instant::now();
        let config = Config::load(&self.path("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let engine = rosterd::setup::engine(config).expect("an engine");
        let (plan, summary) = engine.reconcile("bench", false).await.expect("a run");
        let wall = started.elapsed();
        if let Some(e) = &plan.platforms[0].error {
            panic!("{}: not planned: {e}", self.sandbox.kind());
        }
        Run {
            planned: plan.change_count(),
            failed: summary.map(|s| s.failed()).unwrap_or(0),
            list: self.sandbox.list_calls() - before.0,
            writes: self.sandbox.write_calls() - before.1,
            requests: faults.requests() - before.2,
            throttled: faults.throttled() - before.3,
            wall,
        }
    }
}

/// A runtime for one section: the engine's run is one task, the emulator serves on others.
/// One row per kind of the registry, each from its own run of `row`: a new kind is measured
/// with no edit to the benchmarks.
pub fn per_kind<F: std::future::Future<Output = Vec<String>>>(
    mut table: Table,
    row: impl Fn(&'static str) -> F,
) -> Vec<Table> {
    let rt = runtime();
    for kind in rosterd::platform::sandboxes::kinds() {
        table.row(rt.block_on(row(kind)));
    }
    vec![table]
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// The roster file of people `1..=people` (`p{i}@acme.example`); those in `renamed` get a
/// new given name, those in `leavers` are inactive.
pub fn roster_text(people: usize, renamed: &[usize], leavers: &[usize]) -> String {
    let mut out = String::with_capacity(people * 160);
    out.push_str("complete: true\npeople:\n");
    for i in 1..=people {
        let active = !leavers.contains(&i);
        let given = if renamed.contains(&i) { format!("Renamed{i}") } else { format!("G{i}") };
        out.push_str(&format!(
            "  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: {given}, family_name: F{i}, email: p{i}@acme.example, active: {active} }}\n"
        ));
    }
    out
}
