//! The plan's step: one change to one account. The store keeps steps (held removals,
//! intents), the engine makes them, and the plan JSON carries them byte for byte.

use serde::{Deserialize, Serialize};

use crate::model::FieldChange;

/// What one step does to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create an account for a person who has none.
    Create,
    /// Adopt an existing account that matches the person's key: rosterd records the link, no write.
    Link,
    /// Change some fields (or the role) of a linked account.
    Update,
    /// Restore access (with any field changes in the same call).
    Reactivate,
    /// Remove access the platform's way.
    Deactivate,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Link => "=",
            Action::Update => "~",
            Action::Reactivate => "^",
            Action::Deactivate => "-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Link => "link",
            Action::Update => "update",
            Action::Reactivate => "reactivate",
            Action::Deactivate => "deactivate",
        }
    }

    /// Whether the step calls the platform (a link only writes to rosterd's store).
    pub fn writes(self) -> bool {
        self != Action::Link
    }

    pub fn removes_access(self) -> bool {
        self == Action::Deactivate
    }
}

/// One change to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    pub person_id: String,
    /// The person's email or user name, for people reading the plan.
    pub label: String,
    /// The match key the account has or will have.
    pub key: String,
    /// The platform account (absent for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Field-level before/after; for a create every field with no `before`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// The account is adopted by this step: its link is recorded when the step succeeds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// Why (for removals: inactive at the source, left the roster, out of scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set by a guard: a held step is reported and never applied without approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}
