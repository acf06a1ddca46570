//! The one test rig: a temporary folder holding a config, its key file, a roster and the
//! state, beside a running emulator (any kind through `AnySandbox`, or a concrete one a
//! test seeds); runs the engine the way the command line does (load config, build, run).

use std::path::{Path, PathBuf};

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use rosterd::platform::sandboxes::AnySandbox;
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::{Engine, RunSummary};
use rosterd::sandbox::page_cap::PageCap;
use serde_json::Value;
use tempfile::TempDir;

use super::people::{roster, Person};

pub const CAKE_KEY: &str = "cake-key-SEEDED-5b1e77c2";
/// The source section of a config reading `roster.yaml`.
pub const FILE_SOURCE: &str = "  file: { path: roster.yaml }";
/// A rate limit no test run meets.
pub const FAST: &str = "    rate_limit: { per_second: 1000, burst: 100, concurrency: 4 }\n";

pub struct Rig<S = CakeSandbox> {
    pub dir: TempDir,
    pub sandbox: S,
}

/// A platform entry named `name` of `kind` at `base_url`, its key read from `key_file`;
/// `rest` is the entry's other keys (indented lines).
pub fn platform_entry(name: &str, kind: &str, base_url: impl std::fmt::Display, key_file: &str, rest: &str) -> String {
    format!("  - name: {name}\n    kind: {kind}\n    base_url: \"{base_url}\"\n    api_key_file: {key_file}\n{rest}")
}

impl Rig<CakeSandbox> {
    /// A sandbox CAKE with these options, its key in `cake-key`.
    pub async fn start(options: CakeSandboxOptions) -> Rig {
        let cake = CakeSandbox::start(options.with_api_key(CAKE_KEY)).await.expect("the CAKE sandbox");
        Rig::around(cake, "cake-key", CAKE_KEY)
    }

    /// Write `rosterd.yaml` with this source section and CAKE platform body (its
    /// base_url and key are filled in).
    pub fn write_config(&self, source: &str, safety: &str, platform_extra: &str) -> PathBuf {
        let platform =
            platform_entry("cake", "cake", self.sandbox.base_url(), "cake-key", &format!("{platform_extra}\n"));
        self.configure(source, safety, &platform)
    }
}

impl Rig<AnySandbox> {
    /// The emulator of `kind` with its default options, its key in `key`.
    pub async fn kind(kind: &str) -> Rig<AnySandbox> {
        Rig::kind_capped(kind, PageCap::None).await
    }

    /// The same, serving listing pages no larger than `cap` allows.
    pub async fn kind_capped(kind: &str, cap: PageCap) -> Rig<AnySandbox> {
        let sandbox = AnySandbox::start_capped(kind, cap).await.expect("the emulator");
        let key = sandbox.key();
        Rig::around(sandbox, "key", &key)
    }

    /// Write `rosterd.yaml`: the roster file, these safety settings, one platform named
    /// `target` with the registry's test entry plus `extra` (indented keys).
    pub fn configure_target(&self, safety: &str, extra: &str) -> PathBuf {
        self.configure(FILE_SOURCE, safety, &self.sandbox.platform_entry("target", "key", extra))
    }
}

impl<S> Rig<S> {
    /// A rig around a running emulator whose key rosterd reads from `key_file`.
    pub fn around(sandbox: S, key_file: &str, key: &str) -> Rig<S> {
        Rig::around_in(tempfile::tempdir().expect("a temp dir"), sandbox, key_file, key)
    }

