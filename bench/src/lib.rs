//! Shared pieces of the Stratus benchmark tools.
//!
//! # Layout
//! - [`stats`]: latency summaries (percentiles, a log-bucketed histogram) as JSON.
//! - [`sign`]: SigV4 signing of Invoke requests, cached per target for a minute.
//! - [`runtime_api`]: the Runtime API's wire constants shared by the floor server and clients.
//!
//! The binaries: `loadgen` (the client), `floor` (the minimal Runtime-API loop and the bare
//! fork+exec measurement), `noop-fn` (the `lambda_runtime` function used as a bootstrap).

pub mod runtime_api;
pub mod sign;
pub mod stats;
