//! The SCIM emulator's Users requests: listing with paging and filters, reads, creates,
//! PATCH and PUT, each checked as strictly as `platforms/scim.md` describes.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::*;

/// The filters the emulator understands.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum UserFilter {
    /// `userName eq "value"` (case-insensitive), the lookup of the contract's "Find".
    UserName(String),
    /// `meta.lastModified gt|ge "<date-time>"`: users changed after (or at) an instant.
    ModifiedAfter { at: chrono::DateTime<chrono::Utc>, inclusive: bool },
}

impl UserFilter {
    fn matches(&self, user: &ScimUser) -> bool {
        match self {
            UserFilter::UserName(name) => &user.user_name.to_lowercase() == name,
            UserFilter::ModifiedAfter { at, inclusive: true } => user.last_modified >= *at,
            UserFilter::ModifiedAfter { at, inclusive: false } => user.last_modified > *at,
        }
    }
}

/// `userName eq "value"` or `meta.lastModified gt|ge "<date-time>"` (unless refused by
/// the options); anything else is a 400 `invalidFilter`.
pub(super) fn parse_filter(filter: &str, last_modified: bool) -> Result<UserFilter, ScimError> {
    let invalid =
        || ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), format!("unsupported filter {filter:?}"));
    let mut parts = filter.trim().splitn(3, char::is_whitespace);
    let (Some(attribute), Some(op), Some(literal)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let literal = serde_json::from_str::<String>(literal.trim()).map_err(|_| invalid())?;
    let op = op.to_lowercase();
    if attribute.eq_ignore_ascii_case("userName") && op == "eq" {
        return Ok(UserFilter::UserName(literal.to_lowercase()));
    }
    if last_modified && attribute.eq_ignore_ascii_case("meta.lastModified") && (op == "gt" || op == "ge") {
        let at = chrono::DateTime::parse_from_rfc3339(&literal).map_err(|_| {
            ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), format!("{literal:?} is not a date-time"))
        })?;
        return Ok(UserFilter::ModifiedAfter { at: at.with_timezone(&chrono::Utc), inclusive: op == "ge" });
    }
    Err(invalid())
}

pub(super) fn query_int(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ScimError> {
    q.get(name)
        .map(|v| v.trim().parse::<i64>().map_err(|_| ScimError::value(format!("{name} must be an integer"))))
        .transpose()
}

pub(super) fn body_object(body: &[u8]) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ScimError::syntax("the request body must be a JSON object")),
    }
}

/// `schemas` must name `urn` (case-insensitively).
pub(super) fn check_schemas(map: &Map<String, Value>, urn: &str) -> Result<(), ScimError> {
    let schemas = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).and_then(|(_, v)| v.as_array());
    let named = schemas.is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn))));
    match named {
        true => Ok(()),
        false => Err(ScimError::syntax(format!("schemas must hold {urn}"))),
    }
}
impl Shared {
    /// `GET /Users`: paged, optionally filtered by userName. `startIndex` below 1 counts as 1
    /// and a negative `count` as 0 (RFC 7644 §3.4.2.4); `count` is capped at `max_results`.
    pub(super) fn list(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        if let Some(unknown) = q.keys().find(|k| !["startIndex", "count", "filter"].contains(&k.as_str())) {
            return Err(ScimError::value(format!("unsupported query parameter {unknown:?}")));
        }
        let start = query_int(q, "startIndex")?.unwrap_or(1).max(1);
        let max = self.options.max_results;
        let count = query_int(q, "count")?.map_or(max, |c| usize::try_from(c.max(0)).unwrap_or(max).min(max));
        let wanted = q.get("filter").map(|f| parse_filter(f, self.options.last_modified_filter)).transpose()?;
        self.log_listing(q);
        let store = self.lock();
        let matching: Vec<&ScimUser> =
            store.users.values().filter(|u| wanted.as_ref().is_none_or(|w| w.matches(u))).collect();
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        // A silent cap: announced nowhere, visible only in the page (`itemsPerPage`).
        let count = if count == 0 { 0 } else { self.page_cap.apply(count) };
        let mut resources: Vec<Value> = matching.iter().skip(skip).take(count).map(|u| self.render(u)).collect();
        if injected.truncate {
            // The page keeps its totalResults but is one resource short.
            resources.pop();
        }
        let body = json!({
            "schemas": [LIST_URN],
            "totalResults": matching.len(),
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        });
        Ok(scim_json(StatusCode::OK, body, None))
    }

