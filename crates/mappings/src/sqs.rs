//! An SQS queue as an event source. Unlike a stream there is no checkpoint: messages are
//! received (hidden for the queue's visibility timeout), handed to the function in batches,
//! and deleted once handled. A batch that fails is not deleted: its messages reappear when
//! their visibility timeout ends and are received again, until the queue's RedrivePolicy
//! moves them to its dead-letter queue, as on AWS. With ReportBatchItemFailures only the
//! messages the function names stay.
//!
//! Pollers scale with the backlog: a mapping runs one batch at a time while batches come
//! back short, and up to its concurrency (ScalingConfig.MaximumConcurrency, else
//! [`DEFAULT_CONCURRENCY`]) while they come back full.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use stratus_core::arn::function_arn;
use stratus_core::trace::{function_key, TraceHeader};
use stratus_core::Error;
use stratus_invoke::{Call, Failure, Invoker, Trigger};
use stratus_queues::store::{ReceiveRequest, Received};
use stratus_queues::Queues;

use crate::model::Mapping;

/// Batches of one mapping at once when its ScalingConfig sets no maximum.
pub const DEFAULT_CONCURRENCY: usize = 5;
/// How often a short batch asks the queue again while its batching window is open.
const WINDOW_POLL: Duration = Duration::from_millis(100);
/// How long an idle poller waits for a send before the mapping is looked at again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Batches one poller runs before the mapping is looked at again.
const BATCHES_PER_STEP: usize = 20;

/// The concurrency a mapping may scale to.
pub fn concurrency(m: &Mapping) -> usize {
    m.scaling_config
        .as_ref()
        .and_then(|s| s["MaximumConcurrency"].as_u64())
        .map_or(DEFAULT_CONCURRENCY, |n| n as usize)
        .max(1)
}

/// Runs batches of one mapping until the queue has nothing or the step's budget is spent.
/// Returns whether the last batch was full (the backlog may call for more pollers).
pub async fn step(queues: Arc<Queues>, invoker: Arc<Invoker>, m: Mapping) -> Result<bool, Error> {
    let mut full = false;
    for n in 0..BATCHES_PER_STEP {
        let batch = if n == 0 {
            receive_or_wait(&queues, &m).await?
        } else {
            receive_batch(&queues, &m).await?
        };
        if batch.is_empty() {
            return Ok(false);
        }
        full = batch.len() as i64 >= m.batch_size;
        let (wanted, unwanted): (Vec<Received>, Vec<Received>) = batch.into_iter().partition(|r| {
            crate::filter::matches(m.filter_criteria.as_ref(), &filtered_view(&m, r))
        });
        // Messages the filters drop are deleted, as AWS does.
        delete(&queues, &m, unwanted).await;
        if wanted.is_empty() {
            continue;
        }
        let done = invoke(&invoker, &m, &wanted).await;
        let handled: Vec<Received> = wanted
            .into_iter()
            .filter(|r| done.handled(&r.message_id))
            .collect();
        delete(&queues, &m, handled).await;
        if !full {
            return Ok(false);
        }
    }
    Ok(full)
}

/// A first batch, or, if the queue is empty, one received as soon as a message is sent in this
/// process (or after [`IDLE_WAIT`]): a send reaches the function without waiting for the
/// poller's next round.
async fn receive_or_wait(queues: &Arc<Queues>, m: &Mapping) -> Result<Vec<Received>, Error> {
    let sent = queues.sent();
    tokio::pin!(sent);
    sent.as_mut().enable();
    let batch = receive_batch(queues, m).await?;
    if !batch.is_empty() {
        return Ok(batch);
    }
    if tokio::time::timeout(IDLE_WAIT, sent).await.is_err() {
        return Ok(Vec::new());
    }
    receive_batch(queues, m).await
}

/// Up to BatchSize messages: received at once, then, while the batch is short and its
/// MaximumBatchingWindowInSeconds is open, topped up.
async fn receive_batch(queues: &Arc<Queues>, m: &Mapping) -> Result<Vec<Received>, Error> {
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(m.maximum_batching_window_in_seconds.max(0) as u64);
    let mut batch = Vec::new();
    loop {
        let want = m.batch_size - batch.len() as i64;
        let (q, arn) = (queues.clone(), m.event_source_arn.clone());
        let got = blocking(move || {
            q.receive(
                &arn,
                &ReceiveRequest {
                    max: want.min(10),
                    visibility_timeout: None,
                    attribute_names: vec!["All".into()],
                    message_attribute_names: vec!["All".into()],
                },
            )
        })
        .await?;
        let empty = got.is_empty();
        batch.extend(got);
        if batch.len() as i64 >= m.batch_size {
            return Ok(batch);
        }
        if empty {
            if batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(batch);
            }
            tokio::time::sleep(WINDOW_POLL).await;
        }
    }
}

