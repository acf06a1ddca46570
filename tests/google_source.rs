//! End to end: the Google Workspace emulator (2,500 generated people: suspended and archived
//! ones, a guest, several groups, a nested group, a cycle, the whole account) read at 500 a
//! page and reconciled into CAKE and FileSpin; then a quiet run, three people suspended at
//! the IdP, a failing page 3, a token that stops working mid-read, and a 429 waited out.

mod support;

use std::collections::BTreeMap;

use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use rosterd::platform::filespin::sandbox::{FileSpinSandbox, FileSpinSandboxOptions, FileSpinUser};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use rosterd::sandbox::faults::{Fault, FaultRule};
use rosterd::source::google::sandbox::{self as google, GoogleSandbox, GoogleSandboxOptions};
use support::rig::{platform_entry, Rig};

const PEOPLE: usize = 2_500;
const FS_KEY: &str = "fs-key-SEEDED-google-3c1d";

/// The three IdP sides: Google, and the rig's CAKE with FileSpin beside it.
struct World {
    google: GoogleSandbox,
    rig: Rig,
    filespin: FileSpinSandbox,
}

const CAKE: &str = r#"    scope: 'groups.display eq "cake-users"'
    roles:
      - { when: 'groups.display eq "Finance"', role: Finance }
      - { when: 'groups.display eq "Sales"', role: Account Manager }
      - { role: Media Buyer }
    rate_limit: { per_second: 5000, burst: 500, concurrency: 8 }
"#;

const FILESPIN: &str = r#"    scope: 'groups.display eq "filespin-users"'
    roles:
      - { when: 'groups.display eq "Finance"', role: CREATOR }
      - { role: 4 }
    rate_limit: { per_second: 5000, burst: 500, concurrency: 8 }
"#;

async fn world(options: GoogleSandboxOptions) -> World {
    let google = GoogleSandbox::start(options).await.expect("the Google emulator");
    let owner = CakeUser::new("Api", "Owner", "owner@acme.example", 1);
    let rig = Rig::start(CakeSandboxOptions::default().with_user(owner)).await;
    let admin = FileSpinUser::new("Api", "Owner", "owner@assets.example", 1);
    let fs = FileSpinSandboxOptions::default().with_api_key(FS_KEY).with_user(admin);
    let filespin = FileSpinSandbox::start(fs).await.expect("the FileSpin emulator");
    rig.write("fs-key", FS_KEY);
    rig.write("google-key.json", &google.key_json());
    let platforms = format!(
        "{}{}",
        platform_entry("cake", "cake", rig.sandbox.base_url(), "cake-key", CAKE),
        platform_entry("assets", "filespin", filespin.base_url(), "fs-key", FILESPIN)
    );
    let safety =
        "  max_removals: { count: 1000, percent: 100 }\n  protected: [owner@acme.example, owner@assets.example]";
    rig.configure(&google.source_yaml("google-key.json"), safety, &platforms);
    World { google, rig, filespin }
}

/// CAKE role ids of the emulator: 2 Media Buyer, 3 Account Manager, 4 Finance.
fn cake_role(i: usize) -> u64 {
    match (i % 7 == 0, i % 3 == 0) {
        (true, _) => 4,
        (false, true) => 3,
        _ => 2,
    }
}

/// FileSpin roles: CREATOR is 3.
fn filespin_role(i: usize) -> u64 {
    if i % 7 == 0 {
        3
    } else {
        4
    }
}

/// email → (active, role) for the generated people in scope.
fn expected(in_scope: fn(usize) -> bool, role: fn(usize) -> u64) -> BTreeMap<String, (bool, u64)> {
    (1..=PEOPLE)
        .filter(|i| in_scope(*i) && google::generated_active(*i))
        .map(|i| (google::email(i), (true, role(i))))
        .collect()
}

impl World {
    fn cake(&self) -> BTreeMap<String, (bool, u64)> {
        let users = self.rig.sandbox.users().into_iter().filter(|u| u.email != "owner@acme.example");
        users.map(|u| (u.email.to_lowercase(), (u.user_status == "active", u.role_id))).collect()
    }

    fn filespin(&self) -> BTreeMap<String, (bool, u64)> {
        let users = self.filespin.users().into_iter().filter(|u| u.email != "owner@assets.example");
        users.map(|u| (u.email.to_lowercase(), (u.enabled, u.role_id))).collect()
    }

    fn writes(&self) -> usize {
        self.rig.sandbox.write_calls() + self.filespin.write_calls()
    }

    async fn reconcile(&self) -> (Plan, RunSummary) {
        self.rig.reconcile().await
    }

    /// The first run: exactly the in-scope people, with their mapped roles, on both.
    async fn converge(&self) {
        let (plan, summary) = self.reconcile().await;
        assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
        assert_eq!(plan.people, PEOPLE);
        assert_eq!(self.cake(), expected(google::in_cake_users, cake_role));
        assert_eq!(self.filespin(), expected(google::in_filespin_users, filespin_role));
        assert!(summary.record.platforms.iter().all(|p| p.failed == 0), "{:?}", summary.record.platforms);
    }
}

