//! Group links: which target group rosterd created or was told to manage, per source group.

use serde::{Deserialize, Serialize};

use super::{key, Store, StoreError};
use std::collections::BTreeMap;

const GROUP_LINKS: &str = "group_links";

/// How rosterd came to own a target group: only a group it created may be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupOrigin {
    Created,
    /// An existing group that config (`groups.manage`) handed to rosterd.
    Managed,
}

/// The target group that stands for one source group on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLink {
    pub group_id: String,
    pub origin: GroupOrigin,
}

impl Store {
    /// Every group link of one platform, source group key → link.
    pub fn group_links(&self, platform: &str) -> Result<BTreeMap<String, GroupLink>, StoreError> {
        self.scan(&self.tree(GROUP_LINKS)?, platform, "group link")
    }

    pub fn set_group_link(&self, platform: &str, group_key: &str, link: &GroupLink) -> Result<(), StoreError> {
        self.put(&self.tree(GROUP_LINKS)?, platform, group_key, link)
    }

    pub fn remove_group_link(&self, platform: &str, group_key: &str) -> Result<(), StoreError> {
        self.tree(GROUP_LINKS)?.remove(key(platform, group_key)).map_err(|e| self.err(e))?;
        Ok(())
    }
}
