//! [`Db`]: one store's database on either backend, and the statements run in it.

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{IsolationLevel, Statement};
use rusqlite::Connection;

use crate::param::{column_error, PgArg, PgValue};
use crate::pg::{self, Conn, Pool};
use crate::{Cause, Error, FromColumn, Location, Options, Param, Schema};

/// Which SQL the store is talking to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A store's schema for each backend. SQLite keeps the form the store's file has always had
/// (some files predate versioned migrations); PostgreSQL's always counts versions.
#[derive(Debug, Clone, Copy)]
pub struct Migrations<'a> {
    pub sqlite: Schema<'a>,
    pub postgres: &'a [&'a str],
}

/// What a store is called on each backend, and how it comes to exist.
#[derive(Debug, Clone, Copy)]
pub struct StoreSpec<'a> {
    /// The PostgreSQL schema holding the store's tables (`meta`, `tables`, ...).
    pub name: &'a str,
    /// The SQLite file in the data directory (`meta.db`, ...).
    pub file: &'a str,
    pub options: Options,
    pub migrations: Migrations<'a>,
}

/// One store's database.
pub struct Db {
    backend: Backend,
    target: String,
}

enum Backend {
    /// One connection: one transaction at a time, which is what SQLite allows anyway.
    Sqlite(Mutex<Connection>),
    Postgres(Box<Pool>),
}

/// How often a transaction that lost a serialization race is run again before the conflict
/// is reported.
const CONFLICT_RETRIES: u32 = 50;

/// A random pause of up to `attempt` milliseconds (at most 10) before a retry. Random, so
/// that writers who collided on one row do not wake together and collide again (32 clients
/// writing one item exhausted 20 fixed pauses about once in 1,700 writes).
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap = u64::from(attempt.min(10)) * 1000;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(random % (cap + 1))
}

