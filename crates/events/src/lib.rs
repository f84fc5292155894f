//! Event buses: the EventBridge-compatible half of Stratus that has no HTTP in it.
//!
//! # Layout
//! - [`pattern`]: the event-pattern language (EventBridge rules, and the FilterCriteria of
//!   event source mappings): parsing with AWS's messages and limits, and matching.
//! - [`schedule`]: `rate()`, `cron()` and `at()` expressions and their next fire times.
//! - [`transform`]: a target's `Input`, `InputPath` and `InputTransformer`.
//! - [`zone`]: time zones from the system's database, for Scheduler's schedules.
//! - [`store`]: buses, rules, targets, schedules and groups in their own store (`events.db`,
//!   or the `events` schema on PostgreSQL), with the claim of a schedule occurrence.

pub mod pattern;
pub mod schedule;
pub mod store;
pub mod transform;
pub mod zone;

pub use store::Events;
