//! Groups on a target platform: what a connector that can push groups offers the engine.
//!
//! The engine plans group steps from the roster (see `reconcile::groups`) and applies them
//! through [`GroupTarget`] after the account steps, so that new accounts can be members.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PlatformError;
use crate::filter::Filter;

/// One group as the target lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub id: String,
    pub display: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Member account ids (users only; nested groups are left alone and not listed here).
    pub members: BTreeSet<String>,
    /// `meta.version`, for `If-Match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One change to a group rosterd owns: a new name and members in or out, in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub rename: Option<String>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl GroupChange {
    pub fn is_empty(&self) -> bool {
        self.rename.is_none() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// Which source groups go to the target, and what rosterd may do with target groups.
#[derive(Debug, Clone, Default)]
pub struct GroupPolicy {
    /// Source groups by id or name (case-insensitive).
    pub select: Vec<String>,
    /// A SCIM filter over `{value, display}` of each source group.
    pub filter: Option<Filter>,
    /// Existing target groups (by displayName) that rosterd may take over and manage.
    pub manage: Vec<String>,
    /// Delete a group rosterd created once its source group is gone or no longer selected.
    pub allow_delete: bool,
}

impl GroupPolicy {
    /// Whether the source group `(value, display)` is pushed to the target.
    pub fn selects(&self, value: &str, display: &str) -> bool {
        let listed = self.select.iter().any(|s| s == value || s.eq_ignore_ascii_case(display));
        let view = serde_json::json!({ "value": value, "display": display, "displayName": display });
        listed || self.filter.as_ref().is_some_and(|f| f.matches(&view))
    }

    /// Whether config lets rosterd manage an existing target group of this name.
    pub fn may_manage(&self, display: &str) -> bool {
        self.manage.iter().any(|m| m.trim().eq_ignore_ascii_case(display.trim()))
    }
}

/// A platform that can hold groups of accounts.
#[async_trait]
pub trait GroupTarget: Send + Sync {
    fn policy(&self) -> &GroupPolicy;

    /// Every group on the target. Fails rather than returning a short list.
    async fn list_groups(&self) -> Result<Vec<TargetGroup>, PlatformError>;

    /// Create a group (named `group create`: not idempotent); `external_id` marks it as
    /// rosterd's, so a create whose answer was lost is recognised by the next run.
    async fn create_group(
        &self,
        display: &str,
        external_id: &str,
        members: &[String],
    ) -> Result<TargetGroup, PlatformError>;

    async fn update_group(&self, group: &TargetGroup, change: &GroupChange) -> Result<(), PlatformError>;

    async fn delete_group(&self, group: &TargetGroup) -> Result<(), PlatformError>;
}
