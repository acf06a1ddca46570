//! One person on demand (`rosterd reconcile --person`, the admin API's
//! `POST /v1/reconcile?person=`): read that person from the source, plan every platform for
//! them alone through the same diff and guards as a whole run, apply, and say step by step
//! what was decided and why.
//!
//! A one-person roster is never a complete roster: everyone else is absent from it, not
//! gone. So only this person's links and accounts are planned, the grace counters and the
//! shrink baseline are left to whole runs, and groups are not touched: the targeted core
//! shared with the multi-person form is in [`super::people`].

use tracing::Instrument;

use super::desired::desired_accounts;
use super::person_trace::{Found, PersonTrace, PlatformTrace};
use super::planning::RunFacts;
use super::{new_run_id, Engine, EngineError, RunSummary};
use crate::model::{Person, Roster};
use crate::source::person::PersonQuery;

/// Why a one-person run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PersonError {
    /// Nobody at the source matches: a usage error (exit 2).
    #[error("no person at {source_name} has the id, external id, user name or e-mail {query:?}; check the spelling, or look the person up at the identity source")]
    Unknown { query: String, source_name: String },
    /// Not found, but the read was incomplete: the person may be in the part not read.
    #[error("{query:?} was not found, but the read of {source_name} was incomplete ({reason}); try again when the source answers in full")]
    NotFoundIncomplete { query: String, source_name: String, reason: String },
    /// More than one person matches (an e-mail two people share): a usage error.
    #[error("{query:?} matches {} people at the source (ids {}); ask for one of them by id", ids.len(), ids.join(", "))]
    Ambiguous { query: String, ids: Vec<String> },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl PersonError {
    /// The query itself is wrong (unknown or ambiguous), not rosterd or the source.
    pub fn is_usage(&self) -> bool {
        matches!(self, PersonError::Unknown { .. } | PersonError::Ambiguous { .. })
    }
}

impl Engine {
    /// Read the person `query` names and converge them on every enabled platform (unless
    /// `dry_run`): the trace says what was found, decided and done on each platform.
    pub async fn reconcile_person(
        &self,
        query: &PersonQuery,
        trigger: &str,
        dry_run: bool,
    ) -> Result<PersonTrace, PersonError> {
        let run_id = new_run_id();
        let span = tracing::info_span!("run", run_id = %run_id, trigger, person = %query.as_str());
        async move {
            if !dry_run {
                self.resolve_pending(trigger).await?;
            }
            let (person, roster) = self.read_one(query).await?;
            let focus = Some([person.id.to_string()].into());
            let facts =
                RunFacts { run_id, now: chrono::Utc::now(), shrank: None, focus, burst: None, trust_inactive: false };
            let links_before = self.links_of(&person);
            let label = format!("one-person run for {}", person.id);
            let (planned, summary) = self.reconcile_focused(&roster, facts, &label, trigger, dry_run).await?;
            Ok(self.trace(query, &person, &roster, &planned.plan, links_before, summary.as_ref()))
        }
        .instrument(span)
        .await
    }

    /// The one person `query` names, and the roster of just them as read.
    async fn read_one(&self, query: &PersonQuery) -> Result<(Person, Roster), PersonError> {
        let source_name = self.source.describe();
        if let Some(warning) = self.config.source.insecure_warning() {
            tracing::warn!(source = %source_name, "{warning}");
        }
        let roster = self.source.read_person(query).await.map_err(EngineError::from)?;
        match roster.people.as_slice() {
            [one] => Ok((one.clone(), roster)),
            [] => Err(match (roster.complete, &roster.incomplete_reason) {
                (false, Some(reason)) => PersonError::NotFoundIncomplete {
                    query: query.as_str().into(),
                    source_name,
                    reason: reason.clone(),
                },
                _ => PersonError::Unknown { query: query.as_str().into(), source_name },
            }),
            many => Err(PersonError::Ambiguous {
                query: query.as_str().into(),
                ids: many.iter().map(|p| p.id.to_string()).collect(),
            }),
        }
    }

    /// The person's link on each platform before the run (an unreadable store reads as none:
    /// planning itself reports it on the platform).
    fn links_of(&self, person: &Person) -> Vec<Option<super::diff::Link>> {
        self.platforms
            .iter()
            .map(|p| self.store.links(&p.config.name).ok().and_then(|mut l| l.remove(person.id.as_str())))
            .collect()
    }

    fn trace(
        &self,
        query: &PersonQuery,
        person: &Person,
        roster: &Roster,
        plan: &super::plan::Plan,
        links_before: Vec<Option<super::diff::Link>>,
        summary: Option<&RunSummary>,
    ) -> PersonTrace {
        let platforms = self
            .platforms
            .iter()
            .zip(links_before)
            .filter_map(|(rt, link)| {
                let pp = plan.platforms.iter().find(|pp| pp.platform == rt.config.name)?;
                let mapped = desired_accounts(std::slice::from_ref(person), &rt.config.mapping).pop()?;
                let applied = summary.and_then(|s| s.record.platforms.iter().find(|p| p.platform == pp.platform));
                Some(PlatformTrace::new(&plan.run_id, pp, mapped, link, applied, summary.is_none()))
            })
            .collect();
        PersonTrace {
            run_id: plan.run_id.clone(),
            found: Found {
                query: query.as_str().to_string(),
                source: plan.source.clone(),
                read_incomplete: (!roster.complete).then(|| roster.incomplete_reason.clone().unwrap_or_default()),
            },
            person: person.clone(),
            platforms,
        }
    }
}
