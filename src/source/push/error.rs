//! The service provider's errors, answered in SCIM's error shape (RFC 7644 §3.12).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::platform::scim::wire::{ERROR_URN, MEDIA_TYPE};

/// Why a request was refused. Each message says what the client should send instead; none
/// quotes a token or a request body.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error("missing or wrong bearer token: send the token of source.push.token_file (or token_env)")]
    Unauthorized,
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    Value(String),
    #[error("{0}")]
    Path(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    Uniqueness(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("no such endpoint: {0} (the SCIM base is /scim/v2)")]
    NoEndpoint(String),
    #[error("the resource changed since version {0}: read it again and retry")]
    Precondition(String),
    #[error("request bodies are limited to {0} bytes (source.push.max_body_bytes)")]
    TooLarge(usize),
    #[error("{0} is not supported by this service provider")]
    NotImplemented(&'static str),
    /// The store failed: the change was not accepted, the client should retry.
    #[error("the change could not be stored ({0}); retry later")]
    Store(String),
}

impl ScimError {
    /// The HTTP status and the `scimType` of the answer.
    fn kind(&self) -> (StatusCode, Option<&'static str>) {
        match self {
            ScimError::Unauthorized => (StatusCode::UNAUTHORIZED, None),
            ScimError::Syntax(_) => (StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            ScimError::Value(_) => (StatusCode::BAD_REQUEST, Some("invalidValue")),
            ScimError::Path(_) => (StatusCode::BAD_REQUEST, Some("invalidPath")),
            ScimError::NoTarget(_) => (StatusCode::BAD_REQUEST, Some("noTarget")),
            ScimError::Filter(_) => (StatusCode::BAD_REQUEST, Some("invalidFilter")),
            ScimError::Mutability(_) => (StatusCode::BAD_REQUEST, Some("mutability")),
            ScimError::Uniqueness(_) => (StatusCode::CONFLICT, Some("uniqueness")),
            ScimError::NotFound { .. } | ScimError::NoEndpoint(_) => (StatusCode::NOT_FOUND, None),
            ScimError::Precondition(_) => (StatusCode::PRECONDITION_FAILED, None),
            ScimError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            ScimError::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, None),
            ScimError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
        }
    }

    /// The status code, for tests and logs.
    pub fn status(&self) -> StatusCode {
        self.kind().0
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, scim_type) = self.kind();
        let mut body =
            json!({"schemas": [ERROR_URN], "status": status.as_u16().to_string(), "detail": self.to_string()});
        if let Some(kind) = scim_type {
            body["scimType"] = json!(kind);
        }
        let mut response = (status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
