//! `impl s3s::S3`: one method per supported operation, translating between the protocol's
//! types and the store. Operations not listed here answer `NotImplemented`.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders, S3};

use crate::checksums::{Claimed, UploadChecksum};
use crate::conditions::{self, ReadConditions, WriteConditions};
use crate::db::{Attrs, BucketConfig, Checksums, ObjectRow, PartRow, UploadRow, NULL_VERSION};
use crate::listing;
use crate::notify::{is_queue_arn, is_topic_arn, LambdaTarget, NotificationConfig, EVENT_NAMES};
use crate::ranges;
use crate::store::ObjectStore;
use crate::versions::{delete_key, delete_marker_error, version_param};
use stratus_blobs::BlobError;

/// The protocol front of an [`ObjectStore`].
pub struct S3Front(pub Arc<ObjectStore>);

/// A listing's `MaxKeys`: 1,000 unless asked for fewer.
fn page_size(max_keys: Option<i32>) -> usize {
    max_keys.unwrap_or(1000).clamp(0, 1000) as usize
}

/// A fault of the store. The metadata database being unreachable is S3's retryable 503
/// `ServiceUnavailable` (SDKs retry it); anything else is 500 `InternalError`. Typed by
/// downcast so every `map_err(internal)` call site keeps its one form.
fn internal<E: std::fmt::Display + 'static>(e: E) -> S3Error {
    tracing::error!(%e, "object store fault");
    let any: &dyn std::any::Any = &e;
    if any
        .downcast_ref::<stratus_db::Error>()
        .is_some_and(stratus_db::Error::is_unavailable)
    {
        return s3_error!(ServiceUnavailable, "Service is unable to handle request.");
    }
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

/// The region whose CreateBucket keeps S3's original behaviour (see `create_bucket`).
const LEGACY_REGION: &str = "us-east-1";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

fn region<T>(req: &S3Request<T>) -> String {
    req.region
        .as_ref()
        .map_or_else(|| "us-east-1".to_string(), |r| r.as_str().to_string())
}

/// The id the front end gave this request (and returned as `x-amz-request-id`).
fn request_id<T>(req: &S3Request<T>) -> String {
    req.extensions
        .get::<crate::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase())
}

/// The request's `X-Amzn-Trace-Id` (a function's SDK sends its own): the notifications it
/// causes carry it on, for recursive loop detection.
fn trace<T>(req: &S3Request<T>) -> Option<String> {
    req.headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A blob store failure: a store that is down or overloaded answers S3's retryable 503
/// `ServiceUnavailable`; anything else (a full disk, a blob missing under its metadata) is
/// the server's fault, `InternalError`.
fn blob_error(e: BlobError) -> S3Error {
    if e.is_unavailable() {
        tracing::warn!(%e, "blob store unavailable");
        return s3_error!(ServiceUnavailable, "Please reduce your request rate.");
    }
    internal(e)
}

/// A body that could not be stored: a mismatched payload signature gets S3's code, a body
/// that broke off `IncompleteBody`; the store's own failures are [`blob_error`]'s.
fn body_error(e: BlobError) -> S3Error {
    let BlobError::Source(message) = e else {
        return blob_error(e);
    };
    if message.contains("Sha256Mismatch") {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        e
    } else {
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        )
    }
}

/// The integrity checks a client asked for (headers or, for streamed uploads, trailers).
struct Expected {
    md5: Option<String>,
    claimed: Claimed,
    trailers: Option<TrailingHeaders>,
}

/// The [`Expected`] of an upload request: PutObject and UploadPart carry the integrity fields
/// under the same names; `$headers` gives the declared `x-amz-trailer`.
macro_rules! expected {
    ($input:expr, $headers:expr, $trailers:expr) => {{
        let mut claimed = Claimed {
            values: Checksums {
                crc32: $input.checksum_crc32.clone(),
                crc32c: $input.checksum_crc32c.clone(),
                crc64nvme: $input.checksum_crc64nvme.clone(),
                sha1: $input.checksum_sha1.clone(),
                sha256: $input.checksum_sha256.clone(),
            },
            named: Vec::new(),
        };
        if let Some(a) = &$input.checksum_algorithm {
            claimed.name(a.as_str());
        }
        if let Some(t) = $headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            claimed.name(t);
        }
        Expected {
            md5: $input.content_md5.clone(),
            claimed,
            trailers: $trailers,
        }
    }};
}

impl Expected {
    fn trailer(&self, name: &str) -> Option<String> {
        self.trailers.as_ref()?.read(|h| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })?
    }

    /// Checks the written blob against the claims; returns the checksums to store.
    fn check(&self, w: &crate::blobs::Written) -> S3Result<Checksums> {
        use base64::Engine;
        if let Some(md5) = &self.md5 {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(md5)
                .ok()
                .filter(|d| d.len() == 16);
            let Some(decoded) = decoded else {
                return Err(s3_error!(
                    InvalidDigest,
                    "The Content-MD5 you specified was invalid."
                ));
            };
            if decoded != w.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        self.claimed.check(&w.checksum, |name| self.trailer(name))
    }
}

/// What `EncodingType=url` leaves as it is in a listed key: RFC 3986's unreserved characters
/// and `/`. A space is `%20` and `+` is `%2B`, so a client can tell them apart.
const LISTING_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The owner of every bucket and object: the one account.
fn owner() -> Owner {
    Owner {
        id: Some(stratus_core::ACCOUNT_ID.into()),
        display_name: Some("stratus".into()),
    }
}

/// A listing's delimiter as S3 echoes it: an empty one is as good as none and is not echoed.
fn delimiter(d: &Option<String>) -> Option<String> {
    d.clone().filter(|d| !d.is_empty())
}

/// Key-like values in a listing, URL-encoded when the client asked for `EncodingType=url`.
struct Encoder(bool);

impl Encoder {
    fn of(t: &Option<EncodingType>) -> Encoder {
        Encoder(t.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL))
    }

    fn s(&self, v: String) -> String {
        if self.0 {
            utf8_percent_encode(&v, LISTING_KEEP).to_string()
        } else {
            v
        }
    }

    fn o(&self, v: Option<String>) -> Option<String> {
        v.map(|v| self.s(v))
    }
}

fn etag(e: &str) -> ETag {
    ETag::Strong(e.to_string())
}

fn fmt_expires(t: &Option<Timestamp>) -> Option<String> {
    let t = t.as_ref()?;
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

fn parse_expires(s: &Option<String>) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s.as_deref()?).ok()
}

/// The headers an upload request asks to store with the object. PutObject, CopyObject
/// (REPLACE) and CreateMultipartUpload inputs carry the same fields under the same names.
macro_rules! stored_attrs {
    ($input:expr) => {
        Attrs {
            content_type: $input
                .content_type
                .or_else(|| Some("binary/octet-stream".into())),
            cache_control: $input.cache_control,
            content_disposition: $input.content_disposition,
            content_encoding: $input.content_encoding,
            content_language: $input.content_language,
            expires: fmt_expires(&$input.expires),
            metadata: metadata_map($input.metadata),
            sse: None,
            checksum: None,
        }
    };
}

