//! The metering database: `usage.db` on SQLite (its own file, so metering never contends
//! with the metadata store's lock) or the `usage` schema on PostgreSQL. One table of records,
//! indexed by start time.

use stratus_db::{args, Location, Migrations, Schema, StoreSpec};

use crate::record::{Outcome, Record, Trigger};

/// SQLite schema changes, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &["
CREATE TABLE invocations (
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    version TEXT NOT NULL,
    alias TEXT,
    trigger TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    billed_ms INTEGER NOT NULL,
    init_duration_ms REAL,
    memory_mb INTEGER NOT NULL,
    max_memory_mb INTEGER NOT NULL,
    architecture TEXT NOT NULL,
    outcome TEXT NOT NULL,
    cold INTEGER NOT NULL
);
CREATE INDEX invocations_start ON invocations(start_ms);
"];

/// The same table on PostgreSQL, with the same columns (so `stratus migrate` copies it either
/// way).
const PG_MIGRATIONS: &[&str] = &["
CREATE TABLE invocations (
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    version TEXT NOT NULL,
    alias TEXT,
    trigger TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    billed_ms BIGINT NOT NULL,
    init_duration_ms DOUBLE PRECISION,
    memory_mb BIGINT NOT NULL,
    max_memory_mb BIGINT NOT NULL,
    architecture TEXT NOT NULL,
    outcome TEXT NOT NULL,
    cold BIGINT NOT NULL
);
CREATE INDEX invocations_start ON invocations(start_ms);
"];

pub type Result<T> = std::result::Result<T, stratus_db::Error>;

pub struct UsageDb {
    db: stratus_db::Db,
}

/// Records of a window in start order (records of the same start in no particular order: a
/// report only sums and ranks them).
const WINDOW: &str = "SELECT request_id, function, version, alias, trigger, start_ms,
    duration_ms, billed_ms, init_duration_ms, memory_mb, max_memory_mb, architecture, outcome, cold
    FROM invocations WHERE start_ms >= ?1 AND start_ms < ?2 ORDER BY start_ms";

impl UsageDb {
    /// The store's name, file and migrations (for opening it, and for `stratus migrate`).
    pub fn spec() -> StoreSpec<'static> {
        StoreSpec {
            name: "usage",
            file: "usage.db",
            options: stratus_db::Options::default(),
            migrations: Migrations {
                sqlite: Schema::Versioned(MIGRATIONS),
                postgres: PG_MIGRATIONS,
            },
        }
    }

    /// Opens (or creates, or migrates) the usage store at `location`.
    pub fn open(location: &Location) -> Result<UsageDb> {
        Ok(UsageDb {
            db: stratus_db::Db::open(location, &Self::spec())?,
        })
    }

    /// Writes a batch in one transaction.
    pub fn insert(&self, records: &[Record]) -> Result<()> {
        self.db.tx(|t| {
            for r in records {
                t.execute(
                    "INSERT INTO invocations (request_id, function, version, alias, trigger,
                     start_ms, duration_ms, billed_ms, init_duration_ms, memory_mb, max_memory_mb,
                     architecture, outcome, cold)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    args![
                        r.request_id,
                        r.function,
                        r.version,
                        r.alias,
                        r.trigger.as_str(),
                        r.start_ms,
                        r.duration_ms,
                        r.billed_ms as i64,
                        r.init_duration_ms,
                        r.memory_mb,
                        r.max_memory_mb as i64,
                        r.architecture,
                        r.outcome.as_str(),
                        r.cold
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The records that started in `[from_ms, to_ms)`, oldest first.
    pub fn window(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Record>> {
        self.db.tx(|t| {
            t.query_map(WINDOW, args![from_ms, to_ms], |r| {
                let trigger: String = r.get(4)?;
                let outcome: String = r.get(12)?;
                Ok(Record {
                    request_id: r.get(0)?,
                    function: r.get(1)?,
                    version: r.get(2)?,
                    alias: r.get(3)?,
                    trigger: Trigger::parse(&trigger).unwrap_or(Trigger::Direct),
                    start_ms: r.get(5)?,
                    duration_ms: r.get(6)?,
                    billed_ms: r.get::<i64>(7)?.max(0) as u64,
                    init_duration_ms: r.get(8)?,
                    memory_mb: r.get(9)?,
                    max_memory_mb: r.get::<i64>(10)?.max(0) as u64,
                    architecture: r.get(11)?,
                    outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Crashed),
                    cold: r.get(13)?,
                })
            })
        })
    }

    /// One record for each distinct function, version, alias and outcome (and whether it was
    /// a cold start with an init duration) since `from_ms`: what tells which metrics have data,
    /// without reading every record. The other fields are left at zero.
    pub fn kinds(&self, from_ms: i64) -> Result<Vec<Record>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT DISTINCT function, version, alias, outcome,
                    CASE WHEN init_duration_ms IS NULL THEN 0 ELSE 1 END
                 FROM invocations WHERE start_ms >= ?1",
                args![from_ms],
                |r| {
                    let outcome: String = r.get(3)?;
                    let init: i64 = r.get(4)?;
                    Ok(Record {
                        request_id: String::new(),
                        function: r.get(0)?,
                        version: r.get(1)?,
                        alias: r.get(2)?,
                        trigger: Trigger::Direct,
                        start_ms: from_ms,
                        duration_ms: 0.0,
                        billed_ms: 0,
                        init_duration_ms: (init == 1).then_some(0.0),
                        memory_mb: 0,
                        max_memory_mb: 0,
                        architecture: String::new(),
                        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Crashed),
                        cold: init == 1,
                    })
                },
            )
        })
    }

    /// Deletes the records that started before `cutoff_ms`; returns how many.
    pub fn delete_before(&self, cutoff_ms: i64) -> Result<usize> {
        self.db.tx(|t| {
            t.execute(
                "DELETE FROM invocations WHERE start_ms < ?1",
                args![cutoff_ms],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(id: &str, start_ms: i64, outcome: Outcome) -> Record {
        Record {
            request_id: id.into(),
            function: "f".into(),
            version: "1".into(),
            alias: Some("live".into()),
            trigger: Trigger::Http,
            start_ms,
            duration_ms: 2.5,
            billed_ms: 3,
            init_duration_ms: Some(120.25),
            memory_mb: 256,
            max_memory_mb: 31,
            architecture: "arm64".into(),
            outcome,
            cold: true,
        }
    }

    #[test]
    fn records_round_trip_and_expire() {
        for b in crate::testing::backends("round_trip") {
            let db = UsageDb::open(&b.location).unwrap();
            let a = sample("a", 1_000, Outcome::Success);
            let b2 = sample("b", 2_000, Outcome::Timeout);
            let mut c = sample("c", 1_000, Outcome::Crashed);
            c.alias = None;
            c.init_duration_ms = None;
            c.cold = false;
            db.insert(&[a.clone(), b2.clone(), c.clone()]).unwrap();
            drop(db);
            let db = UsageDb::open(&b.location).unwrap();
            let all = db.window(0, 10_000).unwrap();
            assert_eq!(all.len(), 3, "{:?}", b.location);
            assert_eq!(all[2], b2, "{:?}: by start", b.location);
            let mut first: Vec<Record> = db.window(1_000, 2_000).unwrap();
            first.sort_by(|x, y| x.request_id.cmp(&y.request_id));
            assert_eq!(first, vec![a, c], "{:?}: values round-trip", b.location);
            let kinds = db.kinds(0).unwrap();
            assert_eq!(
                kinds.len(),
                3,
                "{:?}: one per outcome and alias",
                b.location
            );
            assert_eq!(db.kinds(1_500).unwrap().len(), 1);
            assert_eq!(db.delete_before(1_500).unwrap(), 2);
            assert_eq!(db.window(0, 10_000).unwrap(), vec![b2]);
        }
    }
}
