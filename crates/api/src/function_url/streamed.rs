//! Function URLs in `RESPONSE_STREAM` mode: the response goes to the client as the function
//! writes it (chunked transfer, the first bytes before the function has finished).
//!
//! A function that streams with `awslambda.HttpResponseStream.from(...)` (or the Rust
//! runtime's HTTP streaming) sends a JSON prelude (status code, headers, cookies), 8 NUL bytes,
//! then the body; the prelude becomes the response's status and headers. Any other streamed
//! body is `200` with the runtime's content type. A function that answers in one piece is
//! mapped as in `BUFFERED` mode. A stream that ends in an error (the function's, a time-out)
//! is cut off before its final chunk, so the client sees an incomplete response rather than a
//! complete wrong one.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use stratus_invoke::streamed::{split_prelude, Done, StreamedOutcome};

/// The content type of a stream that starts with an HTTP prelude.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// The longest prelude read before giving up on a stream (headers and cookies; AWS's header
/// limits keep a real one to a few kilobytes).
const MAX_PRELUDE: usize = 64 * 1024;

/// The prelude `HttpResponseStream.from(stream, metadata)` writes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Prelude {
    status_code: Option<u16>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    cookies: Vec<String>,
}

/// The response for a streamed answer, or `None` when the function's prelude is malformed.
pub async fn respond(out: StreamedOutcome) -> Option<Response> {
    let StreamedOutcome {
        content_type,
        mut body,
        done,
        ..
    } = out;
    if content_type.as_deref() != Some(HTTP_INTEGRATION) {
        let ct = content_type.unwrap_or_else(|| "application/octet-stream".into());
        let mut resp = Response::new(stream_body(Bytes::new(), body, done));
        if let Ok(v) = HeaderValue::from_str(&ct) {
            resp.headers_mut().insert("content-type", v);
        }
        return Some(resp);
    }
    let mut head = BytesMut::new();
    let (prelude, rest) = loop {
        if let Some((prelude, rest)) = split_prelude(&head) {
            break (prelude.to_vec(), Bytes::copy_from_slice(rest));
        }
        match body.next().await {
            Some(chunk) if head.len() + chunk.len() <= MAX_PRELUDE => {
                head.extend_from_slice(&chunk)
            }
            // No delimiter: the whole (short) stream is the prelude, with no body.
            None => break (head.to_vec(), Bytes::new()),
            Some(_) => return None,
        }
    };
    let prelude: Prelude = match prelude.iter().all(u8::is_ascii_whitespace) {
        true => Prelude::default(),
        false => serde_json::from_slice(&prelude).ok()?,
    };
    let mut resp = Response::new(stream_body(rest, body, done));
    *resp.status_mut() = StatusCode::from_u16(prelude.status_code.unwrap_or(200)).ok()?;
    apply_headers(resp.headers_mut(), &prelude);
    Some(resp)
}

fn apply_headers(headers: &mut HeaderMap, prelude: &Prelude) {
    for (name, value) in &prelude.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    for cookie in &prelude.cookies {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.append("set-cookie", v);
        }
    }
}

/// `first`, then the rest of the function's chunks, then — if the invocation ended in an
/// error — an error that aborts the response.
fn stream_body(first: Bytes, rest: stratus_invoke::streamed::Body, done: Done) -> Body {
    let first = futures_util::stream::iter((!first.is_empty()).then_some(first));
    let tail = futures_util::stream::once(async move {
        match done.outcome().await {
            Ok(out) if !out.ending.is_function_error() => None,
            Ok(out) => Some(Err(std::io::Error::other(format!(
                "the function's response stream ended in an error ({:?})",
                out.ending
            )))),
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        }
    })
    .filter_map(|end| async move { end });
    Body::from_stream(first.chain(rest).map(Ok).chain(tail))
}
