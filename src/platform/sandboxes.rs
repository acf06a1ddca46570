//! Any kind's emulator behind one type, for the tests and benchmarks that run the same
//! scenario on every platform kind: start it from the registry, write its platform entry,
//! count the calls it received. Nothing here names a kind.

use super::emulator::{EmulatedAccount, Emulator};
use super::kind::KindSpec;
use crate::sandbox::faults::Faults;
use crate::sandbox::page_cap::PageCap;

/// Every platform kind, in the order tables list them (the registry's order).
pub fn kinds() -> Vec<&'static str> {
    super::registry::names()
}

/// A running emulator of one kind.
#[derive(Debug)]
pub struct AnySandbox {
    spec: &'static KindSpec,
    emulator: Box<dyn Emulator>,
}

impl AnySandbox {
    /// Start the emulator of `kind` (one of [`kinds`]) with its default options.
    pub async fn start(kind: &str) -> std::io::Result<AnySandbox> {
        AnySandbox::start_capped(kind, PageCap::None).await
    }

    /// Start the emulator of `kind` with its default options, serving listing pages no
    /// larger than `cap` allows (a server that caps page sizes below the request).
    pub async fn start_capped(kind: &str, cap: PageCap) -> std::io::Result<AnySandbox> {
        let spec = super::registry::find(kind)
            .ok_or_else(|| std::io::Error::other(format!("no emulator of kind {kind:?}")))?;
        Ok(AnySandbox { spec, emulator: (spec.sandbox.start)(cap).await? })
    }

    pub fn kind(&self) -> &'static str {
        self.spec.kind
    }

    /// The concrete emulator, when it is of type `T` (a test seeding what one kind has).
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.emulator.as_any().downcast_ref::<T>()
    }

    /// The fault script, rate limit and request counts of the emulator.
    pub fn faults(&self) -> &Faults {
        self.emulator.faults()
    }

    /// Where the emulator listens.
    pub fn base_url(&self) -> url::Url {
        self.emulator.base_url()
    }

    /// The key rosterd authenticates with (the content of its key file).
    pub fn key(&self) -> String {
        self.emulator.key()
    }

    /// A `platforms:` entry named `name` for this emulator, its key in the file `key_file`,
    /// every person in scope with the one role each kind needs; `extra` is appended as is
    /// (indented keys such as `    page_size: 300\n`). Removals run on every kind
    /// (AgencyAnalytics gets `allow_delete: true`).
    pub fn platform_entry(&self, name: &str, key_file: &str, extra: &str) -> String {
        format!(
            "  - name: {name}\n    kind: {}\n    base_url: \"{}\"\n    api_key_file: {key_file}\n{}{extra}",
            self.kind(),
            self.base_url(),
            self.spec.sandbox.test_entry
        )
    }

    /// Listing requests received (SCIM: pages, not `userName` look-ups).
    pub fn list_calls(&self) -> usize {
        self.faults().count("list")
    }

    /// Write requests received: creates, updates, removals (each Affise lock-out step is one).
    pub fn write_calls(&self) -> usize {
        self.emulator.write_calls()
    }

    /// Every request received, on any route.
    pub fn requests(&self) -> usize {
        self.faults().requests()
    }

    /// How many accounts a listing returns now (soft-deleted Client Toolbox users do not list).
    pub fn listed(&self) -> usize {
        self.emulator.listed()
    }

    /// Accounts that can still sign in, each kind judged by its own means of removal.
    pub fn with_access(&self) -> usize {
        self.emulator.with_access()
    }

    /// The most accounts one listing call returns with rosterd's default page size: the
    /// contract's maximum (or the connector's sanity bound where the vendor documents none,
    /// or the SCIM server's announced `maxResults`).
    pub fn largest_page(&self) -> usize {
        self.emulator.largest_page()
    }

    /// Reads every run needs beyond the listing: CAKE's role names (`prepare` resolves
    /// them once a run), the SCIM server's ServiceProviderConfig (PATCH, ETags, page size).
    pub fn reads_per_run(&self) -> usize {
        self.spec.sandbox.habits.reads_per_run
    }

    /// Reads one removal needs: the Affise lock-out denies the permissions "read one"
    /// shows (the listing does not carry them).
    pub fn reads_per_removal(&self) -> usize {
        self.spec.sandbox.habits.reads_per_removal
    }

    /// Write requests one removal takes: three for the Affise lock-out, else one.
    pub fn writes_per_removal(&self) -> usize {
        self.spec.sandbox.habits.writes_per_removal
    }

    /// Every account the emulator holds, whatever the kind.
    pub fn accounts(&self) -> Vec<EmulatedAccount> {
        self.emulator.accounts()
    }

    /// A removal deletes the account for good (AgencyAnalytics): nothing is left to list.
    pub fn removes_by_deleting(&self) -> bool {
        self.spec.sandbox.habits.removes_by_deleting
    }

    /// The vendor's fixed page size (FileSpin's 30), when `page_size` cannot be set.
    pub fn fixed_page_size(&self) -> Option<usize> {
        self.spec.sandbox.habits.fixed_page_size
    }

    /// Stop serving.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await
    }
}

/// Listing calls that read `accounts` accounts in pages of at most `page`: at least one.
pub fn min_list_calls(accounts: usize, page: usize) -> usize {
    accounts.div_ceil(page.max(1)).max(1)
}
