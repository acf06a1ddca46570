//! Apply: run a platform's plan against its connector with bounded concurrency. A step
//! that fails is recorded and the run goes on; every attempt lands in the audit trail.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::diff::{Link, LinkOrigin};
use super::plan::{Action, PlatformPlan, Step};
use crate::audit::{AuditLog, AuditRecord};
use crate::model::{Account, AccountStatus, DesiredAccount, FieldChange, ROLE_FIELD};
use crate::platform::{Connector, PlatformError};
use crate::store::Store;

/// What one platform's apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSummary {
    pub platform: String,
    pub created: usize,
    pub updated: usize,
    pub linked: usize,
    pub reactivated: usize,
    pub deactivated: usize,
    pub held: usize,
    pub conflicts: usize,
    pub failed: usize,
    /// Steps not started because rosterd was stopping (they run again next time).
    #[serde(default)]
    pub skipped: usize,
    /// Set when the platform could not be planned or applied at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlatformSummary {
    fn count(&mut self, action: Action) {
        match action {
            Action::Create => self.created += 1,
            Action::Update => self.updated += 1,
            Action::Link => self.linked += 1,
            Action::Reactivate => self.reactivated += 1,
            Action::Deactivate => self.deactivated += 1,
        }
    }

    pub fn changed(&self) -> usize {
        self.created + self.updated + self.reactivated + self.deactivated
    }
}

/// Who is applying, for the audit trail.
pub struct ApplyContext<'a> {
    pub run_id: &'a str,
    pub trigger: &'a str,
    pub store: &'a Store,
    pub audit: &'a AuditLog,
    pub concurrency: usize,
    /// Set on a graceful stop: steps not yet started are skipped.
    pub stopping: &'a std::sync::atomic::AtomicBool,
}

/// Apply one platform's plan. `actual` is the listing the steps refer to by account id.
pub async fn apply_platform(
    ctx: &ApplyContext<'_>,
    connector: &dyn Connector,
    plan: &PlatformPlan,
    actual: &[Account],
) -> PlatformSummary {
    let mut summary =
        PlatformSummary { platform: plan.platform.clone(), conflicts: plan.conflicts.len(), ..Default::default() };
    for step in plan.held() {
        summary.held += 1;
        audit(ctx, &plan.platform, step, "held", step.held.clone());
    }
    for c in &plan.conflicts {
        ctx.audit_conflict(&plan.platform, c);
    }
    let by_id: HashMap<&str, &Account> = actual.iter().map(|a| (a.id.as_str(), a)).collect();
    let results: Vec<(Action, Option<bool>)> = stream::iter(plan.runnable())
        .map(|step| async { (step.action, run_step(ctx, connector, &plan.platform, step, &by_id).await) })
        .buffer_unordered(ctx.concurrency.max(1))
        .collect()
        .await;
    for (action, ran) in results {
        match ran {
            Some(true) => summary.count(action),
            Some(false) => summary.failed += 1,
            None => summary.skipped += 1,
        }
    }
    summary
}

impl ApplyContext<'_> {
    fn audit_conflict(&self, platform: &str, c: &super::plan::Conflict) {
        let record = AuditRecord {
            time: chrono::Utc::now().to_rfc3339(),
            run_id: self.run_id.into(),
            trigger: self.trigger.into(),
            platform: platform.into(),
            person_id: c.person_id.clone(),
            person: c.label.clone(),
            account_id: None,
            action: "none".into(),
            changes: vec![],
            outcome: "conflict".into(),
            detail: Some(c.reason.clone()),
            prev: String::new(),
            hash: String::new(),
        };
        crate::daemon::metrics::step(platform, "none", "conflict");
        if let Err(e) = self.audit.append(record) {
            tracing::error!(error = %e, "audit write failed");
        }
    }
}

/// Run one step; returns whether it succeeded, or None when it was not started because
/// rosterd is stopping. Failures are logged and audited here, once, at the step boundary.
async fn run_step(
    ctx: &ApplyContext<'_>,
    connector: &dyn Connector,
    platform: &str,
    step: &Step,
    actual: &HashMap<&str, &Account>,
) -> Option<bool> {
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    let outcome = execute(ctx, connector, platform, step, actual).await;
    match outcome {
        Ok(account_id) => {
            let mut step = step.clone();
            step.account_id = account_id;
            tracing::info!(platform, person = %step.label, action = step.action.as_str(), "applied");
            audit(ctx, platform, &step, "ok", None);
            Some(true)
        }
        Err(e) => {
            tracing::warn!(platform, person = %step.label, action = step.action.as_str(), error = %e, "step failed");
            audit(ctx, platform, step, "failed", Some(e.to_string()));
            Some(false)
        }
    }
}

