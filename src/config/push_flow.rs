//! `push_flow:` as validated: how the daemon turns pushed changes (`source: push`, the SCIM
//! service provider) into targeted reconciles, and the push burst guard's limit.

use std::time::Duration;

/// The push flow's settings. Absent, the defaults below; they only matter when something
/// is pushed (a pull-only deployment never has a pushed change to reconcile).
#[derive(Debug, Clone, PartialEq)]
pub struct PushFlowConfig {
    /// How long the worker waits after a push for others to arrive, so changes pushed
    /// together are reconciled in one run.
    pub coalesce: Duration,
    /// The longest wait between tries of a batch that failed (the first waits 1 s, doubling).
    pub retry_max: Duration,
    /// At most this many people pushed deactivated within the window; above it, a batch's
    /// removals are held for approval, as a run's removals are above `safety.max_removals`.
    pub burst: BurstPolicy,
}

/// The push burst guard's limit: at most `count` people pushed deactivated within `window`.
/// Defined with the config, which reads it from `push_flow.burst`; the guards apply it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstPolicy {
    pub count: usize,
    pub window: Duration,
}

impl PushFlowConfig {
    /// The defaults: batches gathered for 200 ms, retries backing off up to a minute, and
    /// at most `safety.max_removals.count` (else 25) people pushed deactivated in 60 s.
    pub fn with_defaults(max_removals_count: Option<usize>) -> Self {
        let burst = BurstPolicy { count: max_removals_count.unwrap_or(25), window: Duration::from_secs(60) };
        PushFlowConfig { coalesce: Duration::from_millis(200), retry_max: Duration::from_secs(60), burst }
    }
}

impl Default for PushFlowConfig {
    fn default() -> Self {
        Self::with_defaults(None)
    }
}
