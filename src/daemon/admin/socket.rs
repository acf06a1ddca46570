//! The admin socket: `<state_dir>/admin.sock`, mode 0600, one JSON request line in and one
//! JSON reply line out per connection. Only the daemon's own user (or root) is served: the
//! peer's credentials (SO_PEERCRED) are checked on every connection, beside the file mode.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{Admin, Caller, Refusal, Reply, Request};
use crate::daemon::shutdown::Shutdown;
use crate::daemon::worker::Trigger;

/// A request line longer than this is refused unread.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024;

/// Why the socket cannot be listened on, or a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot listen on the admin socket {}: {source}; check that state_dir is writable and its path short (at most 107 bytes)", path.display())]
    Bind { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Listen on `path`. A socket file left there by a daemon that died is replaced: this
/// process holds the store's lock, so no other daemon of this state_dir is listening.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let fail = |source| SocketError::Bind { path: path.to_path_buf(), source };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let listener = UnixListener::bind(path).map_err(fail)?;
    // The umask already makes it private; say so explicitly, whatever started rosterd.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    Ok(listener)
}

/// Listen on `path` and serve until `stop`. A socket that cannot be made (a state_dir path
/// too long for a socket address, say) is logged and left out: the daemon still runs, and
/// the HTTP admin API still answers.
pub fn start(path: PathBuf, admin: Admin, stop: Shutdown) -> tokio::task::JoinHandle<()> {
    match bind(&path) {
        Ok(listener) => {
            tracing::info!(socket = %path.display(), "admin socket listening (mode 0600, this user and root only)");
            tokio::spawn(serve(listener, path, admin, stop))
        }
        Err(e) => {
            tracing::error!(error = %e, "no admin socket: `rosterd approve`, `plan`, `report` and `status` cannot reach this daemon; the HTTP admin API (http.admin_token_file) still can");
            tokio::spawn(async {})
        }
    }
}

/// Serve connections until `stop`; then remove the socket file.
pub async fn serve(listener: UnixListener, path: PathBuf, admin: Admin, stop: Shutdown) {
    loop {
        let stream = tokio::select! {
            _ = stop.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &admin).await {
                tracing::debug!(error = %e, "admin socket: connection ended early");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// True for this process's user and for root.
fn allowed(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

async fn connection(stream: UnixStream, admin: &Admin) -> Result<(), SocketError> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let reply = if allowed(uid) {
        let mut line = String::new();
        BufReader::new(read.take(MAX_REQUEST_BYTES)).read_line(&mut line).await?;
        match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                tracing::info!(uid, request = request_kind(&request), "admin request on the socket");
                admin.handle(request, Caller { person_data: true, trigger: Trigger::Admin }).await
            }
            Err(e) => Reply::refused(
                Refusal::BadRequest,
                format!("not a request this rosterd knows ({e}); is the command line the same version as the daemon?"),
            ),
        }
    } else {
        tracing::warn!(uid, "admin socket: refused a user other than rosterd's own or root");
        Reply::refused(Refusal::Forbidden, "only the user rosterd runs as, or root, may use its admin socket")
    };
    let mut text = serde_json::to_string(&reply)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// The request's kind, for the log (never its arguments: a run id is fine, but keep one rule).
fn request_kind(r: &Request) -> &'static str {
    match r {
        Request::Status => "status",
        Request::Reconcile => "reconcile",
        Request::Plan { .. } => "plan",
        Request::Report { .. } => "report",
        Request::Approve { .. } => "approve",
        Request::AuditVerify => "audit --verify",
        Request::Person { .. } => "reconcile --person",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_user_and_root_are_served() {
        let me = rustix::process::geteuid().as_raw();
        assert!(allowed(me));
        assert!(allowed(0));
        assert!(!allowed(me.wrapping_add(1).max(1)), "another user");
    }

    #[test]
    fn requests_keep_their_wire_form() {
        let approve = Request::Approve { run_id: "r1".into(), platform: None };
        let text = serde_json::to_string(&approve).unwrap();
        assert_eq!(text, r#"{"request":"approve","run_id":"r1","platform":null}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), approve);
        assert_eq!(serde_json::from_str::<Request>(r#"{"request":"status"}"#).unwrap(), Request::Status);
        assert!(serde_json::from_str::<Request>(r#"{"request":"drop_tables"}"#).is_err());
    }
}
