//! A platform's adaptive request budget: requests spaced to a pace that halves when the
//! platform says "too many" (429, 503) and climbs back step by step, and a pause of the
//! whole platform for as long as its `Retry-After` asks.
//!
//! The pace is additive-increase / multiplicative-decrease (AIMD, as TCP does): a 429 or a
//! 503 halves it, never below the configured rate / [`FLOOR_DIVISOR`]; every
//! [`SUCCESSES_PER_STEP`] answers that are not a slow-down raise it by the configured rate
//! / [`STEP_DIVISOR`], never above the configured rate. One pacer serves every request to a platform, so
//! one request's 429 slows them all: the platform's limit is shared, not per request.

use std::sync::{Mutex as StdMutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// The pace never falls below the configured rate divided by this.
pub const FLOOR_DIVISOR: f64 = 16.0;
/// Each step back up adds the configured rate divided by this.
pub const STEP_DIVISOR: f64 = 4.0;
/// Answers in a row, at the current pace, that earn one step back up.
pub const SUCCESSES_PER_STEP: u32 = 4;

/// Spaces requests `1 / pace` apart, with a burst, and adapts the pace to the platform.
///
/// It paces to the pace exactly, and never faster: the platform's own limiter is assumed
/// to admit at least two requests back to back (any token bucket or sliding window does),
/// which absorbs the jitter between a request's slot and its arrival. A request woken late
/// (a busy machine) does not pull the ones after it closer together: the next slot is never
/// before this request actually left, so a stall never turns into a burst.
#[derive(Debug)]
pub struct Pacer {
    /// The configured rate (requests a second; 0: unpaced): the pace climbs back to it.
    ceiling: f64,
    burst: u32,
    /// Held while a request waits for its slot, so waiters take their slots one at a time,
    /// in the order they came (tokio's mutex is fair).
    queue: Mutex<()>,
    /// The pace. A std mutex, held only to read or change it and never across an `.await`:
    /// an answer that slows the pace must not queue behind the requests waiting for slots.
    state: StdMutex<Pace>,
}

#[derive(Debug)]
struct Pace {
    /// Requests a second now (0: unpaced).
    per_second: f64,
    /// When the last request left (minus the burst allowance): the next may start one
    /// interval at the current pace later, so a slow-down spaces the very next request.
    last: Option<Instant>,
    /// No request starts before this: the platform's `Retry-After`.
    paused_until: Option<Instant>,
    /// Answers in a row at the current pace that were not a slow-down.
    successes: u32,
    /// Bumped by every slow-down: the answers to requests sent before it say nothing of
    /// the new pace, so they neither halve it again nor count towards a step up.
    epoch: u64,
}

/// A request's place in the budget, handed back with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    epoch: u64,
}

/// What an answer did to the pace, for the caller's log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjusted {
    /// Halved to this many requests a second.
    SlowedTo(f64),
    /// Already slowed for this burst of slow-downs (a request sent before it).
    AlreadySlowed,
}

