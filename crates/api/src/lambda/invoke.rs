//! Invoke and InvokeAsync: the HTTP side of an invocation. The handler parses the request,
//! checks the payload and the invocation type, and hands a [`Call`] to the invoker
//! (`stratus_invoke`), which resolves the qualifier (a weighted alias picks its version per
//! request), runs and meters it, or queues it.

use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use base64::Engine as _;
use bytes::Bytes;
use stratus_core::names::FunctionRef;
use stratus_core::{limits, Error, Result};
use stratus_engine::InvokeOutcome;
use stratus_invoke::{Call, Failure, NewEvent, Resolved, Trigger};

use super::{function_ref, QueryMap};
use crate::auth::Caller;
use crate::wire::{no_content, ApiError, ApiResult};
use crate::{RawBody, Shared};

/// The deepest nesting of arrays and objects a payload may have (the JSON parser of AWS's
/// front end stops at 1000 levels too); runtimes parse payloads recursively.
const MAX_PAYLOAD_NESTING: usize = 1000;

/// The part of the log returned with `LogType: Tail`.
pub(super) const TAIL_BYTES: usize = 4096;

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Rejects payloads that are not JSON, as AWS does (an empty body counts as `{}`).
fn check_payload(body: &[u8]) -> Result<()> {
    if body.len() > limits::MAX_SYNC_PAYLOAD {
        return Err(Error::too_large(format!(
            "Request must be smaller than {} bytes for the InvokeFunction operation",
            limits::MAX_SYNC_PAYLOAD
        )));
    }
    if body.is_empty() {
        return Ok(());
    }
    // Skipping a string (below) does not look at its bytes: check the encoding first, so
    // invalid UTF-8 is refused here rather than by the function's runtime.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(Error::bad_content(format!(
            "Could not parse request body into json: Could not parse payload into json: \
             Invalid UTF-8 byte at offset {}",
            e.valid_up_to()
        )));
    }
    if !crate::wire::nesting_within(body, MAX_PAYLOAD_NESTING) {
        return Err(Error::bad_content(format!(
            "Could not parse request body into json: Could not parse payload into json: \
             Document nesting depth exceeds the maximum allowed ({MAX_PAYLOAD_NESTING})"
        )));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(drop)
        .map_err(|e| {
            Error::bad_content(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            ))
        })
}

/// The caller's `X-Amzn-Trace-Id` (the AWS SDKs send the function's `_X_AMZN_TRACE_ID`
/// from inside a function): its lineage lets recursive loop detection count the chain.
pub(crate) fn trace_header(h: &HeaderMap) -> Option<String> {
    header(h, "x-amzn-trace-id").map(str::to_string)
}

fn client_context(h: &HeaderMap) -> Result<Option<String>> {
    let Some(raw) = header(h, "x-amz-client-context") else {
        return Ok(None);
    };
    let bad = || Error::bad_content("Client context must be a valid Base64-encoded JSON object.");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| bad())?;
    serde_json::from_slice::<serde_json::Value>(&decoded).map_err(|_| bad())?;
    String::from_utf8(decoded).map(Some).map_err(|_| bad())
}

/// The Invoke API's answer when an invocation did not run: the one place an invoker
/// [`Failure`] becomes Lambda's wire error.
impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        ApiError(match f {
            Failure::Rejected(e) => e,
            Failure::Throttled(t) => Error::too_many(t.reason()),
            Failure::Platform => Error::service(),
            Failure::RecursiveLoop => Error::recursive_invocation(),
        })
    }
}

fn invocation_type(headers: &HeaderMap) -> Result<&str> {
    let t = header(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    match t {
        "RequestResponse" | "Event" | "DryRun" => Ok(t),
        _ => Err(Error::invalid(format!("Unsupported invocation type {t}"))),
    }
}

pub async fn invoke(
    State(s): State<Shared>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    req: axum::extract::Request,
) -> ApiResult {
    // The caller, the headers and the body are read where they are in the request: their
    // extractors would copy each of them, on every invocation.
    let (mut parts, _) = req.into_parts();
    let (Some(c), Some(body)) = (
        parts.extensions.remove::<Caller>(),
        parts.extensions.remove::<RawBody>(),
    ) else {
        return Err(Error::service().into());
    };
    let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>();
    let headers = &parts.headers;
    let invocation_type = invocation_type(headers)?;
    let req = read_request(&s, &c, &f, &q, peer, headers, &body)?;
    if invocation_type == "DryRun" {
        return Ok(no_content());
    }
    if invocation_type == "Event" {
        return accept_event(&s, &c.region, req);
    }
    let request_id = req.request_id.clone();
    let (call, target) = req.call(&c.region);
    let out = s.invoker.run(call, target).await?;
    Ok(sync_response(out, &request_id, headers))
}

/// An invocation request as Invoke and InvokeWithResponseStream read it, checked, its
/// qualifier resolved.
pub(super) struct InvokeRequest {
    pub function: FunctionRef,
    pub target: Resolved,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub request_id: String,
    pub trigger: Trigger,
    pub want_log: bool,
    pub trace: Option<String>,
}

/// Reads what every synchronous or queued invocation needs, in AWS's order of checks: the
/// function name, the client context, the function and qualifier, the payload.
pub(super) fn read_request(
    s: &Shared,
    c: &Caller,
    f: &str,
    q: &QueryMap,
    peer: Option<&ConnectInfo<std::net::SocketAddr>>,
    headers: &HeaderMap,
    body: &RawBody,
) -> Result<InvokeRequest> {
    let function = function_ref(c, f, q)?;
    let client_context = client_context(headers)?;
    let target = s
        .invoker
        .resolve(&c.region, &function.name, function.qualifier.as_deref())?;
    check_payload(&body.0)?;
    let payload = if body.0.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body.0.clone()
    };
    let trigger = if crate::metering::from_function(peer) {
        Trigger::Function
    } else {
        Trigger::Direct
    };
    Ok(InvokeRequest {
        function,
        target,
        payload,
        client_context,
        request_id: stratus_core::ids::uuid().to_string(),
        trigger,
        want_log: header(headers, "x-amz-log-type") == Some("Tail"),
        trace: trace_header(headers),
    })
}

