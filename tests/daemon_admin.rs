//! Operating a running daemon (issue 16): the command line reaches it through the admin
//! socket, the HTTP admin API sits behind its token, a stuck run fails `/healthz`, and a
//! rotated secret file is read again without a signal. The real `rosterd run` binary,
//! on loopback, against a sandbox CAKE.

mod daemon_harness;
mod support;

use std::time::{Duration, Instant};

use daemon_harness::{field, msg, roster, Daemon, Rig, Settings, CAKE_KEY};
use rosterd::sandbox::faults::{Fault, FaultRule};

const T: Duration = Duration::from_secs(30);
const ADMIN_TOKEN: &str = "admin-TOKEN-7c1e9d";

fn active(rig: &Rig) -> usize {
    rig.cake.users().iter().filter(|u| u.user_status == "active").count()
}

/// A daemon whose second run held 3 removals (6 people, then 3; at most 2 removals a run).
async fn with_a_held_run(rig: &Rig) -> (Daemon, String) {
    std::fs::write(rig.path("admin-token"), ADMIN_TOKEN).unwrap();
    std::fs::write(rig.path("roster.yaml"), roster(6)).unwrap();
    let settings = Settings { max_removals: 2, admin_token_file: Some("admin-token".into()), ..Settings::default() };
    let d = Daemon::start(&rig.write_config(&settings), &[]).await;
    assert_eq!(field(&d.wait_runs(1).await, "result"), "ok");
    assert_eq!(active(rig), 6);
    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    d.signal("USR1");
    let second = d.wait_runs(2).await;
    assert!(field(&second, "summary").contains("3 held"), "{second}");
    assert_eq!(active(rig), 6, "the guard held the removals");
    (d, field(&second, "run_id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_report_plan_and_status_work_beside_the_running_daemon() {
    let rig = Rig::start().await;
    let (d, run_id) = with_a_held_run(&rig).await;

    let socket = std::fs::metadata(rig.path("state/admin.sock")).expect("the admin socket");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&socket.permissions()) & 0o777, 0o600);
    let (code, out, err) = rig.rosterd(&["status"]);
    assert_eq!(code, 4, "held removals wait: {out}{err}");
    assert!(out.contains("daemon running") && out.contains(&format!("rosterd approve {run_id}")), "{out}");
    assert!(out.contains("removal(s)"), "{out}");
    let (code, plan, err) = rig.rosterd(&["plan", "--format", "json"]);
    assert_eq!(code, 4, "the plan still holds the removals: {err}");
    assert!(plan.contains("\"run_id\""), "{plan}");

    let (code, out, err) = rig.rosterd(&["approve", &run_id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("  released: deactivate").count(), 3, "{out}");
    assert_eq!(active(&rig), 3, "the held removals were applied");
    let (code, audit, _) = rig.rosterd(&["audit", "--run", &run_id]);
    assert_eq!(code, 0);
    assert_eq!(audit.lines().filter(|l| l.contains(" released")).count(), 3, "{audit}");
    let (code, _, err) = rig.rosterd(&["approve", &run_id]);
    assert_eq!(code, 2, "already released: {err}");
    let (code, verified, err) = rig.rosterd(&["audit", "--verify"]);
    assert_eq!(code, 0, "{err}");
    assert!(verified.contains("intact and matching its anchor"), "{verified}");
    assert!(d.count(|l| msg(l) == "admin request on the socket") >= 5, "the daemon did the work");

    let (code, status, _) = rig.rosterd(&["status", "--format", "json"]);
    assert_eq!(code, 0, "nothing waits any more: {status}");
    let (code, through_daemon, err) = rig.rosterd(&["report", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    d.signal("TERM");
    assert!(d.wait_exit(T).await.success());
    assert!(!rig.path("state/admin.sock").exists(), "the socket goes with the daemon");
    let (code, alone, err) = rig.rosterd(&["report", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(through_daemon, alone, "the same report with or without the daemon");
    let (code, out, _) = rig.rosterd(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("no daemon running") && out.contains(&run_id), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_releases_nothing_without_its_token() {
    let rig = Rig::start().await;
    let (d, run_id) = with_a_held_run(&rig).await;
    let http = reqwest::Client::new();
    let approve = d.url(&format!("/v1/approve/{run_id}"));

    let r = http.post(&approve).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http.post(&approve).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http.get(d.url("/v1/report")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(active(&rig), 6, "nothing released");
    let public: serde_json::Value = http.get(d.url("/v1/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(public["held"][0]["run_id"], run_id.as_str(), "{public}");
    assert!(!public.to_string().contains("@"), "no person data without the token: {public}");

    let plan = http.get(d.url("/v1/plan")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(plan.status(), 200);
    let r = http.post(&approve).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["platforms"][0]["released"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(active(&rig), 3);
    let again = http.post(&approve).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(again.status(), 409, "already released");
    let full: serde_json::Value =
        http.get(d.url("/v1/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(full["held"], serde_json::json!([]), "{full}");
    assert!(!d.log_text().contains(ADMIN_TOKEN), "the token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_holds_every_connection_fails_healthz_and_the_daemon_recovers() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    let settings = Settings { stuck_after_seconds: Some(2), ..Settings::default() };
    let d = Daemon::start(&rig.write_config(&settings), &[]).await;
    assert_eq!(field(&d.wait_runs(1).await, "result"), "ok");
    let http = reqwest::Client::new();
    assert_eq!(http.get(d.url("/healthz")).send().await.unwrap().status(), 200);

    rig.cake.faults().script(FaultRule::any(Fault::Hang).always());
    std::fs::write(rig.path("roster.yaml"), roster(4)).unwrap();
    d.signal("USR1");
    let deadline = Instant::now() + T;
    let stuck = loop {
        let r = http.get(d.url("/healthz")).send().await.unwrap();
        if r.status() == 503 {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/healthz never failed; log:\n{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(field_text(&stuck, "error").contains("stuck_after_seconds"), "{stuck}");
    let status: serde_json::Value = http.get(d.url("/v1/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["alive"], false, "{status}");

    rig.cake.faults().clear();
    assert_eq!(field(&d.wait_runs(2).await, "result"), "ok", "the held calls went on");
    assert_eq!(http.get(d.url("/healthz")).send().await.unwrap().status(), 200);
    d.signal("USR1");
    assert_eq!(field(&d.wait_runs(3).await, "result"), "ok", "and the daemon runs again");
    assert_eq!(rig.cake_emails().len(), 4);
}

fn field_text(v: &serde_json::Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_file_is_used_by_the_next_run_without_sighup() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(2)).unwrap();
    let d = Daemon::start(&rig.write_config(&Settings::default()), &[]).await;
    assert_eq!(field(&d.wait_runs(1).await, "result"), "ok");
    let rotated =
        |l: &serde_json::Value| msg(l).starts_with("config reloaded") && field(l, "cause") == "a secret file changed";

    // A key the platform refuses: the next run must use it, and fail.
    rotate(&rig, "a-revoked-key");
    d.wait_nth_log(T, 1, rotated).await;
    d.signal("USR1");
    let refused = d.wait_runs(2).await;
    assert_ne!(field(&refused, "result"), "ok", "the rotated (wrong) key was used: {refused}");

    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    rotate(&rig, CAKE_KEY);
    d.wait_nth_log(T, 2, rotated).await;
    d.signal("USR1");
    assert_eq!(field(&d.wait_runs(3).await, "result"), "ok");
    assert_eq!(rig.cake_emails().len(), 3);
    assert_eq!(d.count(|l| msg(l).contains("SIGHUP")), 0);

    // A rotation that leaves the config unusable is refused, and /v1/status says so.
    rotate(&rig, "");
    d.wait_log(T, |l| msg(l).starts_with("config reload refused")).await;
    let status: serde_json::Value = reqwest::get(d.url("/v1/status")).await.unwrap().json().await.unwrap();
    let why = status["config_reload_refused"]["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("api_key"), "{status}");
}

/// Replace the key file in one rename, as the kubelet swaps a mounted Secret.
fn rotate(rig: &Rig, key: &str) {
    std::fs::write(rig.path("cake-key.new"), key).unwrap();
    std::fs::rename(rig.path("cake-key.new"), rig.path("cake-key")).unwrap();
}
