//! InvokeWithResponseStream: the response is an event stream, written as the function writes
//! its body: a `PayloadChunk` event per chunk, then one `InvokeComplete` (with `ErrorCode` and
//! `ErrorDetails` if the function failed, during the stream or before it, and `LogResult` with
//! `LogType: Tail`). A function that does not stream gets its whole response as one
//! `PayloadChunk`. Errors found before the function runs are the Invoke API's.

use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use stratus_core::Error;
use stratus_engine::InvokeOutcome;
use stratus_invoke::streamed::{Body, Done};
use stratus_invoke::Failure;

use super::eventstream;
use super::invoke::{header, insert, read_request, EXECUTED_VERSION, REQUEST_ID, TAIL_BYTES};
use super::QueryMap;
use crate::auth::Caller;
use crate::wire::{no_content, ApiResult};
use crate::{RawBody, Shared};

/// The largest payload one `PayloadChunk` carries (decoders refuse messages over 16 MiB).
const MAX_CHUNK: usize = 1 << 20;

pub async fn invoke_with_response_stream(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    if !matches!(invocation_type, "RequestResponse" | "DryRun") {
        return Err(
            Error::invalid(format!("Unsupported invocation type {invocation_type}")).into(),
        );
    }
    let req = read_request(&s, &c, &f, &q, peer.as_deref(), &headers, &body)?;
    if invocation_type == "DryRun" {
        return Ok(no_content());
    }
    let (request_id, want_log) = (req.request_id.clone(), req.want_log);
    let (call, target) = req.call(&c.region);
    let out = s.invoker.run_streaming(call, target).await?;
    let frames = frames(out.body, out.done, want_log);
    let mut resp = (
        StatusCode::OK,
        axum::body::Body::from_stream(frames.map(Ok::<_, std::convert::Infallible>)),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    insert(h, REQUEST_ID, &request_id);
    insert(h, EXECUTED_VERSION, &out.executed_version);
    Ok(resp)
}

/// The event stream: a `PayloadChunk` per chunk (large ones split), then `InvokeComplete`.
fn frames(body: Body, done: Done, want_log: bool) -> impl futures_util::Stream<Item = Bytes> {
    let chunks = body.flat_map(|chunk| {
        let pieces: Vec<Bytes> = (0..chunk.len())
            .step_by(MAX_CHUNK)
            .map(|at| chunk.slice(at..(at + MAX_CHUNK).min(chunk.len())))
            .collect();
        futures_util::stream::iter(pieces)
    });
    let chunks = chunks.map(|piece| {
        Bytes::from(eventstream::event(
            "PayloadChunk",
            "application/octet-stream",
            &piece,
        ))
    });
    let complete = futures_util::stream::once(async move {
        let outcome = done.outcome().await;
        Bytes::from(eventstream::event(
            "InvokeComplete",
            "application/json",
            &complete(outcome, want_log),
        ))
    });
    chunks.chain(complete)
}

/// The `InvokeComplete` event's JSON.
fn complete(outcome: Result<InvokeOutcome, Failure>, want_log: bool) -> Vec<u8> {
    let mut event = serde_json::Map::new();
    match outcome {
        Ok(out) => {
            if out.ending.is_function_error() {
                let (code, details) = error_of(&out);
                event.insert("ErrorCode".into(), code.into());
                event.insert("ErrorDetails".into(), details.into());
            }
            if want_log {
                let tail = &out.log[out.log.len().saturating_sub(TAIL_BYTES)..];
                let tail = base64::engine::general_purpose::STANDARD.encode(tail);
                event.insert("LogResult".into(), tail.into());
            }
        }
        Err(f) => {
            tracing::error!(failure = %f, "a streamed invocation ended without an outcome");
            event.insert("ErrorCode".into(), "ServiceException".into());
            event.insert("ErrorDetails".into(), f.to_string().into());
        }
    }
    serde_json::Value::Object(event).to_string().into_bytes()
}

/// A failed invocation's error type and message, from its error JSON (or the platform's words
/// for an ending the function did not report itself).
fn error_of(out: &InvokeOutcome) -> (String, String) {
    let parsed = serde_json::from_slice::<serde_json::Value>(&out.payload).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let code = field("errorType")
        .or_else(|| out.ending.error_type().map(str::to_string))
        .unwrap_or_else(|| "Unhandled".into());
    let details =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&out.payload).into_owned());
    (code, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_engine::Ending;

    fn outcome(payload: &'static [u8], ending: Ending) -> InvokeOutcome {
        InvokeOutcome {
            payload: Bytes::from_static(payload),
            ending,
            executed_version: "$LATEST".into(),
            log: b"START\nEND\n".to_vec(),
            cold: false,
            duration: std::time::Duration::ZERO,
            init_duration: None,
            max_memory_mb: 1,
        }
    }

    fn json(v: Vec<u8>) -> serde_json::Value {
        serde_json::from_slice(&v).unwrap()
    }

    #[test]
    fn complete_events_say_how_it_ended() {
        let ok = json(complete(Ok(outcome(b"", Ending::Success)), false));
        assert_eq!(ok, serde_json::json!({}));
        let failed = outcome(
            br#"{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 1.00 seconds"}"#,
            Ending::TimedOut,
        );
        let e = json(complete(Ok(failed), true));
        assert_eq!(e["ErrorCode"], "Sandbox.Timedout");
        assert_eq!(e["ErrorDetails"], "Task timed out after 1.00 seconds");
        assert_eq!(e["LogResult"], "U1RBUlQKRU5ECg==");
        let odd = json(complete(
            Ok(outcome(b"not json", Ending::FunctionError)),
            false,
        ));
        assert_eq!(odd["ErrorCode"], "Unhandled");
        assert_eq!(odd["ErrorDetails"], "not json");
    }
}
