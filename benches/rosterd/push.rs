//! `push`: leavers deactivated by an identity provider, to their accounts deactivated on
//! all six sandbox platforms. 400 people are pushed (`POST /scim/v2/Users`) and synced;
//! then 200 of them are deactivated with `PATCH /scim/v2/Users/{id}` `active: false`, as
//! Okta and Entra ID send it, at a steady rate or all at once. Each emulator allows `RATE`
//! requests a second (token bucket, burst `SERVER_BURST`, 429 over it) and rosterd is set to
//! that limit. The service provider and the daemon's worker run in-process as `rosterd run`
//! wires them. A leaver's latency runs from the moment its PATCH is sent to the audit line
//! of its last platform's deactivation. The burst guard is set out of the way: this
//! measures the flow, not the hold.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rosterd::config::{Config, SourceConfig};
use rosterd::daemon::shutdown::Shutdown;
use rosterd::daemon::state::{Progress, State};
use rosterd::daemon::wiring::wire;
use rosterd::platform::sandboxes::{kinds, AnySandbox};
use rosterd::source::push::Provider;
use rosterd::store::PushInbox;

use crate::sandbox_rig::runtime;
use crate::table::{ratio, Table};

const TOKEN: &str = "push-bench-token";
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
    let mut text = String::from("state_dir: state\nsource:\n  push: { token_file: push-token }\nsafety:\n  max_removals: { count: 100000, percent: 100 }\npush_flow:\n  burst: { count: 100000 }\nplatforms:\n");
    std::fs::write(dir.path().join("push-token"), TOKEN).expect("the token file");
    for s in &sandboxes {
        let key = format!("{}-key", s.kind());
        std::fs::write(dir.path().join(&key), s.key()).expect("a key file");
        text.push_str(&s.platform_entry(s.kind(), &key, &format!("    rate_limit: {{ per_second: {RATE} }}\n")));
    }
    std::fs::write(dir.path().join("rosterd.yaml"), text).expect("the config");
    let config = Config::load(&dir.path().join("rosterd.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let engine = rosterd::setup::engine(config).expect("an engine");
    let (inbox, audit) = (engine.store.push_inbox().expect("the inbox"), engine.config.audit_path());
    let shutdown = Shutdown::new();
    let scim = serve_scim(&engine, inbox.clone(), shutdown.clone()).await;
    // Everyone pushed as a joiner and their accounts made (sandboxes not yet limited), the
    // inbox emptied; then the limits.
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 1..=PEOPLE {
        let (status, user) = send(&http, reqwest::Method::POST, &format!("{scim}/Users"), joiner(i)).await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().expect("an id").to_string());
    }
    engine.reconcile("bench", false).await.expect("the first run");
    let pending: Vec<u64> = inbox.pending().expect("pending").iter().map(|p| p.seq).collect();
    inbox.done(&pending).expect("done");
    for s in &sandboxes {
        s.faults().limit_rate(RATE, SERVER_BURST);
    }
    let leavers: Vec<&String> = ids.iter().take(LEAVERS).collect();
    let state = Arc::new(State::new(&engine.config.daemon, Vec::new(), Arc::new(Progress::default())));
    let (worker, _admin, _reconfigs) = wire(engine, state, shutdown.clone());
    let before: Vec<(usize, usize)> =
        sandboxes.iter().map(|s| (s.faults().requests(), s.faults().throttled())).collect();

    let started = Instant::now();
    let script = async {
        let mut pushed = HashMap::new();
        for (n, id) in leavers.iter().enumerate() {
            if let Some(rate) = per_second {
                tokio::time::sleep_until((started + Duration::from_secs_f64(n as f64 / rate)).into()).await;
            }
            let at = Utc::now();
            let (status, answer) = send(&http, reqwest::Method::PATCH, &format!("{scim}/Users/{id}"), off()).await;
            assert_eq!(status, 200, "{answer}");
            pushed.insert(id.to_string(), at);
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

/// The service provider's `/scim/v2` on a loopback port until `stop`, as the daemon
/// serves it; its base URL.
async fn serve_scim(engine: &rosterd::reconcile::Engine, inbox: PushInbox, stop: Shutdown) -> String {
    let SourceConfig::Push(settings) = &engine.config.source else { panic!("the source is push") };
    let provider = Provider::new(settings.clone(), Arc::new(inbox)).expect("the service provider");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base = format!("http://{}{}", listener.local_addr().expect("its address"), rosterd::source::push::http::BASE);
    let app = rosterd::source::push::http::router(provider);
    tokio::spawn(
        async move { axum::serve(listener, app).with_graceful_shutdown(async move { stop.wait().await }).await },
    );
    base
}

/// Person `i` as an identity provider creates them.
fn joiner(i: usize) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("p{i}@acme.example"),
        "name": { "givenName": format!("G{i}"), "familyName": format!("F{i}") },
        "emails": [{ "value": format!("p{i}@acme.example"), "type": "work", "primary": true }],
        "active": true
    })
}

/// `PATCH active:false`, as Okta and Entra ID deactivate.
fn off() -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "active", "value": false }]
    })
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = http
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default())
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
            "{LEAVERS} of {PEOPLE} people deactivated by PATCH /scim/v2/Users/{{id}} active:false, to deactivated on \
             all {} platform kinds; each emulator allows {RATE} requests/s (burst {SERVER_BURST}), rosterd set to the \
             same; push_flow.coalesce_millis 200; latency from the PATCH sent to the last platform's deactivation",
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
