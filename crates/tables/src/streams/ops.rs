//! The DynamoDB Streams API (`DynamoDBStreams_20120810.*`): ListStreams, DescribeStream,
//! GetShardIterator, GetRecords. A shard iterator is an opaque token naming a stream, the
//! sequence number reading continues after, and when it was issued; it expires after 15
//! minutes, as AWS's do.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::{Error, Kind};

use super::record::{parse_sequence_number, sequence_number};
use super::store::Stream;
use crate::store::Db;
use crate::table::constraint;

/// How long a shard iterator stays usable, in milliseconds.
pub const ITERATOR_TTL_MS: i64 = 15 * 60 * 1000;

pub fn dispatch(db: &mut Db, op: &str, req: &Value, region: &str) -> Result<Value, Error> {
    match op {
        "ListStreams" => list_streams(db, req, region),
        "DescribeStream" => describe_stream(db, req, region),
        "GetShardIterator" => get_shard_iterator(db, req),
        "GetRecords" => get_records(db, req, region),
        _ => Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            "",
        )),
    }
}

fn stream_not_found(arn: &str) -> Error {
    Error::not_found(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

fn required<'a>(req: &'a Value, member: &str, field: &str) -> Result<&'a str, Error> {
    req[member].as_str().ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// The stream a `StreamArn` member names.
fn named_stream(db: &Db, req: &Value) -> Result<(String, Stream), Error> {
    let arn = required(req, "StreamArn", "streamArn")?;
    let (tbl, label) = super::parse_arn(arn).ok_or_else(|| stream_not_found(arn))?;
    let s = db
        .stream(tbl, label)?
        .ok_or_else(|| stream_not_found(arn))?;
    Ok((arn.to_string(), s))
}

/// The one shard's id, derived from the stream so it is stable across calls and nodes.
pub fn shard_id(s: &Stream) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{}/{}", s.table, s.label));
    format!("shardId-{:020}-{}", s.created_ms, &hex::encode(digest)[..8])
}

