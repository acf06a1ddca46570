//! Crash safety of a whole apply: the real `rosterd reconcile --once` is killed with SIGKILL
//! at random moments while it creates 500 accounts in a sandbox CAKE, 20 times, and started
//! again each time. Then it runs to completion, and the end state must be exact: 500
//! accounts and no duplicate, every account's create audited exactly once as `ok`, an
//! intact audit chain, a store that opened every time, and nothing left to do.

mod daemon_harness;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use daemon_harness::{roster, Rig, Settings};
use rand::{Rng, SeedableRng};
use rosterd::audit;

const PEOPLE: usize = 500;
const KILLS: usize = 20;
const SEED: u64 = 0x5EED_0005;

fn rosterd(config: &Path, args: &[&str], log: &Path) -> Child {
    let stderr = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(args)
        .arg("-c")
        .arg(config)
        .env("ROSTERD_LOG", "rosterd=info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("rosterd starts")
}

/// Wait for a child without blocking the runtime that serves the sandbox CAKE.
async fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "rosterd did not finish in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run a command to its end; its exit code and what it printed.
async fn run_to_end(config: &Path, args: &[&str], log: &Path) -> (i32, String) {
    let mut child = rosterd(config, args, log);
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).expect("stdout");
        s
    });
    let status = wait(&mut child, Duration::from_secs(60)).await;
    let stdout = reader.join().expect("reader");
    (status.code().expect("an exit code, not a signal"), stdout)
}

fn broken_stores(state: &Path) -> Vec<String> {
    std::fs::read_dir(state)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("store.broken"))
                .collect()
        })
        .unwrap_or_default()
}

