//! `FieldName`: a field's name, held once for the whole process and shared by every
//! account that has the field.
//!
//! Field names come from a small fixed vocabulary (each connector's comparable fields and
//! the mapping's field names), while a listing holds them once per account: a million
//! accounts with three fields repeated "first_name" three million times. An interned name
//! is a 16-byte reference, and a field costs 40 bytes instead of 48. Each distinct name is
//! kept for the life of the process; the vocabulary is bounded, so that is a few hundred
//! bytes.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use compact_str::CompactString;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field name, compared, ordered and hashed as its text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldName(&'static str);

/// Every name seen, shared by all threads.
fn names() -> &'static Mutex<FxHashSet<&'static str>> {
    static NAMES: OnceLock<Mutex<FxHashSet<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(Default::default)
}

thread_local! {
    /// The names this thread has already looked up: mapping a million people asks for
    /// the same few names millions of times, and this answers without taking the lock.
    static SEEN: RefCell<FxHashSet<&'static str>> = RefCell::default();
}

impl FieldName {
    pub fn new(name: &str) -> FieldName {
        if let Some(seen) = SEEN.with(|seen| seen.borrow().get(name).copied()) {
            return FieldName(seen);
        }
        let shared = {
            let mut all = names().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match all.get(name) {
                Some(existing) => *existing,
                None => {
                    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
                    all.insert(leaked);
                    leaked
                }
            }
        };
        SEEN.with(|seen| seen.borrow_mut().insert(shared));
        FieldName(shared)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for FieldName {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for FieldName {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<&str> for FieldName {
    fn from(name: &str) -> FieldName {
        FieldName::new(name)
    }
}

impl From<&String> for FieldName {
    fn from(name: &String) -> FieldName {
        FieldName::new(name)
    }
}

impl From<String> for FieldName {
    fn from(name: String) -> FieldName {
        FieldName::new(&name)
    }
}

impl From<CompactString> for FieldName {
    fn from(name: CompactString) -> FieldName {
        FieldName::new(&name)
    }
}

impl From<&CompactString> for FieldName {
    fn from(name: &CompactString) -> FieldName {
        FieldName::new(name)
    }
}

impl From<FieldName> for String {
    fn from(name: FieldName) -> String {
        name.0.to_string()
    }
}

impl PartialEq<str> for FieldName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FieldName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for FieldName {
    fn eq(&self, other: &String) -> bool {
        self.0 == other
    }
}

impl Serialize for FieldName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FieldName, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(FieldName::new(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_of_each_name_across_threads() {
        let here = FieldName::new("first_name");
        let there = std::thread::spawn(|| FieldName::new(&String::from("first_name"))).join().unwrap();
        assert!(std::ptr::eq(here.as_str(), there.as_str()));
        assert_eq!(here, "first_name");
        assert!(FieldName::new("a") < FieldName::new("b"));
    }

    #[test]
    fn serialises_as_its_text() {
        let name: FieldName = serde_json::from_str("\"last_name\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"last_name\"");
        assert_eq!(format!("{name} {name:?}"), "last_name \"last_name\"");
    }
}
