//! What the worker knows and the HTTP server shows: recent runs, the run in progress,
//! whether runs are failing, and the settings a reload may change.

use std::sync::{Mutex, MutexGuard};
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
}

/// The settings of `DaemonConfig` that take effect on a reload.
#[derive(Debug, Clone)]
pub struct Settings {
    pub trigger_token: Option<SecretString>,
    pub max_failure_age: Duration,
    pub shutdown_grace: Duration,
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
    pub fn new(config: &DaemonConfig, recent_runs: Vec<RunRecord>) -> State {
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
        self.lock().running = Some(Running { trigger, started_at: chrono::Utc::now().to_rfc3339() });
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
        let s = self.lock();
        let held_removals: usize = s.recent_runs.first().map(|r| r.platforms.iter().map(|p| p.held).sum()).unwrap_or(0);
        serde_json::json!({
            "ready": readiness.ready,
            "readiness": readiness.reason,
            "stopping": s.stopping,
            "running": s.running,
            "last_error": s.last_error,
            "schedule": s.settings.schedule,
            "timezone": s.settings.timezone,
            "config_loaded_at": s.settings.config_loaded_at,
            "held_removals": held_removals,
            // Records that failed for good: set aside, retried with growing intervals.
            "quarantined_records": s.quarantined.len(),
            "quarantine_implemented": true,
            "quarantine": s.quarantined.iter().take(QUARANTINE_SHOWN).collect::<Vec<_>>(),
            "last_runs": s.recent_runs,
        })
    }
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
        }
    }

    #[test]
    fn status_shows_the_quarantine() {
        let state = State::new(&config(Duration::from_secs(60)), vec![]);
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
        let state = State::new(&config(Duration::from_millis(50)), vec![]);
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
}
