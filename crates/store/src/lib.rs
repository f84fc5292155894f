//! Persistence for Stratus: metadata in SQLite ([`meta`]) and code packages on disk,
//! content-addressed by SHA-256 and unpacked once ([`code`]).
//!
//! # Layout
//! - [`meta`]: the SQLite schema, its migrations, and [`meta::Tx`], the typed reads and writes
//!   every control-plane operation composes inside one transaction.
//! - [`code`]: validating, storing and unpacking zip packages.
//! - [`http_apis`]: API Gateway v2 HTTP APIs and their parts, as JSON documents.

pub mod code;
pub mod http_apis;
pub mod meta;

use stratus_core::Error;

/// Logs a storage fault and turns it into the generic service error clients see.
pub(crate) fn fault(context: &str, e: impl std::fmt::Display) -> Error {
    tracing::error!(%e, "storage fault: {context}");
    Error::service()
}
