//! The Okta source: calls made over the fewest possible for a full and a quiet incremental
//! read of 100,000 people, and the throughput of parsing users pages into people.
//!
//! The minimum of a full read is every listing at Okta's largest page (200): the users, the
//! deprovisioned users, the groups, and each group's members (the built-in Everyone
//! skipped). A quiet incremental read needs one changed-users page (empty) and the groups.

use std::time::Instant;

use rosterd::records::incremental::IncrementalSettings;
use rosterd::source::okta::sandbox::{Directory, OktaSandbox, OktaSandboxOptions};
use rosterd::source::okta::settings::OktaAuth;
use rosterd::source::okta::wire::OktaUser;
use rosterd::source::okta::{OktaSettings, OktaSource};
use rosterd::source::Source;
use rosterd::store::Store;

use crate::table::{ratio, Table};

const PEOPLE: usize = 100_000;
const TOKEN: &str = "okta-bench-token";
const PAGE: usize = 200;

pub fn run() -> Vec<Table> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let mut calls = Table::new(
        "Okta source: calls of a full and of a quiet incremental read of 100,000 people (limit 200)",
        &["read", "calls made", "minimum calls", "made / minimum (goal 1.00)", "wall time"],
    );
    for row in runtime.block_on(reads()) {
        calls.row(row);
    }
    vec![calls, parse()]
}

/// The fewest calls that can read the directory whole.
fn minimum(directory: &Directory) -> usize {
    let pages = |n: usize| n.div_ceil(PAGE).max(1);
    let gone = directory.users.values().filter(|u| u.status == "DEPROVISIONED").count();
    let listed = pages(directory.users.len() - gone) + pages(gone) + pages(directory.groups.len());
    let members = directory.groups.values().filter(|g| g.kind != "BUILT_IN");
    listed + members.map(|g| pages(directory.members.get(&g.id).map_or(0, |m| m.len()))).sum::<usize>()
}

async fn reads() -> Vec<Vec<String>> {
    let directory = Directory::generated(PEOPLE, "2024-05-02T10:11:12.000Z");
    let full_minimum = minimum(&directory);
    let okta = OktaSandbox::start(OktaSandboxOptions::new(TOKEN, directory)).await.expect("the Okta emulator");
    let mut settings = OktaSettings::new(okta.base_url(), OktaAuth::ApiToken(TOKEN.to_string().into()));
    settings.incremental = Some(IncrementalSettings::default());
    let source = OktaSource::new(settings).expect("a source");
    let dir = tempfile::tempdir().expect("a temp dir");
    let (store, _) = Store::open(dir.path(), 256 << 20).expect("a store");
    let mut rows = Vec::new();
    for (what, minimum) in [("full", full_minimum), ("quiet incremental", 2)] {
        let before = okta.faults().requests();
        let began = Instant::now();
        let roster = source.read_with(&store).await.expect("a read");
        let took = began.elapsed();
        assert!(roster.complete && roster.people.len() == PEOPLE, "{:?}", roster.incomplete_reason);
        let made = okta.faults().requests() - before;
        rows.push(vec![
            what.to_string(),
            made.to_string(),
            minimum.to_string(),
            ratio(made as f64, minimum as f64),
            format!("{:.0} ms", took.as_secs_f64() * 1000.0),
        ]);
    }
    okta.shutdown().await;
    rows
}

/// Users pages as Okta sends them, parsed and mapped to people.
fn parse() -> Table {
    let directory = Directory::generated(PEOPLE, "2024-05-02T10:11:12.000Z");
    let users: Vec<&OktaUser> = directory.users.values().collect();
    let pages: Vec<Vec<u8>> = users.chunks(PAGE).map(|page| serde_json::to_vec(page).expect("JSON")).collect();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let began = Instant::now();
    let mut people = 0;
    for page in &pages {
        let parsed: Vec<OktaUser> = serde_json::from_slice(page).expect("a users page");
        let mapped: Vec<rosterd::model::Person> = parsed.into_iter().map(|u| u.into_person(true)).collect();
        people += std::hint::black_box(mapped).len();
    }
    let secs = began.elapsed().as_secs_f64();
    let mut table = Table::new(
        "Okta users pages parsed into people (100,000 people, 200 a page)",
        &["people", "MB", "people / s", "MB / s"],
    );
    let mb = bytes as f64 / 1e6;
    table.row(vec![
        people.to_string(),
        format!("{mb:.1}"),
        format!("{:.0}", people as f64 / secs),
        format!("{:.0}", mb / secs),
    ]);
    table
}
