//! `rosterd report` flags an invitation never accepted (FileSpin `invite_status: REQUESTED`)
//! as INVITE-PENDING; the Affise LOCKED-OUT flag is checked in `affise_lost_store.rs`.

use rosterd::config::Config;
use rosterd::platform::filespin::sandbox::{FileSpinSandbox, FileSpinSandboxOptions, FileSpinUser};

#[tokio::test]
async fn an_invitation_never_accepted_is_flagged_invite_pending() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // p1 signed in long ago (REGISTERED); rosterd creates p2, whose invitation stays REQUESTED.
    let options = FileSpinSandboxOptions::default().with_user(FileSpinUser::new("G1", "F1", "p1@acme.example", 4));
    let filespin = FileSpinSandbox::start(options).await.expect("the FileSpin sandbox");
    std::fs::write(dir.path().join("key"), format!("{}\n", filespin.api_key())).expect("key file");
    let config = format!(
        "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nplatforms:\n  - name: filespin\n    kind: filespin\n    base_url: \"{}\"\n    api_key_file: key\n    roles: [ {{ role: USER }} ]\n",
        filespin.base_url()
    );
    std::fs::write(dir.path().join("rosterd.yaml"), config).expect("config");
    let mut roster = String::from("complete: true\npeople:\n");
    for i in 1..=2 {
        roster.push_str(&format!("  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: G{i}, family_name: F{i}, email: p{i}@acme.example }}\n"));
    }
    std::fs::write(dir.path().join("roster.yaml"), roster).expect("roster");
    let engine = || {
        let config = Config::load(&dir.path().join("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
        rosterd::setup::engine(config).expect("an engine")
    };
    let (_, summary) = engine().reconcile("test", false).await.expect("a run");
    assert_eq!(summary.expect("applied").record.platforms[0].created, 1);

    let report = engine().report(None).await.expect("a report");
    let pending: Vec<(&str, bool)> = report.rows.iter().map(|r| (r.key.as_str(), r.invite_pending)).collect();
    assert_eq!(pending, [("p1@acme.example", false), ("p2@acme.example", true)]);
    let table = report.to_table();
    let line = table.lines().find(|l| l.contains("p2@acme.example")).expect("p2's line");
    assert!(line.contains("INVITE-PENDING") && !line.contains("LOCKED-OUT"), "{line}");
    assert!(table.contains("0 locked out, 1 invitation(s) never accepted."), "{table}");
    assert!(report.to_json().contains("\"invite_pending\": true"));
    // The invitation status is reported, never planned: the next run changes nothing.
    let (plan, _) = engine().reconcile("test", false).await.expect("a run");
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    filespin.shutdown().await;
}
