//! Scale: roster parse, diff/plan, store load and save, memory and store size at 1k–1M people.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rosterd::platform::Traits;
use rosterd::reconcile::desired::desired_accounts;
use rosterd::reconcile::diff::{diff, DiffInput};

use crate::gen;
use crate::table::Table;

fn secs(t: Instant) -> String {
    format!("{:.3}", t.elapsed().as_secs_f64())
}

pub fn run() -> Vec<Table> {
    let sizes: Vec<usize> = std::env::var("ROSTERD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000, 1_000_000]);
    let mut table = Table::new(
        "Diff/plan, one platform, in process (seconds)",
        &["people", "accounts", "desired", "diff", "diff/plan total", "steps"],
    );
    for &n in &sizes {
        let rss = || {
            std::fs::read_to_string("/proc/self/statm")
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 4096
                / n as u64
        };
        let r0 = rss();
        let people = gen::roster(n);
        let r1 = rss();
        let (accounts, links) = gen::platform(n, false);
        let r2 = rss();
        let links2: Vec<_> = links.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        let r3 = rss();
        drop(links2);
        eprintln!("per person: base {r0} people {} accounts+links {} links-as-vec {}", r1 - r0, r2 - r1, r3 - r2);
        let mapping = gen::mapping();
        let traits = Traits::new("email");
        let started = Instant::now();
        let cpu0 = crate::table::cpu_secs();
        let r4 = rss();
        let target = desired_accounts(&people, &mapping);
        let r5 = rss();
        eprintln!("views {} desired {}", r4 - r2, r5 - r4);
        let desired_secs = secs(started);
        eprintln!("desired cpu {:.3}", crate::table::cpu_secs() - cpu0);
        let t = Instant::now();
        let protected = BTreeSet::new();
        let plan = diff(&DiffInput {
            platform: "cake",
            traits: &traits,
            desired: &target.desired,
            excluded: &target.excluded,
            actual: &accounts,
            links: &links,
            protected: &protected,
        });
        let diff_secs = secs(t);
        eprintln!("cpu {:.3}", crate::table::cpu_secs() - cpu0);
        table.row(vec![
            n.to_string(),
            accounts.len().to_string(),
            desired_secs,
            diff_secs,
            secs(started),
            plan.steps.len().to_string(),
        ]);
        let _ = BTreeMap::<(), ()>::new();
    }
    vec![table]
}
