//! The one worker that runs reconciles, and the trigger channel that feeds it.
//!
//! Every trigger (start-up, cron, SIGUSR1, HTTP) goes through a channel of capacity one
//! that this single task reads: a run in progress plus at most one queued, never two runs
//! at once, and a burst of triggers collapses into one more run. Between runs it also takes
//! the admin channel's [`Job`]s (approve, plan, report), so they work under the daemon's
//! store lock, never beside a run, and the batches of pushed changes ([`super::push`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use super::push::PushFeed;
use super::shutdown::Shutdown;
use super::state::{summary_line, State};
use super::{metrics, notify};
use crate::reconcile::{Engine, EngineError, PlatformRuntime};
use crate::source::Source;

/// Why a run starts; a bounded label for logs, metrics and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Schedule,
    Signal,
    Http,
    /// `rosterd reconcile` through the admin socket.
    Admin,
    /// A batch of changes an identity provider pushed (`source: push`).
    Push,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Schedule => "schedule",
            Trigger::Signal => "signal",
            Trigger::Http => "http",
            Trigger::Admin => "admin",
            Trigger::Push => "push",
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

/// Work the admin channel hands the worker: it gets the engine between runs. The future it
/// makes runs on the worker's task (the engine's futures are not `Send`); it answers its
/// caller itself.
pub type Job = Box<dyn for<'a> FnOnce(&'a Engine) -> futures::future::LocalBoxFuture<'a, ()> + Send>;

/// The admin channel's sending side; jobs wait there while a run is in progress.
pub type Jobs = mpsc::Sender<Job>;

/// Jobs waiting for the worker (a caller finds the queue full and is told to retry).
const JOBS_QUEUED: usize = 8;

pub fn jobs_channel() -> (Jobs, mpsc::Receiver<Job>) {
    mpsc::channel(JOBS_QUEUED)
}

/// A validated config, with its source and connectors built, waiting for the next run.
pub struct Reconfig {
    pub config: crate::config::Config,
    pub source: Box<dyn Source>,
    pub platforms: Vec<PlatformRuntime>,
}

/// Why a run gave no record, or the worker could not close; said in `/v1/status` and the log.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("run {0} planned but not applied")]
    NotApplied(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What the worker loop drives: the daemon's engine ([`Worker`]), or a fake in tests.
pub trait Runner {
    /// One run for `trigger`. A stop given meanwhile is the runner's to honour
    /// (see [`until_stop`]); the loop starts no run after it.
    fn run(&mut self, trigger: Trigger) -> impl Future<Output = ()>;
    /// One admin job, between runs.
    fn serve(&mut self, job: Job) -> impl Future<Output = ()>;
    /// One batch of pushed changes (oldest first; a person may come more than once): true
    /// when it is handled (reconciled, held by a guard, or nothing to do), false when it
    /// failed and must be tried again.
    fn push(&mut self, batch: &[crate::records::Pushed]) -> impl Future<Output = bool>;
    /// After the last run: make everything durable.
    fn close(&mut self) -> Result<(), RunError>;
}

/// The worker loop: one run per trigger taken from the queue, the admin jobs and the
/// batches of pushed changes between runs, until the stop; then close. A trigger or a job
/// still queued at the stop is dropped with its queue (a dropped job's caller is told that
/// rosterd is stopping); pushed changes stay in the store's inbox for the next start.
pub async fn drive(
    runner: &mut impl Runner,
    triggers: &mut mpsc::Receiver<Trigger>,
    jobs: &mut mpsc::Receiver<Job>,
    pushes: &mut PushFeed,
    shutdown: &Shutdown,
) -> Result<(), RunError> {
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some(job) = jobs.recv() => runner.serve(job).await,
            t = triggers.recv() => match t {
                Some(t) => runner.run(t).await,
                None => break,
            },
            () = pushes.due() => {
                if let Some(batch) = pushes.take(shutdown).await {
                    let handled = runner.push(&batch).await;
                    pushes.finish(&batch, handled);
                }
            }
        }
        if shutdown.is_triggered() {
            break;
        }
    }
    triggers.close();
    jobs.close();
    runner.close()
}

/// Await `run`. On a stop, `on_stop` is called (to start no new step) and returns how
/// long the steps already calling a platform may still take; None when they took longer.
pub async fn until_stop<F: Future>(
    run: F,
    shutdown: &Shutdown,
    on_stop: impl FnOnce() -> Duration,
) -> Option<F::Output> {
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => Some(r),
        _ = shutdown.wait() => {
            let grace = on_stop();
            tracing::info!(grace_seconds = grace.as_secs(), "stopping: no new steps; calls in flight may finish");
            tokio::time::timeout(grace, &mut run).await.ok()
        }
    }
}

/// The daemon's worker: the trigger queue and the engine runs it feeds.
pub struct Worker {
    pub triggers: mpsc::Receiver<Trigger>,
    pub jobs: mpsc::Receiver<Job>,
    pub shutdown: Shutdown,
    pub runs: EngineRuns,
}

impl Worker {
    /// Run until the stop; then make the store and the audit trail durable.
    pub async fn run(mut self) -> Result<(), RunError> {
        self.runs.publish_quarantine();
        let mut pushes = PushFeed::of(&self.runs.engine);
        drive(&mut self.runs, &mut self.triggers, &mut self.jobs, &mut pushes, &self.shutdown).await
    }
}

/// Runs on the engine (which owns the store's lock and the audit file).
pub struct EngineRuns {
    pub engine: Engine,
    pub reconfigs: mpsc::UnboundedReceiver<Reconfig>,
    pub state: Arc<State>,
    pub shutdown: Shutdown,
    /// Tells the webhooks (`notify:`) what each run calls for.
    pub notifier: crate::notify::Notifier,
}

