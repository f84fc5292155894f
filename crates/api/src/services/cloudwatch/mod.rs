//! CloudWatch (signed for `monitoring`): metrics and alarms, over two of the protocols the
//! SDKs speak for it, from one implementation over JSON values:
//!
//! - smithy-rpc-v2-cbor (what current SDKs and the CLI use): `POST
//!   /service/GraniteServiceVersion20100801/operation/<Op>` with `smithy-protocol:
//!   rpc-v2-cbor` and CBOR bodies ([`cbor`]);
//! - AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`);
//! - the Query protocol (a form with `Action`, XML answers), for older SDKs and CLIs
//!   ([`query`]).
//!
//! Errors carry `__type` (the model's shape) and, since CloudWatch is query-compatible,
//! the Query code in `x-amzn-query-error` (`InvalidParameterValue;Sender`), which the SDKs
//! report as the error code.
//!
//! # Layout
//! - [`metrics`]: GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData.
//! - [`alarms`]: the alarm operations, and state changes with their actions.
//! - [`evaluate`]: the `alarm_evaluator` worker.
//! - [`input`]: reading members with CloudWatch's validation errors.
//! - [`query`]: the Query protocol's form and XML.

pub mod alarms;
pub mod cbor;
pub mod evaluate;
pub mod input;
pub mod log_metrics;
pub mod metrics;
pub mod query;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::HeaderValue;
use serde_json::Value;
use stratus_core::{Error, Kind};

use crate::auth::Caller;
use crate::Shared;

pub const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";