fn metadata_map(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

fn to_metadata(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

impl S3Front {
    /// The current version of an object; a delete marker is no object.
    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRow> {
        self.read_version(bucket, key, &None).map(|f| f.row)
    }

    /// The version of an object a read names (the current one without `versionId`): 404
    /// `NoSuchKey` when the key has none or its current version is a delete marker, 404
    /// `NoSuchVersion` for an id it never had, 405 for a delete marker named by its id.
    fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &Option<String>,
    ) -> S3Result<Found> {
        let version = version_param(version_id)?;
        let (bucket_row, row) = self
            .0
            .db
            .tx(|tx| {
                let Some(b) = tx.bucket_for_read(bucket)? else {
                    return Ok((None, None));
                };
                let row = match version {
                    None => tx.object(bucket, key)?,
                    Some(v) => tx.object_version(bucket, key, v)?,
                };
                Ok((Some(b), row))
            })
            .map_err(internal)?;
        let (mode, lifecycle) = bucket_row.ok_or_else(no_such_bucket)?;
        let row = match (row, version) {
            (Some(row), _) => row,
            (None, None) => return Err(no_such_key()),
            (None, Some(_)) => return Err(no_such_version()),
        };
        if row.delete_marker {
            return Err(delete_marker_error(&row, version.is_some()));
        }
        // A version read by id may be noncurrent; only the current one's expiry is told.
        let expiration = version
            .is_none()
            .then(|| crate::lifecycle::expiration_header(lifecycle.as_deref(), &row))
            .flatten();
        Ok(Found {
            version: mode.header(&row),
            row,
            expiration,
        })
    }

    /// One page of keys (and common prefixes) after `after`: what every List operation reads.
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: &str,
        max: usize,
    ) -> S3Result<listing::Page> {
        self.0
            .db
            .tx(|tx| listing::page(tx, bucket, prefix, delimiter, after, max))
            .map_err(internal)
    }

    /// The encryption a new object in `bucket` gets (see [`crate::encryption::for_new_object`]);
    /// also the bucket's existence check, in the same query.
    fn new_object_sse(
        &self,
        bucket: &str,
        requested: Option<&ServerSideEncryption>,
        kms_key_id: Option<&str>,
        bucket_key_enabled: Option<bool>,
    ) -> S3Result<NewObject> {
        let (encryption, lifecycle) = self
            .0
            .db
            .tx(|tx| tx.bucket_for_write(bucket))
            .map_err(internal)?
            .ok_or_else(no_such_bucket)?;
        let default = encryption.and_then(|s| serde_json::from_str(&s).ok());
        let sse =
            crate::encryption::for_new_object(requested, kms_key_id, bucket_key_enabled, default)?;
        Ok(NewObject { sse, lifecycle })
    }

    /// One of a bucket's kept configurations, decoded; `None` when it has none, and
    /// `NoSuchBucket` for a bucket that does not exist.
    fn bucket_config<T: serde::de::DeserializeOwned>(
        &self,
        bucket: &str,
        config: BucketConfig,
    ) -> S3Result<Option<T>> {
        let value = self
            .0
            .db
            .tx(|tx| tx.bucket_config(config, bucket))
            .map_err(internal)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))?;
        Ok(value.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Keeps (or with `None`, removes) one of a bucket's configurations.
    fn set_bucket_config<T: serde::Serialize>(
        &self,
        bucket: &str,
        config: BucketConfig,
        value: Option<&T>,
    ) -> S3Result<()> {
        let json = value.map(|v| serde_json::to_string(v).expect("serialisable"));
        self.0
            .db
            .tx(|tx| tx.set_bucket_config(config, bucket, json.as_deref()))
            .map_err(internal)
    }

    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        match self
            .0
            .db
            .tx(|tx| tx.bucket_exists(bucket))
            .map_err(internal)?
        {
            true => Ok(()),
            false => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
        }
    }

    /// Streams a request body into a new blob and checks it against the integrity values the
    /// client sent; a blob that fails the check is removed.
    async fn write_checked(
        &self,
        body: Option<s3s::dto::StreamingBlob>,
        expected: Expected,
    ) -> S3Result<(crate::blobs::Written, Checksums)> {
        let body = body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let hasher = expected.claimed.hasher();
        let written = self.0.blobs.write(body, hasher).await.map_err(body_error)?;
        match expected.check(&written) {
            Ok(checksums) => Ok((written, checksums)),
            Err(e) => {
                self.0.blobs.remove(&written.id).await;
                Err(e)
            }
        }
    }

    /// Commits an object row if `cond` holds for the object it replaces, and removes the blob
    /// it replaced. The check and the write are one transaction ([`conditions::put_if`]), so
    /// of writers racing with `If-None-Match: *` exactly one wins. A refused row's blob is
    /// removed.
    ///
    /// Answers the new version's `x-amz-version-id` (none in a bucket never versioned).
    async fn commit(&self, row: &ObjectRow, cond: &WriteConditions) -> S3Result<Option<String>> {
        let outcome = self.0.db.tx(|tx| conditions::put_if(tx, row, cond));
        match outcome.map_err(internal)? {
            Err(e) => {
                self.0.blobs.remove(&row.blob).await;
                Err(e)
            }
            Ok(committed) => {
                self.release(&committed.released).await;
                Ok(committed.version)
            }
        }
    }

    /// Removes blobs a committed change left no version referring to.
    async fn release(&self, blobs: &[String]) {
        for b in blobs.iter().filter(|b| !b.is_empty()) {
            self.0.blobs.remove(b).await;
        }
    }

    /// A copy's source version. A delete marker named by its id is S3's 400, not the 405 a
    /// read gets.
    fn copy_source_version(
        &self,
        bucket: &str,
        key: &str,
        version: &Option<String>,
    ) -> S3Result<Found> {
        self.read_version(bucket, key, version).map_err(|e| {
            if *e.code() == S3ErrorCode::MethodNotAllowed {
                s3_error!(InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
            } else {
                e
            }
        })
    }

    /// Replaces the tag set of an object's current version (or the version named): 404 when
    /// the bucket, the object or the version does not exist. Answers the version's
    /// `x-amz-version-id`.
    fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: &Option<String>,
        tags: &crate::db::Tags,
    ) -> S3Result<Option<String>> {
        let found = self.read_version(bucket, key, version)?;
        let id = found.row.version_id.as_deref().unwrap_or(NULL_VERSION);
        let updated = self
            .0
            .db
            .tx(|tx| tx.set_version_tags(bucket, key, id, tags))
            .map_err(internal)?;
        match (updated, version) {
            (true, _) => Ok(found.version),
            // Deleted (or replaced) since it was read.
            (false, None) => Err(no_such_key()),
            (false, Some(_)) => Err(no_such_version()),
        }
    }

    /// The upload a part is being added to, checking the part number S3 allows.
    fn open_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
    ) -> S3Result<UploadRow> {
        let upload = self
            .0
            .db
            .tx(|tx| tx.upload(upload_id))
            .map_err(internal)?
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(no_upload)?;
        if !(1..=10_000).contains(&part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        Ok(upload)
    }

    /// Records a written blob as part `n` of `upload` (replacing any earlier part `n`), unless
    /// the upload was completed or aborted meanwhile, in which case the blob is removed.
    async fn record_part(
        &self,
        upload: &UploadRow,
        n: i32,
        written: &crate::blobs::Written,
        checksums: Checksums,
    ) -> S3Result<PartRow> {
        let part = PartRow {
            part_number: n,
            blob: written.id.clone(),
            size: written.size,
            etag: hex::encode(written.md5),
            last_modified_ms: now_ms(),
            checksums,
        };
        let old = self.0.db.tx(|tx| {
            if tx.upload(&upload.upload_id)?.is_none() {
                return Ok(Err(()));
            }
            tx.put_part(&upload.upload_id, &part).map(Ok)
        });
        match old.map_err(internal)? {
            Err(()) => {
                self.0.blobs.remove(&written.id).await;
                Err(no_upload())
            }
            Ok(old) => {
                if let Some(b) = old {
                    self.0.blobs.remove(&b).await;
                }
                Ok(part)
            }
        }
    }

    /// Checks a write's conditions before its body is read, so a refused upload is not
    /// stored first (and an `Expect: 100-continue` client is refused before it sends the
    /// body). [`Self::commit`] checks them again, atomically with the write.
    fn precheck(&self, bucket: &str, key: &str, cond: &WriteConditions) -> S3Result<()> {
        if cond.is_empty() {
            return Ok(());
        }
        let current = self
            .0
            .db
            .tx(|tx| tx.object(bucket, key))
            .map_err(internal)?;
        cond.check(current.as_ref())
    }
}

fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

fn no_such_version() -> S3Error {
    s3_error!(NoSuchVersion, "The specified version does not exist.")
}

/// A version a read found, with the `x-amz-version-id` to answer about it.
struct Found {
    row: ObjectRow,
    version: Option<String>,
    /// The `x-amz-expiration` of a current version under the bucket's lifecycle rules.
    expiration: Option<String>,
}

/// An `If-Match` / `If-None-Match` header as an ETag condition (`None` when absent).
fn etag_condition(
    headers: &http::HeaderMap,
    name: http::HeaderName,
) -> S3Result<Option<ETagCondition>> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    ETagCondition::parse_http_header(value.as_bytes())
        .map(Some)
        .map_err(|_| s3_error!(InvalidArgument, "Invalid ETag condition"))
}

/// A `304 Not Modified` names the version it is about, as S3's does.
fn not_modified_version(mut e: S3Error, version: &Option<String>) -> S3Error {
    let value = version
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok());
    if let (S3ErrorCode::NotModified, Some(v)) = (e.code(), value) {
        let mut headers = e.headers().cloned().unwrap_or_default();
        headers.insert("x-amz-version-id", v);
        e.set_headers(headers);
    }
    e
}

/// What a new object takes from its bucket: its encryption (the request's or the bucket's
/// default) and the bucket's lifecycle rules, which say when it will expire.
struct NewObject {
    sse: crate::encryption::Sse,
    lifecycle: Option<String>,
}

impl NewObject {
    fn expiration(&self, row: &ObjectRow) -> Option<String> {
        crate::lifecycle::expiration_header(self.lifecycle.as_deref(), row)
    }
}

