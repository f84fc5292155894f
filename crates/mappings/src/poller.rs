//! The poller: a supervised worker that, for each Enabled mapping whose lease this node
//! holds, reads its source from the checkpoint, batches records (BatchSize,
//! MaximumBatchingWindowInSeconds), invokes the function synchronously and moves the
//! checkpoint once a batch is done with.
//!
//! A failed batch blocks its source, as AWS's stream pollers do: it is retried in order
//! (split in halves with BisectBatchOnFunctionError) until MaximumRetryAttempts or
//! MaximumRecordAgeInSeconds give up on it; then its description goes to the OnFailure
//! destination, if set, and the poller moves past it. With ReportBatchItemFailures the
//! function names the records that failed: the checkpoint moves to just before the first,
//! and the rest is retried.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use stratus_core::Error;
use stratus_invoke::{Call, Invoker, Trigger};
use stratus_store::meta::Meta;

use crate::dynamodb::iso;
use crate::model::Mapping;
use crate::source::{Record, Source, SourceKind};

/// How long a node's claim on a mapping lasts without renewal.
pub const LEASE_MS: i64 = 30_000;
/// How often mappings are looked at.
const TICK: Duration = Duration::from_millis(200);
/// Batches run per step before the lease and the mapping are looked at again.
const BATCHES_PER_STEP: usize = 10;

/// Where records of a batch that was given up on are described (SQS, SNS, S3 ARNs).
pub trait Destinations: Send + Sync {
    /// Sends `record` to the destination `arn`. Blocking.
    fn send(&self, arn: &str, record: &Value) -> Result<(), Error>;
}

/// The sources: streams read through [`Source`] from a checkpoint; queues, which need none,
/// through [`crate::sqs`].
pub struct Sources {
    pub dynamodb: Arc<dyn Source>,
    pub sqs: Arc<stratus_queues::Queues>,
}

impl Sources {
    /// The checkpointed source of a kind (`None` for a queue).
    pub fn of(&self, kind: SourceKind) -> Option<Arc<dyn Source>> {
        match kind {
            SourceKind::DynamoDbStream => Some(self.dynamodb.clone()),
            SourceKind::Sqs => None,
        }
    }
}

pub struct Poller {
    pub meta: Arc<Meta>,
    pub invoker: Arc<Invoker>,
    pub sources: Sources,
    pub destinations: Arc<dyn Destinations>,
    /// This node's id, named on the leases it holds.
    pub node: String,
    /// Mappings with a step in progress on this node (a queue's pollers as `uuid#n`).
    busy: Mutex<HashSet<String>>,
    /// Queue mappings whose last batch was full: their backlog calls for more pollers.
    hot: Mutex<HashSet<String>>,
}

/// How an invocation of a batch ended.
enum Outcome {
    Success,
    /// ReportBatchItemFailures: the records from this index on are to be retried.
    FailedFrom(usize),
    Failed,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(Error::service()))
}

impl Poller {
    pub fn new(
        meta: Arc<Meta>,
        invoker: Arc<Invoker>,
        sources: Sources,
        destinations: Arc<dyn Destinations>,
        node: String,
    ) -> Arc<Poller> {
        Arc::new(Poller {
            meta,
            invoker,
            sources,
            destinations,
            node,
            busy: Mutex::new(HashSet::new()),
            hot: Mutex::new(HashSet::new()),
        })
    }

