//! What one platform's apply did: counted by the engine, kept in the run history.

use serde::{Deserialize, Serialize};

use super::step::Action;

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
    /// Steps of quarantined records set aside this run (not applied, not failed again).
    #[serde(default)]
    pub quarantined: usize,
    /// Steps not started because rosterd was stopping (they run again next time).
    #[serde(default)]
    pub skipped: usize,
    /// Group steps applied (created, adopted, renamed, members changed, deleted).
    #[serde(default)]
    pub groups: usize,
    /// Set when the platform could not be planned or applied at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlatformSummary {
    /// Count one applied step.
    pub fn count(&mut self, action: Action) {
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