impl InvokeRequest {
    /// The invoker's call, and the version it runs.
    pub fn call<'a>(&'a self, region: &'a str) -> (Call<'a>, Resolved) {
        let call = Call {
            trigger: self.trigger,
            region,
            name: &self.function.name,
            qualifier: self.function.qualifier.as_deref(),
            payload: self.payload.clone(),
            client_context: self.client_context.clone(),
            request_id: self.request_id.clone(),
            want_log: self.want_log,
            trace: self.trace.clone(),
        };
        (call, self.target.clone())
    }
}

fn sync_response(
    out: InvokeOutcome,
    request_id: &str,
    headers: &HeaderMap,
) -> axum::response::Response {
    let mut resp = (axum::http::StatusCode::OK, out.payload).into_response();
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(h, REQUEST_ID, request_id);
    insert(h, EXECUTED_VERSION, &out.executed_version);
    if out.ending.is_function_error() {
        h.insert(FUNCTION_ERROR, HeaderValue::from_static("Unhandled"));
    }
    if header(headers, "x-amz-log-type") == Some("Tail") {
        let tail = &out.log[out.log.len().saturating_sub(TAIL_BYTES)..];
        let tail = base64::engine::general_purpose::STANDARD.encode(tail);
        insert(h, LOG_RESULT, &tail);
    }
    resp
}

/// `Event` invocations: queued durably, acknowledged with 202, run by the invoker's queue.
fn accept_event(s: &Shared, region: &str, req: InvokeRequest) -> ApiResult {
    let (payload, request_id) = (req.payload, req.request_id);
    if payload.len() > limits::MAX_ASYNC_PAYLOAD {
        return Err(Error::too_large(format!(
            "{} byte payload is too large for the Event invocation type (limit {} bytes)",
            payload.len(),
            limits::MAX_ASYNC_PAYLOAD
        ))
        .into());
    }
    let event = Event {
        payload: payload.to_vec(),
        request_id: &request_id,
        trace: req.trace,
    };
    queue_event(s, region, &req.function, event)?;
    let mut resp = axum::http::StatusCode::ACCEPTED.into_response();
    insert(resp.headers_mut(), REQUEST_ID, &request_id);
    Ok(resp)
}

/// An `Event` invocation to queue.
struct Event<'a> {
    payload: Vec<u8>,
    request_id: &'a str,
    trace: Option<String>,
}

/// Queues an `Event` invocation of `r`.
fn queue_event(s: &Shared, region: &str, r: &FunctionRef, e: Event<'_>) -> Result<()> {
    s.invoker.enqueue(NewEvent {
        function: r.name.clone(),
        qualifier: r.qualifier.clone(),
        payload: e.payload,
        trigger: Trigger::Async,
        region: region.to_string(),
        request_id: Some(e.request_id.to_string()),
        trace: e.trace,
    })
}

/// InvokeAsync (deprecated by AWS, still in the SDKs): the body is the event, queued as an
/// `Event` invocation of `$LATEST`; answers `{"Status": 202}`.
pub async fn invoke_async(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    s.invoker
        .resolve(&c.region, &r.name, r.qualifier.as_deref())?;
    check_payload(&body.0)?;
    if body.0.len() > INVOKE_ASYNC_LIMIT {
        return Err(Error::too_large(format!(
            "Request must be smaller than {INVOKE_ASYNC_LIMIT} bytes for the InvokeAsync operation"
        ))
        .into());
    }
    let request_id = stratus_core::ids::uuid().to_string();
    let payload = if body.0.is_empty() {
        b"{}".to_vec()
    } else {
        body.0.to_vec()
    };
    let event = Event {
        payload,
        request_id: &request_id,
        trace: trace_header(&headers),
    };
    queue_event(&s, &c.region, &r, event)?;
    let mut resp = crate::wire::json(202, serde_json::json!({ "Status": 202 }));
    insert(resp.headers_mut(), REQUEST_ID, &request_id);
    Ok(resp)
}

/// InvokeAsync's request limit (AWS documents 256 KB for it).
const INVOKE_ASYNC_LIMIT: usize = 262_144;

pub(super) fn insert(h: &mut axum::http::HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

// The answer's header names, made once: a name given as a string that is not one of HTTP's
// standard ones (or not in lower case) is copied into a buffer of its own on every insert.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
pub(super) const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-amz-executed-version");
const FUNCTION_ERROR: HeaderName = HeaderName::from_static("x-amz-function-error");
const LOG_RESULT: HeaderName = HeaderName::from_static("x-amz-log-result");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_must_be_json_in_utf8() {
        assert!(check_payload(b"").is_ok());
        assert!(check_payload(br#"{"a": ["b", 1.5e300]}"#).is_ok());
        for bad in [
            &b"{\"a\": \"\xff\"}"[..],
            b"{\"a\": NaN}",
            b"[Infinity]",
            b"{\"a\": 1",
        ] {
            let e = check_payload(bad).unwrap_err();
            assert_eq!(e.code, "InvalidRequestContentException", "{bad:?}");
        }
        let deep = "[".repeat(100_000);
        assert_eq!(
            check_payload(deep.as_bytes()).unwrap_err().code,
            "InvalidRequestContentException"
        );
    }
}