/// A `Limit` member within `1..=max`, or `default`.
fn limit(req: &Value, max: i64, default: usize) -> Result<usize, Error> {
    match req.get("Limit").and_then(Value::as_i64) {
        None => Ok(default),
        Some(n) if n < 1 => Err(constraint(
            &n.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n > max => Err(constraint(
            &n.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(n as usize),
    }
}

pub fn list_streams(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let limit = limit(req, 100, 100)?;
    let after = req["ExclusiveStartStreamArn"]
        .as_str()
        .and_then(super::parse_arn);
    let only = req["TableName"].as_str();
    let mut found = db.streams(only, after, limit + 1)?;
    let more = found.len() > limit;
    found.truncate(limit);
    let arn = |s: &Stream| super::arn(region, &s.table, &s.label);
    let streams: Vec<Value> = found
        .iter()
        .map(|s| json!({"StreamArn": arn(s), "TableName": s.table, "StreamLabel": s.label}))
        .collect();
    let mut resp = json!({ "Streams": streams });
    if let (true, Some(last)) = (more, found.last()) {
        resp["LastEvaluatedStreamArn"] = json!(arn(last));
    }
    Ok(resp)
}

pub fn describe_stream(db: &mut Db, req: &Value, _region: &str) -> Result<Value, Error> {
    let (arn, s) = named_stream(db, req)?;
    limit(req, 100, 100)?;
    let shard = shard_id(&s);
    let mut range = json!({"StartingSequenceNumber": sequence_number(s.trimmed + 1)});
    if s.disabled_ms.is_some() {
        range["EndingSequenceNumber"] = json!(sequence_number(s.last_seq));
    }
    // Paging past the one shard leaves none.
    let shards = if req["ExclusiveStartShardId"].as_str() == Some(shard.as_str()) {
        vec![]
    } else {
        vec![json!({"ShardId": shard, "SequenceNumberRange": range})]
    };
    Ok(json!({"StreamDescription": {
        "StreamArn": arn,
        "StreamLabel": s.label,
        "StreamStatus": if s.disabled_ms.is_some() { "DISABLED" } else { "ENABLED" },
        "StreamViewType": s.view,
        "CreationRequestDateTime": s.created_ms as f64 / 1000.0,
        "TableName": s.table,
        "KeySchema": s.keys,
        "Shards": shards,
    }}))
}

/// What a shard iterator carries.
#[derive(Serialize, Deserialize)]
struct Iterator {
    #[serde(rename = "t")]
    table: String,
    #[serde(rename = "l")]
    label: String,
    /// Reading continues after this sequence number.
    #[serde(rename = "p")]
    after: i64,
    /// When it was issued (ms since the epoch).
    #[serde(rename = "i")]
    issued: i64,
}

impl Iterator {
    fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Result<Iterator, Error> {
        hex::decode(text)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::validation("Invalid ShardIterator"))
    }
}

fn trimmed(what: &str) -> Error {
    Error::new(
        "TrimmedDataAccessException",
        Kind::InvalidInput,
        format!("Attempted to access data {what} that is beyond the trimmed horizon of the stream"),
    )
}

/// Where an iterator of `kind` starts: the sequence number reading continues after.
fn start(s: &Stream, kind: &str, req: &Value) -> Result<i64, Error> {
    let seq = || -> Result<i64, Error> {
        let text = req["SequenceNumber"].as_str().ok_or_else(|| {
            Error::validation(format!(
                "Must specify a SequenceNumber for ShardIteratorType {kind}"
            ))
        })?;
        parse_sequence_number(text).ok_or_else(|| {
            constraint(
                text,
                "sequenceNumber",
                "Member must have length less than or equal to 40",
            )
        })
    };
    match kind {
        "TRIM_HORIZON" => Ok(s.trimmed),
        "LATEST" => Ok(s.last_seq),
        "AT_SEQUENCE_NUMBER" => {
            let n = seq()?;
            if n <= s.trimmed {
                return Err(trimmed(&format!("at sequence number {n}")));
            }
            Ok(n - 1)
        }
        "AFTER_SEQUENCE_NUMBER" => {
            let n = seq()?;
            if n < s.trimmed {
                return Err(trimmed(&format!("after sequence number {n}")));
            }
            Ok(n)
        }
        other => Err(constraint(
            other,
            "shardIteratorType",
            "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST]",
        )),
    }
}

pub fn get_shard_iterator(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let (_, s) = named_stream(db, req)?;
    let shard = required(req, "ShardId", "shardId")?;
    let kind = required(req, "ShardIteratorType", "shardIteratorType")?;
    if shard != shard_id(&s) {
        return Err(Error::not_found(format!(
            "Requested resource not found: Shard does not exist: {shard}"
        )));
    }
    let after = start(&s, kind, req)?;
    let it = Iterator {
        table: s.table,
        label: s.label,
        after,
        issued: super::now_ms(),
    };
    Ok(json!({"ShardIterator": it.encode()}))
}

pub fn get_records(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let it = Iterator::decode(required(req, "ShardIterator", "shardIterator")?)?;
    let limit = limit(req, 1000, 1000)?;
    let now = super::now_ms();
    if now - it.issued > ITERATOR_TTL_MS {
        return Err(Error::new(
            "ExpiredIteratorException",
            Kind::InvalidInput,
            format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} milliseconds.",
                it.issued, now
            ),
        ));
    }
    let s = db
        .stream(&it.table, &it.label)?
        .ok_or_else(|| stream_not_found(&super::arn(region, &it.table, &it.label)))?;
    if it.after < s.trimmed {
        return Err(trimmed(&format!("after sequence number {}", it.after)));
    }
    let rows = db.stream_records(&it.table, &it.label, it.after, limit)?;
    let next = rows.last().map_or(it.after, |(seq, _)| *seq);
    let records: Vec<Value> = rows
        .into_iter()
        .map(|(_, mut r)| {
            r["awsRegion"] = json!(region);
            r
        })
        .collect();
    let mut resp = json!({ "Records": records });
    // A disabled stream's shard is closed: once read to its end, no next iterator.
    if s.disabled_ms.is_none() || next < s.last_seq {
        let next = Iterator {
            after: next,
            issued: now,
            ..it
        };
        resp["NextShardIterator"] = json!(next.encode());
    }
    Ok(resp)
}

/// `it` as if issued `ms` milliseconds earlier (tests of expiry).
#[cfg(test)]
pub(crate) fn backdate(it: &str, ms: i64) -> String {
    let mut i = Iterator::decode(it).unwrap();
    i.issued -= ms;
    i.encode()
}
