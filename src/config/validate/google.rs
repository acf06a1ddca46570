//! `source.google`: the Google Workspace source's settings, checked with key paths
//! (`source.google.key_file`, `source.google.admin`…), the service account key read and parsed.

use std::time::Duration;

use super::super::raw::RawGoogle;
use super::super::*;
use super::{tls, Validator};
use crate::source::google::{Directory, GoogleSettings, ServiceAccountKey, DEFAULT_BASE_URL};
use crate::source::jwt::AssertionSigner;

const AT: &str = "source.google";

impl Validator {
    pub(super) fn google(&mut self, g: RawGoogle) -> Option<GoogleSettings> {
        let key = self.google_key(&g);
        let admin = g.admin.clone().filter(|a| a.contains('@'));
        if admin.is_none() {
            self.problem(format!("{AT}.admin"), "set the email of a Workspace admin the service account acts as (domain-wide delegation impersonates them)");
        }
        let directory = match (g.customer, g.domain) {
            (Some(_), Some(_)) => {
                self.problem(AT, "set customer or domain, not both");
                None
            }
            (None, Some(d)) => Some(Directory::Domain(d)),
            (c, None) => Some(Directory::Customer(c.unwrap_or_else(|| "my_customer".into()))),
        };
        let base = g.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let connection = self.url(base, &format!("{AT}.base_url")).map(|u| {
            let mut c = Connection {
                timeout: Duration::from_secs(g.timeout_seconds.unwrap_or(30)),
                tls: tls(g.tls_insecure_skip_verify),
                per_second: g.per_second.unwrap_or(GoogleSettings::DEFAULT_PER_SECOND),
                burst: 10,
                ..Connection::new(u)
            };
            self.transport(&mut c, g.ca_file.as_ref(), g.allow_insecure_http, AT, "base_url");
            c
        });
        if let Some(problem) = g.per_second.and_then(limits::check_per_second) {
            self.problem(format!("{AT}.per_second"), problem);
        }
        let page_size = g.page_size.unwrap_or(GoogleSettings::MAX_USERS_PAGE);
        if !(1..=GoogleSettings::MAX_USERS_PAGE).contains(&page_size) {
            self.problem(
                format!("{AT}.page_size"),
                format!("{page_size} is out of range: users.list allows 1 to 500 (500 reads in the fewest calls)"),
            );
        }
        self.span(&format!("{AT}.max_pages"), limits::MAX_PAGES, g.max_pages.map(u64::from));
        self.span(&format!("{AT}.timeout_seconds"), limits::TIMEOUT_SECONDS, g.timeout_seconds);
        let (key, connection, admin, directory) = (key?, connection?, admin?, directory?);
        let mut settings = match GoogleSettings::new(connection, key, admin) {
            Ok(s) => s,
            Err(e) => {
                self.problem(format!("{AT}.key_file"), e.to_string());
                return None;
            }
        };
        if let Some(raw) = &g.token_url {
            settings.token_url = self.url(raw, &format!("{AT}.token_url"))?;
        }
        let mut token_side = settings.connection.clone();
        token_side.base_url = settings.token_url.clone();
        if let Some(problem) = token_side.cleartext_problem() {
            self.problem(format!("{AT}.token_url"), problem);
        }
        settings.directory = directory;
        settings.page_size = page_size;
        settings.max_pages = g.max_pages.unwrap_or(GoogleSettings::DEFAULT_MAX_PAGES);
        settings.groups = g.groups.unwrap_or(true);
        settings.check_member_counts = g.check_member_counts.unwrap_or(true);
        Some(settings)
    }

    /// The key: read from its file (or variable), then parsed; problems under `key_file`.
    fn google_key(&mut self, g: &RawGoogle) -> Option<ServiceAccountKey> {
        let text =
            self.secret_of("key", (g.key_env.as_ref(), g.key_file.as_ref(), g.key.is_some()), &format!("{AT}.key"))?;
        let parsed = ServiceAccountKey::parse(&text).map_err(|e| e.to_string()).and_then(|key| {
            // A key that cannot sign fails here, at check-config, not at the first read.
            AssertionSigner::from_pem(&key.private_key).map(|_| key).map_err(|e| e.to_string())
        });
        match parsed {
            Ok(key) => Some(key),
            Err(e) => {
                self.problem(format!("{AT}.key_file"), e.to_string());
                None
            }
        }
    }
}
