//! Apply: run a platform's plan against its connector with bounded concurrency. A step
//! that fails is recorded and the run goes on; every attempt lands in the audit trail.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};

use super::diff::{Link, LinkOrigin};
use super::journal::{is_ambiguous, is_permanent, Intent, Quarantined};
use super::plan::{Action, PlatformPlan, Step};
use crate::audit::{AuditLog, AuditRecord, Subject};
use crate::model::{Account, AccountStatus, DesiredAccount, FieldChange, Outcome, ROLE_FIELD};
use crate::platform::{Connector, PlatformError};
use crate::store::Store;

/// Defined below both the engine and the store, which keeps it in the run history.
pub use crate::records::summary::PlatformSummary;

/// Who is applying, for the audit trail.
pub struct ApplyContext<'a> {
    pub run_id: &'a str,
    pub trigger: &'a str,
    pub store: &'a Store,
    pub audit: &'a AuditLog,
    pub concurrency: usize,
    /// Set on a graceful stop: steps not yet started are skipped.
    pub stopping: &'a std::sync::atomic::AtomicBool,
    /// Where step outcomes are counted.
    pub metrics: &'a dyn super::metrics::RunMetrics,
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
        audit(ctx, &plan.platform, step, Outcome::Held.as_str(), step.held.clone());
    }
    for c in &plan.conflicts {
        ctx.audit_conflict(&plan.platform, c);
    }
    summary.quarantined = plan.quarantined.len();
    release_settled(ctx, plan);
    let by_id = actual.iter().map(|a| (a.id.as_str(), a)).collect();
    let target = Target { connector, platform: &plan.platform, actual: by_id };
    let results: Vec<(Action, Option<bool>)> = stream::iter(plan.runnable())
        .map(|step| async { (step.action, run_step(ctx, &target, step).await) })
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

/// The platform a plan's steps run against: its connector, its name, and its listing by
/// account id (what the steps refer to).
struct Target<'a> {
    connector: &'a dyn Connector,
    platform: &'a str,
    actual: HashMap<&'a str, &'a Account>,
}

impl ApplyContext<'_> {
    fn audit_conflict(&self, platform: &str, c: &super::plan::Conflict) {
        let subject = Subject {
            platform: platform.into(),
            person_id: c.person_id.clone(),
            person: c.label.clone(),
            account_id: None,
            action: "none".into(),
            changes: vec![],
        };
        let record =
            AuditRecord::new(self.run_id, self.trigger, subject, Outcome::Conflict.as_str(), Some(c.reason.clone()));
        self.metrics.step(platform, "none", "conflict");
        if let Err(e) = self.audit.append(record) {
            tracing::error!(error = %e, "audit write failed");
        }
    }
}

/// Run one step; returns whether it succeeded, or None when it was not started because
/// rosterd is stopping. Failures are logged and audited here, once, at the step boundary,
/// with the step's final outcome. A write's intent is journaled before it is sent and
/// cleared once its outcome is audited.
async fn run_step(ctx: &ApplyContext<'_>, target: &Target<'_>, step: &Step) -> Option<bool> {
    let platform = target.platform;
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    let journaled = step.action.writes();
    let outcome = match journaled {
        true => match ctx.store.record_intent(&Intent::of(ctx.run_id, ctx.trigger, platform, step)) {
            Ok(()) => execute(ctx, target, step).await,
            Err(e) => Err(StepError::Journal(e.to_string())),
        },
        false => execute(ctx, target, step).await,
    };
    let succeeded = match outcome {
        Ok(done) => {
            let mut step = step.clone();
            step.account_id = done.account_id;
            tracing::info!(platform, person = %step.label, action = step.action.as_str(), "applied");
            audit(ctx, platform, &step, Outcome::Ok.as_str(), done.detail);
            if let Err(e) = ctx.store.release(platform, &step.person_id) {
                tracing::warn!(platform, person = %step.label, error = %e, "could not release the record from quarantine");
            }
            true
        }
        Err(StepError::Unresolved { write, read }) => {
            // Neither the answer nor a listing: the intent stays, and the next run reads
            // the platform before it plans; that resolution is the step's one audit line.
            tracing::warn!(platform, person = %step.label, action = step.action.as_str(), error = %write, read_error = %read, "outcome unknown: resolved at the next run");
            return Some(false);
        }
        Err(e) => {
            tracing::warn!(platform, person = %step.label, action = step.action.as_str(), error = %e, "step failed");
            audit(ctx, platform, step, Outcome::Failed.as_str(), Some(e.to_string()));
            if let StepError::Platform(pe) = &e {
                if is_permanent(step.action, pe) {
                    quarantine(ctx, platform, step, pe);
                }
            }
            false
        }
    };
    if journaled {
        if let Err(e) = ctx.store.clear_intent(platform, &step.person_id) {
            tracing::warn!(platform, person = %step.label, error = %e, "could not clear the write's intent; the next run re-checks it");
        }
    }
    Some(succeeded)
}

/// Put a record that failed for good in quarantine (or keep it there, waiting longer).
fn quarantine(ctx: &ApplyContext<'_>, platform: &str, step: &Step, e: &PlatformError) {
    let recorded = ctx.store.quarantine_entry(platform, &step.person_id).and_then(|previous| {
        let entry = Quarantined::after_failure(previous, platform, step, e.to_string(), chrono::Utc::now());
        tracing::warn!(platform, person = %step.label, attempts = entry.attempts, next_attempt = %entry.next_attempt, "record quarantined");
        ctx.store.set_quarantined(&entry)
    });
    if let Err(e) = recorded {
        tracing::error!(platform, person = %step.label, error = %e, "could not quarantine the record");
    }
}

