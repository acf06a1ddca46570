//! The Graph client of the Entra ID source: client-credential tokens (cached, renewed early
//! and after a 401), authorized GETs with Graph's retry signals, and listings followed by
//! `@odata.nextLink` until a page has none.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::settings::EntraSettings;
use super::wire::{self, parse_page};
use crate::platform::http::PlatformHttp;
use crate::platform::PlatformError;
use crate::source::provider::ProviderError;
use crate::source::token::{IssuedToken, TokenCache};
use crate::source::SourceError;

/// What to do when the app is refused, said with every such error.
const REFUSED: &str = "check source.entra.tenant, client_id and the client secret (it may have expired), and that the app has the application permissions User.Read.All and GroupMember.Read.All with admin consent";

/// One listing read to its end (or as far as it went).
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub pages: u32,
    /// The first reason the listing is not whole.
    pub problem: Option<String>,
    /// The delta link of a delta round read to its end.
    pub delta_link: Option<String>,
}

/// The Graph client: one per source.
#[derive(Debug)]
pub(super) struct Graph {
    http: PlatformHttp,
    token: TokenCache,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    base: Url,
    max_pages: u32,
    /// Graph calls made (token requests not counted), for the benches.
    calls: AtomicUsize,
}

impl Graph {
    pub fn new(settings: &EntraSettings) -> Result<Graph, SourceError> {
        let http = PlatformHttp::new("entra source", &settings.graph)
            .map_err(|e| SourceError::Settings { message: e.to_string() })?;
        let mut http = http.scrubbing(settings.client_secret.clone());
        http.retry = settings.retry.clone();
        Ok(Graph {
            http,
            token: TokenCache::with_margin(settings.token_margin),
            token_url: settings.token_url(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            base: settings.graph.base_url.clone(),
            max_pages: settings.max_pages,
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// `{base}/{path}?{query}`.
    pub fn url(&self, path: &str, query: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/'));
        }
        url.set_query((!query.is_empty()).then_some(query));
        url
    }

    /// The client-credentials grant: a token for `https://graph.microsoft.com/.default`.
    async fn fetch_token(&self) -> Result<IssuedToken, SourceError> {
        let at = "Entra ID token endpoint";
        let form = [
            ("client_id", self.client_id.as_str()),
            ("scope", EntraSettings::SCOPE),
            ("grant_type", "client_credentials"),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let answer = self
            .http
            .send("token", || self.http.client.post(self.token_url.clone()).form(&form))
            .await
            .map_err(|e| transport(at, &self.http, e))?;
        let status = answer.status.as_u16();
        if !answer.status.is_success() {
            let detail = self.http.redact(&wire::error_detail(&answer.body));
            return Err(ProviderError::refused(at, status, &detail, REFUSED).into());
        }
        let parsed: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let token = parsed.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
        let Some(token) = token else {
            let detail = "the answer has no access_token".to_string();
            return Err(SourceError::Malformed { at: at.into(), detail });
        };
        let expires_in = parsed.get("expires_in").and_then(Value::as_u64).unwrap_or(3599);
        Ok(IssuedToken { access_token: token.to_string().into(), expires_in: Duration::from_secs(expires_in) })
    }

    /// Graph sends `x-ms-throttle-limit-percentage` (0.8 to 1.8) once the app has used 80 % of
    /// its budget: halve the pace before Graph starts refusing ([inferred] by the contract).
    fn ease_off_if_asked(&self, at: &str, headers: &reqwest::header::HeaderMap) {
        let used =
            headers.get("x-ms-throttle-limit-percentage").and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok());
        if let Some(used) = used.filter(|u| *u >= 0.8) {
            if let Some(pace) = self.http.pacer.ease_off() {
                tracing::info!(
                    at,
                    used,
                    pace,
                    "Graph says most of its throttling budget is used: rosterd halves its pace"
                );
            }
        }
    }

    /// The pace of Graph requests now (requests a second; 0: unpaced), for tests.
    #[cfg(test)]
    pub fn pace(&self) -> f64 {
        self.http.pacer.pace()
    }

    /// One authorized GET; the body of a 2xx. A 401 drops the token and tries once more
    /// with a fresh one ("renew once, then fail").
    pub async fn get(&self, at: &str, url: &Url, eventual: bool) -> Result<bytes::Bytes, SourceError> {
        for renewed in [false, true] {
            let token = self.token.get(|| self.fetch_token()).await?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let build = || {
                let request = self.http.client.get(url.clone()).header(ACCEPT, "application/json");
                let request = if eventual { request.header("ConsistencyLevel", "eventual") } else { request };
                request.bearer_auth(token.expose_secret())
            };
            let answer = self.http.send(at, build).await.map_err(|e| transport(at, &self.http, e))?;
            self.ease_off_if_asked(at, &answer.headers);
            let status = answer.status.as_u16();
            if answer.status.is_success() {
                return Ok(answer.body);
            }
            let detail = self.http.redact(&wire::error_detail(&answer.body));
            match status {
                401 if !renewed => {
                    tracing::info!(at, "Graph refused the access token: renewing it and reading the page again");
                    self.token.invalidate().await;
                }
                401 | 403 => return Err(ProviderError::refused(at, status, &detail, REFUSED).into()),
                _ => return Err(SourceError::Status { at: at.into(), status, detail }),
            }
        }
        Err(ProviderError::refused(at, 401, "token refused twice", REFUSED).into())
    }

    /// Read a listing from `first`, page by page, handing each object to `take`. Err only
    /// when the first page fails: a later failure ends the listing with a problem.
    pub async fn list(
        &self,
        what: &str,
        first: Url,
        mut take: impl FnMut(Map<String, Value>) -> Result<(), String>,
    ) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        let mut seen_links = HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if listing.pages >= self.max_pages {
                let max = self.max_pages;
                listing.problem = Some(format!("{what}: stopped after max_pages={max} pages; raise max_pages"));
                break;
            }
            listing.pages += 1;
            let at = format!("{what} page {}", listing.pages);
            let page = match self.get(&at, &url, false).await.and_then(|body| {
                parse_page(&body).map_err(|e| SourceError::Malformed { at: at.clone(), detail: e.to_string() })
            }) {
                Ok(page) => page,
                Err(e) if listing.pages == 1 => return Err(e),
                Err(e) => {
                    listing.problem = Some(e.to_string());
                    break;
                }
            };
            for object in page.value {
                if let Err(problem) = take(object) {
                    listing.problem.get_or_insert(format!("{at}: {problem}"));
                }
            }
            listing.delta_link = page.delta_link;
            next = match page.next_link.map(|link| self.follow(&link)) {
                None => None,
                Some(Err(problem)) => {
                    listing.problem.get_or_insert(format!("{at}: {problem}"));
                    None
                }
                Some(Ok(link)) if !seen_links.insert(link.to_string()) => {
                    listing.problem.get_or_insert(format!("{at}: @odata.nextLink repeated an earlier page"));
                    None
                }
                Some(Ok(link)) => Some(link),
            };
        }
        Ok(listing)
    }

    /// A `@odata.nextLink` (or a stored delta link) as given, if it points into Graph:
    /// the access token must never travel to another host.
    pub fn follow(&self, link: &str) -> Result<Url, String> {
        match Url::parse(link) {
            Ok(url) if url.origin() == self.base.origin() => Ok(url),
            Ok(_) => Err("@odata.nextLink points away from graph_url: not followed".into()),
            Err(e) => Err(format!("@odata.nextLink is not a URL ({e})")),
        }
    }
}

fn transport(at: &str, http: &PlatformHttp, e: PlatformError) -> SourceError {
    let detail = match e {
        PlatformError::Transport { detail, .. } => detail,
        other => other.to_string(),
    };
    SourceError::Transport { at: at.into(), detail: http.redact(&detail) }
}
