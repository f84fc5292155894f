//! Errors on the wire. A core [`Error`] carries a kind, AWS's code and a message; the protocol
//! it leaves through decides its HTTP status ([`status`]) and the shape of its body. Each
//! protocol has one renderer, used for ordinary and signature errors alike:
//!
//! - REST-JSON (Lambda, the API Gateway management API): [`ApiError`], here.
//! - AWS JSON 1.0 / 1.1 (DynamoDB, CloudWatch Logs): `services::json::render`.
//! - Query / XML (SNS): `services::sns::xml::error`.
//! - S3's REST-XML: the protocol service renders its own; the rest goes through
//!   `objects::s3_error`.
//!
//! Also the JSON helpers every REST handler uses, so a malformed body gets the same error
//! format as everything else.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use stratus_core::error::MessageCase;
use stratus_core::{Error, Kind};

/// The wire protocols whose errors differ in status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// REST-JSON: Lambda, the API Gateway management API.
    RestJson,
    /// AWS JSON 1.0 / 1.1: DynamoDB, CloudWatch Logs.
    AwsJson,
    /// The Query protocol with XML answers: SNS.
    Query,
}

/// Codes whose documented status is not their kind's, per protocol.
const STATUS_EXCEPTIONS: &[(Protocol, &str, u16)] = &[
    // Lambda: a SnapStart restore past its limit.
    (Protocol::RestJson, "SnapStartTimeoutException", 408),
    // SNS documents a batch over its size limit as a client error (400), not 413.
    (Protocol::Query, "BatchRequestTooLong", 400),
    // DynamoDB documents "currently unavailable or busy" as 503 (its other faults are 500).
    (Protocol::AwsJson, "ServiceUnavailable", 503),
];

/// The HTTP status `e` has in `protocol`: a per-code exception if AWS documents one, else
/// its kind's. The JSON protocols answer every client error 400 and every fault 500.
pub fn status(e: &Error, protocol: Protocol) -> StatusCode {
    let listed = STATUS_EXCEPTIONS
        .iter()
        .find(|(p, code, _)| *p == protocol && *code == e.code)
        .and_then(|(_, _, s)| StatusCode::from_u16(*s).ok());
    if let Some(s) = listed {
        return s;
    }
    if protocol == Protocol::AwsJson {
        return match e.kind.is_fault() {
            true => StatusCode::INTERNAL_SERVER_ERROR,
            false => StatusCode::BAD_REQUEST,
        };
    }
    match e.kind {
        Kind::InvalidInput => StatusCode::BAD_REQUEST,
        // A path no route matches (REST); an `Action` no operation has (Query).
        Kind::UnknownOperation if protocol == Protocol::RestJson => StatusCode::NOT_FOUND,
        Kind::UnknownOperation => StatusCode::BAD_REQUEST,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unauthenticated | Kind::AccessDenied => StatusCode::FORBIDDEN,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error on its way to the wire in the REST-JSON protocol.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The REST-JSON renderer: status, `x-amzn-ErrorType`, and `{"Type", "message"|"Message",
/// extra members}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status(&e, Protocol::RestJson);
        let mut body = Map::new();
        body.insert(
            "Type".into(),
            Value::from(if status.is_server_error() {
                "Service"
            } else {
                "User"
            }),
        );
        let key = match e.case {
            MessageCase::Lower => "message",
            MessageCase::Upper => "Message",
        };
        body.insert(key.into(), Value::from(e.message));
        body.extend(e.extra);
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

/// A JSON request body as text (see [`json_body`]). The encoding is checked over the whole
/// body: serde_json skips the strings of fields a request type ignores without looking at
/// their bytes, so invalid UTF-8 there would otherwise pass.
pub fn json_text(body: &[u8]) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(json_body(body))
}

/// Parses a request body; an empty body is `{}`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let text = json_text(body)
        .map_err(|e| Error::bad_content(format!("Could not parse request body into json: {e}")))?;
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            Error::invalid(format!("Invalid request body: {e}"))
        } else {
            Error::bad_content(format!("Could not parse request body into json: {e}"))
        }
    })
}

/// Whether the JSON text in `body` nests arrays and objects at most `max` deep: a scan of the
/// bytes (strings skipped, escapes honoured) that neither parses nor allocates. For checks that
/// skip values without building them (serde's `IgnoredAny`), which serde_json does without its
/// recursion limit.
pub fn nesting_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_refused_even_in_ignored_fields() {
        #[derive(serde::Deserialize, Debug)]
        struct Known {
            #[allow(dead_code)]
            a: Option<String>,
        }
        assert!(parse::<Known>(br#"{"a": "x", "ignored": "y"}"#).is_ok());
        let e = parse::<Known>(b"{\"ignored\": \"\xff\"}").unwrap_err();
        assert_eq!(e.code, "InvalidRequestContentException");
    }

    #[test]
    fn statuses_follow_the_kind_and_the_protocol() {
        let throttle = Error::too_many("ConcurrentInvocationLimitExceeded");
        assert_eq!(status(&throttle, Protocol::RestJson), 429);
        assert_eq!(status(&throttle, Protocol::AwsJson), 400);
        assert_eq!(status(&Error::service(), Protocol::AwsJson), 500);
        let unknown = Error::new("UnknownOperationException", Kind::UnknownOperation, "");
        assert_eq!(status(&unknown, Protocol::RestJson), 404);
        assert_eq!(status(&unknown, Protocol::Query), 400);
        let batch = Error::new("BatchRequestTooLong", Kind::TooLarge, "too long");
        assert_eq!(status(&batch, Protocol::Query), 400, "listed exception");
        assert_eq!(status(&batch, Protocol::RestJson), 413);
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(nesting_within(b"[[1]]", 2));
        assert!(!nesting_within(b"[[[1]]]", 2));
        assert!(nesting_within(br#"["[[[[", {"a": "{{{{\"[["}]"#, 2));
        assert!(!nesting_within(br#"[{"a": [1]}]"#, 2));
        assert!(nesting_within(b"", 0));
    }
}
