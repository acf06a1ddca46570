//! `source.okta`: the Okta org's address, how rosterd signs in (an API token, or the service
//! app with `auth: oauth`), paging and the contract's [inferred] choices, every problem under
//! its key path.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_yaml::Value;

use super::super::raw::RawIncremental;
use super::super::SourceConfig;
use super::{Given, SourceTransport, Validator};
use crate::limits;
use crate::source::okta::settings::{OktaAuth, OktaSettings, ServiceApp};

const AT: &str = "source.okta";
/// `source.okta.slow_down_below_percent`.
const SLOW_DOWN_PERCENT: limits::Span = limits::Span::new(0, 100, "percent");
/// `source.okta.concurrency`: Okta refuses more than 75 in flight per org.
const OKTA_CONCURRENCY: limits::Span = limits::Span::new(1, 75, "requests in flight");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOkta {
    url: String,
    /// `api_token` (the default) or `oauth` (a service app).
    auth: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    token: Option<Value>,
    client_id: Option<String>,
    private_key_env: Option<String>,
    private_key_file: Option<PathBuf>,
    private_key: Option<Value>,
    key_id: Option<String>,
    page_size: Option<u32>,
    max_pages: Option<u32>,
    timeout_seconds: Option<u64>,
    tls_insecure_skip_verify: Option<bool>,
    ca_file: Option<PathBuf>,
    allow_insecure_http: Option<bool>,
    active_statuses: Option<Vec<String>>,
    deprovisioned: Option<bool>,
    slow_down_below_percent: Option<u64>,
    concurrency: Option<u64>,
    incremental: Option<RawIncremental>,
}

impl Validator {
    /// `source.okta`, when it is the source.
    pub(super) fn okta(&mut self, value: &Value) -> Option<SourceConfig> {
        let raw: RawOkta = self.section(value, AT)?;
        let transport = SourceTransport {
            url: &raw.url,
            timeout_seconds: raw.timeout_seconds,
            insecure: raw.tls_insecure_skip_verify,
            ca_file: raw.ca_file.as_ref(),
            allow_insecure_http: raw.allow_insecure_http,
        };
        let connection = self.source_connection(AT, &transport);
        self.span("source.okta.timeout_seconds", limits::TIMEOUT_SECONDS, raw.timeout_seconds);
        self.span("source.okta.max_pages", limits::MAX_PAGES, raw.max_pages.map(u64::from));
        self.span("source.okta.slow_down_below_percent", SLOW_DOWN_PERCENT, raw.slow_down_below_percent);
        self.span("source.okta.concurrency", OKTA_CONCURRENCY, raw.concurrency);
        let auth = self.okta_auth(&raw);
        let mut settings = OktaSettings::new(connection?, auth?);
        self.okta_tuning(&raw, &mut settings);
        if let Some((key, problem)) = settings.problem() {
            self.problem(format!("{AT}.{key}"), problem);
        }
        Some(SourceConfig::Okta(settings))
    }

    fn okta_tuning(&mut self, raw: &RawOkta, settings: &mut OktaSettings) {
        settings.page_size = raw.page_size.unwrap_or(OktaSettings::MAX_PAGE_SIZE);
        settings.max_pages = raw.max_pages.unwrap_or(OktaSettings::DEFAULT_MAX_PAGES);
        if let Some(statuses) = &raw.active_statuses {
            settings.active_statuses = statuses.iter().map(|s| s.trim().to_uppercase()).collect();
        }
        settings.read_deprovisioned = raw.deprovisioned.unwrap_or(true);
        if let Some(percent) = raw.slow_down_below_percent {
            settings.slow_down_below = percent.min(100) as f64 / 100.0;
        }
        settings.concurrency = raw.concurrency.map_or(settings.concurrency, |n| n.clamp(1, 75) as usize);
        settings.incremental =
            raw.incremental.as_ref().and_then(|i| self.incremental_at(AT, i, Duration::from_secs(300)));
    }

    /// The secret `source.okta.{name}`, from its `_env` or `_file` key (inline is refused).
    fn okta_secret(&mut self, name: &str, given: Given<'_>) -> Option<SecretString> {
        self.secret_of(name, given, &format!("{AT}.{name}"))
    }

    fn okta_auth(&mut self, raw: &RawOkta) -> Option<OktaAuth> {
        match raw.auth.as_deref().unwrap_or("api_token") {
            "api_token" => {
                if raw.client_id.is_some() || raw.private_key_file.is_some() || raw.private_key_env.is_some() {
                    self.problem(
                        AT,
                        "client_id and private_key belong to auth: oauth; with an API token leave them out",
                    );
                }
                let given = (raw.token_env.as_ref(), raw.token_file.as_ref(), raw.token.is_some());
                self.okta_secret("token", given).map(OktaAuth::ApiToken)
            }
            "oauth" => {
                if raw.token_env.is_some() || raw.token_file.is_some() {
                    self.problem(AT, "auth: oauth signs in as a service app: leave token_file/token_env out");
                }
                let Some(client_id) = raw.client_id.clone().filter(|c| !c.trim().is_empty()) else {
                    self.problem("source.okta.client_id", "missing: the service app's client id (auth: oauth)");
                    return None;
                };
                let given = (raw.private_key_env.as_ref(), raw.private_key_file.as_ref(), raw.private_key.is_some());
                let private_key = self.okta_secret("private_key", given)?;
                Some(OktaAuth::ServiceApp(ServiceApp { client_id, private_key, key_id: raw.key_id.clone() }))
            }
            other => {
                self.problem("source.okta.auth", format!("{other:?} is not one of api_token, oauth"));
                None
            }
        }
    }
}
