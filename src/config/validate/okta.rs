//! `source.okta`: the Okta org's address, how rosterd signs in (an API token, or the service
//! app with `auth: oauth`), paging and the contract's [inferred] choices, every problem under
//! its key path.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::super::raw::RawIncremental;
use super::super::secret::SecretRef;
use super::super::SourceConfig;
use super::{tls, Validator};
use crate::limits;
use crate::platform::connection::Connection;
use crate::source::okta::settings::{OktaAuth, OktaSettings, ServiceApp};

const AT: &str = "source.okta";

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
    scopes: Option<Vec<String>>,
    page_size: Option<u32>,
    max_pages: Option<u32>,
    timeout_seconds: Option<u64>,
    tls_insecure_skip_verify: Option<bool>,
    ca_file: Option<PathBuf>,
    allow_insecure_http: Option<bool>,
    active_statuses: Option<Vec<String>>,
    deprovisioned: Option<bool>,
    slow_down_below_percent: Option<f64>,
    concurrency: Option<usize>,
    incremental: Option<RawIncremental>,
}

impl Validator {
    /// `source.okta`, when it is the source.
    pub(super) fn okta(&mut self, value: &Value) -> Option<SourceConfig> {
        let raw: RawOkta = self.section(value, AT)?;
        let url = self.url(&raw.url, "source.okta.url");
        let connection = url.map(|u| {
            let mut c = Connection {
                timeout: Duration::from_secs(raw.timeout_seconds.unwrap_or(30)),
                tls: tls(raw.tls_insecure_skip_verify),
                ..Connection::new(u).unpaced()
            };
            self.transport(&mut c, raw.ca_file.as_ref(), raw.allow_insecure_http, AT, "url");
            c
        });
        self.span("source.okta.timeout_seconds", limits::TIMEOUT_SECONDS, raw.timeout_seconds);
        self.span("source.okta.max_pages", limits::MAX_PAGES, raw.max_pages.map(u64::from));
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
            match (0.0..=100.0).contains(&percent) {
                true => settings.slow_down_below = percent / 100.0,
                false => {
                    self.problem("source.okta.slow_down_below_percent", format!("{percent} is not between 0 and 100"))
                }
            }
        }
        if let Some(n) = raw.concurrency {
            match (1..=75).contains(&n) {
                true => settings.concurrency = n,
                false => {
                    self.problem("source.okta.concurrency", format!("{n} is not between 1 and 75 (Okta's own limit)"))
                }
            }
        }
        settings.incremental =
            raw.incremental.as_ref().and_then(|i| self.incremental_at(AT, i, Duration::from_secs(300)));
    }

    fn okta_auth(&mut self, raw: &RawOkta) -> Option<OktaAuth> {
        let base = self.base.clone();
        match raw.auth.as_deref().unwrap_or("api_token") {
            "api_token" => {
                if raw.client_id.is_some() || raw.private_key_file.is_some() || raw.private_key_env.is_some() {
                    self.problem(
                        AT,
                        "client_id and private_key belong to auth: oauth; with an API token leave them out",
                    );
                }
                let r = SecretRef::from_pair(
                    "token",
                    raw.token_env.as_ref(),
                    raw.token_file.as_ref(),
                    raw.token.is_some(),
                    &base,
                );
                self.secret(r, "source.okta.token").map(OktaAuth::ApiToken)
            }
            "oauth" => {
                if raw.token_env.is_some() || raw.token_file.is_some() {
                    self.problem(AT, "auth: oauth signs in as a service app: leave token_file/token_env out");
                }
                let Some(client_id) = raw.client_id.clone().filter(|c| !c.trim().is_empty()) else {
                    self.problem("source.okta.client_id", "missing: the service app's client id (auth: oauth)");
                    return None;
                };
                let r = SecretRef::from_pair(
                    "private_key",
                    raw.private_key_env.as_ref(),
                    raw.private_key_file.as_ref(),
                    raw.private_key.is_some(),
                    &base,
                );
                let private_key = self.secret(r, "source.okta.private_key")?;
                let scopes = raw.scopes.clone().unwrap_or_else(ServiceApp::default_scopes);
                Some(OktaAuth::ServiceApp(ServiceApp { client_id, private_key, key_id: raw.key_id.clone(), scopes }))
            }
            other => {
                self.problem("source.okta.auth", format!("{other:?} is not one of api_token, oauth"));
                None
            }
        }
    }
}
