//! The Entra emulator's routes: the token endpoint, the user and group listings, a
//! group's members, a user's groups and delta rounds, each checked as Graph checks them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::directory::{Resume, DEFAULT_SELECT, USER_PROPERTIES};
use super::{Inner, Shared};
use crate::platform::emulator::faulted;

/// Graph's largest `$top`; a listing with `$expand` holds at most [`EXPANDED_TOP`].
pub const MAX_TOP: usize = 999;
pub const EXPANDED_TOP: usize = 100;
const DEFAULT_TOP: usize = 100;
/// The fault-script names of the Graph routes (the token endpoint is `token`).
pub const GRAPH_ROUTES: &[&str] = &["users", "count", "delta", "memberOf", "groups", "members", "unknown"];

type AppState = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

/// Where a `$skiptoken` resumes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cursor {
    Users { offset: usize, top: usize, select: Vec<String>, expand: bool },
    Groups { offset: usize, top: usize },
    Members { group: String, transitive: bool, offset: usize, top: usize },
    MemberOf { user: String, transitive: bool, offset: usize, top: usize },
    Delta { since: u64, upto: u64, from: Resume, select: Vec<String> },
}

/// A Graph error answer.
pub(super) struct Failure(StatusCode, &'static str, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.1, "message": self.2,
            "innerError": {"date": "2026-01-01T00:00:00", "request-id": "00000000-0000-0000-0000-000000000000"}}});
        (self.0, Json(body)).into_response()
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, "Request_BadRequest", message.into())
}

fn answer(outcome: Result<Response, Failure>) -> Response {
    outcome.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn token_route(State(s): AppState, Form(form): Form<HashMap<String, String>>) -> Response {
    faulted(s, "token", |s, _| answer(s.issue_token(&form))).await
}

pub(super) async fn users_route(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    faulted(s, "users", |s, _| answer(s.graph(&headers, |inner| inner.users_page(&headers, &q)))).await
}

pub(super) async fn count_route(State(s): AppState, headers: HeaderMap) -> Response {
    faulted(s, "count", |s, _| answer(s.graph(&headers, |inner| inner.count(&headers)))).await
}

pub(super) async fn delta_route(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    faulted(s, "delta", |s, _| answer(s.graph(&headers, |inner| inner.delta_page(&headers, &q)))).await
}

pub(super) async fn groups_route(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    faulted(s, "groups", |s, _| answer(s.graph(&headers, |inner| inner.groups_page(&headers, &q)))).await
}

/// `/groups/{id}/members|transitiveMembers` (`GROUPS`) or `/users/{id}/memberOf|transitiveMemberOf`.
pub(super) async fn related_route<const GROUPS: bool>(
    State(s): AppState,
    headers: HeaderMap,
    Path((id, relation)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let (related, label) = if GROUPS { (Related::Members, "members") } else { (Related::MemberOf, "memberOf") };
    let route = |i: &mut Inner| i.related_page(&headers, &q, related, &id, &relation);
    faulted(s, label, |s, _| answer(s.graph(&headers, route))).await
}

pub(super) async fn unknown_route(State(s): AppState) -> Response {
    let failure = || Failure(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "Resource not found".into());
    faulted(s, "unknown", |_, _| failure().into_response()).await
}

/// Which relation a `/{kind}/{id}/{relation}` listing reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Related {
    Members,
    MemberOf,
}

impl Shared {
    /// The client-credentials grant, checked field by field as the token endpoint does.
    fn issue_token(&self, form: &HashMap<String, String>) -> Result<Response, Failure> {
        let (client_id, secret) = (self.options.app.0.as_str(), self.options.app.1.as_str());
        // Each field the endpoint checks, in its order, and how it refuses a wrong one.
        let checks = [
            (
                "grant_type",
                "client_credentials",
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ),
            (
                "scope",
                "https://graph.microsoft.com/.default",
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid.",
            ),
            ("client_id", client_id, 400, "unauthorized_client", 700016, "Application not found in the directory."),
            ("client_secret", secret, 401, "invalid_client", 7000215, "Invalid client secret provided."),
        ];
        for (key, wanted, status, error, code, what) in checks {
            if form.get(key).map(String::as_str) != Some(wanted) {
                let body = json!({"error": error, "error_description": format!("AADSTS{code}: {what}"),
                    "error_codes": [code], "timestamp": "2026-01-01 00:00:00Z", "trace_id": "0", "correlation_id": "0"});
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return Ok((status, Json(body)).into_response());
            }
        }
        let mut inner = self.lock();
        inner.serial += 1;
        let token = format!("eyJ0eXAiOiJKV1Qi.entra-access-{}-{:016x}", inner.serial, rand::random::<u64>());
        let lifetime = std::time::Duration::from_secs(self.options.token_lifetime_secs);
        inner.tokens.insert(token.clone(), (self.options.token_uses, tokio::time::Instant::now() + lifetime));
        inner.issued.push(token.clone());
        let body = json!({"token_type": "Bearer", "expires_in": self.options.token_lifetime_secs,
            "ext_expires_in": self.options.token_lifetime_secs, "access_token": token});
        Ok(Json(body).into_response())
    }

    /// Check the bearer token (and spend one of its uses), then serve.
    fn graph(
        &self,
        headers: &HeaderMap,
        serve: impl FnOnce(&mut Inner) -> Result<Response, Failure>,
    ) -> Result<Response, Failure> {
        let mut inner = self.lock();
        let token =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let expired = || {
            Failure(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.".into(),
            )
        };
        let Some(held) = token.and_then(|t| inner.tokens.get_mut(t)) else {
            return Err(Failure(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.".into(),
            ));
        };
        if held.1 <= tokio::time::Instant::now() || held.0 == Some(0) {
            return Err(expired());
        }
        if let Some(uses) = held.0.as_mut() {
            *uses -= 1;
        }
        serve(&mut inner)
    }
}

/// The `http://host` requests came to, for absolute links.
fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// `$top`: 1 to 999, 100 when absent.
fn top(q: &HashMap<String, String>) -> Result<usize, Failure> {
    let Some(raw) = q.get("$top") else { return Ok(DEFAULT_TOP) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_TOP).contains(&n) => Ok(n),
        _ => Err(bad(format!("Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive."))),
    }
}

