//! The `Database` backend of the log store: groups, streams and events as rows in the storage
//! layer (the `logs` schema on PostgreSQL, `logs.db` on SQLite), so that every node sharing a
//! PostgreSQL database shows the same logs. The server uses it only when state is in
//! PostgreSQL (with SQLite, stream files stay the default, decision 0009); it is written in
//! the SQL both backends speak, and its tests run on both.
//!
//! The invoke path never waits on the database: an invocation's lines are pushed onto an
//! in-memory queue, and a writer thread stores them in batches, each in one transaction. It
//! is woken by a batch's first invocation and by a full batch, and otherwise writes what has
//! gathered after [`BATCH_WINDOW`]. Every read and every other write first stores what is
//! queued (under the same turn the writer takes, so batches land in the order they were
//! queued), so a caller who invoked and then reads sees its lines; PutLogEvents writes
//! directly, as it is acknowledged. A batch that meets an unreachable database stays queued
//! and is tried again; `kill -9` loses at most the batch being gathered.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stratus_db::{args, Db, Location, Migrations, Options, Param, Schema, StoreSpec, Tx};

use super::store::{for_each_line, now_ms, Event, GroupInfo, StreamInfo};
use super::Captured;

const SQLITE: &[&str] = &[
    "
CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    creation_time INTEGER NOT NULL,
    retention_days INTEGER
);
CREATE TABLE streams (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    creation_time INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grp, name)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    grp TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingestion_time INTEGER NOT NULL,
    message BLOB NOT NULL
);
CREATE INDEX events_by_stream_time ON events (grp, stream, ts);
",
    "
ALTER TABLE groups ADD COLUMN metric_filters TEXT;
",
];

/// Names are compared and listed in byte order, as on SQLite; messages are bytes (a function
/// may print a NUL, which PostgreSQL's text cannot hold).
const POSTGRES: &[&str] = &[
    "
CREATE TABLE groups (
    name TEXT COLLATE \"C\" PRIMARY KEY,
    creation_time BIGINT NOT NULL,
    retention_days BIGINT
);
CREATE TABLE streams (
    grp TEXT COLLATE \"C\" NOT NULL,
    name TEXT COLLATE \"C\" NOT NULL,
    creation_time BIGINT NOT NULL,
    first_event BIGINT,
    last_event BIGINT,
    last_ingestion BIGINT,
    stored_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grp, name)
);
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grp TEXT COLLATE \"C\" NOT NULL,
    stream TEXT COLLATE \"C\" NOT NULL,
    ts BIGINT NOT NULL,
    ingestion_time BIGINT NOT NULL,
    message BYTEA NOT NULL
);
CREATE INDEX events_by_stream_time ON events (grp, stream, ts);
",
    "
ALTER TABLE groups ADD COLUMN metric_filters TEXT;
",
];

/// The store as the server opens it; tests use other schema names.
fn spec(name: &str) -> StoreSpec<'_> {
    StoreSpec {
        name,
        file: "logs.db",
        options: Options::default(),
        migrations: Migrations {
            sqlite: Schema::Versioned(SQLITE),
            postgres: POSTGRES,
        },
    }
}

/// How long the writer gathers invocations before writing them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Lines that make a full batch (written without waiting for the window).
const BATCH_LINES: usize = 4096;
/// Queued message bytes beyond which new lines are dropped (a stalled database, not a busy one).
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// The pause before a batch that met an unreachable database is tried again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// What each event counts in `storedBytes` besides its message (PutLogEvents' own measure).
const EVENT_OVERHEAD: i64 = 26;

/// One invocation's lines, waiting for the writer.
struct Pending {
    group: String,
    stream: String,
    ingestion: i64,
    /// The lines' bytes, back to back.
    text: Vec<u8>,
    /// Each line's timestamp and where it ends in `text`.
    lines: Vec<(i64, usize)>,
}

impl Pending {
    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        let mut start = 0;
        self.lines.iter().map(move |&(ts, end)| {
            let message = &self.text[start..end];
            start = end;
            Row {
                ts,
                ingestion: self.ingestion,
                message,
            }
        })
    }
}

