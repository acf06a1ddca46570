//! Wire shapes several platforms share: a user record's name and the answer that carries
//! one user record. Each platform's own shapes stay in its `wire.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A person's name as CAKE, Affise, AgencyAnalytics and FileSpin send it, flattened into
/// their user records: two strings, either of which may be missing.
#[derive(Debug, Default, Deserialize)]
pub struct PersonName {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

impl PersonName {
    /// An account's fields: `first_name` and `last_name` (empty when missing), then `more`.
    pub fn fields<'a>(self, more: impl IntoIterator<Item = (&'a str, String)>) -> BTreeMap<String, String> {
        let name = [("first_name", self.first_name), ("last_name", self.last_name)];
        let name = name.into_iter().map(|(field, value)| (field, value.unwrap_or_default()));
        name.chain(more).map(|(field, value)| (field.to_string(), value)).collect()
    }
}

/// An answer whose `user` is one user record, kept raw so that it is parsed (and, on
/// FileSpin, scrubbed) on its own.
#[derive(Debug, Deserialize)]
pub struct UserAnswer {
    pub user: Value,
}
