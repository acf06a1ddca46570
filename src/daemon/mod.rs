//! `rosterd run`: the daemon. Wires the parts below together and owns the order of
//! start-up and of the graceful stop; knows nothing of any platform.
//!
//! - [`worker`]: the single task that runs reconciles, fed by a coalescing trigger channel.
//! - [`scheduler`]: the cron schedule; [`signals`]: SIGUSR1 / SIGHUP / SIGTERM / SIGINT.
//! - [`reload`]: validate-then-swap config reloads, and the watch on the config file.
//! - [`http`]: health, readiness, metrics, the trigger and the status endpoints.
//! - [`metrics`], [`notify`] (systemd), [`state`] (shared with HTTP), [`shutdown`].

pub mod http;
pub mod metrics;
pub mod notify;
pub mod reload;
pub mod scheduler;
pub mod shutdown;
pub mod signals;
pub mod state;
pub mod worker;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::exit;
use reload::{Reloader, Seen};
use scheduler::Schedule;
use shutdown::Shutdown;
use signals::{Signal, Signals};
use state::State;
use worker::{Trigger, Triggers, Worker};

/// Run the daemon until SIGTERM / SIGINT; returns the process exit code.
pub async fn run(config_path: &Path) -> u8 {
    // First of all: SIGUSR1 and SIGHUP would kill a process that has not claimed them.
    let mut signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => return fail(exit::ERROR, format!("cannot register signal handlers: {e}")),
    };
    let seen = Seen::default();
    let config = match reload::load(config_path, &seen) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    match Daemon::start(config, seen).await {
        Ok((daemon, worker)) => daemon.serve(worker, &mut signals).await,
        Err((code, e)) => fail(code, e),
    }
}

fn fail(code: u8, message: String) -> u8 {
    tracing::error!(error = %message, "rosterd cannot start");
    eprintln!("rosterd: {message}");
    code
}

/// The running parts.
struct Daemon {
    state: Arc<State>,
    triggers: Triggers,
    reloader: Reloader,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    file_changed: mpsc::Receiver<()>,
    /// Stops the worker, the watch and the scheduler's triggers.
    shutdown: Shutdown,
    /// Stops HTTP, after the worker is done, so probes answer throughout the stop.
    http_stop: Shutdown,
}

impl Daemon {
    /// Start everything but the worker, which [`Daemon::serve`] drives on this task (the
    /// engine's futures borrow it, so they are not `Send` for a spawned task).
    async fn start(config: Config, seen: Seen) -> Result<(Daemon, Worker), (u8, String)> {
        let path = config.path.clone();
        let daemon_config = config.daemon.clone();
        let prometheus = metrics::install()
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed; /metrics is unavailable"))
            .ok();
        let engine = crate::setup::engine_with(config, Box::new(metrics::Prometheus))
            .map_err(|e| (exit::ERROR, e.to_string()))?;
        metrics::store_size(engine.store.size_on_disk());
        let recent = engine.store.recent_runs(state::RECENT_RUNS).map_err(|e| (exit::ERROR, e.to_string()))?;
        let state = Arc::new(State::new(&daemon_config, recent));
        let listener = bind(daemon_config.http_listen).await?;
        let (shutdown, http_stop) = (Shutdown::new(), Shutdown::new());
        let (triggers, trigger_rx) = worker::channel();
        let (reconfig_tx, reconfigs) = mpsc::unbounded_channel();
        let worker =
            Worker { engine, triggers: trigger_rx, reconfigs, state: state.clone(), shutdown: shutdown.clone() };
        let app = http::App { state: state.clone(), triggers: triggers.clone(), prometheus };
        let http = tokio::spawn(http::serve(listener, app, http_stop.clone()));
        let schedule = Schedule::start(&daemon_config.schedule, daemon_config.timezone, triggers.clone())
            .await
            .map_err(|e| (exit::ERROR, format!("cannot start the schedule: {e}")))?;
        let (changed_tx, file_changed) = mpsc::channel(1);
        tokio::spawn(reload::watch(path.clone(), seen.clone(), changed_tx, reload::WATCH_EVERY, shutdown.clone()));
        notify::spawn_watchdog();
        let reloader = Reloader {
            path,
            listen: daemon_config.http_listen,
            seen,
            schedule,
            state: state.clone(),
            reconfigs: reconfig_tx,
        };
        Ok((Daemon { state, triggers, reloader, http, file_changed, shutdown, http_stop }, worker))
    }

    /// Run the worker beside the control loop until a stop, then finish gracefully.
    async fn serve(mut self, worker: Worker, signals: &mut Signals) -> u8 {
        let (closed, ()) = tokio::join!(worker.run(), self.control(signals));
        self.finish(closed).await
    }

    /// Take signals and file changes until SIGTERM / SIGINT; then stop taking triggers.
    async fn control(&mut self, signals: &mut Signals) {
        self.triggers.send(Trigger::Startup);
        notify::ready("started; first run under way");
        tracing::info!(pid = std::process::id(), "rosterd is running");
        loop {
            tokio::select! {
                signal = signals.recv() => match signal {
                    Signal::ReconcileNow => {
                        let sent = self.triggers.send(Trigger::Signal);
                        tracing::info!(coalesced = sent == worker::Sent::Coalesced, "SIGUSR1: reconcile requested");
                    }
                    Signal::Reload => self.reloader.reload("SIGHUP").await,
                    Signal::Stop => break,
                },
                Some(()) = self.file_changed.recv() => self.reloader.reload("the config file changed").await,
            }
        }
        tracing::info!("stopping: no new runs; a run in progress finishes its calls in flight");
        notify::stopping("stopping");
        self.state.set_stopping();
        self.shutdown.trigger();
    }

    /// After the worker flushed the store and synced the audit trail: stop the rest.
    async fn finish(self, closed: Result<(), String>) -> u8 {
        self.reloader.schedule.stop().await;
        let code = match closed {
            Ok(()) => {
                tracing::info!("store flushed and audit trail synced; stopped");
                exit::OK
            }
            Err(e) => {
                tracing::error!(error = %e, "could not make the store or the audit trail durable");
                exit::ERROR
            }
        };
        self.http_stop.trigger();
        if let Ok(Err(e)) = self.http.await {
            tracing::warn!(error = %e, "the HTTP listener failed");
        }
        code
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, (u8, String)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| (exit::ERROR, format!("cannot listen on {addr} (http.listen): {e}")))?;
    let local = listener.local_addr().unwrap_or(addr);
    if addr.ip().is_loopback() {
        tracing::info!(listen = %local, "HTTP listening on loopback");
    } else {
        tracing::warn!(listen = %local, "HTTP listening beyond loopback, as http.listen says: keep it behind a network policy or firewall");
    }
    Ok(listener)
}
