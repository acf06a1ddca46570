//! The SCIM 2.0 identity source: pages `GET /Users` (and `GET /Groups`) into a roster that says whether it is complete.
//!
//! The read follows `platforms/scim.md`: page by `startIndex` until the held resources reach
//! `totalResults`, advancing by what each page actually held (servers may return fewer than
//! `count`), stop on an empty page, cap the pages. The roster is complete only when every page
//! was read, the unique ids held equal `totalResults`, and no id repeated. A page that fails
//! after the first one ends the read there: the people of the earlier pages are kept in an
//! incomplete roster (the pages after it are not read, because where they start is no longer
//! known once a page is missing). Only a failing *first* page is an error.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::header::ACCEPT;
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::platform::scim::wire::{self, ErrorBodies, ACCEPTED};

use super::snapshot::SnapshotStore;
use super::{Source, SourceError};
use crate::model::{Person, Roster};
use crate::platform::connection::Connection;
use crate::platform::http::{PlatformHttp, RetryPolicy};
use crate::platform::redact::Redactor;
use crate::platform::PlatformError;
use resources::{assign_groups, parse_page, ListedUser};
/// Nested groups resolved to their users, for every source that lists groups with members.
pub(crate) use resources::{assign_groups as assign_listed_groups, person_of_resource, ListedGroup};
pub use resources::{parse_users_page, PageError, ResourceError, UsersPage};

/// The name `PlatformHttp` uses in its own messages.
const PLATFORM: &str = "scim source";

/// How rosterd proves itself to the SCIM source. Secrets never show in `Debug`.
#[derive(Debug, Clone)]
pub enum ScimAuth {
    Bearer(SecretString),
    Basic { username: String, password: SecretString },
}

/// Where group memberships come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupsFrom {
    /// `User.groups` when any user carries it, else `GET /Groups`.
    #[default]
    Auto,
    /// Only `User.groups`.
    User,
    /// Only `GET /Groups` (`members[].value`), for servers that do not fill `User.groups`.
    GroupsEndpoint,
}

/// Everything the SCIM source needs; build with [`ScimSettings::new`] and adjust.
#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// The SCIM base (`connection.base_url`, e.g. `https://idp.example.com/scim/v2`, no
    /// credentials, no query), its time-out and TLS setting; a source read is never paced.
    pub connection: Connection,
    pub auth: ScimAuth,
    /// The `count` asked for; servers may cap it, which the paging copes with.
    pub page_size: u32,
    /// A bound on pages per listing, so a server that never ends cannot hold a run forever.
    pub max_pages: u32,
    pub groups: GroupsFrom,
    /// A SCIM filter sent with `GET /Users`: such a read is never a complete roster.
    pub filter: Option<String>,
    pub retry: RetryPolicy,
    /// Incremental reads (`source.scim.incremental`); `None` reads every user every run.
    pub incremental: Option<IncrementalSettings>,
}

/// Defined below both the config, which reads it, and this source, which follows it.
pub use crate::records::incremental::IncrementalSettings;

impl ScimSettings {
    pub const DEFAULT_PAGE_SIZE: u32 = 200;
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;

    /// Settings with the defaults: 200 per page, 10 000 pages, groups `Auto`, 30 s time-out.
    pub fn new(connection: impl Into<Connection>, auth: ScimAuth) -> Self {
        ScimSettings {
            connection: connection.into().unpaced(),
            auth,
            page_size: Self::DEFAULT_PAGE_SIZE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            groups: GroupsFrom::Auto,
            filter: None,
            retry: RetryPolicy::default(),
            incremental: None,
        }
    }

