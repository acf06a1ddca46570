//! Command-line parsing and dispatch: flags are parsed and validated here, then handed to
//! the library. Each command returns an exit code from [`crate::exit`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::audit;
use crate::config::Config;
use crate::daemon::admin::client as admin_client;
use crate::exit;
use crate::reconcile::plan::Plan;
use crate::reconcile::{Engine, Refusal, RunSummary};

mod docs;
mod ops;

const DEFAULT_LOG: &str = "rosterd=info";

#[derive(Debug, Parser)]
#[command(
    name = "rosterd",
    version = crate::build_info::VERSION_LINE,
    about = "Keeps SaaS platform accounts in line with one authoritative roster (SCIM 2.0 or a roster file).",
    long_about = "rosterd reads the roster from an identity source, lists each platform's users, plans the \
smallest set of create / update / deactivate calls that makes each platform match, applies them safely \
and records every change in an audit trail.\n\nTry it with no setup: `rosterd demo`.",
    after_help = exit::HELP
)]
pub struct Cli {
    /// The config file (YAML). See config/rosterd.example.yaml.
    #[arg(short, long, global = true, env = "ROSTERD_CONFIG", default_value = "/etc/rosterd/rosterd.yaml")]
    pub config: PathBuf,
    /// Log format on stderr: text on a terminal and JSON elsewhere, unless set.
    #[arg(long, global = true, env = "ROSTERD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `rosterd=debug`.
    #[arg(long, global = true, env = "ROSTERD_LOG", default_value = DEFAULT_LOG)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try rosterd: start a sandbox of every platform kind on loopback, reconcile the example
    /// roster into them, print the plan and the outcome, show that a second pass changes
    /// nothing, and print the access report.
    Demo {
        /// Keep the demo's state (store, audit trail) in this folder instead of a temporary one.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Where the roster comes from: the demo roster file, or an identity provider's emulator serving it.
        #[arg(long, value_enum, default_value_t)]
        source: crate::source::DemoSource,
    },
    /// Validate the config and the presence of every credential; list every problem at once.
    CheckConfig {
        /// Do not contact the platforms (by default their roles are checked against the config).
        #[arg(long)]
        offline: bool,
    },
    /// Read the roster and the platforms, and print what a run would change. Changes nothing.
    Plan {
        /// Plan only this platform (its config name).
        #[arg(long)]
        platform: Option<String>,
        /// Also save the plan as JSON, for review and `rosterd apply`.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Exit 0 when nothing would change, 2 when changes are pending (held removals
        /// included), 1 on any error, as `terraform plan -detailed-exitcode`.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Apply exactly a reviewed plan file; a platform that changed since is refused.
    Apply {
        /// A plan saved by `rosterd plan --out`.
        plan: PathBuf,
    },
    /// Release the removals a guard held in one run (see the run's summary and `rosterd audit --run RUN_ID`).
    #[command(long_about = "Release the removals a guard held in one run: a roster that shrank too far, a \
removal spike above safety.max_removals, or a person still in the grace period.\n\n\
rosterd reads the roster and the platform again and releases a held removal only if a plan made now \
still removes the same account and the account is listed exactly as it was in that run. So a person \
who came back, a protected account, or an account that changed is left alone (and said so). The roster \
read must be complete. Each release is audited as `released` under the run's id, then applied and \
audited `ok` or `failed` like any change. Approving the shrink guard's run makes that roster size the \
new baseline.\n\nA run id that held nothing, or whose removals were already released, exits 2.")]
    Approve {
        /// The run whose held removals to release (printed in the run's summary, the plan JSON and the audit trail).
        run_id: String,
        /// Only this platform's held removals (its config name).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Read, plan and apply once, then exit; or converge one person (`--person`) with a trace.
    Reconcile {
        /// Run once and exit (the daemon is `rosterd run`).
        #[arg(long, required_unless_present = "person")]
        once: bool,
        /// Only this person (source id, external id, user name or e-mail), on every platform,
        /// printing each step: found, scope and why, mapped fields and role, matched account,
        /// action, outcome. Guards still apply. An unknown person exits 2.
        #[arg(long, conflicts_with = "once")]
        person: Option<String>,
        /// Plan and print, but change nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The daemon: reconcile at start-up, on the schedule, on SIGUSR1 and on `POST /v1/reconcile`;
    /// reload on SIGHUP or when the config file changes; stop gracefully on SIGTERM.
    Run,
    /// Who has access where, with role and status; orphans (no person in the roster),
    /// accounts rosterd does not manage, and inactive people who still have active accounts.
    Report {
        /// Only this platform (its config name).
        #[arg(long)]
        platform: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The daemon's last runs, held removals waiting for `approve`, the quarantine, the next
    /// scheduled run and whether it is stuck (from the store when no daemon runs).
    /// Exit 0, 4 when removals are held or records quarantined, 1 when the daemon is stuck.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show the audit trail, filtered; or verify its hash chain.
    Audit {
        /// A person's id, email or account id.
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        platform: Option<String>,
        /// Only records since this long ago (7d, 12h, 30m) or this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only records up to this long ago or this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Only records of this run.
        #[arg(long)]
        run: Option<String>,
        /// Check that no line was edited, deleted, inserted or reordered.
        #[arg(long)]
        verify: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print a shell completion script: `rosterd completions bash > /etc/bash_completion.d/rosterd`.
    Completions {
        #[arg(value_enum)]
        shell: docs::CompletionShell,
    },
    /// Print the man page (roff): `rosterd man > /usr/local/share/man/man1/rosterd.1`.
    Man,
}

/// What a command can meet before the engine takes over, said as its cause says it.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Entry point for the binary.
pub fn main() -> ExitCode {
    // The store, the audit trail and saved plans hold names and emails: private whatever
    // the umask of the shell or cron job that started rosterd.
    crate::private::restrict_umask();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    // The demo prints its own story; only warnings belong beside it unless asked for more.
    let quiet_demo = matches!(cli.command, Command::Demo { .. }) && cli.log == DEFAULT_LOG;
    init_logging(cli.log_format, if quiet_demo { "rosterd=warn" } else { &cli.log });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rosterd: cannot start the async runtime: {e}");
            return exit::code(exit::ERROR);
        }
    };
    exit::code(runtime.block_on(dispatch(cli)))
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("rosterd=info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Demo { state_dir, source } => demo(state_dir, source).await,
        Command::CheckConfig { offline } => check_config(&cli.config, offline).await,
        Command::Plan { platform, out, format, detailed_exitcode } => {
            plan(&cli.config, platform, out, format, detailed_exitcode).await
        }
        Command::Apply { plan } => apply(&cli.config, &plan).await,
        Command::Reconcile { once: _, person, dry_run, format } => {
            ops::reconcile(&cli.config, dry_run, format, person).await
        }
        Command::Approve { run_id, platform } => approve(&cli.config, &run_id, platform.as_deref()).await,
        Command::Run => crate::daemon::run(&cli.config).await,
        Command::Report { platform, format } => report(&cli.config, platform, format).await,
        Command::Status { format } => admin_client::status(&cli.config, format == Format::Json).await,
        Command::Audit { person, platform, since, until, run, verify, format } => {
            audit_cmd(&cli.config, AuditArgs { person, platform, since, until, run, verify, format }).await
        }
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
    }
}

fn load(path: &std::path::Path) -> Result<Config, u8> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        exit::USAGE
    })
}

