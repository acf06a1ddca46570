//! systemd's notify protocol (`Type=notify`): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
//! Without `$NOTIFY_SOCKET` every call is a no-op, so the daemon runs the same elsewhere.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        // The service manager went away or the socket is wrong: nothing to do but say so.
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Start-up (or a reload) is complete.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The one-line status `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A reload starts; systemd 253+ wants the monotonic time with it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A graceful stop starts.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Ping the watchdog at half of `$WATCHDOG_USEC`, when systemd asked for one, while `alive`
/// says so: a worker stuck beyond `readiness.stuck_after_seconds` gets no pings, so systemd
/// restarts the service. The pings go on through a graceful stop (it may take
/// `shutdown_grace_seconds`) and end with the process.
pub fn spawn_watchdog(alive: impl Fn() -> Result<(), String> + Send + 'static) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()? / 2;
    let period = period.max(Duration::from_millis(10));
    tracing::info!(every_ms = period.as_millis() as u64, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut was_alive = true;
        loop {
            tick.tick().await;
            let now = alive();
            match &now {
                Ok(()) => send(&[NotifyState::Watchdog]),
                Err(why) if was_alive => {
                    tracing::error!(error = %why, "stuck: watchdog pings stop, so the service manager restarts rosterd");
                    status(&format!("stuck: {why}"));
                }
                Err(_) => {}
            }
            was_alive = now.is_ok();
        }
    }))
}
