//! The diff's indexes over a platform's listing and rosterd's links: positions in hash
//! tables keyed by strings they do not copy, built across the cores.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;
use rustc_hash::{FxHashMap as HashMap, FxHasher};

use super::Link;
use crate::model::{normalize_key, Account};

/// Indexes over the listing and the links (the index by account id is only needed to
/// find each link's account, and is dropped once it has). Each holds 4-byte positions in a hash table
/// keyed by a string it does not copy: at a million records an index costs ~10 MB where a
/// map of borrowed strings cost ~50 MB.
pub(super) struct Actual<'a> {
    pub(super) accounts: &'a [Account],
    /// normalised key → position, for keys that exactly one account carries.
    pub(super) by_key: HashTable<u32>,
    /// Keys that several accounts carry, with all their positions (rare: a separate small map).
    pub(super) shared_key: HashMap<Cow<'a, str>, Vec<u32>>,
    /// The links in person-id order, each with its listed account found once, up front.
    pub(super) links: Vec<LinkAt<'a>>,
    /// person id → position in `links`.
    pub(super) link_of: HashTable<u32>,
    /// account position → the first link (in `links` order) to that account, or `NONE`.
    pub(super) owner_of: Vec<u32>,
}

/// A link and where its account is in the listing (`NONE`: not listed). The person id is
/// held by a thin reference: 24 bytes a link, not 32.
pub(super) struct LinkAt<'a> {
    pub(super) person: &'a String,
    pub(super) link: &'a Link,
    pub(super) account: u32,
}

pub(super) const NONE: u32 = u32::MAX;

pub(super) fn hash_of(text: &str) -> u64 {
    let mut hasher = FxHasher::default();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Index `items` by `key_of`: a table of positions.
fn index_by<'k, T>(items: &'k [T], key_of: impl Fn(&'k T) -> &'k str) -> HashTable<u32> {
    let mut table = HashTable::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        table.insert_unique(hash_of(key_of(item)), i as u32, |&j| hash_of(key_of(&items[j as usize])));
    }
    table
}

impl<'a> Actual<'a> {
    /// The account indexes and the link index are independent: built side by side. Then
    /// every link finds its account once, across the cores, so planning a person costs one
    /// lookup, not two.
    pub(super) fn index(actual: &'a [Account], links: &'a BTreeMap<String, Link>, threads: usize) -> Self {
        let index_links = || {
            let links: Vec<LinkAt<'a>> =
                links.iter().map(|(person, link)| LinkAt { person, link, account: NONE }).collect();
            let link_of = index_by(&links, |l| l.person);
            (links, link_of)
        };
        let index_accounts = || (index_by(actual, |a| a.id.as_str()), index_keys(actual));
        let ((by_id, (by_key, shared_key)), (mut links, link_of)) = if threads <= 1 {
            (index_accounts(), index_links())
        } else {
            std::thread::scope(|scope| {
                let links_done = scope.spawn(index_links);
                let accounts = index_accounts();
                (accounts, links_done.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            })
        };
        let owner: Vec<AtomicU32> = actual.iter().map(|_| AtomicU32::new(NONE)).collect();
        let found: Vec<AtomicU32> = links.iter().map(|_| AtomicU32::new(NONE)).collect();
        let resolve = |range: std::ops::Range<usize>| {
            for at in range {
                let id = links[at].link.account_id.as_str();
                if let Some(&i) = by_id.find(hash_of(id), |&i| actual[i as usize].id == id) {
                    found[at].store(i, Ordering::Relaxed);
                    owner[i as usize].fetch_min(at as u32, Ordering::Relaxed);
                }
            }
        };
        crate::reconcile::chunks::map_ranges(links.len(), threads, resolve);
        drop(by_id);
        for (link, account) in links.iter_mut().zip(found) {
            link.account = account.into_inner();
        }
        let owner_of = owner.into_iter().map(AtomicU32::into_inner).collect();
        Actual { accounts: actual, by_key, shared_key, links, link_of, owner_of }
    }

    pub(super) fn link_position(&self, person_id: &str) -> Option<usize> {
        let links = &self.links;
        self.link_of.find(hash_of(person_id), |&i| links[i as usize].person == person_id).map(|&i| i as usize)
    }

    /// The listed account of the link at `at`, if it is listed.
    pub(super) fn linked_account(&self, at: usize) -> Option<&'a Account> {
        let account = self.links[at].account;
        (account != NONE).then(|| &self.accounts[account as usize])
    }

    /// The person linked to the account at position `account`, if any.
    pub(super) fn owner(&self, account: usize) -> Option<&'a str> {
        let at = self.owner_of[account];
        (at != NONE).then(|| self.links[at as usize].person.as_str())
    }

    /// The one account whose normalised key is `key`, if exactly one has it, and its position.
    pub(super) fn by_key(&self, key: &str) -> Option<(usize, &'a Account)> {
        let accounts = self.accounts;
        self.by_key
            .find(hash_of(key), |&i| normalized(&accounts[i as usize].key) == key)
            .map(|&i| (i as usize, &accounts[i as usize]))
    }
}

/// Index accounts by normalised key; a key several accounts carry goes to the shared map.
fn index_keys(actual: &[Account]) -> (HashTable<u32>, HashMap<Cow<'_, str>, Vec<u32>>) {
    let key_at = |i: u32| normalized(&actual[i as usize].key);
    let mut by_key: HashTable<u32> = HashTable::with_capacity(actual.len());
    let mut shared_key: HashMap<Cow<'_, str>, Vec<u32>> = HashMap::default();
    for (i, a) in actual.iter().enumerate() {
        let key = normalized(&a.key);
        if let Some(others) = shared_key.get_mut(&key) {
            others.push(i as u32);
            continue;
        }
        let hash = hash_of(&key);
        match by_key.find_entry(hash, |&j| key_at(j) == key) {
            Ok(first) => {
                let (j, _) = first.remove();
                shared_key.insert(key, vec![j, i as u32]);
            }
            Err(_) => {
                by_key.insert_unique(hash, i as u32, |&j| hash_of(&key_at(j)));
            }
        }
    }
    (by_key, shared_key)
}

/// `key` normalised, borrowed when it already is (connectors hand keys over normalised).
pub(super) fn normalized(key: &str) -> Cow<'_, str> {
    let clean = key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        && !key.starts_with(|c: char| c.is_whitespace())
        && !key.ends_with(|c: char| c.is_whitespace());
    if clean {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(normalize_key(key).into())
    }
}