fn engine(path: &std::path::Path) -> Result<Engine, u8> {
    ops::build(path).map_err(|(code, message)| {
        eprintln!("{message}");
        code
    })
}

async fn check_config(path: &std::path::Path, offline: bool) -> u8 {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Not a problem (the config is valid as written), but never silent.
    for warning in config.insecure_tls_warnings() {
        eprintln!("warning: {warning}");
    }
    let (problems, warnings) = crate::config::secret::file_mode_findings(&config.secret_files);
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if !problems.is_empty() {
        eprintln!("{} has {} problem(s):", path.display(), problems.len());
        for p in problems {
            eprintln!("  {p}");
        }
        return exit::USAGE;
    }
    if !offline {
        let problems = crate::setup::online_checks(&config).await;
        if !problems.is_empty() {
            eprintln!("{} has {} problem(s):", path.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
            return exit::USAGE;
        }
    }
    println!("{}: ok ({} platform(s))", path.display(), config.platforms.len());
    exit::OK
}

async fn plan(
    path: &std::path::Path,
    platform: Option<String>,
    out: Option<PathBuf>,
    format: Format,
    detailed: bool,
) -> u8 {
    // Through the running daemon when one holds the store (its admin socket), else here.
    let plan = match admin_client::plan(path, platform).await {
        Ok(p) => p,
        Err(code) => return if detailed { exit::ERROR } else { code },
    };
    if let Some(out) = out {
        if let Err(e) = crate::private::write(&out, plan.to_json().as_bytes()) {
            eprintln!("rosterd: cannot write the plan to {}: {e}", out.display());
            return exit::ERROR;
        }
        eprintln!("plan saved to {}; apply it with: rosterd apply {}", out.display(), out.display());
    }
    print_plan(&plan, format);
    match detailed {
        true => ops::detailed_plan_code(&plan),
        false => plan_code(&plan),
    }
}

fn print_plan(plan: &Plan, format: Format) {
    match format {
        Format::Table => print!("{}", plan.to_table()),
        Format::Json => println!("{}", plan.to_json()),
    }
}

fn plan_code(plan: &Plan) -> u8 {
    if plan.platforms.iter().any(|p| p.error.is_some()) {
        exit::PARTIAL
    } else if plan.held_count() + plan.conflict_count() > 0 {
        exit::ATTENTION
    } else {
        exit::OK
    }
}

fn run_code(summary: &RunSummary) -> u8 {
    if summary.failed() > 0 {
        exit::PARTIAL
    } else if summary.held() > 0 || summary.quarantined() > 0 {
        exit::ATTENTION
    } else {
        exit::OK
    }
}

async fn apply(path: &std::path::Path, plan_path: &std::path::Path) -> u8 {
    let plan: Plan = match std::fs::read(plan_path)
        .map_err(CliError::from)
        .and_then(|b| serde_json::from_slice(&b).map_err(CliError::from))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "rosterd: {} is not a readable plan ({e}); make one with `rosterd plan --out FILE`",
                plan_path.display()
            );
            return exit::USAGE;
        }
    };
    let engine = match engine(path) {
        Ok(e) => e,
        Err(code) => return code,
    };
    match engine.apply_reviewed(plan, "cli-apply").await {
        Ok(summary) => {
            print!("{}", summary.to_table());
            let stale = summary.refused.iter().any(|r| matches!(r, Refusal::PlanChanged { .. }));
            if stale {
                exit::STALE_PLAN
            } else {
                run_code(&summary)
            }
        }
        Err(e) => {
            eprintln!("rosterd: {e}");
            exit::ERROR
        }
    }
}

