//! `rosterd status` as text: the status document (`GET /v1/status`, the admin socket, or
//! the store when no daemon runs) in a few lines a person reads at a glance.

use std::fmt::Write as _;

use serde_json::Value;

use crate::exit;
use crate::store::RunRecord;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// One line: each `{}` of `template` filled with the next of `keys` read from `v`.
fn line(out: &mut String, template: &str, v: &Value, keys: &[&str]) {
    let mut keys = keys.iter();
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            match keys.next().map(|k| &v[*k]) {
                Some(Value::String(s)) => out.push_str(s),
                Some(Value::Null) | None => out.push('-'),
                Some(other) => out.push_str(&other.to_string()),
            }
        }
        out.push_str(part);
    }
    out.push('\n');
}

pub fn status(s: &Value) -> String {
    let mut out = String::new();
    let daemon = s["daemon"].as_bool().unwrap_or(true);
    let _ =
        writeln!(out, "rosterd: {}", if daemon { "daemon running" } else { "no daemon running (read from the store)" });
    if daemon {
        match &s["running"] {
            Value::Object(r) => {
                let _ = writeln!(out, "run in progress: {} since {}", text(&r["trigger"]), text(&r["started_at"]));
            }
            _ => out.push_str("run in progress: none\n"),
        }
        if let Some(why) = s["stuck"].as_str() {
            let _ = writeln!(out, "STUCK: {why}");
        }
        if let Some(why) = s["readiness"].as_str().filter(|_| s["ready"] == false) {
            let _ = writeln!(out, "not ready: {why}");
        }
    }
    if let Value::Object(r) = &s["config_reload_refused"] {
        let _ = writeln!(out, "config reload refused at {}: {}", text(&r["at"]), text(&r["error"]));
    }
    line(&mut out, "schedule: {} ({}); next run: {}", s, &["schedule", "timezone", "next_run"]);
    let held = s["held"].as_array().map(Vec::as_slice).unwrap_or_default();
    let _ = writeln!(out, "held removals waiting for approval: {}", held.len());
    for h in held {
        line(
            &mut out,
            "  run {} on {}: {} removal(s); release with: {}",
            h,
            &["run_id", "platform", "removals", "approve"],
        );
        for step in h["steps"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "    {}", text(step));
        }
    }
    let quarantine = s["quarantine"].as_array().map(Vec::as_slice).unwrap_or_default();
    let _ = writeln!(out, "quarantined records: {}", s["quarantined_records"]);
    for q in quarantine {
        let keys = ["platform", "action", "label", "attempts", "next_attempt", "reason"];
        line(&mut out, "  {} {} {}: {} attempt(s), next {}: {}", q, &keys);
    }
    let runs: Vec<RunRecord> = serde_json::from_value(s["last_runs"].clone()).unwrap_or_default();
    let _ = writeln!(out, "last runs: {}", runs.len());
    for r in runs.iter().take(5) {
        let _ = writeln!(out, "  {} {}", r.started_at, super::super::state::summary_line(r));
    }
    out
}

/// `status`'s exit code: 1 when the daemon is stuck, 4 when removals wait for approval or
/// records are quarantined (as a run's exit code says), else 0.
pub fn status_code(s: &Value) -> u8 {
    let waiting = s["held"].as_array().is_some_and(|h| !h.is_empty());
    let quarantined = s["quarantined_records"].as_u64().unwrap_or(0) > 0;
    if s["stuck"].is_string() {
        exit::ERROR
    } else if waiting || quarantined {
        exit::ATTENTION
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_says_what_waits_and_how_to_release_it() {
        let s = serde_json::json!({
            "running": null, "stuck": null, "ready": true, "schedule": "0 */15 * * * *", "timezone": "UTC",
            "next_run": "2026-01-01T00:15:00+00:00",
            "held": [{"run_id": "r1", "platform": "cake", "removals": 2, "steps": ["deactivate ana@acme.example"],
                      "approve": "rosterd approve r1 --platform cake"}],
            "quarantined_records": 0, "quarantine": [], "last_runs": [],
        });
        let text = status(&s);
        assert!(
            text.contains("run r1 on cake: 2 removal(s); release with: rosterd approve r1 --platform cake"),
            "{text}"
        );
        assert!(text.contains("    deactivate ana@acme.example"), "{text}");
        assert!(text.contains("next run: 2026-01-01T00:15:00+00:00"), "{text}");
        assert_eq!(status_code(&s), exit::ATTENTION);
        let stuck = serde_json::json!({"stuck": "no progress for 9s", "held": []});
        assert!(status(&stuck).contains("STUCK: no progress for 9s"));
        assert_eq!(status_code(&stuck), exit::ERROR);
        assert_eq!(status_code(&serde_json::json!({"held": [], "quarantined_records": 0})), exit::OK);
    }
}
