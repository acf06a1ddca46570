//! Exit codes, documented in the README and in `--help`.

use std::process::ExitCode;

/// Everything went as planned.
pub const OK: u8 = 0;
/// rosterd could not do its job (the source or the store failed); nothing unsafe was done.
pub const ERROR: u8 = 1;
/// The command line or the config is wrong.
pub const USAGE: u8 = 2;
/// The run finished, but some records or platforms failed (see the summary and the audit trail).
pub const PARTIAL: u8 = 3;
/// The run finished, but steps were held by a guard, people are in conflict or records are quarantined: a person must look.
pub const ATTENTION: u8 = 4;
/// `apply` refused a plan because a platform changed since it was made.
pub const STALE_PLAN: u8 = 5;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}

pub const HELP: &str = "Exit codes:
  0  success
  1  error: the identity source, the store or the audit trail failed; nothing unsafe was done
  2  bad command line or config (check-config lists every problem)
  3  finished, but some records or platforms failed (see the summary and `rosterd audit`)
  4  finished, but steps were held by a guard, people are in conflict or records are quarantined: a person must look
  5  apply refused: a platform changed since the plan was made; plan again";
