//! Queues: the SQS-compatible half of Stratus that has no HTTP in it. Queues, their
//! attributes and tags, and their messages live in their own store (`queues.db`, or the
//! `queues` schema on PostgreSQL). A message's visibility is a timestamp in the store, so a
//! receive, a delete or a restart needs no timer; long polling waits on [`Queues::sent`] and
//! re-reads the store, so a send on another node is seen too.
//!
//! # Layout
//! - [`names`]: queue names, ARNs and URLs, and SQS's error constructors.
//! - [`attributes`]: the queue attributes, their defaults and checks, redrive policies.
//! - [`message`]: message bodies and attributes: AWS's checks and the MD5s the SDKs verify.
//! - [`store`]: the durable store (one transaction per operation).

pub mod attributes;
pub mod message;
pub mod names;
pub mod store;

pub use store::Queues;
