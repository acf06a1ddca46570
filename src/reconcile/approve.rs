//! What the guards remember between runs, and `rosterd approve RUN_ID`: the release of the
//! removals a guard held in one run, after checking that each is still wanted and that its
//! account has not changed since. Releases go through the ordinary apply path, so each is
//! audited twice: `released` before the call, then `ok` or `failed`.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::apply::{apply_platform, step_subject, ApplyContext, PlatformSummary};
use super::guard::{self, Missing};
use super::plan::{PlatformPlan, Step};
use super::{new_run_id, Engine, EngineError, Planned};
use crate::audit::{AuditRecord, Subject};
use crate::model::{Account, Outcome};
use crate::store::{HeldPlatform, HeldRun, Release, StoreError};

/// What an approval did on one platform (serialisable: the daemon's admin channel sends it).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ApprovedPlatform {
    pub platform: String,
    /// Held removals released (and then applied; see `summary`).
    pub released: Vec<Step>,
    /// Held removals left alone, and why.
    pub skipped: Vec<(Step, String)>,
    pub summary: Option<PlatformSummary>,
}

/// A hash of an account as listed: a held removal is released only if it is unchanged.
pub fn account_hash(a: &Account) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(a).unwrap_or_default()))
}

impl Engine {
    /// After a run: advance or clear the grace counters, move the shrink baseline, and keep
    /// the removals the guards held so that they can be approved.
    pub(super) fn record_guard_state(&self, planned: &Planned) -> Result<(), StoreError> {
        let plan = &planned.plan;
        let now = chrono::DateTime::parse_from_rfc3339(&plan.created_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now());
        if plan.roster_complete {
            for pp in plan.platforms.iter().filter(|p| p.error.is_none()) {
                let before = self.store.missing(&pp.platform)?;
                let removing: BTreeMap<&str, &Step> =
                    pp.steps.iter().filter(|s| s.action.removes_access()).map(|s| (s.person_id.as_str(), s)).collect();
                for id in before.keys().filter(|id| !removing.contains_key(id.as_str())) {
                    self.store.clear_missing(&pp.platform, id)?;
                }
                for id in removing.keys() {
                    let m = Missing::advanced(before.get(*id), &plan.run_id, now);
                    self.store.set_missing(&pp.platform, id, &m)?;
                }
            }
            if let (None, Some(n)) = (&plan.roster_shrank, plan.active_people) {
                self.store.set_roster_size(&plan.source, n)?;
            }
        }
        let mut held = HeldRun {
            run_id: plan.run_id.clone(),
            created_at: plan.created_at.clone(),
            source: plan.source.clone(),
            shrunk_to: plan.roster_shrank.as_ref().and(plan.active_people),
            platforms: BTreeMap::new(),
            people: None,
        };
        for pp in plan.platforms.iter().filter(|p| p.error.is_none()) {
            // A platform that cannot remove access (AgencyAnalytics without allow_delete)
            // holds its removals for good: approval cannot release them.
            if self
                .runtime(&pp.platform)
                .is_none_or(|rt| guard::release_refused(rt.connector.traits().removals_held).is_some())
            {
                continue;
            }
            let steps: Vec<Step> = pp.held().filter(|s| s.action.removes_access()).cloned().collect();
            if steps.is_empty() {
                continue;
            }
            let listed = planned.actual.get(&pp.platform).map(Vec::as_slice).unwrap_or_default();
            let by_id: HashMap<&str, &Account> = listed.iter().map(|a| (a.id.as_str(), a)).collect();
            let accounts = steps
                .iter()
                .filter_map(|s| s.account_id.as_deref())
                .filter_map(|id| by_id.get(id).map(|a| (id.to_string(), account_hash(a))))
                .collect();
            held.platforms.insert(pp.platform.clone(), HeldPlatform { steps, accounts, released: None });
        }
        if !held.platforms.is_empty() {
            self.store.put_held_run(&held)?;
        }
        Ok(())
    }

