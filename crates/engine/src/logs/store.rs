//! Log groups, streams and events, as CloudWatch Logs presents them, on one of two backends
//! behind the same methods:
//!
//! - [`Files`](super::files::Files): one file per stream in `<data>/logs` (decision 0009),
//!   the default while state is in SQLite: writing an invocation's log is one append.
//! - [`Database`](super::database::Database): tables in the storage layer, used when state is
//!   in PostgreSQL, so that every node sharing the database shows the same logs (decision
//!   0018). Invocation logs are queued in memory and written in batches by a background
//!   writer, so the invoke path never waits on the database; every read first writes what is
//!   queued, so a caller who invoked and then reads sees its lines.
//!
//! Failures of reads and of acknowledged writes are returned as `io::Error`s (the Logs API
//! answers them with its retryable `ServiceUnavailableException`); failures of an
//! invocation's log are logged, never returned: logging must not fail an invocation.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use stratus_db::Location;

use super::database::Database;
use super::files::Files;
use super::metrics::{self, MetricSink, Metrics};
use super::{frame, Captured};

pub(crate) const DAY_MS: i64 = 86_400_000;

/// One stored log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: String,
    /// With the stream, a stable identity that grows in the order events were stored: the
    /// byte offset of the event in its stream file, or its row id in the database.
    pub offset: u64,
}

/// What DescribeLogGroups shows of a group.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: String,
    pub creation_time: i64,
    /// Days, when the group or the platform default sets one.
    pub retention_days: Option<u32>,
    pub stored_bytes: u64,
}

/// What DescribeLogStreams shows of a stream.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub name: String,
    pub creation_time: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub last_ingestion: Option<i64>,
    pub stored_bytes: u64,
}

/// An environment's log stream, kept open between its invocations (no path lookup, open or
/// close per invocation) for as long as no stream file has been deleted or replaced since.
/// Unused by the database backend.
#[derive(Default)]
pub struct StreamFile {
    pub(crate) open: Option<(std::fs::File, u64)>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Splits a function's output into events, one per line or runtime frame ([`frame`]), each
/// stamped with when its first byte arrived (never later than `now`).
pub(crate) fn for_each_line<'a>(log: &'a Captured, now: i64, mut f: impl FnMut(i64, &'a [u8])) {
    frame::for_each_record(&log.text, |offset, record| {
        let ts = log.time_at(offset).unwrap_or(now).min(now);
        f(ts, record);
    });
}

enum Backend {
    Files(Files),
    Database(Database),
}

pub struct LogStore {
    backend: Backend,
    /// Retention for groups that set none (`None`: never expire).
    default_retention: Mutex<Option<u32>>,
    /// Metric filters and EMF lines, evaluated on what is written once a sink is set.
    metrics: Metrics,
}

impl LogStore {
    /// Stream files under `root` (the default backend).
    pub fn new(root: &Path) -> LogStore {
        LogStore::with(Backend::Files(Files::new(root)))
    }

    /// The backend for where state lives: stream files under `files_root` beside SQLite
    /// stores, tables in the database when state is in PostgreSQL.
    pub fn open(location: &Location, files_root: &Path) -> Result<LogStore, stratus_db::Error> {
        match location {
            Location::Sqlite(_) => Ok(LogStore::new(files_root)),
            Location::Postgres(_) => LogStore::database(location),
        }
    }

    /// The database backend at `location`, whichever backend that is (tests run it on both).
    pub fn database(location: &Location) -> Result<LogStore, stratus_db::Error> {
        Ok(LogStore::with(Backend::Database(Database::open(location)?)))
    }

    /// The database backend in the PostgreSQL schema `name` (tests: one schema each).
    #[cfg(test)]
    pub(crate) fn database_named(
        location: &Location,
        name: &str,
    ) -> Result<LogStore, stratus_db::Error> {
        Ok(LogStore::with(Backend::Database(Database::open_named(
            location, name,
        )?)))
    }

    fn with(backend: Backend) -> LogStore {
        LogStore {
            backend,
            default_retention: Mutex::new(None),
            metrics: Metrics::default(),
        }
    }

    /// Hands every metric value the groups' metric filters and EMF lines produce to `sink`
    /// from now on (the hook for a metrics service; see [`super::metrics`]).
    pub fn set_metric_sink(&self, sink: Arc<dyn MetricSink>) {
        self.metrics.set_sink(sink);
    }

