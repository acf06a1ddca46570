//! Crash recovery: the writes an earlier run sent but never heard back about are resolved
//! by reading the platform, each with its one audit line.

use std::collections::HashSet;

use super::apply::{self, ApplyContext};
use super::journal::Intent;
use super::{diff, plan, Engine, EngineError};
use crate::model::Outcome;

impl Engine {
    /// Resolve the writes whose outcome an earlier run never learnt (rosterd stopped
    /// between sending and the answer), by reading the platform, never by writing: a
    /// create found by its key is linked, one not found is planned again; any other write
    /// is re-checked by this run's plan. Each gets its one audit line here. An intent whose
    /// platform cannot be read stays for the next run.
    pub async fn resolve_pending(&self, trigger: &str) -> Result<usize, EngineError> {
        let mut resolved = 0;
        let pending = self.store.pending_intents()?;
        let audited = if pending.is_empty() { HashSet::new() } else { self.audited_outcomes() };
        for intent in pending {
            let Some(rt) = self.runtime(&intent.platform) else { continue };
            let ctx = ApplyContext {
                run_id: &intent.run_id,
                trigger: &intent.trigger,
                store: &self.store,
                audit: &self.audit,
                concurrency: 1,
                stopping: &self.stopping,
                metrics: self.metrics.as_ref(),
            };
            let stopped = format!("rosterd stopped before the answer (run {}, trigger {trigger})", intent.run_id);
            let mut step = intent.step.clone();
            let (outcome, detail) = if intent.step.action == plan::Action::Create {
                let found = match rt.connector.prepare().await {
                    Ok(()) => rt.connector.find(&intent.step.key).await,
                    Err(e) => Err(e),
                };
                match found {
                    Ok(Some(account)) => {
                        let link = diff::Link {
                            account_id: account.id.clone(),
                            origin: diff::LinkOrigin::Created,
                            removed: false,
                        };
                        self.store.set_link(&intent.platform, &intent.step.person_id, &link)?;
                        self.store.cache_account(&intent.platform, &account)?;
                        step.account_id = Some(account.id.into());
                        (Outcome::Ok, format!("{stopped}; found on the platform"))
                    }
                    Ok(None) => (Outcome::Failed, format!("{stopped}; not on the platform, so it is planned again")),
                    Err(e) => {
                        tracing::warn!(platform = %intent.platform, person = %intent.step.label, error = %e, "a write of an earlier run is still unresolved: the platform cannot be read");
                        continue;
                    }
                }
            } else {
                (Outcome::Unknown, format!("{stopped}; this run's plan checks the account again"))
            };
            // Killed after the step's outcome was audited but before its intent was cleared:
            // the audit trail already holds the step's one line; do not write a second.
            let already = audited.contains(&outcome_key(&intent, outcome))
                || (outcome == Outcome::Unknown
                    && [Outcome::Ok, Outcome::Failed].into_iter().any(|o| audited.contains(&outcome_key(&intent, o))));
            tracing::info!(platform = %intent.platform, person = %intent.step.label, action = intent.step.action.as_str(), outcome = outcome.as_str(), already_audited = already, "resolved a write of an earlier run");
            if !already {
                apply::audit(&ctx, &intent.platform, &step, outcome.as_str(), Some(detail));
            }
            self.store.clear_intent(&intent.platform, &intent.step.person_id)?;
            resolved += 1;
        }
        if resolved > 0 {
            self.store.flush()?;
            self.audit.sync()?;
        }
        Ok(resolved)
    }

    /// The outcomes the audit trail already holds, by run, platform, person, action and
    /// outcome. An unreadable line is skipped here: `rosterd audit --verify` reports it.
    fn audited_outcomes(&self) -> HashSet<OutcomeKey> {
        let Ok(records) = crate::audit::read_records(self.audit.path()) else { return HashSet::new() };
        records.filter_map(Result::ok).map(|r| (r.run_id, r.platform, r.person_id, r.action, r.outcome)).collect()
    }
}

/// Run id, platform, person id, action and outcome of an audit line.
type OutcomeKey = (String, String, String, String, String);

/// The key of an intent's outcome line in the audit trail (see `Engine::audited_outcomes`).
fn outcome_key(intent: &Intent, outcome: Outcome) -> OutcomeKey {
    (
        intent.run_id.clone(),
        intent.platform.clone(),
        intent.step.person_id.clone(),
        intent.step.action.as_str().to_string(),
        outcome.as_str().to_string(),
    )
}
