//! The JSON answers the emulators of JSON APIs share: a success body stamped with the kind's
//! status field (`"status": 1`, `"request_status": "Success"`…), or a failure, an HTTP status
//! and a message in the body the kind words.

use std::fmt::Debug;
use std::marker::PhantomData;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// How a kind words a failure's JSON body (`{"status":2,"message":..}`, `{"error":{..}}`…).
pub trait Wording: Debug {
    fn body(message: String) -> Value;
}

/// A failure answer: an HTTP status and a message, in the body `W` words.
#[derive(Debug)]
pub struct Failure<W> {
    pub status: StatusCode,
    pub message: String,
    wording: PhantomData<W>,
}

impl<W> Failure<W> {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), wording: PhantomData }
    }

    /// 422: well-formed, but refused.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl<W: Wording> IntoResponse for Failure<W> {
    fn into_response(self) -> Response {
        (self.status, Json(W::body(self.message))).into_response()
    }
}

/// `outcome`'s body with `field` set to `value`, or the failure's own response.
pub fn stamped<F: IntoResponse>(outcome: Result<Value, F>, field: &str, value: Value) -> Response {
    match outcome {
        Ok(mut body) => {
            body[field] = value;
            Json(body).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}
