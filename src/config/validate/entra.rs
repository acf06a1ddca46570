//! `source.entra`: Microsoft Entra ID's settings, each problem under its key path.

use std::time::Duration;

use super::super::raw::{RawEntra, RawIncremental};
use super::{limits, tls, Validator};
use crate::platform::connection::Connection;
use crate::records::incremental::IncrementalSettings;
use crate::source::entra::settings::backoff_from;
use crate::source::entra::EntraSettings;

const AT: &str = "source.entra";

impl Validator {
    pub(super) fn entra(&mut self, e: RawEntra) -> Option<EntraSettings> {
        let graph = self.url(e.graph_url.as_deref().unwrap_or(EntraSettings::GRAPH), &format!("{AT}.graph_url"));
        let login = self.url(e.login_url.as_deref().unwrap_or(EntraSettings::LOGIN), &format!("{AT}.login_url"));
        let graph = graph.map(|u| {
            let mut c = Connection {
                timeout: Duration::from_secs(e.timeout_seconds.unwrap_or(30)),
                tls: tls(e.tls_insecure_skip_verify),
                ..Connection::new(u).unpaced()
            };
            self.transport(&mut c, e.ca_file.as_ref(), e.allow_insecure_http, AT, "graph_url");
            c
        });
        let tenant = self.named(&e.tenant, "tenant", "the directory (tenant) id or a verified domain");
        let client_id = self.named(&e.client_id, "client_id", "the app registration's application (client) id");
        let (env, file, inline) =
            (e.client_secret_env.as_ref(), e.client_secret_file.as_ref(), e.client_secret.is_some());
        let secret = self.secret_of("client_secret", (env, file, inline), &format!("{AT}.client_secret"));
        let page_size = e.page_size.unwrap_or(EntraSettings::MAX_PAGE_SIZE);
        self.span(&format!("{AT}.page_size"), limits::GRAPH_PAGE_SIZE, Some(page_size.into()));
        self.span(&format!("{AT}.max_pages"), limits::MAX_PAGES, e.max_pages.map(u64::from));
        self.span(&format!("{AT}.timeout_seconds"), limits::TIMEOUT_SECONDS, e.timeout_seconds);
        self.span(&format!("{AT}.token_renew_seconds"), limits::TIMEOUT_SECONDS, e.token_renew_seconds);
        self.span(&format!("{AT}.backoff_start_ms"), limits::BACKOFF_MS, e.backoff_start_ms);
        let incremental = e.incremental.and_then(|i| self.entra_incremental(i));
        let mut settings = EntraSettings::new(graph?, login?, tenant?, client_id?, secret?);
        settings.page_size = page_size;
        settings.max_pages = e.max_pages.unwrap_or(EntraSettings::DEFAULT_MAX_PAGES);
        settings.expand_manager = e.expand_manager.unwrap_or(true);
        settings.nested_groups = e.nested_groups.unwrap_or(true);
        settings.count_check = e.count_check.unwrap_or(true);
        if let Some(secs) = e.token_renew_seconds {
            settings.token_margin = Duration::from_secs(secs);
        }
        if let Some(ms) = e.backoff_start_ms {
            settings.retry = backoff_from(Duration::from_millis(ms));
        }
        match e.requests_per_second {
            Some(r) if !(r.is_finite() && (0.0..=10_000.0).contains(&r)) => {
                self.problem(format!("{AT}.requests_per_second"), format!("{r} is not 0 (unpaced) to 10000"));
            }
            Some(r) => settings.graph.per_second = r,
            None => {}
        }
        settings.incremental = incremental;
        Some(settings)
    }

    /// A required name that must not be blank or hold a `/`.
    fn named<'a>(&mut self, value: &'a str, key: &str, what: &str) -> Option<&'a str> {
        if value.trim().is_empty() || value.contains('/') {
            self.problem(format!("{AT}.{key}"), format!("{value:?} is not {what}"));
            return None;
        }
        Some(value)
    }

    /// `source.entra.incremental`: delta reads, off unless `enabled: true`.
    fn entra_incremental(&mut self, raw: RawIncremental) -> Option<IncrementalSettings> {
        let at = format!("{AT}.incremental");
        if raw.overlap_seconds.is_some() {
            self.problem(format!("{at}.overlap_seconds"), "delta links need no overlap: remove the key");
        }
        let full_read_every = raw.full_read_every.unwrap_or(IncrementalSettings::DEFAULT_FULL_READ_EVERY);
        self.span(&format!("{at}.full_read_every"), limits::FULL_READ_EVERY, Some(full_read_every.into()));
        let every = full_read_every.max(1);
        (raw.enabled == Some(true)).then_some(IncrementalSettings { full_read_every: every, ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, SourceConfig};

    /// The problems' key paths of a config with this `source.entra` body, parsed in a
    /// folder holding the secret file `secret`.
    fn parse(body: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("secret"), "s3cret-value").expect("secret file");
        let text = format!("source:\n  entra: {{ {body} }}\nplatforms: []\n");
        Config::parse(&text, &dir.path().join("rosterd.yaml")).map_err(|p| p.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn a_valid_entry_takes_the_contract_defaults() {
        let config = parse("tenant: contoso.example, client_id: app-1, client_secret_file: secret").expect("valid");
        let SourceConfig::Entra(s) = config.source else { panic!("an Entra source") };
        assert_eq!((s.page_size, s.expand_manager, s.nested_groups, s.count_check), (999, true, true, true));
        assert_eq!(s.token_url().as_str(), "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token");
        assert_eq!(s.graph.base_url.as_str(), "https://graph.microsoft.com/v1.0");
        assert_eq!(s.token_margin.as_secs(), 300);
        assert!(s.incremental.is_none());
    }

    #[test]
    fn every_problem_is_reported_under_its_key_path() {
        let problems = parse(
            "tenant: '', client_id: ' ', client_secret: hunter2-value, page_size: 1000, graph_url: 'ftp://x', \
             incremental: { enabled: true, overlap_seconds: 5 }",
        )
        .expect_err("problems");
        let text = problems.join("\n");
        for key in [
            "source.entra.graph_url:",
            "source.entra.tenant:",
            "source.entra.client_id:",
            "source.entra.client_secret:",
            "source.entra.page_size:",
            "source.entra.incremental.overlap_seconds:",
        ] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        assert!(text.contains("client_secret_env") && !text.contains("hunter2"), "{text}");
        let unknown =
            parse("tenant: t, client_id: c, client_secret_file: secret, colour: blue").expect_err("unknown key");
        assert!(unknown.join("\n").contains("colour"), "{unknown:?}");
    }
}
