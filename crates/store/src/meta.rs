//! Function metadata, on SQLite (`meta.db`) or PostgreSQL (the `meta` schema). Every
//! operation runs inside one transaction, so read-modify-write sequences (publish, alias
//! updates, revision checks) are atomic, and a crash leaves either the old state or the new
//! one. On PostgreSQL the transaction is serializable and may run more than once (see
//! [`Meta::tx`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::alias::Alias;
use stratus_core::function::{FunctionConfig, LATEST};
use stratus_core::Result;
use stratus_db::{args, Dialect, Location, Migrations, Param, Schema, StoreSpec};

use crate::{db_fault, fault};

/// SQLite schema migrations, applied in order; the index + 1 is the schema version. Existing
/// `meta.db` files depend on this text: change it only by appending.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE functions (
    name TEXT PRIMARY KEY,
    next_version INTEGER NOT NULL DEFAULT 1,
    published_revision TEXT,
    reserved_concurrency INTEGER,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE versions (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    num INTEGER NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, version)
);
CREATE TABLE aliases (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, name)
);
-- Per-qualifier documents: event invoke configs, resource policies.
CREATE TABLE documents (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (function, kind, qualifier)
);
"#,
    r#"
-- Asynchronous invocations waiting to run (or to be retried). A row is deleted only once its
-- outcome is final, so an acknowledged event survives a crash (at-least-once delivery).
CREATE TABLE async_events (
    request_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    trigger TEXT NOT NULL,
    region TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX async_events_due ON async_events(due_ms);
"#,
    r#"
-- API Gateway v2 HTTP APIs, and their integrations, routes, stages and deployments (one
-- JSON document each, keyed by kind and id, deleted with their API).
CREATE TABLE http_apis (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE http_api_items (
    api TEXT NOT NULL REFERENCES http_apis(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (api, kind, id)
);
"#,
    r#"
-- Which node holds an event's lease (`leased` = 1): a starting node takes back only its own,
-- and another node's only once the lease (`due_ms`) has lapsed.
ALTER TABLE async_events ADD COLUMN holder TEXT;
"#,
    r#"
-- Lambda event source mappings: the mapping as the API renders it (`body`), the poller's
-- position in its source (`checkpoint`, written after a batch succeeds) and which node polls
-- it (`holder`, until `lease_until`).
CREATE TABLE event_source_mappings (
    uuid TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    checkpoint TEXT,
    holder TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX event_source_mappings_function ON event_source_mappings(function);
"#,
    r#"
-- Function URLs: one per function and qualifier ('' for the unqualified function, else an
-- alias), found by the URL id of their host name; deleted with their function (and, by
-- `delete_alias`, with their alias).
CREATE TABLE function_urls (
    url_id TEXT PRIMARY KEY,
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (function, qualifier)
);
"#,
    r#"
-- Lambda layers: the next version number of each layer name (kept after its versions are
-- deleted, so numbers are never reused), and each version as the API renders it plus its
-- permission statements (`body`).
CREATE TABLE layers (
    name TEXT PRIMARY KEY,
    next_version INTEGER NOT NULL
);
CREATE TABLE layer_versions (
    name TEXT NOT NULL REFERENCES layers(name),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
"#,
    r#"
-- The trace header of what queued an event: its lineage reaches the invocation, so recursive
-- loop detection sees chains that pass through the asynchronous queue.
ALTER TABLE async_events ADD COLUMN trace TEXT;
"#,
    r#"
-- Code signing configurations, as the API renders them, by id (`csc-...`).
CREATE TABLE code_signing_configs (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"#,
];

/// The same tables on PostgreSQL (versions counted separately from SQLite's): `BIGINT` for
/// every integer, `BYTEA` for payloads, byte-order (`"C"`) collation on the names and ids
/// listed in order, so pages come back in the order SQLite gives.
const PG_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE functions (
    name TEXT COLLATE "C" PRIMARY KEY,
    next_version BIGINT NOT NULL DEFAULT 1,
    published_revision TEXT,
    reserved_concurrency BIGINT,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE versions (
    function TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version TEXT COLLATE "C" NOT NULL,
    num BIGINT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, version)
);
CREATE INDEX versions_order ON versions(function, num);
CREATE TABLE aliases (
    function TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, name)
);
CREATE TABLE documents (
    function TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    kind TEXT COLLATE "C" NOT NULL,
    qualifier TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (function, kind, qualifier)
);
CREATE TABLE async_events (
    request_id TEXT COLLATE "C" PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BYTEA NOT NULL,
    trigger TEXT NOT NULL,
    region TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    enqueued_ms BIGINT NOT NULL,
    due_ms BIGINT NOT NULL,
    leased BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX async_events_due ON async_events(due_ms);
CREATE TABLE http_apis (
    id TEXT COLLATE "C" PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE http_api_items (
    api TEXT COLLATE "C" NOT NULL REFERENCES http_apis(id) ON DELETE CASCADE,
    kind TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (api, kind, id)
);
"#,
    r#"
ALTER TABLE async_events ADD COLUMN holder TEXT COLLATE "C";
"#,
    r#"
CREATE TABLE event_source_mappings (
    uuid TEXT COLLATE "C" PRIMARY KEY,
    function TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    checkpoint TEXT,
    holder TEXT COLLATE "C",
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_source_mappings_function ON event_source_mappings(function);
"#,
    r#"
CREATE TABLE function_urls (
    url_id TEXT COLLATE "C" PRIMARY KEY,
    function TEXT COLLATE "C" NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (function, qualifier)
);
"#,
    r#"
CREATE TABLE layers (
    name TEXT COLLATE "C" PRIMARY KEY,
    next_version BIGINT NOT NULL
);
CREATE TABLE layer_versions (
    name TEXT COLLATE "C" NOT NULL REFERENCES layers(name),
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
"#,
    r#"
ALTER TABLE async_events ADD COLUMN trace TEXT;
"#,
    r#"
CREATE TABLE code_signing_configs (
    id TEXT COLLATE "C" PRIMARY KEY,
    body TEXT NOT NULL
);
"#,
];

/// The function-level row: what all versions share.
#[derive(Debug, Clone, Default)]
pub struct FunctionRow {
    pub name: String,
    pub next_version: u64,
    /// `$LATEST`'s RevisionId right after the last publish: equal means nothing changed since.
    pub published_revision: Option<String>,
    pub reserved_concurrency: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

/// The metadata database.
pub struct Meta {
    db: stratus_db::Db,
    /// Bumped after every committed transaction that changed a row, so readers can keep
    /// derived copies (see [`Meta::generation`]); on PostgreSQL also when another node
    /// announces a commit (see [`CHANGED`]).
    generation: Arc<AtomicU64>,
}

/// The channel on which a commit that changed metadata is announced to every node sharing
/// the PostgreSQL database, so their cached configurations are dropped.
const CHANGED: &str = "meta_changed";

/// Why a transaction failed: the caller's own error (a 4xx, or a fault already mapped), or
/// the database's (beginning or committing it).
enum Failure {
    Caller(stratus_core::Error),
    Db(stratus_db::Error),
}

impl From<stratus_db::Error> for Failure {
    fn from(e: stratus_db::Error) -> Self {
        Failure::Db(e)
    }
}

impl Meta {
    /// Opens (or creates, or migrates) the metadata store at `location`, with foreign keys
    /// on: deleting a function cascades to its versions, aliases and documents (PostgreSQL
    /// always enforces them).
    pub fn open(location: &Location) -> std::result::Result<Self, stratus_db::Error> {
        let generation = Arc::new(AtomicU64::new(0));
        let bumped = generation.clone();
        stratus_db::listen(location, CHANGED, move || {
            bumped.fetch_add(1, Ordering::AcqRel);
        })?;
        Ok(Meta {
            db: stratus_db::Db::open(location, &Self::spec())?,
            generation,
        })
    }

    /// The store's name, file and migrations (for opening it, and for `stratus migrate`).
    pub fn spec() -> StoreSpec<'static> {
        StoreSpec {
            name: "meta",
            file: "meta.db",
            options: stratus_db::Options { foreign_keys: true },
            migrations: Migrations {
                sqlite: Schema::Versioned(MIGRATIONS),
                postgres: PG_MIGRATIONS,
            },
        }
    }

    /// [`Meta::open`] on the SQLite file `meta.db` in `dir` (tests, tools).
    pub fn open_dir(dir: &Path) -> std::result::Result<Self, stratus_db::Error> {
        Self::open(&Location::Sqlite(dir.to_path_buf()))
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A number that changes whenever a committed transaction has written: a copy of anything
    /// read at generation `g` is still current while this returns `g`. Read it *before* the
    /// transaction whose results are kept, so a write racing with that read only makes the copy
    /// look older than it is.
    ///
    /// On PostgreSQL another node's commit moves it too, when its notification arrives (at
    /// once, normally), and so does a listening connection found broken, which is the only way
    /// a notification is lost: a copy is then stale for at most
    /// [`stratus_db::NOTIFY_FALLBACK`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` in one transaction, committed only if it returns `Ok`. On PostgreSQL a
    /// transaction that loses a serialization race is rolled back and `f` runs again, so `f`
    /// must only read and write through its [`Tx`]: side effects belong after this returns.
    pub fn tx<T>(&self, mut f: impl FnMut(&Tx) -> Result<T>) -> Result<T> {
        let done = self.db.transaction(|t| {
            let out = f(&Tx(t)).map_err(Failure::Caller)?;
            if t.changed() {
                t.notify(CHANGED)?;
            }
            Ok(out)
        });
        let (out, changed) = match done {
            Ok(done) => done,
            Err(Failure::Caller(e)) => return Err(e),
            Err(Failure::Db(e)) => return Err(db_fault("transaction", e)),
        };
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(out)
    }
}

/// Typed reads and writes inside a transaction.
pub struct Tx<'a, 'b>(pub(crate) &'a stratus_db::Tx<'b>);

pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| fault("decode stored document", e))
}

/// Orders versions numerically, `$LATEST` first.
fn version_num(version: &str) -> i64 {
    if version == LATEST {
        0
    } else {
        version.parse().unwrap_or(i64::MAX)
    }
}

/// The two function-level sums, in each dialect: SQLite reads JSON with `json_extract`,
/// PostgreSQL through `jsonb` (and its `SUM` of `BIGINT` is `NUMERIC`, hence the casts).
const SQLITE_COUNT: &str = "SELECT (SELECT COUNT(*) FROM functions),
    (SELECT COALESCE(SUM(json_extract(config, '$.code.size')), 0) FROM versions)";
const PG_COUNT: &str = "SELECT (SELECT COUNT(*) FROM functions),
    (SELECT CAST(COALESCE(SUM(CAST(CAST(config AS jsonb)->'code'->>'size' AS BIGINT)), 0) AS BIGINT)
     FROM versions)";

impl Tx<'_, '_> {
    /// Runs a write, naming `what` in the log if it fails.
    pub(crate) fn exec(&self, what: &str, sql: &str, args: &[&dyn Param]) -> Result<usize> {
        self.0.execute(sql, args).map_err(|e| db_fault(what, e))
    }

    /// The first column of the first row, if any.
    pub(crate) fn text(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Param],
    ) -> Result<Option<String>> {
        self.0
            .query_opt(sql, args, |r| r.get(0))
            .map_err(|e| db_fault(what, e))
    }

    /// The first column of every row, read as a JSON document.
    pub(crate) fn documents_of<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Param],
    ) -> Result<Vec<T>> {
        self.0
            .query_map(sql, args, |r| r.get::<String>(0))
            .map_err(|e| db_fault(what, e))?
            .iter()
            .map(|s| from_json(s))
            .collect()
    }

    /// One JSON document, if the row exists.
    pub(crate) fn document_of<T: DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Param],
    ) -> Result<Option<T>> {
        self.text(what, sql, args)?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn function(&self, name: &str) -> Result<Option<FunctionRow>> {
        self.0
            .query_opt(
                "SELECT next_version, published_revision, reserved_concurrency, tags
                 FROM functions WHERE name = ?1",
                args![name],
                |r| {
                    Ok((
                        r.get::<i64>(0)?,
                        r.get::<Option<String>>(1)?,
                        r.get::<Option<i64>>(2)?,
                        r.get::<String>(3)?,
                    ))
                },
            )
            .map_err(|e| db_fault("read function", e))?
            .map(|(next, published, reserved, tags)| {
                Ok(FunctionRow {
                    name: name.to_string(),
                    next_version: next as u64,
                    published_revision: published,
                    reserved_concurrency: reserved.map(|v| v as u32),
                    tags: from_json(&tags)?,
                })
            })
            .transpose()
    }

    pub fn put_function(&self, row: &FunctionRow) -> Result<()> {
        self.exec(
            "write function",
            "INSERT INTO functions (name, next_version, published_revision, reserved_concurrency, tags)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET next_version = excluded.next_version,
               published_revision = excluded.published_revision,
               reserved_concurrency = excluded.reserved_concurrency, tags = excluded.tags",
            args![
                row.name,
                row.next_version as i64,
                row.published_revision,
                row.reserved_concurrency.map(i64::from),
                to_json(&row.tags)
            ],
        )?;
        Ok(())
    }

    pub fn delete_function(&self, name: &str) -> Result<()> {
        self.exec(
            "delete function",
            "DELETE FROM functions WHERE name = ?1",
            args![name],
        )?;
        Ok(())
    }

    pub fn version(&self, name: &str, version: &str) -> Result<Option<FunctionConfig>> {
        self.document_of(
            "read version",
            "SELECT config FROM versions WHERE function = ?1 AND version = ?2",
            args![name, version],
        )
    }

    pub fn put_version(&self, cfg: &FunctionConfig) -> Result<()> {
        self.exec(
            "write version",
            "INSERT INTO versions (function, version, num, config) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(function, version) DO UPDATE SET num = excluded.num, config = excluded.config",
            args![cfg.name, cfg.version, version_num(&cfg.version), to_json(cfg)],
        )?;
        Ok(())
    }

    pub fn delete_version(&self, name: &str, version: &str) -> Result<()> {
        self.exec(
            "delete version",
            "DELETE FROM versions WHERE function = ?1 AND version = ?2",
            args![name, version],
        )?;
        self.exec(
            "delete version documents",
            "DELETE FROM documents WHERE function = ?1 AND qualifier = ?2",
            args![name, version],
        )?;
        Ok(())
    }

    /// All versions of a function, `$LATEST` first, then by number.
    pub fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>> {
        self.documents_of(
            "query versions",
            "SELECT config FROM versions WHERE function = ?1 ORDER BY num",
            args![name],
        )
    }

    /// The highest published version, if any.
    pub fn last_published(&self, name: &str) -> Result<Option<FunctionConfig>> {
        self.document_of(
            "query versions",
            "SELECT config FROM versions WHERE function = ?1 AND num > 0 ORDER BY num DESC LIMIT 1",
            args![name],
        )
    }

    /// `$LATEST` of every function whose name sorts after `after`, by name.
    pub fn latest_after(&self, after: &str, limit: usize) -> Result<Vec<FunctionConfig>> {
        self.documents_of(
            "query versions",
            "SELECT config FROM versions WHERE version = '$LATEST' AND function > ?1
             ORDER BY function LIMIT ?2",
            args![after, limit as i64],
        )
    }

    /// Every version of every function, ordered by (name, version), after a position.
    pub fn all_versions_after(
        &self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<FunctionConfig>> {
        self.documents_of(
            "query versions",
            "SELECT config FROM versions WHERE (function, num) > (?1, ?2)
             ORDER BY function, num LIMIT ?3",
            args![after.0, after.1, limit as i64],
        )
    }

    /// How many functions there are, and the code size of all their versions together.
    pub fn function_count(&self) -> Result<(u64, u64)> {
        let sql = match self.0.dialect() {
            Dialect::Sqlite => SQLITE_COUNT,
            Dialect::Postgres => PG_COUNT,
        };
        self.0
            .query_opt(sql, args![], |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)))
            .map_err(|e| db_fault("count functions", e))
            .map(|n| n.map_or((0, 0), |(f, s)| (f as u64, s as u64)))
    }

    pub fn total_reserved(&self, except: &str) -> Result<u64> {
        self.0
            .query_opt(
                "SELECT CAST(COALESCE(SUM(reserved_concurrency), 0) AS BIGINT)
                 FROM functions WHERE name != ?1",
                args![except],
                |r| r.get::<i64>(0),
            )
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(|e| db_fault("sum reserved concurrency", e))
    }

    pub fn alias(&self, function: &str, name: &str) -> Result<Option<Alias>> {
        self.document_of(
            "read alias",
            "SELECT config FROM aliases WHERE function = ?1 AND name = ?2",
            args![function, name],
        )
    }

    pub fn put_alias(&self, function: &str, alias: &Alias) -> Result<()> {
        self.exec(
            "write alias",
            "INSERT INTO aliases (function, name, config) VALUES (?1, ?2, ?3)
             ON CONFLICT(function, name) DO UPDATE SET config = excluded.config",
            args![function, alias.name, to_json(alias)],
        )?;
        Ok(())
    }

    pub fn delete_alias(&self, function: &str, name: &str) -> Result<()> {
        self.exec(
            "delete alias",
            "DELETE FROM aliases WHERE function = ?1 AND name = ?2",
            args![function, name],
        )?;
        self.exec(
            "delete alias documents",
            "DELETE FROM documents WHERE function = ?1 AND qualifier = ?2",
            args![function, name],
        )?;
        self.delete_function_url(function, name)?;
        Ok(())
    }

    pub fn aliases(&self, function: &str) -> Result<Vec<Alias>> {
        self.documents_of(
            "query aliases",
            "SELECT config FROM aliases WHERE function = ?1 ORDER BY name",
            args![function],
        )
    }

    /// A per-qualifier document of some kind (`event-invoke-config`, `policy`).
    pub fn document<T: DeserializeOwned>(
        &self,
        function: &str,
        kind: &str,
        qualifier: &str,
    ) -> Result<Option<T>> {
        self.document_of(
            "read document",
            "SELECT body FROM documents WHERE function = ?1 AND kind = ?2 AND qualifier = ?3",
            args![function, kind, qualifier],
        )
    }

    pub fn documents<T: DeserializeOwned>(
        &self,
        function: &str,
        kind: &str,
    ) -> Result<Vec<(String, T)>> {
        self.0
            .query_map(
                "SELECT qualifier, body FROM documents WHERE function = ?1 AND kind = ?2
                 ORDER BY qualifier",
                args![function, kind],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )
            .map_err(|e| db_fault("query documents", e))?
            .into_iter()
            .map(|(q, b)| Ok((q, from_json(&b)?)))
            .collect()
    }

    /// Every document of a kind, of every function: (function, qualifier, body), in order.
    pub fn documents_of_kind<T: DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, String, T)>> {
        self.0
            .query_map(
                "SELECT function, qualifier, body FROM documents WHERE kind = ?1
                 ORDER BY function, qualifier",
                args![kind],
                |r| {
                    Ok((
                        r.get::<String>(0)?,
                        r.get::<String>(1)?,
                        r.get::<String>(2)?,
                    ))
                },
            )
            .map_err(|e| db_fault("query documents", e))?
            .into_iter()
            .map(|(f, q, b)| Ok((f, q, from_json(&b)?)))
            .collect()
    }

    pub fn put_document<T: Serialize>(
        &self,
        function: &str,
        kind: &str,
        qualifier: &str,
        body: &T,
    ) -> Result<()> {
        self.exec(
            "write document",
            "INSERT INTO documents (function, kind, qualifier, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(function, kind, qualifier) DO UPDATE SET body = excluded.body",
            args![function, kind, qualifier, to_json(body)],
        )?;
        Ok(())
    }

    pub fn delete_document(&self, function: &str, kind: &str, qualifier: &str) -> Result<()> {
        self.exec(
            "delete document",
            "DELETE FROM documents WHERE function = ?1 AND kind = ?2 AND qualifier = ?3",
            args![function, kind, qualifier],
        )?;
        Ok(())
    }
}

