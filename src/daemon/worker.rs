//! The one worker that runs reconciles, and the trigger channel that feeds it.
//!
//! Every trigger (start-up, cron, SIGUSR1, HTTP) goes through a channel of capacity one
//! that this single task reads: a run in progress plus at most one queued, never two runs
//! at once, and a burst of triggers collapses into one more run.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::shutdown::Shutdown;
use super::state::{summary_line, State};
use super::{metrics, notify};
use crate::reconcile::{Engine, PlatformRuntime};
use crate::source::Source;

/// Why a run starts; a bounded label for logs, metrics and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Schedule,
    Signal,
    Http,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Schedule => "schedule",
            Trigger::Signal => "signal",
            Trigger::Http => "http",
        }
    }
}

/// What happened to a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A run will start for it.
    Queued,
    /// A run was already queued; this trigger is folded into it.
    Coalesced,
    /// The daemon is stopping.
    Closed,
}

/// The sending side, cloned into every trigger source.
#[derive(Debug, Clone)]
pub struct Triggers(mpsc::Sender<Trigger>);

impl Triggers {
    pub fn send(&self, trigger: Trigger) -> Sent {
        match self.0.try_send(trigger) {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Sent::Coalesced,
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Closed,
        }
    }
}

pub fn channel() -> (Triggers, mpsc::Receiver<Trigger>) {
    let (tx, rx) = mpsc::channel(1);
    (Triggers(tx), rx)
}

/// A validated config, with its source and connectors built, waiting for the next run.
pub struct Reconfig {
    pub config: crate::config::Config,
    pub source: Box<dyn Source>,
    pub platforms: Vec<PlatformRuntime>,
}

/// The worker: owns the engine (and so the store's lock and the audit file).
pub struct Worker {
    pub engine: Engine,
    pub triggers: mpsc::Receiver<Trigger>,
    pub reconfigs: mpsc::UnboundedReceiver<Reconfig>,
    pub state: Arc<State>,
    pub shutdown: Shutdown,
}

impl Worker {
    /// Run until the stop; then make the store and the audit trail durable.
    pub async fn run(mut self) -> Result<(), String> {
        self.publish_quarantine();
        loop {
            let trigger = tokio::select! {
                biased;
                _ = self.shutdown.wait() => break,
                t = self.triggers.recv() => match t { Some(t) => t, None => break },
            };
            self.take_reconfigs();
            self.run_once(trigger).await;
            if self.shutdown.is_triggered() {
                break;
            }
        }
        // No trigger is taken from here on; a queued one is dropped with the channel.
        self.triggers.close();
        let closed = self.engine.close().map_err(|e| e.to_string());
        self.state.set_store_closed();
        closed
    }

    /// Swap in the newest validated config (a reload between runs).
    fn take_reconfigs(&mut self) {
        while let Ok(r) = self.reconfigs.try_recv() {
            for note in self.engine.reconfigure(r.config, r.source, r.platforms) {
                tracing::warn!(note, "part of the new config waits for a restart");
            }
        }
    }

    async fn run_once(&mut self, trigger: Trigger) {
        let label = trigger.as_str();
        tracing::info!(trigger = label, "run started");
        self.state.run_started(label);
        notify::status(&format!("reconciling (trigger: {label})"));
        let started = Instant::now();
        let outcome = self.reconcile_until_stop(label).await;
        let took = started.elapsed();
        match outcome {
            Some(Ok(record)) => {
                let line = summary_line(&record);
                tracing::info!(run_id = %record.run_id, trigger = label, result = %record.result, took_ms = took.as_millis() as u64, summary = %line, "run finished");
                metrics::run_finished(label, record.result.as_str(), took, Some(&record));
                let failed = record.platforms.iter().any(|p| p.error.is_some());
                self.state.run_recorded(record, failed);
                notify::status(&line);
            }
            Some(Err(e)) => {
                tracing::error!(trigger = label, error = %e, took_ms = took.as_millis() as u64, "run failed");
                metrics::run_finished(label, "error", took, None);
                notify::status(&format!("last run failed ({label}): {e}"));
                self.state.run_failed(e);
            }
            None => {
                tracing::warn!(trigger = label, "run abandoned: calls still in flight after shutdown_grace_seconds");
                metrics::run_finished(label, "interrupted", took, None);
                self.state.run_failed("the last run was abandoned at shutdown".into());
            }
        }
        metrics::store_size(self.engine.store.size_on_disk());
        self.publish_quarantine();
    }

    /// The quarantine, for `/v1/status` and the metrics.
    pub fn publish_quarantine(&self) {
        match self.engine.store.quarantined() {
            Ok(entries) => {
                metrics::quarantined(entries.len());
                self.state.set_quarantined(entries);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the quarantine"),
        }
    }

    /// One run. On a stop, no new step starts and the steps already calling a platform get
    /// `shutdown_grace` to finish; None when they did not.
    async fn reconcile_until_stop(&self, trigger: &'static str) -> Option<Result<crate::store::RunRecord, String>> {
        let run = self.engine.reconcile(trigger, false);
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => r,
            _ = self.shutdown.wait() => {
                let grace = self.state.settings().shutdown_grace;
                tracing::info!(grace_seconds = grace.as_secs(), "stopping: no new steps; calls in flight may finish");
                self.engine.stop_new_steps();
                tokio::time::timeout(grace, &mut run).await.ok()?
            }
        };
        Some(match result {
            Ok((_, Some(summary))) => Ok(summary.record),
            Ok((plan, None)) => Err(format!("run {} planned but not applied", plan.run_id)),
            Err(e) => Err(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_queued_trigger_at_most_the_rest_coalesce() {
        let (tx, mut rx) = channel();
        let sent: Vec<Sent> = (0..10).map(|_| tx.send(Trigger::Signal)).collect();
        assert_eq!(sent[0], Sent::Queued);
        assert!(sent[1..].iter().all(|s| *s == Sent::Coalesced));
        assert_eq!(rx.try_recv().ok(), Some(Trigger::Signal));
        assert!(rx.try_recv().is_err());
        rx.close();
        assert_eq!(tx.send(Trigger::Http), Sent::Closed);
    }
}
