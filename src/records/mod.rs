//! Shared records: the values the engine makes and the store keeps (links, intents,
//! quarantine entries, grace counters, plan steps, platform summaries, run records).
//!
//! They live below both `store` and `reconcile` so that neither imports the other to
//! speak of them. Only the types and their small impls are here; the logic that makes and
//! uses them stays in `reconcile`. Their serialised form is the store's contents, the
//! audit trail's and the plan JSON's: a change of a serde attribute here changes those.

pub mod guard;
pub mod incremental;
pub mod journal;
pub mod link;
pub mod push;
pub mod run;
pub mod step;
pub mod summary;

pub use guard::Missing;
pub use journal::{Intent, Quarantined};
pub use link::{Link, LinkOrigin};
pub use push::Pushed;
pub use run::RunRecord;
pub use step::{Action, Step};
pub use summary::PlatformSummary;
