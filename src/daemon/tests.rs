//! The serve loop in-process, with tokio's clock paused: the control loop, the worker loop
//! and the schedule, wired as `rosterd run` wires them, around a fake runner and a fake
//! reloader. No binary, no real sleeping: `sleep` under a paused clock only moves it on.
//! (tests/daemon.rs keeps the binary-level tests of the real signal wiring.)

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{advance, sleep, Instant};

use super::control::{self, Event, EventSender, Reload};
use super::scheduler::{next_after, Clock, Schedule};
use super::shutdown::Shutdown;
use super::worker::{self, RunError, Runner, Trigger};

/// One run the fake saw: what started it, when (seconds since the test began), and
/// whether it finished (false: abandoned at the stop after the grace).
#[derive(Debug, Clone, PartialEq)]
struct Ran {
    trigger: Trigger,
    at: u64,
    finished: bool,
}

#[derive(Default)]
struct Log {
    runs: Vec<Ran>,
    reloads: Vec<String>,
    /// Steps were stopped (the stop came during a run).
    stopped_steps: bool,
    closed: bool,
    /// The batches of pushed changes the fake took (person ids as taken).
    pushed: Vec<Vec<String>>,
}

/// A run that takes `takes`, honouring the stop with `grace` as the engine's runs do.
struct FakeRuns {
    log: Rc<RefCell<Log>>,
    takes: Duration,
    grace: Duration,
    shutdown: Shutdown,
    began: Instant,
    /// Every batch of pushed changes fails (a platform down).
    push_fails: bool,
}

impl Runner for FakeRuns {
    async fn run(&mut self, trigger: Trigger) {
        let at = self.began.elapsed().as_secs();
        let finished = worker::until_stop(sleep(self.takes), &self.shutdown, || {
            self.log.borrow_mut().stopped_steps = true;
            self.grace
        })
        .await
        .is_some();
        self.log.borrow_mut().runs.push(Ran { trigger, at, finished });
    }

    async fn serve(&mut self, _job: worker::Job) {}

    async fn push(&mut self, batch: &[crate::records::Pushed]) -> bool {
        self.log.borrow_mut().pushed.push(batch.iter().map(|p| p.person_id.clone()).collect());
        !self.push_fails
    }

    fn close(&mut self) -> Result<(), RunError> {
        self.log.borrow_mut().closed = true;
        Ok(())
    }
}

struct FakeReloader(Rc<RefCell<Log>>);

impl Reload for FakeReloader {
    async fn reload(&mut self, cause: &str) {
        self.0.borrow_mut().reloads.push(cause.to_string());
    }
}

/// What the test does to the running loops, in order.
#[derive(Clone, Copy)]
enum Step {
    /// Let this many seconds pass (instantly: the clock is paused).
    Wait(u64),
    Send(Event),
    /// The clock jumps this many seconds at once, as over a suspend.
    Jump(u64),
}

use Step::{Jump, Send, Wait};

/// Play the steps; then hang up, which ends the event stream.
async fn play(script: &[Step], events: EventSender) {
    for step in script {
        match *step {
            Wait(s) => sleep(Duration::from_secs(s)).await,
            Send(event) => events.send(event).await.expect("the control loop reads until Stop"),
            Jump(s) => advance(Duration::from_secs(s)).await,
        }
    }
}

/// The daemon's loops, as `Daemon::serve` joins them, until `script` has sent its events
/// and the loops have stopped. Returns what happened.
async fn serve_with(takes: Duration, grace: Duration, schedule: Option<(&str, DateTime<Utc>)>, script: &[Step]) -> Log {
    let log = Rc::new(RefCell::new(Log::default()));
    let shutdown = Shutdown::new();
    let (triggers, mut trigger_rx) = worker::channel();
    let (_jobs, mut job_rx) = worker::jobs_channel();
    let (events_tx, mut events) = control::channel();
    let _schedule = schedule.map(|(cron, wall)| {
        Schedule::start(cron, chrono_tz::UTC, Clock::tokio_from(wall), events_tx.clone()).expect("a valid schedule")
    });
    let mut runs = FakeRuns {
        log: log.clone(),
        takes,
        grace,
        shutdown: shutdown.clone(),
        began: Instant::now(),
        push_fails: false,
    };
    let mut reloader = FakeReloader(log.clone());
    let control = async {
        control::serve(&mut events, &triggers, &mut reloader).await;
        shutdown.trigger();
    };
    let mut pushes = worker::PushFeed::off();
    let (closed, (), ()) = tokio::join!(
        worker::drive(&mut runs, &mut trigger_rx, &mut job_rx, &mut pushes, &shutdown),
        control,
        play(script, events_tx)
    );
    assert!(closed.is_ok());
    log.take()
}

fn ran(trigger: Trigger, at: u64) -> Ran {
    Ran { trigger, at, finished: true }
}

const NO_GRACE: Duration = Duration::ZERO;

