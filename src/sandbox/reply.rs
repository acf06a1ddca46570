//! The JSON answer the emulators of status-field APIs share: a success body stamped with the
//! kind's status field (`"status": 1`, `"request_status": "Success"`…), or the kind's failure.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

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
