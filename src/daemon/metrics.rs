//! Metrics: every metric's name, help and labels, and one function per event that counts it.
//!
//! The `metrics` facade is a no-op until a recorder is installed; the run reports its steps
//! through the [`RunMetrics`] context the daemon hands its engine ([`Prometheus`]). Label
//! values are bounded: triggers, results, actions and outcomes are fixed words; platforms
//! come from the config.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::reconcile::metrics::RunMetrics;
use crate::store::RunRecord;

pub const RUNS: &str = "rosterd_runs_total";
pub const RUN_DURATION: &str = "rosterd_run_duration_seconds";
pub const OPERATIONS: &str = "rosterd_platform_operations_total";
pub const LAST_SUCCESS: &str = "rosterd_platform_last_success_timestamp_seconds";
pub const HELD_REMOVALS: &str = "rosterd_held_removals";
pub const QUARANTINED: &str = "rosterd_quarantined_records";
pub const STORE_SIZE: &str = "rosterd_store_size_bytes";
pub const RELOADS: &str = "rosterd_config_reloads_total";
pub const HTTP_REFUSED: &str = "rosterd_http_refused_total";
pub const BUILD_INFO: &str = "rosterd_build_info";

/// Run durations span a tiny file roster to thousands of paced API calls.
const DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0];

/// Install the Prometheus recorder for this process and describe every metric.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(RUN_DURATION.into()), DURATION_BUCKETS)
        .and_then(|b| b.install_recorder())
        .map_err(|e| e.to_string())?;
    describe();
    // Gauges that exist before the first run, so dashboards and alerts see a value.
    gauge!(QUARANTINED).set(0.0);
    gauge!(BUILD_INFO, "version" => crate::build_info::VERSION, "commit" => crate::build_info::COMMIT).set(1.0);
    zero_counters();
    Ok(handle)
}

/// Every counter whose labels are fixed words, at zero from the start: `rate()` and
/// `increase()` see the first event, and an alert on "no runs" has a series to look at.
fn zero_counters() {
    for trigger in ["startup", "schedule", "signal", "http", "push"] {
        for result in ["ok", "partial", "interrupted", "error"] {
            counter!(RUNS, "trigger" => trigger, "result" => result).absolute(0);
        }
    }
    for result in ["ok", "refused"] {
        counter!(RELOADS, "result" => result).absolute(0);
    }
    crate::notify::metrics::zero();
}

/// The per-platform counters at zero for the configured platforms.
pub fn zero_platforms<'a>(platforms: impl IntoIterator<Item = &'a str>) {
    for platform in platforms {
        for kind in ["create", "update", "link", "reactivate", "deactivate"] {
            for outcome in ["ok", "failed", "held", "conflict"] {
                counter!(OPERATIONS, "platform" => platform.to_string(), "kind" => kind, "outcome" => outcome)
                    .absolute(0);
            }
        }
    }
}

fn describe() {
    describe_counter!(RUNS, "Reconcile runs, by trigger and result (ok, partial, interrupted, error).");
    describe_histogram!(RUN_DURATION, Unit::Seconds, "Duration of reconcile runs.");
    describe_counter!(OPERATIONS, "Platform operations by platform, kind (create, update, ...) and outcome.");
    describe_gauge!(
        LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the last run that converged the platform without error."
    );
    describe_gauge!(HELD_REMOVALS, "Removals held by a guard in the last run, per platform.");
    describe_gauge!(
        QUARANTINED,
        "Records quarantined after failing for good (set aside, retried with growing intervals)."
    );
    describe_gauge!(STORE_SIZE, Unit::Bytes, "Size of the sled store on disk.");
    describe_counter!(RELOADS, "Config reloads, by result (ok, refused).");
    describe_gauge!(BUILD_INFO, "Always 1; the labels say the version and the commit of this rosterd.");
    describe_counter!(
        HTTP_REFUSED,
        "HTTP requests refused, by endpoint and reason (no_token, wrong_token, too_large)."
    );
}

/// The daemon's run metrics: each step counted in Prometheus, and noted as progress for
/// the liveness check (`readiness.stuck_after_seconds`).
#[derive(Debug, Clone, Default)]
pub struct Prometheus {
    pub progress: std::sync::Arc<super::state::Progress>,
}

impl RunMetrics for Prometheus {
    fn step(&self, platform: &str, action: &'static str, outcome: &str) {
        self.progress.bump();
        step(platform, action, outcome);
    }
}

/// One step's outcome on a platform (`ok`, `failed`, `held`, `conflict`).
pub fn step(platform: &str, kind: &'static str, outcome: &str) {
    let outcome = match outcome {
        "ok" => "ok",
        "failed" => "failed",
        "held" => "held",
        "conflict" => "conflict",
        _ => "other",
    };
    counter!(OPERATIONS, "platform" => platform.to_string(), "kind" => kind, "outcome" => outcome).increment(1);
}

/// A run ended: `record` is None when it failed before recording anything.
pub fn run_finished(trigger: &'static str, result: &str, took: Duration, record: Option<&RunRecord>) {
    let result = match result {
        "ok" => "ok",
        "partial" => "partial",
        "interrupted" => "interrupted",
        _ => "error",
    };
    counter!(RUNS, "trigger" => trigger, "result" => result).increment(1);
    histogram!(RUN_DURATION).record(took.as_secs_f64());
    let now = chrono::Utc::now().timestamp() as f64;
    for p in record.map(|r| r.platforms.as_slice()).unwrap_or_default() {
        gauge!(HELD_REMOVALS, "platform" => p.platform.clone()).set(p.held as f64);
        if p.error.is_none() && p.failed == 0 && p.skipped == 0 {
            gauge!(LAST_SUCCESS, "platform" => p.platform.clone()).set(now);
        }
    }
}

/// Records in quarantine now.
pub fn quarantined(count: usize) {
    gauge!(QUARANTINED).set(count as f64);
}

pub fn store_size(bytes: u64) {
    gauge!(STORE_SIZE).set(bytes as f64);
}

/// A refused HTTP request: logged (never the token) and counted, in one place. `endpoint`
/// and `reason` are fixed words, so the labels stay bounded.
pub fn http_refused(endpoint: &'static str, reason: &'static str) {
    tracing::warn!(endpoint, reason, "HTTP request refused");
    counter!(HTTP_REFUSED, "endpoint" => endpoint, "reason" => reason).increment(1);
}

pub fn reload(ok: bool) {
    counter!(RELOADS, "result" => if ok { "ok" } else { "refused" }).increment(1);
}
