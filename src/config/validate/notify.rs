//! `notify:` validated, every problem under its key path (`notify.webhooks[1].url`).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_yaml::Value;
use url::Url;

use super::super::notify::{NotifyConfig, WebhookConfig, WebhookFormat};
use super::Validator;
use crate::limits;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    #[serde(default)]
    webhooks: Vec<RawWebhook>,
    source_failures: Option<u64>,
    stale_after_seconds: Option<u64>,
    attempts: Option<u64>,
    backoff_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    /// A URL that is not a secret; a Slack webhook URL is one: use `url_file` or `url_env`.
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    /// `json` (the default) or `slack`.
    format: Option<String>,
    timeout_seconds: Option<u64>,
    /// Send to a non-loopback `http://` URL anyway.
    allow_insecure_http: Option<bool>,
}

const SOURCE_FAILURES: limits::Span = limits::Span { min: 1, max: 10_000, unit: "runs" };
const STALE_AFTER_SECONDS: limits::Span = limits::Span { min: 60, max: 366 * 86_400, unit: "seconds" };
const ATTEMPTS: limits::Span = limits::Span { min: 1, max: 20, unit: "attempts" };
const BACKOFF_MS: limits::Span = limits::Span { min: 1, max: 600_000, unit: "milliseconds" };

impl Validator {
    /// The `notify:` section; its defaults (no webhooks) when absent or wrong.
    pub(super) fn notify(&mut self, value: Option<&Value>) -> NotifyConfig {
        let raw: RawNotify = value.and_then(|v| self.section(v, "notify")).unwrap_or_default();
        self.span("notify.source_failures", SOURCE_FAILURES, raw.source_failures);
        self.span("notify.stale_after_seconds", STALE_AFTER_SECONDS, raw.stale_after_seconds);
        self.span("notify.attempts", ATTEMPTS, raw.attempts);
        self.span("notify.backoff_ms", BACKOFF_MS, raw.backoff_ms);
        self.span_each_timeout(&raw.webhooks);
        let defaults = NotifyConfig::default();
        let webhooks = raw.webhooks.iter().enumerate().filter_map(|(i, w)| self.webhook(i, w)).collect();
        NotifyConfig {
            webhooks,
            source_failures: raw.source_failures.map_or(defaults.source_failures, |n| n.min(10_000) as u32),
            stale_after: raw.stale_after_seconds.map(|s| Duration::from_secs(s.min(STALE_AFTER_SECONDS.max))),
            attempts: raw.attempts.map_or(defaults.attempts, |n| n.clamp(1, 20) as u32),
            backoff: raw.backoff_ms.map_or(defaults.backoff, |ms| Duration::from_millis(ms.min(BACKOFF_MS.max))),
        }
    }

    fn span_each_timeout(&mut self, webhooks: &[RawWebhook]) {
        for (i, w) in webhooks.iter().enumerate() {
            self.span(&format!("notify.webhooks[{i}].timeout_seconds"), limits::TIMEOUT_SECONDS, w.timeout_seconds);
        }
    }

    fn webhook(&mut self, i: usize, w: &RawWebhook) -> Option<WebhookConfig> {
        let key = format!("notify.webhooks[{i}]");
        let format = match w.format.as_deref() {
            None | Some("json") => WebhookFormat::Json,
            Some("slack") => WebhookFormat::Slack,
            Some(other) => {
                self.problem(format!("{key}.format"), format!("unknown format {other:?} (known: json, slack)"));
                return None;
            }
        };
        let url = match (&w.url, w.url_env.is_some() || w.url_file.is_some()) {
            (Some(_), true) => {
                self.problem(&key, "set one of url, url_env and url_file");
                return None;
            }
            (Some(url), false) => SecretString::from(url.clone()),
            (None, _) => {
                self.secret_of("url", (w.url_env.as_ref(), w.url_file.as_ref(), false), &format!("{key}.url"))?
            }
        };
        self.check_url(&key, &url, w.allow_insecure_http.unwrap_or(false))?;
        let timeout = Duration::from_secs(w.timeout_seconds.unwrap_or(10).clamp(1, limits::TIMEOUT_SECONDS.max));
        Some(WebhookConfig { key, url, format, timeout })
    }

    /// An http(s) URL; cleartext only to loopback unless allowed in so many words. The
    /// message never repeats the URL (it may be a secret).
    fn check_url(&mut self, key: &str, url: &SecretString, allow_insecure_http: bool) -> Option<()> {
        use secrecy::ExposeSecret;
        let Ok(parsed) = Url::parse(url.expose_secret()) else {
            self.problem(format!("{key}.url"), "not a URL (e.g. https://hooks.example.com/rosterd)");
            return None;
        };
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match parsed.scheme() {
            "https" => Some(()),
            "http" if loopback || allow_insecure_http => Some(()),
            "http" => {
                self.problem(
                    format!("{key}.url"),
                    "http:// off loopback sends the notification in clear: use https://, or set allow_insecure_http: true",
                );
                None
            }
            _ => {
                self.problem(format!("{key}.url"), "the URL must start with https:// (or http:// on loopback)");
                None
            }
        }
    }
}
