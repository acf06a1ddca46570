//! Paging tolerance (issue 13): on every platform kind, against an emulator that serves a
//! quarter of the page size asked for (as a real server capping page sizes does, saying so
//! only through the pages themselves), the listing still reads whole: the first run creates
//! everyone, the second changes nothing, the listing never fails, and it takes exactly the
//! pages the capped size needs (each page read once, no page skipped or read twice).

use std::path::PathBuf;

use rosterd::config::Config;
use rosterd::platform::sandboxes::{min_list_calls, AnySandbox};
use rosterd::sandbox::page_cap::PageCap;
use tempfile::TempDir;

/// People in the roster: with the page sizes below, every kind pages many times.
const N: usize = 45;
/// The page size asked for (FileSpin's is fixed at 30 by the vendor).
const PAGE_SIZE: usize = 8;

struct Rig {
    dir: TempDir,
    sandbox: AnySandbox,
}

impl Rig {
    async fn start(kind: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = AnySandbox::start_capped(kind, PageCap::QUARTER).await.unwrap();
        std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).unwrap();
        let limits = "    rate_limit: { per_second: 100000, burst: 100, concurrency: 4 }\n";
        let page = match kind {
            "filespin" => String::new(),
            _ => format!("    page_size: {PAGE_SIZE}\n"),
        };
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 100, percent: 100 }}\nplatforms:\n{}",
            sandbox.platform_entry("target", "key", &format!("{limits}{page}"))
        );
        std::fs::write(dir.path().join("rosterd.yaml"), config).unwrap();
        let mut roster = String::from("complete: true\npeople:\n");
        for i in 1..=N {
            roster.push_str(&format!(
                "  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: G{i}, family_name: F{i}, email: p{i}@acme.example, active: true }}\n"
            ));
        }
        std::fs::write(dir.path().join("roster.yaml"), roster).unwrap();
        Rig { dir, sandbox }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// One run: the changes planned and the listing calls it made; the platform never fails.
    async fn reconcile(&self) -> (usize, usize) {
        let before = self.sandbox.list_calls();
        let engine = rosterd::setup::engine(Config::load(&self.path("rosterd.yaml")).unwrap()).unwrap();
        let (plan, summary) = engine.reconcile("page-cap", false).await.unwrap();
        assert_eq!(plan.platforms[0].error, None, "{}: the capped listing failed", self.sandbox.kind());
        assert_eq!(summary.unwrap().failed(), 0);
        (plan.change_count(), self.sandbox.list_calls() - before)
    }
}

async fn a_capped_server_still_lists_whole(kind: &str) {
    let rig = Rig::start(kind).await;
    let (planned, _) = rig.reconcile().await;
    assert_eq!(planned, N, "{kind}: the first run creates everyone");
    let listed = rig.sandbox.listed();
    assert!(listed >= N, "{kind}: {listed} accounts");
    let asked = if kind == "filespin" { 30 } else { PAGE_SIZE };
    let served = PageCap::QUARTER.apply(asked);
    let (planned, calls) = rig.reconcile().await;
    assert_eq!(planned, 0, "{kind}: converged: the whole listing was read");
    assert_eq!(calls, min_list_calls(listed, served), "{kind}: {listed} accounts in capped pages of {served}");
    rig.sandbox.shutdown().await;
}

#[tokio::test]
async fn cake_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("cake").await;
}

#[tokio::test]
async fn affise_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("affise").await;
}

#[tokio::test]
async fn agencyanalytics_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("agencyanalytics").await;
}

#[tokio::test]
async fn filespin_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("filespin").await;
}

#[tokio::test]
async fn clienttoolbox_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("clienttoolbox").await;
}

#[tokio::test]
async fn scim_lists_whole_through_a_page_cap() {
    a_capped_server_still_lists_whole("scim").await;
}
