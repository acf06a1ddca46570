//! The pushed resources, kept in the store's sled database: every accepted change is
//! written, then journaled in the push inbox (which flushes the database), and only then
//! answered, so a crash after a 2xx never loses a change.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::resource::{self, Kind, Stored};
use super::{Journal, JournalError};

/// The resources and the journal they report to. Writes are serialised (uniqueness is
/// checked and the record written under one lock); reads take no lock.
pub struct Resources {
    users: sled::Tree,
    groups: sled::Tree,
    journal: Arc<dyn Journal>,
    write: Mutex<()>,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resources").finish_non_exhaustive()
    }
}

/// What one accepted write did to people: each affected person once, and whether the
/// change deactivates them (what the burst guard counts).
#[derive(Debug, Default)]
pub struct Effects(pub Vec<(String, bool)>);

impl Effects {
    fn person(&mut self, id: &str, deactivates: bool) {
        match self.0.iter_mut().find(|(p, _)| p == id) {
            Some(entry) => entry.1 |= deactivates,
            None => self.0.push((id.to_string(), deactivates)),
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn store_err(e: impl std::fmt::Display) -> ScimError {
    ScimError::Store(e.to_string())
}

impl Resources {
    pub fn open(journal: Arc<dyn Journal>) -> Result<Resources, JournalError> {
        let db = journal.db();
        let tree = |kind: Kind| db.open_tree(kind.tree()).map_err(|e| JournalError(e.to_string()));
        Ok(Resources { users: tree(Kind::User)?, groups: tree(Kind::Group)?, journal, write: Mutex::new(()) })
    }

    fn tree(&self, kind: Kind) -> &sled::Tree {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    /// One stored resource, tombstones included.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, ScimError> {
        let Some(bytes) = self.tree(kind).get(id.as_bytes()).map_err(store_err)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(store_err)
    }

    /// A live resource, or 404.
    pub fn live(&self, kind: Kind, id: &str) -> Result<Stored, ScimError> {
        match self.get(kind, id)? {
            Some(s) if !s.deleted => Ok(s),
            _ => Err(ScimError::NotFound { kind: kind.name(), id: id.to_string() }),
        }
    }

    /// Every stored resource of a kind, tombstones included, in id order.
    pub fn all(&self, kind: Kind) -> Result<Vec<Stored>, ScimError> {
        let items = self.tree(kind).iter().values();
        items.map(|v| serde_json::from_slice(&v.map_err(store_err)?).map_err(store_err)).collect()
    }

    /// The live Groups each user is a direct member of: user id → (group id, displayName).
    pub fn memberships(&self) -> Result<HashMap<String, Vec<(String, String)>>, ScimError> {
        let mut of: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for group in self.all(Kind::Group)?.into_iter().filter(|g| !g.deleted) {
            for member in group.member_ids() {
                of.entry(member).or_default().push((group.id().to_string(), group.unique_name(Kind::Group).into()));
            }
        }
        Ok(of)
    }

    /// POST: a new resource, or a deleted User revived when its userName or externalId
    /// comes back. 409 `uniqueness` when a live resource has the name.
    pub fn create(&self, kind: Kind, body: &Map<String, Value>) -> Result<Stored, ScimError> {
        let body = resource::canonical(kind, body)?;
        let _lock = self.lock();
        let name = resource::text(&body, kind.unique()).unwrap_or_default().to_string();
        self.check_unique(kind, &name, None)?;
        let revived = match kind {
            Kind::User => self.tombstone_of(&name, resource::text(&body, "externalId"))?,
            Kind::Group => None,
        };
        let (id, created, version) = match &revived {
            Some(old) => (old.id().to_string(), old.created(), old.version),
            None => (uuid::Uuid::new_v4().to_string(), None, 0),
        };
        let stored = self.finish(kind, &id, body, created, version + 1)?;
        self.check_members(kind, &stored)?;
        let mut effects = Effects::default();
        match kind {
            Kind::User => effects.person(&id, !stored.active()),
            Kind::Group => self.member_effects(&[], &stored.member_ids(), &mut effects)?,
        }
        self.commit(kind, &stored, effects)?;
        Ok(stored)
    }

    /// PUT, and PATCH once applied (`replace` gets the body to keep): the new body replaces
    /// the old one; `id`, `meta.created` stay.
    pub fn replace(
        &self,
        kind: Kind,
        id: &str,
        if_match: Option<&str>,
        change: impl FnOnce(&Stored) -> Result<Map<String, Value>, ScimError>,
    ) -> Result<Stored, ScimError> {
        let _lock = self.lock();
        let old = self.live(kind, id)?;
        check_version(&old, if_match)?;
        let body = resource::canonical(kind, &change(&old)?)?;
        let name = resource::text(&body, kind.unique()).unwrap_or_default().to_string();
        self.check_unique(kind, &name, Some(id))?;
        let created = old.created();
        let stored = self.finish(kind, id, body, created, old.version + 1)?;
        self.check_members(kind, &stored)?;
        let mut effects = Effects::default();
        match kind {
            Kind::User => effects.person(id, old.active() && !stored.active()),
            Kind::Group => self.member_effects(&old.member_ids(), &stored.member_ids(), &mut effects)?,
        }
        self.commit(kind, &stored, effects)?;
        Ok(stored)
    }

    /// DELETE: a User becomes a tombstone (deactivated) and leaves its groups; a Group goes,
    /// and its members are reconciled (they lose what it gave them).
    pub fn delete(&self, kind: Kind, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        let _lock = self.lock();
        let mut old = self.live(kind, id)?;
        check_version(&old, if_match)?;
        let mut effects = Effects::default();
        match kind {
            Kind::User => {
                effects.person(id, true);
                self.leave_groups(id)?;
                old.deleted = true;
                old.version += 1;
                old.body.insert("active".into(), json!(false));
                self.put(kind, &old)?;
            }
            Kind::Group => {
                self.member_effects(&old.member_ids(), &[], &mut effects)?;
                self.groups.remove(id.as_bytes()).map_err(store_err)?;
            }
        }
        self.journal(effects)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock leaves nothing half-done that the lock protects.
        self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `id` and `meta` set on a canonical body.
    fn finish(
        &self,
        kind: Kind,
        id: &str,
        mut body: Map<String, Value>,
        created: Option<String>,
        version: u64,
    ) -> Result<Stored, ScimError> {
        let now = now();
        body.insert("id".into(), json!(id));
        let created = created.unwrap_or_else(|| now.clone());
        let meta = json!({"resourceType": kind.name(), "created": created, "lastModified": now, "version": format!("W/\"{version}\"")});
        body.insert("meta".into(), meta);
        Ok(Stored { body, version, deleted: false })
    }

    fn check_unique(&self, kind: Kind, name: &str, except: Option<&str>) -> Result<(), ScimError> {
        let taken = self
            .all(kind)?
            .into_iter()
            .any(|s| !s.deleted && Some(s.id()) != except && s.unique_name(kind).eq_ignore_ascii_case(name));
        match taken {
            true => Err(ScimError::Uniqueness(format!("{} {name:?} is already in use", kind.unique()))),
            false => Ok(()),
        }
    }

    /// A deleted User with this userName or externalId, to revive.
    fn tombstone_of(&self, user_name: &str, external_id: Option<&str>) -> Result<Option<Stored>, ScimError> {
        let found = self.all(Kind::User)?.into_iter().find(|s| {
            s.deleted
                && (s.unique_name(Kind::User).eq_ignore_ascii_case(user_name)
                    || (external_id.is_some() && s.external_id() == external_id))
        });
        Ok(found)
    }

    /// Every member of a Group must be a live User or Group of this service provider.
    fn check_members(&self, kind: Kind, stored: &Stored) -> Result<(), ScimError> {
        if kind != Kind::Group {
            return Ok(());
        }
        for member in stored.member_ids() {
            let user = self.get(Kind::User, &member)?.is_some_and(|u| !u.deleted);
            if !user && member != stored.id() && self.get(Kind::Group, &member)?.is_none() {
                return Err(ScimError::Value(format!("members: {member:?} is not the id of a User or Group here")));
            }
        }
        Ok(())
    }

    /// The users whose membership changed between `before` and `after` (nested groups
    /// expanded): each gets a reconcile, none is a deactivation.
    fn member_effects(&self, before: &[String], after: &[String], effects: &mut Effects) -> Result<(), ScimError> {
        let (before, after) = (self.users_in(before)?, self.users_in(after)?);
        for id in before.symmetric_difference(&after) {
            effects.person(id, false);
        }
        Ok(())
    }

    /// The user ids reached from `members` through nested groups, each group once.
    fn users_in(&self, members: &[String]) -> Result<BTreeSet<String>, ScimError> {
        let (mut users, mut seen, mut todo) = (BTreeSet::new(), BTreeSet::new(), members.to_vec());
        while let Some(id) = todo.pop() {
            match self.get(Kind::Group, &id)? {
                Some(group) if seen.insert(id.clone()) => todo.extend(group.member_ids()),
                Some(_) => {}
                None => {
                    users.insert(id);
                }
            }
        }
        Ok(users)
    }

    /// A deleted User leaves every group it was in.
    fn leave_groups(&self, user: &str) -> Result<(), ScimError> {
        for mut group in self.all(Kind::Group)? {
            let Some(Value::Array(members)) = group.body.get_mut("members") else { continue };
            let before = members.len();
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(user));
            if members.len() != before {
                group.version += 1;
                self.put(Kind::Group, &group)?;
            }
        }
        Ok(())
    }

    fn put(&self, kind: Kind, stored: &Stored) -> Result<(), ScimError> {
        let bytes = serde_json::to_vec(stored).map_err(store_err)?;
        self.tree(kind).insert(stored.id().as_bytes(), bytes).map_err(store_err)?;
        Ok(())
    }

    fn commit(&self, kind: Kind, stored: &Stored, effects: Effects) -> Result<(), ScimError> {
        self.put(kind, stored)?;
        self.journal(effects)
    }

    /// One inbox entry per affected person; each record flushes the database, so the
    /// resources written before it are durable too. A change touching nobody (a Group
    /// without members) is flushed on its own.
    fn journal(&self, effects: Effects) -> Result<(), ScimError> {
        if effects.0.is_empty() {
            self.journal.db().flush().map_err(store_err)?;
        }
        for (person, deactivates) in effects.0 {
            self.journal.record(&person, deactivates).map_err(store_err)?;
        }
        Ok(())
    }
}

/// `If-Match`: the resource's current ETag, or `*`; 412 otherwise.
fn check_version(stored: &Stored, if_match: Option<&str>) -> Result<(), ScimError> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tags) if tags.split(',').any(|t| t.trim() == stored.etag()) => Ok(()),
        Some(tags) => Err(ScimError::Precondition(tags.to_string())),
    }
}
