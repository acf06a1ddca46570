//! Golden plans: the plan JSON of a generated 10,000-person roster on each of the six
//! platform kinds, before and after a round of changes, must stay byte-identical to the
//! files under `tests/golden/`
//! (the large first plans by their SHA-256). Written before the house move (issue 11) so that moving
//! code around can be shown to change no decision; a change that is meant to alter plans
//! regenerates them with `ROSTERD_BLESS=1 cargo test --test golden_plan` and says why.

use std::path::{Path, PathBuf};

use rosterd::config::Config;
use rosterd::platform::sandboxes::AnySandbox;
use tempfile::TempDir;

const PEOPLE: usize = 10_000;
const KINDS: [&str; 6] = ["cake", "affise", "agencyanalytics", "filespin", "clienttoolbox", "scim"];
const DEPARTMENTS: [&str; 4] = ["Finance", "Sales", "Support", "Engineering"];

/// Person `i` as a roster-file line; `changed` applies the second round: every 97th renamed,
/// every 89th moves department, every 83rd leaves, every 101st leaves the scope group, and
/// 50 joiners arrive. Every 50th person is inactive from the start, every 40th out of scope.
fn person(i: usize, changed: bool) -> String {
    let mut given = format!("Given{i}");
    let mut department = DEPARTMENTS[i % DEPARTMENTS.len()];
    let mut active = i % 50 != 49;
    let mut in_scope = i % 40 != 7;
    if changed {
        if i % 97 == 3 {
            given = format!("Renamed{i}");
        }
        if i % 89 == 5 {
            department = DEPARTMENTS[(i + 1) % DEPARTMENTS.len()];
        }
        if i % 83 == 11 {
            active = false;
        }
        if i % 101 == 13 {
            in_scope = false;
        }
    }
    let scope = if in_scope { "staff" } else { "visitors" };
    format!(
        "  - {{ id: \"p{i:05}\", user_name: user{i:05}@example.com, given_name: {given}, family_name: Family{}, \
         email: user{i:05}@example.com, active: {active}, department: {department}, \
         groups: [{scope}, {department}] }}\n",
        i % 977
    )
}

fn roster(changed: bool) -> String {
    let last = if changed { PEOPLE + 50 } else { PEOPLE };
    let mut out = String::from("complete: true\npeople:\n");
    for i in 0..last {
        out.push_str(&person(i, changed));
    }
    out
}

struct Rig {
    dir: TempDir,
    sandbox: AnySandbox,
}

impl Rig {
    async fn start(kind: &str) -> Rig {
        let dir = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm").expect("a temp dir"),
            false => tempfile::tempdir().expect("a temp dir"),
        };
        let sandbox = AnySandbox::start(kind).await.expect("the emulator");
        std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).expect("key file");
        // One write at a time: emulators number accounts in the order creates arrive, and
        // the second plan names those numbers.
        let extra = "    scope: 'groups.display eq \"staff\"'\n    rate_limit: { per_second: 100000, burst: 100, concurrency: 1 }\n";
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 100000, percent: 100 }}\n  grace: {{ runs: 1 }}\nplatforms:\n{}",
            sandbox.platform_entry("target", "key", extra)
        );
        std::fs::write(dir.path().join("rosterd.yaml"), config).expect("config");
        Rig { dir, sandbox }
    }

    /// Plan against the roster as it is now, apply it, and return the plan's JSON with what
    /// differs from run to run (run id, time, loopback port, temporary folder) made constant.
    async fn plan_and_apply(&self, changed: bool) -> String {
        std::fs::write(self.dir.path().join("roster.yaml"), roster(changed)).expect("roster");
        let config = Config::load(&self.dir.path().join("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let engine = rosterd::setup::engine(config).expect("an engine");
        let planned = engine.plan(None).await.expect("a plan");
        let summary = engine.apply(&planned, "golden").await.expect("applied");
        assert_eq!(summary.failed(), 0, "{}", summary.to_table());
        self.normalise(planned.plan)
    }

    fn normalise(&self, mut plan: rosterd::reconcile::plan::Plan) -> String {
        plan.run_id = "RUN".into();
        plan.created_at = "TIME".into();
        let url = self.sandbox.base_url().to_string();
        let dir = self.dir.path().display().to_string();
        plan.to_json().replace(url.trim_end_matches('/'), "{base_url}").replace(&dir, "{dir}")
    }
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// Compare with the golden file, or write it when blessing.
fn check(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("ROSTERD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("golden folder");
        std::fs::write(&path, actual).expect("golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with ROSTERD_BLESS=1 to write it", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{name} differs from the golden plan at line {}:\n  golden: {:?}\n  now:    {:?}\n(an intended change regenerates it with ROSTERD_BLESS=1)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// A plan too large to keep whole (megabytes of creates) is held by its SHA-256.
fn check_digest(name: &str, actual: &str) {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(actual.as_bytes()));
    check(name, &format!("{digest}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_a_10k_roster_on_every_kind_are_byte_identical_to_the_golden_files() {
    for kind in KINDS {
        let rig = Rig::start(kind).await;
        let first = rig.plan_and_apply(false).await;
        check_digest(&format!("{kind}-first.sha256"), &first);
        let second = rig.plan_and_apply(true).await;
        check(&format!("{kind}-changes.json"), &second);
        rig.sandbox.shutdown().await;
    }
}

#[tokio::test]
async fn the_demo_plan_is_byte_identical_to_the_golden_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // The demo's platforms when the golden file was written (one of each of the six kinds).
    let platforms = ["cake", "affise", "agencyanalytics", "filespin", "loyalty", "scim-app"];
    let plan = rosterd::demo::first_plan(dir.path(), &platforms).await.expect("the demo's first plan");
    check("demo-first.json", &plan);
}