    /// Feeds written events to the metric sink, if there is one.
    fn observe<'a>(&self, group: &str, events: impl IntoIterator<Item = (i64, &'a [u8])>) {
        let Some(sink) = self.metrics.sink() else {
            return;
        };
        let filters = self.metrics.filters(group, || {
            self.metric_filters(group)
                .ok()
                .flatten()
                .unwrap_or_default()
        });
        let mut data = Vec::new();
        for (ts, message) in events {
            if let Ok(text) = std::str::from_utf8(message) {
                metrics::evaluate(&filters, ts, text, &mut data);
            }
        }
        if !data.is_empty() {
            sink.record(data);
        }
    }

    /// `files` or `database`, for `/health` and logs.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Files(_) => "files",
            Backend::Database(_) => "database",
        }
    }

    pub fn set_default_retention(&self, days: Option<u32>) {
        *self.default_retention.lock().unwrap() = days;
    }

    fn default_retention(&self) -> Option<u32> {
        *self.default_retention.lock().unwrap()
    }

    /// Appends a function's output: one event per line, each stamped with when its first byte
    /// arrived and ingested now. Creates the group and stream on first use.
    pub fn append(&self, group: &str, stream: &str, log: &Captured) {
        self.append_to(&mut StreamFile::default(), group, stream, log);
    }

    /// Opens (creating) a stream's file ahead of its first lines, so that a cold start opens it
    /// while its runtime initialises rather than after; nothing on the database backend.
    pub fn open_ahead(&self, file: &mut StreamFile, group: &str, stream: &str) {
        if let Backend::Files(f) = &self.backend {
            if let Err(e) = f.open_ahead(file, group, stream) {
                tracing::warn!(%e, group, stream, "could not open function log");
            }
        }
    }

    /// Removes a stream opened ahead that got no line (its environment failed to start: the
    /// failure is logged to its own stream).
    pub fn forget_unused(&self, file: &mut StreamFile, group: &str, stream: &str) {
        if let (Backend::Files(f), Some(_)) = (&self.backend, file.open.take()) {
            f.remove_if_empty(group, stream);
        }
    }

    /// [`LogStore::append`] through a stream file kept open by the caller. On the database
    /// backend this only queues the lines.
    pub fn append_to(&self, file: &mut StreamFile, group: &str, stream: &str, log: &Captured) {
        if log.text.is_empty() {
            return;
        }
        match &self.backend {
            Backend::Files(f) => f.append_to(file, group, stream, log),
            Backend::Database(d) => d.queue(group, stream, log),
        }
        if self.metrics.sink().is_some() {
            let mut events = Vec::new();
            for_each_line(log, now_ms(), |ts, line| events.push((ts, line)));
            self.observe(group, events);
        }
    }

    /// Appends events given as (timestamp, message) to an existing stream, ingested now
    /// (PutLogEvents: written before the call returns). `NotFound` if there is no such stream.
    pub fn put(&self, group: &str, stream: &str, events: &[(i64, String)]) -> io::Result<()> {
        match &self.backend {
            Backend::Files(f) => f.put(group, stream, events)?,
            Backend::Database(d) => d.put(group, stream, events)?,
        }
        self.observe(group, events.iter().map(|(ts, m)| (*ts, m.as_bytes())));
        Ok(())
    }

    /// Writes what the database backend has queued; nothing to do for files.
    pub fn flush(&self) -> io::Result<()> {
        match &self.backend {
            Backend::Files(_) => Ok(()),
            Backend::Database(d) => d.flush(),
        }
    }

    pub fn group_exists(&self, group: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.group_exists(group),
            Backend::Database(d) => d.group_exists(group),
        }
    }

    pub fn stream_exists(&self, group: &str, stream: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.stream_exists(group, stream),
            Backend::Database(d) => d.stream_exists(group, stream),
        }
    }

    /// Creates a group; `false` if it already existed.
    pub fn create_group(&self, group: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.create_group(group),
            Backend::Database(d) => d.create_group(group),
        }
    }

    /// Deletes a group and its streams; `false` if there was none.
    pub fn delete_group(&self, group: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.delete_group(group),
            Backend::Database(d) => d.delete_group(group),
        }
    }

    /// Creates an empty stream in an existing group; `false` if it already existed.
    pub fn create_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.create_stream(group, stream),
            Backend::Database(d) => d.create_stream(group, stream),
        }
    }

    /// Deletes a stream and its events; `false` if there was none.
    pub fn delete_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Files(f) => f.delete_stream(group, stream),
            Backend::Database(d) => d.delete_stream(group, stream),
        }
    }

    /// Sets (`Some`) or removes a group's retention.
    pub fn set_retention(&self, group: &str, days: Option<u32>) -> io::Result<()> {
        match &self.backend {
            Backend::Files(f) => f.set_retention(group, days),
            Backend::Database(d) => d.set_retention(group, days),
        }
    }

    /// A group's metric filters, as the JSON document the Logs API keeps ("" for none);
    /// `None` if the group does not exist.
    pub fn metric_filters(&self, group: &str) -> io::Result<Option<String>> {
        match &self.backend {
            Backend::Files(f) => f.metric_filters(group),
            Backend::Database(d) => d.metric_filters(group),
        }
    }

    /// Replaces a group's metric filters document ("" for none); `false` if the group does
    /// not exist.
    pub fn set_metric_filters(&self, group: &str, doc: &str) -> io::Result<bool> {
        let done = match &self.backend {
            Backend::Files(f) => f.set_metric_filters(group, doc)?,
            Backend::Database(d) => d.set_metric_filters(group, doc)?,
        };
        self.metrics.forget(group);
        Ok(done)
    }

    /// Every group, by name, with the platform's default retention where it sets none.
    pub fn groups(&self) -> io::Result<Vec<GroupInfo>> {
        let mut groups = match &self.backend {
            Backend::Files(f) => f.groups()?,
            Backend::Database(d) => d.groups()?,
        };
        for g in &mut groups {
            self.apply_default(g);
        }
        Ok(groups)
    }

    pub fn group(&self, name: &str) -> io::Result<Option<GroupInfo>> {
        let mut group = match &self.backend {
            Backend::Files(f) => f.group(name)?,
            Backend::Database(d) => d.group(name)?,
        };
        if let Some(g) = &mut group {
            self.apply_default(g);
        }
        Ok(group)
    }

    fn apply_default(&self, g: &mut GroupInfo) {
        g.retention_days = g.retention_days.or(self.default_retention());
    }

    /// The streams of a group (in no set order); `None` if the group does not exist.
    pub fn streams(&self, group: &str) -> io::Result<Option<Vec<StreamInfo>>> {
        match &self.backend {
            Backend::Files(f) => f.streams(group),
            Backend::Database(d) => d.streams(group),
        }
    }

    /// Every event of a stream in stored order; `None` if there is no such stream.
    pub fn events(&self, group: &str, stream: &str) -> io::Result<Option<Vec<Event>>> {
        self.events_between(group, stream, None, None)
    }

    /// The events of a stream with a timestamp within `[start, end]` (either bound optional),
    /// in stored order; `None` if there is no such stream. The database reads only those.
    pub fn events_between(
        &self,
        group: &str,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> io::Result<Option<Vec<Event>>> {
        match &self.backend {
            Backend::Files(f) => Ok(f.events(group, stream)?.map(|mut events| {
                events.retain(|e| {
                    start.is_none_or(|s| e.timestamp >= s) && end.is_none_or(|t| e.timestamp <= t)
                });
                events
            })),
            Backend::Database(d) => d.events(group, stream, start, end),
        }
    }

    /// Removes events older than each group's retention, and streams left with none.
    pub fn sweep(&self) {
        let groups = match self.groups() {
            Ok(groups) => groups,
            Err(e) => {
                tracing::warn!(%e, "log retention sweep could not list groups");
                return;
            }
        };
        let now = now_ms();
        for g in groups {
            let Some(days) = g.retention_days else {
                continue;
            };
            let cutoff = now - i64::from(days) * DAY_MS;
            let expired = match &self.backend {
                Backend::Files(f) => f.expire_group(&g.name, cutoff),
                Backend::Database(d) => d.expire_group(&g.name, cutoff),
            };
            if let Err(e) = expired {
                tracing::warn!(%e, group = g.name, "log retention sweep failed");
            }
        }
    }
}

