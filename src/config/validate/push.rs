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
