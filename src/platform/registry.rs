//! The one list of platform kinds. Adding a platform is its folder `platform/<kind>/` (with
//! its `SPEC`) and one line here; config, the demo, the loopback launcher, the fault matrix,
//! the call-count tests and the benchmarks all read this list.

use super::kind::KindSpec;

/// Every kind rosterd knows, in the order tables and the demo list them.
pub static KINDS: &[&KindSpec] = &[
    &super::cake::SPEC,
    &super::affise::SPEC,
    &super::agencyanalytics::SPEC,
    &super::filespin::SPEC,
    &super::clienttoolbox::SPEC,
    &super::scim::SPEC,
];

/// The kind named `kind` in config.
pub fn find(kind: &str) -> Option<&'static KindSpec> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

/// Every kind's config name.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}
