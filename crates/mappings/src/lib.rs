//! Stratus event source mappings: Lambda's mapping of an event source (a DynamoDB stream
//! or an SQS queue) to a function, and the pollers that read
//! the source and invoke the function with batches of records.
//!
//! # Layout
//! - [`model`]: the mapping as the API shows it; Create/Update's checks and AWS's errors.
//! - [`source`]: source kinds, and the [`source::Source`] trait a poller reads through.
//! - [`dynamodb`]: a DynamoDB stream as a source (`aws:dynamodb` events).
//! - [`filter`]: FilterCriteria, in EventBridge's event-pattern language.
//! - [`poller`]: the supervised worker: leases, batches, retries, checkpoints.
//! - [`sqs`]: an SQS queue as a source (`aws:sqs` events): receive, invoke, delete.

pub mod dynamodb;
pub mod filter;
pub mod model;
pub mod poller;
pub mod source;
pub mod sqs;
