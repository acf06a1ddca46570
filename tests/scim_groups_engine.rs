//! Group push through the real engine into the strict SCIM emulator, from a roster file:
//! guards that hold removals hold memberships too, an incomplete roster removes no member,
//! and a group the target refuses is a failed, audited step that the next run retries.

mod support;

use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions};
use rosterd::sandbox::faults::{Fault, FaultRule};
use support::people::{roster_marked, Person};
use support::rig::{Rig, FAST, FILE_SOURCE};

const TOKEN: &str = "scim-groups-engine-7d20aa";

async fn start() -> Rig<ScimSandbox> {
    let scim = ScimSandbox::start(ScimSandboxOptions::default().with_token(TOKEN)).await.expect("the sandbox");
    let rig = Rig::around(scim, "scim-token", TOKEN);
    let platform = format!(
        "  - name: app\n    kind: scim\n    base_url: \"{}\"\n    api_key_file: scim-token\n{FAST}    groups: {{ select: [Eng, Ops, QA] }}\n",
        rig.sandbox.base_url()
    );
    rig.configure(FILE_SOURCE, "  max_removals: { count: 1, percent: 100 }\n  grace: { runs: 1 }", &platform);
    rig
}

/// People 1..=6: 1-4 in Eng, 5-6 in Ops, `qa` also in QA; `inactive` are inactive.
fn write_roster(rig: &Rig<ScimSandbox>, complete: bool, inactive: &[usize], qa: &[usize], not_eng: &[usize]) {
    let people = (1..=6).map(|i| {
        let p = Person::test(i).id_prefix("src-").active(!inactive.contains(&i));
        let p = p.in_group(if i <= 4 && !not_eng.contains(&i) { "Eng" } else { "Ops" });
        if qa.contains(&i) {
            p.in_group("QA")
        } else {
            p
        }
    });
    rig.write("roster.yaml", &roster_marked(complete, people));
}

/// The userNames of a group's members.
fn members(rig: &Rig<ScimSandbox>, group: &str) -> Vec<String> {
    let scim = &rig.sandbox;
    let group = scim.group_by_name(group).unwrap_or_else(|| panic!("{group} is on the target"));
    let mut names: Vec<String> = group.members.iter().filter_map(|id| scim.user(id)).map(|u| u.user_name).collect();
    names.sort();
    names
}

fn group_writes(rig: &Rig<ScimSandbox>) -> usize {
    let faults = rig.sandbox.faults();
    ["group create", "group patch", "group put", "group delete"].iter().map(|r| faults.count(r)).sum()
}

fn people(numbers: &[usize]) -> Vec<String> {
    numbers.iter().map(|i| format!("p{i}@acme.example")).collect()
}

#[tokio::test]
async fn held_removals_and_an_incomplete_roster_keep_memberships() {
    let rig = start().await;
    write_roster(&rig, true, &[], &[], &[]);
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(
        (summary.record.platforms[0].created, summary.record.platforms[0].groups),
        (6, 2),
        "{}",
        plan.to_table()
    );
    assert_eq!(members(&rig, "Eng"), people(&[1, 2, 3, 4]));
    assert_eq!(members(&rig, "Ops"), people(&[5, 6]));

    // Three leavers at once: above the removal limit, every removal is held, memberships too.
    write_roster(&rig, true, &[1, 2, 3], &[], &[]);
    let writes = group_writes(&rig);
    let (plan, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].held, summary.record.platforms[0].groups), (3, 0), "{}", plan.to_table());
    assert_eq!(group_writes(&rig), writes);
    assert_eq!(members(&rig, "Eng"), people(&[1, 2, 3, 4]));

    // An incomplete roster where p4 left Eng for Ops: p4 joins Ops, but nobody leaves a group.
    write_roster(&rig, false, &[], &[], &[4]);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(members(&rig, "Eng"), people(&[1, 2, 3, 4]), "{}", plan.to_table());
    assert_eq!(members(&rig, "Ops"), people(&[4, 5, 6]));

    // Complete again: p4's move is finished.
    write_roster(&rig, true, &[], &[], &[4]);
    rig.reconcile().await;
    assert_eq!(members(&rig, "Eng"), people(&[1, 2, 3]));
}

#[tokio::test]
async fn a_group_the_target_refuses_is_a_failed_audited_step_retried_next_run() {
    let rig = start().await;
    write_roster(&rig, true, &[], &[2, 5], &[]);
    rig.sandbox.faults().script(FaultRule::on("group create", Fault::status(400)).nth(3));
    let (plan, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.groups, app.failed), (2, 1), "{}", plan.to_table());
    assert!(rig.sandbox.group_by_name("QA").is_none());
    let audit = std::fs::read_to_string(rig.path("state/audit.jsonl")).expect("the audit trail");
    let failed = audit.lines().filter(|l| l.contains("\"group_create\"") && l.contains("\"outcome\":\"failed\""));
    assert_eq!(failed.count(), 1);

    let (plan, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].groups, summary.record.platforms[0].failed), (1, 0), "{}", plan.to_table());
    assert_eq!(members(&rig, "QA"), people(&[2, 5]));
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
}
