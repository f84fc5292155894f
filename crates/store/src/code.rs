//! Code packages: validated once on upload and stored in the blob store content-addressed by
//! SHA-256 (`code/<hex>.zip`), so any node sharing the blob store can fetch them. The unpacked
//! tree is a local cache, `<cache>/<hex>/`, which execution environments mount read-only: made
//! on upload on the node that took it, and on first use on any other node (or after the cache
//! was removed). A tree is unpacked into a staging directory and renamed into place, so a
//! crash never leaves a half-unpacked package under its final name.

use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};
// A blob store that is down or lost a package is a platform fault for Lambda's callers
// (`ServiceException`, which SDKs retry), reported through `fault`.
use stratus_blobs::BlobStore;
use stratus_core::function::CodeRef;
use stratus_core::{limits, Error, Result};

use crate::fault;

pub struct CodeStore {
    blobs: Arc<BlobStore>,
    cache: PathBuf,
}

const UNZIP_ERROR: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// The blob key of a package: its content names it, so storing it twice is one blob.
fn zip_key(hex: &str) -> String {
    format!("code/{hex}.zip")
}

impl CodeStore {
    /// A code store over `blobs`, unpacking into `cache` on this node.
    pub fn open(blobs: Arc<BlobStore>, cache: &Path) -> Result<Self> {
        fs::create_dir_all(cache).map_err(|e| fault("create code dir", e))?;
        Ok(CodeStore {
            blobs,
            cache: cache.to_path_buf(),
        })
    }

    /// The unpacked package: the directory mounted at `/var/task` (see [`Self::unpacked`]).
    pub fn unpacked_dir(&self, hex: &str) -> PathBuf {
        self.cache.join(hex)
    }

    /// The unpacked package, fetching and unpacking it first when this node does not have it
    /// (a package another node stored, or a cache that was cleared). The usual case is one
    /// `stat`.
    pub async fn unpacked(&self, hex: &str) -> Result<PathBuf> {
        let dir = self.unpacked_dir(hex);
        if dir.is_dir() {
            return Ok(dir);
        }
        // Boxed: a blob store's read is a large future, and every invocation awaits this one.
        Box::pin(self.fetch_unpacked(hex, dir)).await
    }

    /// [`Self::unpacked`] for a package this node does not have unpacked.
    async fn fetch_unpacked(&self, hex: &str, dir: PathBuf) -> Result<PathBuf> {
        let bytes = self.read_zip(hex).await?;
        if hex::encode(Sha256::digest(&bytes)) != hex {
            return Err(fault(
                "fetch package",
                format!("package {hex} does not match its SHA-256"),
            ));
        }
        let staging = tempdir_in(&self.cache)?;
        unpack(&bytes, &staging.0)?;
        self.publish(staging, hex)?;
        Ok(dir)
    }

    pub async fn read_zip(&self, hex: &str) -> Result<Vec<u8>> {
        self.blobs
            .read(&zip_key(hex))
            .await
            .map_err(|e| fault("read package", e))
    }

    /// Validates and stores a zip package; storing the same bytes twice is a no-op.
    pub async fn put_zip(&self, bytes: &[u8]) -> Result<CodeRef> {
        if bytes.len() as u64 > limits::MAX_ZIPPED_BYTES {
            return Err(Error::too_large(format!(
                "Zipped size must be smaller than {} bytes",
                limits::MAX_ZIPPED_BYTES
            )));
        }
        let digest = Sha256::digest(bytes);
        let hex = hex::encode(digest);
        let code = CodeRef {
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
            sha256_hex: hex.clone(),
            size: bytes.len() as u64,
        };
        let key = zip_key(&hex);
        let stored = self
            .blobs
            .exists(&key)
            .await
            .map_err(|e| fault("check package", e))?;
        if stored && self.unpacked_dir(&hex).is_dir() {
            return Ok(code);
        }
        // Unpacking is the validation: a package that cannot be unpacked is not stored.
        let staging = tempdir_in(&self.cache)?;
        unpack(bytes, &staging.0)?;
        if !stored {
            self.blobs
                .put_bytes(&key, bytes::Bytes::copy_from_slice(bytes))
                .await
                .map_err(|e| fault("write package", e))?;
        }
        self.publish(staging, &hex)?;
        Ok(code)
    }