/// The log store's behaviour on every backend: stream files, the database backend on SQLite
/// and, when `STRATUS_TEST_DATABASE` names a PostgreSQL database, on PostgreSQL (in a schema
/// of its own per test).
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Backend {
        label: String,
        location: Option<(Location, String)>,
        store: LogStore,
        _dir: tempfile::TempDir,
    }

    impl Backend {
        /// Another node on the same database (`None` for stream files).
        fn another(&self) -> Option<LogStore> {
            let (loc, name) = self.location.as_ref()?;
            Some(LogStore::database_named(loc, name).unwrap())
        }
    }

    fn backends(tag: &str) -> Vec<Backend> {
        let files = tempfile::tempdir().unwrap();
        let sqlite = tempfile::tempdir().unwrap();
        let sqlite_loc = Location::Sqlite(sqlite.path().into());
        let mut out = vec![
            Backend {
                label: "files".into(),
                location: None,
                store: LogStore::new(&files.path().join("logs")),
                _dir: files,
            },
            Backend {
                label: "database on sqlite".into(),
                store: LogStore::database_named(&sqlite_loc, "logs").unwrap(),
                location: Some((sqlite_loc, "logs".into())),
                _dir: sqlite,
            },
        ];
        if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
            let loc = Location::parse(Some(&url), Path::new("/")).unwrap();
            let schema = format!("test_logs_{tag}_{}", std::process::id());
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .unwrap();
            out.push(Backend {
                label: "database on postgres".into(),
                store: LogStore::database_named(&loc, &schema).unwrap(),
                location: Some((loc, schema)),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        out
    }

    fn output(text: &str) -> Captured {
        let mut log = Captured::default();
        log.push(text.as_bytes());
        log
    }

    fn messages(store: &LogStore, g: &str, s: &str) -> Vec<String> {
        let events = store.events(g, s).unwrap().unwrap_or_default();
        events.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn lines_become_events_and_round_trip() {
        for b in backends("round") {
            let (store, at) = (&b.store, &b.label);
            let (g, s) = ("/aws/lambda/f", "2026/01/01/[$LATEST]x");
            let mut log = Captured::default();
            log.push(b"START\nhi \\ there\n");
            log.stamps.push((log.text.len(), 7));
            log.text.extend_from_slice(b"END\n");
            store.append(g, s, &log);
            store.put(g, s, &[(5, "two\nlines\r".into())]).unwrap();
            let ev = store.events(g, s).unwrap().unwrap();
            let msgs: Vec<_> = ev.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(
                msgs,
                ["START", "hi \\ there", "END", "two\nlines\r"],
                "{at}"
            );
            assert_eq!(ev[3].timestamp, 5, "{at}");
            // Each line carries the time its first byte arrived.
            assert_eq!(ev[0].timestamp, log.stamps[0].1, "{at}");
            assert_eq!(ev[2].timestamp, 7, "{at}");
            assert!(ev.windows(2).all(|w| w[1].offset > w[0].offset), "{at}");
            assert!(ev[0].ingestion_time >= ev[0].timestamp, "{at}");
            let info = &store.streams(g).unwrap().unwrap()[0];
            assert_eq!(info.name, s, "{at}");
            assert_eq!(info.first_event, Some(ev[0].timestamp), "{at}");
            assert_eq!(info.last_event, Some(5), "{at}");
            assert_eq!(info.last_ingestion, Some(ev[3].ingestion_time), "{at}");
            let groups = store.groups().unwrap();
            assert_eq!(groups.len(), 1, "{at}");
            assert_eq!(groups[0].name, g, "{at}");
            assert_eq!(groups[0].stored_bytes, info.stored_bytes, "{at}");
            assert!(info.stored_bytes > 0, "{at}");
            // The time range is applied by the store.
            let between = store
                .events_between(g, s, Some(5), Some(7))
                .unwrap()
                .unwrap();
            let msgs: Vec<_> = between.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(msgs, ["END", "two\nlines\r"], "{at}");
            assert!(store.events(g, "other").unwrap().is_none(), "{at}");
        }
    }

    #[test]
    fn bytes_a_function_prints_come_back() {
        for b in backends("bytes") {
            let (store, at) = (&b.store, &b.label);
            let mut log = Captured::default();
            log.push(b"nul\0inside\nnot utf-8: \xff\n");
            store.append("g", "s", &log);
            assert_eq!(
                messages(store, "g", "s"),
                ["nul\0inside", "not utf-8: \u{fffd}"],
                "{at}"
            );
        }
    }

    #[test]
    fn appends_after_a_delete_create_the_stream_again() {
        for b in backends("recreate") {
            let (store, at) = (&b.store, &b.label);
            let (g, st) = ("/aws/lambda/f", "2026/01/01/[$LATEST]x");
            let mut file = StreamFile::default();
            store.append_to(&mut file, g, st, &output("one\n"));
            store.append_to(&mut file, g, st, &output("two\n"));
            assert_eq!(messages(store, g, st), ["one", "two"], "{at}");
            assert!(store.delete_stream(g, st).unwrap(), "{at}");
            assert!(!store.delete_stream(g, st).unwrap(), "{at}");
            store.append_to(&mut file, g, st, &output("three\n"));
            assert_eq!(messages(store, g, st), ["three"], "{at}");
            assert!(store.delete_group(g).unwrap(), "{at}");
            assert!(!store.group_exists(g).unwrap(), "{at}");
            store.append_to(&mut file, g, st, &output("four\n"));
            assert_eq!(messages(store, g, st), ["four"], "{at}");
        }
    }

    #[test]
    fn a_delete_removes_what_was_queued_before_it() {
        for b in backends("queued_delete") {
            let (store, at) = (&b.store, &b.label);
            store.append("g", "s", &output("queued\n"));
            assert!(store.delete_group("g").unwrap(), "{at}");
            // Nothing brings the group back: not the writer, not another node's view.
            std::thread::sleep(2 * super::super::database::BATCH_WINDOW);
            assert!(!store.group_exists("g").unwrap(), "{at}");
            if let Some(other) = b.another() {
                assert!(other.groups().unwrap().is_empty(), "{at}");
            }
        }
    }

    #[test]
    fn streams_and_groups_are_created_once_and_put_needs_a_stream() {
        for b in backends("create") {
            let (store, at) = (&b.store, &b.label);
            assert!(store.create_group("g").unwrap(), "{at}");
            assert!(!store.create_group("g").unwrap(), "{at}");
            let e = store.put("g", "s", &[(1, "x".into())]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{at}");
            assert!(!store.stream_exists("g", "s").unwrap(), "{at}");
            assert!(store.create_stream("g", "s").unwrap(), "{at}");
            assert!(!store.create_stream("g", "s").unwrap(), "{at}");
            let info = &store.streams("g").unwrap().unwrap()[0];
            assert_eq!((info.first_event, info.stored_bytes), (None, 0), "{at}");
            assert!(store.streams("none").unwrap().is_none(), "{at}");
            assert!(store.group("none").unwrap().is_none(), "{at}");
            store.set_retention("g", Some(7)).unwrap();
            store.set_default_retention(Some(3));
            assert_eq!(
                store.group("g").unwrap().unwrap().retention_days,
                Some(7),
                "{at}"
            );
            store.set_retention("g", None).unwrap();
            assert_eq!(
                store.group("g").unwrap().unwrap().retention_days,
                Some(3),
                "{at}"
            );
        }
    }

    #[test]
    fn names_are_listed_in_byte_order() {
        for b in backends("order") {
            let (store, at) = (&b.store, &b.label);
            let names = ["b", "B", "a", "é", "Z", "a-", "a/b", "_"];
            for n in names {
                store.create_group(n).unwrap();
                store.create_stream("b", &format!("{n}~")).unwrap();
            }
            let mut sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            sorted.sort();
            let groups: Vec<String> = store
                .groups()
                .unwrap()
                .into_iter()
                .map(|g| g.name)
                .collect();
            assert_eq!(groups, sorted, "{at}");
            let mut streams: Vec<String> = store
                .streams("b")
                .unwrap()
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect();
            // Stream files list in no set order.
            streams.sort();
            let mut expected: Vec<String> = names.iter().map(|n| format!("{n}~")).collect();
            expected.sort();
            assert_eq!(streams, expected, "{at}");
        }
    }

    #[test]
    fn sweep_drops_expired_events_and_empty_streams() {
        for b in backends("sweep") {
            let (store, at) = (&b.store, &b.label);
            store.create_group("g").unwrap();
            store.create_stream("g", "s").unwrap();
            store.create_stream("g", "old").unwrap();
            store.create_stream("g", "empty").unwrap();
            let old = now_ms() - 3 * DAY_MS;
            let new = now_ms();
            store
                .put("g", "s", &[(old, "old".into()), (new, "new".into())])
                .unwrap();
            store.put("g", "old", &[(old, "old".into())]).unwrap();
            store.set_retention("g", Some(1)).unwrap();
            store.sweep();
            assert_eq!(messages(store, "g", "s"), ["new"], "{at}");
            assert!(!store.stream_exists("g", "old").unwrap(), "{at}");
            assert!(store.stream_exists("g", "empty").unwrap(), "{at}");
            let s = store.streams("g").unwrap().unwrap();
            let s = s.iter().find(|s| s.name == "s").unwrap();
            assert_eq!(
                (s.first_event, s.last_event),
                (Some(new), Some(new)),
                "{at}"
            );
        }
    }

    #[test]
    fn the_writer_stores_queued_lines_for_every_node_to_see() {
        for b in backends("writer") {
            let Some(other) = b.another() else { continue };
            let at = &b.label;
            b.store.append("g", "s", &output("one\ntwo\n"));
            // The other node cannot flush this one's queue: the writer stores it by itself.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while messages(&other, "g", "s").is_empty() {
                assert!(std::time::Instant::now() < deadline, "{at}: never written");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert_eq!(messages(&other, "g", "s"), ["one", "two"], "{at}");
        }
    }

    #[test]
    fn what_is_queued_is_stored_when_the_store_closes() {
        for b in backends("close") {
            let Some(other) = b.another() else { continue };
            let at = &b.label;
            b.store.append("g", "s", &output("last words\n"));
            drop(b.store);
            assert_eq!(messages(&other, "g", "s"), ["last words"], "{at}");
        }
    }

    /// Nodes racing to create the same group: exactly one is told it created it; writers
    /// appending to one stream from several threads lose nothing and keep each one's order.
    #[test]
    fn concurrent_writers_lose_nothing_and_one_creator_wins() {
        for b in backends("race") {
            let at = b.label.clone();
            let nodes: Vec<Arc<LogStore>> = match b.another() {
                Some(_) => (0..3).map(|_| Arc::new(b.another().unwrap())).collect(),
                None => vec![Arc::new(b.store)],
            };
            let created: usize = std::thread::scope(|s| {
                let racers: Vec<_> = (0..6)
                    .map(|i| {
                        let node = nodes[i % nodes.len()].clone();
                        s.spawn(move || usize::from(node.create_group("race").unwrap()))
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).sum()
            });
            assert_eq!(created, 1, "{at}");
            // Streams are created in existing groups (the API checks first).
            nodes[0].create_group("g").unwrap();
            std::thread::scope(|s| {
                for w in 0..4 {
                    let node = nodes[w % nodes.len()].clone();
                    s.spawn(move || {
                        for i in 0..25 {
                            if w % 2 == 0 {
                                node.append("g", "shared", &output(&format!("{w} {i}\n")));
                            } else {
                                node.create_stream("g", "shared").ok();
                                node.put("g", "shared", &[(now_ms(), format!("{w} {i}"))])
                                    .unwrap();
                            }
                        }
                    });
                }
            });
            for node in &nodes {
                node.flush().unwrap();
            }
            let events = nodes[0].events("g", "shared").unwrap().unwrap();
            assert_eq!(events.len(), 100, "{at}");
            for w in 0..4 {
                let mine: Vec<String> = events
                    .iter()
                    .filter(|e| e.message.starts_with(&format!("{w} ")))
                    .map(|e| e.message.clone())
                    .collect();
                let expected: Vec<String> = (0..25).map(|i| format!("{w} {i}")).collect();
                assert_eq!(mine, expected, "{at}: writer {w}'s events in order");
            }
            let info = nodes[0].streams("g").unwrap().unwrap();
            let bytes: u64 = info.iter().map(|s| s.stored_bytes).sum();
            assert_eq!(
                nodes[0].group("g").unwrap().unwrap().stored_bytes,
                bytes,
                "{at}"
            );
        }
    }
}
