//! How to reach a platform (or the SCIM source) over HTTP: address, time-out, request
//! budget, concurrency and TLS verification. Parsed once from config and handed whole to
//! [`PlatformHttp::new`](super::http::PlatformHttp::new), so every connector gets a new
//! connection setting without being touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

/// The config key that turns certificate verification off.
pub const TLS_INSECURE_KEY: &str = "tls_insecure_skip_verify";

/// The config key that lets a non-loopback `http://` address be used.
pub const INSECURE_HTTP_KEY: &str = "allow_insecure_http";

/// Whether the server's TLS certificate is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsVerification {
    /// The certificate must chain to a trusted root and name the host (always, unless
    /// config says otherwise).
    #[default]
    Verify,
    /// Any certificate is accepted: anyone on the network path can read the credentials.
    /// Only for a test tenant behind a self-signed certificate; logged at every run.
    InsecureSkipVerify,
}

/// One platform's connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The API address; the connector puts its paths under it.
    pub base_url: Url,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// Request budget: sustained requests per second (0 for none), and the burst allowed
    /// after a lull.
    pub per_second: f64,
    pub burst: u32,
    /// How many writes run at once during an apply.
    pub concurrency: usize,
    pub tls: TlsVerification,
    /// A PEM file of CA certificates trusted on top of the system's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// A `http://` address that is not loopback is used anyway (credentials in the clear).
    pub allow_insecure_http: bool,
}

impl Connection {
    /// The library defaults: 30 s time-out, 5 requests a second in bursts of 5, 4 writes
    /// at once, certificates verified.
    pub fn new(base_url: Url) -> Connection {
        Connection {
            base_url,
            timeout: Duration::from_secs(30),
            per_second: 5.0,
            burst: 5,
            concurrency: 4,
            tls: TlsVerification::Verify,
            ca_file: None,
            allow_insecure_http: false,
        }
    }

    /// No request budget (a source read, or a test against a local emulator).
    pub fn unpaced(mut self) -> Connection {
        self.per_second = 0.0;
        self
    }

    /// The warning every run logs (and `check-config` prints) while verification is off
    /// for `who` (`platform "cake"`, `the SCIM source`); `None` while it is on.
    /// A cleartext address allowed by `allow_insecure_http` is warned the same way.
    pub fn insecure_warning(&self, who: &str) -> Option<String> {
        if self.base_url.scheme() == "http" && self.allow_insecure_http && !is_loopback(&self.base_url) {
            return Some(format!(
                "credentials for {who} travel in CLEAR TEXT ({INSECURE_HTTP_KEY}: true): anyone on the network path \
                 to {} can read them and change what it answers; use an https:// address",
                host(&self.base_url)
            ));
        }
        (self.tls == TlsVerification::InsecureSkipVerify).then(|| {
            format!(
                "TLS certificate verification is OFF for {who} ({TLS_INSECURE_KEY}: true): anyone on the network \
                 path to {} can read its credentials and change what it answers; remove the setting once the \
                 server has a trusted certificate",
                host(&self.base_url)
            )
        })
    }
}

impl Connection {
    /// Why this address may not be used: `http://` to a host that is not loopback, unless
    /// `allow_insecure_http` says so. The message follows the key's name.
    pub fn cleartext_problem(&self) -> Option<String> {
        (self.base_url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(&self.base_url)).then(|| {
            format!(
                "http:// to {} would send the credentials in clear text; use https:// (trust a private CA with \
                 ca_file), or for a test server only set {INSECURE_HTTP_KEY}: true",
                host(&self.base_url)
            )
        })
    }
}

/// The CA certificates of a `ca_file`: one or more PEM `CERTIFICATE` blocks.
pub fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}; give a PEM file of CA certificates"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{shown} is not a PEM certificate file ({e}); give the CA's certificate in PEM"))?;
    if certs.is_empty() {
        return Err(format!("{shown} holds no -----BEGIN CERTIFICATE----- block; give the CA's certificate in PEM"));
    }
    Ok(certs)
}

/// 127.0.0.0/8, ::1 or `localhost`: traffic that never leaves the machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A test or a connector built by hand names only its address.
impl From<Url> for Connection {
    fn from(base_url: Url) -> Connection {
        Connection::new(base_url)
    }
}

/// Host and port, never the path or query (a URL may carry more than it should).
fn host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "the server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_names_who_the_key_and_the_host_only() {
        let url = Url::parse("https://idp.example.com:8443/scim/v2?x=secret").unwrap();
        let mut c = Connection::new(url);
        assert_eq!(c.insecure_warning("platform \"cake\""), None, "verification is on by default");
        c.tls = TlsVerification::InsecureSkipVerify;
        let w = c.insecure_warning("platform \"cake\"").unwrap();
        assert!(
            w.starts_with("TLS certificate verification is OFF for platform \"cake\" (tls_insecure_skip_verify: true)")
        );
        assert!(w.contains("idp.example.com:8443") && !w.contains("secret"), "{w}");
    }

    #[test]
    fn cleartext_is_refused_off_loopback_unless_allowed_and_then_warned() {
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.9.0.1/",
            "http://[::1]:80/",
            "http://localhost/",
            "https://idp.example.com/",
        ] {
            let c = Connection::new(Url::parse(ok).unwrap());
            assert_eq!(c.cleartext_problem(), None, "{ok}");
            assert_eq!(c.insecure_warning("the SCIM source"), None, "{ok}");
        }
        for bad in ["http://idp.example.com/scim", "http://10.0.0.1/", "http://[::2]/", "http://localhost.evil.com/"] {
            let mut c = Connection::new(Url::parse(bad).unwrap());
            let p = c.cleartext_problem().unwrap();
            assert!(p.starts_with("http:// to ") && p.contains("allow_insecure_http: true"), "{p}");
            c.allow_insecure_http = true;
            assert_eq!(c.cleartext_problem(), None);
            let w = c.insecure_warning("the SCIM source").unwrap();
            assert!(w.contains("CLEAR TEXT (allow_insecure_http: true)"), "{w}");
        }
    }
}
