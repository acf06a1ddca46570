//! Directory entries as rosterd reads them, decoded from the wire without a panic on any input
//! (the LDAP crate's own decoders `expect` well-formed BER), plus the paged-results cookie and
//! AD's ranged attribute values.

use std::collections::BTreeMap;

use ldap3::asn1::{parse_tag, StructureTag, PL};
use ldap3::controls::Control;
use ldap3::ResultEntry;

/// The Simple Paged Results control (RFC 2696).
pub const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// One entry: its DN and its attributes by lower-cased name (options such as `;range=0-1499`
/// kept in the name), values as bytes (AD's `objectGUID` is binary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attrs: BTreeMap<String, Vec<Vec<u8>>>,
}

/// What one search answer item was.
#[derive(Debug)]
pub enum Found {
    Entry(Entry),
    /// A search result reference (a continuation into another naming context): its URLs.
    Reference(Vec<String>),
}

/// An answer item that is not a well-formed entry or reference.
#[derive(Debug, thiserror::Error)]
#[error("a search answer item is not a well-formed LDAP entry (BER tag {tag})")]
pub struct Malformed {
    pub tag: u64,
}

impl Entry {
    /// A test or an emulator builds entries by hand.
    pub fn new(dn: &str) -> Entry {
        Entry { dn: dn.into(), attrs: BTreeMap::new() }
    }

    /// Add text values to an attribute.
    pub fn with(mut self, name: &str, values: &[&str]) -> Entry {
        let slot = self.attrs.entry(name.to_ascii_lowercase()).or_default();
        slot.extend(values.iter().map(|v| v.as_bytes().to_vec()));
        self
    }

    /// Add one binary value to an attribute.
    pub fn with_bytes(mut self, name: &str, value: &[u8]) -> Entry {
        self.attrs.entry(name.to_ascii_lowercase()).or_default().push(value.to_vec());
        self
    }

    /// Every value of an attribute, as bytes.
    pub fn raw(&self, name: &str) -> &[Vec<u8>] {
        self.attrs.get(&name.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every UTF-8 value of an attribute (others are skipped: text attributes are UTF-8).
    pub fn texts(&self, name: &str) -> Vec<&str> {
        self.raw(name).iter().filter_map(|v| std::str::from_utf8(v).ok()).collect()
    }

    /// The first non-empty text value of an attribute.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts(name).into_iter().map(str::trim).find(|v| !v.is_empty())
    }

    /// The values of `name` however the server sent them: whole, or as AD's range
    /// `name;range=0-1499`. Also the start of the next range when more remain.
    pub fn ranged(&self, name: &str) -> (Vec<&str>, Option<u64>) {
        let base = name.to_ascii_lowercase();
        let prefix = format!("{base};range=");
        let mut values = self.texts(&base);
        let mut next = None;
        for (key, vals) in &self.attrs {
            let Some(range) = key.strip_prefix(&prefix) else { continue };
            values.extend(vals.iter().filter_map(|v| std::str::from_utf8(v).ok()));
            next = next_range(range);
        }
        (values, next)
    }
}

/// `0-1499` → Some(1500); `1500-*` → None (the last range).
pub fn next_range(range: &str) -> Option<u64> {
    let (_, high) = range.split_once('-')?;
    if high == "*" {
        return None;
    }
    high.parse::<u64>().ok().and_then(|h| h.checked_add(1))
}

/// Decode one search answer item.
pub fn decode(item: ResultEntry) -> Result<Found, Malformed> {
    let tag = item.0;
    let id = tag.id;
    let bad = || Malformed { tag: id };
    let parts = constructed(tag).ok_or_else(bad)?;
    match id {
        // SearchResultReference: SEQUENCE OF URI
        19 => Ok(Found::Reference(parts.into_iter().filter_map(primitive).map(lossy).collect())),
        // SearchResultEntry: objectName, attributes
        4 => {
            let mut parts = parts.into_iter();
            let dn = parts.next().and_then(primitive).map(lossy).ok_or_else(bad)?;
            let list = parts.next().and_then(constructed).ok_or_else(bad)?;
            let mut entry = Entry::new(&dn);
            for attribute in list {
                let mut pair = constructed(attribute).ok_or_else(bad)?.into_iter();
                let name = pair.next().and_then(primitive).map(lossy).ok_or_else(bad)?;
                let values = pair.next().and_then(constructed).ok_or_else(bad)?;
                let slot = entry.attrs.entry(name.to_ascii_lowercase()).or_default();
                slot.extend(values.into_iter().filter_map(primitive));
            }
            Ok(Found::Entry(entry))
        }
        _ => Err(bad()),
    }
}

/// The cookie of a paged-results answer control: `None` when the server sent none (or one
/// that does not decode), which leaves the listing incomplete.
pub fn paged_cookie(controls: &[Control]) -> Option<Vec<u8>> {
    let value = controls.iter().find(|c| c.1.ctype == PAGED_RESULTS_OID)?.1.val.as_deref()?;
    let (_, tag) = parse_tag(value).ok()?;
    let mut parts = constructed(tag)?.into_iter();
    let _estimate = parts.next()?;
    primitive(parts.next()?)
}

fn constructed(tag: StructureTag) -> Option<Vec<StructureTag>> {
    match tag.payload {
        PL::C(parts) => Some(parts),
        PL::P(_) => None,
    }
}

fn primitive(tag: StructureTag) -> Option<Vec<u8>> {
    match tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