async fn approve(path: &std::path::Path, run_id: &str, platform: Option<&str>) -> u8 {
    let results = match admin_client::approve(path, run_id, platform).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let failed = results.iter().filter_map(|p| p.summary.as_ref()).any(|s| s.failed > 0 || s.skipped > 0);
    let skipped = results.iter().any(|p| !p.skipped.is_empty());
    for p in &results {
        println!("{}:", p.platform);
        for s in &p.released {
            println!("  released: {} {} [{}]", s.action.as_str(), s.label, s.account_id.as_deref().unwrap_or("-"));
        }
        for (s, why) in &p.skipped {
            println!("  not released: {} {}: {why}", s.action.as_str(), s.label);
        }
        if let Some(sum) = &p.summary {
            println!("  applied: {} deactivated, {} failed", sum.deactivated, sum.failed);
        }
    }
    if failed {
        exit::PARTIAL
    } else if skipped {
        exit::ATTENTION
    } else {
        exit::OK
    }
}

async fn report(path: &std::path::Path, platform: Option<String>, format: Format) -> u8 {
    match admin_client::report(path, platform, format == Format::Json).await {
        Ok((text, 0)) => {
            print!("{text}");
            exit::OK
        }
        Ok((text, _errors)) => {
            print!("{text}");
            exit::PARTIAL
        }
        Err(code) => code,
    }
}

struct AuditArgs {
    person: Option<String>,
    platform: Option<String>,
    since: Option<String>,
    until: Option<String>,
    run: Option<String>,
    verify: bool,
    format: Format,
}

async fn audit_cmd(path: &std::path::Path, args: AuditArgs) -> u8 {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let file = config.audit_path();
    if args.verify {
        // Through the running daemon when one holds the store (the anchor is in it).
        return admin_client::audit_verify(path).await;
    }
    let now = chrono::Utc::now();
    let parse = |s: &Option<String>| s.as_deref().map(|t| audit::parse_since(t, now)).transpose();
    let (since, until) = match (parse(&args.since), parse(&args.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("rosterd: {e}");
            return exit::USAGE;
        }
    };
    let query = audit::Query { person: args.person, platform: args.platform, since, until, run_id: args.run };
    print_audit(&file, &query, args.format)
}

fn print_audit(file: &std::path::Path, query: &audit::Query, format: Format) -> u8 {
    let records = match audit::read_records(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rosterd: {e}");
            return exit::ERROR;
        }
    };
    for (i, rec) in records.enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                eprintln!("rosterd: {} line {}: {e}; run `rosterd audit --verify`", file.display(), i + 1);
                return exit::ERROR;
            }
        };
        if !query.matches(&rec) {
            continue;
        }
        match format {
            Format::Json => println!("{}", serde_json::to_string(&rec).unwrap_or_default()),
            Format::Table => println!("{}", audit_line(&rec)),
        }
    }
    exit::OK
}

fn audit_line(r: &audit::AuditRecord) -> String {
    let changes: Vec<String> = r
        .changes
        .iter()
        .map(|c| {
            format!("{}: {} -> {}", c.field, c.before.as_deref().unwrap_or("-"), c.after.as_deref().unwrap_or("-"))
        })
        .collect();
    let detail = r.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
    format!(
        "{} {} {} {} {} [{}] {}{} {{{}}}",
        r.time,
        r.run_id,
        r.platform,
        r.action,
        r.person,
        r.account_id.as_deref().unwrap_or("-"),
        r.outcome,
        detail,
        changes.join("; ")
    )
}

/// `rosterd demo` on the loopback sandbox platforms.
#[cfg(feature = "sandbox")]
async fn demo(state_dir: Option<PathBuf>, source: crate::source::DemoSource) -> u8 {
    crate::demo::run(state_dir, source).await
}

/// A build without the emulators cannot run the demo: say how to get one that can.
#[cfg(not(feature = "sandbox"))]
async fn demo(_state_dir: Option<PathBuf>, _source: crate::source::DemoSource) -> u8 {
    eprintln!(
        "rosterd demo: this rosterd was built without its sandbox platforms (cargo feature `sandbox`, \
         left out by --no-default-features); build one with them: `cargo build --release` \
         (or `cargo install --path . --features sandbox`), then run `rosterd demo` again"
    );
    exit::USAGE
}
