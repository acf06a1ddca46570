//! Fault injection shared by every sandbox emulator: scripted failures chosen per route label.
//!
//! An emulator wraps each handler in [`Faults::run`] with a route label (`"list"`,
//! `"create"`, ...). Tests script [`FaultRule`]s that pick which requests fail and how:
//! an HTTP status (429 with `Retry-After`, 503), a garbage body, a delay that trips the
//! client's time-out, an answer lost after the write took effect, or a truncated page.
//!
//! Beyond scripted faults, a test or benchmark may give the emulator a vendor-like rate
//! limit ([`Faults::limit_rate`]: over it, 429 with `Retry-After`, counted) and a latency
//! added to every request ([`Faults::add_latency`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::throttle::{RateLimit, TokenBucket};

/// A body that is no platform's format: what a proxy's maintenance page looks like.
pub const GARBAGE_BODY: &str = "<html><head><title>Service Temporarily Unavailable</title></head>\
<body><h1>We'll be back soon</h1></body></html>";

/// What goes wrong with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer at once with this status (and `Retry-After` seconds, when given); the request
    /// is not processed. A body starting with `{` is sent as JSON.
    Status { code: u16, retry_after: Option<u32>, body: String },
    /// Answer 200 with [`GARBAGE_BODY`]; the request is not processed.
    Garbage,
    /// Wait this long, then process the request normally (trips client time-outs).
    Delay(Duration),
    /// Process the request (the write takes effect), then lose the answer.
    LoseAnswer(LostAs),
    /// Process the request but tell the handler to send fewer rows than it claims.
    Truncate,
    /// Hold the connection open, answering nothing, until the script is cleared
    /// ([`Faults::clear`]); then process the request normally. A service that accepts
    /// connections and never answers: what a stuck worker waits on.
    Hang,
}

/// How an answer is lost after the write took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAs {
    /// A 500 with an empty body.
    ServerError,
    /// A 200 header whose body breaks off: the client sees the connection drop.
    Disconnect,
}

impl Fault {
    /// A status with an empty body.
    pub fn status(code: u16) -> Fault {
        Fault::Status { code, retry_after: None, body: String::new() }
    }

    /// This status with this body (a JSON value is sent as its text): a page or a failure
    /// written by hand.
    pub fn answer(code: u16, body: impl ToString) -> Fault {
        Fault::Status { code, retry_after: None, body: body.to_string() }
    }

    /// 429 Too Many Requests with `Retry-After: secs`.
    pub fn too_many(retry_after_secs: u32) -> Fault {
        Fault::Status { code: 429, retry_after: Some(retry_after_secs), body: String::new() }
    }
}

/// Which of the matching requests a rule fires on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Occurrence {
    /// The nth matching request after the rule was scripted (1-based), once.
    Nth(usize),
    /// The next k matching requests.
    Next(usize),
    /// Every matching request.
    Always,
    /// Each matching request with probability p, drawn from an RNG seeded with `seed`
    /// so that a failing test replays exactly.
    Probability { p: f64, seed: u64 },
}

/// One scripted fault: which route, which occurrence(s), what goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The route label this rule applies to; `None` for every route.
    pub route: Option<String>,
    pub occurrence: Occurrence,
    pub fault: Fault,
}

impl FaultRule {
    /// The fault on the next request to `route`; refine with [`nth`](Self::nth) and friends.
    pub fn on(route: &str, fault: Fault) -> FaultRule {
        FaultRule { route: Some(route.to_string()), occurrence: Occurrence::Next(1), fault }
    }

    /// The fault on the next request to any route.
    pub fn any(fault: Fault) -> FaultRule {
        FaultRule { route: None, occurrence: Occurrence::Next(1), fault }
    }

    pub fn nth(mut self, n: usize) -> FaultRule {
        self.occurrence = Occurrence::Nth(n);
        self
    }

    pub fn next(mut self, k: usize) -> FaultRule {
        self.occurrence = Occurrence::Next(k);
        self
    }

    pub fn always(mut self) -> FaultRule {
        self.occurrence = Occurrence::Always;
        self
    }

    pub fn with_probability(mut self, p: f64, seed: u64) -> FaultRule {
        self.occurrence = Occurrence::Probability { p, seed };
        self
    }
}

/// What the handler must do differently, when the fault lets it run at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// Send a listing page with fewer rows than it claims.
    pub truncate: bool,
}

/// A rule and its progress: how many matching requests it has seen, its own RNG.
#[derive(Debug)]
struct Armed {
    rule: FaultRule,
    seen: usize,
    rng: Option<StdRng>,
}

