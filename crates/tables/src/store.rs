//! Where the tables live: one row per table definition and one per item, keyed by (table,
//! partition key bytes, sort key bytes) so that the database's index gives Query its ranges
//! and order. On SQLite that is the file `tables.db` (WAL, `synchronous=NORMAL`: a committed
//! write survives the process being killed); on PostgreSQL the schema `tables`.
//!
//! Every operation runs as one transaction of the storage layer, seen here as a [`Db`]: on
//! PostgreSQL the transaction is serializable, so a read-check-write (a conditional write,
//! TransactWriteItems) is atomic even when other nodes write at the same time, and it may run
//! more than once; on SQLite one connection makes operations take turns.
//!
//! PostgreSQL keys its items by a digest of the partition key (`pkd`) rather than its bytes:
//! an index entry there holds at most about 2.7 KB, and a 2048-byte partition key beside a
//! 1024-byte sort key would not fit. Query still reads one partition in sort-key byte order
//! (BYTEA compares bytewise, as SQLite's BLOB does); Scan visits partitions in digest order,
//! which DynamoDB leaves unspecified anyway.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use stratus_core::{Error, Kind};
use stratus_db::{args, Dialect, Migrations, Options, Schema, StoreSpec, Tx};

use crate::table::Table;
use crate::value::{item_size, item_to_json, stored_item_from_json, Item};

/// SQLite's schema, unchanged from the files written before PostgreSQL (it has always been
/// idempotent); `tokens`, `streams` and `stream_records` are newer and created at open like
/// the rest. A stream is keyed by its table and label (the ISO time it was enabled); its
/// records by their sequence number, which `streams.last_seq` hands out: the row's lock
/// orders writers, so sequence numbers follow commit order on both backends.
const SQLITE: &str = "
CREATE TABLE IF NOT EXISTS tables (
    name TEXT PRIMARY KEY,
    def  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    tbl  TEXT NOT NULL,
    pk   BLOB NOT NULL,
    sk   BLOB NOT NULL,
    item TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    token   TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    tbl      TEXT NOT NULL,
    label    TEXT NOT NULL,
    view     TEXT NOT NULL,
    keys     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    disabled INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0,
    trimmed  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, label)
);
CREATE TABLE IF NOT EXISTS stream_records (
    tbl    TEXT NOT NULL,
    label  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tbl, label, seq)
) WITHOUT ROWID;
";

const POSTGRES: &[&str] = &[
    "
CREATE TABLE tables (
    name TEXT COLLATE \"C\" PRIMARY KEY,
    def  TEXT NOT NULL
);
CREATE TABLE items (
    tbl  TEXT COLLATE \"C\" NOT NULL,
    pk   BYTEA NOT NULL,
    sk   BYTEA NOT NULL,
    item TEXT NOT NULL,
    size BIGINT NOT NULL,
    pkd  BYTEA GENERATED ALWAYS AS (sha256(pk)) STORED,
    PRIMARY KEY (tbl, pkd, sk)
);
CREATE TABLE tokens (
    token   TEXT COLLATE \"C\" PRIMARY KEY,
    request TEXT NOT NULL,
    at      BIGINT NOT NULL
);
",
    "
CREATE TABLE streams (
    tbl      TEXT COLLATE \"C\" NOT NULL,
    label    TEXT COLLATE \"C\" NOT NULL,
    view     TEXT NOT NULL,
    keys     TEXT NOT NULL,
    created  BIGINT NOT NULL,
    disabled BIGINT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    trimmed  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, label)
);
CREATE TABLE stream_records (
    tbl    TEXT COLLATE \"C\" NOT NULL,
    label  TEXT COLLATE \"C\" NOT NULL,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tbl, label, seq)
);
",
];

/// The tables store on either backend; `name` is its PostgreSQL schema (`tables`).
pub fn spec(name: &str) -> StoreSpec<'_> {
    StoreSpec {
        name,
        file: "tables.db",
        options: Options::default(),
        migrations: Migrations {
            sqlite: Schema::Idempotent(SQLITE),
            postgres: POSTGRES,
        },
    }
}

/// The statements whose text depends on the backend: how an item's partition is matched,
/// and the order Scan walks in.
struct Sql {
    get: &'static str,
    put: &'static str,
    delete: &'static str,
    scan_all: &'static str,
    scan_after: &'static str,
    /// `WHERE` of Query before its sort-key bounds.
    query: &'static str,
}

const SQLITE_SQL: Sql = Sql {
    get: "SELECT item FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
    put: "INSERT INTO items (tbl, pk, sk, item, size) VALUES (?1, ?2, ?3, ?4, ?5) \
          ON CONFLICT (tbl, pk, sk) DO UPDATE SET item = excluded.item, size = excluded.size",
    delete: "DELETE FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
    scan_all: "SELECT pk, sk, item FROM items WHERE tbl = ?1 ORDER BY pk, sk",
    scan_after: "SELECT pk, sk, item FROM items WHERE tbl = ?1 AND (pk, sk) > (?2, ?3) \
                 ORDER BY pk, sk",
    query: "SELECT sk, item FROM items WHERE tbl = ?1 AND pk = ?2",
};