/// [`serve_with`] with no grace on stop and no schedule: runs only when triggered.
async fn serve_unscheduled(takes: Duration, script: &[Step]) -> Log {
    serve_with(takes, NO_GRACE, None, script).await
}

#[tokio::test(start_paused = true)]
async fn triggers_during_a_run_coalesce_into_one_more_run() {
    let log = serve_unscheduled(
        Duration::from_secs(10),
        &[
            Wait(1),
            Send(Event::ReconcileNow),
            Send(Event::ReconcileNow),
            Send(Event::ReconcileNow),
            Send(Event::ReconcileNow),
            Send(Event::ReconcileNow),
            // Long after both runs: nothing else may have started.
            Wait(60),
            Send(Event::Stop),
        ],
    )
    .await;
    assert_eq!(log.runs, vec![ran(Trigger::Startup, 0), ran(Trigger::Signal, 10)]);
    assert!(log.closed && !log.stopped_steps);
}

#[tokio::test(start_paused = true)]
async fn an_idle_trigger_starts_a_run_at_once() {
    let log = serve_unscheduled(
        Duration::from_secs(2),
        &[Wait(30), Send(Event::ReconcileNow), Wait(30), Send(Event::ReconcileNow), Wait(30), Send(Event::Stop)],
    )
    .await;
    assert_eq!(log.runs, vec![ran(Trigger::Startup, 0), ran(Trigger::Signal, 30), ran(Trigger::Signal, 60)]);
}

#[tokio::test(start_paused = true)]
async fn the_schedule_fires_at_each_cron_time() {
    // 14:50 past midnight; every 15 minutes fires at 00:15:00, 00:30:00, ...
    let wall = "2026-01-01T00:14:50Z".parse().unwrap();
    let log = serve_with(
        Duration::from_secs(1),
        NO_GRACE,
        Some(("0 */15 * * * *", wall)),
        &[Wait(10 + 15 * 60 + 5), Send(Event::Stop)],
    )
    .await;
    assert_eq!(
        log.runs,
        vec![ran(Trigger::Startup, 0), ran(Trigger::Schedule, 10), ran(Trigger::Schedule, 10 + 15 * 60)]
    );
}

#[tokio::test(start_paused = true)]
async fn firings_missed_while_the_clock_jumped_collapse_into_one_run() {
    let wall = "2026-01-01T00:14:50Z".parse().unwrap();
    let log = serve_with(
        Duration::from_secs(1),
        NO_GRACE,
        Some(("0 */15 * * * *", wall)),
        &[
            Wait(5),
            // A suspend: an hour passes at once (to 01:15:15), over five firings from 00:15 to 01:15.
            Jump(3620),
            Wait(60),
            Send(Event::Stop),
        ],
    )
    .await;
    let at = |r: &Ran| (r.trigger, r.at);
    assert_eq!(log.runs.iter().map(at).collect::<Vec<_>>(), vec![(Trigger::Startup, 0), (Trigger::Schedule, 3625)]);
}

#[tokio::test(start_paused = true)]
async fn ticks_during_a_long_run_give_one_run_after_it_never_two_at_once() {
    let wall = "2026-01-01T00:14:50Z".parse().unwrap();
    // Each run takes 40 minutes: firings at 00:15, 00:30 and 00:45 fall in the first one.
    let log = serve_with(
        Duration::from_secs(40 * 60),
        NO_GRACE,
        Some(("0 */15 * * * *", wall)),
        &[Wait(40 * 60 + 1), Send(Event::Stop)],
    )
    .await;
    assert_eq!(log.runs.len(), 2, "{:?}", log.runs);
    assert_eq!((log.runs[1].trigger, log.runs[1].at), (Trigger::Schedule, 40 * 60));
    assert!(!log.runs[1].finished, "the stop came during the second run, with no grace");
}

#[test]
fn the_next_firing_is_read_in_the_schedules_time_zone() {
    let cron = crate::config::parse_schedule("0 0 9 * * *").unwrap();
    let now: DateTime<Utc> = "2026-07-01T06:00:00Z".parse().unwrap();
    let paris = next_after(&cron, chrono_tz::Europe::Paris, now).unwrap();
    assert_eq!(paris.to_rfc3339(), "2026-07-01T07:00:00+00:00");
    let utc = next_after(&cron, chrono_tz::UTC, now).unwrap();
    assert_eq!(utc.to_rfc3339(), "2026-07-01T09:00:00+00:00");
    // Strictly after: at the firing itself, the next one is a day on.
    assert_eq!(next_after(&cron, chrono_tz::UTC, utc).unwrap().to_rfc3339(), "2026-07-02T09:00:00+00:00");
}

