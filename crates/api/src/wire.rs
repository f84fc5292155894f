//! The one place where a core [`Error`] becomes an HTTP response: status, `x-amzn-ErrorType`,
//! and a JSON body with AWS's member names. Also the JSON helpers every handler uses, so a
//! malformed body gets the same error format as everything else.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use stratus_core::error::MessageCase;
use stratus_core::Error;

/// An error on its way to the wire.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body = Map::new();
        body.insert(
            "Type".into(),
            Value::from(if e.status >= 500 { "Service" } else { "User" }),
        );
        let key = match e.case {
            MessageCase::Lower => "message",
            MessageCase::Upper => "Message",
        };
        body.insert(key.into(), Value::from(e.message.clone()));
        body.extend(e.extra.clone());
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(Value::Object(body))).into_response();
        if let Ok(v) = HeaderValue::from_str(e.code) {
            resp.headers_mut().insert("x-amzn-ErrorType", v);
        }
        resp
    }
}

/// A JSON response with a status.
pub fn json(status: u16, value: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, axum::Json(value)).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A JSON request body as the services read it: an empty (or all-blank) body means `{}`.
pub fn json_body(body: &[u8]) -> &[u8] {
    if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    }
}

/// Parses a request body; an empty body is `{}`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(json_body(body)).map_err(|e| {
        if e.is_data() {
            Error::invalid(format!("Invalid request body: {e}"))
        } else {
            Error::bad_content(format!("Could not parse request body into json: {e}"))
        }
    })
}
