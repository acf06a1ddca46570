//! The notifier's memory between runs and what each run tells, without a webhook.

use std::time::Duration;

use chrono::Utc;

use super::*;
use crate::config::notify::{NotifyConfig, WebhookConfig, WebhookFormat};
use crate::model::RunResult;
use crate::records::{Action, PlatformSummary};

fn config() -> NotifyConfig {
    let hook = WebhookConfig {
        key: "notify.webhooks[0]".into(),
        url: "http://127.0.0.1:1/h".to_string().into(),
        format: WebhookFormat::Json,
        timeout: Duration::from_secs(1),
    };
    NotifyConfig { webhooks: vec![hook], stale_after: Some(Duration::from_secs(600)), ..NotifyConfig::default() }
}

fn record(started: &str, platforms: Vec<PlatformSummary>) -> RunRecord {
    RunRecord {
        run_id: "R1".into(),
        trigger: "test".into(),
        started_at: started.into(),
        finished_at: started.into(),
        people: 3,
        roster_complete: true,
        result: RunResult::Ok,
        platforms,
    }
}

fn quarantined(since: &str) -> Quarantined {
    Quarantined {
        platform: "cake".into(),
        person_id: "4".into(),
        label: "p4@acme.example".into(),
        action: Action::Create,
        reason: "HTTP 400".into(),
        attempts: 1,
        since: since.into(),
        last_failed: since.into(),
        next_attempt: since.into(),
    }
}

fn kinds(d: &Delivery) -> Vec<Kind> {
    d.notifications.iter().map(|n| n.kind).collect()
}

#[test]
fn a_clean_run_tells_nothing_and_each_kind_is_told_once_per_run() {
    let n = Notifier::new(&config());
    let clean = record(
        "2026-01-01T00:00:00Z",
        vec![PlatformSummary { platform: "cake".into(), created: 2, ..Default::default() }],
    );
    assert!(kinds(&n.after_run(&config(), RunOutcome::Finished { record: &clean, quarantine: &[] })).is_empty());
    let busy = record(
        "2026-01-01T00:00:00Z",
        vec![
            PlatformSummary { platform: "cake".into(), held: 3, ..Default::default() },
            PlatformSummary {
                platform: "affise".into(),
                held: 1,
                error: Some("HTTP 503".into()),
                ..Default::default()
            },
        ],
    );
    // Old quarantine (before the run) is not news; a new one is.
    let q = [quarantined("2025-12-31T00:00:00Z"), quarantined("2026-01-01T00:00:01Z")];
    let d = n.after_run(&config(), RunOutcome::Finished { record: &busy, quarantine: &q });
    assert_eq!(kinds(&d), [Kind::RemovalsHeld, Kind::RecordsQuarantined, Kind::PlatformFailed]);
    assert_eq!(d.notifications[0].approve_command.as_deref(), Some("rosterd approve R1"));
    assert!(d.notifications[0].text.contains("cake: 3, affise: 1"), "{}", d.notifications[0].text);
    assert_eq!(d.notifications[1].details.as_array().map(Vec::len), Some(1));
    assert_eq!(d.notifications[0].body(WebhookFormat::Slack)["text"], d.notifications[0].text.as_str());
}

#[test]
fn the_source_is_told_on_its_nth_failure_in_a_row_only() {
    let mut c = config();
    c.source_failures = 2;
    let n = Notifier::new(&c);
    let fail = || n.after_run(&c, RunOutcome::Failed { error: "no answer", source: true });
    assert!(kinds(&fail()).is_empty());
    assert_eq!(kinds(&fail()), [Kind::SourceFailing]);
    assert!(kinds(&fail()).is_empty(), "told once for the stretch");
    // A run that completes starts the count afresh; a failure of something else does not count.
    let ok = record("2026-01-01T00:00:00Z", Vec::new());
    n.after_run(&c, RunOutcome::Finished { record: &ok, quarantine: &[] });
    assert!(kinds(&n.after_run(&c, RunOutcome::Failed { error: "store", source: false })).is_empty());
    assert!(kinds(&fail()).is_empty());
    assert_eq!(kinds(&fail()), [Kind::SourceFailing]);
}

#[test]
fn no_recent_run_is_told_once_per_stretch() {
    let n = Notifier::new(&config());
    let now = Utc::now();
    assert!(n.stale_check(now).is_none());
    let later = now + chrono::Duration::seconds(601);
    assert_eq!(n.stale_check(later).map(|d| kinds(&d)), Some(vec![Kind::NoRecentRun]));
    assert!(n.stale_check(later + chrono::Duration::seconds(60)).is_none());
    let ok = record("2026-01-01T00:00:00Z", Vec::new());
    n.after_run(&config(), RunOutcome::Finished { record: &ok, quarantine: &[] });
    assert!(n.stale_check(Utc::now() + chrono::Duration::seconds(601)).is_some(), "a new stretch");
}
