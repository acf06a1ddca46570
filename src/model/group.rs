//! `Group`: a group a person is in, held once for the whole process and shared by every
//! person in it.
//!
//! Groups repeat across people: a million people are in a few hundred groups, and a
//! roster holding each membership's name and id as strings spent 48 bytes on each. An
//! interned group is an 8-byte reference. Each distinct (name, id) pair is kept for the
//! life of the process, as `FieldName`s are; the set of groups is small and changes slowly.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use compact_str::CompactString;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One group a person is in: its name (`groups.display`) and its id at the source
/// (`groups.value`, RFC 7643 §4.1.2), when the source gave one.
///
/// Groups repeat across people (a million people are in a few hundred groups), so a
/// membership is an 8-byte reference to a pair interned for the whole process (see
/// `intern_group`), not 48 bytes of strings. Compared, ordered and hashed as the pair
/// (name, then id), as when it held the strings itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group(&'static GroupData);

#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
struct GroupData {
    /// The group's name; `""` when the source gave only an id.
    display: CompactString,
    value: Option<CompactString>,
}

/// Every group seen, shared by all threads. Each distinct (name, id) pair is kept for the
/// life of the process, as `FieldName`s are: the set of groups is small and changes slowly.
fn all_groups() -> &'static Mutex<FxHashSet<&'static GroupData>> {
    static GROUPS: OnceLock<Mutex<FxHashSet<&'static GroupData>>> = OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

thread_local! {
    /// The groups this thread has already looked up: parsing a roster asks for the same
    /// few hundred groups millions of times, and this answers without taking the lock.
    static SEEN_GROUPS: RefCell<FxHashSet<&'static GroupData>> = RefCell::default();
}

fn intern_group(data: GroupData) -> &'static GroupData {
    if let Some(seen) = SEEN_GROUPS.with(|seen| seen.borrow().get(&data).copied()) {
        return seen;
    }
    let shared = {
        let mut all = all_groups().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match all.get(&data) {
            Some(existing) => *existing,
            None => {
                let leaked: &'static GroupData = Box::leak(Box::new(data));
                all.insert(leaked);
                leaked
            }
        }
    };
    SEEN_GROUPS.with(|seen| seen.borrow_mut().insert(shared));
    shared
}

impl Group {
    /// A group with a name (`""` when the source gave only an id) and maybe an id.
    pub fn new(display: impl Into<CompactString>, value: Option<CompactString>) -> Self {
        Group(intern_group(GroupData { display: display.into(), value }))
    }

    /// A group known only by its name (file sources, which have no group ids).
    pub fn named(name: impl Into<CompactString>) -> Self {
        Group::new(name, None)
    }

    /// The group's name (`groups.display`); `""` when the source gave only an id.
    pub fn display(&self) -> &'static str {
        &self.0.display
    }

    /// The group's id at the source (`groups.value`), when it gave one.
    pub fn value(&self) -> Option<&'static str> {
        self.0.value.as_deref()
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::named("")
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("display", &self.0.display).field("value", &self.0.value).finish()
    }
}

/// A group without an id is stored as its name, as every group was before groups had ids,
/// so stores written then read and write back the same bytes.
#[derive(Deserialize)]
#[serde(untagged)]
enum GroupRepr {
    Name(CompactString),
    Full {
        #[serde(default)]
        display: CompactString,
        #[serde(default)]
        value: Option<CompactString>,
    },
}

/// `GroupRepr`, borrowed from the interned pair for writing.
#[derive(Serialize)]
#[serde(untagged)]
enum GroupReprRef<'a> {
    Name(&'a str),
    Full {
        display: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<&'a str>,
    },
}

impl Serialize for Group {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value() {
            None => GroupReprRef::Name(self.display()),
            value => GroupReprRef::Full { display: self.display(), value },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match GroupRepr::deserialize(deserializer)? {
            GroupRepr::Name(display) => Group::named(display),
            GroupRepr::Full { display, value } => Group::new(display, value),
        })
    }
}

impl From<&str> for Group {
    fn from(name: &str) -> Self {
        Group::named(name)
    }
}

impl PartialEq<&str> for Group {
    fn eq(&self, name: &&str) -> bool {
        self.0.display == *name
    }
}

impl PartialEq<String> for Group {
    fn eq(&self, name: &String) -> bool {
        self.0.display == name.as_str()
    }
}