    /// The worker: forever, start a step for each enabled mapping not already stepping.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.clone().tick().await {
                tracing::warn!(error = %e, "event source mappings: listing failed");
            }
            tokio::time::sleep(TICK).await;
        }
    }

    async fn tick(self: Arc<Self>) -> Result<(), Error> {
        let meta = self.meta.clone();
        let all: Vec<Mapping> =
            blocking(move || meta.tx(|tx| tx.mappings_after("", "", "", 100_000))).await?;
        for m in all.into_iter().filter(Mapping::enabled) {
            if m.kind() == Some(SourceKind::Sqs) {
                self.clone().start_queue_pollers(m);
                continue;
            }
            let Some(source) = m.kind().and_then(|k| self.sources.of(k)) else {
                continue;
            };
            if !self.claim_busy(&m.uuid) {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let uuid = m.uuid.clone();
                if let Err(e) = me.step(m, source).await {
                    tracing::warn!(error = %e, mapping = %uuid, "event source mapping step failed");
                }
                me.busy
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&uuid);
            });
        }
        Ok(())
    }

    /// Starts a queue mapping's pollers that are not running: one, or while its backlog
    /// keeps batches full, up to its concurrency. No lease: every node may poll a queue,
    /// since a received message is hidden from the others.
    fn start_queue_pollers(self: Arc<Self>, m: Mapping) {
        let hot = lock(&self.hot).contains(&m.uuid);
        let pollers = if hot { crate::sqs::concurrency(&m) } else { 1 };
        for n in 0..pollers {
            let key = format!("{}#{n}", m.uuid);
            if !self.claim_busy(&key) {
                continue;
            }
            let (me, m) = (self.clone(), m.clone());
            tokio::spawn(async move {
                let out =
                    crate::sqs::step(me.sources.sqs.clone(), me.invoker.clone(), m.clone()).await;
                match out {
                    Ok(true) => {
                        lock(&me.hot).insert(m.uuid.clone());
                    }
                    Ok(false) => {
                        lock(&me.hot).remove(&m.uuid);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, mapping = %m.uuid, "queue poller step failed");
                    }
                }
                lock(&me.busy).remove(&key);
            });
        }
    }

    fn claim_busy(&self, uuid: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid.to_string())
    }

    /// Takes or renews this node's lease on a mapping.
    async fn lease(&self, uuid: &str) -> Result<bool, Error> {
        let (meta, uuid, node) = (self.meta.clone(), uuid.to_string(), self.node.clone());
        blocking(move || {
            let now = now_ms();
            meta.tx(|tx| tx.lease_mapping(&uuid, &node, now, now + LEASE_MS))
        })
        .await
    }

    /// The mapping as stored now (`None`: deleted).
    async fn current(&self, uuid: &str) -> Result<Option<Mapping>, Error> {
        let (meta, uuid) = (self.meta.clone(), uuid.to_string());
        blocking(move || meta.tx(|tx| tx.mapping(&uuid))).await
    }

    /// One step of one mapping: up to [`BATCHES_PER_STEP`] batches. An idle mapping is only
    /// read: the lease (a write, which every node's metadata caches notice) is taken once
    /// there are records to process.
    async fn step(&self, m: Mapping, source: Arc<dyn Source>) -> Result<(), Error> {
        let mut checkpoint = self.checkpoint(&m, &source).await?;
        let mut leased = false;
        for _ in 0..BATCHES_PER_STEP {
            let (src, mm, cp) = (source.clone(), m.clone(), checkpoint.clone());
            let max = m.batch_size.max(1) as usize;
            let records = blocking(move || src.read(&mm, &cp, max)).await?;
            if records.is_empty() || self.window_open(&m, &records) {
                return Ok(());
            }
            if !leased {
                if !self.lease(&m.uuid).await? {
                    return Ok(());
                }
                // Another node may have moved the checkpoint before this one took over.
                let fresh = self.checkpoint(&m, &source).await?;
                if fresh != checkpoint {
                    checkpoint = fresh;
                    leased = true;
                    continue;
                }
                leased = true;
            }
            let last = records
                .last()
                .map(|r| r.checkpoint.clone())
                .unwrap_or_default();
            let batch: Vec<Record> = records
                .into_iter()
                .filter(|r| crate::filter::matches(m.filter_criteria.as_ref(), &r.body))
                .collect();
            if !batch.is_empty() && !self.deliver(&m, &source, batch).await? {
                return Ok(());
            }
            // Records the filters dropped are done with too.
            if !self.save_checkpoint(&m.uuid, &last).await? {
                return Ok(());
            }
            checkpoint = last;
        }
        Ok(())
    }

    /// The stored checkpoint, or the StartingPosition's (stored now).
    async fn checkpoint(&self, m: &Mapping, source: &Arc<dyn Source>) -> Result<String, Error> {
        let (meta, uuid) = (self.meta.clone(), m.uuid.clone());
        if let Some(cp) = blocking(move || meta.tx(|tx| tx.mapping_checkpoint(&uuid))).await? {
            return Ok(cp);
        }
        let (src, mm) = (source.clone(), m.clone());
        let cp = blocking(move || src.start(&mm)).await?;
        let (meta, uuid, start) = (self.meta.clone(), m.uuid.clone(), cp.clone());
        blocking(move || meta.tx(|tx| tx.start_mapping_at(&uuid, &start))).await?;
        Ok(cp)
    }

    async fn save_checkpoint(&self, uuid: &str, cp: &str) -> Result<bool, Error> {
        let (meta, uuid, node, cp) = (
            self.meta.clone(),
            uuid.to_string(),
            self.node.clone(),
            cp.to_string(),
        );
        blocking(move || meta.tx(|tx| tx.set_mapping_checkpoint(&uuid, &node, &cp))).await
    }

    /// Whether a short batch should wait for more records (MaximumBatchingWindowInSeconds).
    fn window_open(&self, m: &Mapping, records: &[Record]) -> bool {
        let window_ms = m.maximum_batching_window_in_seconds * 1000;
        let first = records.first().map_or(0, |r| r.at_ms);
        (records.len() as i64) < m.batch_size && window_ms > 0 && now_ms() - first < window_ms
    }

    /// Runs one batch to its end: success, or given up on after retries. Returns false when
    /// the poller must stop (the mapping was disabled or deleted, or the lease lost), with
    /// the checkpoint at the last record done with.
    async fn deliver(
        &self,
        m: &Mapping,
        source: &Arc<dyn Source>,
        mut pending: Vec<Record>,
    ) -> Result<bool, Error> {
        let mut attempts: i64 = 0;
        let mut size = pending.len();
        let mut ok = true;
        while !pending.is_empty() {
            let batch: Vec<Record> = pending[..size.min(pending.len())].to_vec();
            let too_old = m.maximum_record_age_in_seconds.unwrap_or(-1) > 0
                && now_ms() - batch[0].at_ms > m.maximum_record_age_in_seconds.unwrap_or(0) * 1000;
            let outcome = if too_old {
                Outcome::Failed
            } else {
                attempts += 1;
                self.invoke(m, source, &batch).await
            };
            let done = match outcome {
                Outcome::Success => batch.len(),
                Outcome::FailedFrom(i) => i,
                Outcome::Failed => 0,
            };
            if done > 0 {
                if !self
                    .save_checkpoint(&m.uuid, &batch[done - 1].checkpoint)
                    .await?
                {
                    return Ok(false);
                }
                pending.drain(..done);
            }
            if done == batch.len() {
                (attempts, size) = (0, pending.len());
                continue;
            }
            ok = false;
            let retries = m.maximum_retry_attempts.unwrap_or(-1);
            if too_old || (retries >= 0 && attempts > retries) {
                let failed: Vec<Record> = batch[done..].to_vec();
                let condition = if too_old {
                    "RecordAgeExceeded"
                } else {
                    "RetryAttemptsExhausted"
                };
                self.give_up(m, source, &failed, condition, attempts).await;
                if !self
                    .save_checkpoint(&m.uuid, &failed[failed.len() - 1].checkpoint)
                    .await?
                {
                    return Ok(false);
                }
                pending.drain(..failed.len());
                (attempts, size) = (0, pending.len());
                continue;
            }
            if m.bisect_batch_on_function_error == Some(true) {
                size = (batch.len() - done).div_ceil(2).max(1);
            }
            tokio::time::sleep(Duration::from_millis((200 * attempts as u64).min(2000))).await;
            if !self.still_mine(&m.uuid).await? {
                return Ok(false);
            }
        }
        self.set_result(
            &m.uuid,
            if ok {
                "OK"
            } else {
                "PROBLEM: Function call failed"
            },
        )
        .await;
        Ok(true)
    }

    /// Whether the mapping is still enabled and this node still holds it (between retries).
    async fn still_mine(&self, uuid: &str) -> Result<bool, Error> {
        let enabled = self.current(uuid).await?.is_some_and(|m| m.enabled());
        Ok(enabled && self.lease(uuid).await?)
    }

    /// Invokes the function with one batch, synchronously, metered as the mapping's.
    async fn invoke(&self, m: &Mapping, source: &Arc<dyn Source>, batch: &[Record]) -> Outcome {
        let (name, qualifier) = m.function();
        let region = m
            .event_source_mapping_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1");
        let event = source.event(m, batch);
        let call = Call {
            trigger: Trigger::EventSourceMapping,
            region,
            name: &name,
            qualifier: qualifier.as_deref(),
            payload: Bytes::from(event.to_string()),
            client_context: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            want_log: false,
            // Stream records carry no trace header (AWS does not track loops through them).
            trace: None,
        };
        match self.invoker.invoke(call).await {
            Ok(out) if matches!(out.ending, stratus_engine::Ending::Success) => {
                if m.reports_item_failures() {
                    item_failures(&out.payload, batch)
                } else {
                    Outcome::Success
                }
            }
            Ok(_) => Outcome::Failed,
            Err(e) => {
                tracing::warn!(error = %e, mapping = %m.uuid, "event source mapping invoke refused");
                Outcome::Failed
            }
        }
    }

    /// Sends the description of a batch given up on to the OnFailure destination.
    async fn give_up(
        &self,
        m: &Mapping,
        source: &Arc<dyn Source>,
        batch: &[Record],
        condition: &str,
        attempts: i64,
    ) {
        let Some(dest) = m.on_failure().map(str::to_string) else {
            return;
        };
        let (key, info) = source.batch_info(m, batch);
        let mut record = json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": m.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": iso(now_ms()),
        });
        record[key] = info;
        let sink = self.destinations.clone();
        let sent = blocking(move || sink.send(&dest, &record)).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, mapping = %m.uuid, "OnFailure destination refused the record");
        }
    }

    /// Records LastProcessingResult when it changes.
    async fn set_result(&self, uuid: &str, result: &str) {
        let (meta, uuid, result) = (self.meta.clone(), uuid.to_string(), result.to_string());
        let out = blocking(move || {
            meta.tx(|tx| {
                let Some(mut m) = tx.mapping::<Mapping>(&uuid)? else {
                    return Ok(());
                };
                if m.last_processing_result.as_deref() != Some(result.as_str()) {
                    m.last_processing_result = Some(result.clone());
                    let (name, _) = m.function();
                    tx.put_mapping(&uuid, &name, &m.event_source_arn, &m)?;
                }
                Ok(())
            })
        })
        .await;
        if let Err(e) = out {
            tracing::warn!(error = %e, "could not record LastProcessingResult");
        }
    }
}

