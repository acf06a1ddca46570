//! The one stop signal every daemon task listens for.
//!
//! A `watch` channel rather than a broadcast: a task that starts listening after the stop
//! was given still sees it, so no task can miss it.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable stop flag that tasks can `.await`.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown { tx: Arc::new(watch::channel(false).0) }
    }

    /// Give the stop; every waiter wakes up.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the stop is given (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_late_waiter_still_sees_the_stop() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        s.clone().trigger();
        tokio::time::timeout(std::time::Duration::from_secs(1), s.wait()).await.unwrap();
        assert!(s.is_triggered());
    }
}
