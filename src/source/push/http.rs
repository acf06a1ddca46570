//! The `/scim/v2` routes the daemon mounts on its listener when the source is push: bearer
//! token checked in constant time, bodies bounded, answers in `application/scim+json`.
//! Bodies and tokens are never logged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::error::ScimError;
use super::list::{self, ListQuery, Projection};
use super::resource::{self, Kind, Stored};
use super::{discovery, patch, Provider};

type Shared = State<Arc<Provider>>;
type Params = Query<HashMap<String, String>>;

/// The SCIM base every route lives under.
pub const BASE: &str = "/scim/v2";

/// The service provider's routes, with their own auth and body limit (the daemon's other
/// endpoints keep theirs).
pub fn router(provider: Arc<Provider>) -> Router {
    let mut routes = Router::new();
    for kind in [Kind::User, Kind::Group] {
        let collection = get(move |s: Shared, h: HeaderMap, q: Params| list_route(s, h, q, kind))
            .post(move |s: Shared, h: HeaderMap, b: Bytes| create_route(s, h, b, kind));
        routes = routes
            .route(&format!("/{}", kind.endpoint()), collection)
            .route(&format!("/{}/{{id}}", kind.endpoint()), any(move |s: Shared, r: Request| one_route(s, r, kind)));
    }
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/{id}", "/Schemas", "/Schemas/{id}"] {
        routes = routes.route(path, get(discovery_route));
    }
    let search = || async { ScimError::NotImplemented("POST /.search across resource types").into_response() };
    let unknown = |uri: Uri| async move { ScimError::NoEndpoint(uri.path().to_string()).into_response() };
    let routes = routes
        .route("/.search", post(search))
        .route("/{*rest}", any(unknown))
        .layer(middleware::from_fn_with_state(provider.clone(), guard))
        // Bodies sent without a length are bounded as they are read.
        .layer(DefaultBodyLimit::max(provider.settings.max_body_bytes))
        .with_state(provider);
    Router::new().nest(BASE, routes)
}

/// `ServiceProviderConfig`, `ResourceTypes[/{id}]`, `Schemas[/{id}]` (the path inside the base).
async fn discovery_route(State(p): Shared, headers: HeaderMap, uri: Uri) -> Response {
    let base = p.base(&headers);
    let path = percent(uri.path().trim_start_matches('/'));
    let (endpoint, id) = match path.split_once('/') {
        Some((endpoint, id)) => (endpoint, Some(id)),
        None => (path.as_str(), None),
    };
    let found = match endpoint {
        "ResourceTypes" => discovery::resource_types(&base, id),
        "Schemas" => discovery::schemas(&base, id),
        _ => Ok(discovery::service_provider_config(&base)),
    };
    answer(found.map(ok))
}

/// 401 without the token, 413 for a body announced longer than the limit.
async fn guard(State(provider): Shared, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let expected = provider.settings.token.expose_secret().as_bytes();
    let good = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected)));
    if !good {
        tracing::warn!(path = %request.uri().path(), "SCIM push refused: missing or wrong bearer token");
        return ScimError::Unauthorized.into_response();
    }
    let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let max = provider.settings.max_body_bytes;
    if length.is_some_and(|l| l > max as u64) {
        return ScimError::TooLarge(max).into_response();
    }
    next.run(request).await
}

impl Provider {
    /// The SCIM base URL for `meta.location`: `source.push.public_url`, else from `Host`.
    fn base(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.settings.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}{BASE}")
    }
}

fn ok(body: Value) -> Response {
    scim(StatusCode::OK, body, None)
}

fn scim(status: StatusCode, body: Value, etag: Option<String>) -> Response {
    crate::platform::scim::wire::answer_json(status, &body, etag)
}

fn answer(outcome: Result<Response, ScimError>) -> Response {
    outcome.unwrap_or_else(IntoResponse::into_response)
}