const POSTGRES_SQL: Sql = Sql {
    get: "SELECT item FROM items WHERE tbl = ?1 AND pkd = sha256(?2) AND pk = ?2 AND sk = ?3",
    put: "INSERT INTO items (tbl, pk, sk, item, size) VALUES (?1, ?2, ?3, ?4, ?5) \
          ON CONFLICT (tbl, pkd, sk) DO UPDATE SET item = excluded.item, size = excluded.size",
    delete: "DELETE FROM items WHERE tbl = ?1 AND pkd = sha256(?2) AND pk = ?2 AND sk = ?3",
    scan_all: "SELECT pk, sk, item FROM items WHERE tbl = ?1 ORDER BY pkd, sk",
    scan_after: "SELECT pk, sk, item FROM items WHERE tbl = ?1 \
                 AND (pkd, sk) > (sha256(?2), ?3) ORDER BY pkd, sk",
    query: "SELECT sk, item FROM items WHERE tbl = ?1 AND pkd = sha256(?2) AND pk = ?2",
};

fn sql(d: Dialect) -> &'static Sql {
    match d {
        Dialect::Sqlite => &SQLITE_SQL,
        Dialect::Postgres => &POSTGRES_SQL,
    }
}

/// Whether a storage error is a lost serialization race (the transaction runs again).
fn is_conflict(e: &stratus_db::Error) -> bool {
    match &e.source {
        stratus_db::Cause::Postgres(pe) => pe
            .code()
            .is_some_and(|c| c.code() == "40001" || c.code() == "40P01"),
        _ => false,
    }
}

/// A storage failure as DynamoDB answers it: `ServiceUnavailable` (503) while the database
/// cannot be reached, `InternalServerError` (500) otherwise; both are retried by the SDKs.
/// The cause is logged, never sent.
pub fn db_err(e: stratus_db::Error) -> Error {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "tables store unavailable");
        return Error::new(
            "ServiceUnavailable",
            Kind::Unavailable,
            "The service is currently unavailable or busy.",
        );
    }
    if is_conflict(&e) {
        tracing::debug!(error = %e, "tables store: serialization conflict");
    } else {
        tracing::error!(error = %e, "tables store");
    }
    internal()
}

fn internal() -> Error {
    Error::new(
        "InternalServerError",
        Kind::Internal,
        "Internal server error",
    )
}

/// A change to the table definitions, applied to the SQLite cache once the transaction that
/// made it has committed.
pub enum Change {
    Saved(Arc<Table>),
    Dropped(String),
}

/// One operation's view of the store: its transaction, and the table definitions.
pub struct Db<'a, 't> {
    t: &'a Tx<'t>,
    sql: &'static Sql,
    /// SQLite: every definition, kept in memory (this process alone writes the file).
    /// PostgreSQL: `None`, definitions are read in the transaction, since another node may
    /// have changed them.
    cache: Option<&'a HashMap<String, Arc<Table>>>,
    /// Definitions read or written by this operation.
    seen: RefCell<HashMap<String, Option<Arc<Table>>>>,
    /// Definition changes to apply to the cache after commit.
    pub changes: Vec<Change>,
    /// Whether a statement changed a row; an operation that fails without writing commits
    /// (so PostgreSQL checks that what it read was consistent) rather than rolling back.
    pub wrote: bool,
    /// Whether a statement failed: the transaction is then unusable and must roll back.
    pub failed: Cell<bool>,
}

/// A stored item with its key bytes.
pub struct Row {
    pub pk: Vec<u8>,
    pub sk: Vec<u8>,
    pub item: Item,
}

/// Bounds on the sort key of a Query.
#[derive(Default, Clone)]
pub struct Range {
    pub lower: Option<(Vec<u8>, bool)>,
    pub upper: Option<(Vec<u8>, bool)>,
}

fn decode(text: &str) -> Result<Item, Error> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        tracing::error!(error = %e, "stored item is not JSON");
        internal()
    })?;
    stored_item_from_json(&v)
}

fn parse_def(def: &str) -> Result<Table, Error> {
    serde_json::from_str(def).map_err(|e| {
        tracing::error!(error = %e, "stored table definition is not readable");
        internal()
    })
}

