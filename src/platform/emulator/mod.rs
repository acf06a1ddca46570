//! What the registry knows of each kind's strict loopback emulator, so that the demo, the
//! loopback launcher, the fault matrix, the call-count tests and the benchmarks can run the
//! same scenario on every kind without naming one. Compiled with the `sandbox` feature.

mod patch;
mod served;

pub use patch::PersonPatch;
pub use served::{number, start_capped, Held, Kind, Numbered, NumberedStore, Roster, Seed, Serve, Served, UserOf};

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::BoxFuture;

use crate::sandbox::faults::{Faults, Injected};
use crate::sandbox::page_cap::PageCap;
use crate::sandbox::reply::{Failure, Wording};
use crate::sandbox::server::LoopbackServer;

/// A running emulator, whatever its kind.
pub trait Emulator: Send + Sync + Debug {
    /// The fault script, rate limit and request counts of the emulator.
    fn faults(&self) -> &Faults;
    /// Where the emulator listens.
    fn base_url(&self) -> url::Url;
    /// The key rosterd authenticates with (the content of its key file).
    fn key(&self) -> String;
    /// Write requests received: creates, updates, removals (each Affise lock-out step is one).
    fn write_calls(&self) -> usize;
    /// How many accounts a listing returns now.
    fn listed(&self) -> usize;
    /// Accounts that can still sign in, judged by the kind's own means of removal.
    fn with_access(&self) -> usize;
    /// Every account the emulator holds, in listing order, whatever the kind.
    fn accounts(&self) -> Vec<EmulatedAccount>;
    /// The most accounts one listing call returns with rosterd's default page size.
    fn largest_page(&self) -> usize;
    /// The concrete emulator, for a test that seeds something only one kind has.
    fn as_any(&self) -> &dyn Any;
    /// Stop serving.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// One account as any kind's emulator holds it, for tests that check every kind alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedAccount {
    /// The kind's unique login: email, user name or SCIM `userName`.
    pub key: String,
    /// The given (first) name.
    pub given_name: String,
    /// Whether the account can still sign in (not disabled, denied or deleted).
    pub can_sign_in: bool,
}

impl EmulatedAccount {
    pub fn new(key: &str, given_name: &str, can_sign_in: bool) -> Self {
        EmulatedAccount { key: key.to_string(), given_name: given_name.to_string(), can_sign_in }
    }
}

/// Starts an emulator of one kind.
pub type Start = fn(PageCap) -> BoxFuture<'static, std::io::Result<Box<dyn Emulator>>>;

/// A kind's emulator, as the registry carries it.
#[derive(Debug)]
pub struct EmulatorSpec {
    /// Start it with its default options, listing pages no larger than the cap allows.
    pub start: Start,
    /// The keys a test's `platforms:` entry needs beyond name, kind, base_url and
    /// api_key_file to put everyone in scope with one role (indented YAML lines).
    pub test_entry: &'static str,
    /// How the platform spends calls and removes accounts, where it differs from the usual.
    pub habits: Habits,
    /// How the kind appears in `rosterd demo`.
    pub demo: DemoSeed,
}

/// How a platform spends calls and removes accounts, as the call-count and fault tests
/// expect it; most kinds are [`Habits::USUAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Habits {
    /// Reads every run needs beyond the listing (CAKE's role names, SCIM's
    /// ServiceProviderConfig).
    pub reads_per_run: usize,
    /// Reads one removal needs (Affise reads the permissions it denies).
    pub reads_per_removal: usize,
    /// Write requests one removal takes (three for the Affise lock-out).
    pub writes_per_removal: usize,
    /// A removal deletes the account for good (AgencyAnalytics), so it leaves no trace.
    pub removes_by_deleting: bool,
    /// The vendor fixes the page size (FileSpin's 30): `page_size` cannot be set.
    pub fixed_page_size: Option<usize>,
}

impl Habits {
    /// No reads beyond the listing, one write per removal that leaves the account disabled,
    /// a page size rosterd may choose.
    pub const USUAL: Habits = Habits {
        reads_per_run: 0,
        reads_per_removal: 0,
        writes_per_removal: 1,
        removes_by_deleting: false,
        fixed_page_size: None,
    };
}

/// One kind's part of `rosterd demo`.
#[derive(Debug)]
pub struct DemoSeed {
    /// The platform's short name in the demo's listing; its entry's URL placeholder is
    /// `{<label>_url}`.
    pub label: &'static str,
    /// The key file the entry names, written beside the demo's config.
    pub key_file: &'static str,
    /// The demo's `platforms:` entry for this kind (YAML).
    pub entry: &'static str,
    /// Start the emulator as the demo finds it (CAKE already holds three accounts).
    pub start: fn() -> BoxFuture<'static, std::io::Result<Box<dyn Emulator>>>,
}

