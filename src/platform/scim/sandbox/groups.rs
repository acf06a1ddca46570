//! `/Groups` of the SCIM emulator (RFC 7643 §4.2, RFC 7644), as strict as its `/Users`.
//!
//! Paged listing (`startIndex` / `count`, capped at `max_results`; no other parameter),
//! `POST` needing the Group schema and a `displayName` no other group holds (409
//! `uniqueness`), members that must be existing users or groups (400 `invalidValue`),
//! `PATCH` with `replace displayName`, `add members` and `remove members[value eq "…"]`
//! only (400 `invalidPath` otherwise, 501 when PATCH is not announced), `PUT` of the whole
//! group, `DELETE`, and a version on every group (`If-Match`, 412 when stale).

use crate::platform::emulator::faulted;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::routes::{on_collection, on_resource};
use super::ScimSandbox;
use super::{
    answer, assign_id, check_schemas, patched, query_int, scim_json, Params, ScimError, Shared, Store, BASE_PATH,
    LIST_URN,
};
use crate::sandbox::faults::Injected;

pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Top-level attributes a POST or PUT may carry (`id` and `meta` only on PUT, and ignored).
const GROUP_ATTRIBUTES: &[&str] = &["schemas", "displayname", "externalid", "members"];

/// A group as the emulator stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroup {
    /// Empty asks [`ScimSandbox::insert_group`] to assign the next id.
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member ids (users, or groups when nested), in the order given.
    pub members: Vec<String>,
    pub version: u64,
}

impl ScimGroup {
    pub fn new(display_name: &str, members: &[&str]) -> ScimGroup {
        ScimGroup {
            id: String::new(),
            display_name: display_name.into(),
            external_id: None,
            members: members.iter().map(|m| m.to_string()).collect(),
            version: 1,
        }
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    fn json(&self, versioned: bool, users: &BTreeMap<String, super::ScimUser>) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|m| json!({ "value": m, "type": if users.contains_key(m) { "User" } else { "Group" } }))
            .collect();
        let mut body = json!({
            "schemas": [GROUP_URN],
            "id": self.id,
            "displayName": self.display_name,
            "members": members,
            "meta": { "resourceType": "Group", "location": format!("{BASE_PATH}/Groups/{}", self.id) },
        });
        if let Some(e) = &self.external_id {
            body["externalId"] = json!(e);
        }
        if versioned {
            body["meta"]["version"] = json!(self.etag());
        }
        body
    }
}

impl Store {
    fn insert_group(&mut self, mut group: ScimGroup) -> ScimGroup {
        assign_id(&mut group.id, &mut self.next_group_id, 'g');
        self.groups.insert(group.id.clone(), group.clone());
        group
    }

    /// `displayName` is unique among groups here (many providers insist), case-insensitively.
    fn check_group_name(&self, name: &str, except: Option<&str>) -> Result<(), ScimError> {
        let wanted = name.trim().to_lowercase();
        let taken = self
            .groups
            .values()
            .any(|g| Some(g.id.as_str()) != except && g.display_name.trim().to_lowercase() == wanted);
        match taken {
            true => Err(ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                format!("displayName {name:?} is already in use"),
            )),
            false => Ok(()),
        }
    }

    fn check_members(&self, members: &[String]) -> Result<(), ScimError> {
        match members.iter().find(|m| !self.users.contains_key(*m) && !self.groups.contains_key(*m)) {
            Some(unknown) => Err(ScimError::value(format!("member {unknown:?} is not a user or group here"))),
            None => Ok(()),
        }
    }
}

fn members_of(value: &Value) -> Result<Vec<String>, ScimError> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(ScimError::value("members must be a list of {value}")),
    };
    list.iter()
        .map(|m| {
            let value = m.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")));
            match value.map(|(_, v)| v) {
                Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
                _ => Err(ScimError::value("every member needs a value (the member's id)")),
            }
        })
        .collect()
}

/// A group from a POST or PUT body.
fn fill_group(group: &mut ScimGroup, map: &Map<String, Value>, ignored: &[&str]) -> Result<(), ScimError> {
    for (key, value) in map {
        let lower = key.to_lowercase();
        if ignored.contains(&lower.as_str()) || lower == "schemas" {
            continue;
        }
        match lower.as_str() {
            "displayname" => group.display_name = value.as_str().unwrap_or_default().to_string(),
            "externalid" => group.external_id = value.as_str().map(str::to_string),
            "members" => group.members = members_of(value)?,
            _ if !GROUP_ATTRIBUTES.contains(&lower.as_str()) => {
                return Err(ScimError::syntax(format!("unknown attribute {key:?}")))
            }
            _ => {}
        }
    }
    if group.display_name.trim().is_empty() {
        return Err(ScimError::value("displayName is required"));
    }
    Ok(())
}

/// One PATCH operation on a group: the three rosterd sends, nothing else.
fn apply_group_operation(group: &mut ScimGroup, operation: &Value) -> Result<(), ScimError> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default().to_lowercase();
    let path = operation.get("path").and_then(Value::as_str).unwrap_or_default();
    let value = operation.get("value").unwrap_or(&Value::Null);
    match (op.as_str(), path.to_lowercase().as_str()) {
        ("replace", "displayname") => match value.as_str().filter(|v| !v.trim().is_empty()) {
            Some(name) => group.display_name = name.to_string(),
            None => return Err(ScimError::value("displayName must be a non-empty string")),
        },
        ("add", "members") => {
            for id in members_of(value)? {
                if !group.members.contains(&id) {
                    group.members.push(id);
                }
            }
        }
        ("remove", lower) if lower.starts_with("members[value eq ") && lower.ends_with(']') => {
            let literal = &path["members[value eq ".len()..path.len() - 1];
            let id: String = serde_json::from_str(literal.trim()).map_err(|_| {
                ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), format!("bad filter in {path:?}"))
            })?;
            group.members.retain(|m| *m != id);
        }
        _ => return Err(ScimError::path(format!("op {op:?} on path {path:?} is not supported"))),
    }
    Ok(())
}

