//! Webhook delivery: one POST per notification and webhook, retried with exponential
//! backoff on a transport error, a 429 or a 5xx; counted; logged by key path, never by URL.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::metrics::count;
use super::Notification;
use crate::config::notify::{NotifyConfig, WebhookConfig};

/// Why no HTTP client could be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the notification HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Posts notifications.
pub struct Sender {
    client: reqwest::Client,
    attempts: u32,
    backoff: Duration,
}

impl Sender {
    pub fn new(config: &NotifyConfig) -> Result<Sender, ClientError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rosterd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { client, attempts: config.attempts.max(1), backoff: config.backoff })
    }

    /// Deliver one notification to one webhook; whether it was accepted (2xx).
    pub async fn deliver(&self, hook: &WebhookConfig, notification: &Notification) -> bool {
        let body = notification.body(hook.format);
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            let sent = self.client.post(hook.url.expose_secret()).timeout(hook.timeout).json(&body).send().await;
            let retry = match sent {
                Ok(r) if r.status().is_success() => {
                    count("delivered");
                    tracing::info!(webhook = %hook.key, kind = ?notification.kind, "notification delivered");
                    return true;
                }
                Ok(r) => {
                    let status = r.status();
                    let transient = status.as_u16() == 429 || status.is_server_error();
                    tracing::warn!(webhook = %hook.key, status = status.as_u16(), attempt, "notification refused");
                    transient
                }
                // Without the URL: reqwest's message would carry it, and it may be a secret.
                Err(e) => {
                    let what = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "no connection"
                    } else {
                        "failed"
                    };
                    tracing::warn!(webhook = %hook.key, attempt, "notification not delivered: {what}");
                    true
                }
            };
            if !retry || attempt == self.attempts {
                break;
            }
            count("retried");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
        count("failed");
        tracing::error!(webhook = %hook.key, kind = ?notification.kind, "notification not delivered; check the webhook (notify.webhooks) and the network");
        false
    }
}
