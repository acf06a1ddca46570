//! `pacing`: 2,000 creates against an emulator that allows 200 requests a second (a token
//! bucket with a burst of 5, 429 over it) and answers each request 20 ms late. rosterd is
//! set to the platform's limit (`per_second: 200`, burst 1, concurrency from the rate): the
//! wall time of the whole run against the floor, requests / rate, with no 429.

use std::time::Duration;

use rosterd::sandbox::any::KINDS;

use crate::sandbox_rig::{runtime, Rig, StateOn};
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
    let mut cases: Vec<(&str, StateOn)> = KINDS.iter().map(|k| (*k, StateOn::Tmpfs)).collect();
    cases.push(("cake", StateOn::Disk));
    for (kind, state) in cases {
        table.row(rt.block_on(platform(kind, state)));
    }
    vec![table]
}

async fn platform(kind: &str, state: StateOn) -> Vec<String> {
    let rig = Rig::start(kind, state).await;
    rig.configure(&format!("    rate_limit: {{ per_second: {RATE} }}\n"));
    rig.roster(CREATES, &[], &[]);
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
