//! Topics: the SNS-compatible half of Stratus that has no HTTP in it. Topics, subscriptions,
//! their attributes and tags live in their own store (`topics.db`, or the `topics` schema on
//! PostgreSQL), so publishing never waits on the function metadata lock; filter policies and
//! the event record are pure code.
//!
//! # Layout
//! - [`names`]: topic and subscription ARNs, name validation, and SNS's error constructors.
//! - [`attributes`]: which topic and subscription attributes exist, their defaults and checks.
//! - [`message`]: published messages: size, `MessageStructure`, message attributes.
//! - [`filter`]: filter policies: parsing with AWS's limits and matching with AWS's rules.
//! - [`event`]: the `aws:sns` event record a subscribed function receives.
//! - [`store`]: the durable store (one transaction per operation).

pub mod attributes;
pub mod event;
pub mod filter;
pub mod message;
pub mod names;
pub mod store;

pub use store::Topics;
