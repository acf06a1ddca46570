//! Reloading the config (SIGHUP, or the file's content changed): validate everything first,
//! keep the old config on any error, and hand a valid one to the worker for its next run.
//! Also the watch on the config file, which catches a Kubernetes ConfigMap update (a
//! symlink swap) by polling the content's hash: robust where inotify on symlinks is not.
//! The secret files the config names (`*_file` keys) are watched the same way, so a rotated
//! Kubernetes Secret or credentials file is read again, by a reload, before the next run.

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

/// What the watch compares: the config text last loaded (or refused), and the secret files
/// of the config last loaded, with their content.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Watched>>);

#[derive(Debug, Default)]
struct Watched {
    config: Option<Hash>,
    secret_files: Vec<PathBuf>,
    secrets: Option<Hash>,
}

/// What changed since the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Config,
    Secret,
}

impl Seen {
    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record the config text's `hash`; true when it differs from the one seen before.
    fn update(&self, hash: Hash) -> bool {
        self.lock().config.replace(hash) != Some(hash)
    }

    /// Watch the secret files of a config just loaded, as they read now.
    fn watch_secrets(&self, files: Vec<PathBuf>) {
        let secrets = secrets_hash(&files);
        let mut seen = self.lock();
        seen.secret_files = files;
        seen.secrets = secrets;
    }

    /// Record the secret files' content now; true when it differs from what was seen. A
    /// file that cannot be read (mid-swap) counts as no change.
    fn secrets_changed(&self) -> bool {
        let files = self.lock().secret_files.clone();
        let Some(now) = secrets_hash(&files) else { return false };
        self.lock().secrets.replace(now) != Some(now)
    }
}

fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// One hash over every secret file's content, in order; None when one cannot be read.
fn secrets_hash(files: &[PathBuf]) -> Option<Hash> {
    let mut h = Sha256::new();
    for file in files {
        let bytes = std::fs::read(file).ok()?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Some(h.finalize().into())
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
                self.state.set_reload_refused(None);
                notify::ready("running");
            }
            Err(e) => {
                tracing::error!(cause, file = %self.path.display(), error = %e, "config reload refused; the old config stays in force");
                metrics::reload(false);
                self.state.set_reload_refused(Some(e.to_string()));
                notify::ready(&format!("running; config reload refused ({cause}), the old config stays in force: {e}"));
            }
        }
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
    let config = Config::parse(&text, path).map_err(|problems| ConfigError { file: path.to_path_buf(), problems })?;
    seen.watch_secrets(config.secret_files.iter().map(|(_, file)| file.clone()).collect());
    Ok(config)
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

/// Poll the config file and its secret files; send [`Event::ConfigChanged`] or
/// [`Event::SecretChanged`] when their content differs from what was last seen. A file
/// that is briefly missing (mid-swap) is skipped, not reported.
pub async fn watch(path: PathBuf, seen: Seen, changed: EventSender, every: Duration, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait() => return,
        }
        let event = match look(&path, &seen) {
            Some(Change::Config) => Event::ConfigChanged,
            Some(Change::Secret) => Event::SecretChanged,
            None => continue,
        };
        // A full queue holds events enough to reload anyway, so this one may go.
        let _ = changed.try_send(event);
    }
}

/// What changed since the last look (the config first: its reload reads the secrets too).
fn look(path: &Path, seen: &Seen) -> Option<Change> {
    if content_changed(path, seen) {
        return Some(Change::Config);
    }
    seen.secrets_changed().then_some(Change::Secret)
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

    #[test]
    fn a_rotated_secret_file_is_a_change_and_a_missing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (config, key) = (dir.path().join("rosterd.yaml"), dir.path().join("key"));
        std::fs::write(&config, "config").unwrap();
        std::fs::write(&key, "old-key").unwrap();
        let seen = Seen::default();
        assert_eq!(look(&config, &seen), Some(Change::Config), "first sight");
        seen.watch_secrets(vec![key.clone()]);
        assert_eq!(look(&config, &seen), None);
        std::fs::write(&key, "new-key").unwrap();
        assert_eq!(look(&config, &seen), Some(Change::Secret));
        assert_eq!(look(&config, &seen), None, "once per new content");
        std::fs::remove_file(&key).unwrap();
        assert_eq!(look(&config, &seen), None, "a file mid-swap is no change");
        std::fs::write(&key, "new-key").unwrap();
        assert_eq!(look(&config, &seen), None, "back as it was");
    }
}