impl Armed {
    fn new(rule: FaultRule) -> Armed {
        let rng = match rule.occurrence {
            Occurrence::Probability { seed, .. } => Some(StdRng::seed_from_u64(seed)),
            _ => None,
        };
        Armed { rule, seen: 0, rng }
    }

    fn matches(&self, route: &str) -> bool {
        self.rule.route.as_deref().is_none_or(|r| r == route)
    }

    /// Count one matching request and say whether the rule fires on it.
    fn fires(&mut self) -> bool {
        self.seen += 1;
        match self.rule.occurrence {
            Occurrence::Nth(n) => self.seen == n,
            Occurrence::Next(k) => self.seen <= k,
            Occurrence::Always => true,
            Occurrence::Probability { p, .. } => self.rng.as_mut().is_some_and(|rng| rng.gen_bool(p.clamp(0.0, 1.0))),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Armed>,
    counts: HashMap<String, usize>,
    injected: usize,
    /// Requests inside [`Faults::run`] now, a delayed one included.
    in_flight: usize,
    /// The server's rate limit, when one is set.
    bucket: Option<TokenBucket>,
    /// Requests answered 429 by the rate limit (not by a scripted fault).
    throttled: usize,
    /// Added to every request before it is answered, as a network and server would.
    latency: Duration,
    /// Every request answered, in the order answered, up to [`SERVED_LOG_LIMIT`].
    served: Vec<Served>,
}

/// The most requests [`Faults::served`] remembers: a long-lived emulator must not grow forever.
pub const SERVED_LOG_LIMIT: usize = 100_000;

/// One request as the emulator saw it: when it arrived, where, and the status it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub at: tokio::time::Instant,
    pub route: String,
    pub status: u16,
}

/// Counts a request in flight until it is answered or its handler is dropped.
struct InFlight(Faults);

impl InFlight {
    fn enter(faults: &Faults) -> InFlight {
        faults.lock().in_flight += 1;
        InFlight(faults.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

/// The fault script of one emulator, shared by its handlers and the test that drives it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    // A std Mutex: it is held only to pick a fault, never across an `.await`.
    inner: Arc<Mutex<Inner>>,
    released: Released,
}

/// Bumped by [`Faults::clear`]: the requests a [`Fault::Hang`] holds wait for it.
#[derive(Debug, Clone)]
struct Released(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Released {
    fn default() -> Self {
        Released(Arc::new(tokio::sync::watch::channel(0).0))
    }
}

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Add a rule; rules are consulted in the order they were scripted.
    pub fn script(&self, rule: FaultRule) {
        self.lock().rules.push(Armed::new(rule));
    }

    /// Remove every rule (request counts are kept); requests held by [`Fault::Hang`] go on.
    pub fn clear(&self) {
        self.lock().rules.clear();
        self.released.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many requests reached `route`, faulted or not.
    pub fn count(&self, route: &str) -> usize {
        self.lock().counts.get(route).copied().unwrap_or(0)
    }

    /// Wait until no request is inside the emulator (at most `limit`; false if one still is).
    /// After [`clear`](Self::clear), this is when the faults have really stopped: a request
    /// delayed by a fault can otherwise still take effect during the next run.
    pub async fn settle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.lock().in_flight > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// How many faults have been injected so far.
    pub fn injected(&self) -> usize {
        self.lock().injected
    }

    /// Every request received, on every route, faulted, throttled or not.
    pub fn requests(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Limit the requests this emulator accepts: over the limit, a request is answered
    /// 429 with `Retry-After` (whole seconds, at least 1) and is not processed.
    pub fn limit_rate(&self, per_second: f64, burst: u32) {
        self.lock().bucket = Some(TokenBucket::new(RateLimit { per_second, burst }));
    }

    /// Requests answered 429 because they came over the rate limit.
    pub fn throttled(&self) -> usize {
        self.lock().throttled
    }

    /// Hold every request this long before answering it (429s included).
    pub fn add_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The rate limit's verdict on a request to `route` arriving now; a throttled request
    /// is counted on its route but never reaches the fault script.
    fn admit(&self, route: &str) -> (Result<(), Duration>, Duration) {
        let mut inner = self.lock();
        let verdict = inner.bucket.as_mut().map_or(Ok(()), TokenBucket::take);
        if verdict.is_err() {
            inner.throttled += 1;
            *inner.counts.entry(route.to_string()).or_default() += 1;
        }
        (verdict, inner.latency)
    }

    /// Count a request to `route` and pick its fault: every matching rule sees the request
    /// (so `nth` counts stay true), the first that fires wins.
    pub fn pick(&self, route: &str) -> Option<Fault> {
        let mut inner = self.lock();
        *inner.counts.entry(route.to_string()).or_default() += 1;
        let mut chosen = None;
        for armed in inner.rules.iter_mut().filter(|a| a.matches(route)) {
            if armed.fires() && chosen.is_none() {
                chosen = Some(armed.rule.fault.clone());
            }
        }
        if chosen.is_some() {
            inner.injected += 1;
        }
        chosen
    }

    /// Every request answered so far (the first [`SERVED_LOG_LIMIT`]), by arrival: the pace
    /// a client kept, and which requests met a 429, as the platform saw them.
    pub fn served(&self) -> Vec<Served> {
        let mut served = self.lock().served.clone();
        served.sort_by_key(|s| s.at);
        served
    }

    /// Run one request of `route` through the script: `handler` does the real work and is
    /// told what to alter; faults that replace the answer never call it.
    pub async fn run<F, Fut>(&self, route: &str, handler: F) -> Response
    where
        F: FnOnce(Injected) -> Fut,
        Fut: Future<Output = Response>,
    {
        let at = tokio::time::Instant::now();
        let response = self.answer(route, handler).await;
        let mut inner = self.lock();
        if inner.served.len() < SERVED_LOG_LIMIT {
            inner.served.push(Served { at, route: route.to_string(), status: response.status().as_u16() });
        }
        response
    }

    async fn answer<F, Fut>(&self, route: &str, handler: F) -> Response
    where
        F: FnOnce(Injected) -> Fut,
        Fut: Future<Output = Response>,
    {
        let _in_flight = InFlight::enter(self);
        let (verdict, latency) = self.admit(route);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Err(wait) = verdict {
            // `Retry-After` is whole seconds: round up, so a client that honours it is admitted.
            let secs = wait.as_secs_f64().ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
            return status_response(429, Some(secs), String::new());
        }
        // Subscribed before the pick: a clear after it is seen, whenever it comes.
        let mut released = self.released.0.subscribe();
        let Some(fault) = self.pick(route) else {
            return handler(Injected::default()).await;
        };
        tracing::debug!(route, ?fault, "sandbox injects a fault");
        match fault {
            Fault::Status { code, retry_after, body } => status_response(code, retry_after, body),
            Fault::Garbage => garbage_response(),
            Fault::Delay(wait) => {
                tokio::time::sleep(wait).await;
                handler(Injected::default()).await
            }
            Fault::LoseAnswer(how) => {
                // The write happens; only its answer is thrown away.
                let _ = handler(Injected::default()).await;
                lost_response(how)
            }
            Fault::Truncate => handler(Injected { truncate: true }).await,
            Fault::Hang => {
                // The sender lives as long as `self`: `changed` ends only with a clear.
                let _ = released.changed().await;
                handler(Injected::default()).await
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked mid-request must not wedge the other requests.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn status_response(code: u16, retry_after: Option<u32>, body: String) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = if body.trim_start().starts_with('{') { "application/json" } else { "text/plain" };
    let mut response = (status, [(header::CONTENT_TYPE, kind)], body).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn garbage_response() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], GARBAGE_BODY).into_response()
}

fn lost_response(how: LostAs) -> Response {
    match how {
        LostAs::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        LostAs::Disconnect => {
            // A first chunk, then an error: hyper closes the connection mid-body, which is
            // what the client sees when a proxy or the server dies after the write.
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"request_status\":")),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "sandbox hangs up")),
            ];
            let body = Body::from_stream(futures::stream::iter(chunks));
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(faults: &Faults, route: &str, times: usize) -> Vec<bool> {
        (0..times).map(|_| faults.pick(route).is_some()).collect()
    }

    #[test]
    fn nth_fires_once_on_the_nth_matching_request() {
        let faults = Faults::new();
        faults.script(FaultRule::on("list", Fault::Garbage).nth(2));
        assert!(faults.pick("create").is_none(), "other routes do not advance the rule");
        assert_eq!(fired(&faults, "list", 4), vec![false, true, false, false]);
        assert_eq!(faults.count("list"), 4);
        assert_eq!(faults.count("create"), 1);
        assert_eq!(faults.injected(), 1);
    }

    #[test]
    fn next_k_fires_k_times_then_stops() {
        let faults = Faults::new();
        faults.script(FaultRule::any(Fault::status(503)).next(2));
        assert_eq!(fired(&faults, "update", 3), vec![true, true, false]);
    }

    #[test]
    fn first_firing_rule_wins_and_every_rule_counts() {
        let faults = Faults::new();
        faults.script(FaultRule::on("list", Fault::too_many(1)));
        faults.script(FaultRule::on("list", Fault::Garbage).nth(1));
        assert_eq!(faults.pick("list"), Some(Fault::too_many(1)));
        // The second rule saw request 1 as well, so it is spent.
        assert_eq!(faults.pick("list"), None);
    }

    #[test]
    fn probability_is_replayable_from_its_seed() {
        let run = || {
            let faults = Faults::new();
            faults.script(FaultRule::any(Fault::Garbage).with_probability(0.5, 7));
            fired(&faults, "list", 64)
        };
        let first = run();
        assert_eq!(first, run());
        let hits = first.iter().filter(|f| **f).count();
        assert!((10..54).contains(&hits), "about half should fire, got {hits}");
    }

    #[test]
    fn clear_removes_rules_but_keeps_counts() {
        let faults = Faults::new();
        faults.script(FaultRule::any(Fault::Garbage).always());
        faults.pick("roles");
        faults.clear();
        assert!(faults.pick("roles").is_none());
        assert_eq!(faults.count("roles"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn settle_waits_for_a_delayed_request_still_inside() {
        let faults = Faults::new();
        faults.script(FaultRule::on("create", Fault::Delay(Duration::from_secs(2))));
        let inside = faults.clone();
        let request =
            tokio::spawn(async move { inside.run("create", |_| async { StatusCode::OK.into_response() }).await });
        tokio::task::yield_now().await;
        faults.clear();
        assert!(!faults.settle(Duration::from_secs(1)).await, "still sleeping inside after 1 s");
        assert!(faults.settle(Duration::from_secs(5)).await);
        assert!(request.is_finished());
        let dropped = faults.clone();
        let stuck = tokio::spawn(async move { dropped.run("list", |_| std::future::pending::<Response>()).await });
        tokio::task::yield_now().await;
        assert!(!faults.settle(Duration::from_millis(50)).await);
        stuck.abort();
        let _ = stuck.await;
        assert!(faults.settle(Duration::ZERO).await, "a dropped request is no longer inside");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hang_answers_nothing_until_the_script_is_cleared_then_serves() {
        let faults = Faults::new();
        faults.script(FaultRule::any(Fault::Hang).always());
        let inside = faults.clone();
        let request =
            tokio::spawn(async move { inside.run("list", |_| async { StatusCode::OK.into_response() }).await });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!request.is_finished(), "held open for an hour");
        assert!(!faults.settle(Duration::from_millis(10)).await);
        faults.clear();
        assert_eq!(request.await.unwrap().status(), StatusCode::OK, "served once released");
        let after = faults.run("list", |_| async { StatusCode::OK.into_response() }).await;
        assert_eq!(after.status(), StatusCode::OK, "no hang after the clear");
    }

    #[tokio::test]
    async fn run_skips_the_handler_on_a_status_fault_and_calls_it_when_losing_the_answer() {
        let faults = Faults::new();
        faults.script(FaultRule::on("create", Fault::too_many(3)));
        faults.script(FaultRule::on("create", Fault::LoseAnswer(LostAs::ServerError)).nth(2));
        let calls = Arc::new(Mutex::new(0));
        for expected in [StatusCode::TOO_MANY_REQUESTS, StatusCode::INTERNAL_SERVER_ERROR, StatusCode::OK] {
            let calls = calls.clone();
            let answer = faults
                .run("create", |_| async move {
                    *calls.lock().unwrap() += 1;
                    StatusCode::OK.into_response()
                })
                .await;
            assert_eq!(answer.status(), expected);
        }
        assert_eq!(*calls.lock().unwrap(), 2, "the 429 never reached the handler");
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_rate_limit_is_a_counted_429_after_the_latency() {
        let faults = Faults::new();
        faults.limit_rate(10.0, 2);
        faults.add_latency(Duration::from_millis(20));
        let ok = || async { StatusCode::OK.into_response() };
        let start = tokio::time::Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(faults.run("create", |_| ok()).await.status());
        }
        assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
        assert_eq!(start.elapsed(), Duration::from_millis(60), "every answer waits the latency");
        assert_eq!((faults.throttled(), faults.count("create"), faults.requests()), (1, 3, 3));
        tokio::time::advance(Duration::from_millis(100)).await;
        let answer = faults.run("list", |_| ok()).await;
        assert_eq!(answer.status(), StatusCode::OK, "a token comes back every 100 ms");
        assert_eq!(faults.injected(), 0, "the rate limit is not a scripted fault");
        let served: Vec<(u128, String, u16)> =
            faults.served().into_iter().map(|s| ((s.at - start).as_millis(), s.route, s.status)).collect();
        let expected = [(0, "create", 200), (20, "create", 200), (40, "create", 429), (160, "list", 200)];
        assert_eq!(served, expected.map(|(at, route, status)| (at, route.to_string(), status)), "arrivals, by arrival");
    }
}
