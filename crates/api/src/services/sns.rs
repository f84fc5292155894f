//! Placeholder: not yet offered.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::auth::Caller;
use crate::wire::ApiError;
use crate::Shared;

pub async fn handle(_state: &Shared, _caller: &Caller, _parts: &Parts, _body: Bytes) -> Response {
    ApiError(stratus_core::Error::new(
        "UnknownOperationException",
        400,
        "Unknown operation",
    ))
    .into_response()
}