/// A ReportBatchItemFailures answer: the index of the first failed record (records before
/// it succeeded). An answer that names a record not in the batch, or is not the expected
/// shape where it lists failures, fails the whole batch, as AWS treats it.
fn item_failures(payload: &[u8], batch: &[Record]) -> Outcome {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return Outcome::Success;
    };
    let Some(list) = v.get("batchItemFailures").and_then(Value::as_array) else {
        return Outcome::Success;
    };
    let mut first: Option<usize> = None;
    for f in list {
        let Some(id) = f["itemIdentifier"].as_str().filter(|s| !s.is_empty()) else {
            return Outcome::Failed;
        };
        let Some(i) = batch.iter().position(|r| r.id == id) else {
            return Outcome::Failed;
        };
        first = Some(first.map_or(i, |f| f.min(i)));
    }
    match first {
        None => Outcome::Success,
        Some(i) => Outcome::FailedFrom(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                body: json!({}),
                id: format!("{i:021}"),
                checkpoint: i.to_string(),
                at_ms: 0,
            })
            .collect()
    }

    #[test]
    fn item_failures_retry_from_the_first_failed_record() {
        let b = batch(4);
        let ans = |v: Value| item_failures(v.to_string().as_bytes(), &b);
        assert!(matches!(
            ans(json!({"batchItemFailures": []})),
            Outcome::Success
        ));
        assert!(matches!(ans(json!(null)), Outcome::Success));
        let two = json!({"batchItemFailures": [{"itemIdentifier": b[3].id}, {"itemIdentifier": b[2].id}]});
        assert!(matches!(ans(two), Outcome::FailedFrom(2)));
        // An identifier not in the batch, or an empty one, fails it all.
        assert!(matches!(
            ans(json!({"batchItemFailures": [{"itemIdentifier": "9"}]})),
            Outcome::Failed
        ));
        assert!(matches!(
            ans(json!({"batchItemFailures": [{"itemIdentifier": ""}]})),
            Outcome::Failed
        ));
    }
}
