//! What the registry knows of each kind's strict loopback emulator, so that the demo, the
//! loopback launcher, the fault matrix, the call-count tests and the benchmarks can run the
//! same scenario on every kind without naming one. Compiled with the `sandbox` feature.

use std::any::Any;
use std::fmt::Debug;

use futures::future::BoxFuture;

use crate::sandbox::faults::Faults;
use crate::sandbox::page_cap::PageCap;

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
    /// The most accounts one listing call returns with rosterd's default page size.
    fn largest_page(&self) -> usize;
    /// The concrete emulator, for a test that seeds something only one kind has.
    fn as_any(&self) -> &dyn Any;
    /// Stop serving.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
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
    /// Reads every run needs beyond the listing (CAKE's role names, SCIM's
    /// ServiceProviderConfig).
    pub reads_per_run: usize,
    /// Reads one removal needs (Affise reads the permissions it denies).
    pub reads_per_removal: usize,
    /// Write requests one removal takes (three for the Affise lock-out).
    pub writes_per_removal: usize,
    /// How the kind appears in `rosterd demo`.
    pub demo: DemoSeed,
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
