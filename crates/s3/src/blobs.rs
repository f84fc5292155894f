//! Object bytes as immutable blobs named by random ids (key `objects/blobs/<id>` in the blob
//! store), written whole before any metadata points at them, so a crash leaves at worst an
//! orphan (swept at start-up), never a torn object. Random ids rather than content hashes:
//! replacing or deleting an object then never has to ask who else shares its bytes.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use s3s::checksum::ChecksumHasher;
use stratus_blobs::{BlobError, BlobResult, BlobStore, ByteStream};

/// Where object blobs live in the blob store (today's `objects/blobs/` directory on disk).
const PREFIX: &str = "objects/blobs/";

/// How old an unreferenced blob must be before the start-up sweep removes it from a shared
/// (remote) store: younger ones may be uploads another node is about to commit.
const SHARED_SWEEP_AGE: Duration = Duration::from_secs(3600);

pub struct Blobs {
    store: Arc<BlobStore>,
}

/// A blob as written: its id, size, MD5, and the additional checksums asked for.
pub struct Written {
    pub id: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksum: s3s::dto::Checksum,
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Blobs {
    pub fn new(store: Arc<BlobStore>) -> Blobs {
        Blobs { store }
    }

    pub fn store(&self) -> &Arc<BlobStore> {
        &self.store
    }

    /// Streams `body` into a new blob, computing its MD5 and what `hasher` computes.
    pub async fn write<S, E>(&self, body: S, mut hasher: ChecksumHasher) -> BlobResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = new_id();
        let w = self
            .store
            .put_stream(&key(&id), body, |c| hasher.update(c))
            .await?;
        Ok(Written {
            id,
            size: w.size,
            md5: w.md5,
            checksum: hasher.finalize(),
        })
    }

    /// The bytes of blob `id` in `range` (all of it when none).
    pub async fn read(&self, id: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        self.store.get(&key(id), range).await
    }

    /// All of blob `id` in memory.
    pub async fn read_all(&self, id: &str) -> BlobResult<Vec<u8>> {
        self.store.read(&key(id)).await
    }

    /// A new blob with the same bytes (a hard link on disk, a server-side copy remotely).
    pub async fn duplicate(&self, id: &str) -> BlobResult<String> {
        let new = new_id();
        self.store.copy(&key(id), &key(&new)).await?;
        Ok(new)
    }

    /// A new blob holding `len` bytes of blob `id` from `start` (a copied range of a part).
    pub async fn write_range(
        &self,
        id: &str,
        start: u64,
        len: u64,
        hasher: ChecksumHasher,
    ) -> BlobResult<Written> {
        let source = self.read(id, Some(start..start + len)).await?;
        let written = self.write(source, hasher).await.map_err(our_source)?;
        if written.size != len {
            self.remove(&written.id).await;
            return Err(BlobError::Io(std::io::Error::other(
                "the source blob is shorter than its record",
            )));
        }
        Ok(written)
    }

    /// Concatenates parts into a new blob, streaming one part after another.
    pub async fn concat(&self, parts: &[String]) -> BlobResult<(String, u64)> {
        let store = self.store.clone();
        let keys: Vec<String> = parts.iter().map(|p| key(p)).collect();
        let body = futures_util::stream::iter(keys)
            .then(move |k| {
                let store = store.clone();
                async move {
                    store
                        .get(&k, None)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))
                }
            })
            .try_flatten()
            .boxed();
        let id = new_id();
        let w = self
            .store
            .put_stream(&key(&id), body, |_| {})
            .await
            .map_err(our_source)?;
        Ok((id, w.size))
    }

    /// Removes a blob no metadata refers to any more (after the commit that dropped it).
    pub async fn remove(&self, id: &str) {
        self.store.discard(&key(id)).await;
    }

    /// Deletes blobs no metadata refers to (left by a crash between write and commit).
    pub async fn sweep(&self, keep: &HashSet<String>) -> BlobResult<usize> {
        let keep: HashSet<String> = keep.iter().map(|id| key(id)).collect();
        let min_age = match self.store.kind() {
            "file" => Duration::ZERO,
            _ => SHARED_SWEEP_AGE,
        };
        self.store.sweep(PREFIX, &keep, min_age).await
    }
}

/// When the stream being stored is one of our own blobs, its failure is the store's, not a
/// client's broken body.
fn our_source(e: BlobError) -> BlobError {
    match e {
        BlobError::Source(m) => BlobError::Unavailable(m),
        other => other,
    }
}
