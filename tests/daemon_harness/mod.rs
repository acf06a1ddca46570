//! Drives the real `rosterd run` binary for the daemon tests: a temporary folder with a
//! config, a roster file and a key, a sandbox CAKE in the test process, the daemon's JSON
//! log read back line by line, and the process killed on drop whatever happens.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use serde_json::Value;
use tempfile::TempDir;

pub const CAKE_KEY: &str = "cake-key-DAEMON-6a1f";
/// Never fires during a test (midnight, 1 January): runs come only from the test's triggers.
pub const NEVER: &str = "0 0 0 1 1 *";

/// A roster file of people `1..=n` (the test binary declares `mod support;` beside this).
pub fn roster(n: usize) -> String {
    crate::support::people::roster(crate::support::people::people(n))
}

/// What a config for the daemon tests says.
#[derive(Debug, Clone)]
pub struct Settings {
    pub schedule: String,
    pub roster: String,
    pub token_file: Option<String>,
    pub concurrency: usize,
    pub grace_seconds: u64,
    /// `http.admin_token_file`, relative to the rig's folder.
    pub admin_token_file: Option<String>,
    pub stuck_after_seconds: Option<u64>,
    /// `safety.max_removals.count`.
    pub max_removals: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schedule: NEVER.into(),
            roster: "roster.yaml".into(),
            token_file: None,
            concurrency: 4,
            grace_seconds: 10,
            admin_token_file: None,
            stuck_after_seconds: None,
            max_removals: 1000,
        }
    }
}

pub struct Rig {
    pub dir: TempDir,
    pub cake: CakeSandbox,
}

impl Rig {
    pub async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("CAKE");
        std::fs::write(dir.path().join("cake-key"), CAKE_KEY).expect("key file");
        Rig { dir, cake }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config text; every path in it is absolute so it works from any folder.
    pub fn config_text(&self, s: &Settings) -> String {
        let token = s.token_file.as_ref().map(|f| format!(", trigger_token_file: {}", self.path(f).display()));
        let admin = s.admin_token_file.as_ref().map(|f| format!(", admin_token_file: {}", self.path(f).display()));
        let stuck = s.stuck_after_seconds.map(|n| format!("readiness: {{ stuck_after_seconds: {n} }}\n"));
        format!(
            "state_dir: {state}\nschedule: \"{schedule}\"\nhttp: {{ listen: \"127.0.0.1:0\"{token}{admin} }}\n{stuck}\
             shutdown_grace_seconds: {grace}\nsource:\n  file: {{ path: {roster} }}\n\
             safety:\n  max_removals: {{ count: {max_removals}, percent: 100 }}\nplatforms:\n  - name: cake\n    kind: cake\n\
             \x20   base_url: \"{url}\"\n    api_key_file: {key}\n    roles: [ {{ role: Account Manager }} ]\n\
             \x20   rate_limit: {{ per_second: 1000, burst: 100, concurrency: {c} }}\n",
            state = self.path("state").display(),
            schedule = s.schedule,
            token = token.unwrap_or_default(),
            admin = admin.unwrap_or_default(),
            stuck = stuck.unwrap_or_default(),
            max_removals = s.max_removals,
            grace = s.grace_seconds,
            roster = self.path(&s.roster).display(),
            url = self.cake.base_url(),
            key = self.path("cake-key").display(),
            c = s.concurrency,
        )
    }

    pub fn write_config(&self, s: &Settings) -> PathBuf {
        let path = self.path("rosterd.yaml");
        std::fs::write(&path, self.config_text(s)).expect("config");
        path
    }

    /// Run `rosterd <args> -c rosterd.yaml` (the command line an operator types beside the
    /// daemon); its exit code and stdout, stderr.
    pub fn rosterd(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
            .args(args)
            .arg("-c")
            .arg(self.path("rosterd.yaml"))
            .env("ROSTERD_LOG", "rosterd=warn")
            .env("ROSTERD_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .output()
            .expect("rosterd runs");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
    }

    pub fn cake_emails(&self) -> Vec<String> {
        let mut e: Vec<String> = self.cake.users().into_iter().map(|u| u.email).collect();
        e.sort();
        e
    }
}

/// A running `rosterd run`, killed on drop.
pub struct Daemon {
    child: std::sync::Mutex<Child>,
    log: PathBuf,
    pub port: u16,
    pid: u32,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Daemon {
    /// Start `rosterd run -c config` and wait until it serves HTTP.
    pub async fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = config.with_file_name(format!("daemon-{}.log", rand_suffix()));
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosterd"));
        cmd.args(["run", "-c"])
            .arg(config)
            .env("ROSTERD_LOG_FORMAT", "json")
            .env("ROSTERD_LOG", "rosterd=debug")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("rosterd starts");
        let pid = child.id();
        let mut d = Daemon { child: std::sync::Mutex::new(child), log, port: 0, pid };
        let line = d.wait_log(Duration::from_secs(20), |l| msg(l) == "HTTP listening on loopback").await;
        let listen = field(&line, "listen");
        d.port = listen.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the log");
        d
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn try_wait(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).try_wait().expect("wait")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status().expect("kill");
        assert!(ok.success(), "kill -{name} failed");
    }

    /// Every JSON line the daemon logged so far.
    pub fn logs(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn count(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.logs().iter().filter(|l| pred(l)).count()
    }

    /// Wait for a log line matching `pred`; panics with the log after `timeout`.
    pub async fn wait_log(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_nth_log(timeout, 1, pred).await
    }

    /// Wait until `n` lines match `pred`; returns the n-th.
    pub async fn wait_nth_log(&self, timeout: Duration, n: usize, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.logs().into_iter().filter(|l| pred(l)).nth(n - 1) {
                return l;
            }
            if let Some(status) = self.try_wait() {
                panic!("rosterd exited ({status}) while waiting; log:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "timed out waiting for a log line; log:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait for the process to exit.
    pub async fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "rosterd did not exit; log:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until `n` runs have finished (any result) and return the n-th's log line.
    pub async fn wait_runs(&self, n: usize) -> Value {
        self.wait_nth_log(Duration::from_secs(30), n, |l| msg(l) == "run finished").await
    }
}

fn rand_suffix() -> u32 {
    std::process::id() ^ (Instant::now().elapsed().subsec_nanos()) ^ rand_u32()
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

/// The message of a log line.
pub fn msg(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

/// A field of a log line, as text.
pub fn field(line: &Value, name: &str) -> String {
    match &line["fields"][name] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// The log line's time.
pub fn time(line: &Value) -> chrono::DateTime<chrono::Utc> {
    let t = line["timestamp"].as_str().expect("a timestamp");
    chrono::DateTime::parse_from_rfc3339(t).expect("an RFC 3339 timestamp").with_timezone(&chrono::Utc)
}
