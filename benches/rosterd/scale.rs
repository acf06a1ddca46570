//! Scale: roster parse, diff/plan, peak memory of a plan, store save/load/size/open time,
//! at 1k to 1M people generated deterministically (`gen`).
//!
//! `ROSTERD_BENCH_SIZES=1000,10000` picks other sizes, `ROSTERD_BENCH_TABLES=plan,memory`
//! some of the tables. The peak memory of a whole plan is
//! measured in a child process per size (this binary re-run with `__plan_child N`), so one
//! size's memory never inflates the next one's figure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rosterd::platform::Traits;
use rosterd::reconcile::desired::Mapped;
use rosterd::reconcile::diff::{diff, DiffInput};
use rosterd::source::file::{FileSettings, FileSource};
use rosterd::source::scim::parse_users_page;
use rosterd::store::Store;

use crate::gen;
use crate::table::{cpu_secs, peak_rss_bytes, Table};

const DEFAULT_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// SCIM pages as a server sends them.
const SCIM_PAGE: usize = 1_000;

fn sizes() -> Vec<usize> {
    std::env::var("ROSTERD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| DEFAULT_SIZES.to_vec())
}

fn secs(seconds: f64) -> String {
    format!("{seconds:.3}")
}

fn per_person(bytes: u64, n: usize) -> String {
    format!("{}", bytes / n.max(1) as u64)
}

pub fn run() -> Vec<Table> {
    let sizes = sizes();
    // `ROSTERD_BENCH_TABLES=plan,memory` runs only those (parse, plan, memory, store, cache).
    let only = std::env::var("ROSTERD_BENCH_TABLES").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|t| t.trim() == name));
    let mut tables = Vec::new();
    if wanted("parse") {
        tables.push(parse_table(&sizes));
    }
    if wanted("plan") {
        tables.push(plan_table(&sizes));
    }
    if wanted("memory") {
        tables.push(memory_table(&sizes));
    }
    if wanted("store") {
        tables.push(store_table(&sizes));
    }
    if wanted("cache") {
        tables.push(cache_table());
    }
    tables
}

/// Roster parse: a YAML roster file, and SCIM ListResponse pages of 1,000.
fn parse_table(sizes: &[usize]) -> Table {
    let mut table = Table::new(
        "Roster parse (seconds; YAML roster file read whole, SCIM pages of 1,000 resources)",
        &["people", "YAML bytes", "YAML parse", "SCIM bytes", "SCIM parse"],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for &n in sizes {
        let yaml = gen::roster_yaml(n);
        let path = dir.path().join("roster.yaml");
        std::fs::write(&path, &yaml).expect("write roster");
        let source = FileSource::new(FileSettings { path, complete: None }).expect("file source");
        let t = Instant::now();
        let roster = source.parse(&yaml).expect("roster parses");
        let yaml_secs = t.elapsed().as_secs_f64();
        assert_eq!(roster.people.len(), n);
        drop(roster);
        let pages: Vec<Vec<u8>> =
            (0..n).step_by(SCIM_PAGE).map(|s| gen::scim_page(s, SCIM_PAGE.min(n - s), n)).collect();
        let scim_bytes: usize = pages.iter().map(Vec::len).sum();
        let t = Instant::now();
        let parsed: usize = pages.iter().map(|p| parse_users_page(p).expect("page parses").people.len()).sum();
        let scim_secs = t.elapsed().as_secs_f64();
        assert_eq!(parsed, n);
        table.row(vec![
            n.to_string(),
            yaml.len().to_string(),
            secs(yaml_secs),
            scim_bytes.to_string(),
            secs(scim_secs),
        ]);
    }
    table
}

/// Mapping and diff for one platform: 1% joiners, 1% renamed, 1% leavers. The mapping
/// runs inside the diff, person by person, so the two are one figure.
fn plan_table(sizes: &[usize]) -> Table {
    let mut table = Table::new(
        "Diff/plan, one platform: roster mapped and diffed against the listing and links (seconds; every core; CPU = all threads)",
        &["people", "accounts", "diff/plan wall", "diff/plan CPU", "steps"],
    );
    for &n in sizes {
        let people = gen::roster(n);
        let (accounts, links) = gen::platform(n, true);
        let mapping = gen::mapping();
        let (cpu0, started) = (cpu_secs(), Instant::now());
        let plan = diff_of(&people, &mapping, &accounts, &links);
        let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu0);
        assert_eq!(plan.steps.len(), 3 * (n / 100), "1% joiners, renamed and leavers each");
        table.row(vec![n.to_string(), accounts.len().to_string(), secs(wall), secs(cpu), plan.steps.len().to_string()]);
    }
    table
}

