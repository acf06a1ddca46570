//! One connection to the directory: TLS (LDAPS or StartTLS, the configured CA trusted on top of
//! the system's), a simple bind, and searches paged by RFC 2696 whose every way of ending short
//! is said, never hidden.

use std::sync::Arc;
use std::time::Duration;

use ldap3::controls::{MakeCritical, PagedResults};
use ldap3::{DerefAliases, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchOptions, SearchResult};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use secrecy::ExposeSecret;

use super::entry::{decode, paged_cookie, Entry, Found};
use super::settings::{LdapSettings, SearchScope};
use crate::source::provider::ProviderError;
use crate::source::SourceError;

/// A bound on pages per search, so a server that never ends cannot hold a run forever.
const MAX_PAGES: u32 = 100_000;
/// A bound on range requests for one attribute (1,500 values each in AD).
const MAX_RANGES: u32 = 10_000;

/// What a search held, and why it is not whole (if it is not).
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub problem: Option<String>,
}

impl Listing {
    fn note(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }
}

/// A bound connection.
pub struct Directory {
    ldap: Ldap,
    timeout: Duration,
    page_size: u32,
    label: String,
}

/// The name of a result code, for messages.
pub fn code_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "error",
    }
}

/// What to do about a result code that failed an operation.
fn advice(rc: u32) -> &'static str {
    match rc {
        49 => "check source.ldap.bind_dn and the password (password_file or password_env)",
        8 | 13 => "the directory wants an encrypted connection: use ldaps:// or starttls: true",
        32 | 34 => "check source.ldap.base_dn (and group_base_dn): the directory has no such entry",
        50 => "give the bind DN read access to the users and groups",
        51 | 52 => "the directory is busy or unavailable; the next run will try again",
        12 => "the directory does not support paged results (RFC 2696); enable it or use another server",
        _ => "check the source.ldap settings and the directory's logs",
    }
}

/// AD's partition references that every subtree search from a domain root returns: not people.
fn ignorable_reference(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["domaindnszones.", "forestdnszones.", "cn=configuration,", "/cn=configuration"].iter().any(|p| lower.contains(p))
}