impl Runner for EngineRuns {
    async fn run(&mut self, trigger: Trigger) {
        self.take_reconfigs();
        self.run_once(trigger).await;
    }

    /// An admin job on the newest config; a stop meanwhile gives it `shutdown_grace`.
    async fn serve(&mut self, job: Job) {
        self.take_reconfigs();
        // Watched for progress like a run: an approve can hang on a platform too.
        self.state.run_started(Trigger::Admin.as_str());
        let done = self.until_stop(job(&self.engine)).await;
        if done.is_none() {
            tracing::warn!("admin request abandoned: calls still in flight after shutdown_grace_seconds");
        }
        self.state.job_finished();
        self.publish_quarantine();
    }

    async fn push(&mut self, batch: &[crate::records::Pushed]) -> bool {
        self.take_reconfigs();
        self.run_push(batch).await
    }

    fn close(&mut self) -> Result<(), RunError> {
        let closed = self.engine.close().map_err(RunError::from);
        self.state.set_store_closed();
        closed
    }
}

impl EngineRuns {
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
        self.report(label, started.elapsed(), outcome);
    }

    /// Tell the log, the metrics, the state, systemd and the webhooks how a run ended.
    fn report(&self, label: &'static str, took: Duration, outcome: Option<Result<crate::store::RunRecord, RunError>>) {
        self.notify(&outcome);
        match outcome {
            Some(Ok(record)) => {
                let line = summary_line(&record);
                tracing::info!(run_id = %record.run_id, trigger = label, result = %record.result, took_ms = took.as_millis() as u64, summary = %line, "run finished");
                metrics::run_finished(label, record.result.as_str(), took, Some(&record));
                let failed = record.platforms.iter().any(|p| p.error.is_some());
                self.state.run_recorded(record, failed);
                notify::status(&self.state.with_reload_note(line));
            }
            Some(Err(e)) => {
                tracing::error!(trigger = label, error = %e, took_ms = took.as_millis() as u64, "run failed");
                metrics::run_finished(label, "error", took, None);
                notify::status(&self.state.with_reload_note(format!("last run failed ({label}): {e}")));
                self.state.run_failed(e.to_string());
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

    /// One targeted run over a batch of pushed changes, reported like any run (log,
    /// metrics, `/v1/status`, webhooks: a burst held is told as held removals are).
    async fn run_push(&self, batch: &[crate::records::Pushed]) -> bool {
        let label = Trigger::Push.as_str();
        tracing::info!(trigger = label, changes = batch.len(), "pushed changes: reconciling their people");
        self.state.run_started(label);
        let started = Instant::now();
        let policy = self.engine.config.push_flow.burst;
        let (handled, outcome) = match self.until_stop(self.engine.reconcile_pushed(batch, &policy, label)).await {
            Some(Ok(crate::reconcile::PeopleRun { summary: Some(summary), .. })) => {
                (converged(&summary.record), Some(Ok(summary.record)))
            }
            Some(Ok(crate::reconcile::PeopleRun { summary: None, .. })) => {
                // Nobody the batch names is known at the source: no run, nothing to report.
                self.state.job_finished();
                return true;
            }
            Some(Err(e)) => (false, Some(Err(e.into()))),
            None => (false, None),
        };
        self.report(label, started.elapsed(), outcome);
        handled
    }

    /// Hand the run's notifications to a background delivery (retries must not hold up the worker).
    fn notify(&self, outcome: &Option<Result<crate::store::RunRecord, RunError>>) {
        let run = match outcome {
            Some(Ok(record)) => Ok(record),
            Some(Err(RunError::Engine(e))) => Err(e),
            _ => return,
        };
        let delivery = crate::notify::after_engine_run(&self.notifier, &self.engine, run);
        tokio::spawn(delivery.send());
    }

    /// The quarantine and the held removals, for `/v1/status` and the metrics.
    pub fn publish_quarantine(&self) {
        match self.engine.store.quarantined() {
            Ok(entries) => {
                metrics::quarantined(entries.len());
                self.state.set_quarantined(entries);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the quarantine"),
        }
        match super::state::held_in(&self.engine.store, &self.state.recent_runs()) {
            Ok(held) => self.state.set_held(held),
            Err(e) => tracing::warn!(error = %e, "could not read the held removals"),
        }
    }

    /// Await `work`; on a stop, no new step starts and the steps already calling a platform
    /// get `shutdown_grace` to finish; None when they did not.
    async fn until_stop<F: Future>(&self, work: F) -> Option<F::Output> {
        until_stop(work, &self.shutdown, || {
            self.engine.stop_new_steps();
            self.state.settings().shutdown_grace
        })
        .await
    }

    /// One run. On a stop, no new step starts and the steps already calling a platform get
    /// `shutdown_grace` to finish; None when they did not.
    async fn reconcile_until_stop(&self, trigger: &'static str) -> Option<Result<crate::store::RunRecord, RunError>> {
        let run = self.engine.reconcile(trigger, false);
        let result = self.until_stop(run).await?;
        Some(match result {
            Ok((_, Some(summary))) => Ok(summary.record),
            Ok((plan, None)) => Err(RunError::NotApplied(plan.run_id)),
            Err(e) => Err(e.into()),
        })
    }
}

/// Whether a push run did its job: every platform planned and no step failed. A held step
/// is done (the guard keeps its own record for approval); a failed one is tried again.
fn converged(record: &crate::store::RunRecord) -> bool {
    record.platforms.iter().all(|p| p.error.is_none() && p.failed == 0)
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
