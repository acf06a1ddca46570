//! The outcome of one run as the command line and the daemon show it.

use super::Refusal;
use crate::store::RunRecord;

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub record: RunRecord,
    /// Platforms of a reviewed plan refused without applying anything (their summary's
    /// `error` says the same in words).
    pub refused: Vec<Refusal>,
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
