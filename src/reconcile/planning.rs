//! Planning: read the roster and each platform, diff, apply the guards, and fingerprint
//! what the plan depends on (so a reviewed plan can be refused when the platform moved).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::desired::Mapped;
use super::diff::{self, diff, DiffInput};
use super::engine::platform_span;
use super::guard::{self, GraceFacts, GuardFacts, GuardPolicy};
use super::plan::{Plan, PlatformPlan, PLAN_VERSION};
use super::{group_run, journal, listing, new_run_id, status, Engine, EngineError, Planned, PlatformRuntime};
use crate::model::{Account, AccountStatus, Roster};
use crate::platform::PlatformError;

/// What the guards of one run know beyond the plan itself.
pub(super) struct RunFacts {
    pub(super) run_id: String,
    pub(super) now: chrono::DateTime<chrono::Utc>,
    /// Why the roster shrank too far, if it did.
    pub(super) shrank: Option<String>,
    /// A targeted run (one person, or the people pushed): only their links and accounts are
    /// planned (everyone else is absent from its roster, not gone), and groups are left to
    /// whole runs.
    pub(super) focus: Option<BTreeSet<String>>,
    /// Why the push burst guard holds this run's removals, if it does.
    pub(super) burst: Option<String>,
    /// A run over pushed people (or any run of a push source): an incomplete read does not
    /// hold the removal of those the source states inactive (see
    /// [`guard::GuardFacts::stated_inactive`]).
    pub(super) trust_inactive: bool,
}

impl Engine {
    /// Read the roster and plan every enabled platform (or just `only`).
    pub async fn plan(&self, only: Option<&str>) -> Result<Planned, EngineError> {
        self.plan_as(only, new_run_id()).await
    }

    pub(super) async fn plan_as(&self, only: Option<&str>, run_id: String) -> Result<Planned, EngineError> {
        if let Some(name) = only {
            self.runtime(name).ok_or_else(|| EngineError::UnknownPlatform(name.to_string()))?;
        }
        let roster = self.read_source().await?;
        match &roster.incomplete_reason {
            Some(why) if self.states_inactive() => {
                tracing::info!(reason = %why, "the roster is never complete: only people it states inactive lose access")
            }
            Some(why) => {
                tracing::warn!(reason = %why, "the roster read was incomplete: no access will be removed this run")
            }
            None => {}
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
        let trust_inactive = self.states_inactive();
        let facts = RunFacts { run_id, now: chrono::Utc::now(), shrank, focus: None, burst: None, trust_inactive };
        Ok(self.plan_roster(only, &roster, facts, Some(active_people)).await)
    }

    /// Plan every enabled platform (or just `only`) for this roster.
    pub(super) async fn plan_roster(
        &self,
        only: Option<&str>,
        roster: &Roster,
        facts: RunFacts,
        active_people: Option<usize>,
    ) -> Planned {
        let selected = self.platforms.iter().filter(|p| p.config.enabled && only.is_none_or(|o| o == p.config.name));
        let planned = futures::future::join_all(
            selected.map(|p| self.plan_platform(p, roster, &facts).instrument(platform_span(&p.config.name))),
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
            run_id: facts.run_id,
            created_at: chrono::Utc::now().to_rfc3339(),
            source: self.source.describe(),
            roster_complete: roster.complete,
            roster_incomplete_reason: roster.incomplete_reason.clone(),
            roster_shrank: facts.shrank,
            people: roster.people.len(),
            active_people,
            platforms,
        };
        Planned { plan, actual }
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
        // The base of the removal percentage is every managed account, one-person run or not.
        let managed = managed_active(&links, &actual);
        let (links, actual) = match &facts.focus {
            Some(people) => focus_on(people, links, actual),
            None => (links, actual),
        };
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
        let missing = match (&facts.shrank, roster.complete) {
            (None, true) => match self.store.missing(name) {
                Ok(m) => Some(m),
                Err(e) => return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual),
            },
            _ => None,
        };
        // Only the grace period asks who the source marks inactive.
        let inactive: BTreeSet<String> = match missing {
            Some(_) => roster.people.iter().filter(|p| !p.active).map(|p| p.id.to_string()).collect(),
            None => BTreeSet::new(),
        };
        let stated: BTreeSet<String> = match facts.trust_inactive {
            true => roster.people.iter().filter(|p| !p.active).map(|p| p.id.to_string()).collect(),
            false => BTreeSet::new(),
        };
        let grace = missing.as_ref().map(|missing| GraceFacts {
            policy: &self.config.safety.grace,
            missing,
            inactive: &inactive,
            run_id: &facts.run_id,
            now: facts.now,
        });
        let guard_facts = GuardFacts {
            removals_held: traits.removals_held,
            shrank: facts.shrank.as_deref(),
            burst: facts.burst.as_deref(),
            stated_inactive: facts.trust_inactive.then_some(&stated),
            grace,
            policy: &self.guard_policy(roster),
            managed_active: managed,
        };
        guard::guard_plan(&mut plan, &guard_facts);
        match self.store.quarantined_in(name) {
            Ok(q) => journal::set_aside(&mut plan, &q, chrono::Utc::now()),
            Err(e) => return (PlatformPlan { error: Some(e.to_string()), ..PlatformPlan::new(name) }, actual),
        }
        plan.fingerprint = fingerprint(&plan, &actual);
        if let Some(target) = p.connector.groups().filter(|_| facts.focus.is_none()) {
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
    pub(super) async fn read_source(&self) -> Result<Roster, EngineError> {
        if let Some(warning) = self.config.source.insecure_warning() {
            tracing::warn!(source = %self.source.describe(), "{warning}");
        }
        Ok(self.source.read_with(&self.store).await?)
    }

    /// List a platform (and cache the listing): the first call of every run that touches it,
    /// so an unchecked certificate is said here, each run.
    pub(super) async fn read_platform(&self, p: &PlatformRuntime) -> Result<Vec<Account>, PlatformError> {
        if let Some(warning) = p.config.insecure_warning() {
            tracing::warn!(platform = %p.config.name, "{warning}");
        }
        p.connector.prepare().await?;
        listing::read_accounts(&self.store, p.connector.as_ref(), &p.config.name).await
    }

    /// A push source's roster is never complete (absence is no evidence), but a person it
    /// states inactive (`active: false`, a DELETE) is: whole runs deactivate them too.
    pub(super) fn states_inactive(&self) -> bool {
        matches!(self.config.source, crate::config::SourceConfig::Push(_))
    }

    fn guard_policy(&self, roster: &Roster) -> GuardPolicy {
        GuardPolicy {
            roster_incomplete: (!roster.complete)
                .then(|| roster.incomplete_reason.clone().unwrap_or_else(|| "reason unknown".into())),
            max_removals_count: self.config.safety.max_removals_count,
            max_removals_percent: self.config.safety.max_removals_percent,
        }
    }
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

/// The focused people's view of a platform: their links only, and every account but those
/// linked to someone else (so their keys can still find accounts rosterd never linked).
fn focus_on(
    people: &BTreeSet<String>,
    mut links: BTreeMap<String, diff::Link>,
    actual: Vec<Account>,
) -> (BTreeMap<String, diff::Link>, Vec<Account>) {
    let others: std::collections::HashSet<&str> =
        links.iter().filter(|(id, _)| !people.contains(id.as_str())).map(|(_, l)| l.account_id.as_str()).collect();
    let actual = actual.into_iter().filter(|a| !others.contains(a.id.as_str())).collect();
    links.retain(|id, _| people.contains(id));
    (links, actual)
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
