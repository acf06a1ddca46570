//! Reading a platform's accounts: in full, or incrementally by merging the accounts changed since the last listing into the cached one.
//!
//! An incremental listing asks for accounts changed since the day before the last listing
//! started (the platform's days may be in another time zone than rosterd's clock), merges
//! them into the store's cache by account id, and every `full_read_every` listings reads in
//! full again (which also drops accounts deleted behind rosterd's back). Anything odd in
//! the store (no state, an unreadable one, a cache that cannot be read) means a full listing.

use chrono::{DateTime, Utc};

use crate::model::Account;
use crate::platform::{Connector, PlatformError};
use crate::store::{ListingState, Store};

/// List one platform's accounts and keep the cache (and the listing state) current.
pub async fn read_accounts(
    store: &Store,
    connector: &dyn Connector,
    name: &str,
) -> Result<Vec<Account>, PlatformError> {
    let started = Utc::now();
    let Some(every) = connector.incremental_listing() else {
        let accounts = connector.list().await?;
        keep_full(store, name, &accounts, None);
        return Ok(accounts);
    };
    let Some((state, cached)) = incremental_base(store, name, every) else {
        let accounts = connector.list().await?;
        keep_full(store, name, &accounts, Some(started));
        return Ok(accounts);
    };
    let since = (parse(&state.read_at).unwrap_or(started) - chrono::Duration::days(1)).date_naive();
    let changed = connector.list_changed_since(since).await?;
    tracing::info!(platform = %name, changed = changed.len(), %since, "incremental listing");
    let mut by_id: std::collections::BTreeMap<compact_str::CompactString, Account> =
        cached.into_iter().map(|a| (a.id.clone(), a)).collect();
    for account in &changed {
        by_id.insert(account.id.clone(), account.clone());
    }
    let next = ListingState { read_at: stamp(started), reads_since_full: state.reads_since_full + 1, ..state };
    if let Err(e) = store.merge_cache(name, &changed).and_then(|()| store.set_listing_state(name, &next)) {
        tracing::warn!(platform = %name, error = %e, "could not keep the listing: the next one is full");
        let _ = store.forget_listing_state(name);
    }
    Ok(by_id.into_values().collect())
}

/// The state and cached accounts an incremental listing may start from, or `None` (logged) for a full one.
fn incremental_base(store: &Store, name: &str, every: u32) -> Option<(ListingState, Vec<Account>)> {
    let state = match store.listing_state(name) {
        Ok(Some(state)) => state,
        Ok(None) => {
            tracing::info!(platform = %name, "no earlier listing kept: a full listing");
            return None;
        }
        Err(e) => {
            tracing::warn!(platform = %name, error = %e, "the listing state is unreadable: a full listing");
            return None;
        }
    };
    if state.reads_since_full.saturating_add(1) >= every || parse(&state.read_at).is_none() {
        tracing::info!(platform = %name, "a full listing is due (incremental.full_read_every)");
        return None;
    }
    match store.cached_accounts(name) {
        Ok(cached) => Some((state, cached)),
        Err(e) => {
            tracing::warn!(platform = %name, error = %e, "the cached listing is unreadable: a full listing");
            None
        }
    }
}

/// Cache a full listing; with `started`, it is the base of the next incremental listing.
fn keep_full(store: &Store, name: &str, accounts: &[Account], started: Option<DateTime<Utc>>) {
    let kept = store.replace_cache(name, accounts).and_then(|()| match started {
        Some(at) => {
            let state = ListingState { full_at: stamp(at), read_at: stamp(at), reads_since_full: 0 };
            store.set_listing_state(name, &state)
        }
        // Listing in full only: no state, so turning incremental on starts with a full listing.
        None => store.forget_listing_state(name),
    });
    if let Err(e) = kept {
        tracing::warn!(platform = %name, error = %e, "could not cache the listing");
        let _ = store.forget_listing_state(name);
    }
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}
