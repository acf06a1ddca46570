//! The Microsoft Entra ID source end to end: the strict Graph emulator as the identity
//! source, the CAKE and FileSpin emulators as platforms, the engine as the command line runs
//! it. 2,500 people (disabled ones, guests, nested groups) at Graph's largest pages converge
//! and stay converged, three leavers lose access; a failing page 3 removes nobody; a token
//! expiring mid-read is renewed; a 429 is waited out; delta reads make one call when quiet,
//! carry a change and a deletion, and a 410 on the delta link means a full resync that
//! removes nobody until it completes. Counts calls, never times (save a Retry-After floor).

mod support;

use std::collections::BTreeMap;

use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use rosterd::platform::filespin::sandbox::{FileSpinSandbox, FileSpinSandboxOptions};
use rosterd::sandbox::faults::{Fault, FaultRule};
use rosterd::source::entra::sandbox::people::{email, user_id};
use rosterd::source::entra::sandbox::{EntraSandbox, EntraSandboxOptions};
use support::rig::{platform_entry, Rig};

const SECRET: &str = "entra-secret-SEEDED-4f0c2b9e";
const FS_KEY: &str = "fs-key-SEEDED-entra-6d21";

/// In scope: enabled, a Member (no guest), in `Everyone` (through `Staff` or `Contractors`).
fn in_scope(i: usize) -> bool {
    i % 10 != 0 && i % 25 != 0 && (i % 4 != 3 || i % 8 == 7)
}

/// CAKE role ids: 4 Finance; 3 Account Manager for Sales (Leads nest in Sales); 2 Media Buyer.
fn cake_role(i: usize) -> u64 {
    match (i % 7 == 0, i % 3 == 0 || i % 11 == 0) {
        (true, _) => 4,
        (false, true) => 3,
        _ => 2,
    }
}

/// FileSpin role ids: 3 CREATOR for Sales (and Leads), else 4 USER.
fn filespin_role(i: usize) -> u64 {
    if i % 3 == 0 || i % 11 == 0 {
        3
    } else {
        4
    }
}

const SCOPE: &str = r#"    scope: 'groups.display eq "Everyone" and userType eq "Member"'
"#;
const FAST: &str = "    rate_limit: { per_second: 10000, burst: 1000, concurrency: 8 }\n";

/// The Graph emulator with `n` generated people, CAKE and FileSpin beside it, and a config
/// reading the tenant (`source_extra`: more `source.entra` keys) into both.
struct World {
    entra: EntraSandbox,
    rig: Rig<CakeSandbox>,
    filespin: FileSpinSandbox,
}

async fn world(options: EntraSandboxOptions, source_extra: &str, safety: &str) -> World {
    let entra = EntraSandbox::start(options.with_secret(SECRET)).await.expect("the Entra emulator");
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    let filespin =
        FileSpinSandbox::start(FileSpinSandboxOptions::default().with_api_key(FS_KEY)).await.expect("FileSpin");
    rig.write("entra-secret", SECRET);
    rig.write("fs-key", FS_KEY);
    let cake_roles = r#"    roles:
      - { when: 'groups.display eq "Finance"', role: Finance }
      - { when: 'groups.display eq "Sales"', role: Account Manager }
      - { role: Media Buyer }
"#;
    let fs_roles = r#"    fields: { locale: "en_GB", group_asset_access: "false" }
    roles:
      - { when: 'groups.display eq "Sales"', role: CREATOR }
      - { role: 4 }
"#;
    let platforms =
        platform_entry("cake", "cake", rig.sandbox.base_url(), "cake-key", &format!("{SCOPE}{cake_roles}{FAST}"))
            + &platform_entry("assets", "filespin", filespin.base_url(), "fs-key", &format!("{SCOPE}{fs_roles}{FAST}"));
    let source = entra.source_yaml("entra-secret", &format!(", backoff_start_ms: 5{source_extra}"));
    rig.configure(&source, safety, &platforms);
    World { entra, rig, filespin }
}

