//! Any one of the six emulators behind one type, for the tests and benchmarks that run
//! the same scenario on every platform kind: start it, write its platform entry, count
//! the calls it received.

use super::affise::{AffiseSandbox, AffiseSandboxOptions};
use super::agencyanalytics::{AgencyAnalyticsSandbox, AgencyAnalyticsSandboxOptions};
use super::cake::{CakeSandbox, CakeSandboxOptions};
use super::clienttoolbox::{CtSandbox, CtSandboxOptions, SANDBOX_OWNER_KEY};
use super::faults::Faults;
use super::filespin::{FileSpinSandbox, FileSpinSandboxOptions};
use super::page_cap::PageCap;
use super::scim::{ScimSandbox, ScimSandboxOptions};

/// Every platform kind, in the order tables list them.
pub const KINDS: [&str; 6] = ["cake", "affise", "agencyanalytics", "filespin", "clienttoolbox", "scim"];

/// A running emulator of one kind.
#[derive(Debug)]
pub enum AnySandbox {
    Cake(CakeSandbox),
    Affise(AffiseSandbox),
    AgencyAnalytics(AgencyAnalyticsSandbox),
    FileSpin(FileSpinSandbox),
    ClientToolbox(CtSandbox),
    Scim(ScimSandbox),
}

impl AnySandbox {
    /// Start the emulator of `kind` (one of [`KINDS`]) with its default options.
    pub async fn start(kind: &str) -> std::io::Result<AnySandbox> {
        AnySandbox::start_capped(kind, PageCap::None).await
    }

