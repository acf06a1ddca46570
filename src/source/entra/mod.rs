//! The Microsoft Entra ID source: reads users, groups and their (transitive) members from
//! Microsoft Graph v1.0 with an app's client credentials, into a roster that says whether
//! it is complete (`platforms/entra.md`).
//!
//! A read is complete only when every listing reached a page without `@odata.nextLink`,
//! every page was a 200 whose `value` parsed, no user id or nextLink repeated, no page cap
//! was hit, and the users held are at least `GET /users/$count` less max(5, 1 %). A page
//! that fails after the first ends that listing with a problem: the roster is then
//! *incomplete* (it removes nobody), never short. Delta reads live in [`delta`].

pub mod delta;
mod graph;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use compact_str::CompactString;
use serde_json::Value;

use crate::model::{Group, Person, Roster};
use graph::{Graph, Listing};
pub use settings::EntraSettings;

use super::snapshot::SnapshotStore;
use super::{Source, SourceError};

/// The Entra ID source.
#[derive(Debug)]
pub struct EntraSource {
    settings: EntraSettings,
    graph: Graph,
}

#[async_trait]
impl Source for EntraSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        Ok(self.read_full(false).await?.roster)
    }

    async fn read_with(&self, memory: &dyn SnapshotStore) -> Result<Roster, SourceError> {
        super::incremental::read_with(self, self.settings.incremental.as_ref(), memory).await
    }

    fn describe(&self) -> String {
        format!(
            "Entra ID tenant {} ({})",
            self.settings.tenant,
            self.settings.graph.base_url.as_str().trim_end_matches('/')
        )
    }
}

/// A full read: the roster, and the delta link when the users came from a delta round.
pub(crate) struct FullRead {
    pub roster: Roster,
    pub delta_link: Option<String>,
}

impl EntraSource {
    pub fn new(settings: EntraSettings) -> Result<Self, SourceError> {
        settings.validate()?;
        let graph = Graph::new(&settings)?;
        Ok(EntraSource { settings, graph })
    }

    pub fn settings(&self) -> &EntraSettings {
        &self.settings
    }

    /// Graph calls made so far (token requests not counted).
    pub fn calls(&self) -> usize {
        self.graph.calls()
    }

    /// Read every user (by `/users`, or by a whole delta round when `by_delta`), every
    /// group and each group's members.
    pub(crate) async fn read_full(&self, by_delta: bool) -> Result<FullRead, SourceError> {
        let mut problems: Vec<String> = Vec::new();
        let count = if self.settings.count_check { self.user_count(&mut problems).await? } else { None };
        let (mut people, users) = self.read_users(by_delta).await?;
        problems.extend(users.problem);
        if let Some(count) = count {
            let floor = count.saturating_sub((count / 100).max(5));
            if (people.len() as u64) < floor {
                problems.push(format!("users: held {} of the {count} GET /users/$count reported", people.len()));
            }
        }
        if let Some(problem) = self.fill_groups(&mut people).await? {
            problems.push(problem);
        }
        let roster = match problems.is_empty() {
            true => Roster::complete(people),
            false => Roster::incomplete(people, problems.join("; ")),
        };
        Ok(FullRead { roster, delta_link: users.delta_link })
    }

    /// `GET /users/$count` (`ConsistencyLevel: eventual`); a count that cannot be read is
    /// a problem (the check cannot be made), a refused app an error.
    async fn user_count(&self, problems: &mut Vec<String>) -> Result<Option<u64>, SourceError> {
        let at = "GET /users/$count";
        match self.graph.get(at, &self.graph.url("users/$count", ""), true).await {
            Ok(body) => {
                let count = String::from_utf8_lossy(&body).trim().trim_start_matches('\u{feff}').parse::<u64>().ok();
                if count.is_none() {
                    problems.push(format!("{at}: the answer is not a number"));
                }
                Ok(count)
            }
            Err(e) if e.is_refused() => Err(e),
            Err(e) => {
                problems.push(e.to_string());
                Ok(None)
            }
        }
    }

    async fn read_users(&self, by_delta: bool) -> Result<(Vec<Person>, Listing), SourceError> {
        let select = wire::USER_SELECT;
        let url = match (by_delta, self.settings.expand_manager) {
            (true, _) => self.graph.url("users/delta", &format!("$select={select},manager")),
            (false, true) => self.graph.url(
                "users",
                &format!("$select={select}&$expand=manager($select=id)&$top={}", self.settings.page_size),
            ),
            (false, false) => self.graph.url("users", &format!("$select={select}&$top={}", self.settings.page_size)),
        };
        let mut people: BTreeMap<CompactString, Person> = BTreeMap::new();
        let listing = self
            .graph
            .list("users", url, |object| {
                if by_delta && wire::is_removed(&object) {
                    people.remove(wire::id_of(&object));
                    return Ok(());
                }
                let id = wire::id_of(&object);
                if !by_delta && people.contains_key(id) {
                    return Err(format!("user id {id:?} repeated (the listing shifted while it was read)"));
                }
                // A delta round may replay a user: the last entry wins.
                let person = wire::merge_delta(people.get(id), &object).map_err(|e| e.to_string())?;
                people.insert(person.id.clone(), person);
                Ok(())
            })
            .await?;
        Ok((people.into_values().collect(), listing))
    }

    /// Every group (`id`, `displayName`) and its members onto the people; the first reason
    /// memberships are not whole, if any (a refused app is an error).
    async fn fill_groups(&self, people: &mut [Person]) -> Result<Option<String>, SourceError> {
        let mut groups: Vec<(String, String)> = Vec::new();
        let url = self.graph.url("groups", &format!("$select=id,displayName&$top={}", self.settings.page_size));
        let listing = self
            .graph
            .list("groups", url, |g| {
                let name = g.get("displayName").and_then(Value::as_str).unwrap_or_default();
                groups.push((wire::id_of(&g).to_string(), name.to_string()));
                Ok(())
            })
            .await
            .map_err(groups_error)?;
        let mut problem = listing.problem;
        let mut of_user: HashMap<String, Vec<Group>> = HashMap::new();
        let relation = if self.settings.nested_groups { "transitiveMembers" } else { "members" };
        for (id, name) in &groups {
            let group = Group::new(name.as_str(), Some(id.as_str().into()));
            let url = self
                .graph
                .url(&format!("groups/{id}/{relation}"), &format!("$select=id&$top={}", self.settings.page_size));
            let mut members = HashSet::new();
            let read = self
                .graph
                .list(&format!("group {name:?} {relation}"), url, |m| {
                    let is_user = m.get("@odata.type").and_then(Value::as_str) == Some("#microsoft.graph.user");
                    if is_user && members.insert(wire::id_of(&m).to_string()) {
                        of_user.entry(wire::id_of(&m).to_string()).or_default().push(group);
                    }
                    Ok(())
                })
                .await;
            match read {
                Ok(listing) => problem = problem.or(listing.problem),
                Err(e) if e.is_refused() => return Err(e),
                Err(e) => problem = problem.or(Some(e.to_string())),
            }
        }
        for person in people.iter_mut() {
            person.groups = sorted(of_user.remove(person.id.as_str()).unwrap_or_default());
        }
        Ok(problem)
    }
}

/// A failure of the group listing's first page: a refusal stays one (it says which
/// permission to grant), anything else says memberships could not be read.
fn groups_error(e: SourceError) -> SourceError {
    match e {
        e if e.is_refused() => e,
        e => SourceError::Groups { detail: e.to_string() },
    }
}

fn sorted(mut groups: Vec<Group>) -> Vec<Group> {
    groups.sort();
    groups.dedup();
    groups
}
