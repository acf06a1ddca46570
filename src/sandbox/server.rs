//! The loopback HTTP server every emulator runs on: bound to 127.0.0.1 on a free port,
//! served until shut down, and stopped when dropped so no test outlives what it started.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; stops on `shutdown` or when dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Bind a free loopback port and serve `app`; `name` labels a serving error in the log.
    pub async fn start(app: Router, name: &'static str) -> std::io::Result<LoopbackServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!(error = %e, sandbox = name, "sandbox stopped with an error");
            }
        });
        Ok(LoopbackServer { addr, stop: Some(stop), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> std::io::Result<url::Url> {
        url::Url::parse(&format!("http://{}{path}", self.addr)).map_err(std::io::Error::other)
    }

    /// Stop serving: graceful for a second, then abandoned.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A dropped server must not outlive its test, even with a request hanging.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
