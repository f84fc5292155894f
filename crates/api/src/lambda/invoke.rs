//! Invoke: resolves the qualifier (a weighted alias picks its version per request), checks the
//! payload, and hands a typed request to the engine. [`invoke_function`] is that core, shared
//! with the other triggers (HTTP APIs); the Invoke handler is a thin wrapper around its parts.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use base64::Engine as _;
use bytes::Bytes;
use stratus_core::arn::function_arn;
use stratus_core::function::FunctionConfig;
use stratus_core::names::Qualifier;
use stratus_core::{limits, Error, Result};
use stratus_engine::{InvokeOutcome, InvokeRequest};
use stratus_metering::Trigger;

use super::resolved::{Entry, Target};
use super::{function_not_found, function_ref, QueryMap};
use crate::auth::Caller;
use crate::wire::{no_content, ApiResult};
use crate::{RawBody, Shared};

/// The deepest nesting of arrays and objects a payload may have (the JSON parser of AWS's
/// front end stops at 1000 levels too); runtimes parse payloads recursively.
const MAX_PAYLOAD_NESTING: usize = 1000;

/// The part of the log returned with `LogType: Tail`.
const TAIL_BYTES: usize = 4096;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// A function version to run: the configuration a qualifier resolved to (a weighted alias
/// picks its version here, per call) and the function's reserved concurrency.
pub struct Resolved {
    pub config: Arc<FunctionConfig>,
    pub reserved: Option<u32>,
}

/// Resolves `name` + `qualifier` to the version one invocation runs, from the memo while the
/// metadata is unchanged.
pub fn resolve(s: &Shared, region: &str, name: &str, qualifier: Option<&str>) -> Result<Resolved> {
    // Read before the lookup: a write racing with it only makes the entry look stale.
    let generation = s.meta.generation();
    let entry = match s.resolved.get(name, qualifier, generation) {
        Some(entry) => entry,
        None => {
            let entry = Arc::new(read_target(s, region, name, qualifier)?);
            s.resolved.put(name, qualifier, generation, entry.clone());
            entry
        }
    };
    let config = entry
        .target
        .pick(rand::random::<f64>())
        .ok_or_else(|| function_not_found(region, name, qualifier))?;
    Ok(Resolved {
        config: config.clone(),
        reserved: entry.reserved,
    })
}

/// Reads what a qualifier names from the metadata store: the version, or the alias and every
/// version it routes to.
fn read_target(s: &Shared, region: &str, name: &str, qualifier: Option<&str>) -> Result<Entry> {
    s.meta.tx(|tx| {
        let row = tx.function(name)?.ok_or_else(|| {
            function_not_found(region, name, Some(qualifier.unwrap_or("$LATEST")))
        })?;
        let missing = || function_not_found(region, name, qualifier);
        let version = |v: &str| tx.version(name, v)?.ok_or_else(missing);
        let target = match Qualifier::parse(qualifier) {
            Qualifier::Latest => Target::Version(Arc::new(version("$LATEST")?)),
            Qualifier::Version(n) => Target::Version(Arc::new(version(&n.to_string())?)),
            Qualifier::Alias(a) => {
                let alias = tx.alias(name, &a)?.ok_or_else(missing)?;
                let mut versions = vec![Arc::new(version(&alias.function_version)?)];
                for v in alias.weights.keys() {
                    versions.push(Arc::new(version(v)?));
                }
                Target::Alias { alias, versions }
            }
        };
        Ok(Entry {
            target,
            reserved: row.reserved_concurrency,
        })
    })
}

/// One synchronous invocation, as every trigger makes it (Invoke, HTTP APIs, ...).
pub struct Call<'a> {
    /// What made it (metered with the invocation).
    pub trigger: Trigger,
    pub region: &'a str,
    pub name: &'a str,
    pub qualifier: Option<&'a str>,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub request_id: String,
}

fn engine_request(s: &Shared, call: Call<'_>, target: Resolved) -> InvokeRequest {
    InvokeRequest {
        code_dir: s.code.unpacked_dir(&target.config.code.sha256_hex),
        invoked_arn: function_arn(call.region, call.name, call.qualifier),
        region: call.region.to_string(),
        request_id: call.request_id,
        payload: call.payload,
        client_context: call.client_context,
        reserved: target.reserved,
        config: target.config,
        want_log: false,
    }
}

