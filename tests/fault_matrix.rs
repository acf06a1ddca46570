//! The fault matrix (issue 5): every platform × every fault — a 429 storm, 10% 5xx,
//! time-outs, a truncated listing, a garbage body. Each cell converges a roster of 20,
//! changes it (2 joiners, 1 leaver, 1 rename), runs once under the fault, then runs with
//! the fault gone: it must never make a twin nor remove anyone wrongly, hold exactly the
//! desired accounts within 2 runs, and then plan zero changes. Run with `--nocapture` to
//! see the matrix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rosterd::config::Config;
use rosterd::sandbox::affise::{AffiseSandbox, AffiseSandboxOptions};
use rosterd::sandbox::agencyanalytics::{AgencyAnalyticsSandbox, AgencyAnalyticsSandboxOptions};
use rosterd::sandbox::cake::{CakeSandbox, CakeSandboxOptions};
use rosterd::sandbox::clienttoolbox::{CtSandbox, CtSandboxOptions, SANDBOX_OWNER_KEY};
use rosterd::sandbox::faults::{Fault, FaultRule, Faults};
use rosterd::sandbox::filespin::{FileSpinSandbox, FileSpinSandboxOptions};
use rosterd::sandbox::scim::{ScimSandbox, ScimSandboxOptions};
use tempfile::TempDir;

const PLATFORMS: [&str; 6] = ["cake", "affise", "agencyanalytics", "filespin", "clienttoolbox", "scim"];
const FAULTS: [&str; 5] = ["429 storm", "10% 5xx", "time-outs", "truncated", "garbage"];

/// The people of the first roster; then 21 and 22 join, 5 leaves, 7 is renamed.
const FIRST: usize = 20;
const JOINERS: [usize; 2] = [21, 22];
const LEAVER: usize = 5;
const RENAMED: usize = 7;

enum Sandbox {
    Cake(CakeSandbox),
    Affise(AffiseSandbox),
    Agency(AgencyAnalyticsSandbox),
    FileSpin(FileSpinSandbox),
    Ct(CtSandbox),
    Scim(ScimSandbox),
}

/// One managed account as the platform holds it: removed means deactivated, locked or
/// (soft-)deleted, as that platform removes.
#[derive(Debug, Clone)]
struct Account {
    key: String,
    given: String,
    removed: bool,
}

/// `p12@acme.example` or `p12` → 12; anything else is not ours.
fn person_of(key: &str) -> Option<usize> {
    key.split('@').next()?.strip_prefix('p')?.parse().ok()
}

impl Sandbox {
    async fn start(kind: &str) -> Sandbox {
        match kind {
            "cake" => Sandbox::Cake(CakeSandbox::start(CakeSandboxOptions::default()).await.unwrap()),
            "affise" => Sandbox::Affise(AffiseSandbox::start(AffiseSandboxOptions::default()).await.unwrap()),
            "agencyanalytics" => {
                Sandbox::Agency(AgencyAnalyticsSandbox::start(AgencyAnalyticsSandboxOptions::default()).await.unwrap())
            }
            "filespin" => Sandbox::FileSpin(FileSpinSandbox::start(FileSpinSandboxOptions::default()).await.unwrap()),
            "clienttoolbox" => Sandbox::Ct(CtSandbox::start(CtSandboxOptions::default()).await.unwrap()),
            _ => Sandbox::Scim(ScimSandbox::start(ScimSandboxOptions::default()).await.unwrap()),
        }
    }

    fn faults(&self) -> &Faults {
        match self {
            Sandbox::Cake(s) => s.faults(),
            Sandbox::Affise(s) => s.faults(),
            Sandbox::Agency(s) => s.faults(),
            Sandbox::FileSpin(s) => s.faults(),
            Sandbox::Ct(s) => s.faults(),
            Sandbox::Scim(s) => s.faults(),
        }
    }

