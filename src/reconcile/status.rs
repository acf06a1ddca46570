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

use super::desired::{Mapped, Wants};
use super::diff::{Exclusion, Link};
use super::plan::PlatformPlan;
use super::PlatformRuntime;
use crate::model::{normalize_key, Account, AccountStatus, Person};
use crate::platform::{Connector, PlatformError};

/// The unlinked accounts on a key that a person the platform wants, or a leaver it would
/// take in, maps to, by position. Out-of-scope people's accounts are never read: they are
/// left alone whatever their status.
pub fn unlinked_on_roster_keys(accounts: &[Account], links: &BTreeMap<String, Link>, wants: &dyn Wants) -> Vec<usize> {
    let linked: HashSet<&str> = links.values().map(|l| l.account_id.as_str()).collect();
    let keys: HashSet<CompactString> = (0..wants.len())
        .filter_map(|i| match wants.account(i) {
            Ok(d) => Some(d.key),
            Err(Exclusion::Leaver(key)) => Some(key),
            Err(_) => None,
        })
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

/// A platform's accounts as planning sees them. Where the listing cannot show access
/// (Affise), linked accounts take their status from the link, and the unlinked accounts of
/// people the platform wants (or leavers) are read one by one.
pub async fn planning_view(
    p: &PlatformRuntime,
    actual: Vec<Account>,
    links: &BTreeMap<String, Link>,
    people: &[Person],
) -> Result<Vec<Account>, (PlatformError, Vec<Account>)> {
    if !p.connector.traits().status_from_links {
        return Ok(actual);
    }
    let mut actual = status_from_links(actual, links);
    let unlinked = unlinked_on_roster_keys(&actual, links, &Mapped::new(people, &p.config.mapping));
    match read_statuses(p.connector.as_ref(), &mut actual, unlinked, p.config.connection.concurrency).await {
        Ok(()) => Ok(actual),
        Err(e) => Err((e, actual)),
    }
}

/// A reviewed plan's platform as planning saw it: the links say the status, and the
/// unlinked accounts the plan touches are read again (else its fingerprint could not match).
pub async fn reviewed_view(
    rt: &PlatformRuntime,
    links: &BTreeMap<String, Link>,
    pp: &PlatformPlan,
    accounts: Vec<Account>,
) -> Result<Vec<Account>, PlatformError> {
    if !rt.connector.traits().status_from_links {
        return Ok(accounts);
    }
    let mut accounts = status_from_links(accounts, links);
    let linked: HashSet<&str> = links.values().map(|l| l.account_id.as_str()).collect();
    let touched: HashSet<&str> = pp.steps.iter().filter_map(|s| s.account_id.as_deref()).collect();
    let unlinked_touched = |a: &Account| touched.contains(a.id.as_str()) && !linked.contains(a.id.as_str());
    let positions = (0..accounts.len()).filter(|&i| unlinked_touched(&accounts[i])).collect();
    let concurrency = rt.config.connection.concurrency;
    read_statuses(rt.connector.as_ref(), &mut accounts, positions, concurrency).await?;
    Ok(accounts)
}

/// For platforms whose listing cannot show access (Affise), an account rosterd removed
/// reads as inactive, and any other as active.
fn status_from_links(mut actual: Vec<Account>, links: &BTreeMap<String, Link>) -> Vec<Account> {
    let removed: std::collections::HashSet<&str> =
        links.values().filter(|l| l.removed).map(|l| l.account_id.as_str()).collect();
    for a in &mut actual {
        a.status = if removed.contains(a.id.as_str()) { AccountStatus::Inactive } else { AccountStatus::Active };
    }
    actual
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountStatus, DesiredAccount};
    use crate::reconcile::desired::Given;
    use crate::reconcile::diff::LinkOrigin;

    fn account(id: &str, key: &str) -> Account {
        Account {
            id: id.into(),
            key: key.into(),
            fields: Default::default(),
            role: None,
            status: AccountStatus::Active,
        }
    }

    #[test]
    fn only_unlinked_accounts_of_wanted_people_and_leavers_are_read() {
        let desired = [DesiredAccount {
            person_id: "w".into(),
            label: "w@x.com".into(),
            key: "w@x.com".into(),
            fields: Default::default(),
            role: None,
        }];
        let excluded: BTreeMap<String, Exclusion> = [
            ("l".to_string(), Exclusion::Leaver("l@x.com".into())),
            ("i".to_string(), Exclusion::Inactive),
            ("o".to_string(), Exclusion::OutOfScope("not in scope".into())),
        ]
        .into();
        let wants = Given::new(&desired, &excluded);
        let accounts: Vec<Account> =
            [("1", "W@x.com"), ("2", "l@x.com"), ("3", "o@x.com"), ("4", "nobody@x.com"), ("5", "w@x.com")]
                .iter()
                .map(|(id, key)| account(id, key))
                .collect();
        let links = [("w".to_string(), Link { account_id: "5".into(), origin: LinkOrigin::Created, removed: false })];
        assert_eq!(unlinked_on_roster_keys(&accounts, &links.into(), &wants), [0, 1]);
    }
}
