//! The SCIM 2.0 identity source: pages `GET /Users` (and `GET /Groups`) into a roster that says whether it is complete.
//!
//! The read follows `platforms/scim.md`: page by `startIndex` until the held resources reach
//! `totalResults`, advancing by what each page actually held (servers may return fewer than
//! `count`), stop on an empty page, cap the pages. The roster is complete only when every page
//! was read, the unique ids held equal `totalResults`, and no id repeated. A page that fails
//! after the first one ends the read there: the people of the earlier pages are kept in an
//! incomplete roster (the pages after it are not read, because where they start is no longer
//! known once a page is missing). Only a failing *first* page is an error.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use compact_str::CompactString;
use reqwest::header::ACCEPT;
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::platform::scim::wire::{self, ErrorBodies, ListResponse, WireError, ACCEPTED};

use super::snapshot::SnapshotStore;
use super::{Source, SourceError};
use crate::model::{empty_names, Email, Extras, Group, Person, Roster};
use crate::platform::connection::Connection;
use crate::platform::http::{PlatformHttp, RetryPolicy};
use crate::platform::redact::Redactor;
use crate::platform::PlatformError;

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

/// How incremental reads run: see [`incremental`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalSettings {
    /// Every this many reads is a full one (1: every read); the reads between ask only for
    /// users changed since the last read. Hard-deleted users vanish only at a full read.
    pub full_read_every: u32,
    /// Taken off the watermark, so users written while the last read ran are read again.
    pub overlap: Duration,
}

impl IncrementalSettings {
    pub const DEFAULT_FULL_READ_EVERY: u32 = 12;
    pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(60);
}

impl Default for IncrementalSettings {
    fn default() -> Self {
        IncrementalSettings { full_read_every: Self::DEFAULT_FULL_READ_EVERY, overlap: Self::DEFAULT_OVERLAP }
    }
}

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

/// One `GET /Users` page as the source reads it: its `totalResults` and the people it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    pub total_results: u64,
    pub people: Vec<Person>,
}

/// Parse one `GET /Users` ListResponse body with exactly the checks the source applies to
/// every page; Err says why the page is malformed. Public so a fuzz target can call it.
pub fn parse_users_page(body: &[u8]) -> Result<UsersPage, PageError> {
    let page = parse_page::<ListedUser>("Users page", body, &Redactor::none())?;
    Ok(UsersPage { total_results: page.total, people: page.items.into_iter().map(|u| u.person).collect() })
}

/// Parse a ListResponse. SCIM attribute names are case-insensitive (RFC 7643 §2.1), so
/// every key is lower-cased first and the structs below use lower-case names.
/// Text quoted from the body is redacted with `redactor` before it is cut.
fn parse_page<T: Listed>(at: &str, body: &[u8], redactor: &Redactor) -> Result<Page<T>, PageError> {
    let list = ListResponse::parse(body, redactor)?;
    let total = list.total;
    let resources = list.resources_for_total()?;
    let mut items = Vec::with_capacity(resources.len());
    for (i, resource) in resources.into_iter().enumerate() {
        let item =
            T::from_scim(resource).map_err(|problem| PageError::Resource { n: i + 1, at: at.into(), problem })?;
        items.push(item);
    }
    Ok(Page { total, items })
}

/// Why a listing page is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("resource {n} of {at}: {problem}")]
    Resource { n: usize, at: String, problem: ResourceError },
}

/// Why one listed resource cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("no id")]
    NoId,
    /// `kind` is `""` for a user and `"group "` for a group, as the messages always read.
    #[error("{kind}id \"{id}\": {detail}")]
    Invalid { kind: &'static str, id: String, detail: String },
    #[error("{kind}id \"{id}\": no {attribute} (RFC 7643 makes it required)")]
    Missing { kind: &'static str, id: String, attribute: &'static str },
}

fn required_id(resource: &Value) -> Result<String, ResourceError> {
    match resource.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(ResourceError::NoId),
    }
}

/// A SCIM User as listed, with whether it carried a `groups` attribute at all.
struct ListedUser {
    person: Person,
    carries_groups: bool,
}

impl Listed for ListedUser {
    fn from_scim(resource: Value) -> Result<Self, ResourceError> {
        let id = required_id(&resource)?;
        let user = wire::User::from_lowercased(resource).map_err(|e| ResourceError::Invalid {
            kind: "",
            id: id.clone(),
            detail: e.to_string(),
        })?;
        let user_name = user.user_name.clone().filter(|u| !u.is_empty());
        let user_name = user_name.ok_or(ResourceError::Missing { kind: "", id: id.clone(), attribute: "userName" })?;
        let carries_groups = user.groups.is_some();
        Ok(ListedUser { person: person_of(user, id.into(), user_name), carries_groups })
    }

    fn id(&self) -> &str {
        &self.person.id
    }
}

