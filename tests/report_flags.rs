//! `rosterd report` flags an invitation never accepted (FileSpin `invite_status: REQUESTED`)
//! as INVITE-PENDING; the Affise LOCKED-OUT flag is checked in `affise_lost_store.rs`.

mod support;

use rosterd::platform::filespin::sandbox::{FileSpinSandbox, FileSpinSandboxOptions, FileSpinUser};
use support::people::people;
use support::rig::{Rig, FILE_SOURCE};

#[tokio::test]
async fn an_invitation_never_accepted_is_flagged_invite_pending() {
    // p1 signed in long ago (REGISTERED); rosterd creates p2, whose invitation stays REQUESTED.
    let options = FileSpinSandboxOptions::default().with_user(FileSpinUser::new("G1", "F1", "p1@acme.example", 4));
    let filespin = FileSpinSandbox::start(options).await.expect("the FileSpin sandbox");
    let key = filespin.api_key().to_string();
    let rig = Rig::around(filespin, "key", &key);
    let platform = format!(
        "  - name: filespin\n    kind: filespin\n    base_url: \"{}\"\n    api_key_file: key\n    roles: [ {{ role: USER }} ]\n",
        rig.sandbox.base_url()
    );
    rig.configure(FILE_SOURCE, "", &platform);
    rig.roster(people(2));
    let engine = || rig.engine();
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
    rig.sandbox.shutdown().await;
}