/// Release quarantined records that need nothing any more: no step for them in this plan.
fn release_settled(ctx: &ApplyContext<'_>, plan: &PlatformPlan) {
    let Ok(entries) = ctx.store.quarantined_in(&plan.platform) else { return };
    let planned: std::collections::HashSet<&str> = plan
        .steps
        .iter()
        .map(|s| s.person_id.as_str())
        .chain(plan.quarantined.iter().map(|q| q.step.person_id.as_str()))
        .collect();
    for person in entries.keys().filter(|p| !planned.contains(p.as_str())) {
        if let Err(e) = ctx.store.release(&plan.platform, person) {
            tracing::warn!(platform = %plan.platform, error = %e, "could not release a settled record from quarantine");
        }
    }
}

/// What a step that succeeded did.
struct Done {
    account_id: Option<String>,
    /// For the audit line: how the outcome was learnt, when not from the answer.
    detail: Option<String>,
}

/// A create's tries: a create whose answer may have been lost is looked for on the
/// platform before it is sent again.
const CREATE_TRIES: u32 = 3;

/// Create the account. When the answer is lost (no answer, a server error, a garbled
/// answer), the platform is read first: found, it is the account; not found, the create
/// did not happen and is sent again, up to [`CREATE_TRIES`] times.
async fn create(connector: &dyn Connector, step: &Step) -> Result<(Account, Option<String>), StepError> {
    let desired = desired_from(step);
    let mut tries = 0;
    loop {
        tries += 1;
        let e = match connector.create(&desired).await {
            Ok(account) => return Ok((account, None)),
            Err(e) if is_ambiguous(&e) => e,
            Err(e) => return Err(e.into()),
        };
        match connector.find(&step.key).await {
            Ok(Some(account)) => {
                return Ok((account, Some(format!("answer lost ({e}); found on the platform"))));
            }
            Ok(None) if tries < CREATE_TRIES => {
                tracing::debug!(person = %step.label, error = %e, "a create that failed is not on the platform: sending it again");
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(tries))).await;
            }
            Ok(None) => return Err(e.into()),
            Err(read) => return Err(StepError::Unresolved { write: Box::new(e), read: Box::new(read) }),
        }
    }
}

/// The platform call for a step, then the store's record of it. Returns the account id.
async fn execute(ctx: &ApplyContext<'_>, target: &Target<'_>, step: &Step) -> Result<Done, StepError> {
    let (connector, platform, actual) = (target.connector, target.platform, &target.actual);
    if step.action == Action::Create {
        let (created, detail) = create(connector, step).await?;
        let link = Link { account_id: created.id.clone(), origin: LinkOrigin::Created, removed: false };
        ctx.store.set_link(platform, &step.person_id, &link).map_err(|e| StepError::Store(e.to_string()))?;
        ctx.store.cache_account(platform, &created).map_err(|e| StepError::Store(e.to_string()))?;
        return Ok(Done { account_id: Some(created.id.into()), detail });
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
    Ok(Done { account_id: Some(account.id.to_string()), detail: None })
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
    #[error("the write was not sent: its intent could not be journaled: {0}")]
    Journal(String),
    #[error("{write}; and the platform could not be read to see whether it was made ({read})")]
    Unresolved { write: Box<PlatformError>, read: Box<PlatformError> },
}

/// Rebuild the desired account a create step was planned from.
pub fn desired_from(step: &Step) -> DesiredAccount {
    let mut fields = crate::model::Fields::new();
    let mut role = None;
    for c in &step.changes {
        match (&c.after, c.field.as_str()) {
            (Some(v), ROLE_FIELD) => role = Some(v.into()),
            (Some(v), f) => {
                fields.insert(f.into(), v.into());
            }
            (None, _) => {}
        }
    }
    DesiredAccount {
        person_id: step.person_id.as_str().into(),
        label: step.label.as_str().into(),
        key: step.key.as_str().into(),
        fields,
        role,
    }
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
            (ROLE_FIELD, after) => a.role = after.as_deref().map(Into::into),
            (f, Some(v)) => {
                a.fields.insert(f.into(), v.into());
            }
            (f, None) => {
                a.fields.remove(f);
            }
        }
    }
}

/// The one place a step's outcome is recorded: the audit trail and the metrics.
pub(crate) fn audit(ctx: &ApplyContext<'_>, platform: &str, step: &Step, outcome: &str, detail: Option<String>) {
    ctx.metrics.step(platform, step.action.as_str(), outcome);
    let detail = detail.or_else(|| step.reason.clone());
    let record = AuditRecord::new(ctx.run_id, ctx.trigger, step_subject(platform, step), outcome, detail);
    if let Err(e) = ctx.audit.append(record) {
        // The change itself happened; say loudly that its record did not.
        tracing::error!(platform, error = %e, "audit write failed");
    }
}

/// What a step's audit line is about: its person and account on `platform`, and its changes.
pub(crate) fn step_subject(platform: &str, step: &Step) -> Subject {
    Subject {
        platform: platform.into(),
        person_id: step.person_id.clone(),
        person: step.label.clone(),
        account_id: step.account_id.clone(),
        action: step.action.as_str().into(),
        changes: step.changes.clone(),
    }
}
