//! Pushed changes reconciled by person (issue 17): a batch of pushes is one targeted run
//! over its people on every platform, and a burst of pushed deactivations above
//! `push_flow.burst` is held, reported with its approve command, and released by approval.
//! The push inbox is written here as the SCIM service provider writes it (`record`), and,
//! end to end, through the real daemon's `/scim/v2`.

mod daemon_harness;
mod support;

use std::sync::Arc;
use std::time::Duration;

use rosterd::daemon::admin::{Caller, Reply, Request};
use rosterd::daemon::shutdown::Shutdown;
use rosterd::daemon::state::{held_in, Progress, State};
use rosterd::daemon::wiring::wire;
use rosterd::daemon::worker::Trigger;
use rosterd::platform::sandboxes::{kinds, AnySandbox};
use rosterd::reconcile::Engine;
use support::people::{roster_marked, Person};
use support::rig::{Rig, FAST, FILE_SOURCE};
use support::webhook::Receiver;

/// Every platform kind's emulator behind one config reading `roster.yaml`; removals are
/// not limited per run, so only the push burst guard (at most `burst` in a minute) holds.
async fn every_kind(burst: usize) -> Rig<Vec<AnySandbox>> {
    every_kind_with(burst, "").await
}

/// The same, with these top-level config sections added.
async fn every_kind_with(burst: usize, sections: &str) -> Rig<Vec<AnySandbox>> {
    let mut sandboxes = Vec::new();
    for kind in kinds() {
        sandboxes.push(AnySandbox::start(kind).await.expect("the emulator"));
    }
    let rig = Rig::around(sandboxes, "unused-key", "unused");
    let mut platforms = String::new();
    for s in &rig.sandbox {
        let key_file = format!("{}-key", s.kind());
        rig.write(&key_file, &s.key());
        platforms.push_str(&s.platform_entry(s.kind(), &key_file, FAST));
    }
    rig.configure(FILE_SOURCE, "  max_removals: { count: 1000, percent: 100 }", &platforms);
    let config = std::fs::read_to_string(rig.path("rosterd.yaml")).expect("the config");
    rig.write(
        "rosterd.yaml",
        &format!(
            "{config}push_flow:\n  coalesce_millis: 50\n  burst: {{ count: {burst}, window_seconds: 60 }}\n{sections}"
        ),
    );
    rig
}

/// People 1..=n, those in `leavers` inactive and those in `renamed` with a new given name.
fn roster(rig: &Rig<Vec<AnySandbox>>, n: usize, leavers: &[usize], renamed: &[usize]) {
    rig.roster(people(n, leavers, renamed));
}

fn people(n: usize, leavers: &[usize], renamed: &[usize]) -> Vec<Person> {
    (1..=n)
        .map(|i| {
            let p = Person::test(i).active(!leavers.contains(&i));
            if renamed.contains(&i) {
                p.given("Renamed")
            } else {
                p
            }
        })
        .collect()
}

