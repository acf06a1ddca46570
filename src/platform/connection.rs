//! How to reach a platform (or the SCIM source) over HTTP: address, time-out, request
//! budget, concurrency and TLS verification. Parsed once from config and handed whole to
//! [`PlatformHttp::new`](super::http::PlatformHttp::new), so every connector gets a new
//! connection setting without being touched.

use std::time::Duration;

use url::Url;

/// The config key that turns certificate verification off.
pub const TLS_INSECURE_KEY: &str = "tls_insecure_skip_verify";

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
        }
    }

    /// No request budget (a source read, or a test against a local emulator).
    pub fn unpaced(mut self) -> Connection {
        self.per_second = 0.0;
        self
    }

    /// The warning every run logs (and `check-config` prints) while verification is off
    /// for `who` (`platform "cake"`, `the SCIM source`); `None` while it is on.
    pub fn insecure_warning(&self, who: &str) -> Option<String> {
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
}
