//! Group push through the real engine into the strict SCIM emulator, from a roster file:
//! guards that hold removals hold memberships too, an incomplete roster removes no member,
//! and a group the target refuses is a failed, audited step that the next run retries.

use std::path::PathBuf;

use rosterd::config::Config;
use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use rosterd::sandbox::faults::{Fault, FaultRule};
use tempfile::TempDir;

const TOKEN: &str = "scim-groups-engine-7d20aa";

struct Rig {
    dir: TempDir,
    scim: ScimSandbox,
}

impl Rig {
    async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let scim = ScimSandbox::start(ScimSandboxOptions::default().with_token(TOKEN)).await.expect("the sandbox");
        std::fs::write(dir.path().join("scim-token"), TOKEN).expect("token file");
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 1, percent: 100 }}\n  grace: {{ runs: 1 }}\nplatforms:\n  - name: app\n    kind: scim\n    base_url: \"{}\"\n    api_key_file: scim-token\n    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}\n    groups: {{ select: [Eng, Ops, QA] }}\n",
            scim.base_url()
        );
        std::fs::write(dir.path().join("rosterd.yaml"), config).expect("config");
        Rig { dir, scim }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// People 1..=6: 1-4 in Eng, 5-6 in Ops, `qa` also in QA; `inactive` are inactive.
    fn write_roster(&self, complete: bool, inactive: &[usize], qa: &[usize], not_eng: &[usize]) {
        let mut out = format!("complete: {complete}\npeople:\n");
        for i in 1..=6 {
            let mut groups = vec![if i <= 4 && !not_eng.contains(&i) { "Eng" } else { "Ops" }];
            if qa.contains(&i) {
                groups.push("QA");
            }
            out.push_str(&format!(
                "  - {{ id: \"src-{i}\", user_name: p{i}@acme.example, email: p{i}@acme.example, given_name: G{i}, family_name: F{i}, groups: [{}], active: {} }}\n",
                groups.join(", "),
                !inactive.contains(&i)
            ));
        }
        std::fs::write(self.path("roster.yaml"), out).expect("roster");
    }

    async fn reconcile(&self) -> (Plan, RunSummary) {
        let config = Config::load(&self.path("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let engine = rosterd::setup::engine(config).expect("an engine");
        let (plan, summary) = engine.reconcile("test", false).await.expect("a run");
        (plan, summary.expect("applied"))
    }

    /// The userNames of a group's members.
    fn members(&self, group: &str) -> Vec<String> {
        let group = self.scim.group_by_name(group).unwrap_or_else(|| panic!("{group} is on the target"));
        let mut names: Vec<String> =
            group.members.iter().filter_map(|id| self.scim.user(id)).map(|u| u.user_name).collect();
        names.sort();
        names
    }

    fn group_writes(&self) -> usize {
        let faults = self.scim.faults();
        ["group create", "group patch", "group put", "group delete"].iter().map(|r| faults.count(r)).sum()
    }
}

fn people(numbers: &[usize]) -> Vec<String> {
    numbers.iter().map(|i| format!("p{i}@acme.example")).collect()
}

#[tokio::test]
async fn held_removals_and_an_incomplete_roster_keep_memberships() {
    let rig = Rig::start().await;
    rig.write_roster(true, &[], &[], &[]);
    let (plan, summary) = rig.reconcile().await;
    assert_eq!(
        (summary.record.platforms[0].created, summary.record.platforms[0].groups),
        (6, 2),
        "{}",
        plan.to_table()
    );
    assert_eq!(rig.members("Eng"), people(&[1, 2, 3, 4]));
    assert_eq!(rig.members("Ops"), people(&[5, 6]));

    // Three leavers at once: above the removal limit, every removal is held, memberships too.
    rig.write_roster(true, &[1, 2, 3], &[], &[]);
    let writes = rig.group_writes();
    let (plan, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].held, summary.record.platforms[0].groups), (3, 0), "{}", plan.to_table());
    assert_eq!(rig.group_writes(), writes);
    assert_eq!(rig.members("Eng"), people(&[1, 2, 3, 4]));

    // An incomplete roster where p4 left Eng for Ops: p4 joins Ops, but nobody leaves a group.
    rig.write_roster(false, &[], &[], &[4]);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(rig.members("Eng"), people(&[1, 2, 3, 4]), "{}", plan.to_table());
    assert_eq!(rig.members("Ops"), people(&[4, 5, 6]));

    // Complete again: p4's move is finished.
    rig.write_roster(true, &[], &[], &[4]);
    rig.reconcile().await;
    assert_eq!(rig.members("Eng"), people(&[1, 2, 3]));
}

#[tokio::test]
async fn a_group_the_target_refuses_is_a_failed_audited_step_retried_next_run() {
    let rig = Rig::start().await;
    rig.write_roster(true, &[], &[2, 5], &[]);
    rig.scim.faults().script(FaultRule::on("group create", Fault::status(400)).nth(3));
    let (plan, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.groups, app.failed), (2, 1), "{}", plan.to_table());
    assert!(rig.scim.group_by_name("QA").is_none());
    let audit = std::fs::read_to_string(rig.path("state/audit.jsonl")).expect("the audit trail");
    let failed = audit.lines().filter(|l| l.contains("\"group_create\"") && l.contains("\"outcome\":\"failed\""));
    assert_eq!(failed.count(), 1);

    let (plan, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].groups, summary.record.platforms[0].failed), (1, 0), "{}", plan.to_table());
    assert_eq!(rig.members("QA"), people(&[2, 5]));
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
}
