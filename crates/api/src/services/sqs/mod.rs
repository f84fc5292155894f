//! Queues through SQS's two wire protocols: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`,
//! what current SDKs send) and the Query protocol (`Action=<Op>`, XML answers), on `POST /`
//! or on a queue's URL (`/<account>/<name>`). Both run the same operations, written against
//! the JSON input and output ([`ops`]); [`query`] translates the Query protocol's forms and
//! results. The state lives in `stratus-queues`.
//!
//! Errors carry their JSON code in `__type` and, as AWS's do, their Query-protocol code in
//! `x-amzn-query-error` (`AWS.SimpleQueueService.NonExistentQueue;Sender`), which the SDKs
//! read to give the codes the Query protocol always had.
//!
//! # Layout
//! - [`ops`]: one function per operation, and ReceiveMessage's long polling.
//! - [`query`]: Query-protocol forms to JSON input, JSON results to XML.

pub mod ops;
pub mod query;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::HeaderValue;
use serde_json::Value;
use stratus_core::{Error, Kind};

use crate::auth::Caller;
use crate::services::sns::form::Params;
use crate::services::sns::xml;
use crate::Shared;

/// The Query protocol's XML namespace.
pub const NS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
/// The JSON protocol's target prefix.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
const JSON_TYPE: &str = "application/x-amz-json-1.0";

/// What every operation gets.
pub struct Ctx {
    pub state: Shared,
    pub region: String,
    /// The platform's base URL as this request reached it (`http://host:port`): queue URLs
    /// are made with it, so a custom endpoint gets URLs that lead back to it.
    pub endpoint: String,
    /// The `SenderId` of the messages this request sends.
    pub sender_id: String,
    /// The request's `X-Amzn-Trace-Id`: the `AWSTraceHeader` of the messages it sends, unless
    /// they set one (recursive loop detection follows it).
    pub trace: Option<String>,
}

impl Ctx {
    pub fn queues(&self) -> &stratus_queues::Queues {
        &self.state.stores.queues
    }
}

/// Which protocol a request speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Json,
    Query,
}

fn wire_of(parts: &Parts) -> Wire {
    match parts.headers.get("x-amz-target") {
        Some(_) => Wire::Json,
        None => Wire::Query,
    }
}

/// Answers one verified SQS request.
pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let wire = wire_of(parts);
    let request_id = uuid::Uuid::new_v4().to_string();
    let (op, mut input) = match wire {
        Wire::Json => {
            let target = header(parts, "x-amz-target");
            let op = target.strip_prefix(TARGET_PREFIX).unwrap_or("").to_string();
            let input = if body.is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_slice::<Value>(&body).map_err(|_| {
                    Error::new(
                        "SerializationException",
                        Kind::InvalidInput,
                        "Start of structure or map found where not expected.",
                    )
                })
            };
            (op, input)
        }
        Wire::Query => {
            let p = Params::decode(parts.uri.query().unwrap_or(""), &body);
            let form = form_map(parts.uri.query().unwrap_or(""), &body);
            (
                p.get("Action").unwrap_or("").to_string(),
                Ok(query::to_json(&form)),
            )
        }
    };
    let ctx = Ctx {
        state: state.clone(),
        region: caller.region.clone(),
        endpoint: endpoint(parts),
        sender_id: caller.access_key.clone(),
        trace: parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    // A request sent to the queue's own URL names the queue by its path.
    if let Ok(Value::Object(m)) = &mut input {
        let path = parts.uri.path().trim_matches('/');
        if !m.contains_key("QueueUrl") && path.split('/').count() == 2 {
            m.insert(
                "QueueUrl".into(),
                Value::from(format!("{}/{path}", ctx.endpoint)),
            );
        }
    }
    let result = match input {
        Ok(input) => ops::run(ctx, &op, input).await,
        Err(e) => Err(e),
    };
    match (wire, result) {
        (Wire::Json, Ok(v)) => json_reply(http::StatusCode::OK, &v),
        (Wire::Json, Err(e)) => json_error(e),
        (Wire::Query, Ok(v)) => query_reply(&op, &request_id, &v),
        (Wire::Query, Err(e)) => query_error(&e, &request_id),
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> &'a str {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The form's parameters in order (query string, then body; the body wins).
fn form_map(query: &str, body: &[u8]) -> std::collections::BTreeMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn endpoint(parts: &Parts) -> String {
    let host = header(parts, "host");
    let host = if host.is_empty() {
        "localhost:4566"
    } else {
        host
    };
    format!("http://{host}")
}

/// The Query protocol's code for an SQS error: the JSON protocol renamed some
/// (`QueueDoesNotExist` was `AWS.SimpleQueueService.NonExistentQueue`).
pub fn query_code(code: &'static str) -> &'static str {
    match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists" => "QueueAlreadyExists",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
        "BatchRequestTooLong" => "AWS.SimpleQueueService.BatchRequestTooLong",
        "PurgeQueueInProgress" => "AWS.SimpleQueueService.PurgeQueueInProgress",
        "QueueDeletedRecently" => "AWS.SimpleQueueService.QueueDeletedRecently",
        "MessageNotInflight" => "AWS.SimpleQueueService.MessageNotInflight",
        "UnsupportedOperation" => "AWS.SimpleQueueService.UnsupportedOperation",
        "AccessDeniedException" => "AccessDenied",
        other => other,
    }
}

fn json_reply(status: http::StatusCode, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_TYPE),
    );
    resp
}

