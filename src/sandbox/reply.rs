//! The JSON answers the emulators of JSON APIs share: a success body stamped with the kind's
//! status field (`"status": 1`, `"request_status": "Success"`…), or a failure, an HTTP status
//! and a message in the body the kind words.

use std::fmt::Debug;
use std::marker::PhantomData;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

/// How a kind words a failure's JSON body (`{"status":2,"message":..}`, `{"error":{..}}`…).
pub trait Wording: Debug {
    /// The HTTP status of a plain refusal ([`Failure::bad`]).
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    fn body(message: String) -> Value;
}

/// The value of a status field: a word or a number.
#[derive(Debug, Clone, Copy)]
pub enum Word {
    Text(&'static str),
    Number(i64),
}

impl From<Word> for Value {
    fn from(word: Word) -> Value {
        match word {
            Word::Text(text) => Value::from(text),
            Word::Number(number) => Value::from(number),
        }
    }
}

/// A kind that stamps a status field on every answer (CAKE, Affise, FileSpin): a success's
/// body gains the field with its success value ([`answer`]); a failure is the field with its
/// failure value and the message.
pub trait Stamped: Debug {
    /// The field, its value on success, its value on failure.
    const STAMP: (&'static str, Word, Word);
    /// The HTTP status of a plain refusal.
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
}

impl<T: Stamped> Wording for T {
    const BAD: StatusCode = <T as Stamped>::BAD;

    fn body(message: String) -> Value {
        let (field, _, failure) = T::STAMP;
        let mut body = Map::new();
        body.insert(field.into(), failure.into());
        body.insert("message".into(), message.into());
        Value::Object(body)
    }
}

/// `outcome`'s body stamped with `S`'s status field, or the failure's own answer.
pub fn answer<S: Stamped>(outcome: Result<Value, Failure<S>>) -> Response {
    let (field, success, _) = S::STAMP;
    stamped(outcome, field, success.into())
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

    /// A plain refusal, with the status the kind answers those with.
    pub fn bad(message: impl Into<String>) -> Self
    where
        W: Wording,
    {
        Failure::new(W::BAD, message)
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
