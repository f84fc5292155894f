//! Stratus's object storage: the S3 protocol comes from `s3s` (parsing, SigV4 including
//! streaming payloads, XML); the storage is ours — metadata in SQLite or PostgreSQL ([`db`]),
//! bytes in immutable blob files ([`blobs`]) — and object events reach functions through
//! [`notify::EventSink`].
//!
//! # Layout
//! - [`store`]: [`ObjectStore`], the storage operations the protocol layer calls.
//! - [`service`]: `impl s3s::S3`, one method per supported S3 operation.
//! - [`listing`]: ListObjects(V2) paging with prefixes and delimiters.
//! - [`versions`]: version ids in requests, delete markers, deleting a version, and
//!   ListObjectVersions paging over every version and delete marker.
//! - [`conditions`]: `If-*` preconditions of reads and writes.
//! - [`checksums`]: the additional checksums of uploads, checked, stored and returned.
//! - [`ranges`]: the bytes a read selects (`Range`, `partNumber`, a copy's source range).
//! - [`tagging`]: object and bucket tag sets and their limits.
//! - [`bucket_config`]: the answers for bucket configurations Stratus does not keep.
//! - [`cors`]: bucket CORS rules, and the preflight and response headers they give.
//! - [`lifecycle`]: bucket lifecycle rules, and the sweep that applies them.
//! - [`encryption`]: bucket default encryption, and each object's.
//! - [`notify`]: notification configurations, matching, event records.
//! - [`db`], [`blobs`]: persistence.

pub mod blobs;
pub mod bucket_config;
pub mod checksums;
pub mod conditions;
pub mod cors;
pub mod db;
pub mod encryption;
pub mod lifecycle;
pub mod listing;
pub mod notify;
pub mod ranges;
pub mod service;
pub mod store;
pub mod tagging;
pub mod versions;

pub use store::ObjectStore;

use std::sync::Arc;

/// The S3 HTTP service over `store`, accepting signatures of the keys `auth` knows and the
/// requests `access` allows, with virtual-host addressing on `localhost` names.
pub fn http_service(
    store: Arc<ObjectStore>,
    auth: impl s3s::auth::S3Auth,
    access: impl s3s::access::S3Access,
) -> s3s::service::S3Service {
    let mut b = s3s::service::S3ServiceBuilder::new(service::S3Front(store));
    let mut config = s3s::config::S3Config::default();
    config.xml_max_body_size = XML_MAX_BODY;
    b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        config,
    ))));
    b.set_auth(auth);
    b.set_access(access);
    b.set_host(LocalHosts);
    b.build()
}

/// The largest XML request body read (a larger one is 400 `MaxMessageLengthExceeded`). The
/// largest valid ones are a DeleteObjects of 1,000 keys of 1,024 bytes each, XML-escaped (at
/// most about 6 MiB), and a CompleteMultipartUpload of 10,000 parts (about 2 MiB).
pub const XML_MAX_BODY: usize = 8 * 1024 * 1024;

/// The id of one S3 request, put in the request's extensions by the front end so that the
/// events it causes carry the id the caller saw in `x-amz-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The bucket a request addresses (by its virtual host, else the first path segment), and
/// whether it names an object in it; `None` for the service itself.
pub fn addressed_bucket(host: Option<&str>, path: &str) -> Option<(String, bool)> {
    use s3s::host::S3Host;
    let virtual_bucket = host
        .and_then(|h| LocalHosts.parse_host_header(h).ok())
        .and_then(|v| v.bucket().map(str::to_string));
    let path = path.trim_start_matches('/');
    match virtual_bucket {
        Some(bucket) => Some((bucket, !path.is_empty())),
        None => {
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            (!bucket.is_empty()).then(|| (bucket.to_string(), !key.is_empty()))
        }
    }
}

/// Virtual-host addressing: `<bucket>.localhost[:port]` (and the `s3.localhost` forms local
/// AWS tooling uses) name a bucket; any other host is path-style.
struct LocalHosts;

const BASE_DOMAINS: &[&str] = &[
    "s3.localhost.localstack.cloud",
    "localhost.localstack.cloud",
    "s3.localhost",
    "localhost",
];

impl s3s::host::S3Host for LocalHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        if BASE_DOMAINS.contains(&name) {
            return Ok(s3s::host::VirtualHost::new(name));
        }
        for base in BASE_DOMAINS {
            if let Some(bucket) = name
                .strip_suffix(base)
                .and_then(|h| h.strip_suffix('.'))
                .filter(|b| !b.is_empty())
            {
                return Ok(s3s::host::VirtualHost::new(*base).with_bucket(bucket));
            }
        }
        Ok(s3s::host::VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use s3s::host::S3Host;

    #[test]
    fn addressed_buckets() {
        use super::addressed_bucket as a;
        assert_eq!(
            a(Some("localhost:4566"), "/b/k/x"),
            Some(("b".into(), true))
        );
        assert_eq!(a(Some("localhost:4566"), "/b"), Some(("b".into(), false)));
        assert_eq!(a(Some("localhost:4566"), "/b/"), Some(("b".into(), false)));
        assert_eq!(a(Some("b.localhost:4566"), "/k"), Some(("b".into(), true)));
        assert_eq!(a(Some("b.localhost:4566"), "/"), Some(("b".into(), false)));
        assert_eq!(a(None, "/"), None);
    }

    #[test]
    fn virtual_hosts() {
        let h = super::LocalHosts;
        assert_eq!(
            h.parse_host_header("photos.localhost:4566")
                .unwrap()
                .bucket(),
            Some("photos")
        );
        assert_eq!(
            h.parse_host_header("photos.s3.localhost").unwrap().bucket(),
            Some("photos")
        );
        assert_eq!(
            h.parse_host_header("s3.localhost:4566").unwrap().bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("localhost:4566").unwrap().bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("127.0.0.1:4566").unwrap().bucket(),
            None
        );
    }
}
