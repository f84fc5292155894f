//! CreateEventSourceMapping, GetEventSourceMapping, ListEventSourceMappings,
//! UpdateEventSourceMapping, DeleteEventSourceMapping. The mapping's model and checks are
//! `stratus_mappings::model`'s; this module resolves the function and the source, keeps the
//! mapping in the metadata store and answers in AWS's shape (202 for the three writes).

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::names::FunctionRef;
use stratus_core::{Error, Result};
use stratus_mappings::dynamodb::StreamSource;
use stratus_mappings::model::{self, Mapping};
use stratus_mappings::source::{Source, SourceKind};
use stratus_store::meta::Tx;

use super::{function_not_found, load, marker, page_size, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, parse, ApiResult};
use crate::{RawBody, Shared};

fn not_found() -> Error {
    Error::not_found("The resource you requested does not exist.")
}

/// The function a FunctionName member names (name, ARN or partial ARN, with an optional
/// qualifier), checked to exist; its name and the ARN the mapping shows.
fn resolve_function(tx: &Tx, c: &Caller, raw: &str) -> Result<(String, String)> {
    let r = FunctionRef::parse(raw)?.resolve(&c.region, None)?;
    tx.function(&r.name)?
        .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
    if let Some(q) = r.qualifier.as_deref() {
        load(tx, &c.region, &r.name, Some(q))?;
    }
    let arn = function_arn(&c.region, &r.name, r.qualifier.as_deref());
    Ok((r.name, arn))
}

/// The kind of the source an EventSourceArn names.
fn source_kind(arn: Option<&str>) -> Result<(String, SourceKind)> {
    let arn = arn.ok_or_else(|| {
        Error::invalid("Unrecognized event source, must be kafka or specify EventSourceArn.")
    })?;
    let kind = SourceKind::of_arn(arn)
        .ok_or_else(|| Error::invalid(format!("Unrecognized event source: {arn}.")))?;
    Ok((arn.to_string(), kind))
}

/// A mapping as an answer shows it, in state `state` (Creating, Updating, Deleting) or as
/// stored.
fn shown(m: &Mapping, state: Option<&str>) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(s) = state {
        v["State"] = json!(s);
    }
    v
}

/// Where a new stream mapping starts reading (its StartingPosition, taken now).
fn start_of(s: &Shared, m: &Mapping) -> Result<Option<String>> {
    match m.kind() {
        Some(SourceKind::DynamoDbStream) => {
            let source = StreamSource {
                tables: Arc::clone(&s.stores.tables),
            };
            source.start(m).map(Some)
        }
        _ => Ok(None),
    }
}

pub async fn create_event_source_mapping(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: Value = parse(&body.0)?;
    let raw_function = input["FunctionName"].as_str().ok_or_else(|| {
        Error::validation("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
    })?;
    let (source, kind) = source_kind(input["EventSourceArn"].as_str())?;
    let mut m = s.stores.meta.tx(|tx| {
        let (_, function) = resolve_function(tx, &c, raw_function)?;
        let mut m = model::new_mapping(&c.region, &source, &function, kind);
        model::apply(&mut m, &input, kind, true)?;
        Ok(m)
    })?;
    if kind == SourceKind::DynamoDbStream && s.stores.tables.stream(&source)?.is_none() {
        return Err(Error::not_found(format!("Stream not found: {source}")).into());
    }
    if kind == SourceKind::Sqs && s.stores.queues.queue(&source)?.is_none() {
        return Err(Error::invalid(
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist or you do not have access to it.",
        )
        .into());
    }
    let start = start_of(&s, &m)?;
    m.last_modified = model::now_secs();
    s.stores.meta.tx(|tx| {
        let (name, _) = m.function();
        let same: Vec<Mapping> = tx.mappings_after("", &m.event_source_arn, "", 10_000)?;
        if let Some(d) = same.iter().find(|d| d.function_arn == m.function_arn) {
            return Err(model::duplicate(kind, &source, &name, &d.uuid));
        }
        tx.put_mapping(&m.uuid, &name, &m.event_source_arn, &m)?;
        if let Some(cp) = &start {
            tx.start_mapping_at(&m.uuid, cp)?;
        }
        Ok(())
    })?;
    Ok(json(202, shown(&m, Some("Creating"))))
}

pub async fn get_event_source_mapping(
    State(s): State<Shared>,
    Path(uuid): Path<String>,
) -> ApiResult {
    let m: Mapping = s
        .stores
        .meta
        .tx(|tx| tx.mapping(&uuid))?
        .ok_or_else(not_found)?;
    Ok(json(200, shown(&m, None)))
}

pub async fn update_event_source_mapping(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uuid): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: Value = parse(&body.0)?;
    let m = s.stores.meta.tx(|tx| {
        let mut m: Mapping = tx.mapping(&uuid)?.ok_or_else(not_found)?;
        let kind = m.kind().ok_or_else(not_found)?;
        if let Some(f) = input["FunctionName"].as_str() {
            m.function_arn = resolve_function(tx, &c, f)?.1;
        }
        model::apply(&mut m, &input, kind, false)?;
        m.last_modified = model::now_secs();
        let (name, _) = m.function();
        tx.put_mapping(&uuid, &name, &m.event_source_arn, &m)?;
        Ok(m)
    })?;
    Ok(json(202, shown(&m, Some("Updating"))))
}

