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
    fn nesting_is_counted_outside_strings_only() {
        assert!(nesting_within(b"[[1]]", 2));
        assert!(!nesting_within(b"[[[1]]]", 2));
        assert!(nesting_within(br#"["[[[[", {"a": "{{{{\"[["}]"#, 2));
        assert!(!nesting_within(br#"[{"a": [1]}]"#, 2));
        assert!(nesting_within(b"", 0));
    }
}
