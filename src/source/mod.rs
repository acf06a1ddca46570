//! Identity sources: where the authoritative roster comes from (SCIM or a file), behind one small trait.
//!
//! A source reads the whole roster and says whether the read was complete. Only a complete
//! roster may remove access, so a source never hands back a short list as if it were whole:
//! a read that fails part-way is an *incomplete* roster, and only a read that yields nothing
//! usable is an error.

pub mod entra;
pub mod file;
pub mod google;
pub mod incremental;
pub mod jwt;
pub mod ldap;
pub mod okta;
pub mod person;
pub mod provider;
pub mod push;
pub mod scim;
pub mod snapshot;
pub mod token;

use async_trait::async_trait;

use crate::model::Roster;

/// The identity source `rosterd demo --source` reads: the demo roster file, or the same
/// people served by a source kind's emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoSource {
    /// The example roster file.
    #[default]
    File,
    /// The same people served by an emulated Okta org.
    Okta,
    /// The same people served by an emulated Google Workspace domain.
    Google,
    /// The same people served by an emulated Entra ID tenant (Microsoft Graph).
    Entra,
}

/// An identity source, as the reconcile run uses it.
#[async_trait]
pub trait Source: Send + Sync {
    /// Read the whole roster. A read that fails part-way returns an *incomplete* roster
    /// (never a short complete one); only a read that yields nothing usable is an Err.
    async fn read(&self) -> Result<Roster, SourceError>;

    /// Read the roster, keeping what an incremental read needs in `memory` (a snapshot of
    /// the last read). Sources that cannot read incrementally read in full.
    async fn read_with(&self, memory: &dyn snapshot::SnapshotStore) -> Result<Roster, SourceError> {
        let _ = memory;
        self.read().await
    }

    /// The people `query` matches (normally one), with the completeness of the read that
    /// found them. Sources that cannot ask for one person read the whole roster and pick.
    async fn read_person(&self, query: &person::PersonQuery) -> Result<Roster, SourceError> {
        Ok(query.pick(self.read().await?))
    }

    /// The people with these source ids (the people an identity provider pushed), and the
    /// ids the source does not know. Sources whose ids are not the pushed ones (a pulled
    /// roster with pushes beside it) translate them.
    async fn read_people(&self, ids: &[String]) -> Result<(Roster, Vec<String>), SourceError> {
        person::read_by_ids(self, ids).await
    }

    /// The store's push inbox, handed over by the engine once the store is open: the push
    /// source keeps its resources there. Other sources have no use for it.
    fn attach_journal(&self, journal: std::sync::Arc<dyn push::Journal>) {
        let _ = journal;
    }

    /// A short description for logs and the run summary (never a secret), e.g. "SCIM https://idp/scim/v2".
    fn describe(&self) -> String;
}

/// Why a source yielded nothing usable. Each message says where (the page and its
/// `startIndex`, or the file and its line) and what to do next; none carries a secret or a
/// URL with credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source refused the credentials (HTTP 401 or 403).
    #[error("{at}: HTTP {status}, credentials refused: {detail}; check the SCIM source's token (or user name and password) and that it may read Users and Groups")]
    Auth { at: String, status: u16, detail: String },
    /// The request never got an answer (connect error, time-out, reset), after retries.
    #[error("{at}: no answer ({detail}); check the SCIM source url and the network, the next run will try again")]
    Transport { at: String, detail: String },
    /// The source answered with an HTTP error status, after retries for the transient ones.
    #[error("{at}: HTTP {status}: {detail}; check the SCIM source url and the identity provider's status")]
    Status { at: String, status: u16, detail: String },
    /// The answer could not be understood: it never reads as "no users".
    #[error(
        "{at}: malformed answer: {detail}; check that the url is the SCIM base (e.g. https://idp.example.com/scim/v2)"
    )]
    Malformed { at: String, detail: String },
    /// Group memberships could not be read whole: scope and roles depend on them.
    #[error("{detail}; group memberships decide scope and roles, so nothing is changed until /Groups reads whole")]
    Groups { detail: String },
    /// A roster file could not be read at all.
    #[error("{path}: cannot read the roster file: {detail}; check the path and its permissions")]
    Io { path: String, detail: String },
    /// A roster file is wrong at a place (`roster.csv line 4`, `roster.yaml people[3]`).
    #[error("{at}: {message}; fix the roster file and run again")]
    File { at: String, message: String },
    /// The source's settings cannot work.
    #[error("source settings: {message}")]
    Settings { message: String },
    /// An identity provider (an LDAP directory, Okta, Google Workspace, Entra ID) failed a
    /// read or refused rosterd: where, what, and what to do next in that provider's terms.
    #[error(transparent)]
    Provider(#[from] provider::ProviderError),
}

impl SourceError {
    /// A bounded label for metrics and summaries.
    pub fn label(&self) -> &'static str {
        match self {
            SourceError::Auth { .. } => "auth",
            SourceError::Transport { .. } => "transport",
            SourceError::Status { .. } => "http_status",
            SourceError::Malformed { .. } => "malformed",
            SourceError::Groups { .. } => "groups",
            SourceError::Io { .. } => "io",
            SourceError::File { .. } => "file",
            SourceError::Settings { .. } => "settings",
            SourceError::Provider(e) => e.label,
        }
    }

    /// Whether a provider refused rosterd's credentials (or their permissions).
    pub fn is_refused(&self) -> bool {
        matches!(self, SourceError::Provider(e) if e.is_refused())
    }
}
