//! The Google Workspace source: calls made over the fewest a complete read can make, for a
//! full read and a quiet one (nothing changed; the Directory API has no modified-since
//! filter, so a quiet read is a full one too), and how fast `users.list` pages parse.
//!
//! The emulator holds the generated directory (7 groups: two nested, a cycle, the whole
//! account); the minimum is one token, the user pages at 500, the group page, and each
//! group's member pages at 200.

use std::time::Instant;

use rosterd::platform::connection::Connection;
use rosterd::source::google::sandbox::{generated_user, GoogleSandbox, GoogleSandboxOptions, ADMIN};
use rosterd::source::google::wire::{Page, User};
use rosterd::source::google::{GoogleSettings, GoogleSource, ServiceAccountKey};
use rosterd::source::Source;

use crate::table::{ratio, Table};

const SIZES: [usize; 2] = [2_500, 100_000];

pub fn run() -> Vec<Table> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let mut calls = Table::new(
        "Google source: calls of a full and of a quiet read against the minimum (users 500 a page, members 200)",
        &["people", "minimum calls", "full: calls", "full / minimum", "quiet: calls", "quiet / minimum", "full read"],
    );
    for n in SIZES {
        calls.row(runtime.block_on(calls_row(n)));
    }
    vec![calls, parse()]
}

async fn calls_row(n: usize) -> Vec<String> {
    let emu = GoogleSandbox::start(GoogleSandboxOptions::generated(n)).await.expect("the Google emulator");
    let key = ServiceAccountKey::parse(&emu.key_json().into()).expect("the emulator's key");
    let mut settings = GoogleSettings::new(Connection::new(emu.base_url()).unpaced(), key, ADMIN).expect("settings");
    settings.max_pages = 100_000;
    let source = GoogleSource::new(settings).expect("a source");
    let minimum = emu.minimum_calls(500);

    let began = Instant::now();
    let roster = source.read().await.expect("a full read");
    let full_time = began.elapsed();
    assert!(roster.complete && roster.people.len() == n, "{:?}", roster.incomplete_reason);
    let full = emu.calls();
    let roster = source.read().await.expect("a quiet read");
    assert!(roster.complete && roster.people.len() == n, "{:?}", roster.incomplete_reason);
    // The token is cached: the quiet read's minimum has no token call.
    let quiet = emu.calls() - full;
    emu.shutdown().await;
    vec![
        n.to_string(),
        minimum.to_string(),
        full.to_string(),
        ratio(full as f64, minimum as f64),
        quiet.to_string(),
        ratio(quiet as f64, (minimum - 1) as f64),
        format!("{:.0} ms", full_time.as_secs_f64() * 1000.0),
    ]
}

/// 100,000 generated users as `users.list` pages of 500, parsed and mapped to people.
fn parse() -> Table {
    let n = 100_000;
    let mut table = Table::new(
        "Google source: users.list pages parsed and mapped to people",
        &["people", "pages", "bytes", "parse + map", "people / s", "MB / s"],
    );
    let users: Vec<User> = (1..=n).map(generated_user).collect();
    let pages: Vec<Vec<u8>> = users
        .chunks(500)
        .map(|chunk| serde_json::to_vec(&serde_json::json!({ "users": chunk, "nextPageToken": "next" })).expect("json"))
        .collect();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let began = Instant::now();
    let mut people = 0;
    for body in &pages {
        let page = Page::<User>::parse(body).expect("a page");
        people += page.items.into_iter().map(User::into_person).count();
    }
    let took = began.elapsed().as_secs_f64();
    assert_eq!(people, n);
    table.row(vec![
        n.to_string(),
        pages.len().to_string(),
        bytes.to_string(),
        format!("{:.0} ms", took * 1000.0),
        format!("{:.0}", n as f64 / took),
        format!("{:.1}", bytes as f64 / took / 1e6),
    ]);
    table
}
