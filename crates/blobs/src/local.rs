//! The local-disk backend: blob `a/b/c` is the file `<root>/a/b/c`. Every write goes to a
//! temporary file under `<root>/blob-tmp/`, is synced, then renamed into place, so a blob
//! appears whole or not at all; temporary files a crash left are removed when the store opens.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::{BlobError, BlobResult, ByteStream, Listed, Tally, Written};

/// The directory of writes in progress (on the same file system, so rename is atomic).
const TMP_DIR: &str = "blob-tmp";

pub struct Local {
    root: PathBuf,
    tmp: PathBuf,
}

impl Local {
    /// Opens (creating) `root` and removes the temporary files of interrupted writes.
    pub fn open(root: &Path) -> io::Result<Local> {
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Local {
            root: root.to_path_buf(),
            tmp,
        })
    }

    /// The file of blob `key`. Keys are made by this program, never by clients; a key that
    /// could leave the root is a bug, and is kept inside it anyway.
    pub fn path(&self, key: &str) -> PathBuf {
        let mut p = self.root.clone();
        for part in key.split('/') {
            if !part.is_empty() && part != "." && part != ".." {
                p.push(part);
            }
        }
        p
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
        let tmp = self.tmp.join(uuid::Uuid::new_v4().simple().to_string());
        let target = self.path(key);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut tally = Tally::new(inspect);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| BlobError::Source(e.to_string()))?;
                tally.update(&chunk);
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::rename(&tmp, &target).await?;
            Ok(tally.finish())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(self.path(key))
            .await
            .map_err(|e| not_found_or_io(e, key))?;
        let len = match range {
            None => u64::MAX,
            Some(r) => {
                file.seek(io::SeekFrom::Start(r.start)).await?;
                r.end - r.start
            }
        };
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        Ok(Box::pin(stream))
    }

    /// Blobs never change, so a hard link is a copy that costs no space.
    pub fn copy(&self, from: &str, to: &str) -> BlobResult<()> {
        let target = self.path(to);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::hard_link(self.path(from), target).map_err(|e| not_found_or_io(e, from))
    }

    pub fn delete(&self, key: &str) -> BlobResult<()> {
        match std::fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).is_file()
    }

    /// The files directly under `prefix` (blob directories are flat).
    pub fn list(&self, prefix: &str) -> BlobResult<Vec<Listed>> {
        let dir = self.path(prefix);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let now = SystemTime::now();
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            out.push(Listed {
                key: format!("{}/{name}", prefix.trim_end_matches('/')),
                age,
            });
        }
        Ok(out)
    }

    pub fn reachable(&self) -> bool {
        self.tmp.is_dir()
    }
}

fn not_found_or_io(e: io::Error, key: &str) -> BlobError {
    match e.kind() {
        io::ErrorKind::NotFound => BlobError::NotFound(key.to_string()),
        _ => BlobError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use futures_util::TryStreamExt;

    use crate::BlobStore;

    use super::*;

    fn store(dir: &Path) -> BlobStore {
        BlobStore::open(&format!("file://{}", dir.display()), dir).unwrap()
    }

    async fn read(s: &BlobStore, key: &str, range: Option<Range<u64>>) -> Vec<u8> {
        let chunks: Vec<Bytes> = s
            .get(key, range)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn a_put_is_whole_and_measured() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let chunks = vec![
            Ok::<_, io::Error>(Bytes::from("hello ")),
            Ok("world".into()),
        ];
        let mut seen = 0;
        let w = s
            .put_stream("objects/a", futures_util::stream::iter(chunks), |c| {
                seen += c.len()
            })
            .await
            .unwrap();
        assert_eq!(w.size, 11);
        assert_eq!(seen, 11, "the caller's hasher sees every byte");
        assert_eq!(hex::encode(w.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(read(&s, "objects/a", None).await, b"hello world");
        assert!(s.exists("objects/a").await.unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0,
            "nothing is left in the temporary directory"
        );
    }

    #[tokio::test]
    async fn a_failed_body_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let chunks = vec![Ok(Bytes::from("half")), Err("connection reset")];
        let e = s
            .put_stream("objects/b", futures_util::stream::iter(chunks), |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(e, BlobError::Source(ref m) if m == "connection reset"),
            "{e}"
        );
        assert!(!s.exists("objects/b").await.unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn ranges_copies_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.put_bytes("o/x", Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert_eq!(read(&s, "o/x", Some(2..5)).await, b"234");
        assert_eq!(read(&s, "o/x", Some(9..10)).await, b"9");
        assert_eq!(read(&s, "o/x", Some(4..4)).await, b"");
        s.copy("o/x", "o/y").await.unwrap();
        s.delete("o/x").await.unwrap();
        assert_eq!(
            read(&s, "o/y", None).await,
            b"0123456789",
            "a copy outlives its source"
        );
        assert!(matches!(
            s.get("o/x", None).await.err().unwrap(),
            BlobError::NotFound(_)
        ));
        assert!(matches!(
            s.copy("o/x", "o/z").await.unwrap_err(),
            BlobError::NotFound(_)
        ));
        s.delete("o/x").await.expect("deleting twice is fine");
    }

    #[tokio::test]
    async fn orphans_are_swept_and_interrupted_writes_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for k in ["o/keep", "o/orphan"] {
            s.put_bytes(k, Bytes::from_static(b"x")).await.unwrap();
        }
        let keep: HashSet<String> = ["o/keep".to_string()].into();
        // Too young to sweep: another writer may be about to commit it.
        assert_eq!(
            s.sweep("o/", &keep, Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.sweep("o/", &keep, Duration::ZERO).await.unwrap(), 1);
        assert!(s.exists("o/keep").await.unwrap());
        assert!(!s.exists("o/orphan").await.unwrap());
        std::fs::write(dir.path().join(TMP_DIR).join("torn"), b"half").unwrap();
        let _reopened = store(dir.path());
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn keys_stay_inside_the_root() {
        let l = Local {
            root: "/r".into(),
            tmp: "/r/blob-tmp".into(),
        };
        let p = l.path("../../etc/passwd");
        assert!(p.starts_with(&l.root), "{p:?}");
    }

    #[tokio::test]
    async fn health_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert!(s.reachable().await);
        std::fs::remove_dir_all(dir.path().join(TMP_DIR)).unwrap();
        assert!(s.reachable().await, "the cached answer is reused");
    }
}
