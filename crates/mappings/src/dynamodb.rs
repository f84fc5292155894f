//! A DynamoDB stream as a mapping's source. The checkpoint is the sequence number of the
//! last record done with; the event is AWS's `aws:dynamodb` shape: each stream record with
//! `eventSourceARN` (and `awsRegion`) added.

use std::sync::Arc;

use serde_json::{json, Value};
use stratus_core::Error;
use stratus_tables::streams::record::{parse_sequence_number, sequence_number};
use stratus_tables::Tables;

use crate::model::Mapping;
use crate::source::{Record, Source};

pub struct StreamSource {
    pub tables: Arc<Tables>,
}

fn region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or("us-east-1")
}

fn stream_not_found(arn: &str) -> Error {
    Error::not_found(format!("Stream not found: {arn}"))
}

impl Source for StreamSource {
    fn start(&self, m: &Mapping) -> Result<String, Error> {
        let arn = &m.event_source_arn;
        let s = self
            .tables
            .stream(arn)?
            .ok_or_else(|| stream_not_found(arn))?;
        let seq = match m.starting_position.as_deref() {
            Some("LATEST") => s.last_seq,
            Some("AT_TIMESTAMP") => {
                let ts = m.starting_position_timestamp.unwrap_or(0.0);
                first_at_or_after(&self.tables, arn, s.trimmed, ts)?
            }
            _ => s.trimmed,
        };
        Ok(seq.to_string())
    }

    fn read(&self, m: &Mapping, checkpoint: &str, max: usize) -> Result<Vec<Record>, Error> {
        let after: i64 = checkpoint.parse().unwrap_or(0);
        let region = region_of(&m.event_source_arn);
        let rows = self
            .tables
            .stream_records(&m.event_source_arn, after, max)?;
        Ok(rows
            .into_iter()
            .map(|(seq, mut body)| {
                body["awsRegion"] = json!(region);
                body["eventSourceARN"] = json!(m.event_source_arn);
                let at = body["dynamodb"]["ApproximateCreationDateTime"]
                    .as_i64()
                    .unwrap_or(0);
                Record {
                    id: sequence_number(seq),
                    checkpoint: seq.to_string(),
                    at_ms: at * 1000,
                    body,
                }
            })
            .collect())
    }

    fn event(&self, _m: &Mapping, batch: &[Record]) -> Value {
        json!({"Records": batch.iter().map(|r| r.body.clone()).collect::<Vec<_>>()})
    }

    fn batch_info(&self, m: &Mapping, batch: &[Record]) -> (&'static str, Value) {
        let seq = |r: Option<&Record>| r.map(|r| r.id.clone()).unwrap_or_default();
        let arrival = |r: Option<&Record>| r.map(|r| iso(r.at_ms)).unwrap_or_default();
        let shard = self
            .tables
            .stream(&m.event_source_arn)
            .ok()
            .flatten()
            .map(|s| stratus_tables::streams::ops::shard_id(&s))
            .unwrap_or_default();
        (
            "DDBStreamBatchInfo",
            json!({
                "shardId": shard,
                "startSequenceNumber": seq(batch.first()),
                "endSequenceNumber": seq(batch.last()),
                "approximateArrivalOfFirstRecord": arrival(batch.first()),
                "approximateArrivalOfLastRecord": arrival(batch.last()),
                "batchSize": batch.len(),
                "streamArn": m.event_source_arn,
            }),
        )
    }
}

/// The checkpoint before the first record written at or after `ts` (epoch seconds).
fn first_at_or_after(tables: &Tables, arn: &str, from: i64, ts: f64) -> Result<i64, Error> {
    let mut after = from;
    loop {
        let page = tables.stream_records(arn, after, 1000)?;
        let Some((last, _)) = page.last() else {
            return Ok(after);
        };
        for (seq, r) in &page {
            let at = r["dynamodb"]["ApproximateCreationDateTime"]
                .as_f64()
                .unwrap_or(0.0);
            if at >= ts.floor() {
                return Ok(seq - 1);
            }
        }
        after = *last;
    }
}

/// A time in ms as ISO 8601 with milliseconds, as AWS's failure records write it.
pub fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A SequenceNumber of a `batchItemFailures` answer as a checkpoint number.
pub fn parse_item_id(id: &str) -> Option<i64> {
    parse_sequence_number(id)
}