    /// The platform entry of the config (key file `key`), with `timeout_seconds` when given
    /// (rosterd's 30 s otherwise).
    fn platform(&self, timeout_seconds: Option<u64>) -> String {
        let (kind, url, extra) = match self {
            Sandbox::Cake(s) => ("cake", s.base_url(), "    roles: [ { role: Account Manager } ]"),
            Sandbox::Affise(s) => {
                ("affise", s.base_url(), "    roles: [ { role: [ROLE_MANAGER_AFFILIATE, ROLE_SECTION_OFFER] } ]")
            }
            Sandbox::Agency(s) => ("agencyanalytics", s.base_url(), "    allow_delete: true\n    roles: [ { role: staff } ]"),
            Sandbox::FileSpin(s) => ("filespin", s.base_url(), "    roles: [ { role: USER } ]"),
            Sandbox::Ct(s) => (
                "clienttoolbox",
                s.base_url(),
                "    caller_user_id: john1970\n    account_id: greatwidgets\n    roles: [ { role: K, allowed_campaigns: none } ]",
            ),
            Sandbox::Scim(s) => ("scim", s.base_url(), ""),
        };
        format!(
            "  - name: target\n    kind: {kind}\n    base_url: \"{url}\"\n    api_key_file: key\n    page_size: 5\n{timeout}    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}\n{extra}\n",
            timeout = timeout_seconds.map(|t| format!("    timeout_seconds: {t}\n")).unwrap_or_default(),
        )
    }

    fn key(&self) -> String {
        match self {
            Sandbox::Cake(s) => s.api_key().to_string(),
            Sandbox::Affise(s) => s.api_key().to_string(),
            Sandbox::Agency(s) => s.api_key().to_string(),
            Sandbox::FileSpin(s) => s.api_key().to_string(),
            Sandbox::Ct(_) => SANDBOX_OWNER_KEY.to_string(),
            Sandbox::Scim(s) => s.token().to_string(),
        }
    }

    /// Every account of ours the platform holds (AgencyAnalytics deletes for good, so a
    /// removed account is simply gone there).
    fn accounts(&self) -> Vec<Account> {
        let all: Vec<Account> = match self {
            Sandbox::Cake(s) => s
                .users()
                .into_iter()
                .map(|u| Account { key: u.email, given: u.first_name, removed: u.user_status != "active" })
                .collect(),
            Sandbox::Affise(s) => s
                .users()
                .into_iter()
                .map(|u| Account { removed: u.all_denied(), key: u.email, given: u.first_name })
                .collect(),
            Sandbox::Agency(s) => s
                .users()
                .into_iter()
                .map(|u| Account { key: u.username, given: u.first_name, removed: false })
                .collect(),
            Sandbox::FileSpin(s) => s
                .users()
                .into_iter()
                .map(|u| Account { key: u.email, given: u.first_name, removed: !u.enabled })
                .collect(),
            Sandbox::Ct(s) => s
                .users()
                .into_iter()
                .map(|u| Account { key: u.user_name, given: u.first_name, removed: u.deleted })
                .collect(),
            Sandbox::Scim(s) => s
                .users()
                .into_iter()
                .map(|u| Account { key: u.user_name, given: u.given_name.unwrap_or_default(), removed: !u.active })
                .collect(),
        };
        all.into_iter().filter(|a| person_of(&a.key).is_some()).collect()
    }

    fn removes_by_deleting(&self) -> bool {
        matches!(self, Sandbox::Agency(_))
    }
}

fn roster(changed: bool) -> String {
    let mut out = String::from("complete: true\npeople:\n");
    let last = if changed { JOINERS[1] } else { FIRST };
    for i in 1..=last {
        let active = !(changed && i == LEAVER);
        let given = if changed && i == RENAMED { format!("Renamed{i}") } else { format!("G{i}") };
        out.push_str(&format!(
            "  - {{ id: \"{i}\", user_name: p{i}@acme.example, given_name: {given}, family_name: F{i}, email: p{i}@acme.example, active: {active} }}\n"
        ));
    }
    out
}

struct Cell {
    dir: TempDir,
    sandbox: Sandbox,
}

