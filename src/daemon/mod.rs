//! `rosterd run`: the daemon. Wires the parts below together and owns the order of
//! start-up and of the graceful stop; knows nothing of any platform.
//!
//! - [`control`]: the control loop, reading one stream of events (signals, config changes,
//!   schedule ticks) that the edges below produce, so it is testable in-process.
//! - [`worker`]: the single task that runs reconciles, fed by a coalescing trigger channel.
//! - [`push`]: the worker's batches of pushed changes (the store's push inbox), coalesced.
//! - [`wiring`]: the worker and its admin channel built as `rosterd run` builds them.
//! - [`scheduler`]: the cron schedule; [`signals`]: SIGUSR1 / SIGHUP / SIGTERM / SIGINT.
//! - [`reload`]: validate-then-swap config reloads, and the watch on the config file.
//! - [`http`]: health, readiness, metrics, the trigger, the status and the admin endpoints.
//! - [`admin`]: the admin channel (the socket in the state directory, and the requests the
//!   HTTP admin API shares), so `approve`, `plan`, `report` and `status` work beside the daemon.
//! - [`metrics`], [`notify`] (systemd), [`state`] (shared with HTTP), [`shutdown`].

pub mod admin;
pub mod control;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod push;
pub mod reload;
pub mod scheduler;
pub mod shutdown;
pub mod signals;
pub mod state;
pub mod wiring;
pub mod worker;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::exit;
use control::Events;
use reload::{Reloader, Seen};
use scheduler::{Clock, Schedule};
use shutdown::Shutdown;
use signals::Signals;
use state::State;
use worker::{RunError, Triggers, Worker};

/// How often the daemon checks whether a run completed within `notify.stale_after_seconds`.
const STALE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Run the daemon until SIGTERM / SIGINT; returns the process exit code.
pub async fn run(config_path: &Path) -> u8 {
    // First of all: SIGUSR1 and SIGHUP would kill a process that has not claimed them.
    let signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => return fail(exit::ERROR, format!("cannot register signal handlers: {e}")),
    };
    let seen = Seen::default();
    let config = match reload::load(config_path, &seen) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e.to_string()),
    };
    let (events_tx, events) = control::channel();
    // The edge: from here on, signals are events on the control loop's stream.
    tokio::spawn(signals.forward(events_tx.clone()));
    match Daemon::start(config, seen, events_tx).await {
        Ok((daemon, worker)) => daemon.serve(worker, events).await,
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
    /// The admin socket's server; it removes the socket file when it stops with HTTP.
    admin_socket: tokio::task::JoinHandle<()>,
    /// Stops the worker, the watch and the scheduler's triggers.
    shutdown: Shutdown,
    /// Stops HTTP, after the worker is done, so probes answer throughout the stop.
    http_stop: Shutdown,
}

impl Daemon {
    /// Start everything but the worker, which [`Daemon::serve`] drives on this task (the
    /// engine's futures borrow it, so they are not `Send` for a spawned task).
    async fn start(config: Config, seen: Seen, events: control::EventSender) -> Result<(Daemon, Worker), (u8, String)> {
        let path = config.path.clone();
        let daemon_config = config.daemon.clone();
        let prometheus = metrics::install()
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed; /metrics is unavailable"))
            .ok();
        let socket = admin::socket_path(&config.state_dir);
        let progress = Arc::new(state::Progress::default());
        let run_metrics = metrics::Prometheus { progress: progress.clone() };
        let engine =
            crate::setup::engine_with(config, Box::new(run_metrics)).map_err(|e| (exit::ERROR, e.to_string()))?;
        metrics::store_size(engine.store.size_on_disk());
        metrics::zero_platforms(engine.platforms.iter().map(|p| p.config.name.as_str()));
        tracing::info!(
            version = crate::build_info::VERSION,
            commit = crate::build_info::COMMIT,
            config = %path.display(),
            state_dir = %engine.config.state_dir.display(),
            "rosterd starting"
        );
        let scim = push_router(&engine).map_err(|e| (exit::ERROR, e))?;
        let recent = engine.store.recent_runs(state::RECENT_RUNS).map_err(|e| (exit::ERROR, e.to_string()))?;
        let state = Arc::new(State::new(&daemon_config, recent, progress));
        let listener = bind(daemon_config.http_listen).await?;
        let (shutdown, http_stop) = (Shutdown::new(), Shutdown::new());
        let (worker, admin, reconfig_tx) = wiring::wire(engine, state.clone(), shutdown.clone());
        let triggers = admin.triggers.clone();
        let stop_watch = shutdown.clone();
        let notifier = worker.runs.notifier.clone();
        tokio::spawn(notifier.watch_stale(STALE_CHECK_EVERY, async move { stop_watch.wait().await }));
        let admin_socket = admin::socket::start(socket, admin.clone(), http_stop.clone());
        let app = http::App { admin, prometheus };
        let http = tokio::spawn(http::serve(listener, app, scim, http_stop.clone()));
        let schedule = Schedule::start(&daemon_config.schedule, daemon_config.timezone, Clock::System, events.clone())
            .map_err(|e| (exit::ERROR, format!("cannot start the schedule: {e}")))?;
        tokio::spawn(reload::watch(path.clone(), seen.clone(), events, reload::WATCH_EVERY, shutdown.clone()));
        let alive = state.clone();
        notify::spawn_watchdog(move || alive.liveness());
        let reloader = Reloader {
            path,
            listen: daemon_config.http_listen,
            seen,
            schedule,
            state: state.clone(),
            reconfigs: reconfig_tx,
        };
        Ok((Daemon { state, triggers, reloader, http, admin_socket, shutdown, http_stop }, worker))
    }

    /// Run the worker beside the control loop until a stop, then finish gracefully.
    async fn serve(mut self, worker: Worker, mut events: Events) -> u8 {
        let (closed, ()) = tokio::join!(worker.run(), self.control(&mut events));
        self.finish(closed).await
    }

    /// Take events until SIGTERM / SIGINT; then stop taking triggers.
    async fn control(&mut self, events: &mut Events) {
        notify::ready("started; first run under way");
        tracing::info!(pid = std::process::id(), "rosterd is running");
        control::serve(events, &self.triggers, &mut self.reloader).await;
        tracing::info!("stopping: no new runs; a run in progress finishes its calls in flight");
        notify::stopping("stopping");
        self.state.set_stopping();
        self.shutdown.trigger();
    }

    /// After the worker flushed the store and synced the audit trail: stop the rest.
    async fn finish(self, closed: Result<(), RunError>) -> u8 {
        self.reloader.schedule.stop();
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
        let _ = self.admin_socket.await;
        code
    }
}

/// The `/scim/v2` routes when the identity provider pushes (`source.push`, alone or beside a pull source). The service provider writes through the
/// store's push inbox, never through the engine, so it takes pushes while a run is in progress.
fn push_router(engine: &crate::reconcile::Engine) -> Result<Option<axum::Router>, String> {
    let Some(settings) = engine.config.source.push_settings() else { return Ok(None) };
    let inbox = engine.store.push_inbox().map_err(|e| format!("cannot open the push inbox: {e}"))?;
    let provider = crate::source::push::Provider::new(settings.clone(), Arc::new(inbox)).map_err(|e| e.to_string())?;
    tracing::info!(path = crate::source::push::http::BASE, "serving SCIM 2.0 for the identity provider's pushes");
    Ok(Some(crate::source::push::http::router(provider)))
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
