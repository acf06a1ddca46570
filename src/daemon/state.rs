//! What the worker knows and the HTTP server shows: recent runs, the run in progress,
//! whether runs are failing, and the settings a reload may change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;

use crate::config::DaemonConfig;
use crate::store::RunRecord;

/// How many runs `/v1/status` lists.
pub const RECENT_RUNS: usize = 20;

/// How many quarantined records `/v1/status` lists (the count is always complete).
pub const QUARANTINE_SHOWN: usize = 100;

/// Shared by the worker (writer) and the HTTP handlers (readers). A std `Mutex`: every
/// critical section is a few field copies and none spans an `.await`.
#[derive(Debug)]
pub struct State {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    recent_runs: Vec<RunRecord>,
    running: Option<Running>,
    /// When the current streak of failed runs began; None after a run that did its job.
    failing_since: Option<Instant>,
    last_error: Option<String>,
    store_open: bool,
    stopping: bool,
    settings: Settings,
    /// Records set aside after failing for good, as the store held them after the last run.
    quarantined: Vec<crate::reconcile::journal::Quarantined>,
    /// The last config reload that was refused (the old config stays in force), until one
    /// succeeds: why, and when.
    reload_refused: Option<(String, String)>,
    progress: Arc<Progress>,
    /// Removals a guard held in recent runs and nobody has released yet.
    held: Vec<Held>,
}

/// One platform's removals held in one run, still waiting for `rosterd approve`.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub run_id: String,
    pub platform: String,
    pub removals: usize,
    /// The held steps, as `action label` (person data: only with the token).
    pub steps: Vec<String>,
    pub approve: String,
}

/// The unreleased held removals of `runs`, as the store keeps them.
pub fn held_in(store: &crate::store::Store, runs: &[RunRecord]) -> Result<Vec<Held>, crate::store::StoreError> {
    let mut held = Vec::new();
    for run in runs.iter().filter(|r| r.platforms.iter().any(|p| p.held > 0)) {
        let Some(h) = store.held_run(&run.run_id)? else { continue };
        for (platform, p) in h.platforms.iter().filter(|(_, p)| p.released.is_none() && !p.steps.is_empty()) {
            held.push(Held {
                run_id: h.run_id.clone(),
                platform: platform.clone(),
                removals: p.steps.len(),
                steps: p.steps.iter().map(|s| format!("{} {}", s.action.as_str(), s.label)).collect(),
                approve: format!("rosterd approve {} --platform {platform}", h.run_id),
            });
        }
    }
    Ok(held)
}

/// When the run in progress last moved: a step applied, or the run started. Bumped by the
/// engine's metrics context (on the worker) and read by `/healthz` and the watchdog; an
/// atomic, so the hot path of every step takes no lock.
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds after `origin`.
    last: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { origin: Instant::now(), last: AtomicU64::new(0) }
    }
}

