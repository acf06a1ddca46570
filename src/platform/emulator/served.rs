//! The state every kind's emulator serves, generic over the kind: what it starts with (a key,
//! the accounts it already holds, a page cap and the kind's own options), the store behind a
//! mutex, the fault script, and the inspection every kind offers (its users, one by login,
//! seeding one, counting listings). A kind writes only what is its own: its options, its
//! store and account types, its router and handlers.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;

use super::{boxed, DemoSeed, Emulated, EmulatedAccount, Emulator, EmulatorState};
use crate::sandbox::faults::Faults;
use crate::sandbox::page_cap::PageCap;

/// One account as a kind's emulator stores it.
pub trait Held: Clone + Debug + Send + 'static {
    /// The account as tests that check every kind alike see it; its `key` is the login the
    /// emulator matches without regard to case (email, user name or `userName`).
    fn emulated(&self) -> EmulatedAccount;
    /// Whether a listing returns it (a soft-deleted Client Toolbox user is not listed).
    fn listed(&self) -> bool {
        true
    }
    /// Whether it can still sign in, judged by the kind's own means of removal.
    fn has_access(&self) -> bool {
        self.emulated().can_sign_in
    }
}

/// The mutable part of a kind's emulator: its accounts, in a stable listing order, and
/// whatever the kind records besides.
pub trait Roster: Debug + Default + Send + 'static {
    /// The account type.
    type User: Held;
    /// Store `user`, assigning what the kind assigns on creation (ids, stamps, secrets).
    fn insert(&mut self, user: Self::User) -> Self::User;
    /// Every account, in listing order.
    fn users(&self) -> impl Iterator<Item = &Self::User>;

    /// Refuse with `taken()` when an account other than those `is_self` picks holds `login`
    /// (compared trimmed, without regard to case), as every kind refuses a duplicate login.
    fn ensure_free<E>(
        &self,
        login: &str,
        is_self: impl Fn(&Self::User) -> bool,
        taken: impl FnOnce() -> E,
    ) -> Result<(), E> {
        let wanted = login.trim().to_lowercase();
        match self.users().any(|u| !is_self(u) && u.emulated().key.trim().to_lowercase() == wanted) {
            true => Err(taken()),
            false => Ok(()),
        }
    }
}

/// Give `id` the next free number, `first` or above, when it is 0 (ask for one); either way
/// keep `next` past every id held, so seeded ids and assigned ones never clash. The id.
pub fn number(next: &mut u64, id: &mut u64, first: u64) -> u64 {
    if *id == 0 {
        *id = (*next).max(first);
    }
    *next = (*next).max(*id + 1);
    *id
}

/// An account an emulator numbers (CAKE, AgencyAnalytics, FileSpin): what a new one is given.
pub trait Numbered: Held {
    /// What the kind's store records beside its accounts (requests, writes, stamps).
    type Log: Debug + Default + Send + 'static;
    /// Give a new account its id ([`number`] from `next_id`) and whatever else the kind
    /// assigns on creation; the id.
    fn assign(&mut self, next_id: &mut u64, log: &mut Self::Log) -> u64;
}

/// The store of a kind whose accounts are numbered: the accounts by id, so listings come back
/// in a stable order, and the kind's log.
#[derive(Debug)]
pub struct NumberedStore<U: Numbered> {
    pub users: BTreeMap<u64, U>,
    next_id: u64,
    pub log: U::Log,
}

impl<U: Numbered> Default for NumberedStore<U> {
    fn default() -> Self {
        NumberedStore { users: BTreeMap::new(), next_id: 0, log: U::Log::default() }
    }
}

impl<U: Numbered> Roster for NumberedStore<U> {
    type User = U;

    fn users(&self) -> impl Iterator<Item = &U> {
        self.users.values()
    }

    fn insert(&mut self, mut user: U) -> U {
        let id = user.assign(&mut self.next_id, &mut self.log);
        self.users.insert(id, user.clone());
        user
    }
}

/// How a kind is served: one row of the emulators' table.
pub struct Serve<K: Kind> {
    /// The loopback server's name, for its log lines.
    pub name: &'static str,
    /// The base path the connector is pointed at (`/` but for SCIM).
    pub path: &'static str,
    /// The kind's routes over its shared state.
    pub router: fn(Arc<Served<K>>) -> axum::Router,
    /// The fault names of the routes that write (create, update, remove), for `write_calls`.
    pub write_routes: &'static [&'static str],
    /// The most accounts one listing call returns with rosterd's default page size.
    pub largest_page: usize,
}

impl<K: Kind> Serve<K> {
    /// Served at `/`.
    pub const fn new(
        name: &'static str,
        router: fn(Arc<Served<K>>) -> axum::Router,
        write_routes: &'static [&'static str],
        largest_page: usize,
    ) -> Self {
        Serve { name, path: "/", router, write_routes, largest_page }
    }

    /// Served under `path`.
    pub const fn under(self, path: &'static str) -> Self {
        Serve { path, ..self }
    }
}

/// What one kind's emulator is: its options type implements this.
pub trait Kind: Debug + Send + Sync + Sized + 'static {
    /// The mutable part of the emulator.
    type Store: Roster;
    /// How it is served.
    const SERVE: Serve<Self>;
    /// The most accounts one listing call returns with rosterd's default page size, where the
    /// options can change it.
    fn largest_page(&self) -> usize {
        Self::SERVE.largest_page
    }
}

/// The account type of kind `K`.
pub type UserOf<K> = <<K as Kind>::Store as Roster>::User;

/// What a kind's emulator starts with: the key rosterd authenticates with, the accounts it
/// already holds, the page cap, and the kind's own options `K` (read through `Deref`).
#[derive(Debug, Clone)]
pub struct Seed<U, K> {
    pub api_key: String,
    pub users: Vec<U>,
    /// At most this many records a listing page, whatever the request asks (a real server's cap).
    pub page_cap: PageCap,
    pub kind: K,
}

