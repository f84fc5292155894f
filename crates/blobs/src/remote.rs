//! The S3-compatible backend, through `object_store`. Requests are retried a little (a store
//! restarting answers within seconds) and then fail as [`BlobError::Unavailable`]: a caller
//! waiting minutes on a dead store is worse than a retryable error it can act on.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig};

use crate::location::S3Location;
use crate::{BlobError, BlobResult, ByteStream, Listed, Tally, Written};

/// Bodies up to this size are sent in one PUT; larger ones as a multipart upload in parts of
/// this size (above S3's 5 MiB minimum part).
const PART_SIZE: usize = 8 * 1024 * 1024;

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: Option<String>,
}

impl Remote {
    pub fn open(loc: &S3Location) -> BlobResult<Remote> {
        let (key_id, secret) = credentials(loc)?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&loc.bucket)
            .with_region(&loc.region)
            .with_access_key_id(key_id)
            .with_secret_access_key(secret)
            .with_retry(retry_policy())
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    // Long enough for a large part or a slow reader of a large object.
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Ok(token) = std::env::var("AWS_SESSION_TOKEN") {
            if loc.access_key_id.is_none() {
                builder = builder.with_token(token);
            }
        }
        if let Some(endpoint) = &loc.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Remote {
            store: Arc::new(store),
            prefix: loc.prefix.clone(),
        })
    }

    fn key(&self, key: &str) -> Key {
        match &self.prefix {
            Some(p) => Key::from(format!("{p}/{key}")),
            None => Key::from(key),
        }
    }

    /// Our key for a stored location (the prefix taken off).
    fn unprefixed(&self, location: &Key) -> String {
        let s = location.as_ref();
        match &self.prefix {
            Some(p) => s
                .strip_prefix(p.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(s)
                .to_string(),
            None => s.to_string(),
        }
    }

    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        mut body: S,
        inspect: impl FnMut(&[u8]) + Send,
    ) -> BlobResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let mut writer = BufWriter::with_capacity(self.store.clone(), self.key(key), PART_SIZE);
        let mut tally = Tally::new(inspect);
        let streamed: BlobResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| BlobError::Source(e.to_string()))?;
                tally.update(&chunk);
                writer.put(chunk).await.map_err(unavailable)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = streamed {
            // Nothing was sent for a body still in the buffer; a started multipart upload is
            // aborted so the store does not keep its parts.
            let _ = writer.abort().await;
            return Err(e);
        }
        tokio::io::AsyncWriteExt::shutdown(&mut writer)
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        Ok(tally.finish())
    }

    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&self.key(key), opts)
            .await
            .map_err(classify)?;
        Ok(crate::sync_stream(
            got.into_stream().map_err(std::io::Error::other).boxed(),
        ))
    }

    pub async fn copy(&self, from: &str, to: &str) -> BlobResult<()> {
        self.store
            .copy(&self.key(from), &self.key(to))
            .await
            .map_err(classify)
    }

    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match self.store.delete(&self.key(key)).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn exists(&self, key: &str) -> BlobResult<bool> {
        match self.store.head(&self.key(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn list(&self, prefix: &str) -> BlobResult<Vec<Listed>> {
        let prefix = self.key(prefix.trim_end_matches('/'));
        let now = SystemTime::now();
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(unavailable)?;
        Ok(metas
            .into_iter()
            .map(|m| Listed {
                key: self.unprefixed(&m.location),
                age: now
                    .duration_since(SystemTime::from(m.last_modified))
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// One listing of an empty prefix: it needs the endpoint up, the credentials valid and
    /// the bucket present, and moves no data.
    pub async fn reachable(&self) -> bool {
        let probe = self.key("health-check");
        match self.store.list_with_delimiter(Some(&probe)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%e, "blob store unreachable");
                false
            }
        }
    }
}

/// The access key from the URL, or else from the standard environment variables.
fn credentials(loc: &S3Location) -> BlobResult<(String, String)> {
    if let (Some(k), Some(s)) = (&loc.access_key_id, &loc.secret_access_key) {
        return Ok((k.clone(), s.clone()));
    }
    match (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Ok(k), Ok(s)) if !k.is_empty() && !s.is_empty() => Ok((k, s)),
        _ => Err(BlobError::Io(std::io::Error::other(
            "the s3 blob store needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or access_key_id and secret_access_key in the URL",
        ))),
    }
}

/// A few quick retries: enough to ride out a dropped connection, short enough that a store
/// that is down is reported within seconds.
fn retry_policy() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    }
}

fn classify(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
        other => unavailable(other),
    }
}

fn unavailable(e: object_store::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}
