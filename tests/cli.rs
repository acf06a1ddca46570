//! The command line as a person runs it: the demo, check-config's exit code, and a plan
//! saved, reviewed and applied, refused when the platform changed in between.

mod support;

use std::process::{Command, Output};

use rosterd::platform::cake::sandbox::{CakeSandboxOptions, CakeUser};
use support::rig::Rig;

fn rosterd(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rosterd")).args(args).current_dir(dir).output().expect("rosterd runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_demo_converges_and_its_second_pass_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = rosterd(dir.path(), &["demo", "--state-dir", "demo"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("demo converged: the second pass plans zero changes on every platform."), "{t}");
    assert!(t.contains("Plan: 0 change(s)"), "{t}");
    // The demo's audit trail is kept and verifies.
    let verify = rosterd(dir.path(), &["audit", "--verify", "-c", "demo/rosterd.yaml"]);
    assert!(verify.status.success(), "{}", text(&verify));
}

/// `demo --source okta|google|entra`: the demo roster served by that identity provider's
/// emulator, read through its API, converges as the file does.
#[test]
fn the_demo_reads_its_roster_from_each_emulated_identity_provider_and_converges() {
    for source in ["okta", "google", "entra"] {
        let dir = tempfile::tempdir().unwrap();
        let out = rosterd(dir.path(), &["demo", "--source", source, "--state-dir", "demo"]);
        let t = text(&out);
        assert!(out.status.success() && t.contains("demo converged"), "{source}: {t}");
        let config = std::fs::read_to_string(dir.path().join("demo/rosterd.yaml")).expect("the demo's config");
        assert!(config.contains(&format!("{source}:")) && !config.contains("path: roster.yaml"), "{source}: {config}");
    }
}

#[test]
fn check_config_exits_2_and_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "source: {}\nplatforms:\n  - { name: c, kind: nope }\n").unwrap();
    let out = rosterd(dir.path(), &["check-config", "-c", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(
        t.contains("source: set one of source.scim") && t.contains("platforms[0].kind: unknown kind \"nope\""),
        "{t}"
    );
    let missing = rosterd(dir.path(), &["plan", "-c", "missing.yaml"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_applies_as_reviewed_and_is_refused_once_stale() {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write_config(
        "  file: { path: roster.yaml }",
        "  max_removals: { count: 25, percent: 50 }",
        "    roles: [ { role: Finance } ]",
    );
    std::fs::write(
        rig.path("roster.yaml"),
        "complete: true\npeople:\n  - { id: \"1\", user_name: a@x.example, given_name: A, family_name: B, email: a@x.example }\n",
    )
    .unwrap();
    let dir = rig.dir.path().to_path_buf();
    let planned = tokio::task::spawn_blocking({
        let d = dir.clone();
        move || rosterd(&d, &["plan", "--out", "plan.json", "-c", "rosterd.yaml"])
    })
    .await
    .unwrap();
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert!(rig.sandbox.users().is_empty(), "plan changed something");

    // Someone creates the same account by hand before the plan is applied: refused.
    rig.sandbox.insert_user(CakeUser::new("A", "B", "a@x.example", 4));
    let d = dir.clone();
    let stale =
        tokio::task::spawn_blocking(move || rosterd(&d, &["apply", "plan.json", "-c", "rosterd.yaml"])).await.unwrap();
    assert_eq!(stale.status.code(), Some(5), "{}", text(&stale));
    assert_eq!(rig.sandbox.users().len(), 1);

    // A fresh plan applies exactly as reviewed.
    let d = dir.clone();
    let fresh = tokio::task::spawn_blocking(move || {
        std::fs::write(
            d.join("roster.yaml"),
            "complete: true\npeople:\n  - { id: \"1\", user_name: a@x.example, given_name: Ann, family_name: B, email: a@x.example }\n",
        )
        .unwrap();
        let p = rosterd(&d, &["plan", "--out", "plan2.json", "-c", "rosterd.yaml"]);
        assert_eq!(p.status.code(), Some(0), "{}", text(&p));
        rosterd(&d, &["apply", "plan2.json", "-c", "rosterd.yaml"])
    })
    .await
    .unwrap();
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
    assert_eq!(rig.sandbox.user_by_login("a@x.example").unwrap().first_name, "Ann");
}