impl Db {
    /// Opens (creating, migrating) the store at `location`.
    pub fn open(location: &Location, spec: &StoreSpec<'_>) -> Result<Db, Error> {
        match location {
            Location::Sqlite(dir) => {
                let path = dir.join(spec.file);
                let conn = crate::sqlite::open(&path, spec.options, spec.migrations.sqlite)?;
                Ok(Db {
                    backend: Backend::Sqlite(Mutex::new(conn)),
                    target: path.display().to_string(),
                })
            }
            Location::Postgres(config) => {
                let pool = Pool::open(config, spec.name, spec.migrations.postgres)?;
                Ok(Db {
                    target: pool.target(),
                    backend: Backend::Postgres(Box::new(pool)),
                })
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `f` in one transaction, committed only if it returns `Ok`.
    pub fn tx<T, E: From<Error>>(&self, f: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        self.transaction(f).map(|(out, _)| out)
    }

    /// [`Db::tx`], also telling whether the committed transaction changed any row.
    ///
    /// On PostgreSQL the transaction is `SERIALIZABLE`: the outcome is as if transactions ran
    /// one at a time, as on SQLite. One that loses a race is rolled back and `f` runs again
    /// (so `f` must not act outside the transaction), up to [`CONFLICT_RETRIES`] times.
    pub fn transaction<T, E: From<Error>>(
        &self,
        mut f: impl FnMut(&Tx<'_>) -> Result<T, E>,
    ) -> Result<(T, bool), E> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                let t = crate::sqlite::begin(&mut conn)
                    .map_err(|e| self.fault("beginning", e.into()))?;
                let tx = Tx::new(Inner::Sqlite(&t), &self.target);
                let out = f(&tx)?;
                let changed = tx.changed.get() > 0;
                drop(tx);
                t.commit()
                    .map_err(|e| self.fault("committing to", e.into()))?;
                Ok((out, changed))
            }
            Backend::Postgres(pool) => pg::blocking(|| self.pg_transaction(pool, &mut f)),
        }
    }

    fn pg_transaction<T, E: From<Error>>(
        &self,
        pool: &Pool,
        f: &mut impl FnMut(&Tx<'_>) -> Result<T, E>,
    ) -> Result<(T, bool), E> {
        let mut attempt = 0;
        let mut reconnected = false;
        loop {
            attempt += 1;
            let mut lease = pool.lease()?;
            let conn = lease.conn.as_mut().expect("a lease holds a connection");
            let Conn { client, statements } = conn;
            let begun = client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start();
            let t = match begun {
                Ok(t) => t,
                // A pooled connection the server ended while it sat idle (a restart, an
                // operator) fails at BEGIN, before anything of the transaction was sent:
                // a fresh connection takes it, so the caller never sees the stale one.
                Err(e) if pg::is_connection_lost(&e) && !reconnected => {
                    reconnected = true;
                    lease.lost = true;
                    continue;
                }
                Err(e) => {
                    lease.lost = pg::is_connection_lost(&e);
                    return Err(self.fault("beginning", e.into()).into());
                }
            };
            let tx = Tx::new(
                Inner::Postgres(RefCell::new(PgTx { t, statements })),
                &self.target,
            );
            let out = f(&tx);
            let conflicted = tx.conflicted.get();
            let changed = tx.changed.get() > 0;
            let Inner::Postgres(cell) = tx.inner else {
                unreachable!("a PostgreSQL store's transaction")
            };
            let PgTx { t, .. } = cell.into_inner();
            let retry = match out {
                Ok(out) => match t.commit() {
                    Ok(()) => return Ok((out, changed)),
                    Err(e) if pg::is_conflict(&e) => true,
                    Err(e) => return Err(self.fault("committing to", e.into()).into()),
                },
                // Dropping `t` rolls back.
                Err(e) if !conflicted => return Err(e),
                Err(e) if attempt >= CONFLICT_RETRIES => return Err(e),
                Err(_) => true,
            };
            debug_assert!(retry);
            if attempt >= CONFLICT_RETRIES {
                return Err(self
                    .fault(
                        "committing to",
                        Cause::Invalid("too many serialization conflicts".into()),
                    )
                    .into());
            }
            // A short, growing, random pause lets the winner finish.
            std::thread::sleep(backoff(attempt));
        }
    }

    fn fault(&self, step: &str, cause: Cause) -> Error {
        Error::new(step, self.target.clone(), cause)
    }
}

struct PgTx<'a> {
    t: postgres::Transaction<'a>,
    statements: &'a mut std::collections::HashMap<String, Statement>,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Transaction<'a>),
    Postgres(RefCell<PgTx<'a>>),
}

/// Statements inside one transaction.
pub struct Tx<'a> {
    inner: Inner<'a>,
    target: &'a str,
    /// Rows changed by the statements run so far.
    changed: Cell<u64>,
    /// A statement failed because the transaction lost a serialization race.
    conflicted: Cell<bool>,
}

/// One row of a result.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row, &'a str),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: FromColumn>(&self, i: usize) -> Result<T, Error> {
        match self {
            Row::Sqlite(r) => T::from_sqlite(r, i)
                .map_err(|e| Error::new("reading a column of", "a SQLite store", e)),
            Row::Postgres(r, target) => {
                let v: PgValue = r
                    .try_get(i)
                    .map_err(|e| Error::new("reading a column of", *target, e))?;
                T::from_pg(v).map_err(|e| column_error(target, e))
            }
        }
    }
}

impl<'a> Tx<'a> {
    fn new(inner: Inner<'a>, target: &'a str) -> Self {
        Tx {
            inner,
            target,
            changed: Cell::new(0),
            conflicted: Cell::new(false),
        }
    }