    /// The bytes a package takes unpacked (what counts against the 250 MB of a function and
    /// its layers), fetching it first where this node lacks it.
    pub async fn unzipped_size(&self, hex: &str) -> Result<u64> {
        let dir = self.unpacked(hex).await?;
        tree_size(&dir).map_err(|e| fault("measure package", e))
    }

    /// The `/opt` of an environment whose function uses the layers `shas` (in order): each
    /// package unpacked over the previous ones, so a later layer's file wins. Kept per ordered
    /// list under `<cache>/opt-<sha256 of the list>`, built in a staging directory and renamed
    /// into place as packages are.
    pub async fn layers_tree(&self, shas: &[String]) -> Result<PathBuf> {
        let id = hex::encode(Sha256::digest(shas.join(",").as_bytes()));
        let dir = self.cache.join(format!("opt-{id}"));
        if dir.is_dir() {
            return Ok(dir);
        }
        let mut trees = Vec::with_capacity(shas.len());
        for hex in shas {
            trees.push(self.unpacked(hex).await?);
        }
        let staging = tempdir_in(&self.cache)?;
        // Like unpacking, a copy on the calling thread: it happens once per list and node.
        for tree in &trees {
            overlay(tree, &staging.0)?;
        }
        open_dirs(&staging.0)?;
        match fs::rename(&staging.0, &dir) {
            Ok(()) => staging.keep(),
            Err(_) if dir.is_dir() => {}
            Err(e) => return Err(fault("publish merged layers", e)),
        }
        Ok(dir)
    }

    /// Moves an unpacked tree to its final name.
    fn publish(&self, staging: Staging, hex: &str) -> Result<()> {
        match fs::rename(&staging.0, self.unpacked_dir(hex)) {
            Ok(()) => staging.keep(),
            // Another upload or first use of the same bytes won the race: its copy is
            // identical.
            Err(_) if self.unpacked_dir(hex).is_dir() => {}
            Err(e) => return Err(fault("publish unpacked package", e)),
        }
        Ok(())
    }
}

/// A staging directory removed on drop unless kept.
struct Staging(PathBuf, bool);

impl Staging {
    fn keep(mut self) {
        self.1 = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.1 {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn tempdir_in(root: &Path) -> Result<Staging> {
    let dir = root.join(format!(".staging-{}", uuid_like()));
    fs::create_dir_all(&dir).map_err(|e| fault("create staging dir", e))?;
    Ok(Staging(dir, false))
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// The most entries a package may hold: each becomes a file or directory on disk.
const MAX_ENTRIES: usize = 100_000;
/// The longest entry path, in bytes (Linux's `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;
/// The longest path component, in bytes (Linux's `NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

/// Unpacks `bytes` into `dest`, refusing entries that would escape it (`..`, absolute paths,
/// symlinks) and stopping as soon as the real decompressed size passes the unzipped limit, so a
/// zip bomb costs at most that much disk. Public for the fuzz targets.
pub fn unpack(bytes: &[u8], dest: &Path) -> Result<()> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Error::invalid(UNZIP_ERROR))?;
    if archive.len() > MAX_ENTRIES {
        return Err(Error::invalid(format!(
            "{UNZIP_ERROR} The package holds more than {MAX_ENTRIES} entries."
        )));
    }
    let declared: u64 = (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|f| f.size()))
        .sum();
    if declared > limits::MAX_UNZIPPED_BYTES {
        return Err(unzipped_too_large());
    }
    let mut budget = limits::MAX_UNZIPPED_BYTES;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|_| Error::invalid(UNZIP_ERROR))?;
        let name = entry.name().to_string();
        check_entry_name(&name)?;
        let mode = entry.unix_mode().unwrap_or(0);
        if mode & S_IFMT == S_IFLNK {
            return Err(Error::invalid(format!(
                "{UNZIP_ERROR} Symbolic link entries are not allowed: {name}"
            )));
        }
        let rel = entry.enclosed_name().ok_or_else(|| {
            Error::invalid(format!(
                "{UNZIP_ERROR} Entry escapes the package root: {name}"
            ))
        })?;
        let target = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(|e| fault("unpack dir", e))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| fault("unpack dir", e))?;
        }
        let mut out = File::create(&target).map_err(|e| fault("unpack file", e))?;
        let copied = copy_entry(&mut (&mut entry).take(budget + 1), &mut out)?;
        if copied > budget {
            return Err(unzipped_too_large());
        }
        budget -= copied;
        set_mode(&target, mode)?;
    }
    open_dirs(dest)
}

