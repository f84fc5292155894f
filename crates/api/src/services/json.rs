//! The AWS JSON protocol (1.0 and 1.1): one dispatcher for every service whose operation is
//! named by `X-Amz-Target: <Prefix>.<Operation>`, and one error renderer for all of them.
//!
//! A service is one entry of [`SERVICES`]: its signing name, its target prefix, how its
//! errors are spelled (the `__type` namespace, a few headers), and an operation function
//! that turns `(operation, request JSON bytes)` into a JSON answer or a core [`Error`].
//! Adding a JSON-protocol service is one entry here and its operation function.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::HeaderValue;
use serde_json::{Map, Value};
use stratus_core::{Error, Kind};

use crate::auth::Caller;
use crate::wire::{status, Protocol};
use crate::Shared;

/// What a JSON-protocol operation gets: the application, the operation's name (empty when the
/// target names another service), the caller's region and the request body.
pub struct Call {
    pub state: Shared,
    pub op: String,
    pub region: String,
    pub body: Bytes,
}

/// One JSON-protocol service.
pub struct JsonService {
    /// The SigV4 signing name (`dynamodb`), which routes signed requests.
    pub name: &'static str,
    /// The `X-Amz-Target` prefix, dot included (`DynamoDB_20120810.`), which names the
    /// service of an unsigned request.
    pub target_prefix: &'static str,
    /// `1.0` or `1.1`, for the content type.
    pub content_type: &'static str,
    /// The `__type` of an error: `namespace#Code`, or the bare code.
    pub error_type: fn(&str) -> String,
    /// The message a request without any signature gets.
    pub missing_token_message: &'static str,
    /// Whether errors carry `x-amzn-ErrorType` too.
    pub error_type_header: bool,
    /// Whether every answer carries `x-amz-crc32` of its body (DynamoDB's SDK checks it).
    pub crc32: bool,
    /// Whether a `Content-Encoding: gzip` body is accepted (decompressed after the signature,
    /// which covers the compressed bytes).
    pub gzip: bool,
    /// The fault a request gets when its operation failed unexpectedly (a panic).
    pub internal: fn() -> Error,
    /// Runs one operation. Called off the async workers: operations do blocking I/O.
    pub run: fn(Call) -> Result<Value, Error>,
}

/// The JSON-protocol services, by target prefix.
pub const SERVICES: &[JsonService] = &[
    JsonService {
        name: "dynamodb",
        target_prefix: "DynamoDB_20120810.",
        content_type: "application/x-amz-json-1.0",
        error_type: super::dynamodb::error_type,
        missing_token_message: "Request is missing Authentication Token",
        error_type_header: false,
        crc32: true,
        gzip: true,
        internal: super::dynamodb::internal,
        run: super::dynamodb::run,
    },
    // DynamoDB Streams signs as `dynamodb` too: [`for_request`] tells them apart by target.
    JsonService {
        name: "dynamodb",
        target_prefix: "DynamoDBStreams_20120810.",
        content_type: "application/x-amz-json-1.0",
        error_type: super::dynamodb::error_type,
        missing_token_message: "Request is missing Authentication Token",
        error_type_header: false,
        crc32: true,
        gzip: true,
        internal: super::dynamodb::internal,
        run: super::dynamodb::run_streams,
    },
    JsonService {
        name: "logs",
        target_prefix: "Logs_20140328.",
        content_type: "application/x-amz-json-1.1",
        error_type: |code| code.to_string(),
        missing_token_message: "Missing Authentication Token",
        error_type_header: true,
        crc32: false,
        gzip: false,
        internal: super::logs::internal,
        run: super::logs::run,
    },
    JsonService {
        name: "events",
        target_prefix: "AWSEvents.",
        content_type: "application/x-amz-json-1.1",
        error_type: |code| code.to_string(),
        missing_token_message: "Missing Authentication Token",
        error_type_header: true,
        crc32: false,
        gzip: false,
        internal: super::events::internal,
        run: super::events::run,
    },
    JsonService {
        name: "codedeploy",
        target_prefix: "CodeDeploy_20141006.",
        content_type: "application/x-amz-json-1.1",
        error_type: |code| code.to_string(),
        missing_token_message: "Missing Authentication Token",
        error_type_header: true,
        crc32: false,
        gzip: false,
        internal: super::codedeploy::internal,
        run: super::codedeploy::run,
    },
];

