//! One full read of the directory: users, then groups and each group's direct members,
//! nested groups resolved locally, managers' emails turned into their ids.

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;
use serde::de::DeserializeOwned;
use url::Url;

use super::wire::{Group, Listed, Member, Page, User};
use super::{error, Directory, GoogleSettings, GoogleSource};
use crate::model::{Person, Roster};
use crate::source::scim::{assign_listed_groups, ListedGroup};
use crate::source::SourceError;

/// A whole listing: what it held, and why it is not complete (if it is not).
struct Listing<T> {
    items: Vec<T>,
    problem: Option<String>,
}

impl GoogleSource {
    pub(super) async fn read_roster(&self) -> Result<Roster, SourceError> {
        let users = self.list::<User>("users", self.listing_url("users", self.settings.page_size)).await?;
        let mut problems: Vec<String> = users.problem.into_iter().collect();
        let mut people: Vec<Person> = users.items.into_iter().map(User::into_person).collect();
        if self.settings.groups {
            let groups = self.read_groups(&people, &mut problems).await?;
            assign_listed_groups(&mut people, &groups);
        }
        managers_by_id(&mut people);
        if problems.is_empty() {
            return Ok(Roster::complete(people));
        }
        Ok(Roster::incomplete(people, problems.join("; ")))
    }

    /// Every group with its direct members. A group that vanished during the read (404) or
    /// whose members do not add up makes the roster incomplete; any other failure fails the
    /// read, as memberships decide scope *and* roles.
    async fn read_groups(
        &self,
        people: &[Person],
        problems: &mut Vec<String>,
    ) -> Result<Vec<ListedGroup>, SourceError> {
        let groups = self
            .list::<Group>("groups", self.listing_url("groups", GoogleSettings::MAX_GROUPS_PAGE))
            .await
            .map_err(|e| SourceError::Groups { detail: e.to_string() })?;
        if let Some(problem) = groups.problem {
            return Err(SourceError::Groups { detail: problem });
        }
        let mut listed = Vec::with_capacity(groups.items.len());
        for group in groups.items {
            let what = format!("members of group {}", group.email);
            let members = match self.list::<Member>(&what, self.members_url(&group.id)).await {
                Ok(members) => members,
                Err(SourceError::Provider(e)) if e.status == Some(404) => {
                    problems
                        .push(format!("{e} (the group was deleted while it was read; the next run reads it again)"));
                    continue;
                }
                Err(e) => return Err(SourceError::Groups { detail: e.to_string() }),
            };
            if let Some(problem) = members.problem {
                return Err(SourceError::Groups { detail: problem });
            }
            let held = members.items.len() as u64;
            match group.direct_members_count {
                Some(count) if self.settings.check_member_counts && count != held => problems.push(format!(
                    "group {}: {held} members listed but directMembersCount is {count} (a fresh change may lag; the next run reads it again, or set source.google.check_member_counts: false)",
                    group.email
                )),
                _ => {}
            }
            listed.push(ListedGroup { id: group.id, name: group.name, members: member_ids(members.items, people) });
        }
        Ok(listed)
    }

    /// Read every page of a listing. Err only when the first page fails: later failures end
    /// the listing with a problem, keeping what the earlier pages held.
    async fn list<T: DeserializeOwned + Listed>(&self, what: &str, first: Url) -> Result<Listing<T>, SourceError> {
        let mut listing = Listing { items: Vec::new(), problem: None };
        let (mut ids, mut tokens) = (HashSet::new(), HashSet::new());
        let mut url = first.clone();
        for page in 1..=self.settings.max_pages {
            let at = format!("Google {what} page {page}");
            let parsed = match self.page::<T>(&at, &url).await {
                Ok(parsed) => parsed,
                Err(e) if page == 1 => return Err(e),
                Err(e) => {
                    listing.problem = Some(e.to_string());
                    return Ok(listing);
                }
            };
            for item in parsed.items {
                if !ids.insert(item.id().to_string()) {
                    listing.problem.get_or_insert(format!("{at}: id {} listed twice (the listing shifted)", item.id()));
                    continue;
                }
                listing.items.push(item);
            }
            let Some(next) = parsed.next_page_token else { return Ok(listing) };
            if !tokens.insert(next.clone()) {
                listing.problem =
                    Some(format!("{at}: nextPageToken repeated an earlier one; the listing would never end"));
                return Ok(listing);
            }
            url = first.clone();
            url.query_pairs_mut().append_pair("pageToken", &next);
        }
        let max = self.settings.max_pages;
        listing.problem =
            Some(format!("Google {what}: stopped after max_pages={max} pages; raise source.google.max_pages"));
        Ok(listing)
    }

    async fn page<T: DeserializeOwned>(&self, at: &str, url: &Url) -> Result<Page<T>, SourceError> {
        let body = self.get(at, url).await?;
        Page::parse(&body).map_err(|detail| error::malformed(at, self.http.redact(&detail)).into())
    }

    /// `{base}/users?customer=…&maxResults=N&projection=basic&orderBy=email` (or `groups`).
    fn listing_url(&self, name: &str, max_results: u32) -> Url {
        let mut url = self.endpoint(&[name]);
        {
            let mut q = url.query_pairs_mut();
            match &self.settings.directory {
                Directory::Customer(c) => q.append_pair("customer", c),
                Directory::Domain(d) => q.append_pair("domain", d),
            };
            q.append_pair("maxResults", &max_results.to_string());
            if name == "users" {
                q.append_pair("projection", "basic").append_pair("orderBy", "email");
            }
        }
        url
    }

    /// `{base}/groups/{id}/members?maxResults=200`.
    fn members_url(&self, group_id: &str) -> Url {
        let mut url = self.endpoint(&["groups", group_id, "members"]);
        url.query_pairs_mut().append_pair("maxResults", &GoogleSettings::MAX_GROUPS_PAGE.to_string());
        url
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.settings.connection.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// The ids a group's direct members stand for: a user's or a nested group's id, every
/// user for `CUSTOMER`, nobody for `EXTERNAL` (people outside the directory).
fn member_ids(members: Vec<Member>, people: &[Person]) -> Vec<CompactString> {
    let mut ids = Vec::with_capacity(members.len());
    for member in members {
        match member.kind.as_str() {
            "CUSTOMER" => ids.extend(people.iter().map(|p| p.id.clone())),
            "EXTERNAL" => {}
            _ => ids.push(member.id.into()),
        }
    }
    ids
}

/// `relations[type=manager]` is an email: the manager's id when the manager is in the
/// roster [inferred], else the email as sent.
fn managers_by_id(people: &mut [Person]) {
    let by_email: HashMap<CompactString, CompactString> =
        people.iter().flat_map(|p| p.emails.iter().map(|e| (e.value.clone(), p.id.clone()))).collect();
    for person in people.iter_mut() {
        if let Some(id) = person.manager.as_ref().and_then(|m| by_email.get(m)) {
            person.manager = Some(id.clone());
        }
    }
}
