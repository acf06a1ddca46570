//! Finding one account by its match key through a platform's search: a free-text search
//! may answer more than the match, so every row is parsed and matched on the key again.

use compact_str::CompactString;

use super::http::PlatformHttp;
use super::PlatformError;
use crate::model::{normalize_key, Account};

/// The accounts a search found so far that hold the wanted key.
#[derive(Debug)]
pub struct Found {
    wanted: CompactString,
    accounts: Vec<Account>,
}

impl Found {
    /// A search for `key` (normalised as match keys are).
    pub fn new(key: &str) -> Found {
        Found { wanted: normalize_key(key), accounts: Vec::new() }
    }

    /// Parse one answer's rows and keep those holding the key; a row that does not parse
    /// fails the search.
    pub fn take<R>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
        parse: impl Fn(R) -> Result<Account, String>,
    ) -> Result<(), String> {
        for row in rows {
            let account = parse(row)?;
            if account.key == self.wanted {
                self.accounts.push(account);
            }
        }
        Ok(())
    }

    /// The account found, if any. Several accounts holding one key (`key_name` as the
    /// platform calls it) is a malformed answer: rosterd cannot tell which one is meant.
    pub fn one(mut self, http: &PlatformHttp, key_name: &str, key: &str) -> Result<Option<Account>, PlatformError> {
        match self.accounts.len() {
            0 | 1 => Ok(self.accounts.pop()),
            n => Err(http.malformed("find", format!("{n} users hold the {key_name} {key}"))),
        }
    }
}
