//! The daemon as operators run it: the real `rosterd run` binary against a sandbox CAKE,
//! driven by signals, its HTTP endpoints, a notify socket and config file swaps.

mod daemon_harness;
mod support;

use std::time::{Duration, Instant};

use daemon_harness::{field, msg, roster, time, Daemon, Rig, Settings};
use rosterd::sandbox::faults::{Fault, FaultRule};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

fn started_by(trigger: &'static str) -> impl Fn(&Value) -> bool {
    move |l| msg(l) == "run started" && field(l, "trigger") == trigger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_starts_a_run_within_a_second() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    let d = Daemon::start(&rig.write_config(&Settings::default()), &[]).await;
    let first = d.wait_runs(1).await;
    assert_eq!(field(&first, "result"), "ok", "{first}");
    assert_eq!(rig.cake_emails().len(), 3);

    let sent = chrono::Utc::now();
    d.signal("USR1");
    let started = d.wait_log(T, started_by("signal")).await;
    let latency = time(&started) - sent;
    println!("SIGUSR1 → run started: {} ms", latency.num_milliseconds());
    assert!(latency < chrono::Duration::seconds(1), "{latency}");
    assert_eq!(field(&d.wait_runs(2).await, "result"), "ok");

    // No trigger token configured: the HTTP trigger is off.
    let r = reqwest::Client::new().post(d.url("/v1/reconcile")).bearer_auth("x").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_valid_changed_config_takes_effect_on_the_next_run() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(2)).unwrap();
    std::fs::write(rig.path("roster-b.yaml"), roster(4)).unwrap();
    let d = Daemon::start(&rig.write_config(&Settings::default()), &[]).await;
    d.wait_runs(1).await;
    assert_eq!(rig.cake_emails().len(), 2);

    rig.write_config(&Settings { roster: "roster-b.yaml".into(), ..Settings::default() });
    d.signal("HUP");
    d.wait_log(T, |l| msg(l).starts_with("config reloaded") && field(l, "cause") == "SIGHUP").await;
    d.signal("USR1");
    d.wait_runs(2).await;
    assert_eq!(rig.cake_emails().len(), 4, "the new roster file is read after the reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_config_keeps_the_old_one_and_says_why() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(2)).unwrap();
    let config = rig.write_config(&Settings::default());
    let d = Daemon::start(&config, &[]).await;
    d.wait_runs(1).await;

    let broken = rig.config_text(&Settings::default()).replace("kind: cake", "kind: cakes");
    std::fs::write(&config, broken).unwrap();
    d.signal("HUP");
    let refused = d.wait_log(T, |l| msg(l).starts_with("config reload refused")).await;
    let why = field(&refused, "error");
    assert!(why.contains("platforms[0].kind") && why.contains("unknown kind \"cakes\""), "{why}");

    // A rate that once passed validation and then killed the daemon (exit 101) in the reload.
    let tiny = rig.config_text(&Settings::default()).replace("per_second: 1000,", "per_second: 1e-300,");
    std::fs::write(&config, tiny).unwrap();
    d.signal("HUP");
    let tiny_refused = |l: &Value| {
        msg(l).starts_with("config reload refused")
            && field(l, "error").contains("platforms[0].rate_limit.per_second: 1e-300 is out of range")
    };
    d.wait_log(T, tiny_refused).await;

    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    d.signal("USR1");
    let run = d.wait_runs(2).await;
    assert_eq!(field(&run, "result"), "ok", "the old config still runs: {run}");
    assert_eq!(rig.cake_emails().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_exits_0_with_every_completed_write_audited_and_the_store_reopening() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(30)).unwrap();
    // Every create takes 250 ms, two at a time: the run would take about 4 s.
    rig.cake.faults().script(FaultRule::on("create", Fault::Delay(Duration::from_millis(250))).always());
    let settings = Settings { concurrency: 2, grace_seconds: 5, ..Settings::default() };
    let d = Daemon::start(&rig.write_config(&settings), &[]).await;
    let deadline = Instant::now() + T;
    while rig.cake.users().len() < 3 {
        assert!(Instant::now() < deadline, "no account created:\n{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    d.signal("TERM");
    let status = d.wait_exit(T).await;
    let took = sent.elapsed();
    println!("SIGTERM mid-run → exit {status} after {} ms", took.as_millis());
    assert!(status.success(), "{status}:\n{}", d.log_text());
    assert!(took < Duration::from_secs(5), "{took:?}");

    let created = rig.cake_emails();
    println!("{} of 30 accounts created before the stop", created.len());
    assert!(created.len() < 30, "the run was stopped part-way ({} created)", created.len());
    let state = rig.path("state");
    let audited: Vec<String> = rosterd::audit::read_records(&state.join("audit.jsonl"))
        .unwrap()
        .map(Result::unwrap)
        .filter(|r| r.action == "create" && r.outcome == "ok")
        .map(|r| r.person)
        .collect();
    let mut audited_sorted = audited.clone();
    audited_sorted.sort();
    assert_eq!(audited_sorted, created, "every account CAKE holds has its audit line, and no more");
    assert_eq!(rosterd::audit::verify(&state.join("audit.jsonl")).unwrap(), Ok(audited.len()));

    let (store, outcome) = rosterd::store::Store::open(&state, 1 << 20).unwrap();
    assert_eq!(outcome, rosterd::store::OpenOutcome::Opened);
    assert_eq!(store.links("cake").unwrap().len(), created.len(), "a link for every account made");
    let runs = store.recent_runs(5).unwrap();
    assert_eq!(runs[0].result, "interrupted", "{runs:?}");
    assert_eq!(runs[0].platforms[0].created + runs[0].platforms[0].skipped, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_metrics_parse_and_the_trigger_needs_the_token() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(3)).unwrap();
    std::fs::write(rig.path("trigger-token"), "tok-3c9d1e\n").unwrap();
    let settings = Settings { token_file: Some("trigger-token".into()), ..Settings::default() };
    let d = Daemon::start(&rig.write_config(&settings), &[]).await;
    d.wait_runs(1).await;
    let http = reqwest::Client::new();
    let get = |p: &str| http.get(d.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);

    let trigger = |token: Option<&str>| {
        let req = http.post(d.url("/v1/reconcile"));
        match token {
            Some(t) => req.bearer_auth(t).send(),
            None => req.send(),
        }
    };
    assert_eq!(trigger(None).await.unwrap().status(), 401);
    assert_eq!(trigger(Some("tok-3c9d1")).await.unwrap().status(), 401);
    assert_eq!(trigger(Some("wrong")).await.unwrap().status(), 401);
    // The scheme is case-insensitive (RFC 7235); the refusals above were logged without the token.
    let lower = http.post(d.url("/v1/reconcile")).header("Authorization", "bearer tok-3c9d1e").send().await.unwrap();
    assert_eq!(lower.status(), 202);
    d.wait_log(T, started_by("http")).await;
    d.wait_runs(2).await;
    assert_eq!(d.count(|l| msg(l) == "HTTP request refused"), 3, "{}", d.log_text());
    assert!(!d.log_text().contains("tok-3c9d1"), "a token reached the log");
    let big = http.post(d.url("/v1/reconcile")).bearer_auth("tok-3c9d1e").body(vec![b'x'; 20_000]).send().await;
    assert_eq!(big.unwrap().status(), 413);

    // Counts for anyone; the quarantine and errors only with the token.
    let status: Value = get("/v1/status").await.unwrap().json().await.unwrap();
    assert!(status["last_runs"].as_array().is_some_and(|r| r.len() >= 2), "{status}");
    assert_eq!(status["last_runs"][0]["trigger"], "http");
    assert_eq!(status["quarantined_records"], 0);
    assert_eq!(status["held_removals"], 0);
    assert!(status.get("quarantine").is_none(), "{status}");
    let full: Value =
        http.get(d.url("/v1/status")).bearer_auth("tok-3c9d1e").send().await.unwrap().json().await.unwrap();
    assert!(full["quarantine"].is_array(), "{full}");

    let text = get("/metrics").await.unwrap().text().await.unwrap();
    let samples = prometheus_parse(&text);
    for name in [
        "rosterd_runs_total",
        "rosterd_run_duration_seconds_bucket",
        "rosterd_run_duration_seconds_count",
        "rosterd_platform_operations_total",
        "rosterd_platform_last_success_timestamp_seconds",
        "rosterd_held_removals",
        "rosterd_quarantined_records",
        "rosterd_store_size_bytes",
    ] {
        assert!(samples.iter().any(|s| s.starts_with(&format!("{name}{{")) || s == name), "{name} missing:\n{text}");
    }
    assert!(samples.contains(&r#"rosterd_runs_total{result="ok",trigger="http"}"#.to_string()), "{samples:?}");
    for reason in ["no_token", "wrong_token", "too_large"] {
        let sample = format!(r#"rosterd_http_refused_total{{endpoint="reconcile",reason="{reason}"}}"#);
        assert!(samples.contains(&sample), "{sample} missing: {samples:?}");
    }
    assert!(
        samples
            .contains(&r#"rosterd_platform_operations_total{kind="create",outcome="ok",platform="cake"}"#.to_string()),
        "{samples:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_notify_ready_status_watchdog_reloading_and_stopping_reach_the_notify_socket() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(2)).unwrap();
    let socket_path = rig.path("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_done = done.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let deadline = Instant::now() + T;
        while Instant::now() < deadline && !reader_done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(n) = socket.recv(&mut buf) {
                if tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                    return;
                }
            }
        }
    });
    let sock = socket_path.to_str().unwrap();
    let d =
        Daemon::start(&rig.write_config(&Settings::default()), &[("NOTIFY_SOCKET", sock), ("WATCHDOG_USEC", "200000")])
            .await;
    let mut notes = Notes { rx, got: Vec::new() };
    notes.wait(0, "READY=1");
    d.wait_runs(1).await;
    notes.wait(0, "STATUS=last run ");
    notes.wait(0, "WATCHDOG=1");
    let before_reload = notes.got.len();
    d.signal("HUP");
    let reloading = notes.wait(before_reload, "RELOADING=1");
    assert!(notes.got[reloading].contains("MONOTONIC_USEC="), "{}", notes.got[reloading]);
    notes.wait(reloading + 1, "READY=1");
    d.signal("TERM");
    notes.wait(0, "STOPPING=1");
    assert!(d.wait_exit(T).await.success());
    let status = notes.got.iter().flat_map(|m| m.lines()).find(|l| l.starts_with("STATUS=last run ")).unwrap();
    println!("sd_notify: {} messages; {status}", notes.got.len());
    assert!(status.contains("2 created"), "{status}");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(notes);
    reader.join().unwrap();
}

/// Datagrams received on the test's notify socket.
struct Notes {
    rx: std::sync::mpsc::Receiver<String>,
    got: Vec<String>,
}

impl Notes {
    /// Wait for a datagram at index `from` or later holding a line that starts with `want`;
    /// returns its index.
    fn wait(&mut self, from: usize, want: &str) -> usize {
        let deadline = Instant::now() + T;
        loop {
            let found = self.got.iter().skip(from).position(|m| m.lines().any(|l| l.starts_with(want)));
            if let Some(i) = found {
                return from + i;
            }
            assert!(Instant::now() < deadline, "no {want} among {:?}", self.got);
            if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.got.push(m);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_is_picked_up_without_a_signal() {
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(2)).unwrap();
    std::fs::write(rig.path("roster-b.yaml"), roster(5)).unwrap();
    // The layout the kubelet gives a mounted ConfigMap: the file is a symlink through `..data`,
    // and an update swaps `..data` to a new timestamped folder in one rename.
    let mount = rig.path("config");
    let v1 = mount.join("..2025_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join("rosterd.yaml"), rig.config_text(&Settings::default())).unwrap();
    std::os::unix::fs::symlink(v1.file_name().unwrap(), mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/rosterd.yaml", mount.join("rosterd.yaml")).unwrap();
    let d = Daemon::start(&mount.join("rosterd.yaml"), &[]).await;
    d.wait_runs(1).await;
    assert_eq!(rig.cake_emails().len(), 2);

    // The new config reads another roster and runs every second: its first scheduled run
    // shows it was loaded, with no signal and no HTTP call.
    let v2 = mount.join("..2025_01_01_00_05_00.000000002");
    std::fs::create_dir_all(&v2).unwrap();
    let every_second =
        Settings { schedule: "* * * * * *".into(), roster: "roster-b.yaml".into(), ..Settings::default() };
    std::fs::write(v2.join("rosterd.yaml"), rig.config_text(&every_second)).unwrap();
    std::os::unix::fs::symlink(v2.file_name().unwrap(), mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    let swapped = Instant::now();

    d.wait_log(T, |l| msg(l).starts_with("config reloaded") && field(l, "cause") == "the config file changed").await;
    d.wait_log(T, started_by("schedule")).await;
    let run = d.wait_nth_log(T, 1, |l| msg(l) == "run finished" && field(l, "trigger") == "schedule").await;
    println!("ConfigMap swap → scheduled run done after {} ms", swapped.elapsed().as_millis());
    assert_eq!(field(&run, "result"), "ok");
    assert_eq!(rig.cake_emails().len(), 5);
    assert_eq!(d.count(|l| msg(l).starts_with("SIGHUP") || field(l, "cause") == "SIGHUP"), 0);
}

/// Parse the exposition with the Python `prometheus-client` parser; returns every sample as
/// `name{label="value",...}` (labels sorted), or the bare name.
fn prometheus_parse(text: &str) -> Vec<String> {
    let python = match std::env::var_os("ROSTERD_TEST_PYTHON") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scim-venv/bin/python"),
    };
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}}" if labels else s.name)
"#;
    use std::io::Write;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/test.sh, which installs prometheus-client", python.display()));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus parser refused /metrics: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}
