//! The admin channel: what an administrator asks a running daemon (approve, plan, report,
//! status, a run now) and what it answers, whichever way the question came: the Unix socket
//! in the state directory ([`socket`], used by the command line through [`client`]) or the
//! HTTP admin API (`super::http`). Requests that need the engine become worker jobs, so
//! they run under the daemon's own store lock, between runs ([`work`]).

pub mod client;
pub mod render;
pub mod socket;
pub mod work;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::state::{without_person_data, State};
use super::worker::{Job, Jobs, Sent, Trigger, Triggers};
use crate::reconcile::approve::ApprovedPlatform;
use crate::reconcile::plan::Plan;

/// The socket's file name in `state_dir`.
pub const SOCKET: &str = "admin.sock";

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// A question to the daemon: one JSON line on the socket, or an HTTP admin request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The last runs, held removals, quarantine, next scheduled run, liveness.
    Status,
    /// A whole run now (coalesced with one already queued).
    Reconcile,
    /// One person converged on every platform now, between runs (`POST /v1/reconcile?person=`,
    /// `rosterd reconcile --person`): their id, external id, user name or e-mail.
    Person {
        person: String,
        dry_run: bool,
    },
    Plan {
        platform: Option<String>,
    },
    /// The access report, rendered as the command line prints it (`json`: `--format json`).
    Report {
        platform: Option<String>,
        json: bool,
    },
    Approve {
        run_id: String,
        platform: Option<String>,
    },
    /// `audit --verify`: the trail against its anchor in the store.
    AuditVerify,
}

/// The answer, typed: the command line renders it with the code it uses without a daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Status {
        status: serde_json::Value,
    },
    Reconcile {
        coalesced: bool,
    },
    Plan {
        plan: Box<Plan>,
    },
    Report {
        text: String,
        errors: usize,
    },
    Approved {
        platforms: Vec<ApprovedPlatform>,
    },
    /// A one-person run's trace: as JSON (`trace`), as lines (`text`), and its exit code.
    Person {
        trace: serde_json::Value,
        text: String,
        code: u8,
    },
    /// Text the command prints as is (each non-empty text a line on its stream), and its exit code.
    Printed {
        stdout: String,
        stderr: String,
        code: u8,
    },
    Refused {
        refusal: Refusal,
        message: String,
    },
}

/// Why a request was not done; each maps to an exit code and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// `approve` of a run that held nothing, or whose removals were released.
    NotApprovable,
    /// The engine failed (the source, a platform, the store): the message says what.
    Failed,
    /// Too many requests wait for the worker.
    Busy,
    Stopping,
    /// Not this daemon's user (socket), or not a request it knows.
    Forbidden,
    BadRequest,
}

impl Refusal {
    /// The command line's exit code, as without a daemon.
    pub fn exit_code(self) -> u8 {
        match self {
            Refusal::NotApprovable | Refusal::BadRequest => crate::exit::USAGE,
            _ => crate::exit::ERROR,
        }
    }
}

impl Reply {
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Reply {
        Reply::Refused { refusal, message: message.into() }
    }
}

/// Who asks: person data only for a caller that proved it may see it.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub person_data: bool,
    /// The trigger a run it asks for is labelled with.
    pub trigger: Trigger,
}

/// What the socket server and the HTTP handlers share to answer a request.
#[derive(Clone)]
pub struct Admin {
    pub state: Arc<State>,
    pub triggers: Triggers,
    pub jobs: Jobs,
}

impl Admin {
    pub async fn handle(&self, request: Request, caller: Caller) -> Reply {
        match request {
            Request::Status => {
                let status = self.state.status();
                let status = if caller.person_data { status } else { without_person_data(status) };
                Reply::Status { status }
            }
            Request::Reconcile => self.reconcile(caller.trigger),
            request => self.on_worker(request).await,
        }
    }

    fn reconcile(&self, trigger: Trigger) -> Reply {
        if self.state.is_stopping() {
            return Reply::refused(Refusal::Stopping, "rosterd is stopping");
        }
        let sent = self.triggers.send(trigger);
        tracing::info!(trigger = trigger.as_str(), coalesced = sent == Sent::Coalesced, "reconcile requested");
        match sent {
            Sent::Queued => Reply::Reconcile { coalesced: false },
            Sent::Coalesced => Reply::Reconcile { coalesced: true },
            Sent::Closed => Reply::refused(Refusal::Stopping, "rosterd is stopping"),
        }
    }

    /// Hand the request to the worker, which answers between runs.
    async fn on_worker(&self, request: Request) -> Reply {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |engine| {
            Box::pin(async move {
                // The caller may have gone (a closed connection): nothing to tell it then.
                let _ = tx.send(work::execute(engine, request).await);
            })
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Reply::refused(
                    Refusal::Busy,
                    "the daemon has too many admin requests waiting; retry in a moment",
                )
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Reply::refused(Refusal::Stopping, "rosterd is stopping")
            }
        }
        rx.await.unwrap_or_else(|_| {
            Reply::refused(Refusal::Stopping, "rosterd stopped before answering; retry when it runs")
        })
    }
}