#[tokio::test]
async fn twenty_five_hundred_google_people_converge_into_cake_and_filespin_and_leavers_go() {
    let w = world(GoogleSandboxOptions::generated(PEOPLE)).await;
    w.converge().await;
    // One token, 5 user pages of 500, one group page, each group's member pages: no more.
    assert_eq!(w.google.calls(), w.google.minimum_calls(500));
    assert_eq!(w.google.minimum_calls(500), 1 + 5 + 1 + 20);

    let writes = w.writes();
    let (plan, _) = w.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(w.writes(), writes, "a quiet run writes nothing");

    // People 7, 14 and 21 are in both scopes; suspended at the IdP they lose both accounts.
    let leavers = [7usize, 14, 21];
    for i in leavers {
        assert!(w.google.set_suspended(&google::email(i), true));
    }
    let (_, summary) = w.reconcile().await;
    let deactivated: Vec<usize> = summary.record.platforms.iter().map(|p| p.deactivated).collect();
    assert_eq!(deactivated, [3, 3]);
    assert_eq!(w.writes(), writes + 6);
    for (email, (active, _)) in w.cake().into_iter().chain(w.filespin()) {
        let leaver = leavers.iter().any(|i| google::email(*i) == email);
        assert_eq!(active, !leaver, "{email}");
    }
}

#[tokio::test]
async fn a_google_read_failing_on_page_3_removes_nobody_and_says_why() {
    let w = world(GoogleSandboxOptions::generated(PEOPLE)).await;
    w.converge().await;
    let (before_cake, before_fs) = (w.cake(), w.filespin());
    w.google.faults().script(FaultRule::on("users", Fault::Garbage).nth(3));
    let (plan, summary) = w.reconcile().await;
    assert!(!plan.roster_complete);
    let why = plan.roster_incomplete_reason.clone().unwrap_or_default();
    assert!(why.contains("Google users page 3") && why.contains("malformed"), "{why}");
    assert!(plan.platforms.iter().any(|p| p.held().count() > 0), "the people of pages 3-5 would have gone");
    assert!(summary.record.platforms.iter().all(|p| p.deactivated == 0));
    assert_eq!((w.cake(), w.filespin()), (before_cake, before_fs));
}

#[tokio::test]
async fn a_google_token_that_expires_mid_read_is_renewed_and_a_429_is_waited_out() {
    // Every token stops working after 4 calls: the read needs about 30.
    let options = GoogleSandboxOptions { token_uses: Some(4), ..GoogleSandboxOptions::generated(PEOPLE) };
    let w = world(options).await;
    w.google.faults().script(FaultRule::on("users", Fault::too_many(1)).nth(2));
    let started = std::time::Instant::now();
    w.converge().await;
    assert!(w.google.issued_tokens().len() >= 5, "{} tokens issued", w.google.issued_tokens().len());
    assert_eq!(w.google.faults().injected(), 1);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "the Retry-After was waited out");
}

#[test]
fn check_config_names_every_google_problem_by_its_key_path() {
    let dir = support::configs::ConfigDir::with_key(
        "google-key.json",
        r#"{"client_email":"sa@x.iam","private_key":"SEEDED-not-a-pem"}"#,
    );
    let text = |google: &str| format!("source:\n  google: {{ {google} }}\nplatforms: []\n");
    let (paths, problems) =
        dir.problems(&text("key_file: google-key.json, page_size: 600, base_url: 'ftp://x', customer: a, domain: b"));
    assert_eq!(
        paths,
        [
            "source.google.key_file",
            "source.google.admin",
            "source.google",
            "source.google.base_url",
            "source.google.page_size"
        ]
        .map(String::from)
    );
    let said: String = problems.iter().map(|p| format!("{p}\n")).collect();
    assert!(said.contains("PEM") && !said.contains("SEEDED"), "{said}");
    let (paths, _) = dir.problems(&text("key: inline, admin: a@acme.example"));
    assert_eq!(paths, ["source.google.key"]);
    // A good key whose token endpoint would be reached in cleartext off loopback.
    let key = serde_json::json!({ "client_email": "sa@x.iam", "private_key": google::EMULATOR_KEY_PEM });
    let dir = support::configs::ConfigDir::with_key("google-key.json", &key.to_string());
    let (paths, _) =
        dir.problems(&text("key_file: google-key.json, admin: a@acme.example, token_url: 'http://idp.example/t'"));
    assert_eq!(paths, ["source.google.token_url"]);
}

#[tokio::test]
async fn a_valid_google_source_section_reads_with_the_defaults_the_contract_gives() {
    let emu = GoogleSandbox::start(GoogleSandboxOptions::default()).await.expect("google");
    let dir = support::configs::ConfigDir::with_key("google-key.json", &emu.key_json());
    let config = dir.parse(&format!("source:\n{}platforms: []\n", emu.source_yaml("google-key.json")));
    let rosterd::config::SourceConfig::Google(s) = &config.source else { panic!("a Google source") };
    assert_eq!((s.page_size, s.connection.per_second, s.groups), (500, 30.0, true));
    assert_eq!(s.token_url, emu.token_url());
    assert_eq!(s.key.private_key_id.as_deref(), Some("emu-key-1"));
}
