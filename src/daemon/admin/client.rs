//! The command line's side of the admin channel: `approve`, `plan`, `report` and `status`
//! ask the daemon that holds the store, through its socket, when one runs; otherwise they
//! open the store themselves and do the same work ([`super::work`]). Either way the command
//! gets the same typed answer and prints it with the same code, with the same exit codes.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::{render, socket_path, Reply, Request};
use crate::config::Config;
use crate::daemon::state::{held_in, State, RECENT_RUNS};
use crate::exit;
use crate::reconcile::approve::ApprovedPlatform;
use crate::reconcile::plan::Plan;

/// How long the command line waits for the daemon's answer: an approve may wait for a
/// run in progress to end first.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("its answer is not one this rosterd reads ({0}); is the command line the same version as the daemon?")]
    Json(#[from] serde_json::Error),
    #[error("no answer within {} s", ANSWER_WITHIN.as_secs())]
    Timeout,
    #[error("it closed the connection without an answer; see its log")]
    NoAnswer,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Ask the daemon through its socket; None when no daemon listens there.
async fn remote(path: &Path, request: &Request) -> Result<Option<Reply>, ClientError> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        // No socket, or one left by a daemon that is gone: do the work here.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    let mut read = BufReader::new(read);
    match tokio::time::timeout(ANSWER_WITHIN, read.read_line(&mut answer)).await {
        Err(_) => return Err(ClientError::Timeout),
        Ok(Ok(0)) => return Err(ClientError::NoAnswer),
        Ok(r) => r?,
    };
    Ok(Some(serde_json::from_str(&answer)?))
}

/// The answer to `request`: from the running daemon, or worked out here. Errors are
/// printed; Err is the exit code.
pub async fn ask(config_path: &Path, request: Request) -> Result<Reply, u8> {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            // The daemon's secrets may be readable by the daemon only (systemd credentials,
            // `%d/...`): its socket is still found from state_dir, and it has the secrets.
            if let Ok(Some(reply)) = remote(&socket_path(&state_dir_only(config_path)), &request).await {
                return Ok(reply);
            }
            eprintln!("{e}");
            return Err(exit::USAGE);
        }
    };
    let socket = socket_path(&config.state_dir);
    match remote(&socket, &request).await {
        Ok(Some(reply)) => return Ok(reply),
        Ok(None) => {}
        Err(e) => {
            eprintln!("rosterd: the running rosterd's admin socket {} did not answer: {e}", socket.display());
            return Err(exit::ERROR);
        }
    }
    if request == Request::Status {
        return local_status(&config).map_err(|e| {
            eprintln!("rosterd: {e}");
            exit::ERROR
        });
    }
    if request == Request::AuditVerify {
        // Only the store is needed: no source, no platform.
        return match crate::store::Store::open(&config.state_dir, config.cache_capacity) {
            Ok((store, _)) => Ok(super::work::audit_verify(&store, &config)),
            Err(e) => {
                eprintln!("rosterd: cannot read the audit trail's anchor: {e}");
                Err(exit::ERROR)
            }
        };
    }
    let engine = crate::setup::engine(config).map_err(|e| {
        eprintln!("rosterd: {e}");
        exit::ERROR
    })?;
    Ok(super::work::execute(&engine, request).await)
}

/// The state_dir a config file names, as the config resolves it, read without validating
/// the rest: `state_dir` (relative to the file's folder), else `$STATE_DIRECTORY`, else
/// `/var/lib/rosterd`.
fn state_dir_only(config_path: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config_path).unwrap_or_default();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_default();
    let named = yaml.get("state_dir").and_then(serde_yaml::Value::as_str).map(std::path::PathBuf::from);
    let base = config_path.parent().unwrap_or(Path::new("."));
    named
        .map(|p| base.join(p))
        .or_else(|| std::env::var_os("STATE_DIRECTORY").map(std::path::PathBuf::from))
        .unwrap_or_else(|| std::path::PathBuf::from("/var/lib/rosterd"))
}

/// `status` without a daemon: what the store remembers (no run in progress, no liveness).
fn local_status(config: &Config) -> Result<Reply, ClientError> {
    let (store, _) = crate::store::Store::open(&config.state_dir, config.cache_capacity)?;
    let runs = store.recent_runs(RECENT_RUNS)?;
    let state = State::new(&config.daemon, runs.clone(), Arc::default());
    state.set_quarantined(store.quarantined()?);
    state.set_held(held_in(&store, &runs)?);
    let mut status = state.status();
    if let Some(map) = status.as_object_mut() {
        map.insert("daemon".into(), false.into());
        // Readiness and liveness are the daemon's; there is none.
        for key in ["ready", "readiness", "alive", "stuck", "stopping", "running"] {
            map.remove(key);
        }
    }
    Ok(Reply::Status { status })
}

/// Print a refusal (or an answer of the wrong kind) as the command says errors; its exit code.
fn failed(reply: Reply) -> u8 {
    match reply {
        Reply::Refused { refusal, message } => {
            eprintln!("rosterd: {message}");
            refusal.exit_code()
        }
        _ => {
            eprintln!("rosterd: the running rosterd answered another request; is the command line the same version as the daemon?");
            exit::ERROR
        }
    }
}

pub async fn plan(config_path: &Path, platform: Option<String>) -> Result<Plan, u8> {
    match ask(config_path, Request::Plan { platform }).await? {
        Reply::Plan { plan } => Ok(*plan),
        other => Err(failed(other)),
    }
}

/// The report as printed, and its count of platform errors.
pub async fn report(config_path: &Path, platform: Option<String>, json: bool) -> Result<(String, usize), u8> {
    match ask(config_path, Request::Report { platform, json }).await? {
        Reply::Report { text, errors } => Ok((text, errors)),
        other => Err(failed(other)),
    }
}

pub async fn approve(config_path: &Path, run_id: &str, platform: Option<&str>) -> Result<Vec<ApprovedPlatform>, u8> {
    let request = Request::Approve { run_id: run_id.to_string(), platform: platform.map(str::to_string) };
    match ask(config_path, request).await? {
        Reply::Approved { platforms } => Ok(platforms),
        other => Err(failed(other)),
    }
}

/// A one-person run: its trace as JSON, as lines, and its exit code.
pub async fn person(config_path: &Path, person: &str, dry_run: bool) -> Result<(serde_json::Value, String, u8), u8> {
    match ask(config_path, Request::Person { person: person.to_string(), dry_run }).await? {
        Reply::Person { trace, text, code } => Ok((trace, text, code)),
        other => Err(failed(other)),
    }
}

/// `rosterd status`: 0, or 4 when removals are held or records quarantined (as a run's
/// exit code says), or 1 when the daemon is stuck.
pub async fn status(config_path: &Path, json: bool) -> u8 {
    let status = match ask(config_path, Request::Status).await {
        Ok(Reply::Status { status }) => status,
        Ok(other) => return failed(other),
        Err(code) => return code,
    };
    match json {
        true => println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default()),
        false => print!("{}", render::status(&status)),
    }
    render::status_code(&status)
}

/// `rosterd audit --verify`, by the daemon when one holds the store.
pub async fn audit_verify(config_path: &Path) -> u8 {
    match ask(config_path, Request::AuditVerify).await {
        Ok(Reply::Printed { stdout, stderr, code }) => {
            for (text, out) in [(stdout, true), (stderr, false)].into_iter().filter(|(t, _)| !t.is_empty()) {
                match out {
                    true => println!("{text}"),
                    false => eprintln!("{text}"),
                }
            }
            code
        }
        Ok(other) => failed(other),
        Err(code) => code,
    }
}
