//! DynamoDB Streams: a table's change log. A write that changes an item appends one record to
//! the table's enabled stream in the same transaction as the item itself, so a record exists
//! exactly when its write committed, in commit order.
//!
//! Each stream has one shard (AWS splits a stream into shards by key range and time; one
//! shard keeps every key's records in order, which is all a reader can rely on anyway). A
//! stream is named by its table and label (the ISO time it was enabled); disabling it, or
//! deleting its table, keeps its records readable for the 24-hour retention, after which the
//! sweep removes them.
//!
//! # Layout
//! - [`record`]: the record a write makes (eventName, Keys, images per view type).
//! - `store`: the streams and their records in the tables store.
//! - [`spec`]: StreamSpecification on CreateTable and UpdateTable, with AWS's errors.
//! - [`ops`]: ListStreams, DescribeStream, GetShardIterator, GetRecords.

#[cfg(test)]
mod backend_tests;
pub mod ops;
pub mod record;
pub mod spec;
mod store;

pub use store::Stream;

/// How long records are kept, in milliseconds (24 hours).
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

/// The current time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stream's ARN: its table's, then `/stream/<label>`.
pub fn arn(region: &str, table: &str, label: &str) -> String {
    format!("{}/stream/{label}", crate::table::arn(region, table))
}

/// The (table, label) an ARN names, if it is a stream ARN.
pub fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, path) = rest.split_once(":table/")?;
    let (table, label) = path.split_once("/stream/")?;
    (!table.is_empty() && !label.is_empty()).then_some((table, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_round_trip() {
        let a = arn("us-east-1", "tbl", "2026-01-02T03:04:05.678");
        assert_eq!(
            a,
            "arn:aws:dynamodb:us-east-1:000000000000:table/tbl/stream/2026-01-02T03:04:05.678"
        );
        assert_eq!(parse_arn(&a), Some(("tbl", "2026-01-02T03:04:05.678")));
        assert_eq!(
            parse_arn("arn:aws:dynamodb:us-east-1:000000000000:table/tbl"),
            None
        );
    }
}