fn listed(row: &ObjectRow, enc: &Encoder, with_owner: bool) -> Object {
    Object {
        key: Some(enc.s(row.key.clone())),
        owner: with_owner.then(owner),
        size: Some(row.size as i64),
        e_tag: Some(etag(&row.etag)),
        last_modified: Some(ts(row.last_modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn prefixes(p: Vec<String>, enc: &Encoder) -> Option<CommonPrefixList> {
    (!p.is_empty()).then(|| {
        p.into_iter()
            .map(|prefix| CommonPrefix {
                prefix: Some(enc.s(prefix)),
            })
            .collect()
    })
}

fn token_encode(s: &str) -> String {
    hex::encode(s.as_bytes())
}

fn token_decode(s: &str) -> S3Result<String> {
    hex::decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

#[async_trait::async_trait]
impl S3 for S3Front {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let region = region(&req);
        let bucket = req.input.bucket;
        let created = self
            .0
            .db
            .tx(|tx| tx.create_bucket(&bucket, now_ms()))
            .map_err(internal)?;
        // In us-east-1 (and only there) S3 answers an owner's re-creation of a bucket with
        // success, for compatibility with its oldest clients.
        if !created && region != LEGACY_REGION {
            return Err(s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it."));
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(region(&req)),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let rows = self.0.db.tx(|tx| tx.buckets()).map_err(internal)?;
        let buckets = rows
            .into_iter()
            .map(|(name, ms)| Bucket {
                name: Some(name),
                creation_date: Some(ts(ms)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket;
        let outcome = self.0.db.tx(|tx| {
            if !tx.bucket_exists(&bucket)? {
                return Ok(Err(s3_error!(
                    NoSuchBucket,
                    "The specified bucket does not exist"
                )));
            }
            if !tx.is_empty(&bucket)? {
                return Ok(Err(s3_error!(
                    BucketNotEmpty,
                    "The bucket you tried to delete is not empty"
                )));
            }
            tx.delete_bucket(&bucket).map(Ok)
        });
        outcome.map_err(internal)??;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let trace = trace(&req);
        // A browser form upload (POST) arrives here too, and is its own kind of event.
        let event = match req.method == http::Method::POST {
            true => "ObjectCreated:Post",
            false => "ObjectCreated:Put",
        };
        let trailers = req.trailing_headers.clone();
        let headers = req.headers;
        let mut input = req.input;
        let new = self.new_object_sse(
            &input.bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.bucket_key_enabled,
        )?;
        refuse_oversize(input.content_length)?;
        let cond =
            WriteConditions::from_headers(input.if_match.take(), input.if_none_match.take())?;
        let tags = crate::tagging::from_header(input.tagging.as_deref())?;
        self.precheck(&input.bucket, &input.key, &cond)?;
        let expected = expected!(input, headers, trailers);
        let (written, checksums) = self.write_checked(input.body.take(), expected).await?;
        let row = ObjectRow {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: written.id,
            size: written.size,
            etag: hex::encode(written.md5),
            last_modified_ms: now_ms(),
            attrs: Attrs {
                sse: Some(new.sse.clone()),
                ..stored_attrs!(input)
            },
            parts: None,
            upload_id: None,
            tags,
            checksums,
            ..Default::default()
        };
        let version = self.commit(&row, &cond).await?;
        self.0.notify(
            event,
            &row.bucket,
            &row.key,
            Some(&row),
            version.as_deref(),
            &region,
            &rid,
            trace.as_deref(),
        );
        let expiration = new.expiration(&row);
        let c = row.checksums;
        let (sse, kms, bucket_key) = row.attrs.sse.unwrap_or_default().wire();
        Ok(S3Response::new(PutObjectOutput {
            expiration,
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            e_tag: Some(etag(&row.etag)),
            size: Some(row.size as i64),
            checksum_type: (!c.is_empty()).then(full_object),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            version_id: version,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let found = self.read_version(&input.bucket, &input.key, &input.version_id)?;
        let row = found.row;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check_read(&row)
        .map_err(|e| not_modified_version(e, &found.version))?;
        let sel = ranges::select(&row, input.range.as_ref(), input.part_number)?;
        let stream = self
            .0
            .blobs
            .read(&row.blob, Some(sel.start..sel.start + sel.len))
            .await
            .map_err(blob_error)?;
        let tag_count = (!row.tags.is_empty()).then_some(row.tags.len() as i32);
        let c = returned_checksums(&row, &input.checksum_mode, &sel);
        let a = row.attrs;
        let (sse, kms, bucket_key) = a.sse.clone().unwrap_or_default().wire();
        Ok(S3Response::new(GetObjectOutput {
            expiration: found.expiration,
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            checksum_type: (!c.is_empty()).then(|| checksum_type(&a).unwrap_or_else(full_object)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(sel.len as i64),
            content_range: sel.content_range,
            parts_count: sel.parts_count,
            tag_count,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&row.etag)),
            last_modified: Some(ts(row.last_modified_ms)),
            content_type: a.content_type,
            cache_control: a.cache_control,
            content_disposition: a.content_disposition,
            content_encoding: a.content_encoding,
            content_language: a.content_language,
            expires: parse_expires(&a.expires),
            metadata: to_metadata(&a.metadata),
            version_id: found.version,
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let found = self.read_version(&input.bucket, &input.key, &input.version_id)?;
        let row = found.row;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check_read(&row)
        .map_err(|e| not_modified_version(e, &found.version))?;
        // HEAD answers what GET would, without the body (the front end makes a HEAD with a
        // Content-Range a 206, as the protocol layer does only for GET).
        let sel = ranges::select(&row, input.range.as_ref(), input.part_number)?;
        let c = returned_checksums(&row, &input.checksum_mode, &sel);
        let a = row.attrs;
        let (sse, kms, bucket_key) = a.sse.clone().unwrap_or_default().wire();
        Ok(S3Response::new(HeadObjectOutput {
            expiration: found.expiration,
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            checksum_type: (!c.is_empty()).then(|| checksum_type(&a).unwrap_or_else(full_object)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            content_length: Some(sel.len as i64),
            content_range: sel.content_range,
            parts_count: sel.parts_count,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&row.etag)),
            last_modified: Some(ts(row.last_modified_ms)),
            content_type: a.content_type,
            cache_control: a.cache_control,
            content_disposition: a.content_disposition,
            content_encoding: a.content_encoding,
            content_language: a.content_language,
            expires: parse_expires(&a.expires),
            metadata: to_metadata(&a.metadata),
            version_id: found.version,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let trace = trace(&req);
        let by_sweep = crate::lifecycle::by_sweep(&req);
        let input = req.input;
        let version = version_param(&input.version_id)?;
        let now = now_ms();
        let deletion = self
            .0
            .db
            .tx(|tx| delete_key(tx, &input.bucket, &input.key, version, now))
            .map_err(internal)?
            .ok_or_else(no_such_bucket)?;
        self.release(&deletion.released).await;
        if let Some(event) = deletion.event {
            self.0.notify(
                crate::lifecycle::removal_event(by_sweep, event),
                &input.bucket,
                &input.key,
                None,
                deletion.version.as_deref(),
                &region,
                &rid,
                trace.as_deref(),
            );
        }
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: deletion.delete_marker.then_some(true),
            version_id: deletion.version,
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let trace = trace(&req);
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        // S3's schema allows at most 1,000 keys in one request.
        if input.delete.objects.len() > 1000 {
            return Err(malformed_xml());
        }
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            let version = match version_param(&obj.version_id) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(Error {
                        key: Some(obj.key.clone()),
                        version_id: obj.version_id.clone(),
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_string),
                    });
                    continue;
                }
            };
            let now = now_ms();
            let deletion = self
                .0
                .db
                .tx(|tx| delete_key(tx, &input.bucket, &obj.key, version, now))
                .map_err(internal)?
                .ok_or_else(no_such_bucket)?;
            self.release(&deletion.released).await;
            if let Some(event) = deletion.event {
                self.0.notify(
                    event,
                    &input.bucket,
                    &obj.key,
                    None,
                    deletion.version.as_deref(),
                    &region,
                    &rid,
                    trace.as_deref(),
                );
            }
            // A named version is echoed as `VersionId`; a marker's id (created, or the one
            // removed) as `DeleteMarkerVersionId`.
            let marker_id = deletion
                .delete_marker
                .then(|| deletion.version.clone())
                .flatten();
            deleted.push(DeletedObject {
                key: Some(obj.key),
                version_id: version.map(str::to_string),
                delete_marker: deletion.delete_marker.then_some(true),
                delete_marker_version_id: marker_id,
            });
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let trace = trace(&req);
        // The destination's conditions (S3's conditional copy), read from the headers: the
        // S3 model s3s was generated from predates them.
        let cond = WriteConditions::from_headers(
            etag_condition(&req.headers, http::header::IF_MATCH)?,
            etag_condition(&req.headers, http::header::IF_NONE_MATCH)?,
        )?;
        let input = req.input;
        self.precheck(&input.bucket, &input.key, &cond)?;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        let found = self.copy_source_version(&src_bucket, &src_key, &src_version)?;
        let src = found.row;
        ReadConditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check_copy_source(&src)?;
        // A copy is a new object: it takes the request's encryption or the destination
        // bucket's default, never the source's.
        let new = self.new_object_sse(
            &input.bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.bucket_key_enabled,
        )?;
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let tags = if replace_tags {
            crate::tagging::from_header(input.tagging.as_deref())?
        } else {
            src.tags.clone()
        };
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let mut attrs = if replace {
            stored_attrs!(input)
        } else {
            src.attrs.clone()
        };
        attrs.sse = Some(new.sse.clone());
        // The copy keeps the source's checksums, so it keeps what kind they are.
        attrs.checksum = src.attrs.checksum.clone();
        // Copying an older version over its key (the way to restore it) changes something.
        if !replace && src_version.is_none() && src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."));
        }
        let blob = self
            .0
            .blobs
            .duplicate(&src.blob)
            .await
            .map_err(blob_error)?;
        let row = ObjectRow {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob,
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: now_ms(),
            attrs,
            parts: src.parts.clone(),
            upload_id: None,
            tags,
            checksums: src.checksums.clone(),
            ..Default::default()
        };
        let version = self.commit(&row, &cond).await?;
        self.0.notify(
            "ObjectCreated:Copy",
            &row.bucket,
            &row.key,
            Some(&row),
            version.as_deref(),
            &region,
            &rid,
            trace.as_deref(),
        );
        let result = CopyObjectResult {
            e_tag: Some(etag(&row.etag)),
            last_modified: Some(ts(row.last_modified_ms)),
            ..Default::default()
        };
        let (sse, kms, bucket_key) = row.attrs.sse.clone().unwrap_or_default().wire();
        Ok(S3Response::new(CopyObjectOutput {
            expiration: new.expiration(&row),
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            copy_object_result: Some(result),
            copy_source_version_id: found.version,
            version_id: version,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = page_size(input.max_keys);
        let after = match &input.continuation_token {
            Some(t) => token_decode(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let page = self.list_page(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            &after,
            max,
        )?;
        let count = page.contents.len() + page.prefixes.len();
        let enc = Encoder::of(&input.encoding_type);
        let with_owner = input.fetch_owner.unwrap_or(false);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.s(prefix)),
            delimiter: enc.o(delimiter(&input.delimiter)),
            max_keys: Some(max as i32),
            key_count: Some(count as i32),
            is_truncated: Some(page.truncated),
            next_continuation_token: page
                .truncated
                .then(|| page.last.as_deref().map(token_encode))
                .flatten(),
            continuation_token: input.continuation_token,
            start_after: enc.o(input.start_after),
            encoding_type: input.encoding_type,
            contents: Some(
                page.contents
                    .iter()
                    .map(|r| listed(r, &enc, with_owner))
                    .collect(),
            ),
            common_prefixes: prefixes(page.prefixes, &enc),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = page_size(input.max_keys);
        let after = input.marker.clone().unwrap_or_default();
        let page = self.list_page(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            &after,
            max,
        )?;
        let enc = Encoder::of(&input.encoding_type);
        // Version 1 encodes keys and markers but answers the prefix as it was sent.
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: enc.o(delimiter(&input.delimiter)),
            marker: Some(enc.s(after)),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker: enc.o(page.truncated.then_some(page.last).flatten()),
            encoding_type: input.encoding_type,
            contents: Some(
                page.contents
                    .iter()
                    .map(|r| listed(r, &enc, true))
                    .collect(),
            ),
            common_prefixes: prefixes(page.prefixes, &enc),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let new = self.new_object_sse(
            &input.bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.bucket_key_enabled,
        )?;
        let tags = crate::tagging::from_header(input.tagging.as_deref())?;
        let checksum = UploadChecksum::from_request(
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            input.checksum_type.as_ref().map(|t| t.as_str()),
        )?;
        let upload = UploadRow {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated_ms: now_ms(),
            attrs: Attrs {
                sse: Some(new.sse),
                checksum,
                ..stored_attrs!(input)
            },
            tags,
        };
        self.0
            .db
            .tx(|tx| tx.create_upload(&upload))
            .map_err(internal)?;
        let (sse, kms, bucket_key) = upload.attrs.sse.clone().unwrap_or_default().wire();
        Ok(S3Response::new(CreateMultipartUploadOutput {
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            checksum_algorithm: checksum_algorithm(&upload.attrs),
            checksum_type: checksum_type(&upload.attrs),
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers.clone();
        let headers = req.headers;
        let input = req.input;
        refuse_oversize(input.content_length)?;
        let upload = self.open_upload(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
        )?;
        let expected = expected!(input, headers, trailers);
        if let Some(c) = &upload.attrs.checksum {
            c.check_part(&expected.claimed)?;
        }
        let (written, checksums) = self.write_checked(input.body, expected).await?;
        let part = self
            .record_part(&upload, input.part_number, &written, checksums.clone())
            .await?;
        let (sse, kms, bucket_key) = upload.attrs.sse.clone().unwrap_or_default().wire();
        Ok(S3Response::new(UploadPartOutput {
            server_side_encryption: sse,
            ssekms_key_id: kms,
            bucket_key_enabled: bucket_key,
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: checksums.crc32,
            checksum_crc32c: checksums.crc32c,
            checksum_crc64nvme: checksums.crc64nvme,
            checksum_sha1: checksums.sha1,
            checksum_sha256: checksums.sha256,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        let upload = self.open_upload(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
        )?;
        let found = self.copy_source_version(&src_bucket, &src_key, &src_version)?;
        let src = found.row;
        ReadConditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check_copy_source(&src)?;
        let (start, len) = match &input.copy_source_range {
            Some(r) => ranges::copy_source_range(r, src.size)?,
            None => (0, src.size),
        };
        let written = self
            .0
            .blobs
            .write_range(&src.blob, start, len, part_hasher(&upload.attrs))
            .await
            .map_err(blob_error)?;
        let part = self
            .record_part(
                &upload,
                input.part_number,
                &written,
                Checksums::from(&written.checksum),
            )
            .await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(ts(part.last_modified_ms)),
                ..Default::default()
            }),
            copy_source_version_id: found.version,
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let trace = trace(&req);
        let mut input = req.input;
        let cond =
            WriteConditions::from_headers(input.if_match.take(), input.if_none_match.take())?;
        let (upload, stored, current, lifecycle) = self
            .0
            .db
            .tx(|tx| {
                Ok((
                    tx.upload(&input.upload_id)?,
                    tx.parts(&input.upload_id)?,
                    tx.object(&input.bucket, &input.key)?,
                    tx.bucket_config(BucketConfig::Lifecycle, &input.bucket)?,
                ))
            })
            .map_err(internal)?;
        let expiration = |row: &ObjectRow| {
            crate::lifecycle::expiration_header(lifecycle.clone().flatten().as_deref(), row)
        };
        let Some(upload) = upload.filter(|u| u.bucket == input.bucket && u.key == input.key) else {
            // A repeated completion (a client retrying after a lost answer) gets the answer
            // the first one got, while the object it made is still the current one.
            return match current.filter(|r| r.upload_id.as_deref() == Some(&*input.upload_id)) {
                Some(row) => {
                    let version = row.version_id.clone();
                    Ok(S3Response::new(completed(&row, version, expiration(&row))))
                }
                None => Err(no_upload()),
            };
        };
        cond.check(current.as_ref())?;
        let wanted = input
            .multipart_upload
            .take()
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if wanted.is_empty() {
            return Err(malformed_xml());
        }
        let mut chosen = Vec::new();
        let mut last = 0;
        for (i, p) in wanted.iter().enumerate() {
            let n = p.part_number.unwrap_or(0);
            if n <= last {
                return Err(s3_error!(InvalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number."));
            }
            last = n;
            let part = stored
                .iter()
                .find(|s| s.part_number == n)
                .ok_or_else(invalid_part)?;
            if p.e_tag.as_ref().is_some_and(|e| e.value() != part.etag) {
                return Err(invalid_part());
            }
            if i + 1 < wanted.len() && part.size < 5 * 1024 * 1024 {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
            chosen.push(part);
        }
        let checksums = object_checksums(&upload.attrs, &chosen, &wanted, &input)?;
        let blobs: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let (blob, size) = self.0.blobs.concat(&blobs).await.map_err(blob_error)?;
        let mut md5 = Md5::new();
        for p in &chosen {
            md5.update(hex::decode(&p.etag).unwrap_or_default());
        }
        let row = ObjectRow {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            blob,
            size,
            etag: format!("{}-{}", hex::encode(md5.finalize()), chosen.len()),
            last_modified_ms: now_ms(),
            attrs: upload.attrs.clone(),
            parts: Some(chosen.iter().map(|p| p.size).collect()),
            upload_id: Some(upload.upload_id.clone()),
            tags: upload.tags.clone(),
            checksums,
            ..Default::default()
        };
        let version = self.commit(&row, &cond).await?;
        let parts = self
            .0
            .db
            .tx(|tx| tx.delete_upload(&upload.upload_id))
            .map_err(internal)?;
        for b in parts {
            self.0.blobs.remove(&b).await;
        }
        self.0.notify(
            "ObjectCreated:CompleteMultipartUpload",
            &row.bucket,
            &row.key,
            Some(&row),
            version.as_deref(),
            &region,
            &rid,
            trace.as_deref(),
        );
        let expires = expiration(&row);
        Ok(S3Response::new(completed(&row, version, expires)))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .0
            .db
            .tx(|tx| tx.upload(&input.upload_id))
            .map_err(internal)?;
        upload
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(no_upload)?;
        let parts = self
            .0
            .db
            .tx(|tx| tx.delete_upload(&input.upload_id))
            .map_err(internal)?;
        for b in parts {
            self.0.blobs.remove(&b).await;
        }
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (upload, parts) = self
            .0
            .db
            .tx(|tx| Ok((tx.upload(&input.upload_id)?, tx.parts(&input.upload_id)?)))
            .map_err(internal)?;
        let upload = upload
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(no_upload)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let rest: Vec<&PartRow> = parts.iter().filter(|p| p.part_number > marker).collect();
        let page: Vec<Part> = rest
            .iter()
            .take(max)
            .map(|p| Part {
                part_number: Some(p.part_number),
                e_tag: Some(etag(&p.etag)),
                size: Some(p.size as i64),
                last_modified: Some(ts(p.last_modified_ms)),
                checksum_crc32: p.checksums.crc32.clone(),
                checksum_crc32c: p.checksums.crc32c.clone(),
                checksum_crc64nvme: p.checksums.crc64nvme.clone(),
                checksum_sha1: p.checksums.sha1.clone(),
                checksum_sha256: p.checksums.sha256.clone(),
            })
            .collect();
        let truncated = rest.len() > max;
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            next_part_number_marker: truncated.then(|| rest[max - 1].part_number),
            max_parts: Some(max as i32),
            parts: Some(page),
            checksum_algorithm: checksum_algorithm(&upload.attrs),
            checksum_type: checksum_type(&upload.attrs),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .0
            .db
            .tx(|tx| tx.uploads(&input.bucket))
            .map_err(internal)?;
        let list: Vec<MultipartUpload> = uploads
            .into_iter()
            .filter(|u| u.key.starts_with(&prefix))
            .map(|u| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(u.upload_id),
                initiated: Some(ts(u.initiated_ms)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(list),
            ..Default::default()
        }))
    }

    // --- bucket configurations Stratus does not keep: reading one answers S3's own
    // "not configured" error; deleting one (there is none) succeeds.

    // --- CORS, lifecycle and default encryption: kept as JSON in the bucket's row, validated
    // and applied by their modules.

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let rules = self.bucket_config::<Vec<CORSRule>>(&req.input.bucket, BucketConfig::Cors)?;
        let rules = rules.ok_or_else(|| {
            crate::bucket_config::not_configured(
                "NoSuchCORSConfiguration",
                "The CORS configuration does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(crate::cors::to_configuration(rules).cors_rules),
        }))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let rules = crate::cors::validate(&input.cors_configuration)?;
        self.set_bucket_config(&input.bucket, BucketConfig::Cors, Some(&rules))?;
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.set_bucket_config::<()>(&req.input.bucket, BucketConfig::Cors, None)?;
        Ok(S3Response::new(DeleteBucketCorsOutput::default()))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let rules =
            self.bucket_config::<Vec<LifecycleRule>>(&req.input.bucket, BucketConfig::Lifecycle)?;
        let rules = rules.ok_or_else(|| {
            crate::bucket_config::not_configured(
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(crate::lifecycle::to_configuration(rules).rules),
            ..Default::default()
        }))
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let config = input.lifecycle_configuration.ok_or_else(malformed_xml)?;
        let rules = crate::lifecycle::validate(&config)?;
        self.set_bucket_config(&input.bucket, BucketConfig::Lifecycle, Some(&rules))?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.set_bucket_config::<()>(&req.input.bucket, BucketConfig::Lifecycle, None)?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
    }

    /// A bucket without a setting of its own answers SSE-S3 (AES256), every S3 bucket's
    /// default since January 2023, rather than a not-found error.
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let sse = self
            .bucket_config::<crate::encryption::Sse>(&req.input.bucket, BucketConfig::Encryption)?
            .unwrap_or_default();
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(crate::encryption::to_configuration(&sse)),
        }))
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let sse =
            crate::encryption::from_configuration(&input.server_side_encryption_configuration)?;
        self.set_bucket_config(&input.bucket, BucketConfig::Encryption, Some(&sse))?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.set_bucket_config::<()>(&req.input.bucket, BucketConfig::Encryption, None)?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        let policy = self
            .0
            .db
            .tx(|tx| tx.bucket_policy(&bucket))
            .map_err(internal)?
            .ok_or_else(|| {
                crate::bucket_config::not_configured(
                    "NoSuchBucketPolicy",
                    "The bucket policy does not exist",
                )
            })?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy),
        }))
    }

    /// A policy is validated as IAM validates resource policies, in S3's words.
    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        let policy = req.input.policy;
        if let Err(e) = stratus_iam::Policy::parse(&policy, stratus_iam::Kind::Resource) {
            let message = match e.message.as_str() {
                "Syntax errors in policy." => {
                    "Policies must be valid JSON and the first byte must be '{'".to_string()
                }
                other => other.to_string(),
            };
            return Err(S3Error::with_message(S3ErrorCode::MalformedPolicy, message));
        }
        self.0
            .db
            .tx(|tx| tx.set_bucket_policy(&bucket, Some(&policy)))
            .map_err(internal)?;
        Ok(S3Response::new(PutBucketPolicyOutput::default()))
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "NoSuchBucketPolicy",
            "The bucket policy does not exist",
        ))
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        ))
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
        ))
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found",
        ))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "ObjectLockConfigurationNotFoundError",
            "Object Lock configuration does not exist for this bucket",
        ))
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Err(crate::bucket_config::not_configured(
            "ReplicationConfigurationNotFoundError",
            "The replication configuration was not found",
        ))
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        self.0
            .db
            .tx(|tx| tx.set_bucket_policy(&bucket, None))
            .map_err(internal)?;
        Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
    }

    async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketWebsiteOutput::default()))
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(
            DeleteBucketOwnershipControlsOutput::default(),
        ))
    }

    async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketReplicationOutput::default()))
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketAclOutput {
            owner: Some(owner()),
            grants: Some(vec![owner_full_control()]),
        }))
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.object(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(GetObjectAclOutput {
            owner: Some(owner()),
            grants: Some(vec![owner_full_control()]),
            ..Default::default()
        }))
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLoggingOutput::default()))
    }

    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(
            GetBucketAccelerateConfigurationOutput::default(),
        ))
    }

    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketRequestPaymentOutput {
            payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
        }))
    }

    async fn put_bucket_accelerate_configuration(
        &self,
        req: S3Request<PutBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketAccelerateConfigurationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        crate::bucket_config::check_accelerate(&req.input.accelerate_configuration)?;
        Ok(S3Response::new(Default::default()))
    }

    async fn put_bucket_request_payment(
        &self,
        req: S3Request<PutBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<PutBucketRequestPaymentOutput>> {
        self.require_bucket(&req.input.bucket)?;
        crate::bucket_config::check_request_payment(
            &req.input.request_payment_configuration.payer,
        )?;
        Ok(S3Response::new(Default::default()))
    }

    async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        self.require_bucket(&req.input.bucket)?;
        crate::bucket_config::check_logging(&req.input.bucket_logging_status)?;
        Ok(S3Response::new(Default::default()))
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.require_bucket(&req.input.bucket)?;
        crate::bucket_config::check_acl(&req.input, stratus_core::ACCOUNT_ID)?;
        Ok(S3Response::new(Default::default()))
    }

    // --- versioning status and tagging

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let bucket = req.input.bucket;
        let status = self
            .0
            .db
            .tx(|tx| {
                // None: no bucket; Some(None): a bucket whose versioning was never set.
                tx.bucket_exists(&bucket)?
                    .then(|| tx.versioning(&bucket))
                    .transpose()
            })
            .map_err(internal)?
            .ok_or_else(no_such_bucket)?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: status.map(BucketVersioningStatus::from),
            mfa_delete: None,
        }))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let status = input
            .versioning_configuration
            .status
            .map(|s| s.as_str().to_string())
            .filter(|s| {
                s == BucketVersioningStatus::ENABLED || s == BucketVersioningStatus::SUSPENDED
            })
            .ok_or_else(malformed_xml)?;
        // MFA delete needs an MFA device's code with every versioned delete; Stratus has no
        // MFA devices, so it is refused rather than stored and never enforced.
        let mfa_delete = input.versioning_configuration.mfa_delete.as_ref();
        if mfa_delete
            .is_some_and(|m| ![MFADelete::ENABLED, MFADelete::DISABLED].contains(&m.as_str()))
        {
            return Err(malformed_xml());
        }
        if mfa_delete.is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
            return Err(s3_error!(
                NotImplemented,
                "MFA delete is not supported: Stratus has no MFA devices."
            ));
        }
        self.0
            .db
            .tx(|tx| tx.set_versioning(&input.bucket, &status))
            .map_err(internal)?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = page_size(input.max_keys);
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let version_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
        if version_marker.is_some() && key_marker.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        let version_marker = version_param(&version_marker)?;
        let page = self
            .0
            .db
            .tx(|tx| {
                crate::versions::page(
                    tx,
                    &input.bucket,
                    &prefix,
                    input.delimiter.as_deref(),
                    &key_marker,
                    version_marker,
                    max,
                )
            })
            .map_err(internal)?;
        let enc = Encoder::of(&input.encoding_type);
        let (mut versions, mut markers) = (Vec::new(), Vec::new());
        for (row, latest) in page.entries {
            let id = row
                .version_id
                .clone()
                .unwrap_or_else(|| NULL_VERSION.into());
            if row.delete_marker {
                markers.push(DeleteMarkerEntry {
                    key: Some(enc.s(row.key)),
                    version_id: Some(id),
                    is_latest: Some(latest),
                    last_modified: Some(ts(row.last_modified_ms)),
                    owner: Some(owner()),
                });
                continue;
            }
            versions.push(ObjectVersion {
                key: Some(enc.s(row.key.clone())),
                version_id: Some(id),
                is_latest: Some(latest),
                size: Some(row.size as i64),
                e_tag: Some(etag(&row.etag)),
                last_modified: Some(ts(row.last_modified_ms)),
                owner: Some(owner()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            });
        }
        let (next_key, next_version) = match page.next.filter(|_| page.truncated) {
            Some((k, v)) => (Some(k), v),
            None => (None, None),
        };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.s(prefix)),
            delimiter: enc.o(delimiter(&input.delimiter)),
            key_marker: Some(enc.s(key_marker)),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_version_id_marker: next_version,
            next_key_marker: enc.o(next_key),
            encoding_type: input.encoding_type,
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: prefixes(page.prefixes, &enc),
            ..Default::default()
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags =
            crate::tagging::from_xml(input.tagging, crate::tagging::OBJECT_MAX_TAGS, "Object")?;
        let version = self.set_object_tags(&input.bucket, &input.key, &input.version_id, &tags)?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: version,
        }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let found = self.read_version(&input.bucket, &input.key, &input.version_id)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: crate::tagging::to_xml(&found.row.tags),
            version_id: found.version,
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let version =
            self.set_object_tags(&input.bucket, &input.key, &input.version_id, &Vec::new())?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: version,
        }))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let tags =
            crate::tagging::from_xml(input.tagging, crate::tagging::BUCKET_MAX_TAGS, "Bucket")?;
        self.0
            .db
            .tx(|tx| tx.set_bucket_tags(&input.bucket, Some(&tags)))
            .map_err(internal)?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        let tags = self
            .0
            .db
            .tx(|tx| tx.bucket_tags(&bucket))
            .map_err(internal)?
            .ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: crate::tagging::to_xml(&tags),
        }))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        self.0
            .db
            .tx(|tx| tx.set_bucket_tags(&bucket, None))
            .map_err(internal)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let cfg = input.notification_configuration;
        let skip = input.skip_destination_validation.unwrap_or(false);
        let mut targets = Vec::new();
        for c in cfg.lambda_function_configurations.unwrap_or_default() {
            targets.push(self.target(c, &input.bucket, skip, Dest::Function)?);
        }
        // Queue and topic configurations have the same parts; their ARNs name a queue or a
        // topic.
        for q in cfg.queue_configurations.unwrap_or_default() {
            let c = LambdaFunctionConfiguration {
                id: q.id,
                lambda_function_arn: q.queue_arn,
                events: q.events,
                filter: q.filter,
            };
            targets.push(self.target(c, &input.bucket, skip, Dest::Queue)?);
        }
        for t in cfg.topic_configurations.unwrap_or_default() {
            let c = LambdaFunctionConfiguration {
                id: t.id,
                lambda_function_arn: t.topic_arn,
                events: t.events,
                filter: t.filter,
            };
            targets.push(self.target(c, &input.bucket, skip, Dest::Topic)?);
        }
        let config = NotificationConfig {
            targets,
            event_bridge: cfg.event_bridge_configuration.is_some(),
        };
        let json = serde_json::to_string(&config).map_err(internal)?;
        self.0
            .db
            .tx(|tx| tx.set_notification(&input.bucket, &json))
            .map_err(internal)?;
        let targets = config.targets;
        self.send_test_events(&targets, &input.bucket);
        Ok(S3Response::new(
            PutBucketNotificationConfigurationOutput::default(),
        ))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let bucket = req.input.bucket;
        self.require_bucket(&bucket)?;
        let stored = self
            .0
            .db
            .tx(|tx| tx.notification(&bucket))
            .map_err(internal)?
            .unwrap_or_default();
        let config = NotificationConfig::parse(&stored);
        let mut functions = Vec::new();
        let mut queues = Vec::new();
        let mut topics = Vec::new();
        for t in config.targets {
            let c = rendered(t);
            if is_queue_arn(&c.lambda_function_arn) {
                queues.push(QueueConfiguration {
                    id: c.id,
                    queue_arn: c.lambda_function_arn,
                    events: c.events,
                    filter: c.filter,
                });
            } else if is_topic_arn(&c.lambda_function_arn) {
                topics.push(TopicConfiguration {
                    id: c.id,
                    topic_arn: c.lambda_function_arn,
                    events: c.events,
                    filter: c.filter,
                });
            } else {
                functions.push(c);
            }
        }
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            lambda_function_configurations: (!functions.is_empty()).then_some(functions),
            queue_configurations: (!queues.is_empty()).then_some(queues),
            topic_configurations: (!topics.is_empty()).then_some(topics),
            event_bridge_configuration: config.event_bridge.then_some(EventBridgeConfiguration {}),
        }))
    }
}