/// Resolves the qualifier (alias weights pick a version), admits the call and runs it through
/// the engine, metered. Throttles come back as `TooManyRequestsException`; function errors are
/// in the outcome.
pub async fn invoke_function(s: &Shared, call: Call<'_>) -> Result<InvokeOutcome> {
    let target = resolve(s, call.region, call.name, call.qualifier)?;
    let (trigger, qualifier) = (call.trigger, call.qualifier);
    crate::metering::run(s, engine_request(s, call, target), trigger, qualifier).await
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
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let invocation_type = invocation_type(&headers)?;
    let client_context = client_context(&headers)?;
    let target = resolve(&s, &c.region, &r.name, r.qualifier.as_deref())?;
    check_payload(&body.0)?;
    if invocation_type == "DryRun" {
        return Ok(no_content());
    }
    let trigger = if crate::metering::from_function(peer.as_ref().map(|p| &p.0)) {
        Trigger::Function
    } else {
        Trigger::Direct
    };
    let call = Call {
        trigger,
        region: &c.region,
        name: &r.name,
        qualifier: r.qualifier.as_deref(),
        payload: if body.0.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            body.0.clone()
        },
        client_context,
        request_id: stratus_core::ids::uuid().to_string(),
    };
    let request_id = call.request_id.clone();
    let mut req = engine_request(&s, call, target);
    req.want_log = header(&headers, "x-amz-log-type") == Some("Tail");
    if invocation_type == "Event" {
        return accept_event(s, req, r.qualifier.as_deref());
    }
    let out = crate::metering::run(&s, req, trigger, r.qualifier.as_deref()).await?;
    Ok(sync_response(out, &request_id, &headers))
}

fn sync_response(
    out: InvokeOutcome,
    request_id: &str,
    headers: &HeaderMap,
) -> axum::response::Response {
    let mut resp = (axum::http::StatusCode::OK, out.payload).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    insert(h, "x-amzn-RequestId", request_id);
    insert(h, "X-Amz-Executed-Version", &out.executed_version);
    if out.function_error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if header(headers, "x-amz-log-type") == Some("Tail") {
        let tail = &out.log[out.log.len().saturating_sub(TAIL_BYTES)..];
        insert(
            h,
            "X-Amz-Log-Result",
            &base64::engine::general_purpose::STANDARD.encode(tail),
        );
    }
    resp
}

/// `Event` invocations: queued durably, acknowledged with 202, run by the dispatcher.
fn accept_event(s: Shared, req: InvokeRequest, qualifier: Option<&str>) -> ApiResult {
    if req.payload.len() > limits::MAX_ASYNC_PAYLOAD {
        return Err(Error::too_large(format!(
            "{} byte payload is too large for the Event invocation type (limit {} bytes)",
            req.payload.len(),
            limits::MAX_ASYNC_PAYLOAD
        ))
        .into());
    }
    crate::dispatcher::enqueue(
        &s,
        &req.config.name,
        qualifier,
        &req.payload,
        "async",
        &req.region,
        &req.request_id,
    )?;
    let mut resp = axum::http::StatusCode::ACCEPTED.into_response();
    insert(resp.headers_mut(), "x-amzn-RequestId", &req.request_id);
    Ok(resp)
}

/// InvokeAsync (deprecated by AWS, still in the SDKs): the body is the event, queued as an
/// `Event` invocation of `$LATEST`; answers `{"Status": 202}`.
pub async fn invoke_async(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let r = stratus_core::names::FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    resolve(&s, &c.region, &r.name, r.qualifier.as_deref())?;
    check_payload(&body.0)?;
    if body.0.len() > INVOKE_ASYNC_LIMIT {
        return Err(Error::too_large(format!(
            "Request must be smaller than {INVOKE_ASYNC_LIMIT} bytes for the InvokeAsync operation"
        ))
        .into());
    }
    let request_id = stratus_core::ids::uuid().to_string();
    let payload = if body.0.is_empty() {
        b"{}".as_slice()
    } else {
        &body.0
    };
    crate::dispatcher::enqueue(
        &s,
        &r.name,
        r.qualifier.as_deref(),
        payload,
        "async",
        &c.region,
        &request_id,
    )?;
    let mut resp = crate::wire::json(202, serde_json::json!({ "Status": 202 }));
    insert(resp.headers_mut(), "x-amzn-RequestId", &request_id);
    Ok(resp)
}

/// InvokeAsync's request limit (AWS documents 256 KB for it).
const INVOKE_ASYNC_LIMIT: usize = 262_144;

fn insert(h: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

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