/// A JSON-protocol error: `__type` in SQS's namespace, the message, and the Query code in
/// `x-amzn-query-error`.
pub fn json_error(e: Error) -> Response {
    let status = crate::wire::status(&e, crate::wire::Protocol::Query);
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.sqs#{}", e.code),
        "message": e.message,
    });
    let mut resp = json_reply(status, &body);
    if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", query_code(e.code))) {
        resp.headers_mut().insert("x-amzn-query-error", v);
    }
    resp
}

fn query_reply(op: &str, request_id: &str, v: &Value) -> Response {
    if v.as_object().is_none_or(|m| m.is_empty())
        && !op.starts_with("List")
        && op != "ReceiveMessage"
        && op != "GetQueueAttributes"
    {
        return xml::empty_in(NS, op, request_id);
    }
    xml::ok_in(NS, op, request_id, |x| query::write(x, op, v))
}

fn query_error(e: &Error, request_id: &str) -> Response {
    let mut renamed = e.clone();
    renamed.code = query_code(e.code);
    // The Query protocol words a missing queue as it always has.
    if e.code == "QueueDoesNotExist" {
        renamed.message = "The specified queue does not exist for this wsdl version.".into();
    }
    xml::error_in(NS, &renamed, request_id)
}

/// An error raised before the request reached SQS (a bad signature, an unreadable body, a
/// refusal), in the protocol the request speaks.
pub fn early_error(parts: &Parts, e: Error) -> Response {
    match wire_of(parts) {
        Wire::Json => json_error(e),
        Wire::Query => {
            let id = parts.extensions.get::<crate::RequestId>().copied();
            let id = id.unwrap_or_else(|| crate::RequestId(stratus_core::ids::request_id()));
            query_error(&e, &id.to_string())
        }
    }
}

/// The queues store as the invoker's way to queue destinations and dead-letter queues.
pub struct QueueSender(pub std::sync::Arc<stratus_queues::Queues>);

impl QueueSender {
    /// Sends `body` as `sender`, with string message attributes (empty values left out).
    fn send_as<'a>(
        &self,
        sender: &str,
        arn: &str,
        body: String,
        attributes: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), Error> {
        let attributes = attributes
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let a = stratus_queues::message::MessageAttribute {
                    data_type: "String".into(),
                    string_value: Some(v.to_string()),
                    binary_value: None,
                };
                (k.to_string(), a)
            })
            .collect();
        let m = stratus_queues::store::Outgoing {
            body,
            attributes,
            sender_id: sender.into(),
            ..Default::default()
        };
        self.0.send(arn, &m).map(|_| ())
    }
}

impl stratus_invoke::QueueTarget for QueueSender {
    fn send(&self, arn: &str, body: String, attributes: &[(&str, &str)]) -> Result<(), String> {
        self.send_as(
            "lambda.amazonaws.com",
            arn,
            body,
            attributes.iter().copied(),
        )
        .map_err(|e| e.to_string())
    }
}

/// The queues store as EventBridge's way to deliver to queue targets and dead-letter queues.
impl crate::services::events::deliver::SqsSender for QueueSender {
    fn send(
        &self,
        queue_arn: &str,
        body: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let pairs = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        self.send_as("events.amazonaws.com", queue_arn, body.to_string(), pairs)
    }
}