/// What an invocation left to do: every message handled, some failed, or none.
enum Done {
    All,
    AllBut(Vec<String>),
    None,
}

impl Done {
    fn handled(&self, id: &str) -> bool {
        match self {
            Done::All => true,
            Done::AllBut(failed) => !failed.iter().any(|f| f == id),
            Done::None => false,
        }
    }
}

async fn invoke(invoker: &Arc<Invoker>, m: &Mapping, batch: &[Received]) -> Done {
    let (name, qualifier) = m.function();
    let region = m.event_source_arn.split(':').nth(3).unwrap_or("us-east-1");
    let records: Vec<Value> = batch.iter().map(|r| record(m, r)).collect();
    let call = Call {
        trigger: Trigger::EventSourceMapping,
        region,
        name: &name,
        qualifier: qualifier.as_deref(),
        payload: Bytes::from(json!({ "Records": records }).to_string()),
        client_context: None,
        request_id: uuid::Uuid::new_v4().to_string(),
        want_log: false,
        trace: batch_trace(region, &name, batch),
    };
    match invoker.invoke(call).await {
        Ok(out) if matches!(out.ending, stratus_engine::Ending::Success) => {
            if m.reports_item_failures() {
                item_failures(&out.payload, batch)
            } else {
                Done::All
            }
        }
        Ok(_) => Done::None,
        // Left to the queue: the messages come back after their visibility timeout, are
        // stopped again, and reach the dead-letter queue through the redrive policy.
        Err(Failure::RecursiveLoop) => Done::None,
        Err(e) => {
            tracing::warn!(error = %e, mapping = %m.uuid, "event source mapping invoke refused");
            Done::None
        }
    }
}

/// The trace header the batch's invocation continues: of the messages that carry one
/// (`AWSTraceHeader`), the one whose chain has invoked the function most often, so a looping
/// message cannot hide behind a fresh one in the same batch.
fn batch_trace(region: &str, function: &str, batch: &[Received]) -> Option<String> {
    let key = function_key(&function_arn(region, function, None));
    batch
        .iter()
        .filter_map(|r| r.attributes.get("AWSTraceHeader"))
        .max_by_key(|t| TraceHeader::parse(t).hops(&key))
        .cloned()
}

/// A ReportBatchItemFailures answer. An identifier that is empty or not in the batch fails
/// the whole batch, as AWS treats it; an answer without the list handles everything.
fn item_failures(payload: &[u8], batch: &[Received]) -> Done {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return Done::All;
    };
    let Some(list) = v.get("batchItemFailures").and_then(Value::as_array) else {
        return Done::All;
    };
    let mut failed = Vec::new();
    for f in list {
        match f["itemIdentifier"].as_str() {
            Some(id) if batch.iter().any(|r| r.message_id == id) => failed.push(id.to_string()),
            _ => return Done::None,
        }
    }
    Done::AllBut(failed)
}

async fn delete(queues: &Arc<Queues>, m: &Mapping, messages: Vec<Received>) {
    if messages.is_empty() {
        return;
    }
    let (q, arn) = (queues.clone(), m.event_source_arn.clone());
    let out = blocking(move || {
        for r in &messages {
            q.delete_message(&arn, &r.receipt_handle)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = out {
        tracing::warn!(error = %e, mapping = %m.uuid, "could not delete handled messages");
    }
}

/// What FilterCriteria patterns see of a message: its record, with a JSON body parsed (so a
/// pattern can name the body's fields, as on AWS).
fn filtered_view(m: &Mapping, r: &Received) -> Value {
    let mut rec = record(m, r);
    if let Ok(body) = serde_json::from_str::<Value>(&r.body) {
        rec["body"] = body;
    }
    rec
}

/// One message as the `aws:sqs` event carries it.
pub fn record(m: &Mapping, r: &Received) -> Value {
    let region = m.event_source_arn.split(':').nth(3).unwrap_or("us-east-1");
    let attributes: Map<String, Value> = r
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let message_attributes: Map<String, Value> = r
        .message_attributes
        .iter()
        .map(|(k, a)| {
            let mut v = json!({
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a.data_type,
            });
            if let Some(s) = &a.string_value {
                v["stringValue"] = json!(s);
            }
            if let Some(b) = &a.binary_value {
                v["binaryValue"] = json!(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (k.clone(), v)
        })
        .collect();
    let mut rec = json!({
        "messageId": r.message_id,
        "receiptHandle": r.receipt_handle,
        "body": r.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": r.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": m.event_source_arn,
        "awsRegion": region,
    });
    if let Some(md5) = &r.md5_of_message_attributes {
        rec["md5OfMessageAttributes"] = json!(md5);
    }
    rec
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(Error::service()))
}