    /// Refuse settings that cannot work, without echoing the url (it might hold a password).
    fn validate(&self) -> Result<(), SourceError> {
        let url = &self.connection.base_url;
        let problem = if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            "base_url must be an http:// or https:// URL"
        } else if !url.username().is_empty() || url.password().is_some() {
            "base_url must not carry credentials: give them as the token (or user name and password)"
        } else if url.query().is_some() || url.fragment().is_some() {
            "base_url must not have a query string or a fragment"
        } else if self.page_size == 0 || self.max_pages == 0 {
            "page_size and max_pages must be at least 1"
        } else if self.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
            "filter is empty: leave it out for a full read"
        } else if self.incremental.as_ref().is_some_and(|i| i.full_read_every == 0) {
            "incremental.full_read_every must be at least 1 (1 = every read is a full one)"
        } else if self.incremental.is_some() && self.filter.is_some() {
            "incremental reads cannot be combined with a filter: a user who stops matching it would never be re-read"
        } else {
            return Ok(());
        };
        Err(SourceError::Settings { message: format!("SCIM source: {problem}") })
    }
}

/// The SCIM 2.0 identity source.
#[derive(Debug)]
pub struct ScimSource {
    settings: ScimSettings,
    http: PlatformHttp,
    /// Why incremental reads are off for this source (logged once, when first found).
    incremental_off: Mutex<Option<String>>,
}

#[async_trait]
impl Source for ScimSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        Ok(self.read_full().await?.0)
    }

    async fn read_with(&self, memory: &dyn SnapshotStore) -> Result<Roster, SourceError> {
        match &self.settings.incremental {
            Some(policy) => self.read_incrementally(policy, memory).await,
            None => self.read().await,
        }
    }

    async fn read_person(&self, query: &super::person::PersonQuery) -> Result<Roster, SourceError> {
        self.read_one(query).await
    }

    fn describe(&self) -> String {
        let base = self.settings.connection.base_url.as_str().trim_end_matches('/');
        match &self.settings.filter {
            Some(filter) => format!("SCIM {base} (filter: {filter})"),
            None => format!("SCIM {base}"),
        }
    }
}

impl ScimSource {
    /// Read every user (and `/Groups` when memberships come from there); also says whether
    /// memberships came from `/Groups`.
    async fn read_full(&self) -> Result<(Roster, bool), SourceError> {
        let users = self.list::<ListedUser>(Kind::Users, self.settings.filter.as_deref()).await?;
        let mut problems: Vec<String> = Vec::new();
        if self.settings.filter.is_some() {
            problems.push("filtered read".into());
        }
        problems.extend(users.problem);
        let carried = users.items.iter().any(|u| u.carries_groups);
        let mut people: Vec<Person> = users.items.into_iter().map(|u| u.person).collect();
        let from_endpoint = self.groups_from_endpoint(carried);
        if from_endpoint {
            self.fill_groups(&mut people).await?;
        }
        if problems.is_empty() {
            return Ok((Roster::complete(people), from_endpoint));
        }
        Ok((Roster::incomplete(people, problems.join("; ")), from_endpoint))
    }

    /// One person by a filtered read (`userName eq` / `id eq`, and the configured filter);
    /// a person the filter misses (found by e-mail or external id) is looked for in a full
    /// read. Groups come from where a full read takes them.
    async fn read_one(&self, query: &super::person::PersonQuery) -> Result<Roster, SourceError> {
        let filter = match &self.settings.filter {
            Some(configured) => format!("({configured}) and {}", query.scim_filter()),
            None => query.scim_filter(),
        };
        let users = match self.list::<ListedUser>(Kind::Users, Some(&filter)).await {
            Ok(users) => users,
            // A server that does not filter on this attribute says 400 (invalidFilter).
            Err(SourceError::Status { status: 400, .. }) => return Ok(query.pick(self.read_full().await?.0)),
            Err(e) => return Err(e),
        };
        let carried = users.items.iter().any(|u| u.carries_groups);
        let mut people: Vec<Person> = users.items.into_iter().map(|u| u.person).filter(|p| query.matches(p)).collect();
        if people.is_empty() {
            return Ok(query.pick(self.read_full().await?.0));
        }
        if self.groups_from_endpoint(carried) {
            self.fill_groups(&mut people).await?;
        }
        let mut problems: Vec<String> = users.problem.into_iter().collect();
        if self.settings.filter.is_some() {
            problems.push("filtered read".into());
        }
        Ok(match problems.is_empty() {
            true => Roster::complete(people),
            false => Roster::incomplete(people, problems.join("; ")),
        })
    }

