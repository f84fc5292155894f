//! Persistence for Stratus: metadata on SQLite or PostgreSQL ([`meta`]) and code packages on
//! disk, content-addressed by SHA-256 and unpacked once ([`code`]).
//!
//! # Layout
//! - [`meta`]: the schema, its migrations for each backend, and [`meta::Tx`], the typed reads and writes
//!   every control-plane operation composes inside one transaction.
//! - [`code`]: validating, storing and unpacking zip packages.
//! - [`http_apis`]: API Gateway v2 HTTP APIs and their parts, as JSON documents.
//! - [`layers`]: Lambda layer versions and their numbering.
//! - [`mappings`]: Lambda event source mappings, their pollers' checkpoints and leases.
//! - [`function_urls`]: function URL configurations, found by function or by URL id.

pub mod code;
pub mod code_signing;
pub mod function_urls;
pub mod http_apis;
pub mod layers;
pub mod mappings;
pub mod meta;

use stratus_core::Error;

/// Logs a storage fault and turns it into the generic service error clients see.
pub(crate) fn fault(context: &str, e: impl std::fmt::Display) -> Error {
    tracing::error!(%e, "storage fault: {context}");
    Error::service()
}

/// A database failure as the client sees it: Lambda's `ServiceException` (500, which SDKs
/// retry) whether the statement failed or the server was unreachable. A lost serialization
/// race is not logged as a fault: the transaction runs again.
pub(crate) fn db_fault(context: &str, e: stratus_db::Error) -> Error {
    if is_conflict(&e) {
        tracing::debug!(%e, "serialization conflict: {context}");
        Error::service()
    } else if e.is_unavailable() {
        tracing::warn!(%e, "database unavailable: {context}");
        Error::service()
    } else {
        fault(context, e)
    }
}

/// PostgreSQL's serialization failure or deadlock (SQLSTATE 40001, 40P01).
fn is_conflict(e: &stratus_db::Error) -> bool {
    match &e.source {
        stratus_db::Cause::Postgres(p) => p
            .code()
            .is_some_and(|c| matches!(c.code(), "40001" | "40P01")),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod testing;
