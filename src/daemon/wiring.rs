//! The daemon's worker wired as `rosterd run` wires it, in one place: `rosterd run`, the
//! in-process tests and the push benchmark build it here. Above both the worker and the
//! admin channel, which each import the other's types only downwards.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::admin::Admin;
use super::shutdown::Shutdown;
use super::state::State;
use super::worker::{self, EngineRuns, Reconfig, Worker};
use crate::reconcile::Engine;

/// The worker around `engine`: its trigger queue and admin channel (the [`Admin`] that
/// feeds both), the webhooks of the engine's config, and the channel that hands it
/// reloaded configs.
pub fn wire(engine: Engine, state: Arc<State>, shutdown: Shutdown) -> (Worker, Admin, mpsc::UnboundedSender<Reconfig>) {
    let (triggers, trigger_rx) = worker::channel();
    let (jobs, job_rx) = worker::jobs_channel();
    let (reconfig_tx, reconfigs) = mpsc::unbounded_channel();
    let notifier = crate::notify::Notifier::new(&engine.config.notify);
    let runs = EngineRuns { engine, reconfigs, state: state.clone(), shutdown: shutdown.clone(), notifier };
    let worker = Worker { triggers: trigger_rx, jobs: job_rx, shutdown, runs };
    (worker, Admin { state, triggers, jobs }, reconfig_tx)
}
