//! `cargo bench`: rosterd's speed, memory and call-count figures, printed as tables.
//!
//! Every figure that matters is a ratio measured in the same run (wall time over the
//! rate-limit floor, calls made over the minimum calls), because absolute times on shared
//! machines drift. Sections run in order; name some to run only those:
//! `cargo bench --bench rosterd -- scale calls`. BENCHMARKS.md holds the results.

mod calls;
mod entra;
mod gen;
mod google;
mod incremental;
mod okta;
mod pacing;
mod push;
mod sandbox_rig;
mod scale;
mod table;

use table::Table;

/// One section of the benchmark: a name to select it by and the tables it prints.
struct Section {
    name: &'static str,
    about: &'static str,
    run: fn() -> Vec<Table>,
}

fn sections() -> Vec<Section> {
    vec![
        Section { name: "scale", about: "roster parse, diff/plan, store, memory at 1k to 1M people", run: scale::run },
        Section {
            name: "incremental",
            about: "source and Affise calls of full against quiet incremental reads",
            run: incremental::run,
        },
        Section {
            name: "okta",
            about: "Okta source: calls over the minimum for a full and a quiet read of 100,000, parse throughput",
            run: okta::run,
        },
        Section {
            name: "google",
            about: "Google source calls of a full and a quiet read against the minimum; users.list parse rate",
            run: google::run,
        },
        Section {
            name: "calls",
            about: "calls per run on every platform kind against the contract's minimum",
            run: calls::run,
        },
        Section {
            name: "entra",
            about: "Entra ID source: Graph calls of a full and a quiet delta read of 100,000 people, roster parse",
            run: entra::run,
        },
        Section {
            name: "push",
            about: "200 pushed leavers to deactivated on all six rate-limited sandbox platforms: p50, p99, wall over the floor",
            run: push::run,
        },
        Section {
            name: "pacing",
            about: "2,000 creates against a 200 requests/s limit with 20 ms latency: wall time over the floor",
            run: pacing::run,
        },
        Section {
            name: "storm",
            about: "the same 2,000 creates meeting a 429 storm: the pace before, during and after",
            run: pacing::storm,
        },
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; nextest and `cargo test` would pass `--list` or test
    // filters: only bare words select sections.
    // The scale section measures a plan's peak memory in a child process of its own.
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("__plan_child") {
        return scale::plan_child(raw.get(2).and_then(|n| n.parse().ok()).unwrap_or(0));
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let all = sections();
    let unknown: Vec<&String> = args.iter().filter(|a| !all.iter().any(|s| s.name == a.as_str())).collect();
    if !unknown.is_empty() {
        eprintln!("unknown section(s) {unknown:?}; sections are:");
        for s in &all {
            eprintln!("  {:<12} {}", s.name, s.about);
        }
        std::process::exit(2);
    }
    for section in all.iter().filter(|s| args.is_empty() || args.iter().any(|a| a == s.name)) {
        println!("## {} — {}\n", section.name, section.about);
        for table in (section.run)() {
            println!("{table}");
        }
    }
}