/// One event to insert.
struct Row<'a> {
    ts: i64,
    ingestion: i64,
    message: &'a [u8],
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    lines: usize,
    bytes: usize,
    /// Lines dropped because the queue was full, since the last report.
    dropped: usize,
    /// The store is being dropped: the writer stores what is left and stops.
    closed: bool,
}

impl Queue {
    fn take(&mut self) -> Vec<Pending> {
        self.lines = 0;
        self.bytes = 0;
        std::mem::take(&mut self.pending)
    }

    /// Puts a batch that could not be written back in front of what has arrived since.
    fn put_back(&mut self, mut batch: Vec<Pending>) {
        batch.append(&mut self.pending);
        self.lines = batch.iter().map(|p| p.lines.len()).sum();
        self.bytes = batch.iter().map(|p| p.text.len()).sum();
        self.pending = batch;
    }
}

/// What the store and its writer thread share.
struct Shared {
    db: Db,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Held while a batch is taken from the queue and written: batches land in queue order.
    turn: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Database {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

/// A storage failure as the log store reports it (the Logs API answers its retryable fault).
fn io_error(e: stratus_db::Error) -> io::Error {
    io::Error::other(e)
}

impl Database {
    /// Opens (creating, migrating) the `logs` store at `location` and starts its writer.
    pub fn open(location: &Location) -> Result<Database, stratus_db::Error> {
        Database::open_named(location, "logs")
    }

    /// [`Database::open`] in the PostgreSQL schema `name`.
    pub(crate) fn open_named(
        location: &Location,
        name: &str,
    ) -> Result<Database, stratus_db::Error> {
        let shared = Arc::new(Shared {
            db: Db::open(location, &spec(name))?,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            turn: Mutex::new(()),
        });
        let writer = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = shared.clone();
                move || shared.run_writer()
            })
            .map_err(|e| {
                stratus_db::Error::new(
                    "starting the writer of",
                    "the log store",
                    stratus_db::Cause::Invalid(e.to_string()),
                )
            })?;
        Ok(Database {
            shared,
            writer: Some(writer),
        })
    }