#[tokio::test(start_paused = true)]
async fn reload_events_reload_and_the_loop_goes_on() {
    let log = serve_unscheduled(
        Duration::from_secs(1),
        &[
            Wait(5),
            Send(Event::Reload),
            Send(Event::ConfigChanged),
            Wait(5),
            Send(Event::ReconcileNow),
            Wait(5),
            Send(Event::Stop),
        ],
    )
    .await;
    assert_eq!(log.reloads, vec!["SIGHUP", "the config file changed"]);
    assert_eq!(log.runs, vec![ran(Trigger::Startup, 0), ran(Trigger::Signal, 10)]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_run_lets_it_finish_within_the_grace_and_drops_the_queued_trigger() {
    let log = serve_with(
        Duration::from_secs(10),
        Duration::from_secs(30),
        None,
        &[Wait(1), Send(Event::ReconcileNow), Send(Event::Stop)],
    )
    .await;
    assert_eq!(log.runs, vec![ran(Trigger::Startup, 0)], "the queued trigger runs no more");
    assert!(log.stopped_steps && log.closed);
}

#[tokio::test(start_paused = true)]
async fn a_stop_abandons_a_run_that_outlasts_the_grace_and_still_closes() {
    let started = Instant::now();
    let log = serve_with(Duration::from_secs(600), Duration::from_secs(3), None, &[Wait(2), Send(Event::Stop)]).await;
    assert_eq!(log.runs, vec![Ran { trigger: Trigger::Startup, at: 0, finished: false }]);
    assert!(log.closed);
    assert_eq!(started.elapsed(), Duration::from_secs(5), "stop at 2 s plus 3 s of grace");
}

#[tokio::test(start_paused = true)]
async fn the_end_of_the_event_stream_stops_the_daemon_like_a_stop() {
    let log = serve_unscheduled(Duration::from_secs(1), &[Wait(5)]).await;
    assert_eq!(log.runs, vec![ran(Trigger::Startup, 0)]);
    assert!(log.closed);
}

/// The worker loop alone around the fake runner, with a real push inbox, while `script`
/// plays; the stop comes when it ends.
async fn drive_pushes(
    runs: &mut FakeRuns,
    inbox: &crate::store::PushInbox,
    script: impl std::future::Future<Output = ()>,
) {
    let (_triggers, mut trigger_rx) = worker::channel();
    let (_jobs, mut job_rx) = worker::jobs_channel();
    let config = crate::config::push_flow::PushFlowConfig::default();
    let mut pushes = worker::PushFeed::new(Some(inbox.clone()), &config);
    let shutdown = runs.shutdown.clone();
    let stop = async {
        script.await;
        shutdown.trigger();
    };
    let (closed, ()) = tokio::join!(worker::drive(runs, &mut trigger_rx, &mut job_rx, &mut pushes, &shutdown), stop);
    assert!(closed.is_ok());
}

fn fake_runs(log: &Rc<RefCell<Log>>, push_fails: bool) -> FakeRuns {
    let (takes, grace, shutdown) = (Duration::from_secs(1), NO_GRACE, Shutdown::new());
    FakeRuns { log: log.clone(), takes, grace, shutdown, began: Instant::now(), push_fails }
}

/// A store with its push inbox in a temporary directory, and the fake's log.
fn push_rig() -> (tempfile::TempDir, crate::store::PushInbox, Rc<RefCell<Log>>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = crate::store::Store::open(dir.path(), 1 << 20).unwrap();
    (dir, store.push_inbox().unwrap(), Rc::new(RefCell::new(Log::default())))
}

#[tokio::test(start_paused = true)]
async fn pushes_together_make_one_batch_and_leave_the_inbox() {
    let (_dir, inbox, log) = push_rig();
    let mut runs = fake_runs(&log, false);
    drive_pushes(&mut runs, &inbox, async {
        inbox.record("p-1", true).unwrap();
        sleep(Duration::from_millis(50)).await;
        inbox.record("p-2", false).unwrap();
        inbox.record("p-1", true).unwrap();
        sleep(Duration::from_secs(1)).await;
        inbox.record("p-3", true).unwrap();
        sleep(Duration::from_secs(1)).await;
    })
    .await;
    assert_eq!(log.borrow().pushed, [vec!["p-1", "p-2", "p-1"], vec!["p-3"]]);
    assert!(inbox.pending().unwrap().is_empty(), "handled batches leave the inbox");
    assert!(log.borrow().runs.is_empty(), "a push starts no whole run");
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_stays_is_retried_with_backoff_and_is_taken_first_after_a_restart() {
    let (_dir, inbox, log) = push_rig();
    inbox.record("p-1", true).unwrap();
    drive_pushes(&mut fake_runs(&log, true), &inbox, sleep(Duration::from_secs(10))).await;
    // Tried at 0.2 s, then after 1, 2 and 4 s of backoff (each plus the coalescing wait).
    assert_eq!(log.borrow().pushed.len(), 4, "{:?}", log.borrow().pushed);
    assert_eq!(inbox.pending().unwrap().len(), 1, "a failed batch stays in the inbox");
    // A restart: the inbox is not empty, so the first batch is due without a new push.
    log.borrow_mut().pushed.clear();
    drive_pushes(&mut fake_runs(&log, false), &inbox, sleep(Duration::from_secs(1))).await;
    assert_eq!(log.borrow().pushed, [vec!["p-1"]]);
    assert!(inbox.pending().unwrap().is_empty());
}