    /// Whether a statement of this transaction has changed a row so far.
    pub fn changed(&self) -> bool {
        self.changed.get() > 0
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    fn sqlite_err(&self, e: rusqlite::Error) -> Error {
        Error::new("running a statement on", self.target, e)
    }

    fn pg_err(&self, e: postgres::Error) -> Error {
        if pg::is_conflict(&e) {
            self.conflicted.set(true);
        }
        Error::new("running a statement on", self.target, e)
    }

    /// Runs a statement with `?1`-style placeholders and gives the rows it changed.
    pub fn execute(&self, sql: &str, args: &[&dyn Param]) -> Result<usize, Error> {
        let n = match &self.inner {
            Inner::Sqlite(t) => {
                let mut st = t.prepare_cached(sql).map_err(|e| self.sqlite_err(e))?;
                st.execute(sqlite_args(args).as_slice())
                    .map_err(|e| self.sqlite_err(e))?
            }
            Inner::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let st = self.statement(&mut pg, sql)?;
                let args = pg_args(args);
                let n =
                    pg.t.execute(&st, &pg_refs(&args))
                        .map_err(|e| self.pg_err(e))?;
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        self.changed.set(self.changed.get() + n as u64);
        Ok(n)
    }

    /// Runs statements without parameters (DDL, or several at once).
    pub fn batch(&self, sql: &str) -> Result<(), Error> {
        match &self.inner {
            Inner::Sqlite(t) => t.execute_batch(sql).map_err(|e| self.sqlite_err(e)),
            Inner::Postgres(cell) => cell
                .borrow_mut()
                .t
                .batch_execute(sql)
                .map_err(|e| self.pg_err(e)),
        }
    }

    /// The first row, if any, through `f`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, args, |row| {
            out = Some((f.take().expect("called once"))(row)?);
            Ok::<bool, Error>(false)
        })?;
        Ok(out)
    }

    /// Every row through `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        self.query_each(sql, args, |row| {
            out.push(f(row)?);
            Ok::<bool, Error>(true)
        })?;
        Ok(out)
    }

    /// Visits rows in order until `visit` returns false. On PostgreSQL the rows are fetched
    /// in pages, so a visit that stops early does not read the whole result.
    pub fn query_each<E: From<Error>>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        mut visit: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        match &self.inner {
            Inner::Sqlite(t) => {
                let mut st = t.prepare_cached(sql).map_err(|e| self.sqlite_err(e))?;
                let mut rows = st
                    .query(sqlite_args(args).as_slice())
                    .map_err(|e| self.sqlite_err(e))?;
                while let Some(r) = rows.next().map_err(|e| self.sqlite_err(e))? {
                    if !visit(&Row::Sqlite(r))? {
                        break;
                    }
                }
                Ok(())
            }
            Inner::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let st = self.statement(&mut pg, sql)?;
                let args = pg_args(args);
                let refs = pg_refs(&args);
                let portal = pg.t.bind(&st, &refs).map_err(|e| self.pg_err(e))?;
                loop {
                    let rows =
                        pg.t.query_portal(&portal, PAGE)
                            .map_err(|e| self.pg_err(e))?;
                    let last = rows.len() < PAGE as usize;
                    for r in &rows {
                        if !visit(&Row::Postgres(r, self.target))? {
                            return Ok(());
                        }
                    }
                    if last {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The prepared statement for `sql` on this connection, preparing it the first time.
    fn statement(&self, pg: &mut PgTx<'_>, sql: &str) -> Result<Statement, Error> {
        if let Some(st) = pg.statements.get(sql) {
            return Ok(st.clone());
        }
        let st =
            pg.t.prepare(&pg::translate(sql))
                .map_err(|e| self.pg_err(e))?;
        pg.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// Rows fetched per round trip when visiting a PostgreSQL result.
const PAGE: i32 = 256;

fn sqlite_args<'a>(args: &'a [&'a dyn Param]) -> Vec<&'a dyn rusqlite::ToSql> {
    args.iter().map(|a| a.sqlite()).collect()
}

fn pg_args<'a>(args: &'a [&'a dyn Param]) -> Vec<PgArg<'a>> {
    args.iter().map(|a| a.pg()).collect()
}

fn pg_refs<'a>(args: &'a [PgArg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}
