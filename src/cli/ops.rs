//! `reconcile` as the command line prints it: a whole run (`--once`) or one person
//! (`--person`), as a table or as one JSON document, that JSON document also when the run
//! fails before planning (the config, the source); and `plan --detailed-exitcode`.

use std::path::Path;

use serde_json::{json, Value};

use super::{plan_code, print_plan, run_code, Format};
use crate::config::Config;
use crate::exit;
use crate::reconcile::plan::Plan;
use crate::reconcile::{Engine, RunSummary};
use crate::source::person::PersonQuery;

/// Load the config and build the engine; the exit code and the message on failure.
pub(super) fn build(path: &Path) -> Result<Engine, (u8, String)> {
    let config = Config::load(path).map_err(|e| (exit::USAGE, e.to_string()))?;
    crate::setup::engine(config).map_err(|e| (exit::ERROR, format!("rosterd: {e}")))
}

/// `reconcile --once` or `reconcile --person ID`.
pub(super) async fn reconcile(path: &Path, dry_run: bool, format: Format, person: Option<String>) -> u8 {
    let (code, doc) = match person {
        Some(text) => reconcile_person(path, &text, dry_run, format).await,
        None => reconcile_once(path, dry_run, format).await,
    };
    if let Some(doc) = doc {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    code
}

/// A failure as the JSON document says it (and stderr, for a person at a terminal).
fn failed(code: u8, message: String, format: Format) -> (u8, Option<Value>) {
    eprintln!("{message}");
    let doc = (format == Format::Json).then(|| json!({ "ok": false, "exit_code": code, "error": message }));
    (code, doc)
}

async fn reconcile_once(path: &Path, dry_run: bool, format: Format) -> (u8, Option<Value>) {
    let engine = match build(path) {
        Ok(e) => e,
        Err((code, message)) => return failed(code, message, format),
    };
    let run = engine.reconcile("cli", dry_run).await;
    notify_once(&engine, &run).await;
    let (plan, summary) = match run {
        Ok(done) => done,
        Err(e) => return failed(exit::ERROR, format!("rosterd: {e}"), format),
    };
    let code = summary.as_ref().map_or_else(|| plan_code(&plan), run_code);
    match format {
        Format::Table => {
            print_plan(&plan, format);
            if let Some(summary) = &summary {
                print!("\n{}", summary.to_table());
            }
            (code, None)
        }
        Format::Json => (code, Some(run_document(&plan, summary.as_ref(), code))),
    }
}

/// Tell the webhooks what this run calls for, before exiting (a dry run tells nothing).
/// A one-shot run has no runs before it to count: `notify.source_failures` above 1 is the daemon's.
async fn notify_once(engine: &Engine, run: &Result<(Plan, Option<RunSummary>), crate::reconcile::EngineError>) {
    let run = match run {
        Ok((_, Some(summary))) => Ok(&summary.record),
        Ok((_, None)) => return,
        Err(e) => Err(e),
    };
    let notifier = crate::notify::Notifier::new(&engine.config.notify);
    crate::notify::after_engine_run(&notifier, engine, run).send().await;
}

/// One JSON document for a whole run: the plan, the summary (absent on a dry run), the exit code.
pub fn run_document(plan: &Plan, summary: Option<&RunSummary>, code: u8) -> Value {
    json!({
        "ok": code == exit::OK,
        "exit_code": code,
        "run_id": plan.run_id,
        "plan": plan,
        "summary": summary.map(|s| &s.record),
    })
}

/// One person, by the running daemon when one holds the store, else here.
async fn reconcile_person(path: &Path, text: &str, dry_run: bool, format: Format) -> (u8, Option<Value>) {
    if PersonQuery::new(text).is_none() {
        return failed(exit::USAGE, "rosterd: --person needs an id, user name or e-mail".into(), format);
    }
    let (trace, lines, code) = match crate::daemon::admin::client::person(path, text, dry_run).await {
        Ok(answer) => answer,
        Err(code) if format == Format::Json => {
            return (code, Some(json!({ "ok": false, "exit_code": code, "error": "see the message on stderr" })))
        }
        Err(code) => return (code, None),
    };
    match format {
        Format::Table => {
            print!("{lines}");
            (code, None)
        }
        Format::Json => (code, Some(json!({ "ok": code == exit::OK, "exit_code": code, "trace": trace }))),
    }
}

/// `plan --detailed-exitcode`, as Terraform's: 0 nothing to change, 2 changes pending
/// (held removals included: they wait for an approval), 1 an error (a platform not planned).
pub(super) fn detailed_plan_code(plan: &Plan) -> u8 {
    if plan.platforms.iter().any(|p| p.error.is_some()) {
        exit::ERROR
    } else if plan.change_count() + plan.held_count() > 0 {
        2
    } else {
        exit::OK
    }
}
