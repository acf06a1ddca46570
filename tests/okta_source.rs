//! End to end (issue 14): an emulated Okta org of 2,500 people (active, locked out, staged,
//! suspended and deprovisioned; guests from a partner domain; members of several groups)
//! read at Okta's largest page (200) and reconciled into CAKE and FileSpin; then a quiet run,
//! three people suspended at Okta, and a read that fails on page 3.
//!
//! Okta has no nested groups (`platforms/okta.md`: "No nesting"), so several groups per
//! person is the whole of it here. A token that expires mid-read and a 429 waited out run
//! through the service app in `tests/secrets.rs` and `src/source/okta/tests.rs`.

mod support;

use std::collections::BTreeMap;

use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use rosterd::platform::filespin::sandbox::FileSpinSandbox;
use rosterd::platform::sandboxes::AnySandbox;
use rosterd::sandbox::faults::{Fault, FaultRule};
use rosterd::source::okta::sandbox::{
    generated_groups, generated_id, generated_login, generated_status, Directory, OktaSandbox, OktaSandboxOptions,
};
use support::rig::{platform_entry, Rig};

const TOKEN: &str = "okta-api-token-SEEDED-7c1f02ab";
const PEOPLE: usize = 2500;

fn active(i: usize) -> bool {
    !matches!(generated_status(i), "SUSPENDED" | "DEPROVISIONED" | "STAGED")
}

fn in_scope(i: usize) -> bool {
    active(i) && generated_groups(i).contains(&"cake-users")
}

/// CAKE role ids: 4 Finance, 3 Account Manager, 2 Media Buyer; FileSpin: 2 MANAGER, 4 USER.
fn roles(i: usize) -> (u64, u64) {
    let groups = generated_groups(i);
    let cake = if groups.contains(&"Finance") {
        4
    } else if groups.contains(&"Sales") {
        3
    } else {
        2
    };
    (cake, if groups.contains(&"Finance") { 2 } else { 4 })
}

const SCOPE_AND_ROLES: &str = r#"    scope: 'groups.display eq "cake-users"'
    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }
"#;

/// email → (can sign in, role id), as a platform holds its accounts.
type Held = BTreeMap<String, (bool, u64)>;

/// A CAKE and FileSpin rig reading the org at `okta`.
struct Setup {
    rig: Rig,
    filespin: AnySandbox,
}

async fn setup(okta: &OktaSandbox) -> Setup {
    setup_reading(okta, "").await
}

/// The same, `source_extra` added to the `source.okta` keys.
async fn setup_reading(okta: &OktaSandbox, source_extra: &str) -> Setup {
    let rig =
        Rig::start(CakeSandboxOptions::default().with_user(CakeUser::new("Api", "Owner", "owner@acme.example", 1)))
            .await;
    let filespin = AnySandbox::start("filespin").await.expect("the FileSpin emulator");
    rig.write("okta-token", TOKEN);
    rig.write("filespin-key", &filespin.key());
    let cake_roles = "    roles:\n      - { when: 'groups.display eq \"Finance\"', role: Finance }\n      - { when: 'groups.display eq \"Sales\"', role: Account Manager }\n      - { role: Media Buyer }\n";
    let filespin_roles =
        "    roles:\n      - { when: 'groups.display eq \"Finance\"', role: MANAGER }\n      - { role: USER }\n";
    let platforms =
        platform_entry("cake", "cake", rig.sandbox.base_url(), "cake-key", &format!("{SCOPE_AND_ROLES}{cake_roles}"))
            + &platform_entry(
                "filespin",
                "filespin",
                filespin.base_url(),
                "filespin-key",
                &format!("{SCOPE_AND_ROLES}{filespin_roles}"),
            );
    let source = format!("  okta: {{ url: \"{}\", token_file: okta-token{source_extra} }}", okta.base_url());
    let safety = "  max_removals: { count: 1000, percent: 100 }\n  protected: [owner@acme.example]";
    rig.configure(&source, safety, &platforms);
    Setup { rig, filespin }
}

impl Setup {
    /// email → (active, role id) in CAKE and in FileSpin.
    fn state(&self) -> (Held, Held) {
        let cake = self.rig.sandbox.users().into_iter().filter(|u| u.email != "owner@acme.example");
        let cake = cake.map(|u| (u.email.to_lowercase(), (u.user_status == "active", u.role_id))).collect();
        let filespin = self.filespin.get::<FileSpinSandbox>().expect("FileSpin").users().into_iter();
        let filespin = filespin.map(|u| (u.email.to_lowercase(), (u.enabled, u.role_id))).collect();
        (cake, filespin)
    }

    fn writes(&self) -> (usize, usize) {
        (self.rig.sandbox.write_calls(), self.filespin.write_calls())
    }
}

async fn org() -> OktaSandbox {
    org_of(PEOPLE).await
}

