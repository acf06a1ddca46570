//! A run: apply a plan (made here or reviewed from a file), record its outcome, and the
//! whole read-plan-apply cycle in one span.

use std::collections::HashMap;

use tracing::Instrument;

use super::apply::{apply_platform, ApplyContext, PlatformSummary};
use super::engine::platform_span;
use super::plan::{Plan, PLAN_VERSION};
use super::{
    fingerprint, group_run, new_run_id, status, Engine, EngineError, Planned, PlatformRuntime, ReadError, Refusal,
    RunSummary,
};
use crate::model::RunResult;
use crate::store::RunRecord;

impl Engine {
    /// Apply a plan made in this process, with the listings it was made from.
    pub async fn apply(&self, planned: &Planned, trigger: &str) -> Result<RunSummary, EngineError> {
        let started = chrono::Utc::now();
        let plan = &planned.plan;
        let ctx_for = |p: &PlatformRuntime| ApplyContext {
            run_id: &plan.run_id,
            trigger,
            store: &self.store,
            audit: &self.audit,
            concurrency: p.config.connection.concurrency,
            stopping: &self.stopping,
            metrics: self.metrics.as_ref(),
        };
        let work = plan.platforms.iter().map(|pp| async {
            let Some(rt) = self.runtime(&pp.platform) else {
                return PlatformSummary {
                    platform: pp.platform.clone(),
                    error: Some("not in the config".into()),
                    ..Default::default()
                };
            };
            if let Some(e) = &pp.error {
                return PlatformSummary { platform: pp.platform.clone(), error: Some(e.clone()), ..Default::default() };
            }
            let actual = planned.actual.get(&pp.platform).map(Vec::as_slice).unwrap_or_default();
            let ctx = ctx_for(rt);
            async {
                let mut summary = apply_platform(&ctx, rt.connector.as_ref(), pp, actual).await;
                if let Some(target) = rt.connector.groups() {
                    group_run::apply_platform_groups(&ctx, target, pp, &mut summary).await;
                }
                summary
            }
            .instrument(platform_span(&pp.platform))
            .await
        });
        let summaries = futures::future::join_all(work).await;
        self.record_guard_state(planned)?;
        self.finish(plan, trigger, started, summaries)
    }

    fn finish(
        &self,
        plan: &Plan,
        trigger: &str,
        started: chrono::DateTime<chrono::Utc>,
        platforms: Vec<PlatformSummary>,
    ) -> Result<RunSummary, EngineError> {
        let failed = platforms.iter().any(|p| p.failed > 0 || p.error.is_some());
        let interrupted = platforms.iter().any(|p| p.skipped > 0);
        let record = RunRecord {
            run_id: plan.run_id.clone(),
            trigger: trigger.to_string(),
            started_at: started.to_rfc3339(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            people: plan.people,
            roster_complete: plan.roster_complete,
            result: if interrupted {
                RunResult::Interrupted
            } else if failed {
                RunResult::Partial
            } else {
                RunResult::Ok
            },
            platforms,
        };
        self.store.record_run(&record)?;
        self.store.flush()?;
        self.audit.sync()?;
        Ok(RunSummary { record, refused: Vec::new() })
    }

    /// Apply a reviewed plan file: each platform is listed again and refused if the
    /// accounts the plan touches have changed since it was made.
    pub async fn apply_reviewed(&self, mut plan: Plan, trigger: &str) -> Result<RunSummary, EngineError> {
        if plan.version != PLAN_VERSION {
            return Err(EngineError::PlanVersion { found: plan.version });
        }
        self.resolve_pending(trigger).await?;
        let mut actual = HashMap::new();
        let mut refused = Vec::new();
        for pp in &mut plan.platforms {
            let Some(rt) = self.runtime(&pp.platform) else {
                return Err(EngineError::UnknownPlatform(pp.platform.clone()));
            };
            let read = match (self.read_platform(rt).await, self.store.links(&pp.platform)) {
                (Ok(accounts), Ok(links)) => {
                    status::reviewed_view(rt, &links, pp, accounts).await.map_err(ReadError::from)
                }
                (Err(e), _) => Err(ReadError::from(e)),
                (_, Err(e)) => Err(ReadError::from(e)),
            };
            match read {
                Ok(accounts) if fingerprint(pp, &accounts) == pp.fingerprint => {
                    actual.insert(pp.platform.clone(), accounts);
                }
                Ok(_) => {
                    let refusal = Refusal::PlanChanged { platform: pp.platform.clone() };
                    pp.error = Some(refusal.to_string());
                    refused.push(refusal);
                }
                Err(e) => pp.error = Some(e.to_string()),
            }
        }
        let mut summary = self.apply(&Planned { plan, actual }, trigger).await?;
        summary.refused = refused;
        Ok(summary)
    }

    /// Read, plan, and (unless `dry_run`) apply, in one span that carries the run id.
    pub async fn reconcile(&self, trigger: &str, dry_run: bool) -> Result<(Plan, Option<RunSummary>), EngineError> {
        let run_id = new_run_id();
        let span = tracing::info_span!("run", run_id = %run_id, trigger);
        async move {
            if !dry_run {
                self.resolve_pending(trigger).await?;
            }
            let planned = self.plan_as(None, run_id).await?;
            if dry_run {
                return Ok((planned.plan, None));
            }
            let summary = self.apply(&planned, trigger).await?;
            Ok((planned.plan, Some(summary)))
        }
        .instrument(span)
        .await
    }
}
