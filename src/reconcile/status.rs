//! Account status read one account at a time where a platform's listing cannot show it
//! (an Affise lock-out), for the accounts rosterd has no link to remember it by.
//!
//! A linked account's status comes from the link (what rosterd did to it). An unlinked
//! account that a roster person maps to is about to be adopted: after a lost store a
//! locked-out person who comes back must read as locked out (and be reactivated), and a
//! leaver's pre-existing account must read as it is. Unlinked accounts nobody maps to are
//! never read, so a converged run makes no extra call.

use std::collections::{BTreeMap, HashSet};

use compact_str::CompactString;
use futures::stream::{self, StreamExt};

use super::diff::Link;
use crate::model::{normalize_key, Account, Person, PersonNode};
use crate::platform::{Connector, PlatformError};
use crate::template::Template;

/// The unlinked accounts on a key some roster person maps to (by `key`), by position.
pub fn unlinked_on_roster_keys(
    accounts: &[Account],
    links: &BTreeMap<String, Link>,
    people: &[Person],
    key: &Template,
) -> Vec<usize> {
    let linked: HashSet<&str> = links.values().map(|l| l.account_id.as_str()).collect();
    let keys: HashSet<CompactString> = people
        .iter()
        .map(|p| normalize_key(&key.render_compact(PersonNode::of(p))))
        .filter(|k| !k.is_empty())
        .collect();
    let wanted = |a: &Account| !linked.contains(a.id.as_str()) && keys.contains(&normalize_key(&a.key));
    accounts.iter().enumerate().filter(|(_, a)| wanted(a)).map(|(i, _)| i).collect()
}

/// Read the status of the accounts at `positions` from the platform, `concurrency` at a
/// time, and set it. A failed read fails the whole: a guessed status could lock someone
/// out or leave a leaver in.
pub async fn read_statuses(
    connector: &dyn Connector,
    accounts: &mut [Account],
    positions: Vec<usize>,
    concurrency: usize,
) -> Result<(), PlatformError> {
    let read: Vec<_> = {
        let accounts = &*accounts;
        stream::iter(positions)
            .map(|i| async move { (i, connector.read_status(&accounts[i]).await) })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await
    };
    for (i, status) in read {
        if let Some(status) = status? {
            accounts[i].status = status;
        }
    }
    Ok(())
}
