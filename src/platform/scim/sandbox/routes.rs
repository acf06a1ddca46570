//! The SCIM emulator's route handlers, made from its operations: each runs the fault script
//! under the route's name, then the operation, so `/Users` and `/Groups` share one handler
//! of each shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;

use super::{answer, ScimError, Shared};
use crate::platform::emulator::faulted;

/// An operation on one resource: the request's headers, the resource's id and the body
/// (empty for `GET` and `DELETE`).
pub(super) type OnResource = fn(&Shared, &HeaderMap, &str, &[u8]) -> Result<Response, ScimError>;

/// An operation on a collection (`POST`): the request's headers and body.
pub(super) type OnCollection = fn(&Shared, &HeaderMap, &[u8]) -> Result<Response, ScimError>;

type AppState = State<Arc<Shared>>;

/// The handler of `op` on `…/{id}`, its faults scripted under `route`.
pub(super) fn on_resource(
    route: &'static str,
    op: OnResource,
) -> impl Fn(AppState, HeaderMap, Path<String>, Bytes) -> BoxFuture<'static, Response> + Clone + Send + Sync + 'static {
    move |State(s), headers, Path(id), body| {
        Box::pin(faulted(s, route, move |s, _| answer(op(&s, &headers, &id, &body))))
    }
}

/// The handler of `op` on a collection, its faults scripted under `route`.
pub(super) fn on_collection(
    route: &'static str,
    op: OnCollection,
) -> impl Fn(AppState, HeaderMap, Bytes) -> BoxFuture<'static, Response> + Clone + Send + Sync + 'static {
    move |State(s), headers, body| Box::pin(faulted(s, route, move |s, _| answer(op(&s, &headers, &body))))
}
