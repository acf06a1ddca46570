//! One reconcile run: read the roster, plan every platform (desired → diff → guards),
//! apply, and record the outcome. The engine owns the store, the audit trail, the source
//! and the connectors; everything it decides comes from the pure parts below it.

pub mod apply;
pub mod approve;
pub mod chunks;
pub mod conflict;
pub mod desired;
pub mod diff;
pub mod group_run;
pub mod groups;
pub mod guard;
pub mod journal;
pub mod listing;
pub mod metrics;
pub mod plan;
pub mod status;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::audit::{AuditError, AuditLog};
use crate::config::{Config, PlatformConfig};
use crate::model::{Account, AccountStatus, Roster};
use crate::platform::{Connector, PlatformError};
use crate::source::{Source, SourceError};
use crate::store::{OpenOutcome, RunRecord, Store, StoreError};
use apply::{apply_platform, ApplyContext, PlatformSummary};
use desired::Mapped;
use diff::{diff, DiffInput};
use guard::{apply_grace, apply_guards, GuardPolicy};
use journal::Intent;
use plan::{Plan, PlatformPlan, PLAN_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("identity source: {0}; nothing was changed")]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("{0}")]
    Setup(String),
    #[error("the plan file is version {found}, this rosterd reads version {PLAN_VERSION}; plan again")]
    PlanVersion { found: u32 },
    #[error("platform {0:?} is not in the config")]
    UnknownPlatform(String),
    /// `approve` of a run that held nothing (or is unknown), or whose removals were released.
    #[error("{0}")]
    NotApprovable(String),
}

/// What the guards of one run know beyond the plan itself.
struct RunFacts {
    run_id: String,
    now: chrono::DateTime<chrono::Utc>,
    /// Why the roster shrank too far, if it did.
    shrank: Option<String>,
}

/// A platform as the engine drives it.
pub struct PlatformRuntime {
    pub config: PlatformConfig,
    pub connector: Box<dyn Connector>,
}

/// A plan with the listings it was made from (needed to apply it in the same run).
pub struct Planned {
    pub plan: Plan,
    pub actual: HashMap<String, Vec<Account>>,
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub record: RunRecord,
}

impl RunSummary {
    pub fn failed(&self) -> usize {
        self.record.platforms.iter().map(|p| p.failed + usize::from(p.error.is_some())).sum()
    }

    pub fn held(&self) -> usize {
        self.record.platforms.iter().map(|p| p.held + p.conflicts).sum()
    }

    /// Steps of quarantined records set aside this run.
    pub fn quarantined(&self) -> usize {
        self.record.platforms.iter().map(|p| p.quarantined).sum()
    }

    /// The summary as a table: created / updated / deactivated / held / failed per platform.
    pub fn to_table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{:<16} {:>7} {:>7} {:>6} {:>11} {:>11} {:>5} {:>9} {:>6} {:>11}\n",
            "platform",
            "created",
            "updated",
            "linked",
            "reactivated",
            "deactivated",
            "held",
            "conflicts",
            "failed",
            "quarantined"
        );
        for p in &self.record.platforms {
            let _ = writeln!(
                out,
                "{:<16} {:>7} {:>7} {:>6} {:>11} {:>11} {:>5} {:>9} {:>6} {:>11}",
                p.platform,
                p.created,
                p.updated,
                p.linked,
                p.reactivated,
                p.deactivated,
                p.held,
                p.conflicts,
                p.failed,
                p.quarantined
            );
            if let Some(e) = &p.error {
                let _ = writeln!(out, "  ! {e}");
            }
            if p.skipped > 0 {
                let _ = writeln!(out, "  ! {} step(s) not started: rosterd was stopping", p.skipped);
            }
            if p.groups > 0 {
                let _ = writeln!(out, "  {} group step(s) applied", p.groups);
            }
        }
        if self.record.platforms.iter().any(|p| p.held > 0) {
            let id = &self.record.run_id;
            let _ = writeln!(
                out,
                "Held steps: review them with `rosterd audit --run {id}`; release the removals with `rosterd approve {id}`"
            );
        }
        out
    }
}

/// Owns everything a run touches.
pub struct Engine {
    pub config: Config,
    pub store: Store,
    pub audit: AuditLog,
    pub source: Box<dyn Source>,
    pub platforms: Vec<PlatformRuntime>,
    /// Set on a graceful stop: steps not yet started are skipped, calls in flight finish.
    stopping: AtomicBool,
    /// Where the run's step outcomes are counted (the daemon's metrics, or nowhere).
    metrics: Box<dyn metrics::RunMetrics>,
}

