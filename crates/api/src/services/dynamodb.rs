//! DynamoDB's JSON 1.0 protocol in front of the table service: the operation is named by
//! `X-Amz-Target: DynamoDB_20120810.<Operation>`, the body is the request, and errors are
//! `{"__type": "<namespace>#<Code>", "message": …}` with status 400 (500 for faults). Every
//! answer carries `x-amz-crc32` of its body, which the SDKs verify.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value};
use stratus_core::Error;

use crate::auth::Caller;
use crate::Shared;

const TARGET_PREFIX: &str = "DynamoDB_20120810.";

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(op) = target.strip_prefix(TARGET_PREFIX).map(str::to_string) else {
        return respond(Err(Error::new("UnknownOperationException", 400, "")));
    };
    let gzip = is_gzip(parts);
    let tables = state.stores.tables.clone();
    let region = caller.region.clone();
    // Decompressing and parsing take time in proportion to the body: off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        let body = if gzip { gunzip(&body)? } else { body };
        tables.call(&op, &request(&body)?, &region)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "table operation panicked");
        Err(Error::new(
            "InternalServerError",
            500,
            "Internal server error",
        ))
    });
    respond(result)
}

/// The request as JSON; an empty body is an empty request.
fn request(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|_| {
        Error::new(
            "SerializationException",
            400,
            "Start of structure or map found where not expected.",
        )
    })
}

/// Whether the body was sent compressed (`Content-Encoding: gzip`). The signature covers the
/// compressed bytes, so the body is decompressed only after authentication.
fn is_gzip(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.trim().eq_ignore_ascii_case("gzip"))
}

/// A gzip body, decompressed to at most the size an uncompressed body may have: a small
/// body that expands without bound is refused as it grows past the limit.
fn gunzip(body: &[u8]) -> Result<Bytes, Error> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(crate::MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| {
            Error::new(
                "SerializationException",
                400,
                "The request body is not valid gzip data",
            )
        })?;
    if out.len() > crate::MAX_BODY {
        return Err(Error::too_large(format!(
            "Request must be smaller than {} bytes for the operation",
            crate::MAX_BODY
        )));
    }
    Ok(out.into())
}

/// A signature failure as DynamoDB answers it: status 400 in the JSON 1.0 error shape, where
/// the Lambda API answers 403.
pub fn auth_error(mut e: Error) -> Response {
    e.status = 400;
    if e.code == "MissingAuthenticationTokenException" {
        e.message = "Request is missing Authentication Token".into();
    }
    respond(Err(e))
}

/// The namespace AWS puts before an exception's name in `__type`.
fn namespace(code: &str) -> &'static str {
    match code {
        "ValidationException" => "com.amazon.coral.validate",
        "UnknownOperationException"
        | "SerializationException"
        | "MissingAuthenticationTokenException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException" => "com.amazon.coral.service",
        _ => "com.amazonaws.dynamodb.v20120810",
    }
}

/// DynamoDB's `InternalServerError`, for a request whose handler failed unexpectedly.
pub fn internal_error() -> Response {
    respond(Err(Error::new(
        "InternalServerError",
        500,
        "Internal server error",
    )))
}

fn respond(result: Result<Value, Error>) -> Response {
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => {
            let mut m = Map::new();
            m.insert(
                "__type".into(),
                Value::from(format!("{}#{}", namespace(e.code), e.code)),
            );
            if !e.message.is_empty() {
                m.insert("message".into(), Value::from(e.message));
            }
            m.extend(e.extra);
            let status = if e.status >= 500 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Value::Object(m))
        }
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let crc = crc32fast::hash(&bytes);
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_are_decompressed_up_to_the_body_limit() {
        assert_eq!(&gunzip(&gzip(b"{\"a\": 1}")).unwrap()[..], b"{\"a\": 1}");
        assert_eq!(gunzip(b"plain").unwrap_err().code, "SerializationException");
        // A few hundred KB that expand past the limit are refused, not inflated in full.
        let bomb = gzip(&vec![b' '; crate::MAX_BODY + 1]);
        assert!(bomb.len() < crate::MAX_BODY / 100);
        assert_eq!(
            gunzip(&bomb).unwrap_err().code,
            "RequestEntityTooLargeException"
        );
    }

    #[test]
    fn content_encoding_names_gzip() {
        let parts = |v: &str| {
            http::Request::builder()
                .header("content-encoding", v)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert!(is_gzip(&parts("gzip")));
        assert!(is_gzip(&parts("identity, GZIP")));
        assert!(!is_gzip(&parts("br")));
    }
}