/// The total size of the regular files under `dir`.
fn tree_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += tree_size(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Copies the unpacked tree `from` over `to`: files replace files of the same path, and an
/// entry of the other kind (a file where a directory was, or the reverse) is replaced whole.
fn overlay(from: &Path, to: &Path) -> Result<()> {
    let err = |e: io::Error| fault("merge layers", e);
    for entry in fs::read_dir(from).map_err(err)? {
        let entry = entry.map_err(err)?;
        let target = to.join(entry.file_name());
        let existing = fs::symlink_metadata(&target).ok();
        if entry.file_type().map_err(err)?.is_dir() {
            if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                fs::remove_file(&target).map_err(err)?;
            }
            fs::create_dir_all(&target).map_err(err)?;
            overlay(&entry.path(), &target)?;
        } else {
            if existing.as_ref().is_some_and(fs::Metadata::is_dir) {
                fs::remove_dir_all(&target).map_err(err)?;
            }
            // `copy` keeps the mode, so an executable stays one.
            fs::copy(entry.path(), &target).map_err(err)?;
        }
    }
    Ok(())
}

/// Makes `dir` and every directory under it 0755. They were made under the platform's umask,
/// and under a strict one (077) the sandbox user, who is not their owner, could not read its
/// own code.
fn open_dirs(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| fault("chmod", e))?;
    for entry in fs::read_dir(dir).map_err(|e| fault("list unpacked dir", e))? {
        let entry = entry.map_err(|e| fault("list unpacked dir", e))?;
        // `file_type` does not follow links, and the package holds none anyway.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_dirs(&entry.path())?;
        }
    }
    Ok(())
}

/// Copies one entry out. A failed read is a broken package (the caller's error); a failed
/// write is the disk's (full, read-only), a platform fault.
fn copy_entry(from: &mut impl Read, to: &mut File) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Error::invalid(UNZIP_ERROR)),
        };
        to.write_all(&buf[..n])
            .map_err(|e| fault("unpack file", e))?;
        copied += n as u64;
    }
}

/// Refuses names the file system would refuse (as a client error, not a platform fault).
fn check_entry_name(name: &str) -> Result<()> {
    let too_long =
        name.len() > MAX_PATH_BYTES || name.split('/').any(|part| part.len() > MAX_NAME_BYTES);
    if too_long {
        let shown: String = name.chars().take(64).collect();
        return Err(Error::invalid(format!(
            "{UNZIP_ERROR} Entry name too long: {shown}..."
        )));
    }
    if name.contains('\0') {
        return Err(Error::invalid(format!(
            "{UNZIP_ERROR} Entry name contains a NUL character."
        )));
    }
    Ok(())
}

fn unzipped_too_large() -> Error {
    Error::invalid(format!(
        "Unzipped size must be smaller than {} bytes",
        limits::MAX_UNZIPPED_BYTES
    ))
}

