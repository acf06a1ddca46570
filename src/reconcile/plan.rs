//! The plan: a value that says what a run will do, per platform, printable as a table or
//! JSON, saved for review and applied later exactly as reviewed.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::model::ROLE_FIELD;

/// The plan format's version: `apply` refuses a plan file of another version.
pub const PLAN_VERSION: u32 = 1;

/// Defined below both the plan and the store, which keeps held steps.
pub use crate::records::step::{Action, Step};

/// Defined below both the plan and the group plan, which each hold conflicts.
pub use super::conflict::Conflict;

/// A step not applied this run: its record is quarantined and its next attempt not yet due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    pub step: Step,
    /// The platform's last refusal.
    pub reason: String,
    pub attempts: u32,
    /// RFC 3339.
    pub next_attempt: String,
}

/// The plan for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlatformPlan {
    pub platform: String,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// Steps of quarantined records, not applied this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<SetAside>,
    /// Things worth knowing that need no action (protected accounts left alone, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A hash of the accounts the steps touch, as listed when planning: `apply` refuses
    /// the plan when the platform has changed under it since.
    #[serde(default)]
    pub fingerprint: String,
    /// Set when the platform could not be planned at all (listing failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Group steps (platforms that push groups), applied after the account steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<super::groups::GroupStep>,
    /// Set when the groups could not be planned; the account steps still run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_error: Option<String>,
}

impl PlatformPlan {
    pub fn new(platform: &str) -> Self {
        PlatformPlan { platform: platform.to_string(), ..Default::default() }
    }

    /// Steps that will be applied: not held.
    pub fn runnable(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.held.is_none())
    }

    pub fn held(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.held.is_some())
    }

    /// Number of platform write steps that would run.
    pub fn change_count(&self) -> usize {
        self.runnable().count() + self.groups.len()
    }
}

/// A whole plan: every platform of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub run_id: String,
    pub created_at: String,
    /// The identity source, described (never a secret).
    pub source: String,
    pub roster_complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_incomplete_reason: Option<String>,
    /// Set when the roster shrank too far against the last complete one: no removals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_shrank: Option<String>,
    pub people: usize,
    /// Active people in the roster: the size the shrink guard compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_people: Option<usize>,
    pub platforms: Vec<PlatformPlan>,
}

impl Plan {
    pub fn change_count(&self) -> usize {
        self.platforms.iter().map(PlatformPlan::change_count).sum()
    }

    pub fn held_count(&self) -> usize {
        self.platforms.iter().map(|p| p.held().count()).sum()
    }

    pub fn conflict_count(&self) -> usize {
        self.platforms.iter().map(|p| p.conflicts.len()).sum()
    }

    pub fn to_json(&self) -> String {
        // A Plan is plain data: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The plan as a table, in the spirit of `terraform plan`.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if !self.roster_complete {
            let why = self.roster_incomplete_reason.as_deref().unwrap_or("unknown reason");
            let _ = writeln!(out, "! roster incomplete ({why}): no access will be removed");
        }
        if let Some(why) = &self.roster_shrank {
            let _ = writeln!(out, "! {why}: no access will be removed");
        }
        for p in &self.platforms {
            write_platform(&mut out, p);
        }
        let _ = writeln!(
            out,
            "Plan: {} change(s), {} held, {} conflict(s) across {} platform(s) for {} people.",
            self.change_count(),
            self.held_count(),
            self.conflict_count(),
            self.platforms.len(),
            self.people
        );
        out
    }
}

fn write_platform(out: &mut String, p: &PlatformPlan) {
    let _ = writeln!(out, "\n{}:", p.platform);
    if let Some(e) = &p.error {
        let _ = writeln!(out, "  ! not planned: {e}");
        return;
    }
    if p.steps.is_empty() && p.conflicts.is_empty() && p.quarantined.is_empty() && p.groups.is_empty() {
        let _ = writeln!(out, "  no changes");
    }
    for s in &p.steps {
        write_step(out, s);
    }
    for g in &p.groups {
        super::groups::write_step(out, g);
    }
    if let Some(e) = &p.group_error {
        let _ = writeln!(out, "  ! {e}");
    }
    for c in &p.conflicts {
        let _ = writeln!(out, "  ! conflict {} ({}): {}", c.label, c.key, c.reason);
    }
    for q in &p.quarantined {
        let s = &q.step;
        let _ = writeln!(
            out,
            "  ? {} {} QUARANTINED after {} failure(s), next attempt {}: {}",
            s.action.as_str(),
            s.label,
            q.attempts,
            q.next_attempt,
            q.reason
        );
    }
    for n in &p.notes {
        let _ = writeln!(out, "  · {n}");
    }
}

fn write_step(out: &mut String, s: &Step) {
    let id = s.account_id.as_deref().map(|i| format!(" [{i}]")).unwrap_or_default();
    let adopt = if s.adopt { " (adopt existing account)" } else { "" };
    let held = s.held.as_deref().map(|h| format!("  HELD: {h}")).unwrap_or_default();
    let reason = s.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    let _ = writeln!(out, "  {} {} {}{}{}{}{}", s.action.symbol(), s.action.as_str(), s.label, id, adopt, reason, held);
    for c in &s.changes {
        let name = if c.field == ROLE_FIELD { "role" } else { c.field.as_str() };
        let before = c.before.as_deref().map(|b| format!("{b:?} -> ")).unwrap_or_default();
        let after = c.after.as_deref().map(|a| format!("{a:?}")).unwrap_or_else(|| "(none)".into());
        let _ = writeln!(out, "      {name}: {before}{after}");
    }
}
