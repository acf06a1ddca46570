//! OS signals, mapped to what the daemon should do, in one place; handlers registered once.

use tokio::signal::unix::{signal, SignalKind};

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGUSR1`: reconcile now.
    ReconcileNow,
    /// `SIGHUP`: reload the config file.
    Reload,
    /// `SIGTERM` or `SIGINT`: stop gracefully.
    Stop,
}

/// The registered handlers. Registering replaces the default actions (SIGUSR1 and SIGHUP
/// would otherwise kill the process), so do it before anything else.
pub struct Signals {
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn register() -> std::io::Result<Signals> {
        Ok(Signals {
            usr1: signal(SignalKind::user_defined1())?,
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal. Signals of one kind that arrive together are delivered once, which
    /// is fine: triggers coalesce anyway.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.usr1.recv() => Signal::ReconcileNow,
            _ = self.hup.recv() => Signal::Reload,
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
        }
    }
}
