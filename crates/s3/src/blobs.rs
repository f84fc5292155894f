//! Object bytes as immutable files named by random ids: written to a temporary file, synced
//! and renamed into place before any metadata points at them, so a crash leaves at worst an
//! orphan (swept at start-up), never a torn object.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use tokio::io::AsyncWriteExt;

pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A blob as written: its id, size, MD5, and the additional checksums asked for.
pub struct Written {
    pub id: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksum: s3s::dto::Checksum,
}

impl Blobs {
    pub fn open(root: &Path) -> io::Result<Blobs> {
        let dir = root.join("blobs");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Blobs { dir, tmp })
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Streams `body` into a new blob, computing its MD5 and what `hasher` computes.
    pub async fn write<S, E>(&self, mut body: S, mut hasher: ChecksumHasher) -> io::Result<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.tmp.join(&id);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut md5 = Md5::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| io::Error::other(e.to_string()))?;
                md5.update(&chunk);
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            tokio::fs::rename(&tmp, self.path(&id)).await?;
            Ok(Written {
                id: id.clone(),
                size,
                md5: md5.finalize().into(),
                checksum: hasher.finalize(),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// A new blob with the same bytes (blobs never change, so a hard link is a copy).
    pub fn duplicate(&self, id: &str) -> io::Result<String> {
        let new = uuid::Uuid::new_v4().simple().to_string();
        std::fs::hard_link(self.path(id), self.path(&new))?;
        Ok(new)
    }

    /// A new blob holding `len` bytes of blob `id` from `start` (a copied range of a part).
    pub async fn write_range(&self, id: &str, start: u64, len: u64) -> io::Result<Written> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(self.path(id)).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        let written = self.write(stream, ChecksumHasher::default()).await?;
        if written.size != len {
            self.remove(&written.id);
            return Err(io::Error::other(
                "the source blob is shorter than its record",
            ));
        }
        Ok(written)
    }

    /// Concatenates parts into a new blob.
    pub async fn concat(&self, parts: &[String]) -> io::Result<(String, u64)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.tmp.join(&id);
        let mut out = tokio::fs::File::create(&tmp).await?;
        let mut size = 0;
        for p in parts {
            let mut f = tokio::fs::File::open(self.path(p)).await?;
            size += tokio::io::copy(&mut f, &mut out).await?;
        }
        out.sync_all().await?;
        tokio::fs::rename(&tmp, self.path(&id)).await?;
        Ok((id, size))
    }

    pub fn remove(&self, id: &str) {
        let _ = std::fs::remove_file(self.path(id));
    }

    /// Deletes blobs no metadata refers to (left by a crash between write and commit).
    pub fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
