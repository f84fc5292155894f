//! SQLite: the file per store, its pragmas, migrations counted by `PRAGMA user_version`, and
//! the lock that makes one transaction at a time.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, Transaction};

use crate::Error;

/// How a store's tables come to exist.
#[derive(Debug, Clone, Copy)]
pub enum Schema<'a> {
    /// Migrations applied in order, each once: `PRAGMA user_version` counts those applied
    /// (so migration `i` brings the file to version `i + 1`).
    Versioned(&'a [&'a str]),
    /// Statements safe to run at every open (`CREATE TABLE IF NOT EXISTS ...`); the version
    /// stays 0. For the stores whose files were always made this way.
    Idempotent(&'a str),
}

/// The pragmas a store opens with beyond the common ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `PRAGMA foreign_keys=ON`: the metadata store's cascading deletes rely on it.
    pub foreign_keys: bool,
}

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// Opens (creating) the database at `path` with Stratus's pragmas, and applies `schema`.
///
/// Every store uses WAL, which keeps readers off writers' backs, and `synchronous=NORMAL`:
/// a committed transaction is in the WAL file before the call returns, so it survives the
/// process being killed; only a power failure can lose the last commits.
pub fn open(path: &Path, options: Options, schema: Schema<'_>) -> Result<Connection, Error> {
    let at = |step: &str| {
        let step = step.to_string();
        move |source| Error::sqlite(step, path, source)
    };
    let conn = Connection::open(path).map_err(at("opening"))?;
    let foreign_keys = if options.foreign_keys { "ON" } else { "OFF" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys={foreign_keys}; \
         PRAGMA busy_timeout={BUSY_TIMEOUT_MS};"
    ))
    .map_err(at("configuring"))?;
    match schema {
        Schema::Versioned(migrations) => migrate(&conn, migrations, path)?,
        Schema::Idempotent(sql) => conn
            .execute_batch(sql)
            .map_err(at("creating the tables of"))?,
    }
    Ok(conn)
}

