//! Several people at once, by their source ids (the people an identity provider pushed):
//! read them, plan every platform for them alone through the same diff and guards as a
//! whole run, apply, and record one run. The core, [`Engine::reconcile_focused`], is the one
//! `rosterd reconcile --person` runs too. The push burst guard's window is counted here and
//! decided in [`super::guard::burst_reason`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::guard::{self, BurstPolicy};
use super::planning::RunFacts;
use super::{new_run_id, Engine, EngineError, Planned, RunSummary};
use crate::model::Roster;
use crate::records::Pushed;
use crate::store::StoreError;

/// What a targeted run of several people did.
#[derive(Debug)]
pub struct PeopleRun {
    /// The run's outcome; `None` when nobody asked for is known at the source (nothing planned).
    pub summary: Option<RunSummary>,
    /// Ids the source does not know (deleted there, or never there): skipped, nothing to do.
    pub unknown: Vec<String>,
    /// Why the push burst guard held the run's removals, if it did.
    pub burst: Option<String>,
}

impl Engine {
    /// Read the people with these source ids and converge them on every enabled platform in
    /// one run (one plan, one apply, one run record). `burst`, when given, is why the push
    /// burst guard holds every removal of the run.
    pub async fn reconcile_people(
        &self,
        ids: &[String],
        trigger: &str,
        burst: Option<String>,
    ) -> Result<PeopleRun, EngineError> {
        let run_id = new_run_id();
        let span = tracing::info_span!("run", run_id = %run_id, trigger, people = ids.len());
        async move {
            self.resolve_pending(trigger).await?;
            let (planned, unknown) = self.plan_people(ids, run_id, burst.clone()).await?;
            if planned.plan.people == 0 {
                return Ok(PeopleRun { summary: None, unknown, burst });
            }
            let summary = self.apply(&planned, trigger).await?;
            self.mark_targeted(&planned)?;
            Ok(PeopleRun { summary: Some(summary), unknown, burst })
        }
        .instrument(span)
        .await
    }

    /// Read the people with these ids and plan them alone (nothing planned when none is
    /// known). People the source states inactive lose access even when its read is
    /// incomplete (a push source's always is): that is its statement, not an absence.
    pub(super) async fn plan_people(
        &self,
        ids: &[String],
        run_id: String,
        burst: Option<String>,
    ) -> Result<(Planned, Vec<String>), EngineError> {
        let (roster, unknown) = self.read_people(ids).await?;
        for id in &unknown {
            tracing::info!(person = %id, "the source does not know this person (any more): nothing to reconcile");
        }
        let focus = roster.people.iter().map(|p| p.id.to_string()).collect();
        let facts = RunFacts { run_id, now: Utc::now(), shrank: None, focus: Some(focus), burst, trust_inactive: true };
        let label = format!("targeted run for {} people", roster.people.len());
        Ok((self.plan_focused(&roster, facts, &label).await, unknown))
    }

    /// A targeted run's held removals are released by planning its people again.
    fn mark_targeted(&self, planned: &Planned) -> Result<(), StoreError> {
        let Some(mut held) = self.store.held_run(&planned.plan.run_id)? else { return Ok(()) };
        let ids: BTreeSet<&str> =
            held.platforms.values().flat_map(|p| p.steps.iter().map(|s| s.person_id.as_str())).collect();
        held.people = Some(ids.into_iter().map(str::to_string).collect());
        self.store.put_held_run(&held)
    }

    /// Reconcile a batch of pushed changes: one run over the people they name (each once).
    /// The burst guard counts the people pushed deactivated within its window, this batch's
    /// included; when that goes over its limit the run's removals are held for approval.
    pub async fn reconcile_pushed(
        &self,
        pushed: &[Pushed],
        policy: &BurstPolicy,
        trigger: &str,
    ) -> Result<PeopleRun, EngineError> {
        let ids: BTreeSet<&str> = pushed.iter().map(|p| p.person_id.as_str()).collect();
        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
        let burst = self.burst_check(pushed, policy, Utc::now())?;
        if let Some(why) = &burst {
            tracing::warn!(reason = %why, "push burst: this batch's removals are held for approval");
        }
        self.reconcile_people(&ids, trigger, burst).await
    }

    /// Count the batch into the burst guard's window (kept in the store) and say whether it
    /// holds. A batch tried again after a failure is counted once: the window is by person.
    fn burst_check(
        &self,
        pushed: &[Pushed],
        policy: &BurstPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let window = chrono::Duration::from_std(policy.window).unwrap_or(chrono::Duration::days(1));
        let since = now - window;
        let seen = self.store.pushed_deactivations()?;
        for (id, _) in seen.iter().filter(|(_, at)| **at < since) {
            self.store.clear_pushed_deactivation(id)?;
        }
        let batch: BTreeMap<&str, DateTime<Utc>> =
            pushed.iter().filter(|p| p.deactivates).map(|p| (p.person_id.as_str(), p.at)).collect();
        let recent = seen.iter().filter(|(id, at)| **at >= since && !batch.contains_key(id.as_str())).count();
        for (id, at) in &batch {
            self.store.set_pushed_deactivation(id, *at)?;
        }
        Ok(guard::burst_reason(policy, recent, batch.len()))
    }

    /// Plan the people of `roster` alone and apply (unless `dry_run`).
    pub(super) async fn reconcile_focused(
        &self,
        roster: &Roster,
        facts: RunFacts,
        label: &str,
        trigger: &str,
        dry_run: bool,
    ) -> Result<(Planned, Option<RunSummary>), EngineError> {
        let planned = self.plan_focused(roster, facts, label).await;
        let summary = match dry_run {
            true => None,
            false => Some(self.apply(&planned, trigger).await?),
        };
        Ok((planned, summary))
    }

    /// Plan the people of `roster` alone. Everyone else is absent from this roster, not
    /// gone: the plan says it is incomplete (`label` is why), so whole runs keep the grace
    /// counters and the shrink baseline (see `record_guard_state`).
    async fn plan_focused(&self, roster: &Roster, facts: RunFacts, label: &str) -> Planned {
        let mut planned = self.plan_roster(None, roster, facts, None).await;
        planned.plan.roster_complete = false;
        if planned.plan.roster_incomplete_reason.is_none() {
            planned.plan.roster_incomplete_reason = Some(label.to_string());
        }
        planned
    }

    /// The people with these ids as the source has them, and the ids it does not know
    /// (skipped: a scheduled whole run reconciles anyone a short read missed).
    async fn read_people(&self, ids: &[String]) -> Result<(Roster, Vec<String>), EngineError> {
        let source_name = self.source.describe();
        if let Some(warning) = self.config.source.insecure_warning() {
            tracing::warn!(source = %source_name, "{warning}");
        }
        let (roster, unknown) = self.source.read_people(ids).await?;
        if let (Some(reason), false) = (&roster.incomplete_reason, unknown.is_empty()) {
            tracing::warn!(source = %source_name, reason = %reason, unknown = unknown.len(), "pushed people not found in an incomplete read: skipped; the scheduled runs reconcile them");
        }
        Ok((roster, unknown))
    }
}
