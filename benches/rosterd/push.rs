//! `push`: leavers pushed by an identity provider, to their accounts deactivated on all six
//! sandbox platforms. Each emulator allows `RATE` requests a second (token bucket, burst
//! `SERVER_BURST`, 429 over it) and rosterd is set to that limit. The daemon's worker runs
//! in-process, as `rosterd run` wires it; each push is recorded in the store's push inbox
//! as the SCIM service provider records an accepted `PATCH active:false` before its 2xx, so
//! the figure starts at the journaled push (the HTTP request in front of it is not in it).
//! A leaver's latency runs from its push to the audit line of its last platform's
//! deactivation. The burst guard is set out of the way: this measures the flow, not the hold.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rosterd::config::Config;
use rosterd::daemon::shutdown::Shutdown;
use rosterd::daemon::state::{Progress, State};
use rosterd::daemon::wiring::wire;
use rosterd::platform::sandboxes::{kinds, AnySandbox};

use crate::sandbox_rig::{roster_text, runtime};
use crate::table::{ratio, Table};

const PEOPLE: usize = 400;
const LEAVERS: usize = 200;
const RATE: f64 = 100.0;
const SERVER_BURST: u32 = 5;
/// Longer than any case takes: a stuck flow fails the bench instead of hanging it.
const GIVE_UP: Duration = Duration::from_secs(300);