async fn list_route(State(p): Shared, headers: HeaderMap, Query(q): Params, kind: Kind) -> Response {
    let base = p.base(&headers);
    answer((|| {
        let query = ListQuery::parse(kind, &q)?;
        let memberships = p.resources.memberships()?;
        let live = p.resources.all(kind)?.into_iter().filter(|s| !s.deleted);
        let rendered = live.map(|s| list::render(kind, &s, &base, &memberships)).collect();
        Ok(ok(query.answer(rendered)))
    })())
}

/// One resource answered with `status`, its ETag, and the projection asked for.
fn single(
    p: &Provider,
    kind: Kind,
    stored: &Stored,
    base: &str,
    status: StatusCode,
    projection: &Projection,
) -> Response {
    let memberships = p.resources.memberships().unwrap_or_default();
    let body = projection.apply(list::render(kind, stored, base, &memberships));
    let mut response = scim(status, Value::Object(body), Some(stored.etag()));
    if status == StatusCode::CREATED {
        if let Some(location) = stored_location(kind, stored, base) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

fn stored_location(kind: Kind, stored: &Stored, base: &str) -> Option<header::HeaderValue> {
    header::HeaderValue::from_str(&format!("{base}/{}/{}", kind.endpoint(), stored.id())).ok()
}

/// Run a write off the async runtime: it flushes the database before answering.
async fn write<T: Send + 'static>(
    p: &Arc<Provider>,
    work: impl FnOnce(&Provider) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || work(&p)).await.map_err(|e| ScimError::Store(e.to_string()))?
}

async fn create_route(State(p): Shared, headers: HeaderMap, body: Bytes, kind: Kind) -> Response {
    let base = p.base(&headers);
    let outcome = async {
        let map = resource::object(&body)?;
        let stored = write(&p, move |p| p.resources.create(kind, &map)).await?;
        tracing::info!(resource = kind.name(), id = stored.id(), "SCIM push: created");
        Ok(single(&p, kind, &stored, &base, StatusCode::CREATED, &Projection::default()))
    };
    answer(outcome.await)
}

/// GET, PUT, PATCH and DELETE of one resource.
async fn one_route(State(p): Shared, request: Request, kind: Kind) -> Response {
    let (parts, body) = request.into_parts();
    let id = parts.uri.path().rsplit('/').next().unwrap_or_default().to_string();
    let id = percent(&id);
    let base = p.base(&parts.headers);
    let if_match = parts.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let q: HashMap<String, String> =
        parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let max = p.settings.max_body_bytes;
    let outcome = async {
        let bytes = axum::body::to_bytes(body, max).await.map_err(|_| ScimError::TooLarge(max))?;
        let method = parts.method.as_str();
        let changed = match method {
            "GET" => {
                return Ok(single(
                    &p,
                    kind,
                    &p.resources.live(kind, &id)?,
                    &base,
                    StatusCode::OK,
                    &Projection::parse(&q),
                ))
            }
            "DELETE" => {
                let target = id.clone();
                write(&p, move |p| p.resources.delete(kind, &target, if_match.as_deref())).await?;
                tracing::info!(resource = kind.name(), id = %id, "SCIM push: deleted");
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            "PUT" => {
                let map = resource::object(&bytes)?;
                let id = id.clone();
                write(&p, move |p| p.resources.replace(kind, &id, if_match.as_deref(), |_| Ok(map))).await?
            }
            "PATCH" => {
                let request = resource::object(&bytes)?;
                let id = id.clone();
                write(&p, move |p| {
                    p.resources.replace(kind, &id, if_match.as_deref(), |old| patched(kind, old, &request))
                })
                .await?
            }
            _ => return Err(ScimError::NotImplemented("this method")),
        };
        tracing::info!(resource = kind.name(), id = %id, method, "SCIM push: updated");
        Ok(single(&p, kind, &changed, &base, StatusCode::OK, &Projection::parse(&q)))
    };
    answer(outcome.await)
}

fn patched(kind: Kind, old: &Stored, request: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut body = old.body.clone();
    patch::apply(kind, &mut body, request)?;
    Ok(body)
}

/// A percent-encoded path segment decoded (ids are uuids, but a client may encode anything).
fn percent(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
