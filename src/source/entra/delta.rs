//! Delta reads of the Entra ID source (`source.entra.incremental`): a full read walks a
//! whole `GET /users/delta` round and stores the roster with the round's `@odata.deltaLink`
//! (as the snapshot's watermark); the reads between full ones GET that link and merge what
//! changed: changed fields into the person held, `@removed` entries out.
//!
//! Safety, since a wrong roster removes access:
//! - Only a complete full read is stored; a snapshot that is missing, unreadable, from other
//!   settings or due for its full read (every `full_read_every` reads) means a full read.
//! - A delta link Graph no longer knows (410 Gone, 400 `syncStateNotFound`) means a full
//!   resync; like every full read, it removes nobody unless it completes.
//! - A delta round that fails part-way gives this run an incomplete roster and keeps the
//!   old link, so the next run reads the same changes again (replays are harmless).
//! - A person new to the roster has no known groups: one `transitiveMemberOf` read each
//!   (the contract's single-person refresh). Membership changes of people already held are
//!   seen at the next full read.

use std::collections::BTreeMap;

use compact_str::CompactString;
use serde_json::Value;

use async_trait::async_trait;

use super::{wire, EntraSource};
use crate::model::{Group, Person, Roster};
use crate::source::incremental::{Base, Incremental};
use crate::source::snapshot::{forget, keep, SnapshotChanges};
use crate::source::SourceError;

#[async_trait]
impl Incremental for EntraSource {
    /// The settings that shape the roster: a snapshot made under others is not used.
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!("{}|{}|nested={}|manager={}", s.graph.base_url, s.tenant, s.nested_groups, s.expand_manager)
    }

    /// A full read by a whole delta round, marked with the round's delta link (an empty
    /// roster is never built on).
    async fn read_marked(&self) -> Result<(Roster, Option<String>), SourceError> {
        let full = self.read_full(true).await?;
        let link = full.delta_link.filter(|_| !full.roster.people.is_empty());
        Ok((full.roster, link))
    }

    /// GET the stored delta link and merge the round into the snapshot.
    async fn read_changes(&self, base: Base<'_>) -> Result<Option<Roster>, SourceError> {
        let Base { snapshot, memory, key, .. } = base;
        let link = match self.graph.follow(&snapshot.meta.max_modified) {
            Ok(link) => link,
            Err(why) => {
                tracing::warn!(reason = %why, "the stored delta link is unusable: a full source read");
                return Ok(None);
            }
        };
        let mut people = snapshot.people.clone();
        let mut new_ids: Vec<CompactString> = Vec::new();
        let mut changed = 0usize;
        let read = self
            .graph
            .list("users delta", link, |object| {
                changed += 1;
                let id = wire::id_of(&object);
                if wire::is_removed(&object) {
                    people.remove(id);
                    return Ok(());
                }
                let person = wire::merge_delta(people.get(id), &object).map_err(|e| e.to_string())?;
                if !snapshot.people.contains_key(id) && !new_ids.contains(&person.id) {
                    new_ids.push(person.id.clone());
                }
                people.insert(person.id.clone(), person);
                Ok(())
            })
            .await;
        let listing = match read {
            Ok(listing) => listing,
            Err(SourceError::Status { status, detail, .. })
                if status == 410 || detail.contains("syncStateNotFound") =>
            {
                tracing::info!(
                    status,
                    "Graph no longer knows the delta link: a full resync, removing nobody until it completes"
                );
                forget(memory, key);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut problem = listing.problem;
        for id in &new_ids {
            if let Err(e) = self.refresh_groups(&mut people, id).await {
                problem.get_or_insert(e.to_string());
            }
        }
        let mut meta = snapshot.meta.clone();
        meta.reads_since_full += 1;
        tracing::info!(changed, people = people.len(), "delta source read");
        match (problem, listing.delta_link) {
            (None, Some(link)) => {
                meta.people = people.len();
                meta.max_modified = link;
                keep(memory, key, &meta, &SnapshotChanges::between(&snapshot.people, &people));
                Ok(Some(Roster::complete(people.into_values().collect())))
            }
            (problem, _) => {
                keep(memory, key, &meta, &SnapshotChanges::default());
                let why = problem.unwrap_or_else(|| "the delta round ended without @odata.deltaLink".into());
                Ok(Some(Roster::incomplete(people.into_values().collect(), format!("delta read: {why}"))))
            }
        }
    }
}

impl EntraSource {
    /// One person's groups (`/users/{id}/transitiveMemberOf`, or `memberOf`).
    async fn refresh_groups(&self, people: &mut BTreeMap<CompactString, Person>, id: &str) -> Result<(), SourceError> {
        let relation = if self.settings.nested_groups { "transitiveMemberOf" } else { "memberOf" };
        let url = self.graph.url(
            &format!("users/{id}/{relation}"),
            &format!("$select=id,displayName&$top={}", self.settings.page_size),
        );
        let mut groups = Vec::new();
        let listing = self
            .graph
            .list(&format!("user {id:?} {relation}"), url, |g| {
                if g.get("@odata.type").and_then(Value::as_str) == Some("#microsoft.graph.group") {
                    let name = g.get("displayName").and_then(Value::as_str).unwrap_or_default();
                    groups.push(Group::new(name, Some(wire::id_of(&g).into())));
                }
                Ok(())
            })
            .await?;
        if let Some(problem) = listing.problem {
            return Err(SourceError::Groups { detail: problem });
        }
        if let Some(person) = people.get_mut(id) {
            person.groups = super::sorted(groups);
        }
        Ok(())
    }
}
