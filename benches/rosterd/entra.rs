//! `entra`: the Entra ID source's Graph calls against the contract's minimum for a full
//! read and a quiet delta read of 100,000 people, and its roster parse throughput.
//!
//! Minimum calls: `GET /users/$count` once; the user listing at the largest page Graph
//! serves (100 with `$expand=manager`, else 999; a delta round pages as Graph chooses, 200
//! here); the group listing at 999; each group's (transitive) members at 999, at least one
//! call a group; a quiet delta read is the one GET of the stored delta link.

use std::time::Instant;

use rosterd::source::entra::sandbox::{people, EntraSandbox, EntraSandboxOptions};
use rosterd::source::entra::settings::backoff_from;
use rosterd::source::entra::{wire, EntraSettings, EntraSource};
use rosterd::source::Source;
use rosterd::store::Store;
use secrecy::SecretString;

use crate::table::{ratio, Table};

const N: usize = 100_000;
const DELTA_PAGE: usize = 200;

pub fn run() -> Vec<Table> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let mut calls = Table::new(
        format!("Entra ID source: Graph calls of {N} people in 6 groups (3 nested) against the minimum"),
        &["read", "calls", "minimum", "ratio (actual/min)", "wall"],
    );
    for row in runtime.block_on(call_rows()) {
        calls.row(row);
    }
    vec![calls, parse()]
}

fn source(sandbox: &EntraSandbox, expand_manager: bool, delta: bool) -> EntraSource {
    let options = EntraSandboxOptions::default();
    let graph = rosterd::platform::connection::Connection::new(sandbox.graph_url());
    let secret = SecretString::from(options.app.1.clone());
    let mut settings = EntraSettings::new(graph, sandbox.base_url(), &options.tenant, &options.app.0, secret);
    settings.expand_manager = expand_manager;
    // Unpaced (`requests_per_second: 0`): the table measures calls and the source's own speed,
    // not the default pace's floor of calls / 50 s.
    settings.graph.per_second = 0.0;
    settings.retry = backoff_from(std::time::Duration::from_millis(5));
    settings.incremental = delta.then(Default::default);
    EntraSource::new(settings).expect("a source")
}

async fn call_rows() -> Vec<Vec<String>> {
    let options = EntraSandboxOptions { delta_page: DELTA_PAGE, ..EntraSandboxOptions::default().with_people(N) };
    let sandbox = EntraSandbox::start(options).await.expect("the Entra emulator");
    let groups = sandbox.groups();
    let member_calls: usize = groups.iter().map(|g| sandbox.member_count(&g.id, true).div_ceil(999).max(1)).sum();
    let group_calls = 1 + groups.len().div_ceil(999).saturating_sub(1) + member_calls;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (store, _) = Store::open(dir.path(), 256 << 20).expect("a store");
    let reads = [
        ("full, $expand=manager (100 a page)", source(&sandbox, true, false), 1 + N.div_ceil(100) + group_calls),
        ("full, no $expand (999 a page)", source(&sandbox, false, false), 1 + N.div_ceil(999) + group_calls),
        ("full by a delta round (200 a page)", source(&sandbox, true, true), 1 + N.div_ceil(DELTA_PAGE) + group_calls),
    ];
    let mut rows = Vec::new();
    let mut delta_source = None;
    for (label, source, minimum) in reads {
        let before = sandbox.graph_calls();
        let began = Instant::now();
        let roster = source.read_with(&store).await.expect("a full read");
        assert!(roster.complete && roster.people.len() == N, "{:?}", roster.incomplete_reason);
        rows.push(row(label, sandbox.graph_calls() - before, minimum, began));
        delta_source = Some(source);
    }
    if let Some(source) = delta_source {
        let before = sandbox.graph_calls();
        let began = Instant::now();
        let roster = source.read_with(&store).await.expect("a quiet delta read");
        assert!(roster.complete && roster.people.len() == N, "{:?}", roster.incomplete_reason);
        rows.push(row("quiet delta", sandbox.graph_calls() - before, 1, began));
    }
    sandbox.shutdown().await;
    rows
}

fn row(label: &str, calls: usize, minimum: usize, began: Instant) -> Vec<String> {
    let wall = format!("{:.0} ms", began.elapsed().as_secs_f64() * 1000.0);
    vec![label.into(), calls.to_string(), minimum.to_string(), ratio(calls as f64, minimum as f64), wall]
}

/// Graph pages of 999 users (all selected properties, the manager expanded) parsed into
/// people: people a second and MB a second.
fn parse() -> Table {
    let mut table = Table::new(
        format!("Entra ID roster parse: {N} users in Graph pages of 999 (JSON to people)"),
        &["people", "bytes", "parse", "people/s", "MB/s"],
    );
    let pages: Vec<Vec<u8>> = (1..=N)
        .collect::<Vec<_>>()
        .chunks(999)
        .map(|chunk| {
            let value: Vec<serde_json::Value> = chunk
                .iter()
                .map(|i| {
                    let user = people::person(*i);
                    let mut m = user.properties();
                    if let Some(manager) = user.manager {
                        m.insert("manager".into(), serde_json::json!({ "id": manager }));
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({ "value": value })).expect("JSON")
        })
        .collect();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let began = Instant::now();
    let mut held = 0;
    for body in &pages {
        let page = wire::parse_page(body).expect("a page");
        held += page.value.iter().filter_map(|u| wire::person(u).ok()).count();
    }
    let secs = began.elapsed().as_secs_f64().max(1e-9);
    assert_eq!(held, N);
    table.row(vec![
        N.to_string(),
        bytes.to_string(),
        format!("{:.0} ms", secs * 1000.0),
        format!("{:.0}", N as f64 / secs),
        format!("{:.1}", bytes as f64 / secs / 1e6),
    ]);
    table
}
