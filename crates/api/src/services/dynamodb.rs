//! DynamoDB's operations behind the JSON 1.0 dispatcher ([`super::json`]): the operation is
//! named by `X-Amz-Target: DynamoDB_20120810.<Operation>`, the body is the request, and errors
//! are `{"__type": "<namespace>#<Code>", "message": …}`. Every answer carries `x-amz-crc32` of
//! its body, which the SDKs verify.

use serde_json::{Map, Value};
use stratus_core::{Error, Kind};

use super::json::Call;

/// Runs one table operation (`op` is empty when the target is not DynamoDB's).
pub fn run(call: Call) -> Result<Value, Error> {
    // Another service's target is refused before its body is read.
    if call.op.is_empty() {
        return Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            "",
        ));
    }
    call.state
        .stores
        .tables
        .call(&call.op, &request(&call.body)?, &call.region)
}

/// Runs one DynamoDB Streams operation (`op` is empty when the target is not Streams').
pub fn run_streams(call: Call) -> Result<Value, Error> {
    if call.op.is_empty() {
        return Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            "",
        ));
    }
    call.state
        .stores
        .tables
        .call_streams(&call.op, &request(&call.body)?, &call.region)
}

/// The request as JSON; an empty body is an empty request.
fn request(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|_| {
        Error::new(
            "SerializationException",
            Kind::InvalidInput,
            "Start of structure or map found where not expected.",
        )
    })
}

/// The `__type` of an error: the namespace AWS puts before the exception's name.
pub fn error_type(code: &str) -> String {
    let namespace = match code {
        "ValidationException" => "com.amazon.coral.validate",
        "UnknownOperationException"
        | "SerializationException"
        | "MissingAuthenticationTokenException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException" => "com.amazon.coral.service",
        _ => "com.amazonaws.dynamodb.v20120810",
    };
    format!("{namespace}#{code}")
}

/// DynamoDB's `InternalServerError`, for a request whose handler failed unexpectedly.
pub fn internal() -> Error {
    Error::new(
        "InternalServerError",
        Kind::Internal,
        "Internal server error",
    )
}
