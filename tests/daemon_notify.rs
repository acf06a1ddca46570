//! The daemon tells its webhooks (issue 16): a held run is told once, from `rosterd run`,
//! counted in `rosterd_notifications_total`; and what the daemon says of itself at start:
//! one start-up line with its version, config and state directory, `rosterd_build_info`,
//! and counters at zero before anything happened.

mod daemon_harness;
mod support;

use std::time::Duration;

use daemon_harness::{field, msg, roster, Daemon, Rig, Settings};
use support::webhook::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_tells_a_held_run_once_and_exports_build_info_and_zero_counters() {
    let hooks = Receiver::start().await;
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    let config = rig.config_text(&Settings::default());
    let config = format!("{config}notify:\n  backoff_ms: 10\n  webhooks: [ {{ url: \"{}/hook\" }} ]\n", hooks.url);
    std::fs::write(rig.path("rosterd.yaml"), &config).unwrap();
    let d = Daemon::start(&rig.path("rosterd.yaml"), &[]).await;
    d.wait_runs(1).await;

    let start = d.wait_log(Duration::from_secs(5), |l| msg(l) == "rosterd starting").await;
    assert_eq!(field(&start, "version"), env!("CARGO_PKG_VERSION"));
    assert!(field(&start, "config").ends_with("rosterd.yaml") && field(&start, "state_dir").ends_with("state"));
    assert!(!field(&start, "commit").is_empty());
    let metrics = reqwest::get(d.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("rosterd_build_info{{version=\"{}\",commit=", env!("CARGO_PKG_VERSION"))));
    for zero in [
        r#"rosterd_runs_total{trigger="schedule",result="error"} 0"#,
        r#"rosterd_notifications_total{outcome="failed"} 0"#,
        r#"rosterd_platform_operations_total{platform="cake",kind="deactivate",outcome="failed"} 0"#,
    ] {
        assert!(metrics.contains(zero), "{zero} missing:\n{metrics}");
    }
    assert!(hooks.take("hook").is_empty(), "a clean start-up run tells nothing");

    // An incomplete roster without two people: their removals are held, and told once.
    std::fs::write(rig.path("roster.yaml"), support::people::roster_marked(false, support::people::people(1))).unwrap();
    d.signal("USR1");
    let finished = d.wait_runs(2).await;
    d.wait_log(Duration::from_secs(20), |l| msg(l) == "notification delivered").await;
    let got = hooks.take("hook");
    assert_eq!(got.len(), 1, "{got:?}");
    let run_id = field(&finished, "run_id");
    assert_eq!(got[0]["notification"]["approve_command"], format!("rosterd approve {run_id}").as_str());
    assert!(!got[0].to_string().contains(daemon_harness::CAKE_KEY));
    let metrics = reqwest::get(d.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"rosterd_notifications_total{outcome="delivered"} 1"#), "{metrics}");
}