async fn org_of(people: usize) -> OktaSandbox {
    let directory = Directory::generated(people, "2024-05-02T10:11:12.000Z");
    OktaSandbox::start(OktaSandboxOptions::new(TOKEN, directory)).await.expect("the Okta emulator")
}

#[tokio::test]
async fn an_okta_org_of_2500_converges_into_cake_and_filespin_and_three_suspended_leave() {
    let okta = org().await;
    let s = setup(&okta).await;

    let (plan, summary) = s.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, PEOPLE, "deprovisioned users are read too");
    // 2,375 listed users at 200 a page (12 pages) and 125 deprovisioned ones (1 page).
    assert_eq!(okta.calls("users"), 13);
    let expected_cake: Held =
        (1..=PEOPLE).filter(|i| in_scope(*i)).map(|i| (generated_login(i), (true, roles(i).0))).collect();
    let expected_filespin: Held =
        (1..=PEOPLE).filter(|i| in_scope(*i)).map(|i| (generated_login(i), (true, roles(i).1))).collect();
    assert!(expected_cake.len() > 1000 && expected_cake.keys().all(|e| e.ends_with("@acme.example")), "no guest");
    let (cake, filespin) = s.state();
    assert_eq!(cake, expected_cake);
    assert_eq!(filespin, expected_filespin);
    assert!(summary.record.platforms.iter().all(|p| p.failed == 0));

    // Second run: zero writes on either platform.
    let writes = s.writes();
    let (plan, _) = s.rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(s.writes(), writes);

    // Three people suspended at Okta: exactly those three lose access, on both platforms.
    let leavers = [1usize, 2, 6];
    assert!(leavers.iter().all(|i| in_scope(*i)));
    for i in leavers {
        okta.set_status(&generated_id(i), "SUSPENDED");
    }
    let (_, summary) = s.rig.reconcile().await;
    assert!(summary.record.platforms.iter().all(|p| p.deactivated == 3));
    let (cake, filespin) = s.state();
    for (name, now) in [("CAKE", &cake), ("FileSpin", &filespin)] {
        let off: Vec<&String> = now.iter().filter(|(_, (on, _))| !on).map(|(e, _)| e).collect();
        let want: Vec<String> = leavers.iter().map(|i| generated_login(*i)).collect();
        assert_eq!(off, want.iter().collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test]
async fn a_read_that_fails_on_page_3_removes_nobody_and_says_why() {
    let okta = org().await;
    let s = setup(&okta).await;
    s.rig.reconcile().await;
    let (before, writes) = (s.state(), s.writes());
    // Okta suspends someone, but the read breaks on page 3 (the page and its retries).
    okta.set_status(&generated_id(1), "SUSPENDED");
    let first = okta.calls("users");
    for nth in 3..=7 {
        okta.faults().script(FaultRule::on("users", Fault::status(503)).nth(nth));
    }
    let (plan, summary) = s.rig.reconcile().await;
    assert!(okta.calls("users") > first);
    assert!(!plan.roster_complete);
    let why = plan.roster_incomplete_reason.clone().unwrap_or_default();
    assert!(why.contains("users page 3") && why.contains("HTTP 503"), "{why}");
    assert!(plan.to_table().contains("roster incomplete"), "{}", plan.to_table());
    assert!(summary.record.platforms.iter().all(|p| p.deactivated == 0));
    assert_eq!(s.state(), before);
    assert_eq!(s.writes(), writes);
}

#[tokio::test]
async fn incremental_reads_ask_only_for_what_changed_and_act_on_it() {
    let okta = org_of(600).await;
    let s = setup_reading(&okta, ", incremental: { enabled: true, full_read_every: 5 }").await;
    s.rig.reconcile().await;
    let calls = |okta: &OktaSandbox| (okta.calls("users"), okta.calls("groups"), okta.calls("members"));
    let (users, groups, members) = calls(&okta);

    // A quiet incremental read: one changed-users page and the group listing, no members.
    let writes = s.writes();
    let (plan, _) = s.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, 600);
    assert_eq!(calls(&okta), (users + 1, groups + 1, members));
    assert_eq!(s.writes(), writes);

    // A suspension and a new Finance member arrive through the filter and the changed group.
    okta.set_status(&generated_id(1), "SUSPENDED");
    okta.edit(|d| {
        d.join("00g00finance", &generated_id(2));
        if let Some(g) = d.groups.get_mut("00g00finance") {
            g.last_membership_updated = Some(rosterd::source::okta::sandbox::now_stamp());
        }
    });
    let (plan, summary) = s.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(calls(&okta).2, members + 1, "only the changed group's members are read");
    assert!(summary.record.platforms.iter().all(|p| p.deactivated == 1 && p.updated == 1), "{}", plan.to_table());
    let (cake, filespin) = s.state();
    assert_eq!(cake.get(&generated_login(2)), Some(&(true, 4)));
    assert_eq!(filespin.get(&generated_login(2)), Some(&(true, 2)));
    assert_eq!(cake.get(&generated_login(1)).map(|c| c.0), Some(false));
}
