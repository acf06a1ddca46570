//! `source.push`: the SCIM service provider's settings, each problem under its key path.

use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml::Value;

use super::super::secret::SecretRef;
use super::Validator;
use crate::source::push::{PushSettings, DEFAULT_MAX_BODY_BYTES};

const AT: &str = "source.push";

/// Bodies from 1 KiB to 64 MiB: below, an ordinary Group PATCH does not fit; above, one
/// request could hold the daemon's memory.
const BODY_BYTES: std::ops::RangeInclusive<u64> = 1024..=64 * 1024 * 1024;

/// `source.push` as written: rosterd serves SCIM 2.0 at `/scim/v2` on `http.listen`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPush {
    /// Bytes one request may carry.
    max_body_bytes: Option<u64>,
    /// The SCIM base URL as the identity provider reaches it (behind TLS), for `meta.location`.
    public_url: Option<String>,
    /// The bearer token the identity provider sends: a file or an environment variable;
    /// an inline `token` is refused with a message saying what to use instead.
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    token: Option<Value>,
}

impl Validator {
    pub(super) fn push(&mut self, value: &Value) -> Option<PushSettings> {
        let p: RawPush = self.section(value, AT)?;
        let r =
            SecretRef::from_pair("token", p.token_env.as_ref(), p.token_file.as_ref(), p.token.is_some(), &self.base);
        let token = self.secret(r, &format!("{AT}.token"));
        let max_body_bytes = p.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES as u64);
        if !BODY_BYTES.contains(&max_body_bytes) {
            self.problem(
                format!("{AT}.max_body_bytes"),
                format!("{max_body_bytes} is not {} to {}", BODY_BYTES.start(), BODY_BYTES.end()),
            );
        }
        if let Some(url) = &p.public_url {
            self.url(url, &format!("{AT}.public_url"));
        }
        let max_body_bytes = usize::try_from(max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES);
        Some(PushSettings { token: token?, max_body_bytes, public_url: p.public_url })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::{Config, SourceConfig};

    #[test]
    fn push_settings_and_each_problem_under_its_key_path() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("token"), "t0ken-value").expect("token file");
        let file = dir.path().join("rosterd.yaml");
        let parse = |body: &str| Config::parse(&format!("source:\n  push: {{ {body} }}\nplatforms: []\n"), &file);
        let Ok(Config { source: SourceConfig::Push(s), .. }) = parse("token_file: token") else {
            panic!("a push source")
        };
        assert_eq!((s.token.expose_secret(), s.max_body_bytes, s.public_url), ("t0ken-value", 1024 * 1024, None));
        let problems = parse("token: t0ken-inline, max_body_bytes: 10, public_url: 'ftp://x'").expect_err("problems");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let text = text.join("\n");
        for key in ["source.push.token:", "source.push.max_body_bytes:", "source.push.public_url:"] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        assert!(!text.contains("t0ken-inline"), "{text}");
        // Push beside one pull source: the pulled roster with pushes over it.
        let beside = parse("token_file: token }\n  scim: { url: 'https://idp.example', token_file: token");
        let Ok(Config { source: SourceConfig::PullAndPush { pull, push }, .. }) = beside else {
            panic!("push beside a SCIM source: {beside:?}")
        };
        assert!(matches!(*pull, SourceConfig::Scim(_)));
        assert_eq!(push.token.expose_secret(), "t0ken-value");
        let two_pulls = parse(
            "token_file: token }\n  scim: { url: 'https://idp.example', token_file: token }\n  file: { path: r.yaml",
        )
        .expect_err("two pull sources");
        assert!(
            two_pulls.iter().any(|p| p.path == "source" && p.message.contains("source.push may sit beside")),
            "{two_pulls:?}"
        );
        let unknown = parse("token_file: token, colour: blue").expect_err("unknown key");
        assert!(unknown.iter().any(|p| p.path.starts_with("source.push")), "{unknown:?}");
    }
}
