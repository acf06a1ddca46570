//! The worker's third input beside triggers and admin jobs: the changes an identity
//! provider pushed (`source: push`), waiting in the store's push inbox.
//!
//! On a push the worker waits `push_flow.coalesce_millis` for the changes pushed with it,
//! takes everything pending, and reconciles those people in one targeted run
//! ([`crate::reconcile::Engine::reconcile_pushed`], which applies the push burst guard;
//! the worker's `run_push` reports it like any run).
//! Only a handled batch leaves the inbox; one that failed (a platform down) is tried again
//! with a doubling backoff. Changes pushed during a run wait for the next batch; a non-empty
//! inbox at start-up (a crash after the 2xx) is reconciled first thing. A pull-only
//! deployment never gets a push: the wait costs nothing.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use tokio::time::Instant;

use super::shutdown::Shutdown;
use crate::config::push_flow::PushFlowConfig;
use crate::reconcile::Engine;
use crate::records::Pushed;
use crate::store::PushInbox;

pub const PUSHED: &str = "rosterd_pushed_changes_total";
pub const PUSH_LATENCY: &str = "rosterd_push_latency_seconds";

/// The first wait before a failed batch is tried again; doubled each time, up to `retry_max`.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Where the worker finds batches of pushed changes, and when a failed one is tried again.
pub struct PushFeed {
    inbox: Option<PushInbox>,
    coalesce: Duration,
    retry_max: Duration,
    /// When the next batch is due regardless of a new push (start-up, or a retry).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The newest change already counted as received (a retried batch is not counted twice).
    counted_to: Option<u64>,
}

impl PushFeed {
    /// The feed of the engine's push inbox; due at once when the inbox holds changes from
    /// before the start (journaled before their 2xx, not yet reconciled).
    pub fn of(engine: &Engine) -> PushFeed {
        describe();
        let inbox = match engine.store.push_inbox() {
            Ok(inbox) => Some(inbox),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the push inbox: pushed changes wait for the scheduled runs");
                None
            }
        };
        PushFeed::new(inbox, &engine.config.push_flow)
    }

    pub fn new(inbox: Option<PushInbox>, config: &PushFlowConfig) -> PushFeed {
        let waiting = inbox.as_ref().is_some_and(|i| i.pending().map(|p| !p.is_empty()).unwrap_or(true));
        if waiting {
            tracing::info!("pushed changes from before the start wait in the inbox: reconciling them first");
        }
        PushFeed {
            inbox,
            coalesce: config.coalesce,
            retry_max: config.retry_max.max(FIRST_RETRY),
            retry_at: waiting.then(Instant::now),
            backoff: FIRST_RETRY,
            counted_to: None,
        }
    }

    /// No inbox: never due (tests of the other inputs).
    pub fn off() -> PushFeed {
        PushFeed::new(None, &PushFlowConfig::default())
    }

    /// Resolves when a batch is due: a change was pushed, or a retry's time came. While a
    /// failed batch waits for its retry, new pushes wait with it (the platform is down).
    pub async fn due(&self) {
        match (&self.inbox, self.retry_at) {
            (None, _) => std::future::pending().await,
            (Some(_), Some(at)) => tokio::time::sleep_until(at).await,
            (Some(inbox), None) => inbox.changed().await,
        }
    }

    /// Wait for the changes pushed together and take every pending one (oldest first);
    /// None when there is nothing to do (or a stop came meanwhile: the inbox keeps them).
    pub async fn take(&mut self, shutdown: &Shutdown) -> Option<Vec<Pushed>> {
        tokio::select! {
            _ = tokio::time::sleep(self.coalesce) => {}
            _ = shutdown.wait() => return None,
        }
        let inbox = self.inbox.as_ref()?;
        let batch = match inbox.pending() {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the push inbox; trying again");
                self.failed();
                return None;
            }
        };
        let Some(newest) = batch.last().map(|p| p.seq) else {
            self.retry_at = None;
            return None;
        };
        let new = batch.iter().filter(|p| self.counted_to.is_none_or(|c| p.seq > c)).count();
        counter!(PUSHED, "stage" => "received").increment(new as u64);
        self.counted_to = Some(newest);
        Some(batch)
    }

    /// The batch is handled (forget it) or not (try again after a backoff).
    pub fn finish(&mut self, batch: &[Pushed], handled: bool) {
        let Some(inbox) = self.inbox.as_ref().filter(|_| handled) else {
            return self.failed();
        };
        let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
        if let Err(e) = inbox.done(&seqs) {
            // Reconciled already: a second pass over the same people finds nothing to do.
            tracing::warn!(error = %e, "cannot clear the push inbox; its changes will be reconciled again");
        }
        let now = chrono::Utc::now();
        for p in batch {
            let waited = (now - p.at).to_std().unwrap_or_default();
            histogram!(PUSH_LATENCY).record(waited.as_secs_f64());
        }
        counter!(PUSHED, "stage" => "reconciled").increment(batch.len() as u64);
        self.retry_at = None;
        self.backoff = FIRST_RETRY;
    }

    fn failed(&mut self) {
        tracing::warn!(
            retry_in_ms = self.backoff.as_millis() as u64,
            "pushed changes not reconciled; they stay in the inbox and are tried again"
        );
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.retry_max);
    }
}

fn describe() {
    describe_counter!(PUSHED, "Pushed changes, by stage: received (taken from the inbox) and reconciled.");
    describe_histogram!(PUSH_LATENCY, Unit::Seconds, "Time from a change's push to the end of its reconcile.");
    for stage in ["received", "reconciled"] {
        counter!(PUSHED, "stage" => stage).absolute(0);
    }
}
