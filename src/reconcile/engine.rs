//! The engine's life: open the store and the audit trail, swap config between runs,
//! stop taking new steps, close. The jobs of a run live in the sibling files.

use std::sync::atomic::{AtomicBool, Ordering};

use super::plan::Plan;
use super::EngineError;
use crate::audit::AuditLog;
use crate::config::{Config, PlatformConfig};
use crate::model::Account;
use crate::platform::Connector;
use crate::source::Source;
use crate::store::{OpenOutcome, Store};
use std::collections::HashMap;

/// A platform as the engine drives it.
pub struct PlatformRuntime {
    pub config: PlatformConfig,
    pub connector: Box<dyn Connector>,
}

/// A plan with the listings it was made from (needed to apply it in the same run).
pub struct Planned {
    pub plan: Plan,
    pub actual: HashMap<String, Vec<Account>>,
}

/// Owns everything a run touches.
pub struct Engine {
    pub config: Config,
    pub store: Store,
    pub audit: AuditLog,
    pub source: Box<dyn Source>,
    pub platforms: Vec<PlatformRuntime>,
    /// Set on a graceful stop: steps not yet started are skipped, calls in flight finish.
    pub(super) stopping: AtomicBool,
    /// Where the run's step outcomes are counted (the daemon's metrics, or nowhere).
    pub(super) metrics: Box<dyn super::metrics::RunMetrics>,
}

/// A time-sortable run id: runs list in order in the store and the audit trail.
pub fn new_run_id() -> String {
    let suffix: u16 = rand::random();
    format!("{}-{suffix:04x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

impl Engine {
    /// Open the store and the audit trail under the config's state_dir.
    pub fn new(
        config: Config,
        source: Box<dyn Source>,
        platforms: Vec<PlatformRuntime>,
        metrics: Box<dyn super::metrics::RunMetrics>,
    ) -> Result<Engine, EngineError> {
        crate::private::create_dir(&config.state_dir)
            .map_err(|source| EngineError::StateDir { path: config.state_dir.clone(), source })?;
        let (store, outcome) = Store::open(&config.state_dir, config.cache_capacity)?;
        if let OpenOutcome::Rebuilt { moved_to, cause } = &outcome {
            tracing::warn!(moved_to = %moved_to.display(), cause, "the store would not open: moved it aside and started a new one; links are re-made by matching keys on the next run");
        }
        if let Err(e) = crate::private::tighten_tree(&config.state_dir.join("store")) {
            tracing::warn!(error = %e, "cannot make the store's files private (0600); check who owns state_dir");
        }
        attach_push(&store, source.as_ref());
        let head = Box::new(store.audit_head()?);
        let audit = AuditLog::open_anchored(&config.audit_path(), head, config.audit_key.clone())?;
        Ok(Engine { config, store, audit, source, platforms, stopping: AtomicBool::new(false), metrics })
    }

    /// Swap the config, source and connectors between runs (a reload). The store and the
    /// audit trail stay open, so a changed `state_dir` or cache size waits for a restart;
    /// the returned notes say what was kept.
    pub fn reconfigure(
        &mut self,
        mut config: Config,
        source: Box<dyn Source>,
        platforms: Vec<PlatformRuntime>,
    ) -> Vec<String> {
        let mut kept = Vec::new();
        if config.state_dir != self.config.state_dir {
            kept.push(format!("state_dir stays {} until rosterd restarts", self.config.state_dir.display()));
            config.state_dir = self.config.state_dir.clone();
        }
        if config.cache_capacity != self.config.cache_capacity {
            kept.push("store.cache_capacity_mb takes effect when rosterd restarts".to_string());
            config.cache_capacity = self.config.cache_capacity;
        }
        if !crate::anchor::AuditKey::same(config.audit_key.as_ref(), self.config.audit_key.as_ref()) {
            kept.push("audit.hmac_key_file takes effect when rosterd restarts".to_string());
            config.audit_key = self.config.audit_key.clone();
        }
        attach_push(&self.store, source.as_ref());
        self.config = config;
        self.source = source;
        self.platforms = platforms;
        kept
    }

    /// A graceful stop: no new step starts; steps already calling a platform finish.
    pub fn stop_new_steps(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Make the store and the audit trail durable (end of the daemon).
    pub fn close(&self) -> Result<(), EngineError> {
        self.store.flush()?;
        self.audit.sync()?;
        Ok(())
    }

    pub(super) fn runtime(&self, name: &str) -> Option<&PlatformRuntime> {
        self.platforms.iter().find(|p| p.config.name == name)
    }
}

/// Hand the store's push inbox to the source (only `source: push` keeps it).
fn attach_push(store: &Store, source: &dyn Source) {
    match store.push_inbox() {
        Ok(inbox) => source.attach_journal(std::sync::Arc::new(inbox)),
        Err(e) => tracing::error!(error = %e, "cannot open the push inbox in the store"),
    }
}

/// The child span of a run for one platform's work.
pub(super) fn platform_span(name: &str) -> tracing::Span {
    tracing::info_span!("platform", platform = %name)
}