impl<U, K> Seed<U, K> {
    /// No accounts, no page cap.
    pub fn new(api_key: &str, kind: K) -> Self {
        Seed { api_key: api_key.into(), users: Vec::new(), page_cap: PageCap::None, kind }
    }

    pub fn with_user(mut self, user: U) -> Self {
        self.users.push(user);
        self
    }

    pub fn with_users(mut self, users: impl IntoIterator<Item = U>) -> Self {
        self.users.extend(users);
        self
    }

    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_key = key.into();
        self
    }

    /// Serve listing pages no larger than `cap` allows, as a server that caps page sizes does.
    pub fn with_page_cap(mut self, cap: PageCap) -> Self {
        self.page_cap = cap;
        self
    }
}

impl<U, K> Deref for Seed<U, K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.kind
    }
}

impl<U, K> DerefMut for Seed<U, K> {
    fn deref_mut(&mut self) -> &mut K {
        &mut self.kind
    }
}

/// Everything one kind's handlers share (its options read through `Deref`).
#[derive(Debug)]
pub struct Served<K: Kind> {
    pub api_key: String,
    /// The page-size cap of [`crate::sandbox::page_cap`].
    pub page_cap: PageCap,
    pub options: K,
    // A std Mutex: handlers are synchronous once past the fault script, never await holding it.
    store: Mutex<K::Store>,
    pub faults: Faults,
    /// The query of every authenticated listing, for the kinds that log them.
    listings: Mutex<Vec<BTreeMap<String, String>>>,
}

impl<K: Kind> Served<K> {
    /// The state `seed` describes, its accounts inserted in order.
    pub fn new(seed: Seed<UserOf<K>, K>) -> Self {
        let mut store = K::Store::default();
        for user in seed.users {
            store.insert(user);
        }
        Served {
            api_key: seed.api_key,
            page_cap: seed.page_cap,
            options: seed.kind,
            store: Mutex::new(store),
            faults: Faults::new(),
            listings: Mutex::default(),
        }
    }

    /// The store; a handler that panicked while holding it leaves it as it was.
    pub fn lock(&self) -> MutexGuard<'_, K::Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Log an authenticated listing's query (its parameters, the key left out).
    pub fn log_listing<'a>(&self, query: impl IntoIterator<Item = (&'a String, &'a String)>) {
        let query = query.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.listings.lock().unwrap_or_else(PoisonError::into_inner).push(query);
    }
}

impl<K: Kind> Deref for Served<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.options
    }
}

impl<K: Kind> EmulatorState for Served<K> {
    const WRITE_ROUTES: &'static [&'static str] = K::SERVE.write_routes;

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn key(&self) -> &str {
        &self.api_key
    }

    fn listed(&self) -> usize {
        self.lock().users().filter(|u| u.listed()).count()
    }

    fn with_access(&self) -> usize {
        self.lock().users().filter(|u| u.has_access()).count()
    }

    fn accounts(&self) -> Vec<EmulatedAccount> {
        self.lock().users().map(Held::emulated).collect()
    }

    fn largest_page(&self) -> usize {
        self.options.largest_page()
    }
}

impl<K: Kind> Emulated<Served<K>> {
    /// Bind a free loopback port and serve what `seed` describes.
    pub async fn start(seed: Seed<UserOf<K>, K>) -> std::io::Result<Self> {
        Emulated::launch(Served::new(seed), K::SERVE.router, K::SERVE.name, K::SERVE.path).await
    }

    /// A snapshot of every account, in listing order, secrets included.
    pub fn users(&self) -> Vec<UserOf<K>> {
        self.state().lock().users().cloned().collect()
    }

    /// The account with this login (without regard to case), if any.
    pub fn user_by_login(&self, login: &str) -> Option<UserOf<K>> {
        let wanted = login.trim().to_lowercase();
        self.state().lock().users().find(|u| u.emulated().key.to_lowercase() == wanted).cloned()
    }

    /// Seed a pre-existing account (an admin, one rosterd never created). Not validated, so
    /// tests can also seed states the API would refuse.
    pub fn insert_user(&self, user: UserOf<K>) -> UserOf<K> {
        self.state().lock().insert(user)
    }

    /// Listing requests received, faulted or not.
    pub fn list_calls(&self) -> usize {
        self.state().faults.count("list")
    }

    /// The query of every authenticated listing, oldest first, where the kind logs them
    /// ([`Served::log_listing`]).
    pub fn list_queries(&self) -> Vec<BTreeMap<String, String>> {
        self.state().listings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Start kind `K`'s emulator with its default options, listing pages no larger than `cap`
/// allows: every kind's [`super::EmulatorSpec::start`].
pub fn start_capped<K: Kind>(cap: PageCap) -> BoxFuture<'static, std::io::Result<Box<dyn Emulator>>>
where
    Seed<UserOf<K>, K>: Default,
{
    boxed(Emulated::<Served<K>>::start(Seed::default().with_page_cap(cap)))
}

/// Start kind `K`'s emulator with its default options.
fn start_default<K: Kind>() -> BoxFuture<'static, std::io::Result<Box<dyn Emulator>>>
where
    Seed<UserOf<K>, K>: Default,
{
    start_capped::<K>(PageCap::None)
}

impl DemoSeed {
    /// Kind `K` in the demo as its default options have it: `label`, its key file and its
    /// `platforms:` entry.
    pub const fn of<K: Kind>(label: &'static str, key_file: &'static str, entry: &'static str) -> Self
    where
        Seed<UserOf<K>, K>: Default,
    {
        DemoSeed { label, key_file, entry, start: start_default::<K> }
    }
}