    pub(super) fn get_user(&self, headers: &HeaderMap, id: &str) -> Result<Response, ScimError> {
        self.authorize(headers)?;
        let store = self.lock();
        let user = store.users.get(id).ok_or_else(|| ScimError::not_found(id))?;
        Ok(self.single(StatusCode::OK, user))
    }

    /// `POST /Users`: a new user from the resource's attributes; 409 if the userName is taken.
    pub(super) fn create(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("POST", None, headers, body)?;
        check_schemas(&map, USER_URN)?;
        let mut user = ScimUser { last_modified: chrono::Utc::now(), ..ScimUser::blank("") };
        fill(&mut user, &map, &[])?;
        let mut store = self.lock();
        store.check_unique(&user.user_name, None)?;
        let user = store.insert(user);
        Ok(self.single(StatusCode::CREATED, &user))
    }

    /// `PUT /Users/{id}`: the resource replaced by the body (`id` and `meta` ignored).
    pub(super) fn put(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let map = self.accept_write("PUT", Some(id), headers, body)?;
        check_schemas(&map, USER_URN)?;
        let mut store = self.lock();
        let current = self.current(store.users.get(id), id, ScimUser::etag, headers)?;
        let mut user = ScimUser {
            version: current.version,
            password: current.password.clone(),
            last_modified: chrono::Utc::now(),
            ..ScimUser::blank(id)
        };
        if let Some(other) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")).and_then(|(_, v)| v.as_str()) {
            if other != id {
                return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), "id cannot change"));
            }
        }
        fill(&mut user, &map, &["id", "meta"])?;
        store.check_unique(&user.user_name, Some(id))?;
        user.version += 1;
        store.users.insert(id.to_string(), user.clone());
        Ok(self.single(StatusCode::OK, &user))
    }

    /// `PATCH /Users/{id}`: `replace` operations on rosterd's attributes, all or nothing.
    /// A PATCH request's checks shared by users and groups: the write is accepted, PATCH is
    /// announced, the schema is PatchOp's, and `Operations` is a non-empty list (returned).
    pub(super) fn accept_patch(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Vec<Value>, ScimError> {
        let map = self.accept_write("PATCH", Some(id), headers, body)?;
        if !self.options.patch_supported {
            return Err(ScimError::new(StatusCode::NOT_IMPLEMENTED, None, "PATCH is not supported"));
        }
        check_schemas(&map, PATCH_URN)?;
        let operations = map.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")).and_then(|(_, v)| v.as_array());
        let operations = operations
            .filter(|o| !o.is_empty())
            .ok_or_else(|| ScimError::syntax("Operations must be a non-empty list"))?;
        Ok(operations.clone())
    }

    pub(super) fn patch(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Response, ScimError> {
        let operations = self.accept_patch(headers, id, body)?;
        let mut store = self.lock();
        let current = self.current(store.users.get(id), id, ScimUser::etag, headers)?;
        let mut user = patched(current, &operations, apply_operation)?;
        store.check_unique(&user.user_name, Some(id))?;
        user.version += 1;
        user.last_modified = chrono::Utc::now();
        let etag = user.etag();
        store.users.insert(id.to_string(), user);
        // As scim2-server does: 204, the new version in the ETag header only.
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let (true, Ok(tag)) = (self.options.etag_supported, header::HeaderValue::from_str(&etag)) {
            response.headers_mut().insert(header::ETAG, tag);
        }
        Ok(response)
    }
}