/// What every operation gets.
#[derive(Clone)]
pub struct Ctx {
    pub state: Shared,
    pub region: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wire {
    Cbor,
    Json,
    /// The Query protocol; answers carry the request's id in their XML.
    Query,
}

/// The protocol of a request, and its operation when the protocol names it outside the body
/// (the Query protocol's `Action` is in the form).
fn wire_of(parts: &Parts) -> (Wire, Option<String>) {
    if let Some(op) = parts.uri.path().strip_prefix(CBOR_PATH) {
        return (Wire::Cbor, Some(op.to_string()));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    match target {
        Some(t) => (
            Wire::Json,
            Some(t.strip_prefix(TARGET_PREFIX).unwrap_or("").to_string()),
        ),
        None => (Wire::Query, None),
    }
}

fn request_id(parts: &Parts) -> String {
    parts
        .extensions
        .get::<crate::RequestId>()
        .map_or_else(stratus_core::ids::request_id, |id| id.0)
        .to_string()
}

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let (wire, op) = wire_of(parts);
    let rid = request_id(parts);
    let body = if is_gzip(parts) {
        match crate::services::json::gunzip(&body) {
            Ok(b) => b,
            Err(e) => return render(wire, e, &rid),
        }
    } else {
        body
    };
    let (op, input) = match read_input(wire, op, parts, &body) {
        Ok(x) => x,
        Err(e) => return render(wire, e, &rid),
    };
    let ctx = Ctx {
        state: state.clone(),
        region: caller.region.clone(),
    };
    match run(&ctx, &op, input).await {
        Ok(v) if wire == Wire::Query => {
            xml_reply(http::StatusCode::OK, query::response(&op, &v, &rid), &rid)
        }
        Ok(v) => reply(wire, http::StatusCode::OK, &v),
        Err(e) if wire == Wire::Query && e.code == "UnknownOperationException" => {
            render(wire, query::invalid_action(&op), &rid)
        }
        Err(e) => render(wire, e, &rid),
    }
}

/// The operation and its input (a structure) in any of the three protocols.
fn read_input(
    wire: Wire,
    op: Option<String>,
    parts: &Parts,
    body: &[u8],
) -> Result<(String, Value), Error> {
    let input = match wire {
        Wire::Query => return query::decode(parts.uri.query().unwrap_or(""), body),
        Wire::Cbor => cbor::decode(body).map_err(|e| serialization(&e))?,
        Wire::Json if body.is_empty() => Value::Object(Default::default()),
        Wire::Json => serde_json::from_slice(body).map_err(|e| serialization(&e.to_string()))?,
    };
    if !input.is_object() {
        return Err(serialization("the body is not a structure"));
    }
    Ok((op.unwrap_or_default(), input))
}

async fn run(c: &Ctx, op: &str, input: Value) -> Result<Value, Error> {
    match op {
        "GetMetricStatistics" => metrics::get_metric_statistics(c, input).await,
        "GetMetricData" => metrics::get_metric_data(c, input).await,
        "ListMetrics" => metrics::list_metrics(c, input).await,
        "PutMetricData" => metrics::put_metric_data(c, input).await,
        "PutMetricAlarm" => alarms::blocking(c, input, alarms::put_metric_alarm).await,
        "DescribeAlarms" => alarms::blocking(c, input, alarms::describe_alarms).await,
        "DescribeAlarmsForMetric" => {
            alarms::blocking(c, input, alarms::describe_alarms_for_metric).await
        }
        "DeleteAlarms" => alarms::blocking(c, input, alarms::delete_alarms).await,
        "SetAlarmState" => alarms::blocking(c, input, alarms::set_alarm_state).await,
        "EnableAlarmActions" => alarms::blocking(c, input, alarms::enable_alarm_actions).await,
        "DisableAlarmActions" => alarms::blocking(c, input, alarms::disable_alarm_actions).await,
        "DescribeAlarmHistory" => alarms::blocking(c, input, alarms::describe_alarm_history).await,
        _ => Err(unknown_operation()),
    }
}

fn unknown_operation() -> Error {
    Error::new(
        "UnknownOperationException",
        Kind::UnknownOperation,
        "Unknown operation",
    )
}

fn serialization(reason: &str) -> Error {
    Error::new(
        "SerializationException",
        Kind::InvalidInput,
        format!("Could not read the request body: {reason}"),
    )
}

/// The model's shape name and status of each error code.
fn shape_of(code: &str) -> (&str, u16) {
    match code {
        "InvalidParameterValue" => ("InvalidParameterValueException", 400),
        "InvalidParameterCombination" => ("InvalidParameterCombinationException", 400),
        "MissingParameter" => ("MissingRequiredParameterException", 400),
        "ResourceNotFound" => ("ResourceNotFound", 404),
        "InvalidNextToken" => ("InvalidNextToken", 400),
        "InvalidFormat" => ("InvalidFormatFault", 400),
        "LimitExceeded" => ("LimitExceededFault", 400),
        "InternalServiceError" => ("InternalServiceFault", 500),
        other => (other, 400),
    }
}

/// The one error renderer: `__type`, `message`, and the Query code in `x-amzn-query-error`;
/// for the Query protocol, `<ErrorResponse>` with that code.
fn render(wire: Wire, e: Error, request_id: &str) -> Response {
    let (shape, status) = if e.kind.is_fault() {
        ("InternalServiceFault", 500)
    } else {
        shape_of(e.code)
    };
    let code = if e.kind.is_fault() {
        "InternalServiceError"
    } else {
        e.code
    };
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    if wire == Wire::Query {
        let code = crate::services::sns::xml::query_code(code);
        return xml_reply(
            status,
            query::error(code, &e.message, fault, request_id),
            request_id,
        );
    }
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.cloudwatch#{shape}"),
        "message": e.message,
    });
    let mut resp = reply(wire, status, &body);
    if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
        resp.headers_mut().insert("x-amzn-query-error", v);
    }
    resp
}

/// A signature failure, in the protocol the request used.
pub fn early_error(parts: &Parts, e: Error) -> Response {
    render(wire_of(parts).0, e, &request_id(parts))
}

fn xml_reply(status: http::StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// A CBOR or JSON answer (the Query protocol's are written by [`query`]).
fn reply(wire: Wire, status: http::StatusCode, v: &Value) -> Response {
    let (bytes, content_type) = match wire {
        Wire::Cbor => (cbor::encode(v), "application/cbor"),
        Wire::Json | Wire::Query => (
            serde_json::to_vec(v).unwrap_or_default(),
            "application/x-amz-json-1.0",
        ),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if wire == Wire::Cbor {
        h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    resp
}

fn is_gzip(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")))
}

/// Runs blocking store work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "CloudWatch operation panicked");
        Err(Error::service())
    })
}

/// A store failure, logged, as CloudWatch's internal error.
pub fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "CloudWatch store");
    Error::new(
        "InternalServiceError",
        Kind::Internal,
        "Internal service error",
    )
}