impl Cell {
    async fn start(platform: &str) -> Cell {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(platform).await;
        std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).unwrap();
        let cell = Cell { dir, sandbox };
        cell.configure(None);
        cell
    }

    /// Write the config; each run loads it afresh.
    fn configure(&self, timeout_seconds: Option<u64>) {
        let config = format!(
            "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nsafety:\n  max_removals: {{ count: 100, percent: 100 }}\nplatforms:\n{}",
            self.sandbox.platform(timeout_seconds)
        );
        std::fs::write(self.path("rosterd.yaml"), config).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// One `reconcile --once` with a fresh engine; the number of changes it planned, or
    /// why it did not run or plan.
    async fn reconcile(&self) -> Result<usize, String> {
        let config = Config::load(&self.path("rosterd.yaml")).map_err(|e| e.to_string())?;
        let engine = rosterd::setup::engine(config).map_err(|e| e.to_string())?;
        let (plan, summary) = engine.reconcile("fault-matrix", false).await.map_err(|e| e.to_string())?;
        if let Some(error) = &plan.platforms[0].error {
            return Err(format!("not planned: {error}"));
        }
        let failed = summary.map(|s| s.failed()).unwrap_or(0);
        if failed > 0 {
            let mut why = self.failures(&plan.run_id);
            // A write whose answer and re-read both failed is audited at the next run only.
            let pending = engine.store.pending_intents().unwrap_or_default();
            why.extend(pending.iter().map(|i| format!("{} {}: outcome unknown", i.action.as_str(), i.label)));
            return Err(format!("{failed} step(s) failed: {}", why.join("; ")));
        }
        Ok(plan.change_count())
    }

    /// What the audit trail says of the steps of `run_id` that failed: a failing cell
    /// must say why, or a rare failure cannot be told from another.
    fn failures(&self, run_id: &str) -> Vec<String> {
        let Ok(records) = rosterd::audit::read_records(&self.path("state/audit.jsonl")) else {
            return vec!["(no audit trail)".into()];
        };
        records
            .filter_map(Result::ok)
            .filter(|r| r.run_id == run_id && r.outcome == "failed")
            .map(|r| format!("{} {}: {}", r.action, r.person, r.detail.unwrap_or_default()))
            .collect()
    }

    /// What must hold at every moment: no twins, nobody but the leaver removed.
    fn safe(&self) -> Result<(), String> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for a in self.sandbox.accounts() {
            *seen.entry(a.key.to_lowercase()).or_default() += 1;
            let person = person_of(&a.key).unwrap_or_default();
            if a.removed && person != LEAVER {
                return Err(format!("{} wrongly removed", a.key));
            }
        }
        if let Some((key, n)) = seen.iter().find(|(_, n)| **n > 1) {
            return Err(format!("{n} accounts for {key}"));
        }
        let present: Vec<usize> = seen.keys().filter_map(|k| person_of(k)).collect();
        if let Some(gone) = (1..=FIRST).find(|i| *i != LEAVER && !present.contains(i)) {
            return Err(format!("p{gone} is gone"));
        }
        Ok(())
    }

    /// Exactly the desired accounts: everyone active and named as the roster says, the
    /// leaver removed as the platform removes.
    fn converged(&self) -> Result<(), String> {
        self.safe()?;
        let accounts = self.sandbox.accounts();
        for i in 1..=JOINERS[1] {
            let account = accounts.iter().find(|a| person_of(&a.key) == Some(i));
            match (i == LEAVER, account) {
                (true, None) if self.sandbox.removes_by_deleting() => {}
                (true, Some(a)) if a.removed && !self.sandbox.removes_by_deleting() => {}
                (true, a) => return Err(format!("the leaver is {a:?}")),
                (false, None) => return Err(format!("p{i} is missing")),
                (false, Some(a)) => {
                    let given = if i == RENAMED { format!("Renamed{i}") } else { format!("G{i}") };
                    if a.given != given || a.removed {
                        return Err(format!("p{i} is {a:?}"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn script(faults: &Faults, fault: &str) {
    match fault {
        // Every route answers 429 (Retry-After: 1) to the next 8 requests.
        "429 storm" => faults.script(FaultRule::any(Fault::too_many(1)).next(8)),
        "10% 5xx" => faults.script(FaultRule::any(Fault::status(503)).with_probability(0.1, 42)),
        // Longer than `timeout_seconds: 1`; the request is still served after the wait.
        "time-outs" => {
            faults.script(FaultRule::any(Fault::Delay(Duration::from_millis(1500))).with_probability(0.3, 7))
        }
        "truncated" => faults.script(FaultRule::on("list", Fault::Truncate).always()),
        _ => faults.script(FaultRule::on("list", Fault::Garbage).always()),
    }
}

/// One cell: `ok N runs`, or what went wrong.
async fn cell(platform: &str, fault: &str) -> Result<usize, String> {
    let cell = Cell::start(platform).await;
    std::fs::write(cell.path("roster.yaml"), roster(false)).unwrap();
    cell.reconcile().await.map_err(|e| format!("clean run: {e}"))?;
    cell.safe().map_err(|e| format!("clean run: {e}"))?;

    std::fs::write(cell.path("roster.yaml"), roster(true)).unwrap();
    script(cell.sandbox.faults(), fault);
    // The 1-second client time-out is part of the fault (the "time-outs" delays are longer),
    // so it holds for the faulted run only. The 30 cells are polled by one task that also
    // does the engines' blocking I/O: on a loaded machine that task can stall for more than
    // a second, and a 1-second time-out in the clean runs failed them with no fault at all.
    cell.configure(Some(1));
    let _ = cell.reconcile().await; // may fail or be partial
    cell.configure(None);
    cell.safe().map_err(|e| format!("faulted run: {e}"))?;
    if cell.sandbox.faults().injected() == 0 {
        return Err("no fault fired: the cell proves nothing".into());
    }
    // The faults stop: no new one fires, and a delayed request still inside the emulator
    // finishes before the next run reads the platform (it must not land mid-run).
    cell.sandbox.faults().clear();
    if !cell.sandbox.faults().settle(Duration::from_secs(30)).await {
        return Err("a request of the faulted run was still in the emulator after 30 s".into());
    }
    cell.safe().map_err(|e| format!("after the faulted run: {e}"))?;

    let mut runs = 0;
    let mut last = Err(String::from("no run"));
    while runs < 2 {
        runs += 1;
        let outcome = cell.reconcile().await;
        cell.safe().map_err(|e| format!("run {runs} after: {e}"))?;
        last = outcome.and_then(|_| cell.converged());
        if last.is_ok() {
            break;
        }
    }
    last.map_err(|e| format!("not converged in 2 runs: {e}"))?;
    match cell.reconcile().await {
        Ok(0) => {}
        Ok(n) => return Err(format!("the final run planned {n} change(s)")),
        Err(e) => return Err(format!("final run: {e}")),
    }
    cell.converged()?;
    Ok(runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_converges_after_every_fault_with_no_twins_and_no_wrongful_removals() {
    let started = Instant::now();
    // One task, the 30 cells polled together (the engine's futures are not `Send`).
    let cells: Vec<(&str, &str)> = PLATFORMS.iter().flat_map(|p| FAULTS.map(|f| (*p, f))).collect();
    let results = futures::future::join_all(cells.iter().map(|(p, f)| cell(p, f))).await;
    let outcomes: BTreeMap<(&str, &str), Result<usize, String>> = cells.into_iter().zip(results).collect();

    let mut table = format!("{:<16}", "");
    for fault in FAULTS {
        table.push_str(&format!("| {fault:<10} "));
    }
    table.push('\n');
    for platform in PLATFORMS {
        table.push_str(&format!("{platform:<16}"));
        for fault in FAULTS {
            let text = match &outcomes[&(platform, fault)] {
                Ok(runs) => format!("ok {runs} run{}", if *runs == 1 { "" } else { "s" }),
                Err(_) => "FAIL".to_string(),
            };
            table.push_str(&format!("| {text:<10} "));
        }
        table.push('\n');
    }
    println!("fault matrix (runs after the faults stop), {:.1}s:\n{table}", started.elapsed().as_secs_f64());
    let failures: Vec<String> =
        outcomes.iter().filter_map(|((p, f), o)| o.as_ref().err().map(|e| format!("{p} × {f}: {e}"))).collect();
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n"));
}