impl Shared {
    fn group_answer(&self, status: StatusCode, group: &ScimGroup, store: &Store) -> Response {
        let versioned = self.options.etag_supported;
        scim_json(status, group.json(versioned, &store.users), versioned.then(|| group.etag()))
    }

    fn list_groups(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        if let Some(unknown) = q.keys().find(|k| !["startIndex", "count"].contains(&k.as_str())) {
            return Err(ScimError::value(format!("unsupported query parameter {unknown:?}")));
        }
        let start = query_int(q, "startIndex")?.unwrap_or(1).max(1);
        let max = self.options.max_results;
        let count = query_int(q, "count")?.map_or(max, |c| usize::try_from(c.max(0)).unwrap_or(max).min(max));
        let store = self.lock();
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        let versioned = self.options.etag_supported;
        let mut resources: Vec<Value> =
            store.groups.values().skip(skip).take(count).map(|g| g.json(versioned, &store.users)).collect();
        if injected.truncate {
            // The page keeps its totalResults but is one resource short.
            resources.pop();
        }
        let body = json!({
            "schemas": [LIST_URN],
            "totalResults": store.groups.len(),
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        });
        Ok(scim_json(StatusCode::OK, body, None))
    }

    fn get_group(&self, headers: &HeaderMap, id: &str) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        let store = self.lock();
        let group = store.groups.get(id).ok_or_else(|| ScimError::not_found(id))?;
        Ok(self.group_answer(StatusCode::OK, group, &store))
    }

    fn create_group(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("POST", None, headers, body)?;
        check_schemas(&map, GROUP_URN)?;
        let mut group = ScimGroup::new("", &[]);
        fill_group(&mut group, &map, &[])?;
        let mut store = self.lock();
        store.check_group_name(&group.display_name, None)?;
        store.check_members(&group.members)?;
        let group = store.insert_group(group);
        Ok(self.group_answer(StatusCode::CREATED, &group, &store))
    }

    fn put_group(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("PUT", Some(id), headers, body)?;
        check_schemas(&map, GROUP_URN)?;
        if map.iter().any(|(k, v)| k.eq_ignore_ascii_case("id") && v.as_str() != Some(id)) {
            return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), "id cannot change"));
        }
        let mut store = self.lock();
        let current = self.current(store.groups.get(id), id, ScimGroup::etag, headers)?;
        let mut group = ScimGroup { id: id.into(), version: current.version + 1, ..ScimGroup::new("", &[]) };
        fill_group(&mut group, &map, &["id", "meta"])?;
        store.check_group_name(&group.display_name, Some(id))?;
        store.check_members(&group.members)?;
        store.groups.insert(id.into(), group.clone());
        Ok(self.group_answer(StatusCode::OK, &group, &store))
    }

    fn patch_group(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let operations = self.accept_patch(headers, id, body)?;
        let mut store = self.lock();
        let current = self.current(store.groups.get(id), id, ScimGroup::etag, headers)?;
        let mut group = patched(current, &operations, apply_group_operation)?;
        store.check_group_name(&group.display_name, Some(id))?;
        store.check_members(&group.members)?;
        group.version += 1;
        store.groups.insert(id.into(), group);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    fn delete_group(&self, headers: &HeaderMap, id: &str) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        let if_match = super::header_str(headers, axum::http::header::IF_MATCH).map(str::to_string);
        let mut store = self.lock();
        let write = super::ScimWrite { method: "DELETE".into(), id: Some(id.into()), if_match, body: Value::Null };
        store.writes.push(write);
        store.groups.remove(id).ok_or_else(|| ScimError::not_found(id))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

type AppState = State<Arc<Shared>>;

async fn list_route(State(s): AppState, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    faulted(s, "groups list", |s, injected| answer(s.list_groups(&headers, &q, injected))).await
}

/// The `/Groups` routes, added to the emulator's router.
pub(super) fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    router
        .route(
            &format!("{BASE_PATH}/Groups"),
            get(list_route).post(on_collection("group create", Shared::create_group)),
        )
        .route(
            &format!("{BASE_PATH}/Groups/{{id}}"),
            get(on_resource("group get", |s, headers, id, _| s.get_group(headers, id)))
                .patch(on_resource("group patch", Shared::patch_group))
                .put(on_resource("group put", Shared::put_group))
                .delete(on_resource("group delete", |s, headers, id, _| s.delete_group(headers, id))),
        )
}

impl ScimSandbox {
    /// Every group, in creation order.
    pub fn groups(&self) -> Vec<ScimGroup> {
        self.state().lock().groups.values().cloned().collect()
    }

    pub fn group_by_name(&self, name: &str) -> Option<ScimGroup> {
        self.groups().into_iter().find(|g| g.display_name.eq_ignore_ascii_case(name))
    }

    /// Seed a group (not validated, as an administrator's own group would be).
    pub fn insert_group(&self, group: ScimGroup) -> ScimGroup {
        self.state().lock().insert_group(group)
    }
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