const LOOSE: &str = "  max_removals: { count: 1000, percent: 100 }\n  grace: { runs: 1 }";

/// email → (active, role id) on CAKE.
fn cake(w: &World) -> BTreeMap<String, (bool, u64)> {
    w.rig
        .sandbox
        .users()
        .into_iter()
        .map(|u| (u.email.to_lowercase(), (u.user_status == "active", u.role_id)))
        .collect()
}

/// email → (enabled, role id) on FileSpin.
fn filespin(w: &World) -> BTreeMap<String, (bool, u64)> {
    w.filespin.users().into_iter().map(|u| (u.email.to_lowercase(), (u.enabled, u.role_id))).collect()
}

fn expected(n: usize, role: fn(usize) -> u64, off: &[usize]) -> BTreeMap<String, (bool, u64)> {
    (1..=n).filter(|i| in_scope(*i)).map(|i| (email(i).to_lowercase(), (!off.contains(&i), role(i)))).collect()
}

fn writes(w: &World) -> (usize, usize) {
    (w.rig.sandbox.write_calls(), w.filespin.write_calls())
}

#[tokio::test]
async fn twenty_five_hundred_people_converge_into_cake_and_filespin_stay_quiet_and_three_leavers_go() {
    let n = 2500;
    let w = world(EntraSandboxOptions::default().with_people(n), "", LOOSE).await;
    let (plan, _) = w.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, n);
    // `$expand=manager` holds a page to 100 whatever `$top` (999) says: 25 pages.
    assert_eq!(w.entra.faults().count("users"), n.div_ceil(100));
    assert_eq!(cake(&w), expected(n, cake_role, &[]));
    assert_eq!(filespin(&w), expected(n, filespin_role, &[]));

    let before = writes(&w);
    let (plan, _) = w.rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(writes(&w), before, "a second run writes nothing");

    let leavers: Vec<usize> = (1..=n).filter(|i| in_scope(*i)).take(3).collect();
    for i in &leavers {
        w.entra.edit_user(&user_id(*i), |u| u.set("accountEnabled", false));
    }
    let (_, summary) = w.rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].deactivated, summary.record.platforms[1].deactivated), (3, 3));
    assert_eq!(cake(&w), expected(n, cake_role, &leavers));
    assert_eq!(filespin(&w), expected(n, filespin_role, &leavers));
    assert_eq!(writes(&w), (before.0 + 3, before.1 + 3));
}

#[tokio::test]
async fn a_failure_on_page_3_removes_nobody_and_the_run_says_why() {
    let n = 400;
    let w = world(EntraSandboxOptions::default().with_people(n), ", page_size: 50, expand_manager: false", LOOSE).await;
    w.rig.reconcile().await;
    let (before_cake, before_fs, before) = (cake(&w), filespin(&w), writes(&w));
    w.entra.delete_user(&user_id(1));
    // Page 3 of 8 answers garbage: a 200 that is no Graph page (never retried).
    let users_so_far = w.entra.faults().count("users");
    w.entra.faults().script(FaultRule::on("users", Fault::Garbage).nth(3));
    let (plan, summary) = w.rig.reconcile().await;
    assert_eq!(w.entra.faults().count("users") - users_so_far, 3, "the listing stops at the broken page");
    assert!(!plan.roster_complete);
    let why = plan.roster_incomplete_reason.clone().unwrap_or_default();
    assert!(why.contains("users page 3") && why.contains("malformed"), "{why}");
    assert!(plan.to_table().contains("roster incomplete"), "{}", plan.to_table());
    assert_eq!((summary.record.platforms[0].deactivated, summary.record.platforms[1].deactivated), (0, 0));
    assert_eq!((cake(&w), filespin(&w), writes(&w)), (before_cake, before_fs, before));
}

