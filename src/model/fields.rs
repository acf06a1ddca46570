//! `Fields`: an account's comparable fields, field name → value, in name order.
//!
//! A sorted vector rather than a `BTreeMap`: accounts carry three to ten fields, and a
//! B-tree node reserves room for eleven pairs (~540 bytes) before holding one. At a million
//! accounts and a million desired accounts that was the largest single cost of a plan.
//! Names are interned (`FieldName`, 16 bytes) and values are `CompactString`s: nearly all
//! values (first and last names, most emails) fit in its 24 inline bytes, so a field costs
//! 40 bytes and no heap block of its own.
//! It serialises exactly as a map of strings did, so plans, the store and the audit trail
//! are unchanged.

use std::borrow::Borrow;
use std::fmt;

use compact_str::CompactString;

use super::FieldName;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Field name → value, each name once, iterated in name order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Fields(Vec<(FieldName, CompactString)>);

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }

    /// From pairs in any order; later pairs win over earlier ones with the same name, as
    /// in a map. The vector is kept, so one sized exactly is the only allocation.
    pub fn from_pairs(mut pairs: Vec<(FieldName, CompactString)>) -> Fields {
        // A stable sort keeps equal names in arrival order; keep the last of each, in place
        // (`dedup_by` keeps the earlier of two, so the later one's value moves into it).
        pairs.sort_by_key(|pair| pair.0);
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        pairs.shrink_to_fit();
        Fields(pairs)
    }

    fn position<Q: Ord + ?Sized>(&self, name: &Q) -> Result<usize, usize>
    where
        FieldName: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(name))
    }

    pub fn get<Q: Ord + ?Sized>(&self, name: &Q) -> Option<&CompactString>
    where
        FieldName: Borrow<Q>,
    {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, name: &Q) -> bool
    where
        FieldName: Borrow<Q>,
    {
        self.position(name).is_ok()
    }

    /// Set a field; returns the value it replaced.
    pub fn insert(&mut self, name: FieldName, value: CompactString) -> Option<CompactString> {
        match self.position(name.as_str()) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// The value of `name`, set to `default()` first if absent.
    pub fn get_or_insert_with(&mut self, name: &str, default: impl FnOnce() -> CompactString) -> &mut CompactString {
        let i = match self.position(name) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (name.into(), default()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, name: &Q) -> Option<CompactString>
    where
        FieldName: Borrow<Q>,
    {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&FieldName, &CompactString)> + DoubleEndedIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &FieldName> + DoubleEndedIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &CompactString> + DoubleEndedIterator {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<Q: Ord + ?Sized> std::ops::Index<&Q> for Fields
where
    FieldName: Borrow<Q>,
{
    type Output = CompactString;

    /// The value of a field that must be there, as a map's index is.
    fn index(&self, name: &Q) -> &CompactString {
        self.get(name).expect("no such field")
    }
}

/// Pairs of anything that makes a name and a `CompactString` (`String`, `&str`, ...), so
/// call sites build fields from plain strings without converting each one by hand.
impl<K: Into<FieldName>, V: Into<CompactString>> Extend<(K, V)> for Fields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.into(), v.into());
        }
    }
}

impl<K: Into<FieldName>, V: Into<CompactString>> FromIterator<(K, V)> for Fields {
    /// Later pairs win over earlier ones with the same name, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Fields {
        Fields::from_pairs(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<K: Into<FieldName>, V: Into<CompactString>, const N: usize> From<[(K, V); N]> for Fields {
    fn from(pairs: [(K, V); N]) -> Fields {
        pairs.into_iter().collect()
    }
}

impl<K: Into<FieldName>, V: Into<CompactString>> From<std::collections::BTreeMap<K, V>> for Fields {
    fn from(map: std::collections::BTreeMap<K, V>) -> Fields {
        // Already sorted and unique (a string's order is its bytes' order either way).
        Fields(map.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a FieldName, &'a CompactString);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (FieldName, CompactString)>,
        fn(&'a (FieldName, CompactString)) -> Self::Item,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Fields {
    type Item = (FieldName, CompactString);
    type IntoIter = std::vec::IntoIter<(FieldName, CompactString)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of field names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = access.next_entry::<FieldName, CompactString>()? {
                    pairs.push(pair);
                }
                Ok(Fields::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut fields = f(&[("last_name", "Hopper"), ("email", "g@x.com"), ("first_name", "Grace")]);
        assert_eq!(fields.keys().map(FieldName::as_str).collect::<Vec<_>>(), ["email", "first_name", "last_name"]);
        assert_eq!(fields.insert("email".into(), "h@x.com".into()), Some("g@x.com".into()));
        assert_eq!(fields.get("email").map(CompactString::as_str), Some("h@x.com"));
        assert_eq!(fields.remove("first_name"), Some("Grace".into()));
        assert!(!fields.contains_key("first_name"));
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn the_last_of_repeated_names_wins() {
        assert_eq!(f(&[("a", "1"), ("b", "2"), ("a", "3")]).get("a").map(CompactString::as_str), Some("3"));
    }

    #[test]
    fn serialises_exactly_as_a_btreemap() {
        let fields = f(&[("z", "1"), ("a", "2")]);
        let map: std::collections::BTreeMap<String, String> =
            fields.clone().into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let json = serde_json::to_string(&fields).unwrap();
        assert_eq!(json, serde_json::to_string(&map).unwrap());
        assert_eq!(serde_json::from_str::<Fields>(&json).unwrap(), fields);
    }
}