/// A time-sortable run id: runs list in order in the store and the audit trail.
pub fn new_run_id() -> String {
    let suffix: u16 = rand::random();
    format!("{}-{suffix:04x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

impl Engine {
    /// Open the store and the audit trail under the config's state_dir.
    pub fn new(
        config: Config,
        source: Box<dyn Source>,
        platforms: Vec<PlatformRuntime>,
        metrics: Box<dyn metrics::RunMetrics>,
    ) -> Result<Engine, EngineError> {
        crate::private::create_dir(&config.state_dir)
            .map_err(|e| EngineError::Setup(format!("cannot create state_dir {}: {e}", config.state_dir.display())))?;
        let (store, outcome) = Store::open(&config.state_dir, config.cache_capacity)?;
        if let OpenOutcome::Rebuilt { moved_to, cause } = &outcome {
            tracing::warn!(moved_to = %moved_to.display(), cause, "the store would not open: moved it aside and started a new one; links are re-made by matching keys on the next run");
        }
        if let Err(e) = crate::private::tighten_tree(&config.state_dir.join("store")) {
            tracing::warn!(error = %e, "cannot make the store's files private (0600); check who owns state_dir");
        }
        let head = Box::new(store.audit_head()?);
        let audit = AuditLog::open_anchored(&config.audit_path(), head, config.audit_key.clone())?;
        Ok(Engine { config, store, audit, source, platforms, stopping: AtomicBool::new(false), metrics })
    }

    /// Swap the config, source and connectors between runs (a reload). The store and the
    /// audit trail stay open, so a changed `state_dir` or cache size waits for a restart;
    /// the returned notes say what was kept.
    pub fn reconfigure(
        &mut self,
        mut config: Config,
        source: Box<dyn Source>,
        platforms: Vec<PlatformRuntime>,
    ) -> Vec<String> {
        let mut kept = Vec::new();
        if config.state_dir != self.config.state_dir {
            kept.push(format!("state_dir stays {} until rosterd restarts", self.config.state_dir.display()));
            config.state_dir = self.config.state_dir.clone();
        }
        if config.cache_capacity != self.config.cache_capacity {
            kept.push("store.cache_capacity_mb takes effect when rosterd restarts".to_string());
            config.cache_capacity = self.config.cache_capacity;
        }
        if !crate::anchor::AuditKey::same(config.audit_key.as_ref(), self.config.audit_key.as_ref()) {
            kept.push("audit.hmac_key_file takes effect when rosterd restarts".to_string());
            config.audit_key = self.config.audit_key.clone();
        }
        self.config = config;
        self.source = source;
        self.platforms = platforms;
        kept
    }

    /// A graceful stop: no new step starts; steps already calling a platform finish.
    pub fn stop_new_steps(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Make the store and the audit trail durable (end of the daemon).
    pub fn close(&self) -> Result<(), EngineError> {
        self.store.flush()?;
        self.audit.sync()?;
        Ok(())
    }

    fn runtime(&self, name: &str) -> Option<&PlatformRuntime> {
        self.platforms.iter().find(|p| p.config.name == name)
    }

    /// Read the roster and plan every enabled platform (or just `only`).
    pub async fn plan(&self, only: Option<&str>) -> Result<Planned, EngineError> {
        self.plan_as(only, new_run_id()).await
    }

    async fn plan_as(&self, only: Option<&str>, run_id: String) -> Result<Planned, EngineError> {
        if let Some(name) = only {
            self.runtime(name).ok_or_else(|| EngineError::UnknownPlatform(name.to_string()))?;
        }
        let roster = self.read_source().await?;
        if let Some(why) = &roster.incomplete_reason {
            tracing::warn!(reason = %why, "the roster read was incomplete: no access will be removed this run");
        }
        let active_people = roster.people.iter().filter(|p| p.active).count();
        let shrank = if roster.complete {
            let previous = self.store.roster_size(&self.source.describe())?;
            guard::shrink_reason(previous, active_people, self.config.safety.shrink_guard_percent)
        } else {
            None
        };
        if let Some(why) = &shrank {
            tracing::warn!(reason = %why, "the roster shrank: no access will be removed this run");
        }
        let facts = RunFacts { run_id: run_id.clone(), now: chrono::Utc::now(), shrank };
        let selected = self.platforms.iter().filter(|p| p.config.enabled && only.is_none_or(|o| o == p.config.name));
        let planned = futures::future::join_all(
            selected.map(|p| self.plan_platform(p, &roster, &facts).instrument(platform_span(&p.config.name))),
        )
        .await;
        let mut actual = HashMap::new();
        let mut platforms = Vec::new();
        for (plan, accounts) in planned {
            actual.insert(plan.platform.clone(), accounts);
            platforms.push(plan);
        }
        let plan = Plan {
            version: PLAN_VERSION,
            run_id,
            created_at: chrono::Utc::now().to_rfc3339(),
            source: self.source.describe(),
            roster_complete: roster.complete,
            roster_incomplete_reason: roster.incomplete_reason.clone(),
            roster_shrank: facts.shrank,
            people: roster.people.len(),
            active_people: Some(active_people),
            platforms,
        };
        Ok(Planned { plan, actual })
    }

    async fn plan_platform(
        &self,
        p: &PlatformRuntime,
        roster: &Roster,
        facts: &RunFacts,
    ) -> (PlatformPlan, Vec<Account>) {
        let name = &p.config.name;
        let actual = match self.read_platform(p).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(platform = %name, error = %e, "platform not planned");
                return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, Vec::new());
            }
        };
        if let Err(e) = check_roles(p).await {
            return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual);
        }
        let links = match self.store.links(name) {
            Ok(l) => l,
            Err(e) => return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual),
        };
        let traits = p.connector.traits();
        let actual = match status::planning_view(p, actual, &links, &roster.people).await {
            Ok(a) => a,
            Err((e, actual)) => {
                return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual)
            }
        };
        let input = DiffInput {
            platform: name,
            traits: &traits,
            wants: &Mapped::new(&roster.people, &p.config.mapping),
            actual: &actual,
            links: &links,
            protected: &p.config.protected,
        };
        let mut plan = diff(&input);
        if let Some(why) = traits.removals_held {
            guard::hold_removals(&mut plan, why);
        }
        if let Some(why) = &facts.shrank {
            guard::hold_removals(&mut plan, why);
        } else if roster.complete {
            let missing = match self.store.missing(name) {
                Ok(m) => m,
                Err(e) => return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual),
            };
            let inactive =
                roster.people.iter().filter(|person| !person.active).map(|person| person.id.to_string()).collect();
            apply_grace(&mut plan, &self.config.safety.grace, &missing, &inactive, &facts.run_id, facts.now);
        }
        apply_guards(&mut plan, &self.guard_policy(roster), managed_active(&links, &actual));
        match self.store.quarantined_in(name) {
            Ok(q) => journal::set_aside(&mut plan, &q, chrono::Utc::now()),
            Err(e) => return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual),
        }
        plan.fingerprint = fingerprint(&plan, &actual);
        if let Some(target) = p.connector.groups() {
            let accounts_here = (actual.as_slice(), &p.config.protected);
            group_run::plan_platform_groups(
                &self.store,
                target,
                name,
                roster,
                &p.config.mapping,
                accounts_here,
                &mut plan,
            )
            .await;
        }
        (plan, actual)
    }

    /// Read the roster. An unchecked certificate is said at every read, not once at start:
    /// a daemon's log must show it on any day someone looks.
    async fn read_source(&self) -> Result<Roster, EngineError> {
        if let Some(warning) = self.config.source.insecure_warning() {
            tracing::warn!(source = %self.source.describe(), "{warning}");
        }
        Ok(self.source.read_with(&self.store).await?)
    }

    /// List a platform (and cache the listing): the first call of every run that touches it,
    /// so an unchecked certificate is said here, each run.
    async fn read_platform(&self, p: &PlatformRuntime) -> Result<Vec<Account>, PlatformError> {
        if let Some(warning) = p.config.insecure_warning() {
            tracing::warn!(platform = %p.config.name, "{warning}");
        }
        p.connector.prepare().await?;
        listing::read_accounts(&self.store, p.connector.as_ref(), &p.config.name).await
    }

    fn guard_policy(&self, roster: &Roster) -> GuardPolicy {
        GuardPolicy {
            roster_incomplete: (!roster.complete)
                .then(|| roster.incomplete_reason.clone().unwrap_or_else(|| "reason unknown".into())),
            max_removals_count: self.config.safety.max_removals_count,
            max_removals_percent: self.config.safety.max_removals_percent,
        }
    }

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
                "interrupted".into()
            } else if failed {
                "partial".into()
            } else {
                "ok".into()
            },
            platforms,
        };
        self.store.record_run(&record)?;
        self.store.flush()?;
        self.audit.sync()?;
        Ok(RunSummary { record })
    }

    /// Apply a reviewed plan file: each platform is listed again and refused if the
    /// accounts the plan touches have changed since it was made.
    pub async fn apply_reviewed(&self, mut plan: Plan, trigger: &str) -> Result<RunSummary, EngineError> {
        if plan.version != PLAN_VERSION {
            return Err(EngineError::PlanVersion { found: plan.version });
        }
        self.resolve_pending(trigger).await?;
        let mut actual = HashMap::new();
        for pp in &mut plan.platforms {
            let Some(rt) = self.runtime(&pp.platform) else {
                return Err(EngineError::UnknownPlatform(pp.platform.clone()));
            };
            let read = match (self.read_platform(rt).await, self.store.links(&pp.platform)) {
                (Ok(accounts), Ok(links)) => status::reviewed_view(rt, &links, pp, accounts).await,
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            };
            match read {
                Ok(accounts) if fingerprint(pp, &accounts) == pp.fingerprint => {
                    actual.insert(pp.platform.clone(), accounts);
                }
                Ok(_) => {
                    pp.error = Some(
                        "the platform changed since this plan was made; nothing applied here: plan again and review"
                            .into(),
                    )
                }
                Err(e) => pp.error = Some(e),
            }
        }
        self.apply(&Planned { plan, actual }, trigger).await
    }

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
            let mut step = intent.step();
            let (outcome, detail) = if intent.action == plan::Action::Create {
                let found = match rt.connector.prepare().await {
                    Ok(()) => rt.connector.find(&intent.key).await,
                    Err(e) => Err(e),
                };
                match found {
                    Ok(Some(account)) => {
                        let link = diff::Link {
                            account_id: account.id.clone(),
                            origin: diff::LinkOrigin::Created,
                            removed: false,
                        };
                        self.store.set_link(&intent.platform, &intent.person_id, &link)?;
                        self.store.cache_account(&intent.platform, &account)?;
                        step.account_id = Some(account.id.into());
                        ("ok", format!("{stopped}; found on the platform"))
                    }
                    Ok(None) => ("failed", format!("{stopped}; not on the platform, so it is planned again")),
                    Err(e) => {
                        tracing::warn!(platform = %intent.platform, person = %intent.label, error = %e, "a write of an earlier run is still unresolved: the platform cannot be read");
                        continue;
                    }
                }
            } else {
                ("unknown", format!("{stopped}; this run's plan checks the account again"))
            };
            // Killed after the step's outcome was audited but before its intent was cleared:
            // the audit trail already holds the step's one line; do not write a second.
            let already = audited.contains(&outcome_key(&intent, outcome))
                || (outcome == "unknown"
                    && ["ok", "failed"].iter().any(|o| audited.contains(&outcome_key(&intent, o))));
            tracing::info!(platform = %intent.platform, person = %intent.label, action = intent.action.as_str(), outcome, already_audited = already, "resolved a write of an earlier run");
            if !already {
                apply::audit(&ctx, &intent.platform, &step, outcome, Some(detail));
            }
            self.store.clear_intent(&intent.platform, &intent.person_id)?;
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

    /// The access report: every account of every enabled platform (or just `only`), with
    /// the person it belongs to and what is wrong with it. Changes nothing.
    pub async fn report(&self, only: Option<&str>) -> Result<crate::report::Report, EngineError> {
        if let Some(name) = only {
            self.runtime(name).ok_or_else(|| EngineError::UnknownPlatform(name.to_string()))?;
        }
        let roster = self.read_source().await?;
        let mut report = crate::report::Report {
            roster_complete: roster.complete,
            people: roster.people.len(),
            ..Default::default()
        };
        for p in self.platforms.iter().filter(|p| p.config.enabled && only.is_none_or(|o| o == p.config.name)) {
            match self.report_platform(p, &roster).await {
                Ok(rows) => report.rows.extend(rows),
                Err(e) => {
                    report.errors.insert(p.config.name.clone(), e);
                }
            }
            match p.connector.designations().await {
                Ok(d) => report.designations.extend(crate::report::designation_rows(&p.config.name, d, &roster.people)),
                Err(e) => {
                    report.errors.insert(format!("{} designations", p.config.name), e.to_string());
                }
            }
        }
        Ok(report)
    }

    async fn report_platform(&self, p: &PlatformRuntime, roster: &Roster) -> Result<Vec<crate::report::Row>, String> {
        let actual = self.read_platform(p).await.map_err(|e| e.to_string())?;
        let links = self.store.links(&p.config.name).map_err(|e| e.to_string())?;
        let actual = status::planning_view(p, actual, &links, &roster.people).await.map_err(|(e, _)| e.to_string())?;
        let keys: Vec<(String, &crate::model::Person)> = roster
            .people
            .iter()
            .map(|person| (p.config.mapping.key.render(crate::model::PersonNode::of(person)), person))
            .collect();
        let input = crate::report::PlatformInput {
            platform: &p.config.name,
            accounts: &actual,
            links: &links,
            keys: &keys,
            inactive_is_lock_out: p.connector.traits().status_from_links,
        };
        Ok(crate::report::platform_rows(&input, &roster.people))
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

/// The child span of a run for one platform's work.
fn platform_span(name: &str) -> tracing::Span {
    tracing::info_span!("platform", platform = %name)
}

/// Refuse a platform whose config names roles it does not have. Every role a desired
/// account carries comes from one of the mapping's rules, so the rules are what is checked.
async fn check_roles(p: &PlatformRuntime) -> Result<(), PlatformError> {
    let Some(known) = p.connector.known_roles().await? else { return Ok(()) };
    for role in p.config.mapping.roles.iter().map(|r| r.role.as_str()) {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(role)) {
            return Err(PlatformError::Unsupported {
                platform: p.config.name.clone(),
                message: format!(
                    "unknown role {role:?} (roles here: {}); fix the platform's roles in the config",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// For platforms whose listing cannot show access (Affise), an account rosterd removed
/// reads as inactive, and any other as active.
fn status_from_links(mut actual: Vec<Account>, links: &BTreeMap<String, diff::Link>) -> Vec<Account> {
    let removed: std::collections::HashSet<&str> =
        links.values().filter(|l| l.removed).map(|l| l.account_id.as_str()).collect();
    for a in &mut actual {
        a.status = if removed.contains(a.id.as_str()) { AccountStatus::Inactive } else { AccountStatus::Active };
    }
    actual
}

/// Active accounts rosterd has linked: the base for the removal percentage.
fn managed_active(links: &BTreeMap<String, diff::Link>, actual: &[Account]) -> usize {
    let active: HashMap<&str, bool> =
        actual.iter().map(|a| (a.id.as_str(), a.status == AccountStatus::Active)).collect();
    links.values().filter(|l| active.get(l.account_id.as_str()).copied().unwrap_or(false)).count()
}

/// A hash of what the plan's steps depend on: each touched account as listed, and for
/// creates whether the key is still free.
pub fn fingerprint(plan: &PlatformPlan, actual: &[Account]) -> String {
    let by_id: HashMap<&str, &Account> = actual.iter().map(|a| (a.id.as_str(), a)).collect();
    let keys: std::collections::HashSet<compact_str::CompactString> =
        actual.iter().map(|a| crate::model::normalize_key(&a.key)).collect();
    let mut h = Sha256::new();
    for s in &plan.steps {
        match s.account_id.as_deref() {
            Some(id) => h.update(
                by_id.get(id).map(|a| serde_json::to_vec(a).unwrap_or_default()).unwrap_or_else(|| b"missing".to_vec()),
            ),
            None => h.update(if keys.contains(s.key.as_str()) { b"taken:".as_slice() } else { b"free:".as_slice() }),
        }
        h.update(s.key.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Run id, platform, person id, action and outcome of an audit line.
type OutcomeKey = (String, String, String, String, String);

/// The key of an intent's outcome line in the audit trail (see `Engine::audited_outcomes`).
fn outcome_key(intent: &Intent, outcome: &str) -> OutcomeKey {
    (
        intent.run_id.clone(),
        intent.platform.clone(),
        intent.person_id.clone(),
        intent.action.as_str().to_string(),
        outcome.to_string(),
    )
}
