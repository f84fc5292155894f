//! Stratus's object storage: the S3 protocol comes from `s3s` (parsing, SigV4 including
//! streaming payloads, XML); the storage is ours — metadata in SQLite ([`db`]), bytes in
//! immutable blob files ([`blobs`]) — and object events reach functions through
//! [`notify::EventSink`].
//!
//! # Layout
//! - [`store`]: [`ObjectStore`], the storage operations the protocol layer calls.
//! - [`service`]: `impl s3s::S3`, one method per supported S3 operation.
//! - [`listing`]: ListObjects(V2) paging with prefixes and delimiters.
//! - [`notify`]: notification configurations, matching, event records.
//! - [`db`], [`blobs`]: persistence.

pub mod blobs;
pub mod db;
pub mod listing;
pub mod notify;
pub mod service;
pub mod store;

pub use store::ObjectStore;

use std::sync::Arc;

/// The S3 HTTP service over `store`, accepting `access_key`/`secret_key` signatures, with
/// virtual-host addressing on `localhost` names.
pub fn http_service(
    store: Arc<ObjectStore>,
    access_key: &str,
    secret_key: &str,
) -> s3s::service::S3Service {
    let mut b = s3s::service::S3ServiceBuilder::new(service::S3Front(store));
    b.set_auth(s3s::auth::SimpleAuth::from_single(
        access_key,
        secret_key.to_string(),
    ));
    if let Ok(host) =
        s3s::host::MultiDomain::new(["localhost", "s3.localhost", "s3.localhost.localstack.cloud"])
    {
        b.set_host(host);
    }
    b.build()
}
