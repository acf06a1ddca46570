//! The requests that need the engine, done on it: by the daemon's worker between runs, or
//! by the command line itself when no daemon holds the store. One code path for both, so
//! the answers are the same.

use super::{Refusal, Reply, Request};
use crate::config::Config;
use crate::exit;
use crate::reconcile::{Engine, EngineError};
use crate::source::person::PersonQuery;
use crate::store::Store;

pub async fn execute(engine: &Engine, request: Request) -> Reply {
    match request {
        Request::Plan { platform } => match engine.plan(platform.as_deref()).await {
            Ok(planned) => Reply::Plan { plan: Box::new(planned.plan) },
            Err(e) => refused(e),
        },
        Request::Report { platform, json } => match engine.report(platform.as_deref()).await {
            Ok(report) => {
                let text = if json { format!("{}\n", report.to_json()) } else { report.to_table() };
                Reply::Report { text, errors: report.errors.len() }
            }
            Err(e) => refused(e),
        },
        Request::Approve { run_id, platform } => match engine.approve(&run_id, platform.as_deref()).await {
            Ok(platforms) => Reply::Approved { platforms },
            Err(e) => refused(e),
        },
        Request::AuditVerify => audit_verify(&engine.store, &engine.config),
        Request::Person { person, dry_run } => one_person(engine, &person, dry_run).await,
        Request::Status | Request::Reconcile => {
            Reply::refused(Refusal::BadRequest, "status and reconcile are answered by the daemon, not the engine")
        }
    }
}

/// A one-person run; a query that names nobody (or several) is a usage refusal (exit 2).
async fn one_person(engine: &Engine, person: &str, dry_run: bool) -> Reply {
    let Some(query) = PersonQuery::new(person) else {
        return Reply::refused(Refusal::BadRequest, "--person needs an id, user name or e-mail");
    };
    match engine.reconcile_person(&query, "person", dry_run).await {
        Ok(trace) => Reply::Person {
            trace: serde_json::to_value(&trace).unwrap_or_default(),
            text: trace.to_text(),
            code: trace.exit_code(),
        },
        Err(e) if e.is_usage() => Reply::refused(Refusal::BadRequest, e.to_string()),
        Err(e) => Reply::refused(Refusal::Failed, e.to_string()),
    }
}

fn refused(e: EngineError) -> Reply {
    let refusal = match e {
        EngineError::NotApprovable(_) => Refusal::NotApprovable,
        _ => Refusal::Failed,
    };
    Reply::refused(refusal, e.to_string())
}

/// Why the audit trail's anchor could not be read.
#[derive(Debug, thiserror::Error)]
enum AnchorReadError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Anchor(#[from] crate::anchor::AnchorError),
}

/// `audit --verify`: the chain (an HMAC chain with `audit.hmac_key_file`) and its anchor
/// in the store, so lines cut from the end are found too. Printed as the command prints it.
pub fn audit_verify(store: &Store, config: &Config) -> Reply {
    let file = config.audit_path();
    let head = store
        .audit_head()
        .map_err(AnchorReadError::from)
        .and_then(|tree| crate::anchor::HeadStore::load(&tree).map_err(AnchorReadError::from));
    let head = match head {
        Ok(h) => h,
        Err(e) => return printed("", format!("rosterd: cannot read the audit trail's anchor: {e}"), exit::ERROR),
    };
    match crate::audit::verify_anchored(&file, head.as_ref(), config.audit_key.as_ref()) {
        Ok(Ok(n)) => {
            let kind = if config.audit_key.is_some() { "HMAC chain" } else { "hash chain" };
            let out = format!("{}: {n} line(s), {kind} intact and matching its anchor in the store", file.display());
            printed(out, "", exit::OK)
        }
        Ok(Err(f)) => printed("", format!("{}: line {}: {}", file.display(), f.line, f.reason), exit::ATTENTION),
        Err(e) => printed("", format!("rosterd: {e}"), exit::ERROR),
    }
}

/// A reply the command prints as is: each non-empty text as a line on its stream.
fn printed(stdout: impl Into<String>, stderr: impl Into<String>, code: u8) -> Reply {
    Reply::Printed { stdout: stdout.into(), stderr: stderr.into(), code }
}
