//! The real engine against the Affise emulator, end to end: people are created with generated
//! passwords, a second run changes nothing, a leaver is locked out in three steps (and reads as
//! inactive), a returner gets the permissions config maps to their role, and no password the
//! emulator received is found in the logs, the audit trail or the store.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rosterd::config::Config;
use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use support::rig::{all_files, contains};
use tempfile::TempDir;

const KEY: &str = "affise-key-SEEDED-0c4e91d7";
const MANAGER: &str = "ROLE_MANAGER_AFFILIATE,ROLE_SECTION_STATS";

fn config(base_url: &url::Url) -> String {
    format!(
        r#"state_dir: state
source:
  file: {{ path: roster.yaml }}
safety:
  max_removals: {{ count: 100, percent: 100 }}
platforms:
  - name: affise
    kind: affise
    base_url: "{base_url}"
    api_key_file: affise-key
    page_size: 2
    roles:
      - {{ when: 'groups.display eq "Admins"', role: ROLE_ADMIN }}
      - {{ role: [ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE] }}
    permissions:
      "ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE":
        general: {{ marketplace: {{ level: read }} }}
        stats: {{ clicks-list: {{ level: read }}, conversions-export: {{ level: read }} }}
        users: {{ entity-affiliate: {{ level: write }} }}
    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}
"#
    )
}

/// A roster file of `n` people, those in `inactive` marked inactive; person 1 is an admin.
fn roster(n: usize, inactive: &[usize]) -> String {
    let mut out = String::from("complete: true\npeople:\n");
    for i in 1..=n {
        let active = !inactive.contains(&i);
        let groups = if i == 1 { "[Admins]" } else { "[]" };
        out.push_str(&format!(
            "  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: G{i}, family_name: F{i}, "
        ));
        out.push_str(&format!("email: p{i}@acme.example, active: {active}, groups: {groups} }}\n"));
    }
    out
}

struct AffiseRig {
    dir: TempDir,
    affise: AffiseSandbox,
}

impl AffiseRig {
    async fn start() -> AffiseRig {
        let dir = tempfile::tempdir().expect("a temp dir");
        // Someone rosterd never created: never touched, never removed.
        let owner = AffiseUser::new("Api", "Owner", "owner@acme.example", &["ROLE_ADMIN"]);
        let options = AffiseSandboxOptions::default().with_api_key(KEY).with_user(owner);
        let affise = AffiseSandbox::start(options).await.expect("the Affise sandbox");
        std::fs::write(dir.path().join("affise-key"), format!("{KEY}\n")).expect("key file");
        std::fs::write(dir.path().join("rosterd.yaml"), config(&affise.base_url())).expect("config");
        AffiseRig { dir, affise }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn roster(&self, n: usize, inactive: &[usize]) {
        std::fs::write(self.path("roster.yaml"), roster(n, inactive)).expect("roster");
    }

    /// One `reconcile --once`: a fresh engine each time, as separate CLI runs would have.
    async fn reconcile(&self) -> (Plan, RunSummary) {
        let config = Config::load(&self.path("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let engine = rosterd::setup::engine(config).expect("an engine");
        let (plan, summary) = engine.reconcile("test", false).await.expect("a run");
        (plan, summary.expect("applied"))
    }

    fn routes_since(&self, from: usize) -> Vec<&'static str> {
        self.affise.received()[from..].iter().map(|r| r.route).collect()
    }
}

/// A `tracing` writer into a shared buffer, so the test sees every log line of the runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_nowhere(passwords: &[String], logs: &[u8], state: &Path) {
    assert!(!passwords.is_empty());
    let files = all_files(state);
    assert!(files.iter().any(|(p, _)| p.ends_with("audit.jsonl")), "the audit trail is in the state dir");
    for password in passwords {
        assert!(!contains(logs, password), "a password is in the logs");
        for (path, bytes) in &files {
            assert!(!contains(bytes, password), "a password is in {}", path.display());
        }
    }
}

#[tokio::test]
async fn create_converge_lock_out_and_restore_end_to_end_without_leaking_a_password() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rig = AffiseRig::start().await;

    rig.roster(5, &[]);
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.record.platforms[0].created, 5, "{:?}", first.record);
    assert_eq!(rig.affise.users().len(), 6);
    let admin = rig.affise.user_by_email("p1@acme.example").unwrap();
    assert_eq!(admin.roles, ["ROLE_ADMIN"]);
    assert_eq!(rig.affise.user_by_email("p2@acme.example").unwrap().roles, MANAGER.split(',').collect::<Vec<_>>());

    // Nothing changed: nothing planned, nothing written.
    let writes = rig.affise.write_calls();
    let (plan, second) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "{}", plan.to_table());
    assert_eq!(second.record.platforms[0].changed(), 0);
    assert_eq!(rig.affise.write_calls(), writes);

    // Person 3 leaves: the three-step lock-out, then a locked-out account that stays put.
    rig.roster(5, &[3]);
    let (before, reads) = (rig.affise.received().len(), rig.affise.read_calls());
    let leaver = rig.affise.user_by_email("p3@acme.example").unwrap();
    let (_, third) = rig.reconcile().await;
    assert_eq!(third.record.platforms[0].deactivated, 1);
    assert_eq!(rig.routes_since(before), ["permissions", "api_key", "password"]);
    assert_eq!(rig.affise.read_calls() - reads, 1);
    let locked = rig.affise.user_by_email("p3@acme.example").unwrap();
    assert!(locked.all_denied(), "every permission level is deny");
    assert_ne!(locked.api_key, leaver.api_key);
    let writes = rig.affise.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "the links remember the lock-out: {}", plan.to_table());
    assert_eq!(rig.affise.write_calls(), writes);

    // Person 3 comes back: the role's configured permissions, no password.
    rig.roster(5, &[]);
    let passwords_before = rig.affise.received_passwords().len();
    let (_, fifth) = rig.reconcile().await;
    assert_eq!(fifth.record.platforms[0].reactivated, 1, "{:?}", fifth.record);
    assert_eq!(rig.affise.received_passwords().len(), passwords_before);
    let back = rig.affise.user_by_email("p3@acme.example").unwrap();
    assert_eq!(back.permissions["users"]["entity-affiliate"]["level"], "write");
    assert_eq!(back.permissions["stats"]["clicks-list"]["level"], "read");
    assert!(!back.all_denied());
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "{}", plan.to_table());
    assert!(rig.affise.user_by_email("owner@acme.example").is_some_and(|u| !u.all_denied()));

    let logs = captured.0.lock().expect("log buffer").clone();
    assert!(contains(&logs, "applied"), "the subscriber saw the runs");
    assert_nowhere(&rig.affise.received_passwords(), &logs, &rig.path("state"));
}

#[tokio::test]
async fn an_unknown_role_string_fails_the_config_check_naming_it() {
    let rig = AffiseRig::start().await;
    let text = std::fs::read_to_string(rig.path("rosterd.yaml")).unwrap();
    std::fs::write(rig.path("rosterd.yaml"), text.replace("role: ROLE_ADMIN", "role: [ROLE_ADMIN, ROLE_ROOT]"))
        .unwrap();
    let error = Config::load(&rig.path("rosterd.yaml")).unwrap_err().to_string();
    assert!(error.contains("platforms[0].roles[0].role") && error.contains("\"ROLE_ROOT\""), "{error}");
}
