//! Notifications: webhooks told when a person must look. Held removals (with the exact
//! approve command), newly quarantined records, failing platforms, a source failing
//! N runs in a row, no run completed for too long.
//!
//! Built from a run's outcome (the daemon after each run, `reconcile --once` before it
//! exits), one notification per kind per run, each delivered with retries and backoff and
//! counted in `rosterd_notifications_total{outcome}`. The bodies are made from the run
//! summary's counts and messages, which never hold a secret; webhook URLs are secrets and
//! never logged (the key path `notify.webhooks[0]` is, instead).
//!
//! Not `daemon::notify`, which is systemd's sd_notify.

pub mod message;
pub mod metrics;
pub mod webhook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::notify::NotifyConfig;
use crate::records::{Quarantined, RunRecord};
pub use message::{Kind, Notification};

/// What a run came to, as the notifier sees it.
pub enum RunOutcome<'a> {
    /// The run finished and was recorded; `quarantine` is the quarantine after it.
    Finished { record: &'a RunRecord, quarantine: &'a [Quarantined] },
    /// The run failed before it could record anything; `source` when the source failed.
    Failed { error: &'a str, source: bool },
}

/// What the notifier remembers between runs. Cloned handles share it (the worker and the
/// staleness watch).
#[derive(Clone)]
pub struct Notifier {
    state: Arc<Mutex<Tracker>>,
}

struct Tracker {
    config: NotifyConfig,
    /// Runs in a row whose source read failed.
    source_failures: u32,
    /// The last run that completed (or the notifier's start).
    last_completed: DateTime<Utc>,
    /// A staleness notification went out for the current stretch.
    stale_told: bool,
}

/// Notifications ready to deliver, with the config they go out under.
pub struct Delivery {
    config: NotifyConfig,
    pub notifications: Vec<Notification>,
}

impl Notifier {
    pub fn new(config: &NotifyConfig) -> Notifier {
        let tracker =
            Tracker { config: config.clone(), source_failures: 0, last_completed: Utc::now(), stale_told: false };
        Notifier { state: Arc::new(Mutex::new(tracker)) }
    }

    /// The notifications a run calls for, under `config` (the newest, after a reload).
    pub fn after_run(&self, config: &NotifyConfig, outcome: RunOutcome<'_>) -> Delivery {
        let mut t = self.state.lock().unwrap_or_else(|p| p.into_inner());
        t.config = config.clone();
        let mut notifications = Vec::new();
        match outcome {
            RunOutcome::Finished { record, quarantine } => {
                t.source_failures = 0;
                t.last_completed = Utc::now();
                t.stale_told = false;
                notifications.extend(message::for_record(record, quarantine));
            }
            RunOutcome::Failed { error, source } => {
                t.source_failures = if source { t.source_failures.saturating_add(1) } else { 0 };
                if source && t.source_failures == t.config.source_failures {
                    notifications.push(message::source_failing(t.source_failures, error));
                }
            }
        }
        Delivery { config: t.config.clone(), notifications }
    }

    /// A staleness notification, once per stretch, when no run has completed for
    /// `notify.stale_after`.
    pub fn stale_check(&self, now: DateTime<Utc>) -> Option<Delivery> {
        let mut t = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let bound = t.config.stale_after?;
        let elapsed = (now - t.last_completed).to_std().unwrap_or_default();
        if t.stale_told || elapsed < bound || t.config.webhooks.is_empty() {
            return None;
        }
        t.stale_told = true;
        let notification = message::stale(t.last_completed, elapsed);
        Some(Delivery { config: t.config.clone(), notifications: vec![notification] })
    }

    /// Check staleness every `every` until `stop` resolves, delivering in the background.
    pub async fn watch_stale(self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {
                    if let Some(delivery) = self.stale_check(Utc::now()) {
                        tokio::spawn(delivery.send());
                    }
                }
            }
        }
    }
}

impl Delivery {
    /// Deliver every notification to every webhook (retrying with backoff); how many
    /// deliveries succeeded. Failures are logged and counted, never raised: a webhook
    /// that is down must not fail a run.
    pub async fn send(self) -> usize {
        if self.config.webhooks.is_empty() || self.notifications.is_empty() {
            return 0;
        }
        let sender = match webhook::Sender::new(&self.config) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "notifications not sent: no HTTP client");
                return 0;
            }
        };
        let mut delivered = 0;
        for notification in &self.notifications {
            for hook in &self.config.webhooks {
                if sender.deliver(hook, notification).await {
                    delivered += 1;
                }
            }
        }
        delivered
    }
}

/// The notifications of one engine run, under the engine's config: from its summary (and
/// the quarantine after it), or from its error.
pub fn after_engine_run(
    notifier: &Notifier,
    engine: &crate::reconcile::Engine,
    run: Result<&RunRecord, &crate::reconcile::EngineError>,
) -> Delivery {
    let config = &engine.config.notify;
    match run {
        Ok(record) => {
            // An unreadable quarantine only loses that notification; the run is told anyway.
            let quarantine = engine.store.quarantined().unwrap_or_default();
            notifier.after_run(config, RunOutcome::Finished { record, quarantine: &quarantine })
        }
        Err(e) => {
            let source = matches!(e, crate::reconcile::EngineError::Source(_));
            notifier.after_run(config, RunOutcome::Failed { error: &e.to_string(), source })
        }
    }
}

#[cfg(test)]
mod tests;