/// The stored checksums a read returns: only when it asked (`ChecksumMode: ENABLED`) and
/// reads the whole object (a checksum describes all of it, not a range).
fn returned_checksums(
    row: &ObjectRow,
    mode: &Option<ChecksumMode>,
    sel: &ranges::Selection,
) -> Checksums {
    let enabled = mode
        .as_ref()
        .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    if enabled && sel.content_range.is_none() {
        row.checksums.clone()
    } else {
        Checksums::default()
    }
}

fn full_object() -> ChecksumType {
    ChecksumType::from_static(ChecksumType::FULL_OBJECT)
}

/// The owner's full control, the one grant of every bucket and object.
fn owner_full_control() -> Grant {
    let o = owner();
    Grant {
        grantee: Some(Grantee {
            id: o.id,
            display_name: o.display_name,
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }
}

/// CompleteMultipartUpload's answer for the object it made.
fn completed(
    row: &ObjectRow,
    version: Option<String>,
    expiration: Option<String>,
) -> CompleteMultipartUploadOutput {
    let (sse, kms, bucket_key) = row.attrs.sse.clone().unwrap_or_default().wire();
    CompleteMultipartUploadOutput {
        expiration,
        version_id: version,
        server_side_encryption: sse,
        ssekms_key_id: kms,
        bucket_key_enabled: bucket_key,
        bucket: Some(row.bucket.clone()),
        key: Some(row.key.clone()),
        e_tag: Some(etag(&row.etag)),
        location: Some(format!("/{}/{}", row.bucket, row.key)),
        checksum_type: (!row.checksums.is_empty()).then(|| object_checksum_type(row)),
        checksum_crc32: row.checksums.crc32.clone(),
        checksum_crc32c: row.checksums.crc32c.clone(),
        checksum_crc64nvme: row.checksums.crc64nvme.clone(),
        checksum_sha1: row.checksums.sha1.clone(),
        checksum_sha256: row.checksums.sha256.clone(),
        ..Default::default()
    }
}

/// The algorithm a multipart upload keeps, as the wire names it.
fn checksum_algorithm(attrs: &Attrs) -> Option<ChecksumAlgorithm> {
    let name = attrs.checksum.as_ref()?.algorithm.to_ascii_uppercase();
    Some(ChecksumAlgorithm::from(name))
}

/// A multipart upload's checksum type (`COMPOSITE` or `FULL_OBJECT`).
fn checksum_type(attrs: &Attrs) -> Option<ChecksumType> {
    Some(ChecksumType::from_static(attrs.checksum.as_ref()?.kind()))
}

/// The type of an object's stored checksums: its upload's, or `FULL_OBJECT` for an object
/// written whole.
fn object_checksum_type(row: &ObjectRow) -> ChecksumType {
    checksum_type(&row.attrs).unwrap_or_else(full_object)
}

/// Hashes a copied part with its upload's algorithm, so the part has a checksum as if sent.
fn part_hasher(attrs: &Attrs) -> s3s::checksum::ChecksumHasher {
    let mut claimed = Claimed::default();
    if let Some(c) = &attrs.checksum {
        claimed.name(&c.algorithm);
    }
    claimed.hasher()
}

/// The checksums of the object a completion makes: none unless its upload chose an
/// algorithm; then made from the parts' and checked against the value the request gives for
/// each part and for the whole (`BadDigest` when the whole's differs).
fn object_checksums(
    attrs: &Attrs,
    chosen: &[&PartRow],
    wanted: &[CompletedPart],
    input: &CompleteMultipartUploadInput,
) -> S3Result<Checksums> {
    let Some(upload) = &attrs.checksum else {
        return Ok(Checksums::default());
    };
    let sent: Vec<Option<String>> = wanted
        .iter()
        .map(|p| {
            let c = Checksums {
                crc32: p.checksum_crc32.clone(),
                crc32c: p.checksum_crc32c.clone(),
                crc64nvme: p.checksum_crc64nvme.clone(),
                sha1: p.checksum_sha1.clone(),
                sha256: p.checksum_sha256.clone(),
            };
            c.get(&upload.algorithm).map(str::to_string)
        })
        .collect();
    let made = upload.of_object(chosen, &sent)?;
    let whole = Checksums {
        crc32: input.checksum_crc32.clone(),
        crc32c: input.checksum_crc32c.clone(),
        crc64nvme: input.checksum_crc64nvme.clone(),
        sha1: input.checksum_sha1.clone(),
        sha256: input.checksum_sha256.clone(),
    };
    // A composite value may be sent with or without its `-<parts>` suffix.
    let bare = |v: &str| v.split('-').next().unwrap_or_default().to_string();
    if let (Some(claimed), Some(made)) = (whole.get(&upload.algorithm), made.get(&upload.algorithm))
    {
        if bare(claimed) != bare(made) {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                upload.algorithm
            ));
        }
    }
    Ok(made)
}

