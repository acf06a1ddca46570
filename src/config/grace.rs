//! The grace period (`safety.grace`): how long a planned removal waits, and whom it covers.
//! The config reads it; the engine's guards apply it.

/// How long a removal waits: for this many consecutive complete runs that plan it, or for
/// this long since the first such run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    Runs(u32),
    Duration(chrono::Duration),
}

/// The grace period and whom it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePolicy {
    pub grace: Grace,
    /// Also wait for people the source marks inactive (by default their access goes at
    /// once: an explicit `active: false` is the source's own statement, not an absence).
    pub include_inactive: bool,
}

impl Default for GracePolicy {
    fn default() -> Self {
        GracePolicy { grace: Grace::Runs(2), include_inactive: false }
    }
}

/// Parse `30s`, `45m`, `2h`, `7d` into a positive duration.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, GraceDurationError> {
    // Bounded (ten years) so the instant it is added to can never overflow.
    const TEN_YEARS: std::time::Duration = std::time::Duration::from_secs(3660 * 86_400);
    let d = crate::limits::parse_duration(text, TEN_YEARS)?;
    if d.is_zero() {
        return Err(GraceDurationError::Zero(text.to_string()));
    }
    chrono::Duration::from_std(d).map_err(|source| GraceDurationError::OutOfRange { text: text.to_string(), source })
}

/// Why a grace duration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraceDurationError {
    #[error(transparent)]
    Duration(#[from] crate::limits::DurationError),
    #[error("{0:?} must be longer than zero")]
    Zero(String),
    #[error("{text:?}: {source}")]
    OutOfRange { text: String, source: chrono::OutOfRangeError },
}
