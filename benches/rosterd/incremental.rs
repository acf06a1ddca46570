//! Incremental reads: source calls of a full SCIM read against a quiet incremental one, and Affise list calls full against incremental.
//!
//! The SCIM source reads the in-process SCIM sandbox 100 users a page (the `count` asked;
//! the sandbox serves up to 1000), memberships from `User.groups` (the sandbox has no
//! `/Groups`). Seeded users were last modified a second apart in 2024, so the quiet read's
//! filter (the newest minus the 60 s overlap) holds the newest minute's users: one page.
//! A full read that keeps a snapshot also asks `ServiceProviderConfig` once. Affise lists
//! 500 a page; its users were last updated in 2024, so `updated_at=<yesterday>` holds none.

use std::time::{Duration, Instant};

use rosterd::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
use rosterd::platform::affise::{AffiseConnector, AffiseSettings};
use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser, SEEDED_AT};
use rosterd::reconcile::listing::read_accounts;
use rosterd::source::scim::{GroupsFrom, IncrementalSettings, ScimAuth, ScimSettings, ScimSource};
use rosterd::source::Source;
use rosterd::store::Store;
use secrecy::SecretString;

use crate::table::{ratio, Table};

const SIZES: [usize; 2] = [10_000, 100_000];
const SCIM_PAGE: u32 = 100;

pub fn run() -> Vec<Table> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let mut scim = Table::new(
        "SCIM source: calls and wall time of a full read and of a quiet incremental read (page size 100)",
        &[
            "people",
            "full: calls",
            "quiet incremental: calls",
            "calls cut",
            "full read (plain)",
            "full read + snapshot",
            "quiet incremental read",
            "incremental / plain full",
        ],
    );
    let mut affise = Table::new(
        "Affise: list calls and wall time of a full listing and of a quiet incremental listing (page size 500)",
        &["users", "full: list calls", "incremental: list calls", "calls cut", "full listing", "incremental listing"],
    );
    for n in SIZES {
        scim.row(runtime.block_on(scim_row(n)));
        affise.row(runtime.block_on(affise_row(n)));
    }
    vec![scim, affise]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn cut(full: usize, incremental: usize) -> String {
    format!("{:.1}%", 100.0 * (1.0 - incremental as f64 / full as f64))
}

async fn scim_row(n: usize) -> Vec<String> {
    let start = chrono::DateTime::parse_from_rfc3339(SEEDED_AT).expect("a time").to_utc();
    let users = (0..n)
        .map(|i| {
            let email = format!("user{i:06}@acme.example");
            ScimUser::new(&email, "Given", "Family", &email)
                .last_modified_at(start + chrono::Duration::seconds(i as i64))
        })
        .collect();
    let sandbox =
        ScimSandbox::start(ScimSandboxOptions { users, ..Default::default() }).await.expect("the SCIM sandbox");
    let mut settings = ScimSettings::new(sandbox.base_url(), ScimAuth::Bearer(SecretString::from(sandbox.token())));
    settings.page_size = SCIM_PAGE;
    settings.max_pages = 100_000;
    settings.groups = GroupsFrom::User;
    let plain = ScimSource::new(settings.clone()).expect("a source");
    settings.incremental = Some(IncrementalSettings::default());
    let source = ScimSource::new(settings).expect("a source");
    let dir = tempfile::tempdir().expect("a temp dir");
    let (store, _) = Store::open(dir.path(), 256 << 20).expect("a store");
    let calls = |s: &ScimSandbox| s.list_calls() + s.faults().count("config");

    let began = Instant::now();
    let roster = plain.read().await.expect("a plain full read");
    let plain_time = began.elapsed();
    assert!(roster.complete && roster.people.len() == n);

    let (roster, full_time, full_calls) = measured(|| calls(&sandbox), source.read_with(&store)).await;
    let roster = roster.expect("a full read");
    assert!(roster.complete && roster.people.len() == n);

    let (roster, incremental_time, incremental_calls) = measured(|| calls(&sandbox), source.read_with(&store)).await;
    let roster = roster.expect("an incremental read");
    assert!(roster.complete && roster.people.len() == n, "{:?}", roster.incomplete_reason);
    assert_eq!(source.incremental_off(), None);
    sandbox.shutdown().await;
    let mut row = row(n, (full_calls, incremental_calls), &[plain_time, full_time, incremental_time]);
    row.push(ratio(incremental_time.as_secs_f64(), plain_time.as_secs_f64()));
    row
}

async fn affise_row(n: usize) -> Vec<String> {
    let mut options = AffiseSandboxOptions::default();
    for i in 0..n {
        let user = AffiseUser::new("Given", "Family", &format!("user{i:06}@acme.example"), &["ROLE_MANAGER_AFFILIATE"]);
        options = options.with_user(AffiseUser {
            created_at: "2024-01-01 00:00:00".into(),
            updated_at: "2024-01-01 00:00:00".into(),
            ..user
        });
    }
    let sandbox = AffiseSandbox::start(options).await.expect("the Affise sandbox");
    let mut settings =
        AffiseSettings::new("affise", sandbox.base_url(), SecretString::from(sandbox.api_key().to_string()));
    settings.connection.per_second = 100_000.0;
    settings.connection.burst = 1_000;
    settings.incremental = Some(12);
    let connector = AffiseConnector::new(settings).expect("a connector");
    let dir = tempfile::tempdir().expect("a temp dir");
    let (store, _) = Store::open(dir.path(), 256 << 20).expect("a store");

    let list_calls = || sandbox.list_calls();
    let (accounts, full_time, full_calls) = measured(list_calls, read_accounts(&store, &connector, "affise")).await;
    assert_eq!(accounts.expect("a full listing").len(), n);

    let (accounts, incremental_time, incremental_calls) =
        measured(list_calls, read_accounts(&store, &connector, "affise")).await;
    let accounts = accounts.expect("an incremental listing");
    assert_eq!(accounts.len(), n);
    sandbox.shutdown().await;
    row(n, (full_calls, incremental_calls), &[full_time, incremental_time])
}

/// Runs one read (a future not yet started): its answer, how long it took, and how many
/// calls `calls` counted meanwhile.
async fn measured<T>(calls: impl Fn() -> usize, read: impl std::future::Future<Output = T>) -> (T, Duration, usize) {
    let before = calls();
    let began = Instant::now();
    let answer = read.await;
    (answer, began.elapsed(), calls() - before)
}

/// The columns both tables share: N, the calls of the full and of the incremental read, the
/// cut between them, then each time in ms.
fn row(n: usize, (full_calls, incremental_calls): (usize, usize), times: &[Duration]) -> Vec<String> {
    let mut row =
        vec![n.to_string(), full_calls.to_string(), incremental_calls.to_string(), cut(full_calls, incremental_calls)];
    row.extend(times.iter().map(|t| ms(*t)));
    row
}