    pub fn new(settings: ScimSettings) -> Result<Self, SourceError> {
        settings.validate()?;
        let http = PlatformHttp::new(PLATFORM, &settings.connection)
            .map_err(|e| SourceError::Settings { message: e.to_string() })?;
        let mut http = match &settings.auth {
            ScimAuth::Bearer(token) => http.scrubbing(token.clone()),
            ScimAuth::Basic { username, password } => http.scrubbing_basic(username, password),
        };
        http.retry = settings.retry.clone();
        Ok(ScimSource { settings, http, incremental_off: Mutex::new(None) })
    }

    /// The settings this source was built with.
    pub fn settings(&self) -> &ScimSettings {
        &self.settings
    }

    fn groups_from_endpoint(&self, users_carry_groups: bool) -> bool {
        match self.settings.groups {
            GroupsFrom::Auto => !users_carry_groups,
            GroupsFrom::User => false,
            GroupsFrom::GroupsEndpoint => true,
        }
    }

    /// Fill each person's groups from `GET /Groups`. Membership decides scope *and* roles:
    /// acting on people whose groups are unknown could create an account with the wrong
    /// role or downgrade one, so a listing that fails or is short fails the whole read.
    async fn fill_groups(&self, people: &mut [Person]) -> Result<(), SourceError> {
        let listing = self
            .list::<ListedGroup>(Kind::Groups, None)
            .await
            .map_err(|e| SourceError::Groups { detail: e.to_string() })?;
        if let Some(problem) = listing.problem {
            return Err(SourceError::Groups { detail: problem });
        }
        assign_groups(people, &listing.items);
        Ok(())
    }

    /// Read every page of a listing. Err only when the first page fails: later failures end
    /// the listing with a problem, keeping what the earlier pages held.
    async fn list<T: Listed>(&self, kind: Kind, filter: Option<&str>) -> Result<Listing<T>, SourceError> {
        let mut paging = Paging::new(kind);
        for page in 1..=self.settings.max_pages {
            let start = paging.received + 1;
            let at = kind.at(page, start);
            match self.fetch_page::<T>(&at, self.page_url(kind, start, filter)).await {
                Ok(answer) => {
                    if paging.take(&at, answer) {
                        return Ok(paging.finish());
                    }
                }
                Err(e) if page == 1 => return Err(e),
                Err(e) => {
                    paging.note(e.to_string());
                    return Ok(paging.finish());
                }
            }
        }
        let max = self.settings.max_pages;
        paging.note(format!("{}: stopped after max_pages={max} pages; raise page_size or max_pages", kind.name()));
        Ok(paging.finish())
    }

    async fn fetch_page<T: Listed>(&self, at: &str, url: Url) -> Result<Page<T>, SourceError> {
        let body = self.get(at, url).await?;
        parse_page(at, &body, self.http.redactor())
            .map_err(|detail| SourceError::Malformed { at: at.to_string(), detail: self.redact(&detail.to_string()) })
    }

    /// One authorized GET; the body of a 2xx answer, else the error it means.
    async fn get(&self, at: &str, url: Url) -> Result<bytes::Bytes, SourceError> {
        let build = || self.authorize(self.http.client.get(url.clone()).header(ACCEPT, ACCEPTED));
        let answer = self
            .http
            .send(at, build)
            .await
            .map_err(|e| SourceError::Transport { at: at.to_string(), detail: self.redact(&transport_detail(e)) })?;
        if !answer.status.is_success() {
            return Err(self.status_error(at, answer.status.as_u16(), &answer.body));
        }
        Ok(answer.body)
    }

