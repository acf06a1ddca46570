//! The Okta identity source: reads `/api/v1/users` (and the deprovisioned ones), the groups and
//! their members into a roster that says whether it is complete, as `platforms/okta.md` says.
//!
//! Paging follows `Link: rel="next"` at Okta's largest `limit` (200). Only a complete read may
//! remove access: a users page that fails after the first ends the read with an incomplete
//! roster (never a short complete one); a refusal (401, 403, other 4xx) fails the read.
//! Memberships decide scope and roles, so a group listing that fails fails the read, except a
//! group deleted during it (404), which makes the roster incomplete. Okta's own rate-limit
//! headers slow the source down before Okta refuses it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use secrecy::ExposeSecret;
use url::Url;

use crate::model::{Group, Person, Roster};
use crate::platform::http::{Answer, PlatformHttp};
use crate::platform::PlatformError;
use crate::source::provider::ProviderError;
use crate::source::snapshot::SnapshotStore;
use crate::source::token::TokenCache;
use crate::source::{Source, SourceError};
use settings::OktaAuth;
pub use settings::{OktaSettings, ServiceApp};
use wire::{Member, OktaError, OktaGroup, OktaUser, RateHeaders};

mod auth;
mod incremental;
mod listing;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod settings;
pub mod wire;

/// The name `PlatformHttp` uses in its own messages.
const PLATFORM: &str = "okta source";
/// Okta's deprovisioned users are listed only when asked for by this filter.
const DEPROVISIONED: &str = "status eq \"DEPROVISIONED\"";

/// The Okta identity source.
#[derive(Debug)]
pub struct OktaSource {
    settings: OktaSettings,
    http: PlatformHttp,
    tokens: TokenCache,
    /// Whether the slow-down near the rate limit was logged at info level already.
    slowed: AtomicBool,
}

#[async_trait]
impl Source for OktaSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        self.read_full().await
    }

    async fn read_with(&self, memory: &dyn SnapshotStore) -> Result<Roster, SourceError> {
        crate::source::incremental::read_with(self, self.settings.incremental.as_ref(), memory).await
    }

    fn describe(&self) -> String {
        format!("Okta {}", self.settings.connection.base_url.as_str().trim_end_matches('/'))
    }
}

impl OktaSource {
    pub fn new(settings: OktaSettings) -> Result<Self, SourceError> {
        if let Some((key, problem)) = settings.problem() {
            return Err(SourceError::Settings { message: format!("source.okta.{key}: {problem}") });
        }
        let http = PlatformHttp::new(PLATFORM, &settings.connection)
            .map_err(|e| SourceError::Settings { message: format!("source.okta: {e}") })?;
        let mut http = match &settings.auth {
            OktaAuth::ApiToken(token) => http.scrubbing(token.clone()),
            OktaAuth::ServiceApp(app) => http.scrubbing(app.private_key.clone()),
        };
        http.retry = settings.retry.clone();
        http.wait_hint = Some(wait_for_reset);
        Ok(OktaSource { settings, http, tokens: TokenCache::default(), slowed: AtomicBool::new(false) })
    }

    /// The settings this source was built with.
    pub fn settings(&self) -> &OktaSettings {
        &self.settings
    }

    /// Every user (the deprovisioned ones too, when asked) with their groups.
    async fn read_full(&self) -> Result<Roster, SourceError> {
        let mut problems = Vec::new();
        let users = self.list::<OktaUser>("users", self.listing("api/v1/users", None)).await?;
        problems.extend(users.problem);
        let mut listed = users.items;
        if self.settings.read_deprovisioned {
            let gone = self.list::<OktaUser>("deprovisioned users", self.listing("api/v1/users", Some(DEPROVISIONED)));
            let gone = gone.await?;
            problems.extend(gone.problem);
            listed.extend(gone.items);
        }
        let mut people = self.people(listed);
        problems.extend(self.fill_groups(&mut people).await?);
        let people: Vec<Person> = people.into_values().collect();
        match problems.is_empty() {
            true => Ok(Roster::complete(people)),
            false => Ok(Roster::incomplete(people, format!("Okta: {}", problems.join("; ")))),
        }
    }