/// People 1..=40 created on every platform, then 1..=30 marked leavers in a roster file
/// that says it is incomplete, as a push source's roster always is (absence is no
/// evidence; an explicit `active: false` is); a burst limit of 25. Also: each platform's
/// accounts with access.
async fn forty_synced_thirty_leaving(sections: &str) -> (Rig<Vec<AnySandbox>>, Vec<(&'static str, usize)>) {
    let rig = every_kind_with(25, sections).await;
    roster(&rig, 40, &[], &[]);
    rig.reconcile().await;
    let before = with_access(&rig);
    let leavers: Vec<usize> = (1..=30).collect();
    rig.write("roster.yaml", &roster_marked(false, people(40, &leavers, &[])));
    (rig, before)
}

fn with_access(rig: &Rig<Vec<AnySandbox>>) -> Vec<(&'static str, usize)> {
    rig.sandbox.iter().map(|s| (s.kind(), s.with_access())).collect()
}

/// Record these pushes, then reconcile everything pending as the worker does.
async fn push(engine: &Engine, pushes: &[(usize, bool)]) -> rosterd::reconcile::PeopleRun {
    let inbox = engine.store.push_inbox().expect("the inbox");
    for (id, deactivates) in pushes {
        inbox.record(&id.to_string(), *deactivates).expect("recorded");
    }
    let pending = inbox.pending().expect("pending");
    let run = engine.reconcile_pushed(&pending, &engine.config.push_flow.burst, "push").await.expect("a push run");
    inbox.done(&pending.iter().map(|p| p.seq).collect::<Vec<_>>()).expect("done");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_pushed_deactivations_are_held_reported_and_released_by_approve_on_every_platform() {
    let rig = every_kind(25).await;
    roster(&rig, 70, &[], &[]);
    let (_, first) = rig.reconcile().await;
    assert_eq!(first.failed(), 0, "{:?}", first.record);
    let before = with_access(&rig);
    assert!(before.iter().all(|(_, n)| *n >= 70), "{before:?}");

    // 60 leavers and one rename, pushed within the window.
    let leavers: Vec<usize> = (1..=60).collect();
    roster(&rig, 70, &leavers, &[61]);
    let engine = rig.engine();
    let mut pushes: Vec<(usize, bool)> = leavers.iter().map(|i| (*i, true)).collect();
    pushes.push((61, false));
    let run = push(&engine, &pushes).await;
    let why = run.burst.clone().expect("the burst guard holds");
    assert!(why.contains("60 deactivations") && why.contains("limit of 25"), "{why}");
    let summary = run.summary.expect("a run");
    assert_eq!(summary.record.trigger, "push");
    for p in &summary.record.platforms {
        assert_eq!((p.error.as_deref(), p.deactivated, p.held, p.updated), (None, 0, 60, 1), "{p:?}");
    }
    assert_eq!(with_access(&rig), before, "nothing deactivated while held");

    // Reported as any held run is: `rosterd status` and `/v1/status` read this.
    let runs = engine.store.recent_runs(10).expect("runs");
    let held = held_in(&engine.store, &runs).expect("held");
    assert_eq!(held.len(), kinds().len(), "{held:?}");
    let run_id = &summary.record.run_id;
    assert!(held.iter().all(|h| h.run_id == *run_id && h.removals == 60), "{held:?}");
    assert!(held.iter().all(|h| h.approve.starts_with(&format!("rosterd approve {run_id} --platform"))));

    let approved = engine.approve(run_id, None).await.expect("approved");
    for p in &approved {
        assert_eq!((p.released.len(), p.skipped.len()), (60, 0), "{}: {:?}", p.platform, p.skipped);
        assert_eq!(p.summary.as_ref().map(|s| (s.deactivated, s.failed)), Some((60, 0)), "{}", p.platform);
    }
    let after = with_access(&rig);
    for ((kind, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(*a, b - 60, "{kind}: every leaver's access is gone");
    }
    // Converged: a whole run now has nothing left to do.
    drop(engine);
    let (plan, _) = rig.reconcile().await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_apply_until_the_window_is_full_and_unknown_people_are_skipped() {
    let (rig, before) = forty_synced_thirty_leaving("").await;
    let engine = rig.engine();

    // 20 in the window: applied on every platform, in one run.
    let first = push(&engine, &(1..=20).map(|i| (i, true)).collect::<Vec<_>>()).await;
    assert_eq!(first.burst, None);
    let summary = first.summary.expect("a run");
    assert!(summary.record.platforms.iter().all(|p| (p.deactivated, p.held) == (20, 0)), "{:?}", summary.record);
    // 10 more would make 30 in the window: this batch is held, the first stays applied.
    let second = push(&engine, &(21..=30).map(|i| (i, true)).collect::<Vec<_>>()).await;
    assert!(second.burst.expect("held").contains("30 deactivations"));
    let held = second.summary.expect("a run");
    assert!(held.record.platforms.iter().all(|p| (p.deactivated, p.held) == (0, 10)), "{:?}", held.record);
    for ((kind, b), (_, a)) in before.iter().zip(&with_access(&rig)) {
        assert_eq!(*a, b - 20, "{kind}: 25 at most applied");
    }

    // A person the source does not know: skipped, nothing planned, no run.
    let unknown = push(&engine, &[(999, false)]).await;
    assert_eq!((unknown.unknown, unknown.summary.is_none()), (vec!["999".to_string()], true));
}

/// The daemon's worker in-process, as `rosterd run` wires it (engine, state, admin channel,
/// webhooks), with the push inbox written beside it as the SCIM service provider writes it:
/// the burst is held, `/v1/status` lists it with its approve command, the webhook is told
/// once, and an approve through the admin channel releases it while the daemon runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_daemon_holds_a_pushed_burst_tells_it_once_and_approve_releases_it() {
    let hooks = Receiver::start().await;
    let notify = format!("notify:\n  backoff_ms: 10\n  webhooks: [ {{ url: \"{}/hook\" }} ]\n", hooks.url);
    let (rig, before) = forty_synced_thirty_leaving(&notify).await;
    let leavers: Vec<usize> = (1..=30).collect();

    let engine = rig.engine();
    let inbox = engine.store.push_inbox().expect("the inbox");
    let state = Arc::new(State::new(&engine.config.daemon, Vec::new(), Arc::new(Progress::default())));
    let shutdown = Shutdown::new();
    let (worker, admin, _reconfigs) = wire(engine, state.clone(), shutdown.clone());

    let script = async {
        for i in &leavers {
            inbox.record(&i.to_string(), true).expect("recorded");
        }
        let status = wait_for(&state, |s| !s["held"].as_array().is_none_or(Vec::is_empty)).await;
        let held = status["held"].as_array().cloned().unwrap_or_default();
        assert_eq!(held.len(), kinds().len(), "{status:#}");
        let run_id = held[0]["run_id"].as_str().unwrap_or_default().to_string();
        assert!(held.iter().all(|h| h["removals"] == 30 && h["run_id"] == run_id.as_str()), "{status:#}");
        assert!(inbox.pending().expect("pending").is_empty(), "a held batch is handled");
        assert_eq!(with_access(&rig), before, "nothing deactivated while held");

        let caller = Caller { person_data: true, trigger: Trigger::Admin };
        let reply = admin.handle(Request::Approve { run_id: run_id.clone(), platform: None }, caller).await;
        let Reply::Approved { platforms } = reply else { panic!("{reply:?}") };
        assert!(platforms.iter().all(|p| p.released.len() == 30), "{platforms:?}");
        for ((kind, b), (_, a)) in before.iter().zip(&with_access(&rig)) {
            assert_eq!(*a, b - 30, "{kind}: released and applied");
        }
        let told = wait_hook(&hooks).await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["notification"]["approve_command"], format!("rosterd approve {run_id}").as_str());
        shutdown.trigger();
    };
    let (closed, ()) = tokio::join!(worker.run(), script);
    assert!(closed.is_ok());
}

/// The status document once `ready` says so (20 s at most).
async fn wait_for(state: &State, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..400 {
        let status = state.status();
        if ready(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not reached: {:#}", state.status());
}

/// What the webhook was told, once something was (10 s at most), and a moment more for a second.
async fn wait_hook(hooks: &Receiver) -> Vec<serde_json::Value> {
    let mut got = Vec::new();
    for _ in 0..200 {
        got.extend(hooks.take("hook"));
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    got.extend(hooks.take("hook"));
    got
}

const PUSH_TOKEN: &str = "push-token-SEEDED-41d9";

/// Through the real daemon and its `/scim/v2`: a pushed joiner is created on CAKE; a pushed
/// `PATCH active:false` is journaled before its 2xx, so a SIGKILL right after the answer
/// (inside the coalescing window: nothing has reached CAKE) loses nothing: after a restart
/// the deactivation reaches CAKE. (One account of one is 100% of those managed: the
/// percentage limit is lifted, as it would hold any removal in so small a deployment.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_deactivation_survives_a_sigkill_right_after_its_answer() {
    let rig = daemon_harness::Rig::start().await;
    let token = rig.path("push-token");
    std::fs::write(&token, PUSH_TOKEN).unwrap();
    let platform = format!(
        "{{ name: cake, kind: cake, base_url: \"{}\", api_key_file: {}, roles: [ {{ role: Account Manager }} ] }}",
        rig.cake.base_url(),
        rig.path("cake-key").display()
    );
    let config = rig.path("rosterd.yaml");
    let text = format!(
        "state_dir: {}\nschedule: \"{}\"\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsource: {{ push: {{ token_file: {} }} }}\npush_flow: {{ coalesce_millis: 1500 }}\nsafety: {{ max_removals: {{ percent: 100 }} }}\nplatforms: [ {platform} ]\n",
        rig.path("state").display(),
        daemon_harness::NEVER,
        token.display()
    );
    std::fs::write(&config, text).unwrap();
    let daemon = daemon_harness::Daemon::start(&config, &[]).await;
    let http = reqwest::Client::new();
    let users = daemon.url("/scim/v2/Users");
    let joiner = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "leaver@acme.example",
        "name": { "givenName": "Lea", "familyName": "Ver" },
        "emails": [{ "value": "leaver@acme.example", "type": "work", "primary": true }],
        "active": true
    });
    let created = scim(&http, reqwest::Method::POST, &users, joiner).send().await.expect("an answer");
    assert_eq!(created.status().as_u16(), 201);
    let created: serde_json::Value = serde_json::from_str(&created.text().await.unwrap()).unwrap();
    let id = created["id"].as_str().expect("an id").to_string();
    cake_status_becomes(&rig, "active").await;

    let off = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "active", "value": false }]
    });
    let answer = scim(&http, reqwest::Method::PATCH, &format!("{users}/{id}"), off).send().await.expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    daemon.signal("KILL");
    assert_eq!(cake_status(&rig).as_deref(), Some("active"), "killed inside the coalescing window");
    drop(daemon);

    let restarted = daemon_harness::Daemon::start(&config, &[]).await;
    cake_status_becomes(&rig, "inactive").await;
    drop(restarted);
}

/// A request to the service provider, with the identity provider's token.
fn scim(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: serde_json::Value,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .bearer_auth(PUSH_TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
}

fn cake_status(rig: &daemon_harness::Rig) -> Option<String> {
    rig.cake.users().into_iter().find(|u| u.email == "leaver@acme.example").map(|u| u.user_status)
}

/// Wait (20 s at most) until the pushed person's CAKE account has this status.
async fn cake_status_becomes(rig: &daemon_harness::Rig, want: &str) {
    for _ in 0..400 {
        if cake_status(rig).as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs: Vec<String> = std::fs::read_dir(rig.dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("daemon-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    panic!("the CAKE account is {:?}, not {want}; the daemon said:\n{}", cake_status(rig), logs.join("\n---\n"));
}
