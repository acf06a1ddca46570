//! Checks every platform kind must pass alike, run once over the registry: each kind's
//! connector, built as config builds it, against its emulator started as the registry starts it.

use secrecy::SecretString;
use serde_yaml::Mapping;

use super::connection::Connection;
use super::emulator::Emulator;
use super::kind::{BuildInput, KindSpec};
use super::registry::KINDS;
use super::test_support::quick;
use super::Connector;
use crate::model::normalize_key;
use crate::sandbox::page_cap::PageCap;

/// The kind's own options out of its emulator's test entry (the keys beyond the common ones).
fn test_options(spec: &KindSpec) -> Mapping {
    let entry: String = spec.sandbox.test_entry.lines().map(|line| format!("{}\n", line.trim_start())).collect();
    let all: Mapping = serde_yaml::from_str(&entry).unwrap_or_default();
    all.into_iter().filter(|(key, _)| key.as_str().is_some_and(|k| spec.option_keys.contains(&k))).collect()
}

/// `spec`'s connector to `emulator`, built from the registry as config builds it.
fn connector(spec: &KindSpec, emulator: &dyn Emulator) -> Box<dyn Connector> {
    let mut connection = Connection::new(emulator.base_url());
    quick(&mut connection);
    let input = BuildInput {
        name: spec.kind,
        connection: &connection,
        api_key: &SecretString::from(emulator.key()),
        page_size: None,
        options: &test_options(spec),
        mapped_fields: Vec::new(),
    };
    (spec.build)(&input).unwrap()
}

/// A fresh emulator holds no account but those a kind always has (Client Toolbox's owner): the
/// listing returns exactly those, in one call, and an empty one reads as no users.
#[tokio::test]
async fn every_kind_lists_what_a_fresh_emulator_holds_in_one_call() {
    for spec in KINDS {
        let emulator = (spec.sandbox.start)(PageCap::None).await.unwrap();
        let connector = connector(spec, emulator.as_ref());
        connector.prepare().await.unwrap();
        let mut listed: Vec<_> = connector.list().await.unwrap().into_iter().map(|a| a.key).collect();
        listed.sort();
        let mut held: Vec<_> = emulator.accounts().iter().map(|a| normalize_key(&a.key)).collect();
        held.sort();
        assert_eq!(listed, held, "{}", spec.kind);
        assert_eq!(emulator.faults().count("list"), 1, "{}: one listing call", spec.kind);
        emulator.shutdown().await;
    }
}