    /// Users as people by id; a user listed twice (deprovisioned between the two listings)
    /// is kept as last listed.
    fn people(&self, users: Vec<OktaUser>) -> BTreeMap<String, Person> {
        let by_id = users.into_iter().map(|u| {
            let active = self.settings.is_active(&u.status);
            (u.id.clone(), u.into_person(active))
        });
        by_id.collect()
    }

    /// Each person's groups from the group member listings; the problems that leave the
    /// roster incomplete (a group deleted during the read). Any other failure fails the read.
    async fn fill_groups(&self, people: &mut BTreeMap<String, Person>) -> Result<Vec<String>, SourceError> {
        let groups =
            self.list::<OktaGroup>("groups", self.listing("api/v1/groups", None)).await.map_err(groups_failed)?;
        if let Some(detail) = groups.problem {
            return Err(SourceError::Groups { detail: format!("Okta {detail}") });
        }
        // The built-in Everyone holds everyone: it says nothing about scope or roles [inferred].
        let wanted: Vec<OktaGroup> = groups.items.into_iter().filter(|g| g.kind != "BUILT_IN").collect();
        let reads = futures::stream::iter(wanted.into_iter().map(|g| self.members_of(g)));
        let mut reads = reads.buffer_unordered(self.settings.concurrency.max(1));
        let (mut problems, mut unknown) = (Vec::new(), 0usize);
        let mut memberships: HashMap<String, Vec<Group>> = HashMap::new();
        while let Some((group, read)) = reads.next().await {
            let members = match read {
                Ok(members) => members,
                Err(SourceError::Provider(e)) if e.status == Some(404) => {
                    problems.push(format!("{}: group {:?} was deleted during the read", e.at, group.profile.name));
                    continue;
                }
                Err(e) => return Err(groups_failed(e)),
            };
            for member in members {
                match people.contains_key(&member.id) {
                    true => memberships.entry(member.id).or_default().push(group.as_group()),
                    false => unknown += 1,
                }
            }
        }
        if unknown > 0 {
            tracing::info!(memberships = unknown, "Okta group members that are not among the listed users: ignored");
        }
        for (id, mut groups) in memberships {
            groups.sort();
            if let Some(person) = people.get_mut(&id) {
                person.groups = groups;
            }
        }
        Ok(problems)
    }

    /// A group with the result of reading its members.
    async fn members_of(&self, group: OktaGroup) -> (OktaGroup, Result<Vec<Member>, SourceError>) {
        let members = self.members(&group).await;
        (group, members)
    }

    /// Every member of one group; a listing that stops short fails the read.
    async fn members(&self, group: &OktaGroup) -> Result<Vec<Member>, SourceError> {
        let what = format!("group {:?} members", group.profile.name);
        let path = format!("api/v1/groups/{}/users", group.id);
        let listing = self.list::<Member>(&what, self.listing(&path, None)).await?;
        match listing.problem {
            None => Ok(listing.items),
            Some(detail) => Err(SourceError::Groups { detail }),
        }
    }

