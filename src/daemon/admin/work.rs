//! The requests that need the engine, done on it: by the daemon's worker between runs, or
//! by the command line itself when no daemon holds the store. One code path for both, so
//! the answers are the same.

use super::{Refusal, Reply, Request};
use crate::reconcile::{Engine, EngineError};

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
        Request::Status | Request::Reconcile => {
            Reply::refused(Refusal::BadRequest, "status and reconcile are answered by the daemon, not the engine")
        }
    }
}

fn refused(e: EngineError) -> Reply {
    let refusal = match e {
        EngineError::NotApprovable(_) => Refusal::NotApprovable,
        _ => Refusal::Failed,
    };
    Reply::refused(refusal, e.to_string())
}