impl Pacer {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let ceiling = if per_second.is_finite() && per_second > 0.0 { per_second } else { 0.0 };
        let pace = Pace { per_second: ceiling, last: None, paused_until: None, successes: 0, epoch: 0 };
        Pacer { ceiling, burst: burst.max(1), queue: Mutex::new(()), state: StdMutex::new(pace) }
    }

    /// Wait until this request fits the budget and no pause holds the platform.
    pub async fn wait(&self) -> Slot {
        let _turn = self.queue.lock().await;
        // The burst allowance is counted from when this request reached the front: waking
        // late must not earn it a burst of its own.
        let arrived = Instant::now();
        let mut slept = false;
        loop {
            let now = Instant::now();
            let due = {
                let mut pace = self.lock();
                let slot = pace.slot(arrived, self.burst);
                if slot <= now {
                    pace.take(slot, now, slept);
                    return Slot { epoch: pace.epoch };
                }
                slot
            };
            // A slow-down or a pause may come while this sleeps: look again on waking.
            tokio::time::sleep_until(due).await;
            slept = true;
        }
    }

    /// A 429 or 503: halve the pace (once per burst of them) and pause the whole platform
    /// for `retry_after`, when the platform said how long.
    pub fn slow_down(&self, slot: Slot, retry_after: Option<Duration>) -> Adjusted {
        if let Some(wait) = retry_after {
            self.pause(wait);
        }
        let mut pace = self.lock();
        if slot.epoch != pace.epoch {
            return Adjusted::AlreadySlowed;
        }
        pace.epoch += 1;
        pace.successes = 0;
        if pace.per_second > 0.0 {
            pace.per_second = (pace.per_second / 2.0).max(self.ceiling / FLOOR_DIVISOR);
        }
        Adjusted::SlowedTo(pace.per_second)
    }

    /// The platform says its budget is mostly spent without refusing yet (Graph's
    /// `x-ms-throttle-limit-percentage`): halve the configured pace, once until it has climbed
    /// back above half. `None` when unpaced or already at or below half.
    pub fn ease_off(&self) -> Option<f64> {
        let mut pace = self.lock();
        let half = self.ceiling / 2.0;
        if self.ceiling <= 0.0 || pace.per_second <= half {
            return None;
        }
        pace.epoch += 1;
        pace.successes = 0;
        pace.per_second = half;
        Some(half)
    }

    /// No request to the platform starts for `wait` (a later pause already set stands).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut pace = self.lock();
        pace.paused_until = Some(pace.paused_until.map_or(until, |p| p.max(until)));
    }

    /// An answer that was not a slow-down: every [`SUCCESSES_PER_STEP`] of them at the
    /// current pace raise it a step, up to the configured rate.
    pub fn succeeded(&self, slot: Slot) {
        let mut pace = self.lock();
        if slot.epoch != pace.epoch || pace.per_second >= self.ceiling {
            return;
        }
        pace.successes += 1;
        if pace.successes >= SUCCESSES_PER_STEP {
            pace.successes = 0;
            pace.per_second = (pace.per_second + self.ceiling / STEP_DIVISOR).min(self.ceiling);
        }
    }

    /// The configured rate, in requests per second (0: unpaced).
    pub fn per_second(&self) -> f64 {
        self.ceiling
    }

    /// The pace now, in requests per second (0: unpaced).
    pub fn pace(&self) -> f64 {
        self.lock().per_second
    }

    fn lock(&self) -> MutexGuard<'_, Pace> {
        // The state is a few numbers, each write complete: a panic elsewhere leaves it sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pace {
    fn interval(&self) -> Duration {
        if self.per_second > 0.0 {
            Duration::from_secs_f64(1.0 / self.per_second)
        } else {
            Duration::ZERO
        }
    }

    /// When a request that reached the front of the queue at `arrived` may start.
    fn slot(&self, arrived: Instant, burst: u32) -> Instant {
        let interval = self.interval();
        // A quiet spell earns up to `burst` immediate requests, never more.
        let floor = arrived.checked_sub(interval * (burst - 1)).unwrap_or(arrived);
        let slot = self.last.map_or(floor, |l| (l + interval).max(floor));
        self.paused_until.map_or(slot, |p| slot.max(p))
    }

    /// A request leaves now, in `slot`.
    fn take(&mut self, slot: Instant, now: Instant, slept: bool) {
        let interval = self.interval();
        // Woken more than an interval late, the schedule restarts from now: the requests
        // due meanwhile are not sent in a bunch to catch up. The same after a pause.
        let left = match slept {
            true => now.checked_sub(interval).map_or(slot, |t| t.max(slot)),
            // Within the burst allowance: it goes now and uses one slot of it.
            false => slot,
        };
        self.last = Some(left);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// When each of `n` requests, one after another, left (ms since `start`).
    async fn send(pacer: &Pacer, start: Instant, n: usize) -> Vec<u128> {
        let mut sent = Vec::new();
        for _ in 0..n {
            pacer.wait().await;
            sent.push(start.elapsed().as_millis());
        }
        sent
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests_after_the_burst() {
        let pacer = Pacer::new(10.0, 2);
        let start = Instant::now();
        send(&pacer, start, 4).await;
        // Two in the burst, then two more at 100 ms spacing.
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_earns_the_whole_burst() {
        let pacer = Pacer::new(10.0, 5);
        let start = Instant::now();
        assert_eq!(send(&pacer, start, 7).await, [0, 0, 0, 0, 0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_woken_late_does_not_bring_a_bunch_after_it() {
        let pacer = Arc::new(Pacer::new(10.0, 1));
        let start = Instant::now();
        pacer.wait().await;
        // Three more are due at 100, 200 and 300 ms, but the machine stalls until 250 ms.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait().await;
                    start.elapsed().as_millis()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(250)).await;
        let mut sent = Vec::new();
        for w in waiters {
            sent.push(w.await.unwrap());
        }
        sent.sort();
        // Catching up would send at 250, 250 and 300 ms: three within 50 ms.
        assert_eq!(sent, [250, 250, 350]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_down_halves_the_pace_down_to_the_floor_only() {
        let pacer = Pacer::new(160.0, 1);
        let mut paces = Vec::new();
        for _ in 0..6 {
            let slot = pacer.wait().await;
            assert!(matches!(pacer.slow_down(slot, None), Adjusted::SlowedTo(_)));
            paces.push(pacer.pace());
        }
        assert_eq!(paces, [80.0, 40.0, 20.0, 10.0, 10.0, 10.0], "160 / 16 is the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_sent_before_a_slow_down_do_not_halve_it_again() {
        let pacer = Pacer::new(100.0, 4);
        // Four in flight together all meet a 429: one halving, not four.
        let mut slots = Vec::new();
        for _ in 0..4 {
            slots.push(pacer.wait().await);
        }
        let adjusted: Vec<Adjusted> = slots.iter().map(|s| pacer.slow_down(*s, None)).collect();
        assert_eq!(adjusted[0], Adjusted::SlowedTo(50.0));
        assert!(adjusted[1..].iter().all(|a| *a == Adjusted::AlreadySlowed), "{adjusted:?}");
        // Nor does their late success count towards a step up.
        for s in slots {
            pacer.succeeded(s);
        }
        assert_eq!(pacer.pace(), 50.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_climbs_back_a_step_every_few_successes_up_to_the_configured_rate() {
        let pacer = Pacer::new(40.0, 1);
        for _ in 0..4 {
            let slot = pacer.wait().await;
            pacer.slow_down(slot, None);
        }
        assert_eq!(pacer.pace(), 2.5, "the floor");
        let mut paces = Vec::new();
        for _ in 0..(5 * SUCCESSES_PER_STEP) {
            let slot = pacer.wait().await;
            pacer.succeeded(slot);
            paces.push(pacer.pace());
        }
        let steps: Vec<f64> = paces.chunks(SUCCESSES_PER_STEP as usize).map(|c| c[c.len() - 1]).collect();
        assert_eq!(steps, [12.5, 22.5, 32.5, 40.0, 40.0], "a quarter of 40 a step, never above 40");
        assert!(paces[..3].iter().all(|p| *p == 2.5), "no step before the 4th success: {paces:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_spacing_follows_the_pace_down_and_up() {
        let pacer = Pacer::new(10.0, 1);
        let start = Instant::now();
        assert_eq!(send(&pacer, start, 2).await, [0, 100]);
        let slot = pacer.wait().await; // 200 ms, meets a 503
        pacer.slow_down(slot, None);
        // At 5 a second: 200 ms apart, until four successes raise it to 7.5 (133 ms).
        let mut sent = Vec::new();
        for _ in 0..6 {
            let slot = pacer.wait().await;
            sent.push(start.elapsed().as_millis());
            pacer.succeeded(slot);
        }
        assert_eq!(sent[..4], [400, 600, 800, 1000]);
        // 133.3 ms apart; the timer wakes on whole milliseconds, rounded up.
        let gaps = [sent[4] - sent[3], sent[5] - sent[4]];
        assert!(gaps.iter().all(|g| (133..=135).contains(g)), "{sent:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_every_request_of_the_platform() {
        let pacer = Arc::new(Pacer::new(100.0, 1));
        let start = Instant::now();
        let slot = pacer.wait().await;
        // Another request is already waiting for its slot (10 ms) when the 429 comes.
        let other = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.wait().await;
                start.elapsed().as_millis()
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(pacer.slow_down(slot, Some(Duration::from_secs(2))), Adjusted::SlowedTo(50.0));
        assert_eq!(other.await.unwrap(), 2000, "the waiting request honours the pause too");
        // After the pause, requests leave at the halved pace (20 ms), not in a bunch.
        assert_eq!(send(&pacer, start, 2).await, [2020, 2040]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_retry_after_never_shortens_the_pause() {
        let pacer = Pacer::new(0.0, 1);
        let start = Instant::now();
        let slot = pacer.wait().await;
        pacer.slow_down(slot, Some(Duration::from_secs(3)));
        pacer.slow_down(slot, Some(Duration::from_secs(1)));
        pacer.wait().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3), "an unpaced platform still honours the pause");
        assert_eq!(pacer.pace(), 0.0, "and stays unpaced");
    }
}
