//! Push beside a pull source (`source:` with `push` and one of `scim`, `okta`, `entra`,
//! `google`, `ldap`, `file`): the pulled roster is the truth of who exists and in what
//! scope; pushes make rosterd look at the people they name at once, and what the identity
//! provider pushed as an explicit deactivation (`active: false`, a DELETE) stands.
//!
//! Person ids stay the pull source's (the links are keyed by them, so a pushed change never
//! makes a twin): a pushed User is matched to the pulled person with the same `userName`
//! (case-insensitive), or whose id or `externalId` is the pushed `externalId`. A pushed
//! person the pull source does not have is skipped: pulling decides the scope.
//!
//! Why deactivation wins: an identity provider that pushes `active: false` has said this
//! person must lose access now; a pull read of a directory whose scope is wider than the
//! app's assignment would otherwise give it back at the next scheduled run. A pushed
//! `active: true` (a reactivation) lifts it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Journal, PushSource};
use crate::model::{Person, Roster};
use crate::source::person::{self, PersonQuery};
use crate::source::snapshot::SnapshotStore;
use crate::source::{Source, SourceError};

/// A pull source with an identity provider's pushes beside it.
pub struct PushedOverPull {
    pull: Box<dyn Source>,
    push: PushSource,
}

impl PushedOverPull {
    pub fn new(pull: Box<dyn Source>, push: PushSource) -> PushedOverPull {
        PushedOverPull { pull, push }
    }

    /// Mark inactive every pulled person the identity provider pushed as inactive.
    fn overlay(&self, mut roster: Roster) -> Result<Roster, SourceError> {
        let pushed = Pushed::index(self.push.pushed_people()?);
        for person in &mut roster.people {
            if pushed.find(person).is_some_and(|p| !p.active) {
                person.active = false;
            }
        }
        Ok(roster)
    }
}

/// The pushed people, by the keys a pulled person is matched on.
struct Pushed {
    people: Vec<Person>,
    by_user_name: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
}

impl Pushed {
    fn index(people: Vec<Person>) -> Pushed {
        let mut by_user_name = HashMap::new();
        let mut by_external_id = HashMap::new();
        for (i, p) in people.iter().enumerate() {
            by_user_name.insert(p.user_name.as_str().to_lowercase(), i);
            if let Some(ext) = &p.external_id {
                by_external_id.insert(ext.to_string(), i);
            }
        }
        Pushed { people, by_user_name, by_external_id }
    }

    /// The pushed person who is this pulled person.
    fn find(&self, pulled: &Person) -> Option<&Person> {
        let by_ext = |key: &str| self.by_external_id.get(key);
        let i = self
            .by_user_name
            .get(&pulled.user_name.as_str().to_lowercase())
            .or_else(|| by_ext(pulled.id.as_str()))
            .or_else(|| pulled.external_id.as_deref().and_then(by_ext))?;
        self.people.get(*i)
    }
}

/// Whether the pulled person is the one pushed.
fn same_person(pulled: &Person, pushed: &Person) -> bool {
    pulled.user_name.eq_ignore_ascii_case(&pushed.user_name)
        || pushed
            .external_id
            .as_deref()
            .is_some_and(|ext| pulled.id == ext || pulled.external_id.as_deref() == Some(ext))
}

#[async_trait]
impl Source for PushedOverPull {
    async fn read(&self) -> Result<Roster, SourceError> {
        self.overlay(self.pull.read().await?)
    }

    async fn read_with(&self, memory: &dyn SnapshotStore) -> Result<Roster, SourceError> {
        self.overlay(self.pull.read_with(memory).await?)
    }

    async fn read_person(&self, query: &PersonQuery) -> Result<Roster, SourceError> {
        self.overlay(self.pull.read_person(query).await?)
    }

    /// Pushed ids are the service provider's: each is looked up among the pushed Users, then
    /// found at the pull source by user name; the people come back with their pulled ids.
    /// Other ids (a held push run's people, approved) are the pull source's own.
    async fn read_people(&self, ids: &[String]) -> Result<(Roster, Vec<String>), SourceError> {
        let mut pushed: Vec<(String, Person)> = Vec::new();
        let mut pulled_ids = Vec::new();
        for id in ids.iter().collect::<BTreeSet<_>>() {
            match self.push.pushed_person(id)? {
                Some(p) => pushed.push((id.clone(), p)),
                None => pulled_ids.push(id.clone()),
            }
        }
        let (by_pulled_id, mut unknown) = match pulled_ids.is_empty() {
            true => (Roster::complete(Vec::new()), Vec::new()),
            false => person::read_by_ids(self.pull.as_ref(), &pulled_ids).await?,
        };
        let mut reads = Vec::new();
        if pushed.len() > person::READ_ONE_BY_ONE {
            reads.push(self.pull.read().await?);
        } else {
            for query in pushed.iter().filter_map(|(_, p)| PersonQuery::new(&p.user_name)) {
                reads.push(self.pull.read_person(&query).await?);
            }
        }
        let wanted: BTreeSet<&str> = pushed.iter().map(|(id, _)| id.as_str()).collect();
        let pushed_id_of =
            |pulled: &Person| pushed.iter().find(|(_, p)| same_person(pulled, p)).map(|(id, _)| id.clone());
        let (mut roster, missing) = person::gather(reads, &wanted, pushed_id_of);
        unknown.extend(missing);
        roster.people.extend(by_pulled_id.people);
        if let (None, Some(reason)) = (&roster.incomplete_reason, by_pulled_id.incomplete_reason) {
            roster.complete = false;
            roster.incomplete_reason = Some(reason);
        }
        Ok((self.overlay(roster)?, unknown))
    }

    fn attach_journal(&self, journal: Arc<dyn Journal>) {
        self.push.attach_journal(journal)
    }

    fn describe(&self) -> String {
        format!("{}, with pushes at /scim/v2", self.pull.describe())
    }
}
