//! How the SCIM source's incremental reads run (`source.scim.incremental`): the config
//! reads the settings, the source follows them. Below both, so neither imports the other.

use std::time::Duration;

/// How incremental reads run: see `source::scim::incremental`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalSettings {
    /// Every this many reads is a full one (1: every read); the reads between ask only for
    /// users changed since the last read. Hard-deleted users vanish only at a full read.
    pub full_read_every: u32,
    /// Taken off the watermark, so users written while the last read ran are read again.
    pub overlap: Duration,
}

impl IncrementalSettings {
    pub const DEFAULT_FULL_READ_EVERY: u32 = 12;
    pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(60);
}

impl Default for IncrementalSettings {
    fn default() -> Self {
        IncrementalSettings { full_read_every: Self::DEFAULT_FULL_READ_EVERY, overlap: Self::DEFAULT_OVERLAP }
    }
}