    /// Queues an invocation's lines (the invoke path: no database call, no wait).
    pub fn queue(&self, group: &str, stream: &str, log: &Captured) {
        let now = now_ms();
        let mut p = Pending {
            group: group.to_string(),
            stream: stream.to_string(),
            ingestion: now,
            text: Vec::with_capacity(log.text.len()),
            lines: Vec::new(),
        };
        for_each_line(log, now, |ts, line| {
            p.text.extend_from_slice(line);
            p.lines.push((ts, p.text.len()));
        });
        let n = p.lines.len();
        let wake = {
            let mut q = lock(&self.shared.queue);
            if q.bytes + p.text.len() > QUEUE_BYTES {
                if q.dropped == 0 {
                    tracing::warn!(group, stream, "log queue full: dropping function log lines");
                }
                q.dropped += n;
                return;
            }
            q.lines += n;
            q.bytes += p.text.len();
            q.pending.push(p);
            q.pending.len() == 1 || (q.lines >= BATCH_LINES && q.lines - n < BATCH_LINES)
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Stores what is queued now.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.write_queued().map_err(io_error)
    }

    fn tx<T>(&self, f: impl FnMut(&Tx<'_>) -> Result<T, stratus_db::Error>) -> io::Result<T> {
        self.shared.db.tx(f).map_err(io_error)
    }

    /// PutLogEvents: stored before it returns, after what was queued before it.
    pub fn put(&self, group: &str, stream: &str, events: &[(i64, String)]) -> io::Result<()> {
        self.flush()?;
        let now = now_ms();
        let rows: Vec<Row<'_>> = events
            .iter()
            .map(|(ts, msg)| Row {
                ts: *ts,
                ingestion: now,
                message: msg.as_bytes(),
            })
            .collect();
        let found = self.tx(|t| {
            if !exists(t, STREAM_EXISTS, args![group, stream])? {
                return Ok(false);
            }
            insert_events(t, group, stream, &rows)?;
            Ok(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such log stream",
            ))
        }
    }

    pub fn group_exists(&self, group: &str) -> io::Result<bool> {
        self.flush()?;
        self.tx(|t| exists(t, GROUP_EXISTS, args![group]))
    }

    pub fn stream_exists(&self, group: &str, stream: &str) -> io::Result<bool> {
        self.flush()?;
        self.tx(|t| exists(t, STREAM_EXISTS, args![group, stream]))
    }

    pub fn create_group(&self, group: &str) -> io::Result<bool> {
        self.flush()?;
        let now = now_ms();
        self.tx(|t| Ok(ensure_group(t, group, now)? > 0))
    }

    pub fn delete_group(&self, group: &str) -> io::Result<bool> {
        self.flush()?;
        self.tx(|t| {
            t.execute("DELETE FROM events WHERE grp = ?1", args![group])?;
            t.execute("DELETE FROM streams WHERE grp = ?1", args![group])?;
            Ok(t.execute("DELETE FROM groups WHERE name = ?1", args![group])? > 0)
        })
    }

    pub fn create_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        self.flush()?;
        let now = now_ms();
        self.tx(|t| Ok(ensure_stream(t, group, stream, now)? > 0))
    }

    pub fn delete_stream(&self, group: &str, stream: &str) -> io::Result<bool> {
        self.flush()?;
        self.tx(|t| {
            t.execute(
                "DELETE FROM events WHERE grp = ?1 AND stream = ?2",
                args![group, stream],
            )?;
            let n = t.execute(
                "DELETE FROM streams WHERE grp = ?1 AND name = ?2",
                args![group, stream],
            )?;
            Ok(n > 0)
        })
    }

    pub fn set_retention(&self, group: &str, days: Option<u32>) -> io::Result<()> {
        self.tx(|t| {
            t.execute(
                "UPDATE groups SET retention_days = ?2 WHERE name = ?1",
                args![group, days],
            )
        })
        .map(drop)
    }

    /// The group's metric filters document; `None` if the group does not exist.
    pub fn metric_filters(&self, group: &str) -> io::Result<Option<String>> {
        self.tx(|t| {
            t.query_opt(
                "SELECT metric_filters FROM groups WHERE name = ?1",
                args![group],
                |r| Ok(r.get::<Option<String>>(0)?.unwrap_or_default()),
            )
        })
    }

    /// Replaces a group's metric filters document; `false` if the group does not exist.
    pub fn set_metric_filters(&self, group: &str, doc: &str) -> io::Result<bool> {
        let doc = Some(doc).filter(|d| !d.is_empty());
        self.tx(|t| {
            t.execute(
                "UPDATE groups SET metric_filters = ?2 WHERE name = ?1",
                args![group, doc],
            )
        })
        .map(|n| n > 0)
    }

    /// Every group, by name (byte order on both backends).
    pub fn groups(&self) -> io::Result<Vec<GroupInfo>> {
        self.flush()?;
        self.tx(|t| {
            t.query_map(
                &format!("{GROUP_INFO} ORDER BY g.name"),
                args![],
                group_info,
            )
        })
    }

    /// A group, with the retention it sets itself (if any).
    pub fn group(&self, name: &str) -> io::Result<Option<GroupInfo>> {
        self.flush()?;
        self.tx(|t| {
            t.query_opt(
                &format!("{GROUP_INFO} WHERE g.name = ?1"),
                args![name],
                group_info,
            )
        })
    }

    pub fn streams(&self, group: &str) -> io::Result<Option<Vec<StreamInfo>>> {
        self.flush()?;
        self.tx(|t| {
            if !exists(t, GROUP_EXISTS, args![group])? {
                return Ok(None);
            }
            let streams = t.query_map(
                "SELECT name, creation_time, first_event, last_event, last_ingestion, stored_bytes
                 FROM streams WHERE grp = ?1 ORDER BY name",
                args![group],
                |r| {
                    Ok(StreamInfo {
                        name: r.get(0)?,
                        creation_time: r.get(1)?,
                        first_event: r.get(2)?,
                        last_event: r.get(3)?,
                        last_ingestion: r.get(4)?,
                        stored_bytes: r.get(5)?,
                    })
                },
            )?;
            Ok(Some(streams))
        })
    }

    /// A stream's events with timestamps in `[start, end]`, in stored order.
    pub fn events(
        &self,
        group: &str,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> io::Result<Option<Vec<Event>>> {
        self.flush()?;
        let (start, end) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
        self.tx(|t| {
            if !exists(t, STREAM_EXISTS, args![group, stream])? {
                return Ok(None);
            }
            let events = t.query_map(
                "SELECT id, ts, ingestion_time, message FROM events
                 WHERE grp = ?1 AND stream = ?2 AND ts >= ?3 AND ts <= ?4 ORDER BY id",
                args![group, stream, start, end],
                |r| {
                    Ok(Event {
                        offset: r.get(0)?,
                        timestamp: r.get(1)?,
                        ingestion_time: r.get(2)?,
                        message: text(r.get(3)?),
                    })
                },
            )?;
            Ok(Some(events))
        })
    }

    /// Removes a group's events older than `cutoff`, and the streams left with none; the
    /// summaries of the streams that keep some are computed again from what is left.
    pub fn expire_group(&self, group: &str, cutoff: i64) -> io::Result<()> {
        self.tx(|t| {
            let removed = t.execute(
                "DELETE FROM events WHERE grp = ?1 AND ts < ?2",
                args![group, cutoff],
            )?;
            if removed == 0 {
                return Ok(());
            }
            t.execute(
                "DELETE FROM streams WHERE grp = ?1 AND first_event IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM events e WHERE e.grp = streams.grp AND e.stream = streams.name)",
                args![group],
            )?;
            t.execute(SUMMARIZE_STREAMS, args![group])?;
            Ok(())
        })
    }
}

/// Copying logs in from another backend (`stratus migrate`), keeping their times.
impl Database {
    /// Creates or updates a group as the source had it: creation time and own retention.
    pub fn import_group(&self, g: &GroupInfo) -> io::Result<()> {
        self.tx(|t| {
            t.execute(
                "INSERT INTO groups (name, creation_time, retention_days) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET creation_time = excluded.creation_time,
                 retention_days = excluded.retention_days",
                args![g.name, g.creation_time, g.retention_days],
            )
        })
        .map(drop)
    }

    /// Makes stream `s` of `group` (which exists) hold exactly `events`, in order, with
    /// their timestamps and ingestion times: left alone if it already does, otherwise
    /// replaced in one transaction. Whether it wrote.
    pub fn import_stream(&self, group: &str, s: &StreamInfo, events: &[Event]) -> io::Result<bool> {
        if self.holds(group, s, events)? {
            return Ok(false);
        }
        let rows: Vec<Row<'_>> = events
            .iter()
            .map(|e| Row {
                ts: e.timestamp,
                ingestion: e.ingestion_time,
                message: e.message.as_bytes(),
            })
            .collect();
        self.tx(|t| {
            t.execute(
                "DELETE FROM events WHERE grp = ?1 AND stream = ?2",
                args![group, s.name],
            )?;
            t.execute(
                "DELETE FROM streams WHERE grp = ?1 AND name = ?2",
                args![group, s.name],
            )?;
            ensure_stream(t, group, &s.name, s.creation_time)?;
            insert_events(t, group, &s.name, &rows)
        })?;
        Ok(true)
    }

    /// Whether stream `s` already holds exactly `events` (and was created when `s` was).
    fn holds(&self, group: &str, s: &StreamInfo, events: &[Event]) -> io::Result<bool> {
        let created = self.streams(group)?.and_then(|all| {
            all.into_iter()
                .find(|x| x.name == s.name)
                .map(|x| x.creation_time)
        });
        if created != Some(s.creation_time) {
            return Ok(false);
        }
        let stored = self.events(group, &s.name, None, None)?.unwrap_or_default();
        Ok(stored.len() == events.len()
            && stored.iter().zip(events).all(|(a, b)| {
                (a.timestamp, a.ingestion_time, &a.message)
                    == (b.timestamp, b.ingestion_time, &b.message)
            }))
    }
}

impl Drop for Database {
    /// Stores what is still queued before the store goes away.
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Shared {
    /// The writer thread: waits for a batch's first invocation, gathers for [`BATCH_WINDOW`]
    /// (or until the batch is full), writes, and again; stops once the store is dropped and
    /// its queue is written (or cannot be).
    fn run_writer(&self) {
        loop {
            let closed = {
                let mut q = lock(&self.queue);
                while q.pending.is_empty() && !q.closed {
                    q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                if q.pending.is_empty() {
                    return;
                }
                let due = Instant::now() + BATCH_WINDOW;
                while !q.closed && q.lines < BATCH_LINES {
                    let left = due.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    q = self
                        .wake
                        .wait_timeout(q, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                q.closed
            };
            if let Err(e) = self.write_queued() {
                tracing::warn!(%e, "writing function logs (kept queued when the database is unreachable)");
                if closed {
                    let lost = lock(&self.queue).lines;
                    tracing::error!(lines = lost, "function log lines not written at shutdown");
                    return;
                }
                let q = lock(&self.queue);
                let _ = self.wake.wait_timeout_while(q, RETRY_PAUSE, |q| !q.closed);
            }
        }
    }

    /// Takes what is queued and writes it in one transaction. A batch the database could not
    /// be reached for goes back to the front of the queue; one it refused is dropped (and
    /// logged), so it cannot block every later batch.
    fn write_queued(&self) -> Result<(), stratus_db::Error> {
        let _turn = lock(&self.turn);
        let (batch, dropped) = {
            let mut q = lock(&self.queue);
            (q.take(), std::mem::take(&mut q.dropped))
        };
        if dropped > 0 {
            tracing::warn!(
                lines = dropped,
                "function log lines dropped while the log queue was full"
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        let result = write_batch(&self.db, &batch);
        if let Err(e) = &result {
            if e.is_unavailable() {
                lock(&self.queue).put_back(batch);
            } else {
                let lines: usize = batch.iter().map(|p| p.lines.len()).sum();
                tracing::error!(%e, lines, "function log lines refused by the database");
            }
        }
        result
    }
}

/// Writes queued invocations in one transaction, each stream's lines in queue order.
fn write_batch(db: &Db, batch: &[Pending]) -> Result<(), stratus_db::Error> {
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut rows: HashMap<(&str, &str), Vec<Row<'_>>> = HashMap::new();
    for p in batch {
        let key = (p.group.as_str(), p.stream.as_str());
        rows.entry(key)
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .extend(p.rows());
    }
    let now = now_ms();
    db.tx(|t| {
        for key in &order {
            let (group, stream) = *key;
            ensure_group(t, group, now)?;
            ensure_stream(t, group, stream, now)?;
            insert_events(t, group, stream, &rows[key])?;
        }
        Ok(())
    })
}

const GROUP_EXISTS: &str = "SELECT 1 FROM groups WHERE name = ?1";
const STREAM_EXISTS: &str = "SELECT 1 FROM streams WHERE grp = ?1 AND name = ?2";

/// A group with the bytes of its streams (one row per group, so no GROUP BY).
const GROUP_INFO: &str = "SELECT g.name, g.creation_time, g.retention_days,
    CAST(COALESCE((SELECT SUM(s.stored_bytes) FROM streams s WHERE s.grp = g.name), 0) AS BIGINT)
    FROM groups g";

/// A group's streams that have had events, summarised again from the events they keep.
const SUMMARIZE_STREAMS: &str = "UPDATE streams SET
    first_event = (SELECT e.ts FROM events e
        WHERE e.grp = streams.grp AND e.stream = streams.name ORDER BY e.id LIMIT 1),
    last_event = (SELECT e.ts FROM events e
        WHERE e.grp = streams.grp AND e.stream = streams.name ORDER BY e.id DESC LIMIT 1),
    last_ingestion = (SELECT e.ingestion_time FROM events e
        WHERE e.grp = streams.grp AND e.stream = streams.name ORDER BY e.id DESC LIMIT 1),
    stored_bytes = (SELECT CAST(COALESCE(SUM(LENGTH(e.message) + 26), 0) AS BIGINT) FROM events e
        WHERE e.grp = streams.grp AND e.stream = streams.name)
    WHERE grp = ?1 AND first_event IS NOT NULL";

fn group_info(r: &stratus_db::Row<'_>) -> Result<GroupInfo, stratus_db::Error> {
    Ok(GroupInfo {
        name: r.get(0)?,
        creation_time: r.get(1)?,
        retention_days: r.get(2)?,
        stored_bytes: r.get(3)?,
    })
}

fn exists(t: &Tx<'_>, sql: &str, args: &[&dyn Param]) -> Result<bool, stratus_db::Error> {
    Ok(t.query_opt(sql, args, |_| Ok(()))?.is_some())
}

/// Creates a group unless it exists; the rows created (0 or 1).
fn ensure_group(t: &Tx<'_>, group: &str, now: i64) -> Result<usize, stratus_db::Error> {
    t.execute(
        "INSERT INTO groups (name, creation_time) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        args![group, now],
    )
}

/// Creates a stream unless it exists; the rows created (0 or 1).
fn ensure_stream(
    t: &Tx<'_>,
    group: &str,
    stream: &str,
    now: i64,
) -> Result<usize, stratus_db::Error> {
    t.execute(
        "INSERT INTO streams (grp, name, creation_time) VALUES (?1, ?2, ?3)
         ON CONFLICT (grp, name) DO NOTHING",
        args![group, stream, now],
    )
}

/// Rows per INSERT, largest first: a few fixed statement shapes, each prepared once.
const CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// `INSERT INTO events ... VALUES` with `n` rows, the group and stream bound once.
fn insert_sql(n: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        CHUNKS
            .iter()
            .map(|&rows| {
                let values: Vec<String> = (0..rows)
                    .map(|i| format!("(?1, ?2, ?{}, ?{}, ?{})", 3 * i + 3, 3 * i + 4, 3 * i + 5))
                    .collect();
                format!(
                    "INSERT INTO events (grp, stream, ts, ingestion_time, message) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    });
    &all[CHUNKS.iter().position(|&c| c == n).expect("a chunk size")]
}

/// Inserts a stream's new events in order and brings its summary up to date.
fn insert_events(
    t: &Tx<'_>,
    group: &str,
    stream: &str,
    rows: &[Row<'_>],
) -> Result<(), stratus_db::Error> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let mut rest = rows;
    while !rest.is_empty() {
        let n = *CHUNKS.iter().find(|&&c| c <= rest.len()).expect("1 fits");
        let (chunk, after) = rest.split_at(n);
        let mut params: Vec<&dyn Param> = Vec::with_capacity(2 + 3 * n);
        params.push(&group);
        params.push(&stream);
        for row in chunk {
            params.push(&row.ts);
            params.push(&row.ingestion);
            params.push(&row.message);
        }
        t.execute(insert_sql(n), &params)?;
        rest = after;
    }
    let bytes: i64 = rows
        .iter()
        .map(|r| r.message.len() as i64 + EVENT_OVERHEAD)
        .sum();
    t.execute(
        "UPDATE streams SET first_event = COALESCE(first_event, ?3), last_event = ?4,
         last_ingestion = ?5, stored_bytes = stored_bytes + ?6 WHERE grp = ?1 AND name = ?2",
        args![group, stream, first.ts, last.ts, last.ingestion, bytes],
    )?;
    Ok(())
}

/// A stored message as text (a function's output is not always UTF-8).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
