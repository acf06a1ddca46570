//! The trace of a one-person run: what the source said, and for each platform the scope
//! decision, the mapped account, the account matched, the action and its outcome. A value
//! (JSON for the admin API and `--format json`) that also prints as lines for a person.

use std::fmt::Write as _;

use serde::Serialize;

use super::diff::{Exclusion, Link};
use super::plan::PlatformPlan;
use crate::model::{DesiredAccount, Person};
use crate::records::PlatformSummary;

/// Everything a one-person run found, decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct PersonTrace {
    pub run_id: String,
    pub found: Found,
    pub person: Person,
    pub platforms: Vec<PlatformTrace>,
}

/// How the person was found: the query, the source, and why its read was incomplete
/// (removals are then held), if it was.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub query: String,
    pub source: String,
    pub read_incomplete: Option<String>,
}

/// One platform's part of the trace.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformTrace {
    pub platform: String,
    pub in_scope: bool,
    /// Why the person is in or out of this platform's scope.
    pub scope: String,
    pub key: Option<String>,
    pub role: Option<String>,
    /// The mapped fields (empty when out of scope).
    pub fields: Vec<(String, String)>,
    /// The account matched, and how (`link` or `key`); `None` when there is none.
    pub matched: Option<Matched>,
    /// The planned steps (`create`, `update`, `deactivate`, ...); empty when nothing is to do.
    pub actions: Vec<String>,
    /// Why the steps are as they are: a step's reason, a conflict, a note.
    pub why: Vec<String>,
    pub outcome: String,
    /// A step was held by a guard: release it with `rosterd approve RUN_ID`.
    pub held: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    pub account_id: String,
    pub by: &'static str,
    pub origin: Option<String>,
}

impl PlatformTrace {
    /// The trace of one platform from its plan (for this person alone), the person mapped
    /// onto it, their link before the run and what the apply did (`None` on a dry run).
    pub fn new(
        run_id: &str,
        pp: &PlatformPlan,
        mapped: Result<DesiredAccount, Exclusion>,
        link: Option<Link>,
        applied: Option<&PlatformSummary>,
        dry_run: bool,
    ) -> PlatformTrace {
        let (in_scope, scope) = scope_of(&mapped);
        let (key, role, fields) = match mapped {
            Ok(d) => (
                Some(d.key.to_string()),
                d.role.map(|r| r.to_string()),
                d.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ),
            Err(Exclusion::Leaver(key)) => (Some(key.to_string()), None, Vec::new()),
            Err(_) => (None, None, Vec::new()),
        };
        let matched = match link {
            Some(l) => Some(Matched {
                account_id: l.account_id.to_string(),
                by: "link",
                origin: Some(format!("{:?}", l.origin).to_lowercase()),
            }),
            None => pp
                .steps
                .iter()
                .chain(pp.quarantined.iter().map(|q| &q.step))
                .find_map(|s| s.account_id.clone())
                .map(|account_id| Matched { account_id, by: "key", origin: None }),
        };
        let steps = pp.steps.iter().chain(pp.quarantined.iter().map(|q| &q.step));
        let actions = steps.clone().map(|s| s.action.as_str().to_string()).collect();
        let mut why: Vec<String> = steps.filter_map(|s| s.reason.clone()).collect();
        why.extend(pp.conflicts.iter().map(|c| format!("conflict: {}", c.reason)));
        why.extend(pp.notes.iter().cloned());
        let held = pp.held().next().is_some();
        let outcome = outcome_of(run_id, pp, applied, dry_run);
        PlatformTrace {
            platform: pp.platform.clone(),
            in_scope,
            scope,
            key,
            role,
            fields,
            matched,
            actions,
            why,
            outcome,
            held,
        }
    }
}

fn scope_of(mapped: &Result<DesiredAccount, Exclusion>) -> (bool, String) {
    match mapped {
        Ok(_) => (true, "in scope: the scope filter and a role rule take them in".into()),
        Err(Exclusion::Leaver(_)) => (false, "inactive at the source: a leaver, access goes".into()),
        Err(Exclusion::Inactive) => (false, "inactive at the source, and outside this platform's scope".into()),
        Err(Exclusion::OutOfScope(why)) => (false, format!("out of scope: {why}")),
        Err(Exclusion::Unmappable(why)) => (false, format!("cannot be mapped: {why}; accounts left as they are")),
    }
}