/// Applies the migrations `conn` has not had yet, each with its version bump in one
/// transaction, so a crash leaves the file at one version or the next.
fn migrate(conn: &Connection, migrations: &[&str], path: &Path) -> Result<(), Error> {
    let err = |step: String| move |source| Error::sqlite(step, path, source);
    let applied = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(err("reading the schema version of".into()))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > migrations.len() {
        return Err(Error::new(
            "opening",
            path.display().to_string(),
            crate::Cause::Invalid(newer_schema(applied, migrations.len())),
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(applied) {
        let version = i + 1;
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(err(format!("migrating to version {version}")))?;
    }
    Ok(())
}

/// Why a store refuses a schema it does not know: a newer Stratus wrote it, and running an
/// older one over it could misread or damage it.
pub(crate) fn newer_schema(found: usize, known: usize) -> String {
    format!(
        "the schema is at version {found}, newer than the {known} this build of Stratus knows; \
         run the newer build (or restore a backup made before it ran)"
    )
}

/// Begins a transaction that holds the write lock from its first statement (`BEGIN
/// IMMEDIATE`). A deferred one that read and then wrote while another connection to the
/// same file held the lock would fail at once with `SQLITE_BUSY`: SQLite cannot wait for a
/// read to become a write (the other writer might be waiting for it), so `busy_timeout`
/// never applies there. Taken at BEGIN, the lock is waited for like any other.
pub(crate) fn begin(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// A connection behind a lock: one transaction at a time, each seeing and writing a
/// consistent state.
pub struct Database {
    conn: Mutex<Connection>,
}

impl Database {
    /// Opens the database at `path` (see [`open`]).
    pub fn open(path: &Path, options: Options, schema: Schema<'_>) -> Result<Database, Error> {
        Ok(Database::from(open(path, options, schema)?))
    }

    /// The connection, for a step outside a transaction. A panic while it was held does not
    /// poison it: SQLite rolled back whatever was unfinished.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction, committed only if it returns `Ok` (dropped, so rolled
    /// back, otherwise).
    pub fn tx<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(f, |_, e| E::from(e)).map(|(out, _)| out)
    }

    /// [`Database::tx`] for callers whose error type does not know SQLite's: `fault` turns a
    /// failure to begin or commit (named by the step) into theirs. Also tells whether the
    /// committed transaction changed any row.
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
        fault: impl Fn(&'static str, rusqlite::Error) -> E,
    ) -> Result<(T, bool), E> {
        let mut conn = self.lock();
        let before = conn.total_changes();
        let t = begin(&mut conn).map_err(|e| fault("begin", e))?;
        let out = f(&t)?;
        t.commit().map_err(|e| fault("commit", e))?;
        Ok((out, conn.total_changes() != before))
    }
}

impl From<Connection> for Database {
    fn from(conn: Connection) -> Self {
        Database {
            conn: Mutex::new(conn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE a (x INTEGER)",
        "ALTER TABLE a ADD COLUMN y TEXT",
    ];

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn migrations_run_once_each_and_resume_where_a_file_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = open(
            &path,
            Options::default(),
            Schema::Versioned(&MIGRATIONS[..1]),
        )
        .unwrap();
        assert_eq!(version(&conn), 1);
        conn.execute("INSERT INTO a (x) VALUES (1)", []).unwrap();
        drop(conn);
        // A newer program opens the older file: only the second migration runs.
        let conn = open(&path, Options::default(), Schema::Versioned(MIGRATIONS)).unwrap();
        assert_eq!(version(&conn), 2);
        let row: (i64, Option<String>) = conn
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(row, (1, None));
        drop(conn);
        let conn = open(&path, Options::default(), Schema::Versioned(MIGRATIONS)).unwrap();
        assert_eq!(version(&conn), 2, "nothing re-applied");
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::Idempotent("CREATE TABLE IF NOT EXISTS b (x)");
        let fk = Options { foreign_keys: true };
        let conn = open(&dir.path().join("y.db"), fk, schema).unwrap();
        let text = |q: &str| conn.query_row(q, [], |r| r.get::<_, String>(0)).unwrap();
        let int = |q: &str| conn.query_row(q, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(text("PRAGMA journal_mode"), "wal");
        assert_eq!(int("PRAGMA synchronous"), 1, "NORMAL");
        assert_eq!(int("PRAGMA foreign_keys"), 1);
        assert_eq!(int("PRAGMA busy_timeout"), 5000);
        assert_eq!(version(&conn), 0);
    }

    #[test]
    fn an_unopenable_file_is_named_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("is-a-dir.db");
        std::fs::create_dir(&path).unwrap();
        let e = open(&path, Options::default(), Schema::Versioned(MIGRATIONS)).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("opening "), "{text}");
        assert!(text.contains("is-a-dir.db"), "{text}");
        assert!(text.contains("unable to open database file"), "{text}");
    }

    #[test]
    fn a_failed_transaction_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            &dir.path().join("z.db"),
            Options::default(),
            Schema::Versioned(MIGRATIONS),
        )
        .unwrap();
        let failed: Result<(), rusqlite::Error> = db.tx(|t| {
            t.execute("INSERT INTO a (x) VALUES (1)", [])?;
            Err(rusqlite::Error::QueryReturnedNoRows)
        });
        assert!(failed.is_err());
        let fault = |_, e| e;
        let (n, changed) = db
            .transaction(
                |t| t.query_row("SELECT COUNT(*) FROM a", [], |r| r.get::<_, i64>(0)),
                fault,
            )
            .unwrap();
        assert_eq!((n, changed), (0, false));
        let ((), changed) = db
            .transaction(
                |t| t.execute("INSERT INTO a (x) VALUES (2)", []).map(drop),
                fault,
            )
            .unwrap();
        assert!(changed);
    }
}
