//! OS signals, mapped to daemon [`Event`]s in one place; handlers registered once. This is
//! the edge where real signals become the control loop's event stream.

use tokio::signal::unix::{signal, SignalKind};

use super::control::{Event, EventSender};

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

    /// The next signal, as the event it asks for. Signals of one kind that arrive together
    /// are delivered once, which is fine: triggers coalesce anyway.
    pub async fn recv(&mut self) -> Event {
        tokio::select! {
            _ = self.usr1.recv() => Event::ReconcileNow,
            _ = self.hup.recv() => Event::Reload,
            _ = self.term.recv() => Event::Stop,
            _ = self.int.recv() => Event::Stop,
        }
    }

    /// Send every signal to the control loop, until the loop is gone.
    pub async fn forward(mut self, events: EventSender) {
        loop {
            let event = self.recv().await;
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}