/// Refuse query options this route does not take (`$filter`, `$count`, `$orderby`...).
fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Failure> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("Query option '{k}' is not allowed here."))),
        None => Ok(()),
    }
}

/// `$select` of a user listing, each property known (`extra` also allowed).
fn user_select(q: &HashMap<String, String>, extra: &[&str]) -> Result<Vec<String>, Failure> {
    let Some(raw) = q.get("$select") else {
        return Ok(DEFAULT_SELECT.iter().map(|s| s.to_string()).collect());
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim) {
        if !USER_PROPERTIES.contains(&name) && !extra.contains(&name) {
            return Err(bad(format!("Could not find a property named '{name}' on type 'microsoft.graph.user'.")));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

fn page(value: Vec<Value>, link: Option<(&str, String)>) -> Response {
    let mut body = json!({ "value": value });
    if let Some((key, url)) = link {
        body[key] = json!(url);
    }
    Json(body).into_response()
}

impl Inner {
    /// The cursor of `$skiptoken`, which must be one this route issued.
    fn resume(&self, q: &HashMap<String, String>, route: &str) -> Result<Option<Cursor>, Failure> {
        let Some(token) = q.get("$skiptoken") else { return Ok(None) };
        match self.cursors.get(token) {
            Some((issued_by, c)) if *issued_by == route => Ok(Some(c.clone())),
            _ => Err(bad(format!("Invalid $skiptoken '{token}'."))),
        }
    }

    /// A `@odata.nextLink` resuming at `cursor`: the same path, its own opaque token.
    fn next_link(&mut self, headers: &HeaderMap, route: &'static str, path: &str, cursor: Cursor) -> String {
        self.serial += 1;
        let token = format!("RFNwdAIAAQAAAB{:x}{:012x}", self.serial, rand::random::<u64>() & 0xffff_ffff_ffff);
        self.cursors.insert(token.clone(), (route, cursor));
        format!("{}/v1.0/{path}?$skiptoken={token}", origin(headers))
    }

    fn users_page(&mut self, headers: &HeaderMap, q: &HashMap<String, String>) -> Result<Response, Failure> {
        let cursor = match self.resume(q, "users")? {
            Some(c) => c,
            None => {
                only(q, &["$select", "$top", "$expand"])?;
                let expand = match q.get("$expand").map(String::as_str) {
                    None => false,
                    Some("manager" | "manager($select=id)") => true,
                    Some(other) => return Err(bad(format!("Could not find a navigation property '{other}'."))),
                };
                let top = if expand { top(q)?.min(EXPANDED_TOP) } else { top(q)? };
                Cursor::Users { offset: 0, top, select: user_select(q, &[])?, expand }
            }
        };
        let Cursor::Users { offset, top, select, expand } = cursor else { return Err(bad("cursor")) };
        let value: Vec<Value> =
            self.directory.users().skip(offset).take(top).map(|u| self.directory.listed(u, &select, expand)).collect();
        let more = offset + top < self.directory.len();
        let link = more.then(|| {
            let next = Cursor::Users { offset: offset + top, top, select, expand };
            ("@odata.nextLink", self.next_link(headers, "users", "users", next))
        });
        Ok(page(value, link))
    }

    fn count(&mut self, headers: &HeaderMap) -> Result<Response, Failure> {
        if headers.get("ConsistencyLevel").and_then(|v| v.to_str().ok()) != Some("eventual") {
            return Err(bad(
                "Count is not supported for this request without the ConsistencyLevel header set to 'eventual'.",
            ));
        }
        Ok(([(header::CONTENT_TYPE, "text/plain")], self.directory.len().to_string()).into_response())
    }

    fn groups_page(&mut self, headers: &HeaderMap, q: &HashMap<String, String>) -> Result<Response, Failure> {
        let (offset, top) = match self.resume(q, "groups")? {
            Some(Cursor::Groups { offset, top }) => (offset, top),
            _ => {
                only(q, &["$select", "$top"])?;
                if let Some(name) =
                    q.get("$select").and_then(|s| s.split(',').find(|n| !["id", "displayName"].contains(n)))
                {
                    return Err(bad(format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.group'."
                    )));
                }
                (0, top(q)?)
            }
        };
        let groups = &self.directory.groups;
        let value =
            groups.iter().skip(offset).take(top).map(|g| json!({"id": g.id, "displayName": g.display_name})).collect();
        let more = offset + top < groups.len();
        let link = more.then(|| {
            (
                "@odata.nextLink",
                self.next_link(headers, "groups", "groups", Cursor::Groups { offset: offset + top, top }),
            )
        });
        Ok(page(value, link))
    }

    /// `/groups/{id}/members|transitiveMembers` or `/users/{id}/memberOf|transitiveMemberOf`.
    fn related_page(
        &mut self,
        headers: &HeaderMap,
        q: &HashMap<String, String>,
        related: Related,
        id: &str,
        relation: &str,
    ) -> Result<Response, Failure> {
        let transitive = match (related, relation) {
            (Related::Members, "members") | (Related::MemberOf, "memberOf") => false,
            (Related::Members, "transitiveMembers") | (Related::MemberOf, "transitiveMemberOf") => true,
            _ => {
                return Err(Failure(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    format!("Resource '{relation}' not found."),
                ))
            }
        };
        let route = match related {
            Related::Members => "members",
            Related::MemberOf => "memberOf",
        };
        // A next link keeps the page size its first request asked for, as Graph's skiptokens do.
        let (offset, top) = match self.resume(q, route)? {
            Some(Cursor::Members { offset, top, .. } | Cursor::MemberOf { offset, top, .. }) => (offset, top),
            _ => {
                only(q, &["$select", "$top"])?;
                (0, top(q)?)
            }
        };
        let sliced = |total: usize, value: Vec<Value>| (offset + top < total, value);
        let found = match related {
            Related::Members => self.directory.members(id, transitive).map(|m| {
                let value = m.iter().skip(offset).take(top).map(|(id, kind)| json!({"@odata.type": kind, "id": id}));
                sliced(m.len(), value.collect())
            }),
            Related::MemberOf => self
                .directory
                .member_of(id, transitive)
                .map(|m| sliced(m.len(), m.into_iter().skip(offset).take(top).collect())),
        };
        let Some((more, value)) = found else {
            let message = format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            );
            return Err(Failure(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message));
        };
        let link = more.then(|| {
            let (user, group) = (id.to_string(), id.to_string());
            let next = match related {
                Related::Members => Cursor::Members { group, transitive, offset: offset + top, top },
                Related::MemberOf => Cursor::MemberOf { user, transitive, offset: offset + top, top },
            };
            let kind = if matches!(related, Related::Members) { "groups" } else { "users" };
            ("@odata.nextLink", self.next_link(headers, route, &format!("{kind}/{id}/{relation}"), next))
        });
        Ok(page(value, link))
    }

    /// A delta round: from the start (`$select`), a `$skiptoken` within it, or a `$deltatoken`.
    fn delta_page(&mut self, headers: &HeaderMap, q: &HashMap<String, String>) -> Result<Response, Failure> {
        let cursor = if let Some(c) = self.resume(q, "delta")? {
            c
        } else if let Some(token) = q.get("$deltatoken") {
            only(q, &["$deltatoken"])?;
            let Some((since, select, generation)) = self.delta_links.get(token).cloned() else {
                return Err(Failure(
                    StatusCode::BAD_REQUEST,
                    "syncStateNotFound",
                    "The sync state is not found.".into(),
                ));
            };
            if generation != self.delta_generation {
                return Err(Failure(
                    StatusCode::GONE,
                    "resyncRequired",
                    "Resync required: the delta token has expired.".into(),
                ));
            }
            Cursor::Delta { since, upto: self.directory.version, from: Resume::Users(None), select }
        } else {
            only(q, &["$select"])?;
            let select = user_select(q, &["manager"])?;
            Cursor::Delta { since: 0, upto: self.directory.version, from: Resume::Users(None), select }
        };
        let Cursor::Delta { since, upto, from, select } = cursor else { return Err(bad("cursor")) };
        let (value, next) = self.directory.changes((since, upto), &select, &from, self.delta_page.max(1));
        let link = if let Some(from) = next {
            let next = Cursor::Delta { since, upto, from, select };
            ("@odata.nextLink", self.next_link(headers, "delta", "users/delta", next))
        } else {
            self.serial += 1;
            let token = format!("dlt{}x{:016x}", self.serial, rand::random::<u64>());
            self.delta_links.insert(token.clone(), (upto, select, self.delta_generation));
            ("@odata.deltaLink", format!("{}/v1.0/users/delta?$deltatoken={token}", origin(headers)))
        };
        Ok(page(value, Some(link)))
    }
}