/// The service signed for as `name`.
pub fn by_name(name: &str) -> Option<&'static JsonService> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The service of a request signed for `name`: the entry whose target prefix the request's
/// `X-Amz-Target` has (two services share a signing name), else the first of that name.
pub fn for_request(name: &str, parts: &Parts) -> Option<&'static JsonService> {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    SERVICES
        .iter()
        .find(|s| s.name == name && target.starts_with(s.target_prefix))
        .or_else(|| by_name(name))
}

/// The service an `X-Amz-Target` names.
pub fn by_target(target: &str) -> Option<&'static JsonService> {
    SERVICES
        .iter()
        .find(|s| target.starts_with(s.target_prefix))
}

/// Answers one verified request for `service`.
pub async fn handle(
    service: &'static JsonService,
    state: &Shared,
    caller: &Caller,
    parts: &Parts,
    body: Bytes,
) -> Response {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A target of another service leaves the operation empty: each service's operation
    // table answers that as its unknown operation.
    let op = target
        .strip_prefix(service.target_prefix)
        .unwrap_or("")
        .to_string();
    let gzip = service.gzip && is_gzip(parts);
    let mut call = Call {
        state: state.clone(),
        op,
        region: caller.region.clone(),
        body,
    };
    let run = service.run;
    // Decompressing, parsing and the operations take time in proportion to the body, and
    // the stores do blocking I/O: off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        if gzip {
            call.body = gunzip(&call.body)?;
        }
        run(call)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, service = service.name, "JSON operation panicked");
        Err((service.internal)())
    });
    match result {
        Ok(v) => reply(service, http::StatusCode::OK, &v),
        Err(e) => render(service, e),
    }
}

/// A signature failure, in the service's JSON error shape (status 400, as these services
/// answer it, where the REST APIs answer 403).
pub fn auth_error(service: &JsonService, mut e: Error) -> Response {
    if e.code == "MissingAuthenticationTokenException" {
        e.message = service.missing_token_message.into();
    }
    render(service, e)
}

/// The one error renderer of the JSON protocols: `{"__type": …, "message": …, extra members}`
/// with the status [`status`] gives for [`Protocol::AwsJson`].
pub fn render(service: &JsonService, e: Error) -> Response {
    let mut m = Map::new();
    m.insert("__type".into(), Value::from((service.error_type)(e.code)));
    if !e.message.is_empty() {
        m.insert("message".into(), Value::from(e.message.clone()));
    }
    m.extend(e.extra.clone());
    let mut resp = reply(service, status(&e, Protocol::AwsJson), &Value::Object(m));
    if service.error_type_header {
        if let Ok(v) = HeaderValue::from_str(e.code) {
            resp.headers_mut().insert("x-amzn-ErrorType", v);
        }
    }
    resp
}

fn reply(service: &JsonService, status: http::StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let crc = service.crc32.then(|| crc32fast::hash(&bytes));
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(service.content_type),
    );
    if let Some(crc) = crc {
        h.insert("x-amz-crc32", HeaderValue::from(crc));
    }
    resp
}

/// Whether the body was sent compressed (`Content-Encoding: gzip`).
fn is_gzip(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.trim().eq_ignore_ascii_case("gzip"))
}

/// A JSON-protocol request's body as the object every operation takes; anything else is
/// refused as the services refuse it.
pub(crate) fn object_body(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let text = crate::wire::json_text(body).map_err(|_| serialization())?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(serialization()),
    }
}

/// The JSON protocols' answer to a body of the wrong shape.
pub(crate) fn serialization() -> Error {
    Error::new(
        "SerializationException",
        Kind::InvalidInput,
        "Start of structure or map found where not expected.",
    )
}

/// A gzip body, decompressed to at most the size an uncompressed body may have: a small
/// body that expands without bound is refused as it grows past the limit.
pub(crate) fn gunzip(body: &[u8]) -> Result<Bytes, Error> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(crate::MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| {
            Error::new(
                "SerializationException",
                Kind::InvalidInput,
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

    #[test]
    fn targets_and_signing_names_pick_the_same_entry() {
        for s in SERVICES {
            assert!(s.target_prefix.ends_with('.'), "{}", s.name);
            let by_target = by_target(&format!("{}Op", s.target_prefix)).unwrap();
            assert_eq!(by_target.name, s.name);
            let parts = http::Request::builder()
                .header("x-amz-target", format!("{}Op", s.target_prefix))
                .body(())
                .unwrap()
                .into_parts()
                .0;
            assert_eq!(
                for_request(s.name, &parts).unwrap().target_prefix,
                s.target_prefix
            );
        }
        assert!(by_target("AmazonSQS.SendMessage").is_none());
    }
}