/// The plan of one CAKE-like platform (match key email, nothing protected).
fn diff_of(
    people: &[rosterd::model::Person],
    mapping: &rosterd::reconcile::desired::Mapping,
    accounts: &[rosterd::model::Account],
    links: &BTreeMap<String, rosterd::reconcile::diff::Link>,
) -> rosterd::reconcile::plan::PlatformPlan {
    let traits = Traits::new("email");
    let protected = BTreeSet::new();
    diff(&DiffInput {
        platform: "cake",
        traits: &traits,
        wants: &Mapped::new(people, mapping),
        actual: accounts,
        links,
        protected: &protected,
    })
}

/// Peak memory of a whole plan, each size in its own process.
fn memory_table(sizes: &[usize]) -> Table {
    let mut table = Table::new(
        "Peak memory of a whole plan (roster, listing, links, mapping, diff, plan JSON), own process",
        &["people", "peak RSS MiB", "bytes per person"],
    );
    let exe = std::env::current_exe().expect("own path");
    for &n in sizes {
        let out = std::process::Command::new(&exe).arg("__plan_child").arg(n.to_string()).output().expect("child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let peak: u64 = text.trim().parse().unwrap_or_else(|_| panic!("child said {text:?}, {:?}", out.status));
        table.row(vec![n.to_string(), format!("{:.0}", peak as f64 / 1048576.0), per_person(peak, n)]);
    }
    table
}

/// The child's work: everything a plan holds at once, then its own peak RSS on stdout.
pub fn plan_child(n: usize) {
    let people = gen::roster(n);
    let (accounts, links) = gen::platform(n, true);
    let plan = diff_of(&people, &gen::mapping(), &accounts, &links);
    let json = serde_json::to_string(&plan).expect("plan serialises");
    assert!(!json.is_empty() && !people.is_empty());
    println!("{}", peak_rss_bytes().unwrap_or(0));
}

/// The store: links and the listing cache written, flushed, reopened and read back.
fn store_table(sizes: &[usize]) -> Table {
    let mut table = Table::new(
        "Store (sled, cache_capacity 64 MiB): N links + N cached accounts (seconds; bytes)",
        &["people", "save", "flush", "size on disk", "bytes per person", "open", "load links", "load cache"],
    );
    for &n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let (accounts, links) = gen::platform(n, false);
        let (store, _) = Store::open(dir.path(), 64 << 20).expect("store opens");
        let t = Instant::now();
        for (person, link) in &links {
            store.set_link("cake", person, link).expect("link saved");
        }
        store.replace_cache("cake", &accounts).expect("cache saved");
        let save = t.elapsed().as_secs_f64();
        let t = Instant::now();
        store.flush().expect("flush");
        let flush = t.elapsed().as_secs_f64();
        drop(store);
        let size = dir_size(dir.path());
        let t = Instant::now();
        let (store, outcome) = Store::open(dir.path(), 64 << 20).expect("store reopens");
        let open = t.elapsed().as_secs_f64();
        assert!(matches!(outcome, rosterd::store::OpenOutcome::Opened), "reopened as {outcome:?}");
        let t = Instant::now();
        assert_eq!(store.links("cake").expect("links").len(), n);
        let load_links = t.elapsed().as_secs_f64();
        let t = Instant::now();
        assert_eq!(store.cached_accounts("cake").expect("cache").len(), n);
        let load_cache = t.elapsed().as_secs_f64();
        table.row(vec![
            n.to_string(),
            secs(save),
            secs(flush),
            size.to_string(),
            per_person(size, n),
            secs(open),
            secs(load_links),
            secs(load_cache),
        ]);
    }
    table
}

/// `cache_capacity`: open and load time of a 100k-person store at several sizes.
fn cache_table() -> Table {
    let n = 100_000;
    let mut table = Table::new(
        "cache_capacity at 100k people: reopen, then load links + cache twice (seconds)",
        &["cache_capacity MiB", "open", "load links + cache", "second load"],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (accounts, links) = gen::platform(n, false);
        let (store, _) = Store::open(dir.path(), 64 << 20).expect("store opens");
        for (person, link) in &links {
            store.set_link("cake", person, link).expect("link saved");
        }
        store.replace_cache("cake", &accounts).expect("cache saved");
        store.flush().expect("flush");
    }
    for mib in [8u64, 32, 64, 256] {
        let t = Instant::now();
        let (store, outcome) = Store::open(dir.path(), mib << 20).expect("store reopens");
        assert!(matches!(outcome, rosterd::store::OpenOutcome::Opened), "reopened as {outcome:?}");
        let open = t.elapsed().as_secs_f64();
        let load = || {
            let t = Instant::now();
            assert_eq!(store.links("cake").expect("links").len(), n);
            assert_eq!(store.cached_accounts("cake").expect("cache").len(), n);
            t.elapsed().as_secs_f64()
        };
        let (first, second) = (load(), load());
        table.row(vec![mib.to_string(), secs(open), secs(first), secs(second)]);
    }
    table
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