    /// `{base}/{name}`, for endpoints other than the listings.
    fn endpoint_url(&self, name: &str) -> Url {
        let mut url = self.settings.connection.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(name);
        }
        url
    }

    /// `{base}/Users?startIndex=S&count=N[&filter=F]`. The filter is percent-encoded with
    /// `%20` for spaces: `+` means a space only to form decoders, and not every server is one.
    fn page_url(&self, kind: Kind, start: u64, filter: Option<&str>) -> Url {
        let mut url = self.settings.connection.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(kind.name());
        }
        let mut query = wire::page_query(start, self.settings.page_size);
        if let Some(filter) = filter {
            query.push_str(&format!("&filter={}", wire::encode_filter(filter)));
        }
        url.set_query(Some(&query));
        url
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.settings.auth {
            ScimAuth::Bearer(token) => request.bearer_auth(token.expose_secret()),
            ScimAuth::Basic { username, password } => request.basic_auth(username, Some(password.expose_secret())),
        }
    }

    fn status_error(&self, at: &str, status: u16, body: &[u8]) -> SourceError {
        let detail = self.redact(&error_detail(body, self.http.redactor()));
        let at = at.to_string();
        match status {
            401 | 403 => SourceError::Auth { at, status, detail },
            _ => SourceError::Status { at, status, detail },
        }
    }

    /// Remove the credential from text the server sent back: a server that echoes the
    /// request (or its Authorization header) must not put the secret into our messages.
    fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }
}

/// The two listings the source reads.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Users => "Users",
            Kind::Groups => "Groups",
        }
    }

    /// Where a page is, for messages: `Users page 3 (startIndex=101)`.
    fn at(self, page: u32, start: u64) -> String {
        wire::page_label(self.name(), page, start)
    }
}

/// A resource a listing holds.
trait Listed: Sized + Send {
    /// Parse one resource whose keys are already lower-cased; Err makes the page malformed.
    fn from_scim(resource: Value) -> Result<Self, ResourceError>;
    fn id(&self) -> &str;
}

/// One page of a ListResponse.
struct Page<T> {
    total: u64,
    items: Vec<T>,
}

/// A whole listing: what it held, and why it is not complete (if it is not).
struct Listing<T> {
    items: Vec<T>,
    problem: Option<String>,
}

/// The state of a listing while its pages come in.
struct Paging<T> {
    kind: Kind,
    items: Vec<T>,
    ids: HashSet<String>,
    /// Resources received, repeats included: the next `startIndex` is this plus one.
    received: u64,
    total: Option<u64>,
    /// The first reason the listing is not complete; later ones add nothing an operator needs.
    problem: Option<String>,
}

impl<T: Listed> Paging<T> {
    fn new(kind: Kind) -> Self {
        Paging { kind, items: Vec::new(), ids: HashSet::new(), received: 0, total: None, problem: None }
    }

    /// Take one page in; true when the listing is over.
    fn take(&mut self, at: &str, page: Page<T>) -> bool {
        if let Some(before) = self.total.filter(|t| *t != page.total) {
            self.note(format!("{at}: totalResults changed from {before} to {} during the read", page.total));
        }
        self.total = Some(page.total);
        if page.items.is_empty() {
            if self.received < page.total {
                self.note(format!("{at}: empty page after {} of totalResults {}", self.received, page.total));
            }
            return true;
        }
        self.received += page.items.len() as u64;
        for item in page.items {
            self.keep(at, item);
        }
        self.received >= page.total
    }

    fn keep(&mut self, at: &str, item: T) {
        if self.ids.insert(item.id().to_string()) {
            self.items.push(item);
        } else {
            self.note(format!("{at}: id \"{}\" repeated (the listing shifted while it was read)", item.id()));
        }
    }

    fn note(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    fn finish(mut self) -> Listing<T> {
        let (held, total) = (self.items.len() as u64, self.total.unwrap_or(0));
        if held != total {
            self.note(format!("{}: held {held} of totalResults {total}", self.kind.name()));
        }
        Listing { items: self.items, problem: self.problem }
    }
}

fn transport_detail(e: PlatformError) -> String {
    match e {
        PlatformError::Transport { detail, .. } => detail,
        other => other.to_string(),
    }
}

/// The useful part of an error answer: a SCIM Error's `detail` (and `scimType`), quoted,
/// else the start of the body.
fn error_detail(body: &[u8], redactor: &Redactor) -> String {
    wire::error_detail(body, redactor, ErrorBodies::ScimOnly)
}

pub mod incremental;
mod resources;
#[cfg(test)]
mod tests;
