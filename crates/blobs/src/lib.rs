//! The blob store: immutable bytes under string keys, on one of two backends chosen by a URL.
//!
//! - `file://<dir>` (or a plain path): the local disk. A blob is written to a temporary file,
//!   synced and renamed into place, so a crash leaves at worst an orphan, never a torn blob.
//! - `s3://<bucket>?endpoint=…&region=…[&prefix=…]`: any S3-compatible service, through the
//!   `object_store` crate. Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
//!   or the `access_key_id` / `secret_access_key` query parameters; [`BlobStore::location`]
//!   shows the URL with them redacted, and nothing else prints them.
//!
//! Blobs are never changed in place: callers write a new key and delete the old one after
//! their metadata no longer points at it. Errors say whether a blob is missing
//! ([`BlobError::NotFound`]), the store cannot be reached ([`BlobError::Unavailable`], worth a
//! retry), the local disk failed ([`BlobError::Io`]), or the caller's own input stream failed
//! ([`BlobError::Source`]).
//!
//! # Layout
//! - [`location`]: parsing and redacting the URL.
//! - [`local`], [`remote`]: the two backends.
//! - [`copy`]: copying every blob under a prefix to another store (`stratus migrate`).

pub mod copy;
pub mod local;
pub mod location;
pub mod remote;

use std::ops::Range;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::Stream;

pub use location::Location;

/// A blob's bytes as they arrive (`Sync` too, as HTTP bodies must be).
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

/// Makes a `Send`-only stream `Sync`: it is only ever polled through `&mut`, so the mutex is
/// never contended (`get_mut` takes no lock).
struct SyncStream<S>(Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let inner = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        Pin::new(inner).poll_next(cx)
    }
}

/// A `Send` stream as a [`ByteStream`].
fn sync_stream(s: BoxStream<'static, std::io::Result<Bytes>>) -> ByteStream {
    Box::pin(SyncStream(Mutex::new(s)))
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob has this key.
    #[error("blob not found: {0}")]
    NotFound(String),
    /// The store could not be reached or refused the request; a retry may succeed.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    /// The local disk failed (full, read-only, permissions).
    #[error("blob store i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The stream being stored failed (the client's body broke off or failed its check).
    #[error("{0}")]
    Source(String),
}

impl BlobError {
    /// Whether the failure is the store's being down or overloaded (a retryable 503 for S3
    /// callers) rather than a fault of this server.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BlobError::Unavailable(_))
    }
}

pub type BlobResult<T> = Result<T, BlobError>;

/// What a streamed put wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    pub md5: [u8; 16],
}

/// A stored key and how long ago it was last written (for sweeping orphans).
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub age: Duration,
}

enum Backend {
    Local(local::Local),
    Remote(remote::Remote),
}

/// How long a reachability answer is reused: `/health` may be polled often, and a remote
/// check is a network round trip.
const HEALTH_TTL: Duration = Duration::from_secs(5);

pub struct BlobStore {
    backend: Backend,
    location: Location,
    health: Mutex<Option<(Instant, bool)>>,
}

impl BlobStore {
    /// Opens the store a URL names; `default_dir` is used for an empty URL.
    pub fn open(url: &str, default_dir: &std::path::Path) -> BlobResult<BlobStore> {
        let location = Location::parse(url, default_dir)
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        let backend = match &location {
            Location::File(dir) => Backend::Local(local::Local::open(dir)?),
            Location::S3(s3) => Backend::Remote(remote::Remote::open(s3)?),
        };
        Ok(BlobStore {
            backend,
            location,
            health: Mutex::new(None),
        })
    }

