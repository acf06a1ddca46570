//! CAKE settings: how to reach a tenant, the field names rosterd writes, and the kind's
//! registry entry (what config needs to know, and how it builds a connector).

use secrecy::SecretString;

#[cfg(feature = "sandbox")]
use super::sandbox;
use super::{CakeConnector, Connector, PlatformError};
use crate::platform::connection::Connection;

/// What to check when a listing's credentials are refused (401/403).
pub(super) const CREDENTIALS_CHECK: &str =
    "CAKE refuses a wrong api_key, and one replaced by a key generated later in CAKE";
/// CAKE's largest `row_limit`.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// The pseudo-field of a change list that carries `active` / `inactive`.
pub const STATUS_FIELD: &str = "status";
/// The plain fields rosterd compares and writes, by CAKE's own names.
pub(super) const NAME_FIELDS: [&str; 3] = ["first_name", "last_name", "email"];

/// How to reach one CAKE tenant. `Debug` is safe to log: the key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct CakeSettings {
    /// The platform's name in config (`cake`, `cake-eu`, ...).
    pub name: String,
    /// The tenant, e.g. `https://acme.cakemarketing.com`; `/api/2/...` goes under it.
    /// The address, time-out, request budget and TLS setting.
    pub connection: Connection,
    pub api_key: SecretString,
    /// `row_limit` of each listing page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
}

impl CakeSettings {
    /// Settings with the usual defaults: 30 s time-out, 5 requests a second, pages of
    /// [`MAX_PAGE_SIZE`] (the fewest listing calls: each call counts against the budget).
    pub fn new(name: &str, connection: impl Into<Connection>, api_key: SecretString) -> CakeSettings {
        CakeSettings { name: name.into(), connection: connection.into(), api_key, page_size: MAX_PAGE_SIZE }
    }
}
/// What config needs to know about CAKE.
pub const SPEC: crate::platform::kind::KindSpec = crate::platform::kind::KindSpec::new(
    "cake",
    "CAKE",
    &NAME_FIELDS,
    build_from_config,
    #[cfg(feature = "sandbox")]
    sandbox::EMULATOR,
);

pub(super) fn build_from_config(p: &crate::platform::kind::BuildInput) -> Result<Box<dyn Connector>, PlatformError> {
    let mut settings = CakeSettings::new(p.name, p.connection.clone(), p.api_key.clone());
    if let Some(size) = p.page_size {
        settings.page_size = size;
    }
    Ok(Box::new(CakeConnector::new(settings)?))
}
