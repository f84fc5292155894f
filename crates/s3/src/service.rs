//! `impl s3s::S3`: one method per supported operation, translating between the protocol's
//! types and the store. Operations not listed here answer `NotImplemented`.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders, S3};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::db::{Attrs, ObjectRow, PartRow, UploadRow};
use crate::listing;
use crate::notify::{LambdaTarget, EVENT_NAMES};
use crate::store::ObjectStore;

/// The protocol front of an [`ObjectStore`].
pub struct S3Front(pub Arc<ObjectStore>);

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(%e, "object store fault");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

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

/// A body that could not be read to its end: a mismatched payload signature gets S3's code.
/// An error of the local file system (a full or read-only disk) is the server's fault.
fn body_error(e: std::io::Error) -> S3Error {
    if e.raw_os_error().is_some() {
        tracing::error!(%e, "writing an object's bytes");
        return s3_error!(
            InternalError,
            "We encountered an internal error. Please try again."
        );
    }
    if e.to_string().contains("Sha256Mismatch") {
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
    crc32: Option<String>,
    sha256: Option<String>,
    trailers: Option<TrailingHeaders>,
}

impl Expected {
    fn trailer(&self, name: &str) -> Option<String> {
        self.trailers.as_ref()?.read(|h| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })?
    }

    fn check(&self, w: &crate::blobs::Written) -> S3Result<()> {
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
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
        let crc32 = self
            .crc32
            .clone()
            .or_else(|| self.trailer("x-amz-checksum-crc32"));
        if crc32.is_some_and(|c| c != b64(&w.crc32.to_be_bytes())) {
            return Err(s3_error!(
                BadDigest,
                "The CRC32 you specified did not match the calculated checksum."
            ));
        }
        let sha256 = self
            .sha256
            .clone()
            .or_else(|| self.trailer("x-amz-checksum-sha256"));
        if sha256.is_some_and(|c| c != b64(&w.sha256)) {
            return Err(s3_error!(
                BadDigest,
                "The SHA256 you specified did not match the calculated checksum."
            ));
        }
        Ok(())
    }
}

/// Key-like values in a listing, URL-encoded when the client asked for `EncodingType=url`.
struct Encoder(bool);

impl Encoder {
    fn of(t: &Option<EncodingType>) -> Encoder {
        Encoder(t.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL))
    }

    fn s(&self, v: String) -> String {
        if self.0 {
            crate::notify::encode_key(&v)
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
    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRow> {
        let (exists, row) = self
            .0
            .db
            .tx(|tx| Ok((tx.bucket_exists(bucket)?, tx.object(bucket, key)?)))
            .map_err(internal)?;
        if !exists {
            return Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            ));
        }
        row.ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
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
    ) -> S3Result<crate::blobs::Written> {
        let body = body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let written = self.0.blobs.write(body).await.map_err(body_error)?;
        if let Err(e) = expected.check(&written) {
            self.0.blobs.remove(&written.id);
            return Err(e);
        }
        Ok(written)
    }

    /// Commits an object row and removes the blob it replaced.
    fn commit(&self, row: &ObjectRow) -> S3Result<()> {
        let bucket_ok = self.0.db.tx(|tx| {
            if !tx.bucket_exists(&row.bucket)? {
                return Ok(None);
            }
            tx.put_object(row).map(Some)
        });
        match bucket_ok.map_err(internal)? {
            None => {
                self.0.blobs.remove(&row.blob);
                Err(s3_error!(
                    NoSuchBucket,
                    "The specified bucket does not exist"
                ))
            }
            Some(old) => {
                if let Some(old) = old {
                    self.0.blobs.remove(&old);
                }
                Ok(())
            }
        }
    }
}