/// Reads every table definition (at open, for SQLite's cache; for the sweep).
pub fn load_tables(t: &Tx<'_>) -> Result<Vec<Table>, stratus_db::Error> {
    let defs: Vec<String> = t.query_map("SELECT def FROM tables", args![], |r| r.get(0))?;
    defs.iter()
        .map(|d| {
            serde_json::from_str(d).map_err(|e| {
                let why = stratus_db::Cause::Invalid(format!("a table definition: {e}"));
                stratus_db::Error::new("reading", "the tables store", why)
            })
        })
        .collect()
}

impl<'a, 't> Db<'a, 't> {
    pub fn new(t: &'a Tx<'t>, cache: Option<&'a HashMap<String, Arc<Table>>>) -> Db<'a, 't> {
        Db {
            t,
            sql: sql(t.dialect()),
            cache,
            seen: RefCell::new(HashMap::new()),
            changes: Vec::new(),
            wrote: false,
            failed: Cell::new(false),
        }
    }

    /// The transaction, for the stream statements (`crate::streams::store`).
    pub(crate) fn tx(&self) -> &Tx<'t> {
        self.t
    }

    /// Records that a stream statement changed `n` rows.
    pub(crate) fn note_write(&mut self, n: usize) {
        self.wrote(n);
    }

    /// A storage error, remembered so the transaction is not committed.
    pub(crate) fn err(&self, e: stratus_db::Error) -> Error {
        self.failed.set(true);
        db_err(e)
    }

    fn wrote(&mut self, n: usize) {
        self.wrote |= n > 0;
    }

    /// The definition of table `name`, if it exists.
    pub fn table_opt(&self, name: &str) -> Result<Option<Arc<Table>>, Error> {
        if let Some(t) = self.seen.borrow().get(name) {
            return Ok(t.clone());
        }
        let found = match self.cache {
            Some(cache) => cache.get(name).cloned(),
            None => {
                let def: Option<String> = self
                    .t
                    .query_opt("SELECT def FROM tables WHERE name = ?1", args![name], |r| {
                        r.get(0)
                    })
                    .map_err(|e| self.err(e))?;
                def.map(|d| parse_def(&d)).transpose()?.map(Arc::new)
            }
        };
        self.seen
            .borrow_mut()
            .insert(name.to_string(), found.clone());
        Ok(found)
    }

    pub fn table(&self, name: &str) -> Result<Arc<Table>, Error> {
        self.table_opt(name)?
            .ok_or_else(|| Error::not_found("Requested resource not found"))
    }

    /// Table names after `after`, in byte order, at most `limit` (+1, to tell if more exist).
    pub fn table_names(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        self.t
            .query_map(
                "SELECT name FROM tables WHERE name > ?1 ORDER BY name LIMIT ?2",
                args![after.unwrap_or(""), limit as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Every table with time to live enabled.
    pub fn ttl_tables(&self) -> Result<Vec<Arc<Table>>, Error> {
        let all: Vec<Arc<Table>> = match self.cache {
            Some(cache) => cache.values().cloned().collect(),
            None => load_tables(self.t)
                .map_err(|e| self.err(e))?
                .into_iter()
                .map(Arc::new)
                .collect(),
        };
        Ok(all.into_iter().filter(|t| t.ttl.is_some()).collect())
    }

    /// Stores a new table; `false` if one of that name exists.
    pub fn create_table(&mut self, t: Table) -> Result<bool, Error> {
        let def = serde_json::to_string(&t).unwrap_or_default();
        let n = self
            .t
            .execute(
                "INSERT INTO tables (name, def) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                args![t.name, def],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(false);
        }
        self.wrote(n);
        self.remember(Arc::new(t));
        Ok(true)
    }

    pub fn save_table(&mut self, t: Table) -> Result<Arc<Table>, Error> {
        let def = serde_json::to_string(&t).unwrap_or_default();
        let n = self
            .t
            .execute(
                "INSERT INTO tables (name, def) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET def = excluded.def",
                args![t.name, def],
            )
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        Ok(self.remember(Arc::new(t)))
    }

    fn remember(&mut self, t: Arc<Table>) -> Arc<Table> {
        self.seen
            .borrow_mut()
            .insert(t.name.clone(), Some(t.clone()));
        self.changes.push(Change::Saved(t.clone()));
        t
    }

    pub fn drop_table(&mut self, name: &str) -> Result<(), Error> {
        let mut n = self
            .t
            .execute("DELETE FROM items WHERE tbl = ?1", args![name])
            .map_err(|e| self.err(e))?;
        n += self
            .t
            .execute("DELETE FROM tables WHERE name = ?1", args![name])
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        self.seen.borrow_mut().insert(name.to_string(), None);
        self.changes.push(Change::Dropped(name.to_string()));
        Ok(())
    }

    /// ItemCount and TableSizeBytes.
    pub fn stats(&self, name: &str) -> Result<(i64, i64), Error> {
        self.t
            .query_opt(
                "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM items WHERE tbl = ?1",
                args![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(|s| s.unwrap_or((0, 0)))
            .map_err(|e| self.err(e))
    }

    pub fn get(&self, tbl: &str, pk: &[u8], sk: &[u8]) -> Result<Option<Item>, Error> {
        let text: Option<String> = self
            .t
            .query_opt(self.sql.get, args![tbl, pk, sk], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        text.map(|t| decode(&t)).transpose()
    }

    pub fn put(&mut self, tbl: &str, pk: &[u8], sk: &[u8], item: &Item) -> Result<(), Error> {
        let text = item_to_json(item).to_string();
        let size = item_size(item) as i64;
        let n = self
            .t
            .execute(self.sql.put, args![tbl, pk, sk, text, size])
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        Ok(())
    }

    pub fn delete(&mut self, tbl: &str, pk: &[u8], sk: &[u8]) -> Result<(), Error> {
        let n = self
            .t
            .execute(self.sql.delete, args![tbl, pk, sk])
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        Ok(())
    }

    /// The request a ClientRequestToken was first used for (a digest of it), if it was used
    /// since `since` (epoch seconds).
    pub fn token(&self, token: &str, since: i64) -> Result<Option<String>, Error> {
        self.t
            .query_opt(
                "SELECT request FROM tokens WHERE token = ?1 AND at >= ?2",
                args![token, since],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Records that `token` was used at `at` for `request`.
    pub fn save_token(&mut self, token: &str, request: &str, at: i64) -> Result<(), Error> {
        let n = self
            .t
            .execute(
                "INSERT INTO tokens (token, request, at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (token) DO UPDATE SET request = excluded.request, at = excluded.at",
                args![token, request, at],
            )
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        Ok(())
    }

    /// Forgets the tokens used before `before` (epoch seconds).
    pub fn forget_tokens(&mut self, before: i64) -> Result<usize, Error> {
        let n = self
            .t
            .execute("DELETE FROM tokens WHERE at < ?1", args![before])
            .map_err(|e| self.err(e))?;
        self.wrote(n);
        Ok(n)
    }

    /// Items of one partition within `range`, in sort-key order, after `after` (exclusive),
    /// at most `limit`.
    pub fn query(
        &self,
        tbl: &str,
        pk: &[u8],
        range: &Range,
        forward: bool,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Row>, Error> {
        let mut sql = String::from(self.sql.query);
        // The sort-key bounds, each a comparison and a parameter after the table and key.
        let mut owned: Vec<(&str, &[u8])> = Vec::new();
        if let Some((v, inc)) = &range.lower {
            owned.push((if *inc { ">=" } else { ">" }, v));
        }
        if let Some((v, inc)) = &range.upper {
            owned.push((if *inc { "<=" } else { "<" }, v));
        }
        if let Some(a) = after {
            owned.push((if forward { ">" } else { "<" }, a));
        }
        for (i, (op, _)) in owned.iter().enumerate() {
            sql.push_str(&format!(" AND sk {op} ?{}", i + 3));
        }
        sql.push_str(if forward {
            " ORDER BY sk ASC"
        } else {
            " ORDER BY sk DESC"
        });
        sql.push_str(&format!(" LIMIT ?{}", owned.len() + 3));
        let limit = limit.min(i64::MAX as usize) as i64;
        let mut params: Vec<&dyn stratus_db::Param> = vec![&tbl, &pk];
        for (_, v) in &owned {
            params.push(v);
        }
        params.push(&limit);
        let rows: Vec<(Vec<u8>, String)> = self
            .t
            .query_map(&sql, &params, |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(sk, text)| {
                Ok(Row {
                    pk: pk.to_vec(),
                    sk,
                    item: decode(&text)?,
                })
            })
            .collect()
    }

    /// Visits a table's items in key order (see the module's comment) after `after`, until
    /// `visit` returns false.
    pub fn scan(
        &self,
        tbl: &str,
        after: Option<(&[u8], &[u8])>,
        mut visit: impl FnMut(Row) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let mut each = |r: &stratus_db::Row<'_>| -> Result<bool, Failure> {
            let row = Row {
                pk: r.get(0)?,
                sk: r.get(1)?,
                item: decode(&r.get::<String>(2)?)?,
            };
            Ok(visit(row)?)
        };
        let out = match after {
            Some((pk, sk)) => self
                .t
                .query_each(self.sql.scan_after, args![tbl, pk, sk], &mut each),
            None => self.t.query_each(self.sql.scan_all, args![tbl], &mut each),
        };
        out.map_err(|e: Failure| match e {
            Failure::Op(e) => e,
            Failure::Db(e) => self.err(e),
        })
    }
}

/// An error inside a visit: the operation's own, or the database's.
pub enum Failure {
    Op(Error),
    Db(stratus_db::Error),
}

impl From<stratus_db::Error> for Failure {
    fn from(e: stratus_db::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Op(e)
    }
}