impl Directory {
    /// Connect (TLS as configured) and bind; every step bounded by the time-out.
    pub async fn connect(settings: &LdapSettings) -> Result<Directory, SourceError> {
        let label = settings.label();
        let fail = |detail: String, hint: &'static str| directory_error(&label, detail, hint);
        let mut conn = LdapConnSettings::new().set_conn_timeout(settings.timeout).set_starttls(settings.starttls);
        if settings.url.scheme() == "ldaps" || settings.starttls {
            conn = conn.set_config(Arc::new(
                tls_config(settings)
                    .map_err(|e| fail(e, "set source.ldap.ca_file to a PEM file of CA certificates"))?,
            ));
        }
        let (driver, mut ldap) =
            LdapConnAsync::from_url_with_settings(conn, &settings.url).await.map_err(|e| connect_error(&label, e))?;
        tokio::spawn(async move {
            if let Err(e) = driver.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        let bound = ldap
            .with_timeout(settings.timeout)
            .simple_bind(&settings.bind_dn, settings.password.expose_secret())
            .await
            .map_err(|e| fail(format!("bind: {e}"), "check that the directory answers; the next run will try again"))?;
        if bound.rc != 0 {
            let detail = format!("bind as {:?} refused: {} ({})", settings.bind_dn, bound.rc, code_name(bound.rc));
            return Err(fail(detail, advice(bound.rc)));
        }
        Ok(Directory { ldap, timeout: settings.timeout, page_size: settings.page_size, label })
    }

    /// Search every page. Err only when nothing usable came (the first page failed); later
    /// failures end the listing with a problem, keeping what came before.
    pub async fn search(
        &mut self,
        what: &str,
        base: &str,
        scope: SearchScope,
        filter: &str,
        attrs: &[String],
    ) -> Result<Listing, SourceError> {
        let scope = match scope {
            SearchScope::Subtree => Scope::Subtree,
            SearchScope::OneLevel => Scope::OneLevel,
        };
        let mut listing = Listing::default();
        let mut cookie: Vec<u8> = Vec::new();
        for page in 1..=MAX_PAGES {
            let at = format!("{}: {what} page {page}", self.label);
            let control = PagedResults { size: i32::try_from(self.page_size).unwrap_or(i32::MAX), cookie };
            let answer = self
                .ldap
                .with_search_options(SearchOptions::new().deref(DerefAliases::Never))
                .with_controls(control.critical())
                .with_timeout(self.timeout)
                .search(base, scope, filter, attrs)
                .await;
            let SearchResult(items, result) = match answer {
                Ok(answer) => answer,
                Err(e) if page == 1 => return Err(self.error(&at, e)),
                Err(e) => {
                    listing.note(format!("{at}: {} (the connection dropped mid-search)", describe(&e)));
                    return Ok(listing);
                }
            };
            let before = listing.entries.len();
            for item in items {
                match decode(item) {
                    Ok(Found::Entry(entry)) => listing.entries.push(entry),
                    Ok(Found::Reference(urls)) => {
                        if let Some(url) = urls.iter().find(|u| !ignorable_reference(u)) {
                            listing.note(format!("{at}: a reference to {url} was not followed"));
                        }
                    }
                    Err(e) => listing.note(format!("{at}: {e}")),
                }
            }
            // The client gathers search result references (and a referral's URLs) here.
            if let Some(url) = result.refs.iter().find(|u| !ignorable_reference(u)) {
                listing.note(format!("{at}: a reference to {url} was not followed"));
            }
            if result.rc != 0 {
                let (rc, name) = (result.rc, code_name(result.rc));
                if page == 1 && listing.entries.len() == before && !matches!(rc, 3 | 4 | 10 | 11) {
                    let detail = format!("{what} search ended {rc} {name}: {}", result.text.trim());
                    return Err(directory_error(&self.label, detail, advice(rc)));
                }
                listing.note(format!("{at}: the search ended {rc} {name}; {}", advice(rc)));
                return Ok(listing);
            }
            match paged_cookie(&result.ctrls) {
                None => {
                    listing.note(format!("{at}: the answer has no paged-results control, so more may exist"));
                    return Ok(listing);
                }
                Some(next) if next.is_empty() => return Ok(listing),
                Some(next) => cookie = next,
            }
        }
        listing.note(format!("{}: {what}: stopped after {MAX_PAGES} pages; raise page_size", self.label));
        Ok(listing)
    }

    /// The values of a ranged attribute after the first answer's (AD's MaxValRange): ask
    /// `attr;range=N-*` until a `…-*` answer.
    pub async fn rest_of_range(&mut self, dn: &str, attr: &str, mut next: u64) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        for _ in 0..MAX_RANGES {
            let asked = [format!("{attr};range={next}-*")];
            let found = self.entry(dn, &asked).await.map_err(|e| format!("{dn}: {attr} from {next}: {e}"))?;
            let Some(entry) = found else { return Err(format!("{dn}: {attr} from {next}: no entry came back")) };
            let (more, after) = entry.ranged(attr);
            values.extend(more.into_iter().map(String::from));
            match after {
                None => return Ok(values),
                Some(after) if after > next => next = after,
                Some(_) => return Err(format!("{dn}: {attr}: the range did not advance past {next}")),
            }
        }
        Err(format!("{dn}: {attr}: more than {MAX_RANGES} ranges"))
    }

    /// One entry by its DN (`None`: no such entry), without paging.
    pub async fn entry(&mut self, dn: &str, attrs: &[String]) -> Result<Option<Entry>, String> {
        let answer = self.ldap.with_timeout(self.timeout).search(dn, Scope::Base, "(objectClass=*)", attrs).await;
        let SearchResult(items, result) = answer.map_err(|e| describe(&e))?;
        match result.rc {
            0 => {}
            32 => return Ok(None),
            rc => return Err(format!("ended {rc} {}", code_name(rc))),
        }
        Ok(items.into_iter().find_map(|i| match decode(i) {
            Ok(Found::Entry(e)) => Some(e),
            _ => None,
        }))
    }

    /// Say goodbye; a failure here changes nothing that was read.
    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }

    fn error(&self, at: &str, e: LdapError) -> SourceError {
        let hint = "check that the directory is up and answering; the next run will try again";
        directory_error(at, describe(&e), hint)
    }
}

/// An LDAP client error in words an operator can act on.
fn describe(e: &LdapError) -> String {
    match e {
        LdapError::Timeout { .. } => "no answer within source.ldap.timeout_seconds".into(),
        other => other.to_string(),
    }
}

fn connect_error(label: &str, e: LdapError) -> SourceError {
    let detail = describe(&e);
    let hint = if detail.to_ascii_lowercase().contains("certificate") {
        "the directory's certificate is not trusted: set source.ldap.ca_file to the PEM of the CA that signed it"
    } else {
        "check source.ldap.url and that the directory is up; the next run will try again"
    };
    directory_error(label, format!("cannot connect: {detail}"), hint)
}

/// The directory failed the read: TLS, the bind, or a search that yielded nothing.
fn directory_error(at: &str, detail: String, hint: &'static str) -> SourceError {
    ProviderError::new(at, detail, hint, None, "directory").into()
}

/// rustls (ring) trusting the system's roots and the configured CA file.
fn tls_config(settings: &LdapSettings) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &settings.ca_file {
        let shown = path.display();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("{shown}: not a readable PEM certificate file ({e})"))?;
        if certs.is_empty() {
            return Err(format!("{shown} holds no -----BEGIN CERTIFICATE----- block"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{shown}: {e}"))?;
        }
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| format!("TLS set-up: {e}"))
}
