//! What an engine call can fail with: each variant says what to do next.

use super::plan::PLAN_VERSION;
use crate::audit::AuditError;
use crate::platform::PlatformError;
use crate::source::SourceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("identity source: {0}; nothing was changed")]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot create state_dir {}: {source}", path.display())]
    StateDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("the plan file is version {found}, this rosterd reads version {PLAN_VERSION}; plan again")]
    PlanVersion { found: u32 },
    #[error("platform {0:?} is not in the config")]
    UnknownPlatform(String),
    /// `approve` of a run that held nothing (or is unknown), or whose removals were released.
    #[error("{0}")]
    NotApprovable(String),
}

/// Why a platform of a reviewed plan was refused while the others applied: the run goes on,
/// and the command line picks its exit code from this (5 for a stale plan).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The accounts the plan touches on `platform` changed since the plan was made.
    #[error("the platform changed since this plan was made; nothing applied here: plan again and review")]
    PlanChanged { platform: String },
}

/// Why a platform could not be read for a plan check or the access report: its listing,
/// or rosterd's links to it. Said as the cause says it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
