//! `pacing`: 2,000 creates against an emulator that allows 200 requests a second (a token
//! bucket with a burst of 5, 429 over it) and answers each request 20 ms late. rosterd is
//! set to the platform's limit (`per_second: 200`, burst 1, concurrency from the rate): the
//! wall time of the whole run against the floor, requests / rate, with no 429.
//!
//! `storm`: the same run meeting a burst of 429s mid-way: how far the pace falls, how soon
//! it is back at the limit.

use std::time::Duration;

use rosterd::platform::sandboxes::kinds;
use rosterd::sandbox::faults::{Fault, FaultRule, Served};

use crate::sandbox_rig::{per_kind, runtime, Rig, StateOn};
use crate::table::{ratio, Table};

const CREATES: usize = 2_000;
const RATE: f64 = 200.0;
/// The server's burst: small, as vendors' gateways allow; rosterd's own burst is 1.
const SERVER_BURST: u32 = 5;
const LATENCY: Duration = Duration::from_millis(20);

pub fn run() -> Vec<Table> {
    let mut table = Table::new(
        format!(
            "{CREATES} creates; the emulator allows {RATE} requests/s (token bucket, burst {SERVER_BURST}) and adds \
             {} ms to every answer; rosterd: rate_limit {{ per_second: {RATE} }} (burst 1, concurrency derived: {})",
            LATENCY.as_millis(),
            rosterd::config::default_concurrency(RATE)
        ),
        &[
            "platform",
            "state",
            "requests",
            "rate limit",
            "latency",
            "concurrency",
            "wall time",
            "floor",
            "ratio wall/floor",
            "429s",
        ],
    );
    let rt = runtime();
    let mut cases: Vec<(&str, StateOn)> = kinds().into_iter().map(|k| (k, StateOn::Tmpfs)).collect();
    cases.push(("cake", StateOn::Disk));
    for (kind, state) in cases {
        table.row(rt.block_on(platform(kind, state)));
    }
    vec![table]
}

async fn platform(kind: &str, state: StateOn) -> Vec<String> {
    let rig = Rig::seeded(kind, state, &format!("{{ per_second: {RATE} }}"), CREATES).await;
    rig.sandbox.faults().limit_rate(RATE, SERVER_BURST);
    rig.sandbox.faults().add_latency(LATENCY);
    let run = rig.reconcile().await;
    assert!(
        run.failed == 0 && run.planned == CREATES,
        "{kind}: planned {} creates (not {CREATES}), {} failed",
        run.planned,
        run.failed
    );
    let floor = Duration::from_secs_f64(run.requests as f64 / RATE);
    rig.sandbox.shutdown().await;
    vec![
        kind.to_string(),
        state.label().to_string(),
        run.requests.to_string(),
        format!("{RATE}/s burst {SERVER_BURST}"),
        format!("{} ms", LATENCY.as_millis()),
        rosterd::config::default_concurrency(RATE).to_string(),
        format!("{:.2} s", run.wall.as_secs_f64()),
        format!("{:.2} s", floor.as_secs_f64()),
        ratio(run.wall.as_secs_f64(), floor.as_secs_f64()),
        run.throttled.to_string(),
    ]
}

/// A 429 storm: after this many requests, the emulator answers the next `STORM_429S`
/// requests 429 with `Retry-After: 1`, as a gateway does when another client spent the quota.
const STORM_AFTER: usize = 600;
const STORM_429S: usize = 10;
/// Arrivals over which the pace counts as recovered, at 95% of the limit or more.
const RECOVERED_WINDOW: usize = 50;

/// The same 2,000 creates meeting a 429 storm mid-run: the pace before, during (first to
/// last 429, pauses included), how long until it is back at the limit, and after.
pub fn storm() -> Vec<Table> {
    let table = Table::new(
        format!(
            "{CREATES} creates as above; after {STORM_AFTER} requests the emulator answers the next {STORM_429S} with \
             429 and Retry-After: 1. Calls/s as the emulator saw them; recovered: from the last 429 until \
             {RECOVERED_WINDOW} arrivals in a row came at 95% of the limit or more"
        ),
        &[
            "platform",
            "requests",
            "429s (storm + limit)",
            "before calls/s",
            "during calls/s",
            "recovered after",
            "after calls/s (last 500)",
            "wall time",
        ],
    );
    per_kind(table, storm_platform)
}

async fn storm_platform(kind: &str) -> Vec<String> {
    let rig = Rig::seeded(kind, StateOn::Tmpfs, &format!("{{ per_second: {RATE} }}"), CREATES).await;
    let faults = rig.sandbox.faults().clone();
    faults.limit_rate(RATE, SERVER_BURST);
    faults.add_latency(LATENCY);
    let trigger = tokio::spawn(async move {
        while faults.requests() < STORM_AFTER {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        faults.script(FaultRule::any(Fault::too_many(1)).next(STORM_429S));
    });
    let run = rig.reconcile().await;
    trigger.abort();
    assert!(run.failed == 0 && run.planned == CREATES, "{kind}: {} planned, {} failed", run.planned, run.failed);
    let served = rig.sandbox.faults().served();
    // The storm's 429s: the first `STORM_429S` from request `STORM_AFTER` on (the limit's
    // own 429s, counted apart, may come anywhere).
    let storm: Vec<usize> =
        (STORM_AFTER.saturating_sub(1)..served.len()).filter(|i| served[*i].status == 429).take(STORM_429S).collect();
    let (first, last) = (storm[0], storm[storm.len() - 1]);
    let refused = served.iter().filter(|s| s.status == 429).count();
    let recovered = (last + 1..served.len().saturating_sub(RECOVERED_WINDOW))
        .find(|j| rate(&served[*j..*j + RECOVERED_WINDOW]) >= 0.95 * RATE)
        .map(|j| served[j].at - served[last].at);
    rig.sandbox.shutdown().await;
    vec![
        kind.to_string(),
        run.requests.to_string(),
        format!("{} + {}", refused - run.throttled, run.throttled),
        format!("{:.0}", rate(&served[..first])),
        format!("{:.1}", rate(&served[first..=last])),
        recovered.map_or("never".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        format!("{:.0}", rate(&served[served.len() - 500..])),
        format!("{:.2} s", run.wall.as_secs_f64()),
    ]
}

/// Calls a second over these arrivals, first to last.
fn rate(arrivals: &[Served]) -> f64 {
    match (arrivals.first(), arrivals.last()) {
        (Some(a), Some(b)) if arrivals.len() > 1 => (arrivals.len() - 1) as f64 / (b.at - a.at).as_secs_f64().max(1e-6),
        _ => 0.0,
    }
}
