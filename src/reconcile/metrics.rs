//! The run's metrics, handed to the engine as a context (as kube-rs controllers get a
//! `Context`) so that the run never calls up into the daemon that counts them.

/// Where a run reports what its steps came to. The daemon counts them for Prometheus;
/// the command line, the demo and the tests hand in [`NoMetrics`].
pub trait RunMetrics: Send + Sync {
    /// One step's outcome on a platform: `action` is the step's kind (`create`, `group`,
    /// `none` for a conflict, ...), `outcome` one of `ok`, `failed`, `held`, `conflict`.
    fn step(&self, platform: &str, action: &'static str, outcome: &str);
}

/// Counts nothing: every run outside `rosterd run`, where no recorder is installed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl RunMetrics for NoMetrics {
    fn step(&self, _platform: &str, _action: &'static str, _outcome: &str) {}
}
