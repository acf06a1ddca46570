//! Reading resources out: one rendered for an answer (its `meta.location`, a User's
//! `groups` derived from the Groups), and the listing with `filter`, `startIndex`/`count`
//! paging and `attributes`/`excludedAttributes` (RFC 7644 §3.4.2).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::resource::{Kind, Stored};
use super::schema::{ENTERPRISE_URN, USER_URN};
use crate::filter::Filter;
use crate::platform::scim::wire::LIST_URN;

/// The most resources one page holds (`ServiceProviderConfig.filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

/// User id → the (id, displayName) of each Group it is a direct member of.
pub type Memberships = HashMap<String, Vec<(String, String)>>;

/// A stored resource as answered: `meta.location` under `base` (the SCIM base URL) and,
/// for a User, its `groups`.
pub fn render(kind: Kind, stored: &Stored, base: &str, memberships: &Memberships) -> Map<String, Value> {
    let mut body = stored.body.clone();
    let location = format!("{base}/{}/{}", kind.endpoint(), stored.id());
    if let Some(Value::Object(meta)) = body.get_mut("meta") {
        meta.insert("location".into(), json!(location));
    }
    if kind == Kind::User {
        let groups: Vec<Value> = memberships
            .get(stored.id())
            .into_iter()
            .flatten()
            .map(|(id, name)| json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"}))
            .collect();
        if !groups.is_empty() {
            body.insert("groups".into(), Value::Array(groups));
        }
    }
    body
}

/// The query of a listing, as sent.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

impl ListQuery {
    /// From the query parameters; a filter or number that cannot be read is a 400.
    pub fn parse(kind: Kind, q: &HashMap<String, String>) -> Result<ListQuery, ScimError> {
        let filter = match q.get("filter").map(|f| f.trim()).filter(|f| !f.is_empty()) {
            // The typed parse compares dates as dates; other attributes fall back to untyped.
            Some(f) if kind == Kind::User => Some(Filter::parse_person(f).or_else(|_| Filter::parse(f))),
            Some(f) => Some(Filter::parse(f)),
            None => None,
        };
        let filter = filter.transpose().map_err(|e| ScimError::Filter(format!("filter {e}")))?;
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            let raw = q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
            raw.map(|v| v.parse::<i64>().map_err(|_| ScimError::Value(format!("{name} must be an integer"))))
                .transpose()
        };
        // RFC 7644 §3.4.2.4: a startIndex below 1 is 1 and a negative count is 0.
        let start_index = number("startIndex")?.unwrap_or(1).max(1) as usize;
        let count = number("count")?.map_or(MAX_RESULTS, |c| c.clamp(0, MAX_RESULTS as i64) as usize);
        Ok(ListQuery { filter, start_index, count, projection: Projection::parse(q) })
    }

    /// The ListResponse of the matching `resources` (already rendered, in a stable order).
    pub fn answer(&self, resources: Vec<Map<String, Value>>) -> Value {
        let matching: Vec<Map<String, Value>> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(&Value::Object(r.clone()))))
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| Value::Object(self.projection.apply(r)))
            .collect();
        json!({
            "schemas": [LIST_URN],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5): `id` and `schemas` always stay.
#[derive(Debug, Default)]
pub struct Projection {
    only: Vec<String>,
    except: Vec<String>,
}

const ALWAYS: [&str; 2] = ["id", "schemas"];

impl Projection {
    pub fn parse(q: &HashMap<String, String>) -> Projection {
        let list = |name: &str| -> Vec<String> {
            let raw = q.get(name).map(String::as_str).unwrap_or_default();
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        };
        Projection { only: list("attributes"), except: list("excludedAttributes") }
    }

    pub fn apply(&self, resource: Map<String, Value>) -> Map<String, Value> {
        let mut resource = resource;
        if !self.only.is_empty() {
            let mut out = Map::new();
            for (key, value) in &resource {
                if ALWAYS.contains(&key.as_str()) {
                    out.insert(key.clone(), value.clone());
                }
            }
            for path in &self.only {
                copy(&resource, &mut out, path);
            }
            resource = out;
        }
        for path in &self.except {
            remove(&mut resource, path);
        }
        resource
    }
}

/// A projection path as (top-level key, sub-attribute): `name.givenName`, the enterprise
/// `urn:…:User:department` (its key is the extension's), and core-URN-prefixed names.
fn split(path: &str) -> (String, Option<String>) {
    let lower = path.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix(&ENTERPRISE_URN.to_ascii_lowercase()) {
        let attr = path.get(path.len() - rest.len()..).unwrap_or_default().trim_start_matches(':');
        return (ENTERPRISE_URN.to_string(), (!attr.is_empty()).then(|| attr.to_string()));
    }
    let path = match lower.strip_prefix(&format!("{}:", USER_URN.to_ascii_lowercase())) {
        Some(rest) => path.get(path.len() - rest.len()..).unwrap_or_default(),
        None => path,
    };
    match path.split_once('.') {
        Some((top, sub)) => (top.to_string(), Some(sub.to_string())),
        None => (path.to_string(), None),
    }
}

fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &str) {
    let (top, sub) = split(path);
    let Some(key) = key_of(from, &top) else { return };
    let Some(value) = from.get(&key) else { return };
    match (sub, value) {
        (Some(sub), Value::Object(inner)) => {
            let Some(sub_key) = key_of(inner, &sub) else { return };
            let slot = to.entry(key).or_insert_with(|| json!({}));
            if let (Value::Object(target), Some(v)) = (slot, inner.get(&sub_key)) {
                target.insert(sub_key, v.clone());
            }
        }
        _ => {
            to.insert(key, value.clone());
        }
    }
}

fn remove(resource: &mut Map<String, Value>, path: &str) {
    let (top, sub) = split(path);
    if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&top)) {
        return;
    }
    let Some(key) = key_of(resource, &top) else { return };
    match sub {
        Some(sub) => {
            if let Some(Value::Object(inner)) = resource.get_mut(&key) {
                if let Some(sub_key) = key_of(inner, &sub) {
                    inner.remove(&sub_key);
                }
            }
        }
        None => {
            resource.remove(&key);
        }
    }
}