    /// `{base}/{path}`.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.settings.connection.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/'));
        }
        url
    }

    /// `{base}/{path}?limit=N[&filter=F]`, the filter encoded with `%20` for spaces.
    fn listing(&self, path: &str, filter: Option<&str>) -> Url {
        let mut url = self.endpoint(path);
        let mut query = format!("limit={}", self.settings.page_size);
        if let Some(filter) = filter {
            let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            query.push_str(&format!("&filter={}", encoded.replace('+', "%20")));
        }
        url.set_query(Some(&query));
        url
    }

    /// One authorized GET: a 2xx answer, else the error it means. A service app's token
    /// refused mid-read (401) is renewed and the page asked for once more.
    async fn get(&self, at: &str, url: Url) -> Result<Answer, SourceError> {
        let mut answer = self.send_get(at, &url).await?;
        if answer.status.as_u16() == 401 && self.renew_after_refusal().await {
            tracing::info!(
                at,
                "Okta refused the access token (expired?): a new one is fetched and the page read again"
            );
            answer = self.send_get(at, &url).await?;
        }
        self.pace(&answer.headers);
        if !answer.status.is_success() {
            return Err(self.status_error(at, &answer));
        }
        Ok(answer)
    }

    async fn send_get(&self, at: &str, url: &Url) -> Result<Answer, SourceError> {
        let mut authorization = HeaderValue::from_str(self.authorization().await?.expose_secret()).map_err(|_| {
            SourceError::Settings { message: "source.okta: the token holds characters a header cannot carry".into() }
        })?;
        authorization.set_sensitive(true);
        let build = || {
            let request = self.http.client.get(url.clone()).header(ACCEPT, "application/json");
            request.header(AUTHORIZATION, authorization.clone())
        };
        self.http.send(at, build).await.map_err(|e| self.transport(at, e))
    }

    /// Near the end of the rate-limit bucket, space the requests left over the time until it
    /// refills: the org's other clients share the bucket, so rosterd slows before a 429.
    fn pace(&self, headers: &HeaderMap) {
        let Some(rate) = RateHeaders::read(headers) else { return };
        if rate.limit == 0 || (rate.remaining as f64) >= (rate.limit as f64) * self.settings.slow_down_below {
            return;
        }
        let until_reset = Duration::from_secs(rate.until_reset().max(1));
        // Requests already in flight spend from the bucket too: keep them out of the share.
        let spendable = rate.remaining.saturating_sub(self.settings.concurrency as u64);
        let gap = match spendable {
            0 => until_reset,
            n => until_reset / u32::try_from(n).unwrap_or(u32::MAX),
        };
        let (limit, remaining) = (rate.limit, rate.remaining);
        match self.slowed.swap(true, Ordering::Relaxed) {
            false => tracing::info!(
                limit,
                remaining,
                gap_ms = gap.as_millis() as u64,
                "Okta's rate limit is nearly used up: rosterd slows down until it refills"
            ),
            true => {
                tracing::debug!(limit, remaining, gap_ms = gap.as_millis() as u64, "slowing down for Okta's rate limit")
            }
        }
        self.http.pacer.pause(gap);
    }

    fn status_error(&self, at: &str, answer: &Answer) -> SourceError {
        let status = answer.status.as_u16();
        let said = OktaError::describe(&answer.body).unwrap_or_else(|| self.http.snippet(&answer.body));
        let next = match status {
            401 | 403 => {
                "credentials refused: check source.okta.token_file (an API token of a Read-only Administrator, \
                          used within the last 30 days) or, with auth: oauth, the service app and its granted scopes"
            }
            404 => "something listed this run is gone; the next run reads it again",
            429 => {
                "Okta's rate limit held after the retries; the next run will try again (give rosterd's token its own \
                    rate-limit share in Okta if this repeats)"
            }
            500.. => "Okta is failing; check https://status.okta.com, the next run will try again",
            _ => "Okta refused the request: check source.okta (url, page_size at most 200)",
        };
        idp_error(at, Some(status), format!("HTTP {status} {}", self.http.redact(&said)), next)
    }

    fn transport(&self, at: &str, e: PlatformError) -> SourceError {
        let detail = match e {
            PlatformError::Transport { detail, .. } => detail,
            other => other.to_string(),
        };
        let next = "no answer: check source.okta.url and the network; the next run will try again";
        idp_error(at, None, self.http.redact(&detail), next)
    }
}

/// Okta failed a read: where, its status (none when no answer came), what it said, and
/// what to do next in Okta's terms.
fn idp_error(at: &str, status: Option<u16>, detail: String, next: &'static str) -> SourceError {
    ProviderError::new(at, detail, next, status, "idp").into()
}

fn groups_failed(e: SourceError) -> SourceError {
    SourceError::Groups { detail: format!("Okta {e}") }
}

/// How long a refused request waits when Okta's 429 has no `Retry-After` [inferred]: until
/// the bucket's `X-Rate-Limit-Reset` (read against the answer's `Date`) plus up to a second
/// of jitter, so the clients sharing the bucket do not all come back at once.
fn wait_for_reset(headers: &HeaderMap) -> Option<Duration> {
    let rate = RateHeaders::read(headers)?;
    let jitter = Duration::from_millis(rand::random::<u64>() % 1000);
    Some(Duration::from_secs(rate.until_reset().min(60)) + jitter)
}

#[cfg(test)]
mod tests;
