//! Links: which account on a platform belongs to which person, as rosterd remembers it.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// How rosterd came to own an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkOrigin {
    Created,
    Adopted,
}

/// A person's account on one platform, as rosterd remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub account_id: CompactString,
    pub origin: LinkOrigin,
    /// rosterd removed this account's access (and has not restored it since). Platforms
    /// whose listing cannot show it (Affise lock-out) take the account's status from here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}
