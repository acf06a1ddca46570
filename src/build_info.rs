//! What this rosterd is: its version and the commit it was built from (`build.rs`), for
//! `--version`, the `rosterd_build_info` metric and the start-up log line.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short commit hash, or "unknown" when built without git.
pub const COMMIT: &str = env!("ROSTERD_COMMIT");

/// `--version`'s text: `0.1.0 (commit abc1234)`.
pub const VERSION_LINE: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ROSTERD_COMMIT"), ")");
