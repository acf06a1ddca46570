//! One reconcile run: read the roster, plan every platform (desired → diff → guards),
//! apply, and record the outcome. The engine owns the store, the audit trail, the source
//! and the connectors; everything it decides comes from the pure parts below it.

mod access_report;
pub mod apply;
pub mod approve;
pub mod chunks;
pub mod conflict;
pub mod desired;
pub mod diff;
mod engine;
mod error;
pub mod group_run;
pub mod groups;
pub mod guard;
pub mod journal;
pub mod listing;
pub mod metrics;
mod people;
mod person;
pub mod person_trace;
pub mod plan;
mod planning;
mod recovery;
mod run;
pub mod status;
mod summary;

pub use engine::{new_run_id, Engine, Planned, PlatformRuntime};
pub use error::{EngineError, ReadError, Refusal};
pub use people::PeopleRun;
pub use person::PersonError;
pub use planning::fingerprint;
pub use summary::RunSummary;