/// One queued asynchronous invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncEvent {
    pub request_id: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    /// What queued it: `async`, `s3`, `destination`, ...
    pub trigger: String,
    /// Region of the request that queued it (ARNs in records and destinations use it).
    pub region: String,
    pub attempts: u32,
    pub enqueued_ms: i64,
    pub due_ms: i64,
    /// The trace header of what queued it (`X-Amzn-Trace-Id`), lineage included.
    pub trace: Option<String>,
}

/// The due events, oldest first. PostgreSQL locks the rows it returns and skips rows another
/// transaction has locked, so claimers on several nodes take different events instead of
/// waiting for (or conflicting over) the same ones; SQLite has one writer at a time anyway.
const SQLITE_DUE: &str = "SELECT request_id, function, qualifier, payload, trigger, region,
    attempts, enqueued_ms, due_ms, trace
    FROM async_events WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2";
const PG_DUE: &str = "SELECT request_id, function, qualifier, payload, trigger, region,
    attempts, enqueued_ms, due_ms, trace
    FROM async_events WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2 FOR UPDATE SKIP LOCKED";

impl Tx<'_, '_> {
    pub fn enqueue(&self, e: &AsyncEvent) -> Result<()> {
        // Queuing an id again replaces the event, lease included (as SQLite's REPLACE did).
        self.exec(
            "enqueue event",
            "INSERT INTO async_events (request_id, function, qualifier, payload, trigger, region,
               attempts, enqueued_ms, due_ms, trace)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(request_id) DO UPDATE SET function = excluded.function,
               qualifier = excluded.qualifier, payload = excluded.payload,
               trigger = excluded.trigger, region = excluded.region,
               attempts = excluded.attempts, enqueued_ms = excluded.enqueued_ms,
               due_ms = excluded.due_ms, trace = excluded.trace, leased = 0, holder = NULL",
            args![
                e.request_id,
                e.function,
                e.qualifier,
                e.payload,
                e.trigger,
                e.region,
                e.attempts,
                e.enqueued_ms,
                e.due_ms,
                e.trace
            ],
        )?;
        Ok(())
    }

    /// Events due at `now_ms`, leased to `holder` (a node's stable id) until `lease_ms`, so no
    /// other pass or node takes them meanwhile; if the holder dies, they are due again for
    /// every node once the lease runs out.
    pub fn claim_due(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>> {
        let sql = match self.0.dialect() {
            Dialect::Sqlite => SQLITE_DUE,
            Dialect::Postgres => PG_DUE,
        };
        let events = self
            .0
            .query_map(sql, args![now_ms, limit as i64], |r| {
                Ok(AsyncEvent {
                    request_id: r.get(0)?,
                    function: r.get(1)?,
                    qualifier: r.get(2)?,
                    payload: r.get(3)?,
                    trigger: r.get(4)?,
                    region: r.get(5)?,
                    attempts: r.get(6)?,
                    enqueued_ms: r.get(7)?,
                    due_ms: r.get(8)?,
                    trace: r.get(9)?,
                })
            })
            .map_err(|e| db_fault("query events", e))?;
        for e in &events {
            self.exec(
                "lease event",
                "UPDATE async_events SET due_ms = ?2, leased = 1, holder = ?3
                 WHERE request_id = ?1",
                args![e.request_id, lease_ms, holder],
            )?;
        }
        Ok(events)
    }

    /// Puts an event `holder` leased back in the queue, due at `due_ms` after `attempts`
    /// counted attempts. False (and nothing changed) when the lease is no longer `holder`'s:
    /// it was released as a dead node's and another node may be running the event now.
    pub fn reschedule(
        &self,
        holder: &str,
        request_id: &str,
        attempts: u32,
        due_ms: i64,
    ) -> Result<bool> {
        let n = self.exec(
            "reschedule event",
            "UPDATE async_events SET attempts = ?2, due_ms = ?3, leased = 0, holder = NULL
             WHERE request_id = ?1 AND holder = ?4",
            args![request_id, attempts, due_ms, holder],
        )?;
        Ok(n > 0)
    }

    /// Makes due at `now_ms` the events leased by a holder that is not among `live` (the
    /// nodes whose heartbeat is within the cluster lease): that node died, so nobody is
    /// running them. One conditional UPDATE, so of two nodes sweeping at once one releases
    /// each event and the other finds nothing; a live holder keeps its lease. The attempt
    /// that died is not counted (a platform fault, retried as AWS retries a crashed worker's).
    /// Leases without a holder (from before holders were recorded) are left to
    /// [`Tx::release_leases`]. `live` must not be empty: this node is among the live.
    pub fn release_orphaned(&self, live: &[String], now_ms: i64) -> Result<usize> {
        if live.is_empty() {
            return Ok(0);
        }
        let marks: Vec<String> = (0..live.len()).map(|i| format!("?{}", i + 2)).collect();
        let sql = format!(
            "UPDATE async_events SET due_ms = ?1, leased = 0, holder = NULL
             WHERE leased = 1 AND holder IS NOT NULL AND holder NOT IN ({})",
            marks.join(", ")
        );
        let mut params: Vec<&dyn Param> = vec![&now_ms];
        params.extend(live.iter().map(|id| id as &dyn Param));
        self.exec("release orphaned leases", &sql, &params)
    }

    /// Makes the events `holder` had claimed in a previous run (and never finished) due now:
    /// that process is gone, so nobody is running them, and a restarted node retries them
    /// at once instead of waiting out their leases. Other nodes' leases are left alone: those
    /// nodes may be running the events, and take them over only once they lapse. Leases from
    /// before holders were recorded (a single node then) count as this node's.
    pub fn release_leases(&self, holder: &str, now_ms: i64) -> Result<usize> {
        self.exec(
            "release leases",
            "UPDATE async_events SET due_ms = ?1, leased = 0, holder = NULL
             WHERE leased = 1 AND (holder = ?2 OR holder IS NULL)",
            args![now_ms, holder],
        )
    }

    /// Removes an event `holder` leased and concluded. False (and nothing removed) when the
    /// lease is no longer `holder`'s: another node took the event over, and concludes it.
    pub fn finish(&self, holder: &str, request_id: &str) -> Result<bool> {
        let n = self.exec(
            "finish event",
            "DELETE FROM async_events WHERE request_id = ?1 AND holder = ?2",
            args![request_id, holder],
        )?;
        Ok(n > 0)
    }

    pub fn queue_stats(&self) -> Result<(u64, Option<i64>)> {
        self.0
            .query_opt(
                "SELECT COUNT(*), MIN(enqueued_ms) FROM async_events",
                args![],
                |r| Ok((r.get::<i64>(0)? as u64, r.get::<Option<i64>>(1)?)),
            )
            .map(|s| s.unwrap_or((0, None)))
            .map_err(|e| db_fault("queue stats", e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::backends;
    use stratus_core::function::CodeRef;

    fn event(id: &str, due_ms: i64) -> AsyncEvent {
        AsyncEvent {
            request_id: id.into(),
            function: "f".into(),
            qualifier: None,
            payload: b"{}".to_vec(),
            trigger: "async".into(),
            region: "us-east-1".into(),
            attempts: 0,
            enqueued_ms: due_ms,
            due_ms,
            trace: Some(format!("Root=1-00000000-{id};Lineage=a87bd80c:3")),
        }
    }

    fn alias(name: &str, version: &str) -> Alias {
        Alias {
            name: name.into(),
            function_version: version.into(),
            description: String::new(),
            weights: BTreeMap::new(),
            revision_id: "r".into(),
        }
    }

    fn function(name: &str) -> FunctionRow {
        FunctionRow {
            name: name.into(),
            next_version: 1,
            ..Default::default()
        }
    }

    /// Two nodes on one PostgreSQL database: a commit on one moves the other's generation,
    /// so its cached configurations are dropped (on SQLite there is only one node).
    #[test]
    fn another_nodes_commit_moves_this_nodes_generation() {
        for b in backends("nodes") {
            if matches!(b.location, Location::Sqlite(_)) {
                continue;
            }
            let (a, other) = (
                Meta::open(&b.location).unwrap(),
                Meta::open(&b.location).unwrap(),
            );
            let g0 = other.generation();
            a.tx(|tx| tx.put_function(&function("f"))).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while other.generation() == g0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no announcement arrived"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn generation_moves_only_when_a_commit_wrote() {
        for b in backends("generation") {
            let meta = Meta::open(&b.location).unwrap();
            let g0 = meta.generation();
            meta.tx(|tx| tx.function("nope")).unwrap();
            assert_eq!(meta.generation(), g0, "a read leaves it alone");
            let ev = event("r", 1);
            let failed: Result<()> = meta.tx(|tx| {
                tx.enqueue(&ev)?;
                Err(stratus_core::Error::service())
            });
            assert!(failed.is_err());
            assert_eq!(meta.generation(), g0, "a rolled-back write leaves it alone");
            meta.tx(|tx| tx.enqueue(&ev)).unwrap();
            assert_ne!(meta.generation(), g0, "a committed write moves it");
        }
    }

    #[test]
    fn queued_events_are_leased_and_survive_reopen() {
        for b in backends("queue") {
            let ev = event("r1", 10);
            Meta::open(&b.location)
                .unwrap()
                .tx(|tx| tx.enqueue(&ev))
                .unwrap();
            let meta = Meta::open(&b.location).unwrap();
            let claimed = meta.tx(|tx| tx.claim_due("n1", 20, 1000, 10)).unwrap();
            assert_eq!(claimed, vec![ev.clone()], "{:?}", b.location);
            assert!(
                meta.tx(|tx| tx.claim_due("n1", 500, 2000, 10))
                    .unwrap()
                    .is_empty(),
                "leased"
            );
            assert_eq!(
                meta.tx(|tx| tx.claim_due("n1", 1000, 3000, 10))
                    .unwrap()
                    .len(),
                1,
                "lease expired"
            );
            assert_eq!(meta.tx(|tx| tx.queue_stats()).unwrap(), (1, Some(10)));
            assert!(meta.tx(|tx| tx.finish("n1", "r1")).unwrap());
            assert_eq!(meta.tx(|tx| tx.queue_stats()).unwrap(), (0, None));
        }
    }

    #[test]
    fn requeuing_an_event_replaces_it_and_drops_its_lease() {
        for b in backends("requeue") {
            let meta = Meta::open(&b.location).unwrap();
            meta.tx(|tx| tx.enqueue(&event("r", 10))).unwrap();
            assert_eq!(
                meta.tx(|tx| tx.claim_due("n1", 10, 5000, 1)).unwrap().len(),
                1
            );
            let mut again = event("r", 20);
            again.attempts = 2;
            meta.tx(|tx| tx.enqueue(&again)).unwrap();
            assert_eq!(
                meta.tx(|tx| tx.release_leases("n1", 30)).unwrap(),
                0,
                "not leased"
            );
            assert_eq!(
                meta.tx(|tx| tx.claim_due("n1", 20, 5000, 5)).unwrap(),
                vec![again]
            );
            assert_eq!(meta.tx(|tx| tx.release_leases("n1", 30)).unwrap(), 1);
        }
    }

    /// Two nodes sharing one database: a starting node takes back only its own leases; the
    /// other node's event stays with it until the lease lapses, then anyone may take it.
    #[test]
    fn a_lease_is_its_holders_until_it_lapses() {
        for b in backends("holders") {
            let (a, other) = (
                Meta::open(&b.location).unwrap(),
                Meta::open(&b.location).unwrap(),
            );
            a.tx(|tx| tx.enqueue(&event("mine", 10))).unwrap();
            a.tx(|tx| tx.enqueue(&event("theirs", 11))).unwrap();
            let claimed = a.tx(|tx| tx.claim_due("a", 20, 1000, 1)).unwrap();
            assert_eq!(claimed[0].request_id, "mine", "{:?}", b.location);
            assert_eq!(
                other.tx(|tx| tx.claim_due("b", 20, 1000, 1)).unwrap().len(),
                1
            );

            // Node b restarts: it takes back its own lease, not a's.
            let restarted = Meta::open(&b.location).unwrap();
            assert_eq!(restarted.tx(|tx| tx.release_leases("b", 30)).unwrap(), 1);
            let again = restarted.tx(|tx| tx.claim_due("b", 30, 1000, 5)).unwrap();
            let ids: Vec<_> = again.iter().map(|e| e.request_id.as_str()).collect();
            assert_eq!(ids, ["theirs"], "{:?}: a's lease is a's", b.location);
            assert!(
                other
                    .tx(|tx| tx.claim_due("b", 999, 2000, 5))
                    .unwrap()
                    .is_empty(),
                "{:?}: both leases hold until 1000",
                b.location
            );

            // a dies: once its lease lapses, b takes the event over.
            let taken = other.tx(|tx| tx.claim_due("b", 1000, 2000, 5)).unwrap();
            let mut ids: Vec<_> = taken.iter().map(|e| e.request_id.as_str()).collect();
            ids.sort();
            assert_eq!(ids, ["mine", "theirs"], "{:?}", b.location);
            assert_eq!(
                a.tx(|tx| tx.release_leases("a", 1500)).unwrap(),
                0,
                "{:?}: a restarted late finds its event now b's",
                b.location
            );
        }
    }

    /// A node that died mid-event: any live node's sweep makes its events due at once, without
    /// counting the attempt, while a live node's lease stays its own; the dead node, were it
    /// still finishing, can neither conclude nor reschedule what it no longer holds.
    #[test]
    fn a_dead_holders_events_are_released_and_a_live_holders_kept() {
        for b in backends("orphans") {
            let (a, c) = (
                Meta::open(&b.location).unwrap(),
                Meta::open(&b.location).unwrap(),
            );
            a.tx(|tx| tx.enqueue(&event("dead", 10))).unwrap();
            a.tx(|tx| tx.enqueue(&event("alive", 11))).unwrap();
            a.tx(|tx| tx.enqueue(&event("waiting", 50))).unwrap();
            assert_eq!(
                a.tx(|tx| tx.claim_due("a", 20, 90_000, 1)).unwrap().len(),
                1
            );
            assert_eq!(
                c.tx(|tx| tx.claim_due("c", 20, 90_000, 1)).unwrap().len(),
                1
            );

            // Node a is gone from the list: c's sweep releases a's event only.
            let live = vec!["c".to_string()];
            assert_eq!(c.tx(|tx| tx.release_orphaned(&live, 30)).unwrap(), 1);
            assert_eq!(
                c.tx(|tx| tx.release_orphaned(&live, 31)).unwrap(),
                0,
                "{:?}: a second sweeper finds nothing left",
                b.location
            );
            let again = c.tx(|tx| tx.claim_due("c", 30, 90_000, 5)).unwrap();
            let ids: Vec<_> = again.iter().map(|e| e.request_id.as_str()).collect();
            assert_eq!(ids, ["dead"], "{:?}: c's own lease holds", b.location);
            assert_eq!(again[0].attempts, 0, "the attempt that died is not counted");

            // a, not dead after all, ends its attempt: the event is c's now.
            assert!(!a.tx(|tx| tx.finish("a", "dead")).unwrap());
            assert!(!a.tx(|tx| tx.reschedule("a", "dead", 1, 40)).unwrap());
            assert!(c.tx(|tx| tx.reschedule("c", "dead", 1, 60)).unwrap());
            assert!(c.tx(|tx| tx.finish("c", "alive")).unwrap());
            let left = c.tx(|tx| tx.claim_due("c", 100, 90_000, 5)).unwrap();
            let mut ids: Vec<_> = left
                .iter()
                .map(|e| (e.request_id.clone(), e.attempts))
                .collect();
            ids.sort();
            assert_eq!(
                ids,
                [("dead".to_string(), 1), ("waiting".to_string(), 0)],
                "{:?}",
                b.location
            );
            assert_eq!(
                c.tx(|tx| tx.release_orphaned(&[], 200)).unwrap(),
                0,
                "an empty list releases nothing"
            );
        }
    }

    /// Claimers on several threads (on PostgreSQL, several connections, as several nodes
    /// would be) each take different events, and together take them all.
    #[test]
    fn concurrent_claimers_never_take_the_same_event() {
        for b in backends("claimers") {
            let meta = Arc::new(Meta::open(&b.location).unwrap());
            const EVENTS: usize = 200;
            meta.tx(|tx| {
                for i in 0..EVENTS {
                    tx.enqueue(&event(&format!("e{i:03}"), i as i64))?;
                }
                Ok(())
            })
            .unwrap();
            let claimers: Vec<_> = (0..2)
                .map(|_| {
                    let meta = meta.clone();
                    std::thread::spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let got = meta
                                .tx(|tx| tx.claim_due("n1", 1_000, 1_000_000, 7))
                                .unwrap();
                            if got.is_empty() {
                                return mine;
                            }
                            mine.extend(got.into_iter().map(|e| e.request_id));
                        }
                    })
                })
                .collect();
            let mut all: Vec<String> = claimers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            let claimed = all.len();
            all.sort();
            all.dedup();
            assert_eq!(
                claimed,
                all.len(),
                "{:?}: an event claimed twice",
                b.location
            );
            assert_eq!(all.len(), EVENTS, "{:?}: every event claimed", b.location);
        }
    }

    /// Writers that check, then create the same alias: exactly one succeeds, the others see
    /// it exists, on both backends.
    #[test]
    fn concurrent_conditional_writers_have_one_winner() {
        for b in backends("winner") {
            let meta = Arc::new(Meta::open(&b.location).unwrap());
            meta.tx(|tx| tx.put_function(&function("f"))).unwrap();
            let writers: Vec<_> = (0..4)
                .map(|i| {
                    let meta = meta.clone();
                    std::thread::spawn(move || {
                        meta.tx(|tx| {
                            if tx.alias("f", "live")?.is_some() {
                                return Err(stratus_core::Error::conflict("exists"));
                            }
                            tx.put_alias("f", &alias("live", &i.to_string()))
                        })
                    })
                })
                .collect();
            let outcomes: Vec<Result<()>> =
                writers.into_iter().map(|w| w.join().unwrap()).collect();
            let wins = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(wins, 1, "{:?}: {outcomes:?}", b.location);
            for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
                assert_eq!(lost.code, "ResourceConflictException", "{:?}", b.location);
            }
        }
    }

    /// Listing pages by name compares bytes, as SQLite does: upper case before lower case,
    /// and bytes at or past 0x80 after all of ASCII.
    #[test]
    fn names_list_in_byte_order() {
        for b in backends("order") {
            let meta = Meta::open(&b.location).unwrap();
            let names = ["alpha", "Zeta", "é-api", "Beta", "_x", "a"];
            meta.tx(|tx| {
                for n in names {
                    tx.put_function(&function(n))?;
                    tx.put_version(&cfg(n, LATEST))?;
                    tx.put_http_api(n, &n)?;
                }
                Ok(())
            })
            .unwrap();
            let listed: Vec<String> = meta
                .tx(|tx| tx.latest_after("", 10))
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(
                listed,
                ["Beta", "Zeta", "_x", "a", "alpha", "é-api"],
                "{:?}",
                b.location
            );
            let page: Vec<String> = meta
                .tx(|tx| tx.latest_after("Zeta", 2))
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(page, ["_x", "a"]);
            let apis: Vec<String> = meta.tx(|tx| tx.http_apis_after("alpha", 10)).unwrap();
            assert_eq!(apis, ["é-api"], "{:?}", b.location);
        }
    }

    #[test]
    fn sums_over_functions_read_the_stored_documents() {
        for b in backends("sums") {
            let meta = Meta::open(&b.location).unwrap();
            assert_eq!(meta.tx(|tx| tx.function_count()).unwrap(), (0, 0));
            meta.tx(|tx| {
                for (n, reserved) in [("f", Some(5)), ("g", Some(7)), ("h", None)] {
                    tx.put_function(&FunctionRow {
                        reserved_concurrency: reserved,
                        ..function(n)
                    })?;
                    tx.put_version(&cfg(n, LATEST))?;
                }
                tx.put_version(&cfg("f", "1"))
            })
            .unwrap();
            assert_eq!(meta.tx(|tx| tx.function_count()).unwrap(), (3, 40));
            assert_eq!(meta.tx(|tx| tx.total_reserved("f")).unwrap(), 7);
            assert_eq!(meta.tx(|tx| tx.total_reserved("none")).unwrap(), 12);
        }
    }

    #[test]
    fn documents_of_a_kind_span_functions_and_go_with_their_qualifier() {
        for b in backends("kinds") {
            let meta = Meta::open(&b.location).unwrap();
            meta.tx(|tx| {
                for n in ["g", "f"] {
                    tx.put_function(&function(n))?;
                    tx.put_version(&cfg(n, "1"))?;
                    tx.put_document(n, "pc", "1", &3)?;
                }
                tx.put_document("f", "pc", "live", &4)?;
                tx.put_document("f", "other", "1", &5)
            })
            .unwrap();
            let all: Vec<(String, String, i32)> = meta.tx(|tx| tx.documents_of_kind("pc")).unwrap();
            let names: Vec<(&str, &str, i32)> = all
                .iter()
                .map(|(f, q, n)| (f.as_str(), q.as_str(), *n))
                .collect();
            assert_eq!(names, [("f", "1", 3), ("f", "live", 4), ("g", "1", 3)]);
            meta.tx(|tx| tx.delete_version("f", "1")).unwrap();
            meta.tx(|tx| tx.delete_function("g")).unwrap();
            let left: Vec<(String, String, i32)> =
                meta.tx(|tx| tx.documents_of_kind("pc")).unwrap();
            assert_eq!(left, [("f".into(), "live".into(), 4)], "{:?}", b.location);
        }
    }

    fn cfg(name: &str, version: &str) -> FunctionConfig {
        FunctionConfig {
            name: name.into(),
            version: version.into(),
            runtime: Some("python3.12".into()),
            role: "arn:aws:iam::123456789012:role/r".into(),
            handler: Some("app.handler".into()),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            environment: None,
            architectures: vec!["x86_64".into()],
            ephemeral_storage: 512,
            package_type: "Zip".into(),
            tracing_mode: "PassThrough".into(),
            dead_letter_target: None,
            kms_key_arn: None,
            log_format: "Text".into(),
            log_group: None,
            code: CodeRef {
                sha256_hex: "ab".into(),
                sha256_b64: "qw==".into(),
                size: 10,
            },
            last_modified: "x".into(),
            revision_id: "r".into(),
            source_description: None,
            layers: Vec::new(),
            snap_start: Default::default(),
        }
    }

    #[test]
    fn versions_survive_reopen_and_cascade_on_delete() {
        for b in backends("cascade") {
            {
                let meta = Meta::open(&b.location).unwrap();
                meta.tx(|tx| {
                    tx.put_function(&FunctionRow {
                        name: "f".into(),
                        next_version: 3,
                        ..Default::default()
                    })?;
                    tx.put_version(&cfg("f", "$LATEST"))?;
                    tx.put_version(&cfg("f", "2"))?;
                    tx.put_version(&cfg("f", "10"))?;
                    tx.put_alias("f", &alias("live", "2"))?;
                    tx.put_document("f", "policy", "live", &1)?;
                    Ok(())
                })
                .unwrap();
            }
            let meta = Meta::open(&b.location).unwrap();
            let versions: Vec<String> = meta
                .tx(|tx| tx.versions("f"))
                .unwrap()
                .into_iter()
                .map(|c| c.version)
                .collect();
            assert_eq!(versions, ["$LATEST", "2", "10"]);
            assert_eq!(
                meta.tx(|tx| tx.last_published("f"))
                    .unwrap()
                    .unwrap()
                    .version,
                "10"
            );
            assert_eq!(
                meta.tx(|tx| tx.function("f"))
                    .unwrap()
                    .unwrap()
                    .next_version,
                3
            );
            meta.tx(|tx| tx.delete_function("f")).unwrap();
            assert!(meta.tx(|tx| tx.versions("f")).unwrap().is_empty());
            assert!(meta.tx(|tx| tx.aliases("f")).unwrap().is_empty());
            let docs: Vec<(String, i32)> = meta.tx(|tx| tx.documents("f", "policy")).unwrap();
            assert!(docs.is_empty(), "{:?}", b.location);
        }
    }

    #[test]
    fn failed_transaction_changes_nothing() {
        for b in backends("rollback") {
            let meta = Meta::open(&b.location).unwrap();
            let r: Result<()> = meta.tx(|tx| {
                tx.put_function(&function("g"))?;
                Err(stratus_core::Error::invalid("no"))
            });
            assert_eq!(r.unwrap_err().code, "InvalidParameterValueException");
            assert!(meta.tx(|tx| tx.function("g")).unwrap().is_none());
        }
    }

    /// A version of a function that does not exist breaks the foreign key on both backends:
    /// a fault, and nothing written.
    #[test]
    fn a_version_needs_its_function() {
        for b in backends("fk") {
            let meta = Meta::open(&b.location).unwrap();
            let e = meta
                .tx(|tx| tx.put_version(&cfg("ghost", LATEST)))
                .unwrap_err();
            assert_eq!(e.code, "ServiceException", "{:?}", b.location);
            assert!(meta.tx(|tx| tx.versions("ghost")).unwrap().is_empty());
        }
    }

    #[test]
    fn an_unreachable_database_is_a_retryable_service_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let loc = Location::parse(
            Some(&format!("postgres://x@127.0.0.1:{port}/x")),
            "/".as_ref(),
        )
        .unwrap();
        let e = Meta::open(&loc).err().expect("nothing listens");
        assert!(e.is_unavailable(), "{e}");
        let e = crate::db_fault("open", e);
        assert_eq!(e.code, "ServiceException");
        assert!(e.kind.is_fault());
    }
}
