//! What a notification says: built from a run record's counts and messages (never a
//! secret), as a JSON body or a Slack-compatible one.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::notify::WebhookFormat;
use crate::records::{Quarantined, RunRecord};

/// Why a notification was sent: one of each at most per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RemovalsHeld,
    RecordsQuarantined,
    PlatformFailed,
    SourceFailing,
    NoRecentRun,
}

/// One notification. `run_id` and `approve_command` are null where they do not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub kind: Kind,
    pub run_id: Option<String>,
    /// One paragraph for a person, naming the command to run next.
    pub text: String,
    /// Held removals only: the exact command that releases them.
    pub approve_command: Option<String>,
    /// Per platform (counts, errors) or per record.
    pub details: Value,
}

impl Notification {
    /// A notification about run `run_id`, or about none.
    fn new(kind: Kind, run_id: Option<&str>, text: String, details: Value) -> Notification {
        Notification { kind, run_id: run_id.map(str::to_string), text, approve_command: None, details }
    }

    /// The body a webhook of `format` receives.
    pub fn body(&self, format: WebhookFormat) -> Value {
        match format {
            WebhookFormat::Json => json!({ "source": "rosterd", "notification": self }),
            WebhookFormat::Slack => json!({ "text": self.text }),
        }
    }
}

/// The notifications a recorded run calls for, at most one of each kind.
pub fn for_record(record: &RunRecord, quarantine: &[Quarantined]) -> Vec<Notification> {
    let run_id = record.run_id.as_str();
    let mut out = Vec::new();
    let held: Vec<(&str, usize)> =
        record.platforms.iter().filter(|p| p.held > 0).map(|p| (p.platform.as_str(), p.held)).collect();
    if !held.is_empty() {
        let total: usize = held.iter().map(|(_, n)| n).sum();
        let command = format!("rosterd approve {run_id}");
        let text = format!(
            "rosterd held {total} removal(s) in run {run_id} ({}): review them with `rosterd audit --run {run_id}`, release them with `{command}`",
            joined(held.iter().map(|(p, n)| format!("{p}: {n}")), ", ")
        );
        let details = json!(held.iter().map(|(p, n)| json!({ "platform": p, "held": n })).collect::<Vec<_>>());
        let mut n = Notification::new(Kind::RemovalsHeld, Some(run_id), text, details);
        n.approve_command = Some(command);
        out.push(n);
    }
    let fresh = newly_quarantined(record, quarantine);
    if !fresh.is_empty() {
        let text = format!(
            "rosterd quarantined {} record(s) in run {run_id}: the platform refused them for good ({}); they are retried at growing intervals: fix the record or the mapping, and see `rosterd audit --run {run_id}`",
            fresh.len(),
            joined(fresh.iter().map(|q| format!("{} on {}: {}", q.label, q.platform, q.reason)), "; ")
        );
        let details = fresh
            .iter()
            .map(|q| json!({ "platform": q.platform, "person": q.label, "action": q.action.as_str(), "reason": q.reason }))
            .collect();
        out.push(Notification::new(Kind::RecordsQuarantined, Some(run_id), text, Value::Array(details)));
    }
    let failed: Vec<(&str, &str)> =
        record.platforms.iter().filter_map(|p| p.error.as_deref().map(|e| (p.platform.as_str(), e))).collect();
    if !failed.is_empty() {
        let text = format!(
            "rosterd could not reconcile {} platform(s) in run {run_id}: {}",
            failed.len(),
            joined(failed.iter().map(|(p, e)| format!("{p}: {e}")), "; ")
        );
        let details = failed.iter().map(|(p, e)| json!({ "platform": p, "error": e })).collect();
        out.push(Notification::new(Kind::PlatformFailed, Some(run_id), text, Value::Array(details)));
    }
    out
}

fn joined(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

/// The quarantine entries whose streak began in this run (those of earlier runs were told then).
fn newly_quarantined<'a>(record: &RunRecord, quarantine: &'a [Quarantined]) -> Vec<&'a Quarantined> {
    let Ok(started) = DateTime::parse_from_rfc3339(&record.started_at) else { return Vec::new() };
    quarantine.iter().filter(|q| DateTime::parse_from_rfc3339(&q.since).is_ok_and(|since| since >= started)).collect()
}

pub fn source_failing(runs: u32, error: &str) -> Notification {
    let text = format!(
        "rosterd: the identity source has failed {runs} run(s) in a row, so nobody is being added or removed: {error}"
    );
    Notification::new(Kind::SourceFailing, None, text, json!({ "runs_in_a_row": runs, "error": error }))
}

pub fn stale(last_completed: DateTime<Utc>, elapsed: std::time::Duration) -> Notification {
    let minutes = elapsed.as_secs() / 60;
    let since = last_completed.to_rfc3339();
    let text = format!(
        "rosterd: no run has completed for {minutes} minute(s) (since {since}); check the daemon's log and `/readyz`"
    );
    Notification::new(Kind::NoRecentRun, None, text, json!({ "last_completed": since, "minutes": minutes }))
}