fn emails(rig: &Rig) -> (usize, HashSet<String>) {
    let users = rig.cake.users();
    let unique = users.iter().map(|u| u.email.to_lowercase()).collect();
    (users.len(), unique)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_20_times_during_a_500_person_apply_converges_exactly_with_a_whole_audit_trail() {
    let started = Instant::now();
    let rig = Rig::start().await;
    std::fs::write(rig.path("roster.yaml"), roster(PEOPLE)).unwrap();
    let settings = Settings { concurrency: 8, ..Settings::default() };
    let text = rig.config_text(&settings);
    // 25 writes a second: the apply of 500 takes 20 s, so that each of the 20 kills (at 50 to 1500 ms
    // into its run) lands while creates are in flight. At 200 a second the whole apply took 2.5 s, and
    // after the 4th kill every run finished before its kill came.
    let slow = text.replace("per_second: 1000, burst: 100,", "per_second: 25, burst: 20,");
    assert_ne!(slow, text, "the rate limit is in the config");
    let config = rig.path("rosterd.yaml");
    std::fs::write(&config, slow).unwrap();
    let state = rig.path("state");
    let audit_path = state.join("audit.jsonl");

    // Kill it at random moments, 20 times.
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut after_kill = Vec::new();
    let mut finished_anyway = 0;
    for k in 1..=KILLS {
        let mut child = rosterd(&config, &["reconcile", "--once"], &rig.path(&format!("kill-{k}.log")));
        let delay = rng.gen_range(50..=1500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().expect("wait").is_some() {
            finished_anyway += 1;
        }
        child.kill().expect("SIGKILL");
        let status = wait(&mut child, Duration::from_secs(10)).await;
        let (accounts, unique) = emails(&rig);
        assert_eq!(accounts, unique.len(), "kill {k}: a duplicate account");
        let log = std::fs::read_to_string(rig.path(&format!("kill-{k}.log"))).unwrap_or_default();
        assert!(broken_stores(&state).is_empty(), "kill {k}: the store did not open; log:\n{log}");
        assert!(!log.contains("would not open"), "kill {k}: the store did not open; log:\n{log}");
        after_kill.push((delay, accounts, status.code()));
    }
    let killed_mid_apply = after_kill.windows(2).filter(|w| w[1].1 > w[0].1).count() + usize::from(after_kill[0].1 > 0);
    println!("kills: {KILLS} (delay ms, CAKE accounts after the kill, exit code): {after_kill:?}");
    println!("kills that landed while accounts were being created: {killed_mid_apply}; runs that finished before their kill: {finished_anyway}");
    assert!(killed_mid_apply >= KILLS / 2, "too few kills landed during the apply to test anything: {after_kill:?}");

    // Then let it finish: once, or again if a run still had something to do.
    let mut runs = 0;
    loop {
        runs += 1;
        let (code, out) =
            run_to_end(&config, &["reconcile", "--once"], &rig.path(&format!("converge-{runs}.log"))).await;
        let log = std::fs::read_to_string(rig.path(&format!("converge-{runs}.log"))).unwrap_or_default();
        if code == 0 {
            break;
        }
        assert!(runs < 3, "run {runs} exited {code}:\n{out}\nlog:\n{log}");
    }
    let (accounts, unique) = emails(&rig);
    println!("runs to converge after the last kill: {runs}; CAKE accounts: {accounts}");

    // Exactly the 500 people, each once.
    let expected: HashSet<String> = (1..=PEOPLE).map(|i| format!("p{i}@acme.example")).collect();
    assert_eq!(accounts, PEOPLE, "accounts in CAKE");
    assert_eq!(unique, expected, "one account per person, no duplicate email");

    // The audit chain is whole, per the CLI and per the library.
    let (code, out) = run_to_end(&config, &["audit", "--verify"], &rig.path("verify.log")).await;
    assert_eq!(code, 0, "audit --verify: {out}{}", std::fs::read_to_string(rig.path("verify.log")).unwrap());
    let lines = audit::verify(&audit_path).unwrap().expect("an intact chain");
    let records: Vec<audit::AuditRecord> = audit::read_records(&audit_path).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), lines);

    // Every account's create is in the trail exactly once as `ok`, with its account id.
    let mut ok_creates: BTreeMap<String, Vec<&audit::AuditRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.action == "create" && r.outcome == "ok") {
        ok_creates.entry(r.person.to_lowercase()).or_default().push(r);
    }
    let dup: Vec<_> = ok_creates.iter().filter(|(_, v)| v.len() != 1).map(|(p, v)| (p, v.len())).collect();
    assert!(dup.is_empty(), "people with more than one ok create line: {dup:?}");
    for u in rig.cake.users() {
        let lines =
            ok_creates.get(&u.email.to_lowercase()).unwrap_or_else(|| panic!("no ok create line for {}", u.email));
        assert_eq!(lines[0].account_id.as_deref(), Some(u.user_id.to_string().as_str()), "{}", u.email);
    }
    assert_eq!(ok_creates.len(), PEOPLE);
    let failed = records.iter().filter(|r| r.outcome == "failed").count();
    let found =
        records.iter().filter(|r| r.detail.as_deref().is_some_and(|d| d.contains("found on the platform"))).count();

    // Converged: the plan is empty, and a real run writes nothing.
    let (code, out) =
        run_to_end(&config, &["reconcile", "--once", "--dry-run", "--format", "json"], &rig.path("final-plan.log"))
            .await;
    assert_eq!(code, 0, "{out}");
    let run: serde_json::Value = serde_json::from_str(&out).expect("the run as one JSON document");
    let steps: usize =
        run["plan"]["platforms"].as_array().unwrap().iter().map(|p| p["steps"].as_array().unwrap().len()).sum();
    assert_eq!(steps, 0, "the final plan: {out}");
    let writes = rig.cake.write_calls();
    let (code, out) = run_to_end(&config, &["reconcile", "--once"], &rig.path("final-run.log")).await;
    assert_eq!((code, rig.cake.write_calls()), (0, writes), "{out}");
    assert!(broken_stores(&state).is_empty(), "the store was rebuilt at some point");

    println!(
        "audit lines: {lines} ({} ok creates, {failed} failed attempts, {found} resolved by reading the platform); \
         CAKE create calls: {}; elapsed: {:.1} s",
        ok_creates.len(),
        writes,
        started.elapsed().as_secs_f64()
    );
}
