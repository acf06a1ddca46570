//! Strict in-process emulators of every platform, served on loopback: used by the tests,
//! the benchmarks and `rosterd demo`. Each follows its `platforms/*.md` contract exactly.

pub mod cake;
pub mod faults;
pub mod proxy;
pub mod scim;
