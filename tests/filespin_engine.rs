//! End to end on FileSpin: the real engine (config YAML with `kind: filespin`, a roster
//! file, the emulator) creates 74 people next to the administrator, reads the 75 users in
//! exactly three answers of at most 30, stays quiet, disables a leaver and enables them
//! again with their changes in one write, and leaves the users' secrets (`apikey`,
//! `access_id`, `uploadKey`) in no log and no state file.

mod support;

use rosterd::platform::filespin::sandbox::{FileSpinSandbox, FileSpinSandboxOptions, FileSpinUser};
use rosterd::reconcile::plan::Action;
use serde_json::{json, Value};
use support::configs::ConfigDir;
use support::logs::Logs;
use support::people::Person;
use support::rig::{all_files, platform_entry, Rig};

const KEY: &str = "fs-key-SEEDED-7be2a90c44";
/// The administrator's own secrets, as FileSpin lists them in its record.
const ADMIN_SECRETS: [&str; 3] = ["fs-apikey-SEEDED-11aa", "fs-access-SEEDED-22bb", "fs-upload-SEEDED-33cc"];

async fn start() -> Rig<FileSpinSandbox> {
    let mut admin = FileSpinUser::new("Api", "Owner", "owner@assets.example", 1);
    [admin.apikey, admin.access_id, admin.upload_key] = ADMIN_SECRETS.map(String::from);
    let options = FileSpinSandboxOptions::default().with_api_key(KEY).with_user(admin);
    let rig = Rig::around(FileSpinSandbox::start(options).await.expect("the sandbox"), "fs-key", KEY);
    let platform = platform_entry(
        "assets",
        "filespin",
        rig.sandbox.base_url(),
        "fs-key",
        r#"    fields: { locale: "en_GB", group_asset_access: "false" }
    roles:
      - { when: 'groups.display eq "Design"', role: CREATOR }
      - { role: 4 }
    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }
"#,
    );
    rig.configure_protecting("owner@assets.example", &platform);
    rig
}

/// People 1..=n, those in `inactive` marked inactive, those in `renamed` with a new
/// family name, every third one in Design.
fn roster(rig: &Rig<FileSpinSandbox>, n: usize, inactive: &[usize], renamed: &[usize]) {
    rig.roster((1..=n).map(|i| {
        let p = Person::test(i).at("assets.example").active(!inactive.contains(&i));
        let p = if i % 3 == 0 { p.in_group("Design") } else { p };
        if renamed.contains(&i) {
            p.family("New")
        } else {
            p
        }
    }));
}

#[tokio::test]
async fn creates_pages_by_30_stays_quiet_disables_and_enables_and_keeps_no_secret() {
    let logs = Logs::capture();
    let rig = start().await;
    roster(&rig, 74, &[], &[]);
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.record.platforms[0].created, 74, "{:?}", first.record.platforms[0]);
    let p3 = rig.sandbox.user_by_login("p3@assets.example").expect("p3 created");
    assert_eq!(
        (p3.role_id, p3.invite_status.as_str(), p3.locale.as_str(), p3.group_asset_access),
        (3, "REQUESTED", "en_GB", false)
    );
    assert_eq!(rig.sandbox.user_by_login("p4@assets.example").expect("p4").role_id, 4);

    let (lists, writes) = (rig.sandbox.list_calls(), rig.sandbox.write_calls());
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.list_calls() - lists, 3, "75 users in answers of 30, 30 and 15");
    assert_eq!(rig.sandbox.write_calls(), writes, "a quiet run writes nothing");

    roster(&rig, 74, &[5], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert!(!rig.sandbox.user_by_login("p5@assets.example").expect("p5 is kept").enabled);
    assert_eq!(last_write(&rig), json!({"enabled": false}));

    roster(&rig, 74, &[], &[5]);
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(plan.platforms[0].steps[0].action, Action::Reactivate, "{}", plan.to_table());
    assert_eq!((summary.record.platforms[0].reactivated, rig.sandbox.write_calls() - writes), (1, 1));
    assert_eq!(last_write(&rig), json!({"enabled": true, "last_name": "New5"}));
    let p5 = rig.sandbox.user_by_login("p5@assets.example").expect("p5");
    assert_eq!((p5.enabled, p5.last_name.as_str()), (true, "New5"));

    let secrets = rig.sandbox.secrets();
    assert_eq!(secrets.len(), 75 * 3);
    assert!(ADMIN_SECRETS.iter().all(|s| secrets.contains(&s.to_string())));
    let logged = logs.bytes();
    assert_nowhere(&secrets, &logged, &rig.path("state"));
}

/// None of `secrets` (nor the key) is in the captured logs or any file under `state`.
fn assert_nowhere(secrets: &[String], logs: &[u8], state: &std::path::Path) {
    // As text once, then searched 226 times: sled's files are megabytes.
    let logged = String::from_utf8_lossy(logs);
    assert!(logged.contains("p5@assets.example"), "the logs were captured");
    let files: Vec<(std::path::PathBuf, String)> = all_files(state)
        .into_iter()
        .map(|(path, bytes)| (path, String::from_utf8_lossy(&bytes).into_owned()))
        .collect();
    assert!(files.iter().any(|(_, text)| text.contains("p5@assets.example")), "the state was written");
    for secret in secrets.iter().map(String::as_str).chain([KEY]) {
        assert!(!logged.contains(secret), "a secret reached the logs");
        for (path, text) in &files {
            assert!(!text.contains(secret), "a secret reached {}", path.display());
        }
    }
}

fn last_write(rig: &Rig<FileSpinSandbox>) -> Value {
    Value::Object(rig.sandbox.writes().pop().expect("a write"))
}

#[test]
fn roles_by_name_or_id_and_path_options_are_checked_in_config() {
    let (dir, text) = ConfigDir::with_platform(
        ("fs-key", KEY),
        "assets",
        "filespin",
        r#"    update_path: /api/v1/user
    roles: [ { role: Owner }, { role: manager }, { role: 1 } ]
"#,
    );
    let (paths, _) = dir.problems(&text);
    assert_eq!(paths, ["platforms[0].update_path", "platforms[0].roles[0].role"]);
    let fine = text.replace("/api/v1/user\n", "'/api/v2/users/{id}'\n").replace("{ role: Owner }, ", "");
    let config = dir.parse(&fine);
    assert_eq!(config.platforms[0].connection.base_url.as_str(), "https://app.filespin.io/");
    let roles: Vec<&str> = config.platforms[0].mapping.roles.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(roles, ["2", "1"]);
}

#[test]
fn the_role_table_is_config_and_role_rules_resolve_against_it() {
    let (dir, text) = ConfigDir::with_platform(
        ("fs-key", KEY),
        "assets",
        "filespin",
        r#"    role_ids: { ADMIN: 10, EDITOR: 20, VIEWER: 20 }
    roles: [ { role: Editor }, { role: USER } ]
"#,
    );
    let (paths, problems) = dir.problems(&text);
    assert_eq!(paths, ["platforms[0].role_ids", "platforms[0].roles[1].role"]);
    assert!(problems[1].message.contains("ADMIN (10), EDITOR (20)"), "{:?}", problems[1]);
    let fine = text.replace("VIEWER: 20", "VIEWER: 30").replace("USER", "30");
    let config = dir.parse(&fine);
    let roles: Vec<&str> = config.platforms[0].mapping.roles.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(roles, ["20", "30"]);
}
