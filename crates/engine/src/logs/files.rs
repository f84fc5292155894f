//! The `Files` backend of the log store (the default, with SQLite state): log groups and
//! streams on disk, as CloudWatch Logs presents them.
//!
//! Layout: `<root>/<group>/<stream>`, names escaped so `/` and a leading `.` cannot leave the
//! folder. Each stream file holds one event per line: `<timestamp> <ingestion time> <message>`,
//! times in epoch milliseconds, the message with `\`, newline and carriage return escaped. A
//! function's output becomes one event per line, as most Lambda runtimes do, so writing an
//! invocation's log stays a single append. A group's creation time and retention sit beside
//! its streams in `:group.json` (stream names cannot contain `:`).
//!
//! Appends share a read lock; only rewrites (the retention sweep) and deletions take the write
//! lock, so a sweep never races an append into a file it is replacing.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::store::{for_each_line, now_ms, Event, GroupInfo, StreamFile, StreamInfo};
use super::Captured;

const GROUP_FILE: &str = ":group.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct GroupMeta {
    creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_days: Option<u32>,
    /// The group's metric filters, a JSON document the Logs API owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric_filters: Option<String>,
}

pub struct Files {
    root: PathBuf,
    /// Appends share it; whatever deletes or rewrites stream files holds it exclusively.
    lock: RwLock<()>,
    /// Bumped (under the exclusive lock) whenever stream files are deleted or replaced, so a
    /// kept-open [`StreamFile`] knows to open its stream again.
    epoch: AtomicU64,
}

impl Files {
    pub fn new(root: &Path) -> Files {
        Files {
            root: root.to_path_buf(),
            lock: RwLock::new(()),
            epoch: AtomicU64::new(0),
        }
    }

    /// [`LogStore::append_to`](super::LogStore::append_to): one write through a stream file
    /// kept open by the caller.
    pub fn append_to(&self, file: &mut StreamFile, group: &str, stream: &str, log: &Captured) {
        let now = now_ms();
        let mut record = Vec::with_capacity(log.text.len() + 32 * log.stamps.len());
        for_each_line(log, now, |ts, line| encode(&mut record, ts, now, line));
        if let Err(e) = self.write_records(group, stream, &record, true, file) {
            tracing::warn!(%e, group, stream, "could not write function log");
        }
    }

    /// Appends events given as (timestamp, message), stamped with `ingestion` (PutLogEvents).
    pub fn put(&self, group: &str, stream: &str, events: &[(i64, String)]) -> io::Result<()> {
        let now = now_ms();
        let mut record = Vec::new();
        for (ts, msg) in events {
            encode(&mut record, *ts, now, msg.as_bytes());
        }
        self.write_records(group, stream, &record, false, &mut StreamFile::default())
    }

    /// Opens (creating) a stream's file into `file` without writing.
    pub fn open_ahead(&self, file: &mut StreamFile, group: &str, stream: &str) -> io::Result<()> {
        self.write_records(group, stream, &[], true, file)
    }

