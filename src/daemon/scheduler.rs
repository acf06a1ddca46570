//! The cron schedule: a task that waits for the next firing and sends an [`Event::Tick`] to
//! the control loop, which turns it into a trigger (so runs never overlap).
//!
//! The dialect is the one the config validates ([`crate::config::parse_schedule`]: croner,
//! seconds required). After each firing the next one is the first occurrence after *now*,
//! so firings missed while the machine slept or the clock was stepped forward collapse
//! into one tick rather than a burst (the rule tokio-cron-scheduler, used before, followed).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use tokio::task::JoinHandle;

use super::control::{Event, EventSender};

/// The longest the schedule sleeps before reading the clock again, so a wall clock that
/// jumps (a suspend, an NTP step) is noticed within this.
const RECHECK: Duration = Duration::from_millis(500);

/// Why a schedule cannot start (the config check refuses these first, so rarely met).
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Invalid(#[from] crate::config::ScheduleError),
}

/// Where the schedule reads the time of day.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's wall clock, read afresh each time.
    System,
    /// Wall time that starts at `wall` when tokio's clock reads `at` and follows tokio's
    /// clock from there: paused and advanced by tests (`tokio::time::pause`, `advance`).
    Tokio { wall: DateTime<Utc>, at: tokio::time::Instant },
}

impl Clock {
    /// A tokio-driven clock that reads `wall` now.
    pub fn tokio_from(wall: DateTime<Utc>) -> Clock {
        Clock::Tokio { wall, at: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall, at } => *wall + TimeDelta::from_std(at.elapsed()).unwrap_or(TimeDelta::MAX),
        }
    }
}

/// The running schedule: one task, replaced when a reload changes the schedule.
pub struct Schedule {
    task: JoinHandle<()>,
    current: (String, Tz),
    clock: Clock,
    events: EventSender,
}

impl Schedule {
    /// Start firing `cron` (with seconds) in `tz`.
    pub fn start(cron: &str, tz: Tz, clock: Clock, events: EventSender) -> Result<Schedule, ScheduleError> {
        let task = spawn(cron, tz, clock, events.clone())?;
        tracing::info!(schedule = cron, timezone = tz.name(), "schedule started");
        Ok(Schedule { task, current: (cron.to_string(), tz), clock, events })
    }

    /// Replace the task when the schedule or its time zone changed (a reload).
    pub fn reschedule(&mut self, cron: &str, tz: Tz) -> Result<(), ScheduleError> {
        if self.current.0 == cron && self.current.1 == tz {
            return Ok(());
        }
        let new = spawn(cron, tz, self.clock, self.events.clone())?;
        std::mem::replace(&mut self.task, new).abort();
        self.current = (cron.to_string(), tz);
        tracing::info!(schedule = cron, timezone = tz.name(), "schedule changed");
        Ok(())
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn spawn(cron: &str, tz: Tz, clock: Clock, events: EventSender) -> Result<JoinHandle<()>, ScheduleError> {
    let cron = crate::config::parse_schedule(cron).map_err(ScheduleError::from)?;
    Ok(tokio::spawn(fire(cron, tz, clock, events)))
}

/// Send a tick at every firing until the control loop is gone.
async fn fire(cron: Cron, tz: Tz, clock: Clock, events: EventSender) {
    loop {
        let Some(next) = next_after(&cron, tz, clock.now()) else {
            tracing::warn!("the schedule never fires again; runs start only on SIGUSR1 or an HTTP trigger");
            return;
        };
        while let Ok(left) = (next - clock.now()).to_std() {
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(RECHECK)).await;
        }
        if events.send(Event::Tick).await.is_err() {
            return;
        }
    }
}

/// The first firing strictly after `now`, read in the schedule's time zone.
pub fn next_after(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&now.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc))
}
