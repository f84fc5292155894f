//! The metering database, `usage.db`: its own SQLite file, so metering never contends with the
//! metadata store's lock. One table of records, indexed by start time.

use std::path::Path;

use rusqlite::{params, Connection};

use crate::record::{Outcome, Record, Trigger};

/// Schema changes, applied in order; `PRAGMA user_version` counts those applied.
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

pub type Result<T> = std::result::Result<T, rusqlite::Error>;

pub struct UsageDb {
    conn: Connection,
}

impl UsageDb {
    /// Opens (or creates) `usage.db`. One writer owns it, so it needs no lock: the
    /// connection is used directly.
    pub fn open(path: &Path) -> std::result::Result<UsageDb, stratus_db::Error> {
        let schema = stratus_db::Schema::Versioned(MIGRATIONS);
        let conn = stratus_db::open(path, stratus_db::Options::default(), schema)?;
        Ok(UsageDb { conn })
    }

    /// Writes a batch in one transaction.
    pub fn insert(&mut self, records: &[Record]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO invocations (request_id, function, version, alias, trigger, start_ms,
                 duration_ms, billed_ms, init_duration_ms, memory_mb, max_memory_mb, architecture,
                 outcome, cold) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for r in records {
                stmt.execute(params![
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
                    r.cold,
                ])?;
            }
        }
        tx.commit()
    }

    /// The records that started in `[from_ms, to_ms)`, oldest first.
    pub fn window(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Record>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT request_id, function, version, alias, trigger, start_ms, duration_ms, billed_ms,
             init_duration_ms, memory_mb, max_memory_mb, architecture, outcome, cold
             FROM invocations WHERE start_ms >= ?1 AND start_ms < ?2 ORDER BY start_ms",
        )?;
        let rows = stmt.query_map(params![from_ms, to_ms], |r| {
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
                billed_ms: r.get::<_, i64>(7)?.max(0) as u64,
                init_duration_ms: r.get(8)?,
                memory_mb: r.get(9)?,
                max_memory_mb: r.get::<_, i64>(10)?.max(0) as u64,
                architecture: r.get(11)?,
                outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Crashed),
                cold: r.get(13)?,
            })
        })?;
        rows.collect()
    }

    /// Deletes the records that started before `cutoff_ms`; returns how many.
    pub fn delete_before(&self, cutoff_ms: i64) -> Result<usize> {
        self.conn
            .execute("DELETE FROM invocations WHERE start_ms < ?1", [cutoff_ms])
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let mut db = UsageDb::open(&path).unwrap();
        let a = sample("a", 1_000, Outcome::Success);
        let b = sample("b", 2_000, Outcome::Timeout);
        db.insert(&[a.clone(), b.clone()]).unwrap();
        drop(db);
        let db = UsageDb::open(&path).unwrap();
        assert_eq!(db.window(0, 10_000).unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(db.window(1_000, 2_000).unwrap(), vec![a]);
        assert_eq!(db.delete_before(1_500).unwrap(), 1);
        assert_eq!(db.window(0, 10_000).unwrap(), vec![b]);
    }
}
