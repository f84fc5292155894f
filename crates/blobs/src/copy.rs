//! Copying blobs from one store to another (`stratus migrate`): every blob under a prefix,
//! each verified by reading the copy back (its size and MD5 must equal the source's), and
//! idempotent: a blob the target already holds with the same size and MD5 is left alone.

use futures_util::TryStreamExt;

use crate::{BlobError, BlobResult, BlobStore, Tally, Written};

/// What was found and done under one prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixCopy {
    pub prefix: String,
    /// Blobs in the source (those `keep` accepted).
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// How many were written (the rest were already identical in the target).
    pub copied: u64,
}

/// Copies every blob under `prefix` that `keep` accepts from `from` to `to`.
pub async fn copy_prefix(
    from: &BlobStore,
    to: &BlobStore,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> BlobResult<PrefixCopy> {
    let mut keys: Vec<String> = from
        .list(prefix)
        .await?
        .into_iter()
        .map(|l| l.key)
        .filter(|k| keep(k))
        .collect();
    keys.sort();
    let mut report = PrefixCopy {
        prefix: prefix.to_string(),
        ..PrefixCopy::default()
    };
    for key in keys {
        let source = digest(from, &key).await?;
        report.blobs += 1;
        report.bytes += source.size;
        if to.exists(&key).await? && digest(to, &key).await? == source {
            continue;
        }
        copy_one(from, to, &key, &source).await?;
        report.copied += 1;
    }
    Ok(report)
}

/// Streams blob `key` into the target and checks what the target then holds.
async fn copy_one(from: &BlobStore, to: &BlobStore, key: &str, source: &Written) -> BlobResult<()> {
    let body = from.get(key, None).await?;
    let written = to.put_stream(key, body, |_| {}).await?;
    let stored = digest(to, key).await?;
    if written != *source || stored != *source {
        return Err(BlobError::Source(format!(
            "blob {key}: the copy holds {} bytes (MD5 {}), the source {} bytes (MD5 {})",
            stored.size,
            hex::encode(stored.md5),
            source.size,
            hex::encode(source.md5)
        )));
    }
    Ok(())
}

/// The size and MD5 of blob `key`, streamed.
pub async fn digest(store: &BlobStore, key: &str) -> BlobResult<Written> {
    let mut stream = store.get(key, None).await?;
    let mut tally = Tally::new(|_: &[u8]| {});
    while let Some(chunk) = stream.try_next().await.map_err(store.read_error())? {
        tally.update(&chunk);
    }
    Ok(tally.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn store(dir: &std::path::Path) -> BlobStore {
        BlobStore::open(&format!("file://{}", dir.display()), dir).unwrap()
    }

    #[tokio::test]
    async fn copies_every_blob_once_and_repairs_a_broken_copy() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (store(a.path()), store(b.path()));
        from.put_bytes("code/aa.zip", Bytes::from_static(b"zip one"))
            .await
            .unwrap();
        from.put_bytes("code/bb.zip", Bytes::from_static(b"zip two!"))
            .await
            .unwrap();
        from.put_bytes("code/notes.txt", Bytes::from_static(b"not a package"))
            .await
            .unwrap();
        let zips = |k: &str| k.ends_with(".zip");

        let first = copy_prefix(&from, &to, "code/", zips).await.unwrap();
        assert_eq!((first.blobs, first.bytes, first.copied), (2, 15, 2));
        assert_eq!(to.read("code/bb.zip").await.unwrap(), b"zip two!");
        assert!(!to.exists("code/notes.txt").await.unwrap());

        let again = copy_prefix(&from, &to, "code/", zips).await.unwrap();
        assert_eq!((again.blobs, again.copied), (2, 0), "already identical");

        // A copy that differs (an earlier run cut short elsewhere) is written again.
        to.put_bytes("code/aa.zip", Bytes::from_static(b"torn"))
            .await
            .unwrap();
        let repaired = copy_prefix(&from, &to, "code/", zips).await.unwrap();
        assert_eq!(repaired.copied, 1);
        assert_eq!(to.read("code/aa.zip").await.unwrap(), b"zip one");
    }
}