/// Keeps the executable bits (a `bootstrap` must stay runnable) and drops everything else
/// (setuid, group/other write).
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let exec = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(exec)).map_err(|e| fault("chmod", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn store(dir: &Path) -> CodeStore {
        let blobs = BlobStore::open("", &dir.join("blobs")).unwrap();
        CodeStore::open(Arc::new(blobs), &dir.join("code")).unwrap()
    }

    /// What the store left under its cache directory (the blob store keeps its own).
    fn cached(dir: &Path) -> usize {
        fs::read_dir(dir.join("code")).unwrap().count()
    }

    fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in entries {
            w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[tokio::test]
    async fn stores_and_unpacks_keeping_exec_bits() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let bytes = zip_of(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755),
            ("lib/a.py", b"x=1", 0o644),
        ]);
        let code = store.put_zip(&bytes).await.unwrap();
        assert_eq!(code.size, bytes.len() as u64);
        assert_eq!(code.sha256_b64.len(), 44);
        let root = store.unpacked_dir(&code.sha256_hex);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(root.join("bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read(root.join("lib/a.py")).unwrap(), b"x=1");
        assert_eq!(store.read_zip(&code.sha256_hex).await.unwrap(), bytes);
        assert_eq!(store.put_zip(&bytes).await.unwrap(), code, "idempotent");
    }

    /// The sandbox user owns none of the code: under a strict umask its directories must
    /// still be readable and searchable by others.
    #[test]
    #[allow(unsafe_code)]
    fn unpacked_directories_are_readable_under_a_strict_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("pkg");
        let bytes = zip_of(&[("lib/deep/a.py", b"x=1", 0o644)]);
        // SAFETY: umask only swaps the process's file-creation mask; it is restored below.
        let before = unsafe { libc::umask(0o077) };
        fs::create_dir(&dest).unwrap();
        let unpacked = unpack(&bytes, &dest);
        unsafe { libc::umask(before) };
        unpacked.unwrap();
        for d in [&dest, &dest.join("lib"), &dest.join("lib/deep")] {
            let mode = fs::metadata(d).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755, "{d:?}");
        }
    }

    #[tokio::test]
    async fn a_node_without_the_tree_unpacks_it_from_the_blob_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let bytes = zip_of(&[("bootstrap", b"#!/bin/sh\n", 0o755)]);
        let code = store.put_zip(&bytes).await.unwrap();
        let tree = store.unpacked_dir(&code.sha256_hex);
        fs::remove_dir_all(&tree).unwrap();
        // A second node: the same blob store, an empty cache of its own.
        let blobs = BlobStore::open("", &dir.path().join("blobs")).unwrap();
        let other = CodeStore::open(Arc::new(blobs), &dir.path().join("other")).unwrap();
        for s in [&store, &other] {
            let got = s.unpacked(&code.sha256_hex).await.unwrap();
            assert_eq!(fs::read(got.join("bootstrap")).unwrap(), b"#!/bin/sh\n");
        }
        let missing = "0".repeat(64);
        let e = other.unpacked(&missing).await.unwrap_err();
        assert_eq!(e.code, "ServiceException");
    }

    #[tokio::test]
    async fn a_package_that_does_not_match_its_hash_is_not_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let bytes = zip_of(&[("a", b"1", 0o644)]);
        let code = store.put_zip(&bytes).await.unwrap();
        fs::remove_dir_all(store.unpacked_dir(&code.sha256_hex)).unwrap();
        let other = zip_of(&[("a", b"2", 0o644)]);
        let blob = dir
            .path()
            .join(format!("blobs/code/{}.zip", code.sha256_hex));
        fs::write(blob, other).unwrap();
        assert!(store.unpacked(&code.sha256_hex).await.is_err());
        assert!(!store.unpacked_dir(&code.sha256_hex).exists());
    }

    #[tokio::test]
    async fn rejects_bad_packages_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(
            store.put_zip(b"not a zip").await.unwrap_err().kind,
            stratus_core::Kind::InvalidInput
        );
        let escape = zip_of(&[("../evil", b"x", 0o644)]);
        assert!(store
            .put_zip(&escape)
            .await
            .unwrap_err()
            .message
            .contains("escapes"));
        let abs = zip_of(&[("/etc/evil", b"x", 0o644)]);
        assert_eq!(
            store.put_zip(&abs).await.unwrap_err().kind,
            stratus_core::Kind::InvalidInput
        );
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let link = w.finish().unwrap().into_inner();
        assert!(store
            .put_zip(&link)
            .await
            .unwrap_err()
            .message
            .contains("Symbolic link"));
        let left: Vec<_> = fs::read_dir(dir.path().join("code")).unwrap().collect();
        assert!(
            left.is_empty(),
            "rejected packages leave nothing behind: {left:?}"
        );
        let stored = fs::read_dir(dir.path().join("blobs/code")).map_or(0, |d| d.count());
        assert_eq!(stored, 0, "and store no blob");
    }

    #[tokio::test]
    async fn refuses_overlong_names_and_too_many_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let long_part = format!("{}/f", "d".repeat(MAX_NAME_BYTES + 1));
        let long_path = vec!["d"; MAX_PATH_BYTES / 2 + 1].join("/");
        for name in [long_part.as_str(), long_path.as_str()] {
            let e = store
                .put_zip(&zip_of(&[(name, b"x", 0o644)]))
                .await
                .unwrap_err();
            assert_eq!(e.kind, stratus_core::Kind::InvalidInput, "{e}");
            assert!(e.message.starts_with(UNZIP_ERROR), "{e}");
        }
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("{i}")).collect();
        let entries: Vec<(&str, &[u8], u32)> = names
            .iter()
            .map(|n| (n.as_str(), &b""[..], 0o644))
            .collect();
        let e = store.put_zip(&zip_of(&entries)).await.unwrap_err();
        assert!(e.message.contains("more than 100000 entries"), "{e}");
        // Nothing was unpacked: only the store's root is left.
        assert_eq!(cached(dir.path()), 0);
    }

    #[tokio::test]
    async fn layers_merge_in_order_with_later_files_winning() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let a = store
            .put_zip(&zip_of(&[
                ("python/shared.py", b"a", 0o644),
                ("python/only_a.py", b"a", 0o644),
                ("bin/tool", b"#!/bin/sh\n", 0o755),
            ]))
            .await
            .unwrap();
        let b = store
            .put_zip(&zip_of(&[("python/shared.py", b"b", 0o644)]))
            .await
            .unwrap();
        let order = [a.sha256_hex.clone(), b.sha256_hex.clone()];
        let tree = store.layers_tree(&order).await.unwrap();
        assert_eq!(fs::read(tree.join("python/shared.py")).unwrap(), b"b");
        assert_eq!(fs::read(tree.join("python/only_a.py")).unwrap(), b"a");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(tree.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(store.layers_tree(&order).await.unwrap(), tree, "cached");
        let reversed = [b.sha256_hex.clone(), a.sha256_hex.clone()];
        let other = store.layers_tree(&reversed).await.unwrap();
        assert_eq!(fs::read(other.join("python/shared.py")).unwrap(), b"a");
        assert_eq!(store.unzipped_size(&b.sha256_hex).await.unwrap(), 1);
        // Another node (the same blob store, a cache of its own) builds the same tree from
        // the blob store.
        let blobs = BlobStore::open("", &dir.path().join("blobs")).unwrap();
        let other = CodeStore::open(Arc::new(blobs), &dir.path().join("other")).unwrap();
        let there = other.layers_tree(&order).await.unwrap();
        assert_eq!(fs::read(there.join("python/shared.py")).unwrap(), b"b");
        let missing = ["0".repeat(64)];
        assert_eq!(
            other.layers_tree(&missing).await.unwrap_err().code,
            "ServiceException"
        );
    }

    #[tokio::test]
    async fn stops_a_zip_bomb_at_the_limit() {
        // 300 MB of zeros compresses to ~300 KB; declared sizes are honest here, so this also
        // checks the declared-size guard. The streaming guard is covered by `budget`.
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("zeros", opts).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..260 {
            w.write_all(&chunk).unwrap();
        }
        let bomb = w.finish().unwrap().into_inner();
        let e = store.put_zip(&bomb).await.unwrap_err();
        assert!(e.message.contains("Unzipped size"), "{e}");
    }
}
