//! A test rig: a temporary folder holding a config, its secret files and state, plus a
//! sandbox CAKE; runs the engine the way the command line does (load config, build, run).

use std::path::{Path, PathBuf};

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use tempfile::TempDir;

pub const CAKE_KEY: &str = "cake-key-SEEDED-5b1e77c2";

pub struct Rig {
    pub dir: TempDir,
    pub cake: CakeSandbox,
}

impl Rig {
    pub async fn start(options: CakeSandboxOptions) -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cake = CakeSandbox::start(options.with_api_key(CAKE_KEY)).await.expect("the CAKE sandbox");
        std::fs::write(dir.path().join("cake-key"), format!("{CAKE_KEY}\n")).expect("key file");
        Rig { dir, cake }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `rosterd.yaml` with this source section and CAKE platform body (its
    /// base_url and key are filled in).
    pub fn write_config(&self, source: &str, safety: &str, platform_extra: &str) -> PathBuf {
        let text = format!(
            "state_dir: state\nsource:\n{source}\nsafety:\n{safety}\nplatforms:\n  - name: cake\n    kind: cake\n    base_url: \"{}\"\n    api_key_file: cake-key\n{platform_extra}\n",
            self.cake.base_url()
        );
        let path = self.path("rosterd.yaml");
        std::fs::write(&path, text).expect("config");
        path
    }

    pub fn config(&self) -> Config {
        Config::load(&self.path("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One `reconcile --once`: a fresh engine each time, as separate CLI runs would have.
    pub async fn reconcile(&self) -> (Plan, RunSummary) {
        let engine = rosterd::setup::engine(self.config()).expect("an engine");
        let (plan, summary) = engine.reconcile("test", false).await.expect("a run");
        (plan, summary.expect("applied"))
    }

    pub fn audit_path(&self) -> PathBuf {
        self.path("state").join("audit.jsonl")
    }
}

/// Every file under a folder, as bytes (for secret greps).
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