/// A listed User as a person.
fn person_of(user: wire::User, id: CompactString, user_name: CompactString) -> Person {
    let name = user.name.unwrap_or_default();
    let enterprise = user.enterprise.unwrap_or_default();
    let meta = user.meta.unwrap_or_default();
    let (groups, group_types) = groups_of(user.groups.unwrap_or_default());
    let extras = Extras {
        middle_name: name.middle_name,
        nick_name: user.nick_name,
        user_type: user.user_type,
        locale: user.locale,
        cost_center: enterprise.cost_center,
        division: enterprise.division,
        created: meta.created,
        resource_type: meta.resource_type,
        phone_numbers: user.phone_numbers.unwrap_or_default().into_iter().map(email_of).collect(),
        schemas: user.schemas.unwrap_or_default(),
        group_types,
    };
    Person {
        id,
        external_id: user.external_id,
        user_name,
        empty_names: empty_names(name.given_name.as_deref(), name.family_name.as_deref()),
        given_name: name.given_name.unwrap_or_default(),
        family_name: name.family_name.unwrap_or_default(),
        display_name: user.display_name,
        emails: user.emails.unwrap_or_default().into_iter().map(email_of).collect(),
        active: user.active.unwrap_or(true),
        active_unsent: user.active.is_none(),
        groups,
        title: user.title,
        employee_number: enterprise.employee_number,
        department: enterprise.department,
        organization: enterprise.organization,
        manager: enterprise.manager.and_then(|m| m.value),
        last_modified: meta.last_modified,
        extras: extras.boxed(),
    }
}

/// An entry without a value is kept (filters see it with no `value`, RFC 7643 §2.4 does not
/// drop it); `Person::email` skips it.
fn email_of(entry: wire::Email) -> Email {
    Email { value: entry.value.unwrap_or_default(), kind: entry.kind, primary: entry.primary.unwrap_or(false) }
}

/// `User.groups` as groups (id as `value`, name as `display`) sorted and once each, so the
/// roster does not depend on the server's order; and their types, empty when none has one.
fn groups_of(refs: Vec<wire::Ref>) -> (Vec<Group>, Vec<Option<CompactString>>) {
    let mut pairs: Vec<(Group, Option<CompactString>)> = refs
        .into_iter()
        .filter(|r| r.value.is_some() || r.display.is_some())
        .map(|r| (Group::new(r.display.unwrap_or_default(), r.value), r.kind))
        .collect();
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    let types: Vec<Option<CompactString>> = pairs.iter().map(|(_, t)| t.clone()).collect();
    let groups = pairs.into_iter().map(|(g, _)| g).collect();
    let types = if types.iter().all(Option::is_none) { Vec::new() } else { types };
    (groups, types)
}

/// Groups sorted and once each, so the roster does not depend on the server's order.
fn sorted_unique(groups: impl Iterator<Item = Group>) -> Vec<Group> {
    let mut groups: Vec<Group> = groups.collect();
    groups.sort();
    groups.dedup();
    groups
}

/// A SCIM Group as listed: its display name and the ids of its direct members.
struct ListedGroup {
    id: String,
    name: CompactString,
    members: Vec<CompactString>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScimGroup {
    #[serde(rename = "displayname")]
    display_name: Option<CompactString>,
    members: Option<Vec<wire::Ref>>,
}

impl Listed for ListedGroup {
    fn from_scim(resource: Value) -> Result<Self, ResourceError> {
        let id = required_id(&resource)?;
        let group: ScimGroup = serde_json::from_value(resource).map_err(|e| ResourceError::Invalid {
            kind: "group ",
            id: id.clone(),
            detail: e.to_string(),
        })?;
        // Scope rules name groups by display name: a group without one cannot be placed.
        let name = group.display_name.filter(|n| !n.is_empty());
        let name = name.ok_or(ResourceError::Missing { kind: "group ", id: id.clone(), attribute: "displayName" })?;
        let members = group.members.unwrap_or_default().into_iter().filter_map(|m| m.value).collect();
        Ok(ListedGroup { id, name, members })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Set each person's groups from the groups' members, replacing what `User.groups` said.
/// A member that is itself a group passes its members on, as `User.groups` would count
/// nested membership (RFC 7643 §4.1.2).
fn assign_groups(people: &mut [Person], groups: &[ListedGroup]) {
    let by_id: HashMap<&str, &ListedGroup> = groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let mut of_user: HashMap<&str, Vec<Group>> = HashMap::new();
    for group in groups {
        let entry = Group::new(group.name.clone(), Some(group.id.as_str().into()));
        for user in users_in(group, &by_id) {
            of_user.entry(user).or_default().push(entry);
        }
    }
    for person in people {
        let found = of_user.remove(person.id.as_str()).unwrap_or_default();
        person.groups = sorted_unique(found.into_iter());
        // The types `User.groups` gave belonged to the groups just replaced.
        if let Some(extras) = person.extras.take() {
            person.extras = Extras { group_types: Vec::new(), ..*extras }.boxed();
        }
    }
}

/// The user ids in a group, through nested groups, each group visited once (cycles end).
fn users_in<'a>(group: &'a ListedGroup, by_id: &HashMap<&str, &'a ListedGroup>) -> HashSet<&'a str> {
    let (mut users, mut seen, mut todo) = (HashSet::new(), HashSet::from([group.id.as_str()]), vec![group]);
    while let Some(current) = todo.pop() {
        for member in &current.members {
            match by_id.get(member.as_str()) {
                Some(nested) if seen.insert(nested.id.as_str()) => todo.push(nested),
                Some(_) => {}
                None => {
                    users.insert(member.as_str());
                }
            }
        }
    }
    users
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
#[cfg(test)]
mod tests;