    /// Removes a stream's file if nothing was written to it.
    pub fn remove_if_empty(&self, group: &str, stream: &str) {
        let _shared = self.lock.read().unwrap();
        let path = self.stream_path(group, stream);
        if fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(path);
        }
    }

    fn write_records(
        &self,
        group: &str,
        stream: &str,
        record: &[u8],
        create: bool,
        file: &mut StreamFile,
    ) -> io::Result<()> {
        let _shared = self.lock.read().unwrap();
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some((f, opened)) = &mut file.open {
            if *opened == epoch {
                // One write call per batch: concurrent appends never interleave mid-line.
                return f.write_all(record);
            }
        }
        let path = self.stream_path(group, stream);
        let open = || OpenOptions::new().create(create).append(true).open(&path);
        let mut f = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                self.ensure_group(group)?;
                open()?
            }
            Err(e) => return Err(e),
        };
        f.write_all(record)?;
        file.open = Some((f, epoch));
        Ok(())
    }

    /// Takes the exclusive lock for deleting or replacing stream files.
    fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        let guard = self.lock.write().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        guard
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.root.join(escape(group))
    }

    fn stream_path(&self, group: &str, stream: &str) -> PathBuf {
        self.group_dir(group).join(escape(stream))
    }

    /// Creates the group if it does not exist; whether it was created.
    fn ensure_group(&self, group: &str) -> io::Result<bool> {
        fs::create_dir_all(&self.root)?;
        let dir = self.group_dir(group);
        match fs::create_dir(&dir) {
            Ok(()) => {
                write_meta(
                    &dir,
                    &GroupMeta {
                        creation_time: now_ms(),
                        retention_days: None,
                        metric_filters: None,
                    },
                )?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn group_exists(&self, group: &str) -> io::Result<bool> {
        Ok(self.group_dir(group).is_dir())
    }

    pub fn stream_exists(&self, group: &str, stream: &str) -> io::Result<bool> {
        Ok(self.stream_path(group, stream).is_file())
    }

    /// Creates a group; `false` if it already existed.
    pub fn create_group(&self, group: &str) -> io::Result<bool> {
        let _shared = self.lock.read().unwrap();
        self.ensure_group(group)
    }

    /// Deletes a group and its streams; `false` if there was none.
    pub fn delete_group(&self, group: &str) -> io::Result<bool> {
        let _excl = self.exclusive();
        match fs::remove_dir_all(self.group_dir(group)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates an empty stream in an existing group; `false` if it already existed.
    pub fn create_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        let _shared = self.lock.read().unwrap();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.stream_path(group, stream))
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn delete_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        let _excl = self.exclusive();
        match fs::remove_file(self.stream_path(group, stream)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets (`Some`) or removes a group's retention.
    pub fn set_retention(&self, group: &str, days: Option<u32>) -> io::Result<()> {
        let _excl = self.lock.write().unwrap();
        let dir = self.group_dir(group);
        let mut meta = read_meta(&dir);
        meta.retention_days = days;
        write_meta(&dir, &meta)
    }

    /// The group's metric filters document; `None` if the group does not exist.
    pub fn metric_filters(&self, group: &str) -> io::Result<Option<String>> {
        let _shared = self.lock.read().unwrap();
        let dir = self.group_dir(group);
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(read_meta(&dir).metric_filters.unwrap_or_default()))
    }

    /// Replaces a group's metric filters document; `false` if the group does not exist.
    pub fn set_metric_filters(&self, group: &str, doc: &str) -> io::Result<bool> {
        let _excl = self.lock.write().unwrap();
        let dir = self.group_dir(group);
        if !dir.is_dir() {
            return Ok(false);
        }
        let mut meta = read_meta(&dir);
        meta.metric_filters = Some(doc.to_string()).filter(|d| !d.is_empty());
        write_meta(&dir, &meta).map(|()| true)
    }

    /// Every group, by name.
    pub fn groups(&self) -> io::Result<Vec<GroupInfo>> {
        let mut names = list_names(&self.root, true);
        names.sort();
        Ok(names
            .into_iter()
            .filter_map(|name| self.group_info(&name))
            .collect())
    }

    /// A group, with the retention it sets itself (if any).
    pub fn group(&self, name: &str) -> io::Result<Option<GroupInfo>> {
        Ok(self.group_info(name))
    }

    fn group_info(&self, name: &str) -> Option<GroupInfo> {
        let dir = self.group_dir(name);
        if !dir.is_dir() {
            return None;
        }
        let meta = read_meta(&dir);
        let stored_bytes = fs::read_dir(&dir)
            .map(|it| {
                it.flatten()
                    .filter(|e| e.file_name() != GROUP_FILE)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Some(GroupInfo {
            name: name.to_string(),
            creation_time: meta.creation_time,
            retention_days: meta.retention_days,
            stored_bytes,
        })
    }

    /// The streams of a group (unsorted); `None` if the group does not exist.
    pub fn streams(&self, group: &str) -> io::Result<Option<Vec<StreamInfo>>> {
        let dir = self.group_dir(group);
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(
            list_names(&dir, false)
                .into_iter()
                .filter_map(|name| stream_info(&dir.join(escape(&name)), name).ok())
                .collect(),
        ))
    }

    /// Every event of a stream in stored order; `None` if there is no such stream.
    pub fn events(&self, group: &str, stream: &str) -> io::Result<Option<Vec<Event>>> {
        match fs::read(self.stream_path(group, stream)) {
            Ok(bytes) => Ok(Some(parse(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a group's events older than `cutoff`, rewriting the streams whose first or
    /// last event is, and deleting the streams left with none.
    pub fn expire_group(&self, group: &str, cutoff: i64) -> io::Result<()> {
        let dir = self.group_dir(group);
        for s in self.streams(group)?.unwrap_or_default() {
            match (s.first_event, s.last_event) {
                (Some(first), Some(last)) if first < cutoff || last < cutoff => {
                    let _excl = self.exclusive();
                    let path = dir.join(escape(&s.name));
                    let kept: Vec<u8> = fs::read(&path)?
                        .split_inclusive(|b| *b == b'\n')
                        .filter(|line| decode(line).is_some_and(|(ts, _, _)| ts >= cutoff))
                        .flatten()
                        .copied()
                        .collect();
                    if kept.is_empty() {
                        fs::remove_file(&path)?;
                    } else {
                        let tmp = dir.join(":sweep.tmp");
                        fs::write(&tmp, kept)?;
                        fs::rename(&tmp, &path)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The stream's summary from its first and last lines, without reading the middle.
fn stream_info(path: &Path, name: String) -> io::Result<StreamInfo> {
    let meta = fs::metadata(path)?;
    let created = meta.created().or_else(|_| meta.modified())?;
    let creation_time = created
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let size = meta.len();
    let mut info = StreamInfo {
        name,
        creation_time,
        first_event: None,
        last_event: None,
        last_ingestion: None,
        stored_bytes: size,
    };
    if size == 0 {
        return Ok(info);
    }
    let mut f = fs::File::open(path)?;
    let mut head = vec![0u8; size.min(4096) as usize];
    f.read_exact(&mut head)?;
    info.first_event = head
        .split(|b| *b == b'\n')
        .next()
        .and_then(decode_times)
        .map(|t| t.0);
    // The last line: read a growing tail until it holds a full line.
    let mut window = 4096u64;
    loop {
        let start = size.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if let Some(at) = body.iter().rposition(|b| *b == b'\n') {
            if let Some((ts, ing)) = decode_times(&body[at + 1..]) {
                info.last_event = Some(ts);
                info.last_ingestion = Some(ing);
            }
            break;
        }
        if start == 0 {
            if let Some((ts, ing)) = decode_times(body) {
                info.last_event = Some(ts);
                info.last_ingestion = Some(ing);
            }
            break;
        }
        window *= 4;
    }
    Ok(info)
}

fn list_names(dir: &Path, dirs: bool) -> Vec<String> {
    let Ok(it) = fs::read_dir(dir) else {
        return Vec::new();
    };
    it.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() == dirs))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with(':'))
        .map(|n| unescape(&n))
        .collect()
}

fn read_meta(dir: &Path) -> GroupMeta {
    fs::read(dir.join(GROUP_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_meta(dir: &Path, meta: &GroupMeta) -> io::Result<()> {
    let tmp = dir.join(":group.tmp");
    fs::write(&tmp, serde_json::to_vec(meta)?)?;
    fs::rename(tmp, dir.join(GROUP_FILE))
}

/// Appends one stored line.
fn encode(out: &mut Vec<u8>, ts: i64, ingestion: i64, message: &[u8]) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{ts} {ingestion} ");
    let mut rest = message;
    // Copy runs of plain bytes whole; only `\\`, newline and carriage return are escaped.
    while let Some(i) = rest.iter().position(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\r",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

fn decode_times(line: &[u8]) -> Option<(i64, i64)> {
    let mut parts = line.splitn(3, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let ing = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    Some((ts, ing))
}

/// One stored line (with or without its newline) back into its parts.
fn decode(line: &[u8]) -> Option<(i64, i64, String)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (ts, ing) = decode_times(line)?;
    let mut parts = line.splitn(3, |b| *b == b' ');
    parts.next();
    parts.next();
    let raw = parts.next().unwrap_or_default();
    let mut msg = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(b'n') => msg.push(b'\n'),
                Some(b'r') => msg.push(b'\r'),
                Some(&o) => msg.push(o),
                None => msg.push(b'\\'),
            }
        } else {
            msg.push(b);
        }
    }
    Some((ts, ing, String::from_utf8_lossy(&msg).into_owned()))
}

fn parse(bytes: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut offset = 0u64;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        // A line still being written (no newline yet) is not an event yet.
        if line.ends_with(b"\n") {
            if let Some((timestamp, ingestion_time, message)) = decode(line) {
                events.push(Event {
                    timestamp,
                    ingestion_time,
                    message,
                    offset,
                });
            }
        }
        offset += line.len() as u64;
    }
    events
}

fn escape(name: &str) -> String {
    let s = name.replace('%', "%25").replace('/', "%2F");
    match s.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => s,
    }
}

fn unescape(name: &str) -> String {
    name.replace("%2F", "/")
        .replace("%2E", ".")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogStore;

    #[test]
    fn a_kept_open_stream_follows_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path());
        let (g, st) = ("/aws/lambda/f", "2026/01/01/[$LATEST]x");
        let line = |text: &str| {
            let mut log = Captured::default();
            log.push(text.as_bytes());
            log
        };
        let mut file = StreamFile::default();
        store.append_to(&mut file, g, st, &line("one\n"));
        store.append_to(&mut file, g, st, &line("two\n"));
        let messages = |store: &LogStore| -> Vec<String> {
            let ev = store.events(g, st).unwrap().unwrap_or_default();
            ev.into_iter().map(|e| e.message).collect()
        };
        assert_eq!(messages(&store), ["one", "two"]);
        // Deleted under the open handle: the next append recreates the stream.
        assert!(store.delete_stream(g, st).unwrap());
        store.append_to(&mut file, g, st, &line("three\n"));
        assert_eq!(messages(&store), ["three"]);
        assert!(store.delete_group(g).unwrap());
        store.append_to(&mut file, g, st, &line("four\n"));
        assert_eq!(messages(&store), ["four"]);
    }

    #[test]
    fn names_cannot_escape_the_folder() {
        assert_eq!(escape(".."), "%2E.");
        assert_eq!(unescape(&escape("../a/%2F")), "../a/%2F");
    }
}