fn outcome_of(run_id: &str, pp: &PlatformPlan, applied: Option<&PlatformSummary>, dry_run: bool) -> String {
    if let Some(e) = &pp.error {
        return format!("not planned: {e}");
    }
    if let Some(s) = pp.held().next() {
        let why = s.held.as_deref().unwrap_or_default();
        return format!("held: {why}; release with `rosterd approve {run_id}`");
    }
    if let Some(q) = pp.quarantined.first() {
        return format!("set aside: quarantined ({}), next attempt {}", q.reason, q.next_attempt);
    }
    if !pp.conflicts.is_empty() {
        return "no action until the conflict is resolved".into();
    }
    if pp.steps.is_empty() {
        return "no action: nothing to change".into();
    }
    if dry_run {
        return "not applied (dry run)".into();
    }
    let Some(s) = applied else { return "not applied".into() };
    if let Some(e) = &s.error {
        return format!("failed: {e}");
    }
    if s.failed > 0 {
        return format!("failed: see `rosterd audit --run {run_id}`");
    }
    let done: Vec<String> = [
        ("created", s.created),
        ("linked", s.linked),
        ("updated", s.updated),
        ("reactivated", s.reactivated),
        ("deactivated", s.deactivated),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, _)| what.to_string())
    .collect();
    match done.is_empty() {
        true => "not applied: rosterd was stopping".into(),
        false => done.join(", "),
    }
}

impl PersonTrace {
    /// Whether a guard held a step or a platform failed: someone must look.
    pub fn held(&self) -> bool {
        self.platforms.iter().any(|p| p.held)
    }

    pub fn failed(&self) -> bool {
        self.platforms.iter().any(|p| p.outcome.starts_with("failed") || p.outcome.starts_with("not planned"))
    }

    /// The trace as lines, one step per line, for a person at a terminal.
    /// The exit code of the one-person run: 3 a write failed, 4 a step is held, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.failed() {
            crate::exit::PARTIAL
        } else if self.held() {
            crate::exit::ATTENTION
        } else {
            crate::exit::OK
        }
    }

    pub fn to_text(&self) -> String {
        let p = &self.person;
        let groups: Vec<&str> = p.groups.iter().map(|g| g.display()).collect();
        let mut out = format!(
            "found at the source ({}): id {}, user name {}, {}, groups [{}]\n",
            self.found.source,
            p.id,
            p.user_name,
            if p.active { "active" } else { "inactive" },
            groups.join(", ")
        );
        if let Some(why) = &self.found.read_incomplete {
            let _ = writeln!(out, "  the read was incomplete ({why}): removals are held");
        }
        for t in &self.platforms {
            let _ = writeln!(out, "{}:", t.platform);
            let _ = writeln!(out, "  scope:   {}", t.scope);
            if t.in_scope {
                let fields: Vec<String> = t.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let role = t.role.as_deref().unwrap_or("(no role managed)");
                let _ = writeln!(
                    out,
                    "  mapped:  key {}, role {role}, {}",
                    t.key.as_deref().unwrap_or("-"),
                    fields.join(", ")
                );
            }
            let matched = match &t.matched {
                Some(m) => format!(
                    "account {} by {}{}",
                    m.account_id,
                    m.by,
                    m.origin.as_ref().map(|o| format!(" ({o})")).unwrap_or_default()
                ),
                None => "no account".into(),
            };
            let _ = writeln!(out, "  matched: {matched}");
            let action = match t.actions.is_empty() {
                true => "none".to_string(),
                false => t.actions.join(", "),
            };
            let why = match t.why.is_empty() {
                true => String::new(),
                false => format!(" ({})", t.why.join("; ")),
            };
            let _ = writeln!(out, "  action:  {action}{why}");
            let _ = writeln!(out, "  outcome: {}", t.outcome);
        }
        out
    }
}
