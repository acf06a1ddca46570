//! `notify:` as validated: the webhooks told when a person must look (held removals,
//! quarantined records, a failing platform or source, no run completed for too long).

use std::time::Duration;

use secrecy::SecretString;

/// No webhooks: nothing is told. The rest are what `notify:` defaults to.
impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            source_failures: 3,
            stale_after: None,
            attempts: 4,
            backoff: Duration::from_secs(2),
        }
    }
}

/// The notifications section. No webhooks (the default) means no notifications.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// Tell when the source has failed this many runs in a row.
    pub source_failures: u32,
    /// Tell when no run has completed for this long (off when `None`).
    pub stale_after: Option<Duration>,
    /// Delivery attempts per notification (the first included).
    pub attempts: u32,
    /// The wait before the first retry; doubled for each one after.
    pub backoff: Duration,
}

/// One webhook. Its URL is held as a secret (a Slack incoming-webhook URL is one).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Its key path (`notify.webhooks[0]`), for logs and errors instead of the URL.
    pub key: String,
    pub url: SecretString,
    pub format: WebhookFormat,
    pub timeout: Duration,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// A JSON object: `kind`, `text`, `run_id`, `approve_command`, `details`.
    Json,
    /// Slack-compatible (also Mattermost, Rocket.Chat, Teams' Slack connector): `{"text": ...}`.
    Slack,
}