impl Progress {
    pub fn bump(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// How long since the last bump.
    pub fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// The settings of `DaemonConfig` that take effect on a reload.
#[derive(Debug, Clone)]
pub struct Settings {
    pub trigger_token: Option<SecretString>,
    pub max_failure_age: Duration,
    pub shutdown_grace: Duration,
    pub admin_token: Option<SecretString>,
    pub stuck_after: Duration,
    pub schedule: String,
    pub timezone: String,
    pub config_loaded_at: String,
}

impl Settings {
    pub fn from(config: &DaemonConfig) -> Settings {
        Settings {
            trigger_token: config.trigger_token.clone(),
            max_failure_age: config.max_failure_age,
            shutdown_grace: config.shutdown_grace,
            admin_token: config.admin_token.clone(),
            stuck_after: config.stuck_after,
            schedule: config.schedule.clone(),
            timezone: config.timezone.name().to_string(),
            config_loaded_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Running {
    pub trigger: &'static str,
    pub started_at: String,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
}

impl State {
    /// `progress` is the one the engine's metrics context bumps.
    pub fn new(config: &DaemonConfig, recent_runs: Vec<RunRecord>, progress: Arc<Progress>) -> State {
        State {
            inner: Mutex::new(Inner {
                recent_runs,
                running: None,
                failing_since: None,
                last_error: None,
                store_open: true,
                stopping: false,
                settings: Settings::from(config),
                quarantined: Vec::new(),
                reload_refused: None,
                progress,
                held: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind: keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        self.lock().settings = settings;
    }

    pub fn run_started(&self, trigger: &'static str) {
        let mut s = self.lock();
        s.progress.bump();
        s.running = Some(Running { trigger, started_at: chrono::Utc::now().to_rfc3339() });
    }

    /// A run that recorded its outcome; `failed` when it could not do its job.
    pub fn run_recorded(&self, record: RunRecord, failed: bool) {
        let mut s = self.lock();
        s.running = None;
        s.recent_runs.insert(0, record);
        s.recent_runs.truncate(RECENT_RUNS);
        s.note_outcome(failed.then(|| "a platform could not be reconciled (see the last run)".to_string()));
    }

    /// A run that failed before recording anything (the source or the store failed).
    pub fn run_failed(&self, error: String) {
        let mut s = self.lock();
        s.running = None;
        s.note_outcome(Some(error));
    }

    /// The quarantine as the store holds it (after each run).
    pub fn set_quarantined(&self, entries: Vec<crate::reconcile::journal::Quarantined>) {
        self.lock().quarantined = entries;
    }

    /// An admin job (approve, plan, report) ended: it is not a run, so no outcome is noted.
    pub fn job_finished(&self) {
        self.lock().running = None;
    }

    /// `line` for systemd's `STATUS=`, with a refused reload said after it while one stands.
    pub fn with_reload_note(&self, line: String) -> String {
        match &self.lock().reload_refused {
            Some((why, _)) => format!("{line}; config reload refused, the old config stays in force: {why}"),
            None => line,
        }
    }

    /// A reload's outcome: `Some(why)` when it was refused, None when it took effect.
    pub fn set_reload_refused(&self, why: Option<String>) {
        self.lock().reload_refused = why.map(|w| (w, chrono::Utc::now().to_rfc3339()));
    }

    /// Some(how long) when a run is in progress and has made no progress for longer than
    /// `readiness.stuck_after_seconds`: `/healthz` fails and the watchdog pings stop.
    pub fn stuck_for(&self) -> Option<Duration> {
        let s = self.lock();
        let quiet = s.progress.quiet_for();
        (s.running.is_some() && quiet > s.settings.stuck_after).then_some(quiet)
    }

    /// The answer of `/healthz`: Err(why) when the worker is stuck.
    pub fn liveness(&self) -> Result<(), String> {
        match self.stuck_for() {
            None => Ok(()),
            Some(quiet) => Err(format!(
                "the run in progress has made no progress for {}s (readiness.stuck_after_seconds): a platform or the source holds its calls open",
                quiet.as_secs()
            )),
        }
    }

    /// The held removals as the store holds them (after each run and approval).
    pub fn set_held(&self, held: Vec<Held>) {
        self.lock().held = held;
    }

    pub fn recent_runs(&self) -> Vec<RunRecord> {
        self.lock().recent_runs.clone()
    }

    pub fn set_stopping(&self) {
        self.lock().stopping = true;
    }

    pub fn set_store_closed(&self) {
        self.lock().store_open = false;
    }

    pub fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    pub fn readiness(&self) -> Readiness {
        let s = self.lock();
        let failing_for = s.failing_since.map(|t| t.elapsed()).unwrap_or_default();
        let (ready, reason) = if s.stopping {
            (false, "stopping".to_string())
        } else if !s.store_open {
            (false, "the store is not open".to_string())
        } else if failing_for > s.settings.max_failure_age {
            let why = s.last_error.clone().unwrap_or_default();
            (false, format!("runs have been failing for {}s: {why}", failing_for.as_secs()))
        } else {
            (true, "config loaded, store open, runs not failing beyond readiness.max_failure_age_seconds".into())
        };
        Readiness { ready, reason }
    }

    /// The body of `GET /v1/status`.
    pub fn status(&self) -> serde_json::Value {
        let readiness = self.readiness();
        let liveness = self.liveness();
        let s = self.lock();
        let held_removals: usize = s.recent_runs.first().map(|r| r.platforms.iter().map(|p| p.held).sum()).unwrap_or(0);
        serde_json::json!({
            "ready": readiness.ready,
            "readiness": readiness.reason,
            "stopping": s.stopping,
            "running": s.running,
            "alive": liveness.is_ok(),
            "stuck": liveness.err(),
            "config_reload_refused": s.reload_refused.as_ref().map(|(why, at)| serde_json::json!({"error": why, "at": at})),
            "last_error": s.last_error,
            "schedule": s.settings.schedule,
            "next_run": next_run(&s.settings),
            "timezone": s.settings.timezone,
            "config_loaded_at": s.settings.config_loaded_at,
            "held_removals": held_removals,
            "held": s.held,
            // Records that failed for good: set aside, retried with growing intervals.
            "quarantined_records": s.quarantined.len(),
            "quarantine_implemented": true,
            "quarantine": s.quarantined.iter().take(QUARANTINE_SHOWN).collect::<Vec<_>>(),
            "last_runs": s.recent_runs,
        })
    }
}

/// When the schedule fires next, as RFC 3339 in UTC; None when it never fires again.
fn next_run(settings: &Settings) -> Option<String> {
    let cron = crate::config::parse_schedule(&settings.schedule).ok()?;
    let tz = settings.timezone.parse::<chrono_tz::Tz>().ok()?;
    // As the scheduler reads it (`scheduler::next_after`, which sits above this module).
    let now = chrono::Utc::now().with_timezone(&tz);
    cron.find_next_occurrence(&now, false).ok().map(|t| t.with_timezone(&chrono::Utc).to_rfc3339())
}

impl Inner {
    fn note_outcome(&mut self, error: Option<String>) {
        match error {
            Some(e) => {
                self.failing_since.get_or_insert_with(Instant::now);
                self.last_error = Some(e);
            }
            None => {
                self.failing_since = None;
                self.last_error = None;
            }
        }
    }
}

/// The status without anything that can name a person: the quarantine's entries, error
/// texts and the readiness reason (which repeats the last error) are dropped; counts stay.
pub fn without_person_data(mut status: serde_json::Value) -> serde_json::Value {
    const HIDDEN: &str = "send Authorization: Bearer <http.admin_token_file> (or <http.trigger_token_file>) for the details, or run `rosterd status` beside the daemon";
    if let Some(map) = status.as_object_mut() {
        map.remove("quarantine");
        map.remove("last_error");
        map.remove("readiness");
        map.insert("details".into(), HIDDEN.into());
    }
    let held = status.get_mut("held").and_then(serde_json::Value::as_array_mut);
    for h in held.into_iter().flatten().filter_map(serde_json::Value::as_object_mut) {
        h.remove("steps");
    }
    let runs = status.get_mut("last_runs").and_then(serde_json::Value::as_array_mut);
    for run in runs.into_iter().flatten() {
        let platforms = run.get_mut("platforms").and_then(serde_json::Value::as_array_mut);
        for p in platforms.into_iter().flatten().filter_map(serde_json::Value::as_object_mut) {
            if p.remove("error").is_some() {
                p.insert("error".into(), "(hidden)".into());
            }
        }
    }
    status
}

/// A run's outcome in one line, for `systemctl status` and the log.
pub fn summary_line(r: &RunRecord) -> String {
    let sum = |f: fn(&crate::reconcile::apply::PlatformSummary) -> usize| r.platforms.iter().map(f).sum::<usize>();
    let errors = r.platforms.iter().filter(|p| p.error.is_some()).count();
    format!(
        "last run {} ({}, {}): {} created, {} updated, {} deactivated, {} held, {} failed, {} quarantined, {} platform error(s)",
        r.run_id,
        r.trigger,
        r.result,
        sum(|p| p.created),
        sum(|p| p.updated + p.reactivated),
        sum(|p| p.deactivated),
        sum(|p| p.held),
        sum(|p| p.failed),
        sum(|p| p.quarantined),
        errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_failure_age: Duration) -> DaemonConfig {
        DaemonConfig {
            schedule: DaemonConfig::DEFAULT_SCHEDULE.into(),
            timezone: chrono_tz::UTC,
            http_listen: "127.0.0.1:0".parse().unwrap(),
            trigger_token: None,
            max_failure_age,
            shutdown_grace: Duration::from_secs(1),
            admin_token: None,
            stuck_after: Duration::from_millis(50),
        }
    }

    #[test]
    fn status_shows_the_quarantine() {
        let state = State::new(&config(Duration::from_secs(60)), vec![], Arc::default());
        assert_eq!(state.status()["quarantined_records"], 0);
        let entry = crate::reconcile::journal::Quarantined {
            platform: "cake".into(),
            person_id: "4".into(),
            label: "p4@acme.example".into(),
            action: crate::reconcile::plan::Action::Create,
            reason: "cake: HTTP 400 on create: bad".into(),
            attempts: 2,
            since: "2024-01-01T00:00:00+00:00".into(),
            last_failed: "2024-01-01T00:15:00+00:00".into(),
            next_attempt: "2024-01-01T00:30:00+00:00".into(),
        };
        state.set_quarantined(vec![entry]);
        let status = state.status();
        assert_eq!(status["quarantined_records"], 1);
        assert_eq!(status["quarantine_implemented"], true);
        assert_eq!(status["quarantine"][0]["label"], "p4@acme.example");
        assert_eq!(status["quarantine"][0]["attempts"], 2);
    }

    #[test]
    fn readiness_fails_only_after_failing_longer_than_the_bound() {
        let state = State::new(&config(Duration::from_millis(50)), vec![], Arc::default());
        assert!(state.readiness().ready);
        state.run_failed("the source is down".into());
        assert!(state.readiness().ready, "one fresh failure is within the bound");
        std::thread::sleep(Duration::from_millis(80));
        let r = state.readiness();
        assert!(!r.ready);
        assert!(r.reason.contains("the source is down"), "{}", r.reason);
        state.run_failed("still down".into());
        assert!(!state.readiness().ready, "the streak keeps its start");
        state.set_stopping();
        assert_eq!(state.readiness().reason, "stopping");
    }

    #[test]
    fn a_run_without_progress_beyond_the_bound_is_stuck_and_a_step_unsticks_it() {
        let progress = Arc::new(Progress::default());
        let state = State::new(&config(Duration::from_secs(60)), vec![], progress.clone());
        std::thread::sleep(Duration::from_millis(80));
        assert!(state.liveness().is_ok(), "no run in progress: never stuck");
        state.run_started("test");
        assert!(state.liveness().is_ok(), "a fresh run");
        std::thread::sleep(Duration::from_millis(80));
        let why = state.liveness().unwrap_err();
        assert!(why.contains("stuck_after_seconds"), "{why}");
        assert_eq!(state.status()["alive"], false);
        progress.bump();
        assert!(state.liveness().is_ok(), "a step is progress");
        std::thread::sleep(Duration::from_millis(80));
        state.run_failed("gave up".into());
        assert!(state.liveness().is_ok(), "a run that ended is not stuck");
    }

    #[test]
    fn a_refused_reload_shows_in_the_status_until_one_succeeds() {
        let state = State::new(&config(Duration::from_secs(60)), vec![], Arc::default());
        assert!(state.status()["config_reload_refused"].is_null());
        assert_eq!(state.with_reload_note("last run ok".into()), "last run ok");
        state.set_reload_refused(Some("platforms[0].kind: unknown kind".into()));
        assert_eq!(state.status()["config_reload_refused"]["error"], "platforms[0].kind: unknown kind");
        assert!(state.with_reload_note("last run ok".into()).ends_with("platforms[0].kind: unknown kind"));
        state.set_reload_refused(None);
        assert!(state.status()["config_reload_refused"].is_null());
    }
}