    /// Start the emulator of `kind` with its default options, serving listing pages no
    /// larger than `cap` allows (a server that caps page sizes below the request).
    pub async fn start_capped(kind: &str, cap: PageCap) -> std::io::Result<AnySandbox> {
        Ok(match kind {
            "cake" => AnySandbox::Cake(CakeSandbox::start(CakeSandboxOptions::default().with_page_cap(cap)).await?),
            "affise" => {
                AnySandbox::Affise(AffiseSandbox::start(AffiseSandboxOptions::default().with_page_cap(cap)).await?)
            }
            "agencyanalytics" => AnySandbox::AgencyAnalytics(
                AgencyAnalyticsSandbox::start(AgencyAnalyticsSandboxOptions::default().with_page_cap(cap)).await?,
            ),
            "filespin" => AnySandbox::FileSpin(
                FileSpinSandbox::start(FileSpinSandboxOptions::default().with_page_cap(cap)).await?,
            ),
            "clienttoolbox" => {
                AnySandbox::ClientToolbox(CtSandbox::start(CtSandboxOptions::default().with_page_cap(cap)).await?)
            }
            "scim" => AnySandbox::Scim(ScimSandbox::start(ScimSandboxOptions::default().with_page_cap(cap)).await?),
            other => return Err(std::io::Error::other(format!("no emulator of kind {other:?}"))),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AnySandbox::Cake(_) => "cake",
            AnySandbox::Affise(_) => "affise",
            AnySandbox::AgencyAnalytics(_) => "agencyanalytics",
            AnySandbox::FileSpin(_) => "filespin",
            AnySandbox::ClientToolbox(_) => "clienttoolbox",
            AnySandbox::Scim(_) => "scim",
        }
    }

    /// The fault script, rate limit and request counts of the emulator.
    pub fn faults(&self) -> &Faults {
        match self {
            AnySandbox::Cake(s) => s.faults(),
            AnySandbox::Affise(s) => s.faults(),
            AnySandbox::AgencyAnalytics(s) => s.faults(),
            AnySandbox::FileSpin(s) => s.faults(),
            AnySandbox::ClientToolbox(s) => s.faults(),
            AnySandbox::Scim(s) => s.faults(),
        }
    }

    /// Where the emulator listens.
    pub fn base_url(&self) -> url::Url {
        match self {
            AnySandbox::Cake(s) => s.base_url(),
            AnySandbox::Affise(s) => s.base_url(),
            AnySandbox::AgencyAnalytics(s) => s.base_url(),
            AnySandbox::FileSpin(s) => s.base_url(),
            AnySandbox::ClientToolbox(s) => s.base_url(),
            AnySandbox::Scim(s) => s.base_url(),
        }
    }

    /// The key rosterd authenticates with (the content of its key file).
    pub fn key(&self) -> String {
        match self {
            AnySandbox::Cake(s) => s.api_key().to_string(),
            AnySandbox::Affise(s) => s.api_key().to_string(),
            AnySandbox::AgencyAnalytics(s) => s.api_key().to_string(),
            AnySandbox::FileSpin(s) => s.api_key().to_string(),
            AnySandbox::ClientToolbox(_) => SANDBOX_OWNER_KEY.to_string(),
            AnySandbox::Scim(s) => s.token().to_string(),
        }
    }

    /// A `platforms:` entry named `name` for this emulator, its key in the file `key_file`,
    /// every person in scope with the one role each kind needs; `extra` is appended as is
    /// (indented keys such as `    page_size: 300\n`). Removals run on every kind
    /// (AgencyAnalytics gets `allow_delete: true`).
    pub fn platform_entry(&self, name: &str, key_file: &str, extra: &str) -> String {
        let (url, own) = match self {
            AnySandbox::Cake(s) => (s.base_url(), "    roles: [ { role: Account Manager } ]\n"),
            AnySandbox::Affise(s) => {
                (s.base_url(), "    roles: [ { role: [ROLE_MANAGER_AFFILIATE, ROLE_SECTION_OFFER] } ]\n")
            }
            AnySandbox::AgencyAnalytics(s) => (s.base_url(), "    allow_delete: true\n    roles: [ { role: staff } ]\n"),
            AnySandbox::FileSpin(s) => (s.base_url(), "    roles: [ { role: USER } ]\n"),
            AnySandbox::ClientToolbox(s) => (
                s.base_url(),
                "    caller_user_id: john1970\n    account_id: greatwidgets\n    roles: [ { role: K, allowed_campaigns: none } ]\n",
            ),
            AnySandbox::Scim(s) => (s.base_url(), ""),
        };
        format!(
            "  - name: {name}\n    kind: {}\n    base_url: \"{url}\"\n    api_key_file: {key_file}\n{own}{extra}",
            self.kind()
        )
    }

    /// Listing requests received (SCIM: pages, not `userName` look-ups).
    pub fn list_calls(&self) -> usize {
        self.faults().count("list")
    }

    /// Write requests received: creates, updates, removals (each Affise lock-out step is one).
    pub fn write_calls(&self) -> usize {
        match self {
            AnySandbox::Cake(s) => s.write_calls(),
            AnySandbox::Affise(s) => s.write_calls(),
            AnySandbox::AgencyAnalytics(s) => s.write_calls(),
            AnySandbox::FileSpin(s) => s.write_calls(),
            AnySandbox::ClientToolbox(s) => s.write_calls(),
            AnySandbox::Scim(s) => s.write_calls(),
        }
    }

    /// Every request received, on any route.
    pub fn requests(&self) -> usize {
        self.faults().requests()
    }

    /// How many accounts a listing returns now (soft-deleted Client Toolbox users do not list).
    pub fn listed(&self) -> usize {
        match self {
            AnySandbox::Cake(s) => s.users().len(),
            AnySandbox::Affise(s) => s.users().len(),
            AnySandbox::AgencyAnalytics(s) => s.users().len(),
            AnySandbox::FileSpin(s) => s.users().len(),
            AnySandbox::ClientToolbox(s) => s.users().iter().filter(|u| !u.deleted).count(),
            AnySandbox::Scim(s) => s.users().len(),
        }
    }

    /// The most accounts one listing call returns with rosterd's default page size: the
    /// contract's maximum (or the connector's sanity bound where the vendor documents none,
    /// or the SCIM server's announced `maxResults`).
    pub fn largest_page(&self) -> usize {
        use crate::platform;
        match self {
            AnySandbox::Cake(_) => platform::cake::MAX_PAGE_SIZE as usize,
            AnySandbox::Affise(_) => platform::affise::MAX_PAGE_SIZE as usize,
            AnySandbox::AgencyAnalytics(_) => platform::agencyanalytics::MAX_PAGE_SIZE as usize,
            AnySandbox::FileSpin(_) => platform::filespin::PAGE_SIZE as usize,
            AnySandbox::ClientToolbox(_) => platform::clienttoolbox::MAX_PAGE_SIZE as usize,
            AnySandbox::Scim(s) => s.max_results(),
        }
    }

    /// Reads every run needs beyond the listing: CAKE's role names (`prepare` resolves
    /// them once a run), the SCIM server's ServiceProviderConfig (PATCH, ETags, page size).
    pub fn reads_per_run(&self) -> usize {
        usize::from(matches!(self, AnySandbox::Cake(_) | AnySandbox::Scim(_)))
    }

    /// Reads one removal needs: the Affise lock-out denies the permissions "read one"
    /// shows (the listing does not carry them).
    pub fn reads_per_removal(&self) -> usize {
        usize::from(matches!(self, AnySandbox::Affise(_)))
    }

    /// Write requests one removal takes: three for the Affise lock-out, else one.
    pub fn writes_per_removal(&self) -> usize {
        match self {
            AnySandbox::Affise(_) => 3,
            _ => 1,
        }
    }

    /// Stop serving.
    pub async fn shutdown(self) {
        match self {
            AnySandbox::Cake(s) => s.shutdown().await,
            AnySandbox::Affise(s) => s.shutdown().await,
            AnySandbox::AgencyAnalytics(s) => s.shutdown().await,
            AnySandbox::FileSpin(s) => s.shutdown().await,
            AnySandbox::ClientToolbox(s) => s.shutdown().await,
            AnySandbox::Scim(s) => s.shutdown().await,
        }
    }
}

/// Listing calls that read `accounts` accounts in pages of at most `page`: at least one.
pub fn min_list_calls(accounts: usize, page: usize) -> usize {
    accounts.div_ceil(page.max(1)).max(1)
}