    /// Release the removals held in run `run_id` (on `only`, or every platform). The roster
    /// and the platforms are read again: a removal is released only if a plan made now still
    /// removes the same account (so a person who came back, a protected account or an account
    /// already gone is left alone) and the account is listed exactly as it was in that run.
    pub async fn approve(&self, run_id: &str, only: Option<&str>) -> Result<Vec<ApprovedPlatform>, EngineError> {
        let Some(mut held) = self.store.held_run(run_id)? else {
            return Err(EngineError::NotApprovable(format!(
                "run {run_id} is unknown or held no removals that approval can release; see `rosterd audit --run {run_id}`"
            )));
        };
        if let Some(name) = only {
            if !held.platforms.contains_key(name) {
                let on: Vec<&str> = held.platforms.keys().map(String::as_str).collect();
                return Err(EngineError::NotApprovable(format!(
                    "run {run_id} held no removals on {name:?} (it held removals on: {})",
                    on.join(", ")
                )));
            }
        }
        let pending: Vec<String> = held
            .platforms
            .iter()
            .filter(|(name, hp)| only.is_none_or(|o| o == name.as_str()) && hp.released.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        if pending.is_empty() {
            return Err(EngineError::NotApprovable(format!(
                "the held removals of run {run_id} were already released; nothing left to approve"
            )));
        }
        let only = if pending.len() == 1 { pending.first().map(String::as_str) } else { None };
        let fresh = match &held.people {
            // The held people as the source states them now: a plan still removing their
            // account is the confirmation (the source says they are inactive).
            Some(ids) => {
                self.plan_people(ids, new_run_id(), None).await.map_err(|e| EngineError::Setup(e.to_string()))?.0
            }
            None => self.plan_as(only, new_run_id()).await?,
        };
        // A plan of people as the source states them confirms by itself: it still removes
        // only those the source marks inactive.
        let stated = held.people.is_some() || self.states_inactive();
        if let (false, Some(why)) = (
            stated,
            guard::roster_unconfirmed(fresh.plan.roster_complete, fresh.plan.roster_incomplete_reason.as_deref()),
        ) {
            return Err(EngineError::Setup(why));
        }
        let mut out = Vec::new();
        for name in pending {
            let Some(hp) = held.platforms.get_mut(&name) else { continue };
            let result = self.release_platform(&held.run_id, &name, hp, &fresh).await;
            if !result.released.is_empty() {
                hp.released = Some(Release {
                    at: chrono::Utc::now().to_rfc3339(),
                    released: result.released.len(),
                    skipped: result.skipped.len(),
                });
            }
            out.push(result);
        }
        if out.iter().any(|p| !p.released.is_empty()) {
            if let Some(n) = held.shrunk_to {
                // A person looked at the shrink and approved it: it is the new baseline.
                self.store.set_roster_size(&held.source, n)?;
            }
        }
        self.store.put_held_run(&held)?;
        self.store.flush()?;
        self.audit.sync()?;
        Ok(out)
    }

    async fn release_platform(&self, run_id: &str, name: &str, hp: &HeldPlatform, fresh: &Planned) -> ApprovedPlatform {
        let mut result = ApprovedPlatform { platform: name.to_string(), ..Default::default() };
        let skip_all = |result: &mut ApprovedPlatform, why: &str| {
            result.skipped = hp.steps.iter().map(|s| (s.clone(), why.to_string())).collect();
        };
        let Some(rt) = self.runtime(name) else {
            skip_all(&mut result, "the platform is no longer in the config");
            return result;
        };
        if let Some(why) = guard::release_refused(rt.connector.traits().removals_held) {
            skip_all(&mut result, why);
            return result;
        }
        let Some(now) = fresh.plan.platforms.iter().find(|p| p.platform == name) else {
            skip_all(&mut result, "the platform is disabled");
            return result;
        };
        if let Some(e) = &now.error {
            skip_all(&mut result, &format!("the platform could not be planned now: {e}"));
            return result;
        }
        let actual = fresh.actual.get(name).map(Vec::as_slice).unwrap_or_default();
        let by_id: HashMap<&str, &Account> = actual.iter().map(|a| (a.id.as_str(), a)).collect();
        for step in &hp.steps {
            let unchanged = step
                .account_id
                .as_deref()
                .and_then(|id| by_id.get(id).zip(hp.accounts.get(id)))
                .is_some_and(|(a, h)| account_hash(a) == *h);
            match guard::release_verdict(run_id, guard::still_planned(now, step), unchanged) {
                Err(why) => result.skipped.push((step.clone(), why.to_string())),
                Ok(()) => {
                    // Audited before the call: the release is a decision of its own.
                    self.audit_release(run_id, name, step, step.held.as_deref().unwrap_or("held"));
                    result.released.push(Step { held: None, ..step.clone() });
                }
            }
        }
        if result.released.is_empty() {
            return result;
        }
        let plan = PlatformPlan { steps: result.released.clone(), ..PlatformPlan::new(name) };
        let ctx = ApplyContext {
            run_id,
            trigger: "approve",
            store: &self.store,
            audit: &self.audit,
            concurrency: rt.config.connection.concurrency,
            stopping: &self.stopping,
            metrics: self.metrics.as_ref(),
        };
        result.summary = Some(apply_platform(&ctx, rt.connector.as_ref(), &plan, actual).await);
        result
    }

    fn audit_release(&self, run_id: &str, platform: &str, step: &Step, held_because: &str) {
        // The release line names the step, not its changes: those are on its outcome line.
        let subject = Subject { changes: vec![], ..step_subject(platform, step) };
        let detail = Some(format!("held ({held_because}); released by approval"));
        let record = AuditRecord::new(run_id, "approve", subject, Outcome::Released.as_str(), detail);
        if let Err(e) = self.audit.append(record) {
            tracing::error!(platform, error = %e, "audit write failed");
        }
    }
}
