//! One Okta listing read whole: pages followed by their `Link: rel="next"` cursor until a page
//! has none, every page checked (a 200 JSON array, no repeated id or cursor, the next link on
//! the org's own scheme and host, the page cap not hit). A page that fails after the first
//! ends the listing with a problem, keeping what came before; the caller decides what that
//! means for the roster.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use url::Url;

use super::wire::{foreign_link, next_link, Member, OktaGroup, OktaUser};
use super::{idp_error, OktaSource};
use crate::source::provider::ProviderError;
use crate::source::SourceError;

/// A resource a listing holds, known by its id.
pub(super) trait Listed: DeserializeOwned + Send {
    fn id(&self) -> &str;
    /// What a resource lacks that the roster cannot do without.
    fn lacks(&self) -> Option<&'static str> {
        None
    }
}

impl Listed for OktaUser {
    fn id(&self) -> &str {
        &self.id
    }
    fn lacks(&self) -> Option<&'static str> {
        self.login().is_none().then_some("profile.login")
    }
}

impl Listed for OktaGroup {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Listed for Member {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A whole listing: what it held, and why it is not complete (if it is not).
pub(super) struct Listing<T> {
    pub(super) items: Vec<T>,
    pub(super) problem: Option<String>,
    /// Pages (requests) it took.
    pub(super) pages: u32,
}

/// Whether a failure of a page after the first still fails the whole read: the contract
/// fails the read on a refusal (401, 403, other 4xx but 404 and 429), not only on page 1.
fn fails_the_read(e: &SourceError) -> bool {
    match e {
        SourceError::Provider(ProviderError { status: Some(status), .. }) => {
            (400..500).contains(status) && !matches!(status, 404 | 408 | 429)
        }
        _ => false,
    }
}

impl OktaSource {
    /// Read every page of the listing that starts at `first`; `what` names it in messages
    /// (`users`, `group "Sales" members`).
    pub(super) async fn list<T: Listed>(&self, what: &str, first: Url) -> Result<Listing<T>, SourceError> {
        let mut listing = Listing { items: Vec::new(), problem: None, pages: 0 };
        let (mut ids, mut cursors) = (HashSet::new(), HashSet::new());
        let mut url = first;
        for page in 1..=self.settings.max_pages {
            let at = format!("{what} page {page}");
            listing.pages = page;
            let (items, next) = match self.fetch_page::<T>(&at, url.clone()).await {
                Ok(answer) => answer,
                Err(e) if page == 1 || fails_the_read(&e) => return Err(e),
                Err(e) => return Ok(listing.with_problem(e.to_string())),
            };
            for item in items {
                if !ids.insert(item.id().to_string()) {
                    let problem = format!("{at}: id {:?} repeated (the listing shifted while it was read)", item.id());
                    listing.problem.get_or_insert(problem);
                    continue;
                }
                listing.items.push(item);
            }
            let Some(next) = next else { return Ok(listing) };
            match self.follow(&at, &next, &mut cursors) {
                Ok(next) => url = next,
                Err(problem) => return Ok(listing.with_problem(problem)),
            }
        }
        let max = self.settings.max_pages;
        Ok(listing.with_problem(format!("{what}: stopped after max_pages={max} pages; raise source.okta.max_pages")))
    }

    /// The next page's URL, or why it is not followed (another host, a repeated cursor).
    fn follow(&self, at: &str, next: &str, cursors: &mut HashSet<String>) -> Result<Url, String> {
        let url = Url::parse(next).map_err(|e| format!("{at}: the next link is not a URL ({e})"))?;
        if let Some(why) = foreign_link(&self.settings.connection.base_url, &url) {
            return Err(format!("{at}: {why}; not followed"));
        }
        let after = url.query_pairs().find(|(k, _)| k == "after").map(|(_, v)| v.into_owned()).unwrap_or_default();
        if !cursors.insert(after) {
            return Err(format!("{at}: the next link repeats an earlier cursor (the listing would never end)"));
        }
        Ok(url)
    }

    /// One page: its items and its `next` link.
    async fn fetch_page<T: Listed>(&self, at: &str, url: Url) -> Result<(Vec<T>, Option<String>), SourceError> {
        let answer = self.get(at, url).await?;
        let items = serde_json::from_slice::<Vec<T>>(&answer.body).map_err(|e| {
            let detail = format!(
                "malformed answer, not a JSON array of Okta resources ({e}): {}",
                self.http.snippet(&answer.body)
            );
            let next =
                "check that source.okta.url is the org's address (https://acme.okta.com), not an admin or app URL";
            idp_error(at, Some(answer.status.as_u16()), detail, next)
        })?;
        if let Some((id, lacks)) = items.iter().find_map(|i| Some((i.id(), i.lacks()?))) {
            let detail = format!("malformed answer: resource {id:?} has no {lacks}");
            let next = "check the user in the Okta admin console (every Okta user has a login)";
            return Err(idp_error(at, Some(answer.status.as_u16()), detail, next));
        }
        Ok((items, next_link(&answer.headers)))
    }
}

impl<T> Listing<T> {
    fn with_problem(mut self, problem: String) -> Self {
        self.problem.get_or_insert(problem);
        self
    }
}
