//! Incremental SCIM reads: a full read stores a snapshot; the reads between full ones ask
//! only for users changed since (`meta.lastModified gt "<watermark>"`) and merge them in.
//!
//! Safety first, since a wrong roster removes access:
//! - Only a complete full read is stored. A snapshot that is missing, unreadable, from other
//!   settings, or due for its full read (every `full_read_every` reads) means a full read.
//! - The watermark is the largest `meta.lastModified` the *server* returned, minus an
//!   overlap, so neither clock skew nor a user written during the read is missed; reading a
//!   user twice is harmless.
//! - An incremental listing that fails part-way gives this run an incomplete roster (no
//!   removals) and leaves the watermark where it was.
//! - A server that cannot do it (users without `meta.lastModified`, `filter.supported`
//!   false, the filter refused with 400/501) gets full reads; why is logged once.
//! - Memberships from `GET /Groups` cannot be seen by a user filter: `/Groups` is read
//!   whole on every incremental read too.
//! - A hard-deleted user cannot be seen by a filter: it leaves the roster at the next full
//!   read (or when another user takes its `userName`).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{IncrementalSettings, Kind, ListedUser, Listing, ScimSource};
use crate::model::{Person, Roster};
use crate::platform::scim::wire::lowercase_keys;
use crate::source::snapshot::{
    forget, keep, merge, save_full, usable, Snapshot, SnapshotChanges, SnapshotMeta, SnapshotStore,
};
use crate::source::{Source, SourceError};

/// Why an incremental listing did not happen.
enum NotIncremental {
    /// The server cannot do it: full reads from now on.
    Unsupported(String),
    /// The read failed as a full one would have.
    Failed(SourceError),
}

