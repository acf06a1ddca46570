//! The cron schedule: tokio-cron-scheduler fires, and a firing only sends a trigger to the
//! worker (the scheduler itself would run overlapping jobs).

use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

use super::worker::{Sent, Trigger, Triggers};

/// The running scheduler with its one job.
pub struct Schedule {
    scheduler: JobScheduler,
    job: Uuid,
    current: (String, chrono_tz::Tz),
    triggers: Triggers,
}

impl Schedule {
    /// Start firing `cron` (with seconds) in `tz`.
    pub async fn start(cron: &str, tz: chrono_tz::Tz, triggers: Triggers) -> Result<Schedule, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        let job = scheduler.add(job(cron, tz, triggers.clone())?).await?;
        scheduler.start().await?;
        tracing::info!(schedule = cron, timezone = tz.name(), "schedule started");
        Ok(Schedule { scheduler, job, current: (cron.to_string(), tz), triggers })
    }

    /// Replace the job when the schedule or its time zone changed (a reload).
    pub async fn reschedule(&mut self, cron: &str, tz: chrono_tz::Tz) -> Result<(), JobSchedulerError> {
        if self.current.0 == cron && self.current.1 == tz {
            return Ok(());
        }
        let new = self.scheduler.add(job(cron, tz, self.triggers.clone())?).await?;
        self.scheduler.remove(&self.job).await?;
        self.job = new;
        self.current = (cron.to_string(), tz);
        tracing::info!(schedule = cron, timezone = tz.name(), "schedule changed");
        Ok(())
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "the scheduler did not stop cleanly");
        }
    }
}

fn job(cron: &str, tz: chrono_tz::Tz, triggers: Triggers) -> Result<Job, JobSchedulerError> {
    Job::new_async_tz(cron, tz, move |_id, _scheduler| {
        let sent = triggers.send(Trigger::Schedule);
        Box::pin(async move {
            if sent == Sent::Coalesced {
                tracing::debug!("schedule fired while a run was queued; coalesced");
            }
        })
    })
}
