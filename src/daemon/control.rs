//! The daemon's control loop: one stream of input events in; run triggers and reloads out.
//!
//! Real signals ([`super::signals`]), the config file watch ([`super::reload::watch`]) and
//! the schedule's ticks ([`super::scheduler`]) are turned into [`Event`]s at the edge, so
//! the loop only reads a channel: tests drive it in-process, with paused time, instead of
//! spawning the binary and signalling it. (HTTP triggers go straight to the worker's
//! trigger queue, because the caller's answer says whether its trigger was coalesced.)

use std::future::Future;

use tokio::sync::mpsc;

use super::worker::{Sent, Trigger, Triggers};

/// Events waiting for the loop; a reload in progress holds the loop for a moment at most.
const QUEUED: usize = 16;

/// What the daemon reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `SIGUSR1`: reconcile now.
    ReconcileNow,
    /// `SIGHUP`: reload the config file.
    Reload,
    /// The config file's content changed (the watch saw it).
    ConfigChanged,
    /// A secret file the config names changed (a rotated Secret): reload to read it.
    SecretChanged,
    /// The schedule fired.
    Tick,
    /// `SIGTERM` or `SIGINT`: stop gracefully.
    Stop,
}

/// The sending side, cloned into every edge that produces events.
pub type EventSender = mpsc::Sender<Event>;
/// The stream the loop reads.
pub type Events = mpsc::Receiver<Event>;

pub fn channel() -> (EventSender, Events) {
    mpsc::channel(QUEUED)
}

/// What the loop does on `SIGHUP` or a config change: the daemon's [`super::reload::Reloader`],
/// or a fake in tests.
pub trait Reload {
    /// Reload now; `cause` says why, for the log.
    fn reload(&mut self, cause: &str) -> impl Future<Output = ()>;
}

/// Queue the start-up run, then take events until [`Event::Stop`] (or the end of the
/// stream). The caller then gives the stop, after marking the daemon as stopping.
pub async fn serve(events: &mut Events, triggers: &Triggers, reloader: &mut impl Reload) {
    triggers.send(Trigger::Startup);
    while let Some(event) = events.recv().await {
        match event {
            Event::ReconcileNow => {
                let sent = triggers.send(Trigger::Signal);
                tracing::info!(coalesced = sent == Sent::Coalesced, "SIGUSR1: reconcile requested");
            }
            Event::Tick => {
                if triggers.send(Trigger::Schedule) == Sent::Coalesced {
                    tracing::debug!("schedule fired while a run was queued; coalesced");
                }
            }
            Event::Reload => reloader.reload("SIGHUP").await,
            Event::ConfigChanged => reloader.reload("the config file changed").await,
            Event::SecretChanged => reloader.reload("a secret file changed").await,
            Event::Stop => break,
        }
    }
}
