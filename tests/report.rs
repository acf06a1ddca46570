//! `rosterd report` on a mixed fixture: managed accounts, orphans, accounts rosterd does
//! not manage, and inactive people who still have active accounts; as a table and as JSON.

mod support;

use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use support::rig::Rig;

fn person(i: usize, active: bool) -> String {
    format!("  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: G, family_name: F, email: p{i}@acme.example, active: {active} }}\n")
}

#[tokio::test]
async fn the_report_names_orphans_unmanaged_and_stale_accounts() {
    let options = CakeSandboxOptions::default()
        .with_user(CakeUser::new("Site", "Admin", "admin@acme.example", 1))
        .with_user(CakeUser::new("Old", "Timer", "orphan@acme.example", 2))
        .with_user(CakeUser::new("G", "F", "p2@acme.example", 3));
    let rig = Rig::start(options).await;
    // No removal may run (count 0): p3's removal is held, so p3 keeps an active account.
    rig.write_config(
        "  file: { path: roster.yaml }",
        "  max_removals: { count: 0 }\n  protected: [admin@acme.example]",
        "    roles: [ { role: Account Manager } ]",
    );
    let roster = |p3_active: bool| {
        format!("complete: true\npeople:\n{}{}{}", person(1, true), person(2, false), person(3, p3_active))
    };
    std::fs::write(rig.path("roster.yaml"), roster(true)).unwrap();
    rig.reconcile().await;
    std::fs::write(rig.path("roster.yaml"), roster(false)).unwrap();
    let (plan, _) = rig.reconcile().await;
    // Both leavers' removals are held: p3's linked account, and p2's account that rosterd
    // never created (it is adopted to be removed).
    let held: Vec<(&str, bool)> = plan.platforms[0].held().map(|s| (s.person_id.as_str(), s.adopt)).collect();
    assert_eq!(held, [("2", true), ("3", false)]);

    let engine = rosterd::setup::engine(rig.config()).unwrap();
    let report = engine.report(None).await.unwrap();
    let flags: Vec<(&str, bool, bool, bool)> =
        report.rows.iter().map(|r| (r.key.as_str(), r.managed, r.orphan, r.inactive_person_active_account)).collect();
    assert_eq!(
        flags,
        [
            ("admin@acme.example", false, true, false),
            ("orphan@acme.example", false, true, false),
            ("p1@acme.example", true, false, false),
            ("p2@acme.example", false, false, true),
            ("p3@acme.example", true, false, true),
        ]
    );
    let table = report.to_table();
    assert!(
        table.contains("5 account(s): 2 orphan(s), 3 not managed by rosterd, 2 inactive people with active accounts."),
        "{table}"
    );
    let orphan_line = table.lines().find(|l| l.starts_with("cake") && l.contains("orphan@acme.example")).unwrap();
    assert!(orphan_line.contains("ORPHAN,UNMANAGED") && orphan_line.contains("Media Buyer"), "{orphan_line}");
    let stale_line = table.lines().find(|l| l.contains("p3@acme.example")).unwrap();
    assert!(stale_line.contains("INACTIVE-PERSON-ACTIVE-ACCOUNT") && stale_line.contains(" yes "), "{stale_line}");

    // CAKE's account managers: is each still in the roster?
    assert_eq!(report.designations.len(), 2);
    assert!(
        table.contains("cake: account manager Jordan Lee <j.lee@yournetwork.com> [42]: NOT IN THE ROSTER"),
        "{table}"
    );

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[3]["key"], "p2@acme.example");
    assert_eq!(rows[3]["person_id"], "2");
    assert_eq!(rows[3]["inactive_person_active_account"], true);
    assert_eq!(rows[0]["orphan"], true);
    assert_eq!(rows[4]["status"], "active");
}