/// The platform call for a step, then the store's record of it. Returns the account id.
async fn execute(
    ctx: &ApplyContext<'_>,
    connector: &dyn Connector,
    platform: &str,
    step: &Step,
    actual: &HashMap<&str, &Account>,
) -> Result<Option<String>, StepError> {
    if step.action == Action::Create {
        let created = connector.create(&desired_from(step)).await?;
        let link = Link { account_id: created.id.clone(), origin: LinkOrigin::Created, removed: false };
        ctx.store.set_link(platform, &step.person_id, &link).map_err(|e| StepError::Store(e.to_string()))?;
        ctx.store.cache_account(platform, &created).map_err(|e| StepError::Store(e.to_string()))?;
        return Ok(Some(created.id));
    }
    let id = step.account_id.as_deref().ok_or(StepError::NoAccount)?;
    let account = *actual.get(id).ok_or(StepError::NoAccount)?;
    match step.action {
        Action::Update => connector.update(account, &step.changes).await?,
        Action::Reactivate => connector.reactivate(account, &step.changes).await?,
        Action::Deactivate => connector.deactivate(account).await?,
        Action::Link | Action::Create => {}
    }
    record_link(ctx, platform, step, account)?;
    let after = account_after(account, step);
    ctx.store.cache_account(platform, &after).map_err(|e| StepError::Store(e.to_string()))?;
    Ok(Some(account.id.clone()))
}

/// Keep the link in step with what the step did: adopted, removed, or restored.
fn record_link(ctx: &ApplyContext<'_>, platform: &str, step: &Step, account: &Account) -> Result<(), StepError> {
    let store_err = |e: crate::store::StoreError| StepError::Store(e.to_string());
    let existing = ctx.store.links(platform).map_err(store_err)?.remove(&step.person_id);
    let origin = match (&existing, step.adopt) {
        (Some(l), false) if l.account_id == account.id => l.origin,
        _ => LinkOrigin::Adopted,
    };
    let removed = match step.action {
        Action::Deactivate => true,
        Action::Reactivate => false,
        _ => existing.as_ref().is_some_and(|l| l.removed),
    };
    if step.adopt || existing.as_ref().is_some_and(|l| l.removed != removed) {
        let link = Link { account_id: account.id.clone(), origin, removed };
        ctx.store.set_link(platform, &step.person_id, &link).map_err(store_err)?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("the account this step refers to is no longer listed by the platform; plan again")]
    NoAccount,
    #[error("the change was made but rosterd's store could not record it: {0}")]
    Store(String),
}

/// Rebuild the desired account a create step was planned from.
pub fn desired_from(step: &Step) -> DesiredAccount {
    let mut fields = std::collections::BTreeMap::new();
    let mut role = None;
    for c in &step.changes {
        match (&c.after, c.field.as_str()) {
            (Some(v), ROLE_FIELD) => role = Some(v.clone()),
            (Some(v), f) => {
                fields.insert(f.to_string(), v.clone());
            }
            (None, _) => {}
        }
    }
    DesiredAccount { person_id: step.person_id.clone(), label: step.label.clone(), key: step.key.clone(), fields, role }
}

/// The account as it stands once the step succeeded, for the cache.
pub fn account_after(account: &Account, step: &Step) -> Account {
    let mut a = account.clone();
    apply_changes(&mut a, &step.changes);
    match step.action {
        Action::Deactivate => a.status = AccountStatus::Inactive,
        Action::Reactivate => a.status = AccountStatus::Active,
        _ => {}
    }
    a
}

fn apply_changes(a: &mut Account, changes: &[FieldChange]) {
    for c in changes {
        match (c.field.as_str(), &c.after) {
            ("status", _) => {}
            (ROLE_FIELD, after) => a.role = after.clone(),
            (f, Some(v)) => {
                a.fields.insert(f.to_string(), v.clone());
            }
            (f, None) => {
                a.fields.remove(f);
            }
        }
    }
}

/// The one place a step's outcome is recorded: the audit trail and the metrics.
fn audit(ctx: &ApplyContext<'_>, platform: &str, step: &Step, outcome: &str, detail: Option<String>) {
    crate::daemon::metrics::step(platform, step.action.as_str(), outcome);
    let record = AuditRecord {
        time: chrono::Utc::now().to_rfc3339(),
        run_id: ctx.run_id.into(),
        trigger: ctx.trigger.into(),
        platform: platform.into(),
        person_id: step.person_id.clone(),
        person: step.label.clone(),
        account_id: step.account_id.clone(),
        action: step.action.as_str().into(),
        changes: step.changes.clone(),
        outcome: outcome.into(),
        detail: detail.or_else(|| step.reason.clone()),
        prev: String::new(),
        hash: String::new(),
    };
    if let Err(e) = ctx.audit.append(record) {
        // The change itself happened; say loudly that its record did not.
        tracing::error!(platform, error = %e, "audit write failed");
    }
}
