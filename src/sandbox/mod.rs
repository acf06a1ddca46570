//! Strict in-process emulators of every platform, served on loopback: used by the tests,
//! the benchmarks and `rosterd demo`. Each follows its `platforms/*.md` contract exactly.

pub mod affise;
pub mod agencyanalytics;
pub mod any;
pub mod cake;
pub mod clienttoolbox;
pub mod faults;
pub mod filespin;
pub mod page_cap;
pub mod proxy;
pub mod scim;
pub mod server;
pub mod throttle;