#[tokio::test]
async fn a_token_expiring_mid_read_is_renewed_and_the_read_completes() {
    let n = 300;
    // Each token is good for two Graph calls: it expires during the users listing.
    let options = EntraSandboxOptions { token_uses: Some(2), ..EntraSandboxOptions::default().with_people(n) };
    let w = world(options, "", LOOSE).await;
    let (plan, _) = w.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, n);
    assert!(w.entra.issued_tokens().len() >= 3, "tokens were renewed: {}", w.entra.issued_tokens().len());
    assert_eq!(cake(&w), expected(n, cake_role, &[]));
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let n = 300;
    let w = world(EntraSandboxOptions::default().with_people(n), "", LOOSE).await;
    w.entra.faults().script(FaultRule::on("users", Fault::too_many(1)).nth(2));
    let (plan, _) = w.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    let users: Vec<_> = w.entra.faults().served().into_iter().filter(|s| s.route == "users").collect();
    let refused = users.iter().position(|s| s.status == 429).expect("the 429 was served");
    let retried = users.get(refused + 1).expect("the page was asked again");
    assert!(retried.at - users[refused].at >= std::time::Duration::from_secs(1), "Retry-After: 1 was not waited out");
    assert_eq!(cake(&w), expected(n, cake_role, &[]));
}

#[tokio::test]
async fn delta_reads_one_call_when_quiet_a_change_and_a_deletion_and_a_410_resync_removes_nobody_until_complete() {
    let n = 500;
    let w = world(
        EntraSandboxOptions::default().with_people(n),
        ", incremental: { enabled: true, full_read_every: 50 }",
        LOOSE,
    )
    .await;
    let (plan, _) = w.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(cake(&w), expected(n, cake_role, &[]));

    // A quiet delta run: exactly one Graph call, the delta link.
    let calls = w.entra.graph_calls();
    let (plan, _) = w.rig.reconcile().await;
    assert_eq!(w.entra.graph_calls() - calls, 1);
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());

    // A change (disabled) and a deletion arrive through delta.
    let scoped: Vec<usize> = (1..=n).filter(|i| in_scope(*i)).take(2).collect();
    w.entra.edit_user(&user_id(scoped[0]), |u| u.set("accountEnabled", false));
    assert!(w.entra.delete_user(&user_id(scoped[1])));
    let calls = w.entra.graph_calls();
    let (plan, summary) = w.rig.reconcile().await;
    assert_eq!(w.entra.graph_calls() - calls, 1, "both changes come in one delta page");
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(plan.people, n - 1);
    assert_eq!(summary.record.platforms[0].deactivated, 2, "{}", plan.to_table());
    let held = cake(&w);
    assert!(!held[&email(scoped[0])].0);
    assert!(!held[&email(scoped[1])].0);

    // The delta link dies (410): a full resync, which fails on its page 3, removes nobody.
    w.entra.expire_delta_links();
    let third = user_id((1..=n).filter(|i| in_scope(*i)).nth(2).unwrap_or(1));
    w.entra.delete_user(&third);
    let before = (cake(&w), writes(&w));
    let deltas = w.entra.faults().count("delta");
    w.entra.faults().script(FaultRule::on("delta", Fault::Garbage).nth(4));
    let (plan, summary) = w.rig.reconcile().await;
    assert_eq!(w.entra.faults().count("delta") - deltas, 4, "the 410, then the resync's pages 1 to 3");
    assert!(!plan.roster_complete);
    assert!(plan.roster_incomplete_reason.clone().unwrap_or_default().contains("page 3"));
    assert_eq!(summary.record.platforms[0].deactivated, 0);
    assert_eq!((cake(&w), writes(&w)), before);

    // The next run's resync completes: now, and only now, the deleted person goes.
    let (plan, summary) = w.rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert_eq!(summary.record.platforms[0].deactivated, 1, "{}", plan.to_table());
}