/// The bucket, key and version (if named) of a copy's source.
fn copy_source(source: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_deref().map(str::to_string),
        )),
        _ => Err(s3_error!(NotImplemented, "Access points are not supported")),
    }
}

/// The most one PutObject or UploadPart may carry: 5 GiB.
const MAX_SINGLE_UPLOAD: i64 = 5 * 1024 * 1024 * 1024;

/// Refuses a declared body over [`MAX_SINGLE_UPLOAD`] before reading any of it.
fn refuse_oversize(content_length: Option<i64>) -> S3Result<()> {
    if content_length.is_some_and(|n| n > MAX_SINGLE_UPLOAD) {
        return Err(s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size"
        ));
    }
    Ok(())
}

fn malformed_xml() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

fn no_upload() -> S3Error {
    s3_error!(NoSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
}

pub(crate) fn invalid_part() -> S3Error {
    s3_error!(InvalidPart, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
}

/// What kind of destination a notification configuration names.
#[derive(Clone, Copy, PartialEq)]
enum Dest {
    Function,
    Queue,
    Topic,
}

fn rendered(t: LambdaTarget) -> LambdaFunctionConfiguration {
    let mut rules = Vec::new();
    if let Some(p) = t.prefix {
        rules.push(FilterRule {
            name: Some(FilterRuleName::from_static("Prefix")),
            value: Some(p),
        });
    }
    if let Some(s) = t.suffix {
        rules.push(FilterRule {
            name: Some(FilterRuleName::from_static("Suffix")),
            value: Some(s),
        });
    }
    let filter = (!rules.is_empty()).then_some(NotificationConfigurationFilter {
        key: Some(S3KeyFilter {
            filter_rules: Some(rules),
        }),
    });
    LambdaFunctionConfiguration {
        id: Some(t.id),
        lambda_function_arn: t.arn,
        events: t.events.into_iter().map(Event::from).collect(),
        filter,
    }
}

impl S3Front {
    /// Sends S3's `s3:TestEvent` to each queue and topic of a configuration just stored, as
    /// S3 does.
    fn send_test_events(&self, targets: &[LambdaTarget], bucket: &str) {
        let Some(sink) = self.0.sink() else { return };
        let test_target = |t: &&LambdaTarget| is_queue_arn(&t.arn) || is_topic_arn(&t.arn);
        for t in targets.iter().filter(test_target) {
            let region = t.arn.split(':').nth(3).unwrap_or("us-east-1");
            let payload = crate::notify::test_event(bucket).to_string().into_bytes();
            sink.deliver(&t.arn, payload, region, None);
        }
    }

    /// Validates one function, queue or topic notification configuration (`dest`), as S3
    /// does.
    fn target(
        &self,
        c: LambdaFunctionConfiguration,
        bucket: &str,
        skip_validation: bool,
        dest: Dest,
    ) -> S3Result<LambdaTarget> {
        let arn = c.lambda_function_arn.clone();
        let parses = match dest {
            Dest::Queue => is_queue_arn(&arn),
            Dest::Topic => is_topic_arn(&arn),
            Dest::Function => {
                arn.starts_with("arn:") && arn.contains(":lambda:") && arn.contains(":function:")
            }
        };
        if !parses {
            return Err(s3_error!(InvalidArgument, "The ARN could not be parsed"));
        }
        if !skip_validation && !self.0.sink().is_some_and(|s| s.accepts(&arn, bucket)) {
            return Err(s3_error!(
                InvalidArgument,
                "Unable to validate the following destination configurations"
            ));
        }
        let events: Vec<String> = c.events.iter().map(|e| e.as_ref().to_string()).collect();
        if events.is_empty() || events.iter().any(|e| !EVENT_NAMES.contains(&e.as_str())) {
            return Err(s3_error!(
                InvalidArgument,
                "The event is not supported for notifications"
            ));
        }
        let (mut prefix, mut suffix) = (None, None);
        let rules = c
            .filter
            .and_then(|f| f.key)
            .and_then(|k| k.filter_rules)
            .unwrap_or_default();
        for r in rules {
            let name = r
                .name
                .as_ref()
                .map(|n| n.as_str().to_ascii_lowercase())
                .unwrap_or_default();
            let value = r.value.unwrap_or_default();
            match name.as_str() {
                "prefix" if prefix.is_none() => prefix = Some(value),
                "suffix" if suffix.is_none() => suffix = Some(value),
                "prefix" | "suffix" => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Cannot specify more than one {name} rule in a filter."
                    ))
                }
                _ => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "filter rule name must be either prefix or suffix"
                    ))
                }
            }
        }
        let id = c.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(LambdaTarget {
            id,
            arn,
            events,
            prefix,
            suffix,
        })
    }
}