    /// The same in a folder of the test's choosing (tmpfs for the heavy ones).
    pub fn around_in(dir: TempDir, sandbox: S, key_file: &str, key: &str) -> Rig<S> {
        std::fs::write(dir.path().join(key_file), format!("{key}\n")).expect("key file");
        Rig { dir, sandbox }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file of the rig's folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Replace `from` by `to` in a file of the rig's folder; `from` must be there, so that a
    /// test never runs on an edit that silently did nothing.
    pub fn edit(&self, name: &str, from: &str, to: &str) {
        let path = self.path(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.contains(from), "{} has no {from:?}", path.display());
        std::fs::write(&path, text.replace(from, to)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Write `rosterd.yaml` reading the roster file into these platforms, removals not limited
    /// and `protected` (the platform's own administrator) never touched.
    pub fn configure_protecting(&self, protected: &str, platforms: &str) -> PathBuf {
        let safety = format!("  max_removals: {{ count: 100, percent: 100 }}\n  protected: [{protected}]");
        self.configure(FILE_SOURCE, &safety, platforms)
    }

    /// Write `rosterd.yaml` with state in `state/` and these sections (`platforms` is the
    /// list's entries; no `safety:` section when `safety` is empty).
    pub fn configure(&self, source: &str, safety: &str, platforms: &str) -> PathBuf {
        let safety = match safety.is_empty() {
            true => String::new(),
            false => format!("safety:\n{safety}\n"),
        };
        self.write("rosterd.yaml", &format!("state_dir: state\nsource:\n{source}\n{safety}platforms:\n{platforms}"))
    }

    /// Write `roster.yaml` with these people (complete).
    pub fn roster(&self, people: impl IntoIterator<Item = Person>) {
        self.write("roster.yaml", &roster(people));
    }

    pub fn config(&self) -> Config {
        config_in(self.dir.path())
    }

    /// An engine built from the config, as one command-line run builds it.
    pub fn engine(&self) -> Engine {
        engine_in(self.dir.path())
    }

    /// One `reconcile --once`: a fresh engine each time, as separate CLI runs would have.
    pub async fn reconcile(&self) -> (Plan, RunSummary) {
        reconcile_in(self.dir.path()).await
    }

    pub fn audit_path(&self) -> PathBuf {
        self.path("state").join("audit.jsonl")
    }

    /// Every line of the audit trail, parsed.
    pub fn audit_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.audit_path()).expect("the audit trail");
        text.lines().map(|l| serde_json::from_str(l).expect("an audit line is JSON")).collect()
    }

    /// rosterd forgets every link: its accounts are now accounts it never created.
    pub fn lose_the_store(&self) {
        std::fs::remove_dir_all(self.path("state").join("store")).expect("the store removed");
    }
}

/// The config `rosterd.yaml` of a folder.
pub fn config_in(dir: &Path) -> Config {
    Config::load(&dir.join("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// An engine built from the config of a folder, as one command-line run builds it.
pub fn engine_in(dir: &Path) -> Engine {
    rosterd::setup::engine(config_in(dir)).expect("an engine")
}

/// One `reconcile --once` of the config in a folder, with a fresh engine.
pub async fn reconcile_in(dir: &Path) -> (Plan, RunSummary) {
    let (plan, summary) = engine_in(dir).reconcile("test", false).await.expect("a run");
    (plan, summary.expect("applied"))
}

/// Every file under a folder, as bytes (for secret greps).
/// The run's one platform was not planned, its error saying each of `says`, and the writes
/// the platform counted are the same (`before`, `after`) across the run.
pub fn assert_not_planned(plan: &Plan, summary: &RunSummary, says: &[&str], (before, after): (usize, usize)) {
    let error = plan.platforms[0].error.clone().expect("the platform is not planned");
    assert!(says.iter().all(|needle| error.contains(needle)), "{error}");
    assert!(summary.record.platforms[0].error.is_some());
    assert_eq!(after, before);
}

pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// No secret of `secrets` in the logs nor in any file of `state` (which holds the audit trail).
pub fn assert_nowhere(secrets: &[String], logs: &[u8], state: &Path) {
    assert!(!secrets.is_empty());
    let files = all_files(state);
    assert!(files.iter().any(|(p, _)| p.ends_with("audit.jsonl")), "the audit trail is in the state dir");
    for secret in secrets {
        assert!(!contains(logs, secret), "a secret is in the logs");
        for (path, bytes) in &files {
            assert!(!contains(bytes, secret), "a secret is in {}", path.display());
        }
    }
}