impl ScimSource {
    /// Why incremental reads are off, if they are.
    pub fn incremental_off(&self) -> Option<String> {
        self.incremental_off.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Turn incremental reads off for this source, logging why the first time only.
    fn turn_off(&self, memory: &dyn SnapshotStore, key: &str, why: String) {
        let mut off = self.incremental_off.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if off.is_none() {
            tracing::warn!(reason = %why, "incremental source reads are off: every read is a full one");
            *off = Some(why);
        }
        forget(memory, key);
    }

    pub(super) async fn read_incrementally(
        &self,
        policy: &IncrementalSettings,
        memory: &dyn SnapshotStore,
    ) -> Result<Roster, SourceError> {
        if self.incremental_off().is_some() {
            return self.read().await;
        }
        let key = self.describe();
        let Some(snapshot) = self.usable_snapshot(memory, &key, policy) else {
            return self.read_full_and_keep(memory, &key).await;
        };
        match self.read_changes(&snapshot.meta, policy).await {
            Ok(listing) => self.merge_changes(memory, &key, snapshot, listing).await,
            Err(NotIncremental::Unsupported(why)) => {
                self.turn_off(memory, &key, why);
                self.read().await
            }
            Err(NotIncremental::Failed(e)) => Err(e),
        }
    }

    /// The settings that shape the roster: a snapshot made under others is not used.
    fn fingerprint(&self) -> String {
        format!("{}|groups={:?}", self.settings.connection.base_url, self.settings.groups)
    }

    /// The stored snapshot if an incremental read may start from it.
    fn usable_snapshot(&self, memory: &dyn SnapshotStore, key: &str, policy: &IncrementalSettings) -> Option<Snapshot> {
        usable(memory, key, &self.fingerprint(), policy.full_read_every)
    }

    /// A full read; a complete one becomes the new snapshot when the server can do
    /// incremental reads at all.
    async fn read_full_and_keep(&self, memory: &dyn SnapshotStore, key: &str) -> Result<Roster, SourceError> {
        let (roster, groups_from_endpoint) = self.read_full().await?;
        if !roster.complete || roster.people.is_empty() {
            forget(memory, key);
            return Ok(roster);
        }
        if let Some(why) = self.filter_unsupported().await {
            self.turn_off(memory, key, why);
            return Ok(roster);
        }
        let max_modified = match newest(&roster.people) {
            Ok(max) => max,
            Err(why) => {
                self.turn_off(memory, key, why);
                return Ok(roster);
            }
        };
        let meta = SnapshotMeta {
            fingerprint: self.fingerprint(),
            people: roster.people.len(),
            complete: true,
            max_modified: stamp(max_modified),
            reads_since_full: 0,
            full_read_at: stamp(Utc::now()),
            groups_from_endpoint,
        };
        save_full(memory, key, meta, &roster.people);
        Ok(roster)
    }

    /// What `ServiceProviderConfig` says against filtering, if it says anything. An answer
    /// that cannot be read is no verdict: a refused filter is caught when it is sent.
    async fn filter_unsupported(&self) -> Option<String> {
        let body = match self.get("ServiceProviderConfig", self.endpoint_url("ServiceProviderConfig")).await {
            Ok(body) => body,
            Err(e) => {
                tracing::debug!(error = %e, "no ServiceProviderConfig: trying the filter anyway");
                return None;
            }
        };
        let config = serde_json::from_slice::<Value>(&body).map(lowercase_keys).ok()?;
        match config["filter"]["supported"].as_bool() {
            Some(false) => Some("the server's ServiceProviderConfig says filter.supported is false".into()),
            _ => None,
        }
    }

    /// `GET /Users?filter=meta.lastModified gt "<watermark>"`, every page.
    async fn read_changes(
        &self,
        meta: &SnapshotMeta,
        policy: &IncrementalSettings,
    ) -> Result<Listing<ListedUser>, NotIncremental> {
        let Some(since) = since(&meta.max_modified, policy) else {
            let why = format!("the snapshot's watermark {:?} is not a date-time", meta.max_modified);
            return Err(NotIncremental::Failed(SourceError::Malformed { at: "roster snapshot".into(), detail: why }));
        };
        let filter = format!("meta.lastModified gt \"{since}\"");
        match self.list::<ListedUser>(Kind::Users, Some(&filter)).await {
            Ok(listing) => Ok(listing),
            Err(SourceError::Status { status: status @ (400 | 501), detail, .. }) => Err(NotIncremental::Unsupported(
                format!("the server refused the filter `{filter}` (HTTP {status}: {detail})"),
            )),
            Err(e) => Err(NotIncremental::Failed(e)),
        }
    }

    /// Merge the changed users into the snapshot. Only a complete listing moves the
    /// watermark; an incomplete one gives an incomplete roster.
    async fn merge_changes(
        &self,
        memory: &dyn SnapshotStore,
        key: &str,
        snapshot: Snapshot,
        listing: Listing<ListedUser>,
    ) -> Result<Roster, SourceError> {
        let changed: Vec<Person> = listing.items.into_iter().map(|u| u.person).collect();
        let count = changed.len();
        let newest_changed = changed.iter().filter_map(|p| p.last_modified.as_deref().and_then(parse)).max();
        let mut merged = merge(&snapshot.people, changed);
        if snapshot.meta.groups_from_endpoint {
            let mut people: Vec<Person> = merged.into_values().collect();
            self.fill_groups(&mut people).await?;
            merged = people.into_iter().map(|p| (p.id.clone(), p)).collect();
        }
        let mut meta = snapshot.meta.clone();
        meta.reads_since_full += 1;
        tracing::info!(changed = count, people = merged.len(), "incremental source read");
        let Some(problem) = listing.problem else {
            meta.people = merged.len();
            let previous = parse(&meta.max_modified);
            meta.max_modified = stamp(previous.into_iter().chain(newest_changed).max().unwrap_or_else(Utc::now));
            keep(memory, key, &meta, &SnapshotChanges::between(&snapshot.people, &merged));
            return Ok(Roster::complete(merged.into_values().collect()));
        };
        keep(memory, key, &meta, &SnapshotChanges::default());
        Ok(Roster::incomplete(merged.into_values().collect(), format!("incremental read: {problem}")))
    }
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The newest `meta.lastModified` of a full read; Err when any user has none (or an
/// unreadable one): such a user would never match the filter, so its changes would be lost.
fn newest(people: &[Person]) -> Result<DateTime<Utc>, String> {
    let mut newest: Option<DateTime<Utc>> = None;
    let (mut lacking, mut example) = (0usize, None);
    for person in people {
        match person.last_modified.as_deref().and_then(parse) {
            Some(at) => newest = newest.max(Some(at)),
            None => {
                lacking += 1;
                example.get_or_insert(person.id.clone());
            }
        }
    }
    match (newest, example) {
        (Some(at), None) => Ok(at),
        (_, example) => Err(format!(
            "{lacking} of {} users carry no readable meta.lastModified (e.g. id {:?}), so changes cannot be asked for",
            people.len(),
            example.unwrap_or_default()
        )),
    }
}

/// The filter's date-time: the watermark minus the overlap, down to the second, in UTC
/// (`2024-05-01T10:00:00Z`, RFC 7643 §2.3.5's xsd:dateTime).
fn since(max_modified: &str, policy: &IncrementalSettings) -> Option<String> {
    let overlap = chrono::Duration::from_std(policy.overlap).ok()?;
    let at = parse(max_modified)?.checked_sub_signed(overlap)?;
    Some(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The people of a roster by id, as a snapshot holds them.
pub fn by_id(people: &[Person]) -> BTreeMap<compact_str::CompactString, Person> {
    people.iter().map(|p| (p.id.clone(), p.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn with_modified(id: &str, at: Option<&str>) -> Person {
        Person { id: id.into(), user_name: id.into(), last_modified: at.map(Into::into), ..Person::default() }
    }

    #[test]
    fn the_filter_time_is_the_servers_newest_minus_the_overlap_in_whole_seconds() {
        let policy = IncrementalSettings { full_read_every: 12, overlap: Duration::from_secs(60) };
        assert_eq!(since("2024-05-01T10:00:30.750+02:00", &policy).unwrap(), "2024-05-01T07:59:30Z");
        assert_eq!(since("not a time", &policy), None);
    }

    #[test]
    fn a_user_without_last_modified_makes_incremental_reads_impossible() {
        let people =
            [with_modified("a", Some("2024-05-01T10:00:00Z")), with_modified("b", Some("2024-05-02T10:00:00Z"))];
        assert_eq!(stamp(newest(&people).unwrap()), "2024-05-02T10:00:00Z");
        let people = [with_modified("a", Some("2024-05-01T10:00:00Z")), with_modified("b", None)];
        let why = newest(&people).unwrap_err();
        assert!(why.contains("1 of 2 users") && why.contains("\"b\""), "{why}");
    }
}
