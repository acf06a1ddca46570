//! Reloading the config (SIGHUP, or the file's content changed): validate everything first,
//! keep the old config on any error, and hand a valid one to the worker for its next run.
//! Also the watch on the config file, which catches a Kubernetes ConfigMap update (a
//! symlink swap) by polling the content's hash: robust where inotify on symlinks is not.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::control::{Event, EventSender, Reload};
use super::scheduler::{Schedule, ScheduleError};
use super::shutdown::Shutdown;
use super::state::{Settings, State};
use super::worker::Reconfig;
use super::{metrics, notify};
use crate::config::{Config, ConfigError};
use crate::platform::PlatformError;
use crate::reconcile::{EngineError, PlatformRuntime};

/// How often the config file's content is checked.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

type Hash = [u8; 32];

/// The hash of the config text last loaded (or refused): the watch fires only on new content.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Option<Hash>>>);

impl Seen {
    /// Record `hash`; true when it differs from the one seen before.
    fn update(&self, hash: Hash) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.replace(hash) != Some(hash)
    }
}

fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Why a reload (or the first load) was refused; the old config stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read, is not text, or does not validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Source(#[from] EngineError),
    #[error("platform {platform}: {source}")]
    Platform { platform: String, source: PlatformError },
    #[error("schedule: {0}")]
    Schedule(#[from] ScheduleError),
    #[error("the worker has stopped")]
    WorkerStopped,
}

/// Everything a reload touches.
pub struct Reloader {
    pub path: PathBuf,
    pub listen: std::net::SocketAddr,
    pub seen: Seen,
    pub schedule: Schedule,
    pub state: Arc<State>,
    pub reconfigs: mpsc::UnboundedSender<Reconfig>,
}

impl Reload for Reloader {
    /// Reload now; `cause` says why (`SIGHUP`, `file changed`). Logs the outcome once.
    async fn reload(&mut self, cause: &str) {
        notify::reloading();
        match self.try_reload().await {
            Ok(()) => {
                tracing::info!(cause, file = %self.path.display(), "config reloaded; it applies from the next run");
                metrics::reload(true);
            }
            Err(e) => {
                tracing::error!(cause, file = %self.path.display(), error = %e, "config reload refused; the old config stays in force");
                metrics::reload(false);
            }
        }
        notify::ready("running");
    }
}

impl Reloader {
    async fn try_reload(&mut self) -> Result<(), ReloadError> {
        let reconfig = build(load(&self.path, &self.seen)?)?;
        let daemon = &reconfig.config.daemon;
        self.schedule.reschedule(&daemon.schedule, daemon.timezone)?;
        if daemon.http_listen != self.listen {
            tracing::warn!(listening = %self.listen, configured = %daemon.http_listen, "http.listen changes when rosterd restarts");
        }
        self.state.set_settings(Settings::from(daemon));
        self.reconfigs.send(reconfig).map_err(|_| ReloadError::WorkerStopped)
    }
}

/// Read and validate the config file, noting its content as seen by the watch.
pub fn load(path: &Path, seen: &Seen) -> Result<Config, ConfigError> {
    let fail = |message: String| ConfigError {
        file: path.to_path_buf(),
        problems: vec![crate::config::Problem { path: "(file)".into(), message }],
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    seen.update(hash(&bytes));
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    Config::parse(&text, path).map_err(|problems| ConfigError { file: path.to_path_buf(), problems })
}

/// Build the source and connectors of a validated config, as `setup::engine` does, without
/// opening a second store.
pub fn build(config: Config) -> Result<Reconfig, ReloadError> {
    let source = crate::setup::source(&config.source)?;
    let mut platforms = Vec::new();
    for p in config.platforms.iter().filter(|p| p.enabled) {
        let connector =
            crate::setup::connector(p).map_err(|source| ReloadError::Platform { platform: p.name.clone(), source })?;
        platforms.push(PlatformRuntime { config: p.clone(), connector });
    }
    Ok(Reconfig { config, source, platforms })
}

/// Poll the config file; send [`Event::ConfigChanged`] when its content differs from what
/// was last seen. A file that is briefly missing (mid-swap) is skipped, not reported.
pub async fn watch(path: PathBuf, seen: Seen, changed: EventSender, every: Duration, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait() => return,
        }
        if content_changed(&path, &seen) {
            // A full queue holds events enough to reload anyway, so this one may go.
            let _ = changed.try_send(Event::ConfigChanged);
        }
    }
}

fn content_changed(path: &Path, seen: &Seen) -> bool {
    std::fs::read(path).map(|bytes| seen.update(hash(&bytes))).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_fires_once_per_new_content_and_follows_symlink_swaps() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("..v1"), dir.path().join("..v2"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("rosterd.yaml"), "one").unwrap();
        std::fs::write(b.join("rosterd.yaml"), "two").unwrap();
        std::os::unix::fs::symlink("..v1", dir.path().join("..data")).unwrap();
        let file = dir.path().join("rosterd.yaml");
        std::os::unix::fs::symlink("..data/rosterd.yaml", &file).unwrap();
        let seen = Seen::default();
        assert!(content_changed(&file, &seen), "first sight");
        assert!(!content_changed(&file, &seen));
        std::os::unix::fs::symlink("..v2", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        assert!(content_changed(&file, &seen), "the swap is new content");
        assert!(!content_changed(&file, &seen));
    }
}
