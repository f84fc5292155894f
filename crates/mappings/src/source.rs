//! What a poller reads from: a source kind, and the [`Source`] trait a checkpointed source
//! implements (DynamoDB streams, [`crate::dynamodb`]). A queue needs no checkpoint: it is
//! read by [`crate::sqs`].

use serde_json::Value;
use stratus_core::Error;

use crate::model::Mapping;

/// The kinds of event source a mapping may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    DynamoDbStream,
    Sqs,
}

impl SourceKind {
    /// The kind an event source ARN names, if any.
    pub fn of_arn(arn: &str) -> Option<SourceKind> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", "aws", "dynamodb", _, _, res] if res.contains("/stream/") => {
                Some(SourceKind::DynamoDbStream)
            }
            ["arn", "aws", "sqs", _, _, name] if !name.is_empty() => Some(SourceKind::Sqs),
            _ => None,
        }
    }

    /// The name AWS's messages use.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::DynamoDbStream => "DynamoDB",
            SourceKind::Sqs => "SQS",
        }
    }
}

/// One record read from a source.
#[derive(Debug, Clone)]
pub struct Record {
    /// The record as the function's event carries it.
    pub body: Value,
    /// Its id in a `batchItemFailures` answer (a stream's SequenceNumber).
    pub id: String,
    /// The checkpoint once this record is done with.
    pub checkpoint: String,
    /// When it was written (ms since the epoch), for MaximumRecordAgeInSeconds.
    pub at_ms: i64,
}

/// A source a poller reads. Calls block (stores do I/O): pollers call them off the async
/// workers.
pub trait Source: Send + Sync {
    /// The checkpoint a new mapping starts from (its StartingPosition), taken at create
    /// so that LATEST means "after the mapping was made".
    fn start(&self, mapping: &Mapping) -> Result<String, Error>;

    /// Up to `max` records after `checkpoint`, in order.
    fn read(&self, mapping: &Mapping, checkpoint: &str, max: usize) -> Result<Vec<Record>, Error>;

    /// The event a batch is handed to the function in.
    fn event(&self, mapping: &Mapping, batch: &[Record]) -> Value;

    /// The description of a failed batch in the record sent to the OnFailure destination.
    fn batch_info(&self, mapping: &Mapping, batch: &[Record]) -> (&'static str, Value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_kind() {
        assert_eq!(
            SourceKind::of_arn(
                "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
            ),
            Some(SourceKind::DynamoDbStream)
        );
        assert_eq!(
            SourceKind::of_arn("arn:aws:sqs:us-east-1:000000000000:jobs"),
            Some(SourceKind::Sqs)
        );
        assert_eq!(
            SourceKind::of_arn("arn:aws:dynamodb:us-east-1:000000000000:table/t"),
            None
        );
        assert_eq!(
            SourceKind::of_arn("arn:aws:kinesis:us-east-1:000000000000:stream/s"),
            None
        );
    }
}
