//! `source: push`: rosterd as a SCIM 2.0 service provider. The identity provider pushes
//! Users and Groups to `/scim/v2`; what it pushed is the roster.
//!
//! - [`http`]: the routes the daemon mounts; [`store`]: the resources in the store's sled
//!   database, each accepted change journaled in the push inbox before the answer;
//!   [`patch`] and [`path`]: PATCH as RFC 7644 and the Entra ID and Okta dialects send it;
//!   [`list`]: filters, paging, projections; [`discovery`] and [`schema`]: what is served.
//! - [`PushSource`]: the [`Source`] the engine reads. Its whole roster is never complete:
//!   absence removes nobody, only `active: false` or a DELETE (a tombstone, read as
//!   inactive) does, through the targeted runs of pushed people (`read_person`, whole for
//!   the person asked for).
//!
//! The store sits above the sources (it keeps their snapshots), so this module never names
//! it: the engine hands the source a [`Journal`] (the store's push inbox) once it is open.

pub mod discovery;
pub mod error;
pub mod http;
pub mod list;
pub mod patch;
pub mod path;
pub mod pulled;
pub mod resource;
pub mod schema;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use secrecy::SecretString;

use super::person::PersonQuery;
use super::{Source, SourceError};
use crate::model::{Person, Roster};
use resource::{Kind, Stored};
pub use store::Resources;

/// Why a push source's roster is never complete (the run summary says it).
pub const NEVER_COMPLETE: &str = "push source: absence never removes anyone; only active:false or DELETE does";

/// The default bound on a request body (`source.push.max_body_bytes`): a Group Push of a
/// few thousand members fits.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// `source.push`, validated.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// The bearer token the identity provider sends (`token_file` / `token_env`).
    pub token: SecretString,
    pub max_body_bytes: usize,
    /// The SCIM base URL as the identity provider reaches it (behind TLS), for
    /// `meta.location`; when unset it is made from the request's `Host`.
    pub public_url: Option<String>,
}

/// Where accepted changes are journaled: the store's push inbox. `record` must make the
/// change durable (with everything written to `db` before it) before it returns.
pub trait Journal: Send + Sync {
    fn db(&self) -> &sled::Db;
    fn record(&self, person_id: &str, deactivates: bool) -> Result<(), JournalError>;
}

/// The journal (the store) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("push store: {0}; check the state_dir's disk and permissions")]
pub struct JournalError(pub String);

/// The service provider's state, shared by its HTTP handlers.
#[derive(Debug)]
pub struct Provider {
    pub settings: PushSettings,
    pub resources: Resources,
}

impl Provider {
    pub fn new(settings: PushSettings, journal: Arc<dyn Journal>) -> Result<Arc<Provider>, JournalError> {
        Ok(Arc::new(Provider { settings, resources: Resources::open(journal)? }))
    }
}

/// The push source: reads the pushed resources once the engine attached the store.
#[derive(Debug)]
pub struct PushSource {
    settings: PushSettings,
    resources: OnceLock<Resources>,
}

impl PushSource {
    pub fn new(settings: PushSettings) -> PushSource {
        PushSource { settings, resources: OnceLock::new() }
    }

    pub fn settings(&self) -> &PushSettings {
        &self.settings
    }

    fn resources(&self) -> Result<&Resources, SourceError> {
        self.resources.get().ok_or_else(|| SourceError::Settings {
            message: "source.push: the store is not open yet (the engine attaches it); this is a bug, please report it"
                .into(),
        })
    }

    /// The pushed User with this id as a person (a tombstone as inactive), if any.
    pub(crate) fn pushed_person(&self, id: &str) -> Result<Option<Person>, SourceError> {
        Ok(self.resources()?.get(Kind::User, id).map_err(store_failed)?.as_ref().and_then(person_of))
    }

    /// Every pushed User as a person (tombstones as inactive), without their groups.
    pub(crate) fn pushed_people(&self) -> Result<Vec<Person>, SourceError> {
        Ok(self.resources()?.all(Kind::User).map_err(store_failed)?.iter().filter_map(person_of).collect())
    }

    /// Every pushed User as a person (tombstones as inactive), groups from the Groups.
    fn roster(&self) -> Result<Roster, SourceError> {
        let resources = self.resources()?;
        let users = resources.all(Kind::User).map_err(store_failed)?;
        let groups = resources.all(Kind::Group).map_err(store_failed)?;
        let mut people: Vec<Person> = users.iter().filter_map(person_of).collect();
        let listed: Vec<crate::source::scim::ListedGroup> =
            groups.iter().filter(|g| !g.deleted).map(group_of).collect();
        crate::source::scim::assign_listed_groups(&mut people, &listed);
        Ok(Roster { people, complete: false, incomplete_reason: Some(NEVER_COMPLETE.into()) })
    }
}

fn store_failed(e: error::ScimError) -> SourceError {
    SourceError::Io { path: "source.push (the store under state_dir)".into(), detail: e.to_string() }
}

/// A stored User as the SCIM source reads a User; a tombstone is an inactive person.
fn person_of(stored: &Stored) -> Option<Person> {
    let mut body = stored.body.clone();
    if stored.deleted {
        body.insert("active".into(), serde_json::Value::Bool(false));
    }
    match crate::source::scim::person_of_resource(serde_json::Value::Object(body)) {
        Ok(person) => Some(person),
        Err(e) => {
            tracing::warn!(error = %e, "source.push: a stored User cannot be read as a person; skipped");
            None
        }
    }
}

fn group_of(stored: &Stored) -> crate::source::scim::ListedGroup {
    crate::source::scim::ListedGroup {
        id: stored.id().to_string(),
        name: stored.unique_name(Kind::Group).into(),
        members: stored.member_ids().into_iter().map(Into::into).collect(),
    }
}

#[async_trait]
impl Source for PushSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        self.roster()
    }

    /// The store holds every pushed person, so the answer for one query is whole: the person
    /// (tombstones as inactive) or nobody. Unlike the whole roster, this read is complete;
    /// the engine's targeted runs plan the people found alone, so absence still removes
    /// nobody, while an explicit deactivation goes through (and through the burst guard).
    async fn read_person(&self, query: &PersonQuery) -> Result<Roster, SourceError> {
        let resources = self.resources()?;
        let stored = resources.get(Kind::User, query.as_str()).map_err(store_failed)?;
        let mut people = match stored.as_ref().and_then(person_of) {
            Some(person) => vec![person],
            // Not an id: by the other keys (external id, user name, e-mail).
            None => query.pick(self.roster()?).people,
        };
        let groups = resources.all(Kind::Group).map_err(store_failed)?;
        let listed: Vec<_> = groups.iter().filter(|g| !g.deleted).map(group_of).collect();
        crate::source::scim::assign_listed_groups(&mut people, &listed);
        Ok(Roster::complete(people))
    }

    fn attach_journal(&self, journal: Arc<dyn Journal>) {
        match Resources::open(journal) {
            Ok(resources) => {
                let _ = self.resources.set(resources);
            }
            Err(e) => tracing::error!(error = %e, "source.push: cannot open the pushed resources"),
        }
    }

    fn describe(&self) -> String {
        "push (SCIM service provider at /scim/v2)".into()
    }
}
