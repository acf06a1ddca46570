//! End to end through the real engine: a roster file converged into the SCIM emulator
//! (`kind: scim`): created with externalId, a quiet second run, a leaver deactivated with
//! `active=false`, a returner reactivated in one call; and the same by PUT when the server
//! does not announce PATCH.

mod support;

use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser};
use support::people::Person;
use support::rig::{platform_entry, Rig, FAST};

const TOKEN: &str = "scim-target-SEEDED-0c9d11e4";

async fn start(options: ScimSandboxOptions, platform_extra: &str) -> Rig<ScimSandbox> {
    let scim = ScimSandbox::start(options.with_token(TOKEN)).await.expect("the SCIM sandbox");
    let rig = Rig::around(scim, "scim-token", TOKEN);
    let rest = format!("    page_size: 3\n{FAST}{platform_extra}\n");
    let platform = platform_entry("app", "scim", rig.sandbox.base_url(), "scim-token", &rest);
    rig.configure_protecting("admin@acme.example", &platform);
    rig
}

/// People 1..=n; `inactive` ones are inactive at the source; `renamed` get a new given name.
fn write_roster(rig: &Rig<ScimSandbox>, n: usize, inactive: &[usize], renamed: &[usize]) {
    rig.roster((1..=n).map(|i| {
        let p = Person::test(i).id_prefix("src-").active(!inactive.contains(&i));
        if renamed.contains(&i) {
            p.given("Renamed")
        } else {
            p
        }
    }));
}

fn user(rig: &Rig<ScimSandbox>, i: usize) -> ScimUser {
    rig.sandbox.user_by_login(&format!("p{i}@acme.example")).unwrap_or_else(|| panic!("p{i} is on the target"))
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
    let rig = start(seeded(), "").await;
    write_roster(&rig, 10, &[9], &[]);

    let (plan, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.created, app.updated, app.failed), (8, 1, 0), "{}", plan.to_table());
    for i in (1..=10).filter(|i| *i != 9) {
        let user = user(&rig, i);
        assert_eq!(user.external_id.as_deref(), Some(format!("src-{i}").as_str()), "p{i}");
        assert_eq!((user.given_name.clone().unwrap(), user.active), (format!("G{i}"), true), "p{i}");
        assert_eq!(user.email(), Some(format!("p{i}@acme.example").as_str()));
    }
    assert!(rig.sandbox.user_by_login("p9@acme.example").is_none(), "inactive at the source: never created");
    let p3 = user(&rig, 3);
    assert_eq!(p3.user_name, "P3@acme.example", "adopted as it was, not recreated");
    assert_eq!(rig.sandbox.users().len(), 10);

    // Second run: nothing to do, nothing sent.
    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(rig.sandbox.write_calls(), writes);

    // A leaver: active=false, by one PATCH.
    write_roster(&rig, 10, &[2, 9], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert_eq!(rig.sandbox.write_calls(), writes + 1);
    let write = rig.sandbox.last_write().unwrap();
    assert_eq!((write.method.as_str(), write.patch_paths()), ("PATCH", vec!["active".to_string()]));
    assert!(!user(&rig, 2).active);
    assert!(user(&rig, 1).active && rig.sandbox.user_by_login("admin@acme.example").unwrap().active);

    // The leaver returns, renamed: one call restores access and the name.
    write_roster(&rig, 10, &[9], &[2]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].reactivated, 1);
    assert_eq!(rig.sandbox.write_calls(), writes + 2);
    assert_eq!(rig.sandbox.last_write().unwrap().patch_paths(), ["name.givenName", "active"]);
    let p2 = user(&rig, 2);
    assert_eq!((p2.active, p2.given_name.as_deref()), (true, Some("Renamed2")));
}

#[tokio::test]
async fn without_patch_announced_the_engine_updates_and_deactivates_by_put() {
    let rig = start(seeded().without_patch(), "").await;
    write_roster(&rig, 5, &[], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].updated), (4, 1));
    assert_eq!(rig.sandbox.last_write().map(|w| w.method), Some("PUT".to_string()), "p3 adopted by PUT");

    write_roster(&rig, 5, &[4], &[1]);
    let writes = rig.sandbox.write_calls();
    let (_, summary) = rig.reconcile().await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.updated, app.deactivated, app.failed), (1, 1, 0));
    assert_eq!(rig.sandbox.write_calls(), writes + 2);
    assert!(rig.sandbox.writes().iter().all(|w| w.method != "PATCH"));
    assert_eq!(user(&rig, 1).given_name.as_deref(), Some("Renamed1"));
    assert!(!user(&rig, 4).active);
    assert_eq!(user(&rig, 4).external_id.as_deref(), Some("src-4"), "PUT kept what it did not change");
}

#[tokio::test]
async fn patch_never_in_config_overrides_the_announcement() {
    let rig = start(seeded(), "    patch: never").await;
    write_roster(&rig, 3, &[], &[]);
    rig.reconcile().await;
    write_roster(&rig, 3, &[1], &[]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert!(rig.sandbox.writes().iter().all(|w| w.method != "PATCH"));
    assert!(!user(&rig, 1).active);
}