pub async fn delete_event_source_mapping(
    State(s): State<Shared>,
    Path(uuid): Path<String>,
) -> ApiResult {
    let m = s.stores.meta.tx(|tx| {
        let m: Mapping = tx.mapping(&uuid)?.ok_or_else(not_found)?;
        tx.delete_mapping(&uuid)?;
        Ok(m)
    })?;
    Ok(json(202, shown(&m, Some("Deleting"))))
}

pub async fn list_event_source_mappings(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let limit = page_size(&q, 100)?;
    let after = marker::decode(q.get("Marker"))?;
    let function = match q.get("FunctionName") {
        Some(f) => FunctionRef::parse(f)?.resolve(&c.region, None)?.name,
        None => String::new(),
    };
    let source = q.get("EventSourceArn").cloned().unwrap_or_default();
    let mut found: Vec<Mapping> = s
        .stores
        .meta
        .tx(|tx| tx.mappings_after(&function, &source, &after, limit + 1))?;
    let more = found.len() > limit;
    found.truncate(limit);
    let mut resp = json!({
        "EventSourceMappings": found.iter().map(|m| shown(m, None)).collect::<Vec<_>>()
    });
    if let (true, Some(last)) = (more, found.last()) {
        resp["NextMarker"] = json!(marker::encode(&last.uuid));
    }
    Ok(json(200, resp))
}

/// Where a stream poller sends the record of a batch it gave up on: an SQS queue (the record
/// as the message body) or an SNS topic (published as any message is, so its subscriptions
/// receive it). S3 destinations are accepted by the API and not delivered.
pub struct MappingDestinations {
    pub state: std::sync::Weak<crate::AppState>,
}

impl stratus_mappings::poller::Destinations for MappingDestinations {
    fn send(&self, arn: &str, record: &Value) -> Result<()> {
        let state = self.state.upgrade().ok_or_else(Error::service)?;
        let region = arn.split(':').nth(3).unwrap_or("us-east-1").to_string();
        if arn.starts_with("arn:aws:sqs:") {
            let m = stratus_queues::store::Outgoing {
                body: record.to_string(),
                sender_id: "lambda.amazonaws.com".into(),
                ..Default::default()
            };
            return state.stores.queues.send(arn, &m).map(|_| ());
        }
        if !arn.starts_with("arn:aws:sns:") {
            return Err(Error::invalid(format!(
                "Delivery to the destination {arn} is not supported yet."
            )));
        }
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let form = format!(
            "Action=Publish&TopicArn={}&Message={}",
            utf8_percent_encode(arn, NON_ALPHANUMERIC),
            utf8_percent_encode(&record.to_string(), NON_ALPHANUMERIC)
        );
        let params = crate::services::sns::form::Params::decode("", form.as_bytes());
        let ctx = crate::services::sns::Ctx {
            state: &state,
            action: "Publish".into(),
            region: &region,
            endpoint: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
            trace: None,
        };
        crate::services::sns::publish::publish(&ctx, &params).map(|_| ())
    }
}
