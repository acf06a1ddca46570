//! What an engine call can fail with: each variant says what to do next.

use super::plan::PLAN_VERSION;
use crate::audit::AuditError;
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
    #[error("the plan file is version {found}, this rosterd reads version {PLAN_VERSION}; plan again")]
    PlanVersion { found: u32 },
    #[error("platform {0:?} is not in the config")]
    UnknownPlatform(String),
    /// `approve` of a run that held nothing (or is unknown), or whose removals were released.
    #[error("{0}")]
    NotApprovable(String),
}