/// One case: pushes at `per_second` (None: all at once).
async fn case(per_second: Option<f64>) -> Vec<String> {
    let dir = match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm"),
        false => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let mut sandboxes = Vec::new();
    for kind in kinds() {
        sandboxes.push(AnySandbox::start(kind).await.expect("the emulator"));
    }
    let config = |per_second: f64| {
        let mut text = String::from("state_dir: state\nsource:\n  file: { path: roster.yaml }\nsafety:\n  max_removals: { count: 100000, percent: 100 }\npush_flow:\n  burst: { count: 100000 }\nplatforms:\n");
        for s in &sandboxes {
            let key = format!("{}-key", s.kind());
            std::fs::write(dir.path().join(&key), s.key()).expect("a key file");
            text.push_str(&s.platform_entry(
                s.kind(),
                &key,
                &format!("    rate_limit: {{ per_second: {per_second} }}\n"),
            ));
        }
        std::fs::write(dir.path().join("rosterd.yaml"), text).expect("the config");
        Config::load(&dir.path().join("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"))
    };
    // Everyone's accounts made, unpaced; then the limits, and the leavers in the roster.
    std::fs::write(dir.path().join("roster.yaml"), roster_text(PEOPLE, &[], &[])).expect("the roster");
    let setup = rosterd::setup::engine(config(100_000.0)).expect("an engine");
    setup.reconcile("bench", false).await.expect("the first run");
    drop(setup);
    let leavers: Vec<usize> = (1..=LEAVERS).collect();
    std::fs::write(dir.path().join("roster.yaml"), roster_text(PEOPLE, &[], &leavers)).expect("the roster");
    for s in &sandboxes {
        s.faults().limit_rate(RATE, SERVER_BURST);
    }
    let engine = rosterd::setup::engine(config(RATE)).expect("an engine");
    let (inbox, audit) = (engine.store.push_inbox().expect("the inbox"), engine.config.audit_path());
    let state = Arc::new(State::new(&engine.config.daemon, Vec::new(), Arc::new(Progress::default())));
    let shutdown = Shutdown::new();
    let (worker, _admin, _reconfigs) = wire(engine, state, shutdown.clone());
    let before: Vec<(usize, usize)> =
        sandboxes.iter().map(|s| (s.faults().requests(), s.faults().throttled())).collect();

    let started = Instant::now();
    let script = async {
        let mut pushed = HashMap::new();
        for i in &leavers {
            if let Some(rate) = per_second {
                let at = started + Duration::from_secs_f64((i - 1) as f64 / rate);
                tokio::time::sleep_until(at.into()).await;
            }
            let p = inbox.record(&i.to_string(), true).expect("recorded");
            pushed.insert(p.person_id, p.at);
        }
        let done = loop {
            let done = deactivated(&audit);
            if done.values().filter(|d| d.platforms.len() == sandboxes.len()).count() == LEAVERS {
                break done;
            }
            assert!(started.elapsed() < GIVE_UP, "the leavers were not all deactivated in {GIVE_UP:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        shutdown.trigger();
        (pushed, done)
    };
    let (closed, (pushed, done)) = tokio::join!(worker.run(), script);
    closed.expect("the worker closed");

    let mut latencies: Vec<f64> = pushed
        .iter()
        .filter_map(|(id, at)| done.get(id).map(|d| (d.last - *at).to_std().unwrap_or_default().as_secs_f64()))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let first = pushed.values().min().copied().unwrap_or_else(Utc::now);
    let last = done.values().map(|d| d.last).max().unwrap_or(first);
    let wall = (last - first).to_std().unwrap_or_default().as_secs_f64();
    let (requests, throttled): (Vec<usize>, Vec<usize>) = sandboxes
        .iter()
        .zip(&before)
        .map(|(s, (r, t))| (s.faults().requests() - r, s.faults().throttled() - t))
        .unzip();
    // The busiest platform's requests at its limit; pushes spread out cannot end before the last.
    let arrival = per_second.map_or(0.0, |r| (LEAVERS - 1) as f64 / r);
    let floor = (requests.iter().max().copied().unwrap_or(0) as f64 / RATE).max(arrival);
    let runs: BTreeSet<&String> = done.values().flat_map(|d| &d.runs).collect();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied();
    let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2} s"));
    for s in sandboxes {
        s.shutdown().await;
    }
    vec![
        per_second.map_or("all at once".into(), |r| format!("{r}/s")),
        runs.len().to_string(),
        secs(pct(0.50)),
        secs(pct(0.99)),
        secs(latencies.last().copied()),
        format!("{wall:.2} s"),
        format!("{floor:.2} s"),
        ratio(wall, floor),
        throttled.iter().sum::<usize>().to_string(),
    ]
}

/// What the audit trail says push runs did to one person.
struct Done {
    /// Platforms where a push run applied a change to them (`ok`).
    platforms: BTreeSet<String>,
    /// When the last of those was.
    last: DateTime<Utc>,
    runs: BTreeSet<String>,
}

/// Per person, what push runs did to them.
fn deactivated(audit: &Path) -> HashMap<String, Done> {
    let mut out: HashMap<String, Done> = HashMap::new();
    for line in std::fs::read_to_string(audit).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v["trigger"] != "push" || v["outcome"] != "ok" {
            continue;
        }
        let Some(at) = v["time"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else { continue };
        let id = v["person_id"].as_str().unwrap_or_default().to_string();
        let e = out.entry(id).or_insert(Done { platforms: BTreeSet::new(), last: at.into(), runs: BTreeSet::new() });
        e.platforms.insert(v["platform"].as_str().unwrap_or_default().to_string());
        e.last = e.last.max(at.into());
        e.runs.insert(v["run_id"].as_str().unwrap_or_default().to_string());
    }
    out
}

pub fn run() -> Vec<Table> {
    let mut table = Table::new(
        format!(
            "{LEAVERS} leavers of {PEOPLE} people pushed, deactivated on all {} platform kinds; each emulator allows \
             {RATE} requests/s (burst {SERVER_BURST}), rosterd set to the same; push_flow.coalesce_millis 200; \
             latency from the journaled push to the last platform's deactivation",
            kinds().len()
        ),
        &["pushes arrive", "push runs", "p50", "p99", "max", "wall", "floor", "ratio wall/floor", "429s"],
    );
    let rt = runtime();
    for arrival in [Some(10.0), Some(20.0), None] {
        table.row(rt.block_on(case(arrival)));
    }
    vec![table]
}
