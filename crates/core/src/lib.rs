//! The Stratus domain, with no I/O: function names, ARNs and qualifiers, function
//! configuration and its validation, versions, aliases and routing weights, runtimes, limits,
//! and the error type that knows its AWS code and HTTP status.
//!
//! # Layout
//! - [`error`]: [`Error`], an AWS-shaped error (exception name, status, message).
//! - [`names`]: parsing `FunctionName` arguments (name, partial ARN, ARN, qualifier).
//! - [`arn`]: building ARNs.
//! - [`function`]: the stored configuration of one function version and its validation.
//! - [`alias`]: aliases and weighted routing.
//! - [`runtime`]: the supported runtimes and how each is started.
//! - [`limits`]: AWS's quotas that Stratus enforces.
//! - [`clock`]: timestamps in the formats AWS uses.
//! - [`log_pattern`]: CloudWatch Logs filter patterns (terms, JSON, space-delimited).
//! - [`log_query`]: the Logs Insights query language subset.
//! - [`sigv4`]: the fields of a SigV4-signed request (header and presigned forms), unverified.
//! - [`trace`]: the X-Ray trace header and the lineage recursive loop detection counts.

pub mod alias;
pub mod arn;
pub mod clock;
pub mod error;
pub mod function;
pub mod ids;
pub mod layer;
pub mod limits;
pub mod log_pattern;
pub mod log_query;
pub mod names;
pub mod runtime;
pub mod sigv4;
pub mod trace;

pub use error::{Error, Kind, Result};

/// The fixed account id of every resource Stratus serves (the one local AWS tooling assumes).
pub const ACCOUNT_ID: &str = "000000000000";