/// What one kind's emulator state tells the rest of the emulator; the server, its address,
/// its shutdown and the [`Emulator`] forwarding are the same for every kind ([`Emulated`]).
pub trait EmulatorState: Send + Sync + Debug + 'static {
    /// The fault names of the routes that write (create, update, remove), for `write_calls`.
    const WRITE_ROUTES: &'static [&'static str];
    /// The fault script, rate limit and request counts.
    fn faults(&self) -> &Faults;
    /// The key rosterd authenticates with.
    fn key(&self) -> &str;
    /// How many accounts a listing returns now.
    fn listed(&self) -> usize;
    /// Every account held, in listing order.
    fn accounts(&self) -> Vec<EmulatedAccount>;
    /// Accounts that can still sign in.
    fn with_access(&self) -> usize {
        self.accounts().iter().filter(|account| account.can_sign_in).count()
    }
    /// The most accounts one listing call returns with rosterd's default page size.
    fn largest_page(&self) -> usize;
}

/// A running emulator of one kind on `127.0.0.1`, serving its state `S`; stops when shut
/// down or dropped. Each kind names it (`CakeSandbox = Emulated<…>`) and adds its own
/// seeding and inspection methods.
#[derive(Debug)]
pub struct Emulated<S> {
    state: Arc<S>,
    base_url: url::Url,
    server: LoopbackServer,
}

impl<S: EmulatorState> Emulated<S> {
    /// Bind a free loopback port and serve `router(state)`; the base URL is `path` on it.
    pub async fn launch(
        state: S,
        router: fn(Arc<S>) -> axum::Router,
        name: &'static str,
        path: &str,
    ) -> std::io::Result<Self> {
        let state = Arc::new(state);
        let server = LoopbackServer::start(router(state.clone()), name).await?;
        let base_url = server.url(path)?;
        Ok(Emulated { state, base_url, server })
    }

    /// Where the emulator listens (for SCIM, its `/scim/v2` base).
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The key rosterd authenticates with.
    pub fn api_key(&self) -> &str {
        self.state.key()
    }

    /// The fault script, rate limit and request counts.
    pub fn faults(&self) -> &Faults {
        self.state.faults()
    }

    /// Write requests received (creates, updates, removals), faulted or not.
    pub fn write_calls(&self) -> usize {
        S::WRITE_ROUTES.iter().map(|route| self.state.faults().count(route)).sum()
    }

    /// The kind's state, for its own inspection methods.
    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// Stop serving: graceful for a second, then abandoned.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl<S: EmulatorState> Emulator for Emulated<S> {
    fn faults(&self) -> &Faults {
        self.state.faults()
    }

    fn base_url(&self) -> url::Url {
        Emulated::base_url(self)
    }

    fn key(&self) -> String {
        self.state.key().to_string()
    }

    fn write_calls(&self) -> usize {
        Emulated::write_calls(self)
    }

    fn listed(&self) -> usize {
        self.state.listed()
    }

    fn with_access(&self) -> usize {
        self.state.with_access()
    }

    fn accounts(&self) -> Vec<EmulatedAccount> {
        self.state.accounts()
    }

    fn largest_page(&self) -> usize {
        self.state.largest_page()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Emulated::shutdown(*self))
    }
}

/// Box an emulator's start for the registry (`EmulatorSpec::start`, `DemoSeed::start`).
pub fn boxed<E, F>(starting: F) -> BoxFuture<'static, std::io::Result<Box<dyn Emulator>>>
where
    E: Emulator + 'static,
    F: std::future::Future<Output = std::io::Result<E>> + Send + 'static,
{
    Box::pin(async move { Ok(Box::new(starting.await?) as Box<dyn Emulator>) })
}

/// An emulator `E` with an HTTP client to call it, for the emulators' own unit tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct TestClient<E> {
    pub(crate) http: reqwest::Client,
    pub(crate) sandbox: E,
}

#[cfg(test)]
impl<E> TestClient<E> {
    pub(crate) fn new(sandbox: E) -> Self {
        TestClient { http: reqwest::Client::new(), sandbox }
    }
}

/// Serve one request of `route`: the fault script first, then `handle` with the state and
/// what the script injected (the handlers of every kind are this and one call).
pub async fn faulted<S: EmulatorState>(
    state: Arc<S>,
    route: &str,
    handle: impl FnOnce(Arc<S>, Injected) -> axum::response::Response,
) -> axum::response::Response {
    let faults = state.faults().clone();
    faults.run(route, |injected| async move { handle(state, injected) }).await
}

/// The handler of anything outside a kind's contract (a router's fallbacks): `status` with
/// `message`, worded as the kind words its failures (`W`), under the `unknown` fault name.
pub fn outside_contract<S: EmulatorState, W: Wording + Send + 'static>(
    status: StatusCode,
    message: &'static str,
) -> impl Fn(State<Arc<S>>) -> BoxFuture<'static, Response> + Clone + Send + Sync + 'static {
    move |State(state): State<Arc<S>>| -> BoxFuture<'static, Response> {
        Box::pin(async move {
            let faults = state.faults().clone();
            faults.run("unknown", |_| async move { Failure::<W>::new(status, message).into_response() }).await
        })
    }
}

/// `router` answering as a REST API does: 404 `Not found` to any other path, 405 `Method not
/// allowed` to another method on a known one, both under the `unknown` fault name and worded as
/// the kind words its failures (`W`).
pub fn rest_fallbacks<S: EmulatorState, W: Wording + Send + 'static>(router: Router<Arc<S>>) -> Router<Arc<S>> {
    router
        .fallback(outside_contract::<S, W>(StatusCode::NOT_FOUND, "Not found"))
        .method_not_allowed_fallback(outside_contract::<S, W>(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"))
}
