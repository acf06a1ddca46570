//! End to end through the real engine: a roster file converged into the SCIM emulator
//! (`kind: scim`): created with externalId, a quiet second run, a leaver deactivated with
//! `active=false`, a returner reactivated in one call; and the same by PUT when the server
//! does not announce PATCH.

use std::path::PathBuf;

use rosterd::config::Config;
use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser};
use rosterd::reconcile::plan::Plan;
use rosterd::reconcile::RunSummary;
use tempfile::TempDir;

const TOKEN: &str = "scim-target-SEEDED-0c9d11e4";

struct Rig {
    dir: TempDir,
    scim: ScimSandbox,
}

impl Rig {
    async fn start(options: ScimSandboxOptions, platform_extra: &str) -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let scim = ScimSandbox::start(options.with_token(TOKEN)).await.expect("the SCIM sandbox");
        std::fs::write(dir.path().join("scim-token"), format!("{TOKEN}\n")).expect("token file");
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 100, percent: 100 }}\n  protected: [admin@acme.example]\nplatforms:\n  - name: app\n    kind: scim\n    base_url: \"{}\"\n    api_key_file: scim-token\n    page_size: 3\n    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}\n{platform_extra}\n",
            scim.base_url()
        );
        std::fs::write(dir.path().join("rosterd.yaml"), config).expect("config");
        Rig { dir, scim }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// People 1..=n; `inactive` ones are inactive at the source; `renamed` get a new given name.
    fn write_roster(&self, n: usize, inactive: &[usize], renamed: &[usize]) {
        let mut out = String::from("complete: true\npeople:\n");
        for i in 1..=n {
            let active = !inactive.contains(&i);
            let given = if renamed.contains(&i) { format!("Renamed{i}") } else { format!("G{i}") };
            out.push_str(&format!(
                "  - {{ id: \"src-{i}\", user_name: p{i}@acme.example, given_name: {given}, family_name: F{i}, email: p{i}@acme.example, active: {active} }}\n"
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

    fn user(&self, i: usize) -> ScimUser {
        self.scim.user_by_name(&format!("p{i}@acme.example")).unwrap_or_else(|| panic!("p{i} is on the target"))
    }
}

fn seeded() -> ScimSandboxOptions {
    // Pages of at most 2, whatever count asks: the listing must follow the server.
    ScimSandboxOptions::default()
        .with_max_results(2)
        .with_user(ScimUser::new("admin@acme.example", "Ad", "Min", "admin@acme.example"))
        .with_user(ScimUser::new("P3@acme.example", "Old", "F3", "p3@acme.example"))
}

#[tokio::test]
async fn a_roster_converges_into_a_scim_target_and_stays_converged() {
    let rig = Rig::start(seeded(), "").await;
    rig.write_roster(10, &[9], &[]);

    let (plan, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.created, app.updated, app.failed), (8, 1, 0), "{}", plan.to_table());
    for i in (1..=10).filter(|i| *i != 9) {
        let user = rig.user(i);
        assert_eq!(user.external_id.as_deref(), Some(format!("src-{i}").as_str()), "p{i}");
        assert_eq!((user.given_name.clone().unwrap(), user.active), (format!("G{i}"), true), "p{i}");
        assert_eq!(user.email(), Some(format!("p{i}@acme.example").as_str()));
    }
    assert!(rig.scim.user_by_name("p9@acme.example").is_none(), "inactive at the source: never created");
    let p3 = rig.user(3);
    assert_eq!(p3.user_name, "P3@acme.example", "adopted as it was, not recreated");
    assert_eq!(rig.scim.users().len(), 10);

    // Second run: nothing to do, nothing sent.
    let writes = rig.scim.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.scim.write_calls(), writes);

    // A leaver: active=false, by one PATCH.
    rig.write_roster(10, &[2, 9], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert_eq!(rig.scim.write_calls(), writes + 1);
    let write = rig.scim.last_write().unwrap();
    assert_eq!((write.method.as_str(), write.patch_paths()), ("PATCH", vec!["active".to_string()]));
    assert!(!rig.user(2).active);
    assert!(rig.user(1).active && rig.scim.user_by_name("admin@acme.example").unwrap().active);

    // The leaver returns, renamed: one call restores access and the name.
    rig.write_roster(10, &[9], &[2]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].reactivated, 1);
    assert_eq!(rig.scim.write_calls(), writes + 2);
    assert_eq!(rig.scim.last_write().unwrap().patch_paths(), ["name.givenName", "active"]);
    let p2 = rig.user(2);
    assert_eq!((p2.active, p2.given_name.as_deref()), (true, Some("Renamed2")));
}

#[tokio::test]
async fn without_patch_announced_the_engine_updates_and_deactivates_by_put() {
    let rig = Rig::start(seeded().without_patch(), "").await;
    rig.write_roster(5, &[], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].updated), (4, 1));
    assert_eq!(rig.scim.last_write().map(|w| w.method), Some("PUT".to_string()), "p3 adopted by PUT");

    rig.write_roster(5, &[4], &[1]);
    let writes = rig.scim.write_calls();
    let (_, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.updated, app.deactivated, app.failed), (1, 1, 0));
    assert_eq!(rig.scim.write_calls(), writes + 2);
    assert!(rig.scim.writes().iter().all(|w| w.method != "PATCH"));
    assert_eq!(rig.user(1).given_name.as_deref(), Some("Renamed1"));
    assert!(!rig.user(4).active);
    assert_eq!(rig.user(4).external_id.as_deref(), Some("src-4"), "PUT kept what it did not change");
}

#[tokio::test]
async fn patch_never_in_config_overrides_the_announcement() {
    let rig = Rig::start(seeded(), "    patch: never").await;
    rig.write_roster(3, &[], &[]);
    rig.reconcile().await;
    rig.write_roster(3, &[1], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert!(rig.scim.writes().iter().all(|w| w.method != "PATCH"));
    assert!(!rig.user(1).active);
}