/// Checks GET/HEAD preconditions in S3's order.
fn check_conditions(
    row: &ObjectRow,
    if_match: &Option<ETagCondition>,
    if_none_match: &Option<ETagCondition>,
    modified_since: &Option<Timestamp>,
    unmodified_since: &Option<Timestamp>,
) -> S3Result<()> {
    let current = etag(&row.etag);
    let secs = row.last_modified_ms / 1000;
    let as_secs = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
    if let Some(cond) = if_match {
        let ok = match cond {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => current.strong_cmp(e),
        };
        if !ok {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    } else if let Some(t) = unmodified_since {
        if secs > as_secs(t) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(cond) = if_none_match {
        let hit = match cond {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => current.weak_cmp(e),
        };
        if hit {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(t) = modified_since {
        if secs <= as_secs(t) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

fn listed(row: &ObjectRow, enc: &Encoder) -> Object {
    Object {
        key: Some(enc.s(row.key.clone())),
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
        let bucket = req.input.bucket;
        let created = self
            .0
            .db
            .tx(|tx| tx.create_bucket(&bucket, now_ms()))
            .map_err(internal)?;
        if !created {
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
        let owner = Owner {
            id: Some(stratus_core::ACCOUNT_ID.into()),
            display_name: Some("stratus".into()),
        };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner),
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
        let trailers = req.trailing_headers.clone();
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let expected = Expected {
            md5: input.content_md5.clone(),
            crc32: input.checksum_crc32.clone(),
            sha256: input.checksum_sha256.clone(),
            trailers,
        };
        let written = self.write_checked(input.body, expected).await?;
        let row = ObjectRow {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob: written.id,
            size: written.size,
            etag: hex::encode(written.md5),
            last_modified_ms: now_ms(),
            attrs: stored_attrs!(input),
        };
        self.commit(&row)?;
        self.0.notify(
            "ObjectCreated:Put",
            &row.bucket,
            &row.key,
            Some(&row),
            &region,
            &rid,
        );
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&row.etag)),
            size: Some(row.size as i64),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let row = self.object(&input.bucket, &input.key)?;
        check_conditions(
            &row,
            &input.if_match,
            &input.if_none_match,
            &input.if_modified_since,
            &input.if_unmodified_since,
        )?;
        let (start, len, content_range) = match &input.range {
            None => (0, row.size, None),
            Some(r) => {
                let range = r.check(row.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let end = range.end.saturating_sub(1);
                (
                    range.start,
                    range.end - range.start,
                    Some(format!("bytes {}-{end}/{}", range.start, row.size)),
                )
            }
        };
        let mut file = tokio::fs::File::open(self.0.blobs.path(&row.blob))
            .await
            .map_err(internal)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(internal)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        let a = row.attrs;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(len as i64),
            content_range,
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
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let row = self.object(&input.bucket, &input.key)?;
        check_conditions(
            &row,
            &input.if_match,
            &input.if_none_match,
            &input.if_modified_since,
            &input.if_unmodified_since,
        )?;
        let a = row.attrs;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(row.size as i64),
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
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let old = self
            .0
            .db
            .tx(|tx| tx.delete_object(&input.bucket, &input.key))
            .map_err(internal)?;
        if let Some(old) = old {
            self.0.blobs.remove(&old.blob);
            self.0.notify(
                "ObjectRemoved:Delete",
                &input.bucket,
                &input.key,
                None,
                &region,
                &rid,
            );
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let mut deleted = Vec::new();
        for obj in input.delete.objects {
            let old = self
                .0
                .db
                .tx(|tx| tx.delete_object(&input.bucket, &obj.key))
                .map_err(internal)?;
            if let Some(old) = old {
                self.0.blobs.remove(&old.blob);
                self.0.notify(
                    "ObjectRemoved:Delete",
                    &input.bucket,
                    &obj.key,
                    None,
                    &region,
                    &rid,
                );
            }
            deleted.push(DeletedObject {
                key: Some(obj.key),
                ..Default::default()
            });
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => return Err(s3_error!(NotImplemented, "Access points are not supported")),
        };
        let src = self.object(&src_bucket, &src_key)?;
        check_conditions(
            &src,
            &input.copy_source_if_match,
            &input.copy_source_if_none_match,
            &input.copy_source_if_modified_since,
            &input.copy_source_if_unmodified_since,
        )
        .map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                s3_error!(PreconditionFailed)
            } else {
                e
            }
        })?;
        self.require_bucket(&input.bucket)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let attrs = if replace {
            stored_attrs!(input)
        } else {
            src.attrs.clone()
        };
        if !replace && src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."));
        }
        let blob = self.0.blobs.duplicate(&src.blob).map_err(internal)?;
        let row = ObjectRow {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            blob,
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: now_ms(),
            attrs,
        };
        self.commit(&row)?;
        self.0.notify(
            "ObjectCreated:Copy",
            &row.bucket,
            &row.key,
            Some(&row),
            &region,
            &rid,
        );
        let result = CopyObjectResult {
            e_tag: Some(etag(&row.etag)),
            last_modified: Some(ts(row.last_modified_ms)),
            ..Default::default()
        };
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
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
        let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = match &input.continuation_token {
            Some(t) => token_decode(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let page = self
            .0
            .db
            .tx(|tx| {
                listing::page(
                    tx,
                    &input.bucket,
                    &prefix,
                    input.delimiter.as_deref(),
                    &after,
                    max,
                )
            })
            .map_err(internal)?;
        let count = page.contents.len() + page.prefixes.len();
        let enc = Encoder::of(&input.encoding_type);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.s(prefix)),
            delimiter: enc.o(input.delimiter),
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
            contents: Some(page.contents.iter().map(|r| listed(r, &enc)).collect()),
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
        let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = input.marker.clone().unwrap_or_default();
        let page = self
            .0
            .db
            .tx(|tx| {
                listing::page(
                    tx,
                    &input.bucket,
                    &prefix,
                    input.delimiter.as_deref(),
                    &after,
                    max,
                )
            })
            .map_err(internal)?;
        let enc = Encoder::of(&input.encoding_type);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.s(prefix)),
            delimiter: enc.o(input.delimiter),
            marker: Some(enc.s(after)),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker: enc.o(page.truncated.then_some(page.last).flatten()),
            encoding_type: input.encoding_type,
            contents: Some(page.contents.iter().map(|r| listed(r, &enc)).collect()),
            common_prefixes: prefixes(page.prefixes, &enc),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let upload = UploadRow {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated_ms: now_ms(),
            attrs: stored_attrs!(input),
        };
        self.0
            .db
            .tx(|tx| tx.create_upload(&upload))
            .map_err(internal)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
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
        let input = req.input;
        let upload = self
            .0
            .db
            .tx(|tx| tx.upload(&input.upload_id))
            .map_err(internal)?;
        let upload = upload
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(no_upload)?;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let expected = Expected {
            md5: input.content_md5.clone(),
            crc32: input.checksum_crc32.clone(),
            sha256: input.checksum_sha256.clone(),
            trailers,
        };
        let written = self.write_checked(input.body, expected).await?;
        let part = PartRow {
            part_number: input.part_number,
            blob: written.id.clone(),
            size: written.size,
            etag: hex::encode(written.md5),
            last_modified_ms: now_ms(),
        };
        let old = self.0.db.tx(|tx| {
            if tx.upload(&upload.upload_id)?.is_none() {
                return Ok(Err(()));
            }
            tx.put_part(&upload.upload_id, &part).map(Ok)
        });
        match old.map_err(internal)? {
            Err(()) => {
                self.0.blobs.remove(&written.id);
                Err(no_upload())
            }
            Ok(old) => {
                if let Some(b) = old {
                    self.0.blobs.remove(&b);
                }
                Ok(S3Response::new(UploadPartOutput {
                    e_tag: Some(etag(&part.etag)),
                    ..Default::default()
                }))
            }
        }
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let region = region(&req);
        let rid = request_id(&req);
        let input = req.input;
        let (upload, stored) = self
            .0
            .db
            .tx(|tx| Ok((tx.upload(&input.upload_id)?, tx.parts(&input.upload_id)?)))
            .map_err(internal)?;
        let upload = upload
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(no_upload)?;
        let wanted = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if wanted.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"));
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
        let blobs: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let (blob, size) = self.0.blobs.concat(&blobs).await.map_err(internal)?;
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
        };
        self.commit(&row)?;
        let parts = self
            .0
            .db
            .tx(|tx| tx.delete_upload(&upload.upload_id))
            .map_err(internal)?;
        for b in parts {
            self.0.blobs.remove(&b);
        }
        self.0.notify(
            "ObjectCreated:CompleteMultipartUpload",
            &row.bucket,
            &row.key,
            Some(&row),
            &region,
            &rid,
        );
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(row.bucket.clone()),
            key: Some(row.key.clone()),
            e_tag: Some(etag(&row.etag)),
            location: Some(format!("/{}/{}", row.bucket, row.key)),
            ..Default::default()
        }))
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
            self.0.blobs.remove(&b);
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
        upload
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
                ..Default::default()
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

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let cfg = input.notification_configuration;
        if cfg
            .queue_configurations
            .as_ref()
            .is_some_and(|q| !q.is_empty())
            || cfg
                .topic_configurations
                .as_ref()
                .is_some_and(|t| !t.is_empty())
        {
            return Err(s3_error!(
                InvalidArgument,
                "Unable to validate the following destination configurations"
            ));
        }
        let skip = input.skip_destination_validation.unwrap_or(false);
        let mut targets = Vec::new();
        for c in cfg.lambda_function_configurations.unwrap_or_default() {
            targets.push(self.target(c, skip)?);
        }
        let json = serde_json::to_string(&targets).map_err(internal)?;
        self.0
            .db
            .tx(|tx| tx.set_notification(&input.bucket, &json))
            .map_err(internal)?;
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
        let targets: Vec<LambdaTarget> = serde_json::from_str(&stored).unwrap_or_default();
        let configs: Vec<LambdaFunctionConfiguration> = targets.into_iter().map(rendered).collect();
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            lambda_function_configurations: (!configs.is_empty()).then_some(configs),
            ..Default::default()
        }))
    }
}

fn no_upload() -> S3Error {
    s3_error!(NoSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
}

fn invalid_part() -> S3Error {
    s3_error!(InvalidPart, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
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
    /// Validates one Lambda notification configuration, as S3 does.
    fn target(
        &self,
        c: LambdaFunctionConfiguration,
        skip_validation: bool,
    ) -> S3Result<LambdaTarget> {
        let arn = c.lambda_function_arn.clone();
        if !(arn.starts_with("arn:") && arn.contains(":lambda:") && arn.contains(":function:")) {
            return Err(s3_error!(InvalidArgument, "The ARN could not be parsed"));
        }
        if !skip_validation && !self.0.sink().is_some_and(|s| s.function_exists(&arn)) {
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