    /// `file` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.location.kind()
    }

    /// The URL with any credentials redacted: safe to log and to report.
    pub fn location(&self) -> String {
        self.location.redacted()
    }

    /// Streams `body` into blob `key`, passing every chunk to `inspect` (the caller's own
    /// hashing) and computing the size and MD5. The blob appears whole or not at all.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        body: S,
        inspect: impl FnMut(&[u8]) + Send,
    ) -> BlobResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        match &self.backend {
            Backend::Local(l) => l.put_stream(key, body, inspect).await,
            Backend::Remote(r) => r.put_stream(key, body, inspect).await,
        }
    }

    /// Stores `bytes` as blob `key`.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> BlobResult<Written> {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        self.put_stream(key, body, |_| {}).await
    }

    /// Blob `key`, whole or the byte range asked for (which the caller has checked against the
    /// blob's recorded size).
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        if range.as_ref().is_some_and(|r| r.is_empty()) {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        match &self.backend {
            Backend::Local(l) => l.get(key, range).await,
            Backend::Remote(r) => r.get(key, range).await,
        }
    }

    /// All of blob `key` in memory (code packages, which are at most 50 MB).
    pub async fn read(&self, key: &str) -> BlobResult<Vec<u8>> {
        use futures_util::TryStreamExt;
        let mut stream = self.get(key, None).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.try_next().await.map_err(self.read_error())? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// A failed read of a stream already open: the disk's fault locally, the network's
    /// remotely.
    fn read_error(&self) -> impl Fn(std::io::Error) -> BlobError + '_ {
        move |e| match &self.backend {
            Backend::Local(_) => BlobError::Io(e),
            Backend::Remote(_) => BlobError::Unavailable(e.to_string()),
        }
    }

    /// Makes blob `to` a copy of blob `from` (a hard link locally, a server-side copy
    /// remotely: blobs never change, so sharing is safe).
    pub async fn copy(&self, from: &str, to: &str) -> BlobResult<()> {
        match &self.backend {
            Backend::Local(l) => l.copy(from, to),
            Backend::Remote(r) => r.copy(from, to).await,
        }
    }

    /// Removes blob `key`; a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match &self.backend {
            Backend::Local(l) => l.delete(key),
            Backend::Remote(r) => r.delete(key).await,
        }
    }

    /// Removes a blob nothing refers to any more. A failure only leaves an orphan (swept
    /// later), so it is logged rather than returned.
    pub async fn discard(&self, key: &str) {
        if let Err(e) = self.delete(key).await {
            tracing::warn!(%e, key, "could not remove an unreferenced blob");
        }
    }

    pub async fn exists(&self, key: &str) -> BlobResult<bool> {
        match &self.backend {
            Backend::Local(l) => Ok(l.exists(key)),
            Backend::Remote(r) => r.exists(key).await,
        }
    }

    /// Every blob whose key starts with `prefix` (a directory-like prefix ending in `/`).
    pub async fn list(&self, prefix: &str) -> BlobResult<Vec<Listed>> {
        match &self.backend {
            Backend::Local(l) => l.list(prefix),
            Backend::Remote(r) => r.list(prefix).await,
        }
    }

    /// Deletes blobs under `prefix` that `keep` does not name and that are older than
    /// `min_age` (younger ones may be an upload in flight on another node). Returns how many.
    pub async fn sweep(
        &self,
        prefix: &str,
        keep: &std::collections::HashSet<String>,
        min_age: Duration,
    ) -> BlobResult<usize> {
        let mut removed = 0;
        for blob in self.list(prefix).await? {
            if blob.age >= min_age && !keep.contains(&blob.key) {
                self.delete(&blob.key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether the store answers, checked at most every few seconds (for `/health`; never
    /// called on a request's path).
    pub async fn reachable(&self) -> bool {
        if let Some((at, ok)) = *self.health.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < HEALTH_TTL {
                return ok;
            }
        }
        let ok = match &self.backend {
            Backend::Local(l) => l.reachable(),
            Backend::Remote(r) => r.reachable().await,
        };
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), ok));
        ok
    }

    /// The file holding blob `key`, on the local backend (for callers that read by path).
    pub fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        match &self.backend {
            Backend::Local(l) => Some(l.path(key)),
            Backend::Remote(_) => None,
        }
    }
}

/// A new random blob key under `prefix`: objects are named by random ids (not by content)
/// so that replacing and deleting an object never has to ask who else shares its bytes.
pub fn random_key(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Size and MD5 of a stream as it passes, plus the caller's own inspection.
struct Tally<F> {
    md5: md5::Md5,
    size: u64,
    inspect: F,
}

impl<F: FnMut(&[u8])> Tally<F> {
    fn new(inspect: F) -> Self {
        use md5::Digest;
        Tally {
            md5: md5::Md5::new(),
            size: 0,
            inspect,
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        use md5::Digest;
        self.md5.update(chunk);
        (self.inspect)(chunk);
        self.size += chunk.len() as u64;
    }

    fn finish(self) -> Written {
        use md5::Digest;
        Written {
            size: self.size,
            md5: self.md5.finalize().into(),
        }
    }
}
