//! Pacing (issue 6): a platform that limits its requests (a token bucket, 429 over it)
//! meets no 429 from rosterd set to that limit, while a client that bursts past the
//! platform's burst does; set above the platform's limit (issue 13), a 429 slows every
//! request, so few meet one. Counts only: the speed figures live in `cargo bench -- pacing`.

mod support;

use rosterd::platform::sandboxes::AnySandbox;
use support::people::people;
use support::rig::{Rig, FILE_SOURCE};

const PEOPLE: usize = 100;
const RATE: u32 = 50;
const SERVER_BURST: u32 = 5;

/// One run creating `PEOPLE` accounts on a CAKE limited to `RATE`/s (burst
/// `SERVER_BURST`), rosterd's budget given by `rate_limit`; the 429s the CAKE sent.
async fn throttled(rate_limit: &str) -> usize {
    let rig: Rig<AnySandbox> = Rig::kind("cake").await;
    rig.sandbox.faults().limit_rate(f64::from(RATE), SERVER_BURST);
    let platform = rig.sandbox.platform_entry("cake", "key", &format!("    rate_limit: {rate_limit}\n"));
    rig.configure(FILE_SOURCE, "", &platform);
    rig.roster(people(PEOPLE));

    let engine = rig.engine();
    let (plan, summary) = engine.reconcile("pacing", false).await.unwrap();
    assert_eq!(plan.change_count(), PEOPLE);
    assert_eq!(summary.unwrap().failed(), 0, "every create made it, 429s retried");
    let cake = &rig.sandbox;
    assert_eq!(cake.write_calls() - cake.faults().throttled(), PEOPLE, "each person created once");
    let throttled = cake.faults().throttled();
    rig.sandbox.shutdown().await;
    throttled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_to_the_platforms_limit_no_request_is_refused() {
    assert_eq!(throttled(&format!("{{ per_second: {RATE} }}")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_platforms_own_meets_429s() {
    // Ten at once where the platform takes five: the emulator's limit is real.
    let eager = format!("{{ per_second: {RATE}, burst: 10, concurrency: 10 }}");
    assert!(throttled(&eager).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_above_the_platforms_limit_the_whole_platform_slows_to_it() {
    // Twice the platform's rate. Were only the request that met a 429 slowed, about every
    // other request would meet one; a 429 slows (and pauses) every request, so few do. A
    // busy machine only sends more slowly: it can lower the count, never raise it.
    let throttled = throttled(&format!("{{ per_second: {}, concurrency: 4 }}", 2 * RATE)).await;
    println!("rosterd at twice the platform's limit: {throttled} × 429 for {PEOPLE} creates");
    assert!(throttled > 0, "the platform's limit was met");
    assert!(throttled * 5 < PEOPLE, "{throttled} × 429 for {PEOPLE} creates");
}
