//! The CloudWatch store: `cloudwatch.db` on SQLite, the `cloudwatch` schema on PostgreSQL.
//! Custom metrics' datapoints (PutMetricData), alarms (their AWS-shaped document, with the
//! time of their last evaluation, which a node claims before evaluating), and alarm history.

use serde_json::Value;
use stratus_db::{args, Location, Migrations, Schema, StoreSpec};

use crate::stats::Sample;
use crate::Dims;

const MIGRATIONS: &[&str] = &["
CREATE TABLE datapoints (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    unit TEXT NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    vals TEXT NOT NULL
);
CREATE INDEX datapoints_metric ON datapoints(namespace, name, dims, ts_ms);
CREATE INDEX datapoints_time ON datapoints(ts_ms);
CREATE TABLE alarms (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    evaluated_ms INTEGER NOT NULL
);
CREATE TABLE alarm_history (
    name TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX alarm_history_time ON alarm_history(ts_ms);
"];

const PG_MIGRATIONS: &[&str] = &["
CREATE TABLE datapoints (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    unit TEXT NOT NULL,
    count DOUBLE PRECISION NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    min DOUBLE PRECISION NOT NULL,
    max DOUBLE PRECISION NOT NULL,
    vals TEXT NOT NULL
);
CREATE INDEX datapoints_metric ON datapoints(namespace, name, dims, ts_ms);
CREATE INDEX datapoints_time ON datapoints(ts_ms);
CREATE TABLE alarms (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    evaluated_ms BIGINT NOT NULL
);
CREATE TABLE alarm_history (
    name TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX alarm_history_time ON alarm_history(ts_ms);
"];

pub type Result<T> = std::result::Result<T, stratus_db::Error>;

/// One datapoint to store.
pub struct Put {
    pub namespace: String,
    pub name: String,
    pub dims: Dims,
    pub unit: String,
    pub sample: Sample,
}

/// One alarm history item.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub name: String,
    pub ts_ms: i64,
    /// `ConfigurationUpdate`, `StateUpdate` or `Action`.
    pub kind: String,
    pub summary: String,
    pub data: String,
}

pub struct CloudWatchDb {
    db: stratus_db::Db,
}

/// The stored form of a dimension set: its sorted pairs as JSON.
pub fn dims_key(dims: &Dims) -> String {
    serde_json::to_string(dims).unwrap_or_default()
}

fn dims_of(key: &str) -> Dims {
    serde_json::from_str(key).unwrap_or_default()
}

impl CloudWatchDb {
    pub fn spec() -> StoreSpec<'static> {
        StoreSpec {
            name: "cloudwatch",
            file: "cloudwatch.db",
            options: stratus_db::Options::default(),
            migrations: Migrations {
                sqlite: Schema::Versioned(MIGRATIONS),
                postgres: PG_MIGRATIONS,
            },
        }
    }

    pub fn open(location: &Location) -> Result<CloudWatchDb> {
        Ok(CloudWatchDb {
            db: stratus_db::Db::open(location, &Self::spec())?,
        })
    }

    pub fn put_datapoints(&self, puts: &[Put]) -> Result<()> {
        self.db.tx(|t| {
            for p in puts {
                let s = &p.sample;
                let vals = serde_json::to_string(&s.values).unwrap_or_default();
                t.execute(
                    "INSERT INTO datapoints (namespace, name, dims, ts_ms, unit, count, sum, min,
                     max, vals) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    args![
                        p.namespace,
                        p.name,
                        dims_key(&p.dims),
                        s.ts_ms,
                        p.unit,
                        s.count,
                        s.sum,
                        s.min,
                        s.max,
                        vals
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The samples of one metric in `[from_ms, to_ms)`, with the unit each was put with.
    pub fn samples(
        &self,
        namespace: &str,
        name: &str,
        dims: &Dims,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(Sample, String)>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT ts_ms, count, sum, min, max, vals, unit FROM datapoints
                 WHERE namespace = ?1 AND name = ?2 AND dims = ?3 AND ts_ms >= ?4 AND ts_ms < ?5
                 ORDER BY ts_ms",
                args![namespace, name, dims_key(dims), from_ms, to_ms],
                |r| {
                    let vals: String = r.get(5)?;
                    Ok((
                        Sample {
                            ts_ms: r.get(0)?,
                            count: r.get(1)?,
                            sum: r.get(2)?,
                            min: r.get(3)?,
                            max: r.get(4)?,
                            values: serde_json::from_str(&vals).unwrap_or_default(),
                        },
                        r.get(6)?,
                    ))
                },
            )
        })
    }

    /// Every custom metric with data since `since_ms`: namespace, name, dimensions.
    pub fn metrics(&self, since_ms: i64) -> Result<Vec<(String, String, Dims)>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT DISTINCT namespace, name, dims FROM datapoints WHERE ts_ms >= ?1
                 ORDER BY namespace, name, dims",
                args![since_ms],
                |r| {
                    let dims: String = r.get(2)?;
                    Ok((r.get(0)?, r.get(1)?, dims_of(&dims)))
                },
            )
        })
    }

    /// Deletes datapoints and history older than `cutoff_ms`.
    pub fn purge(&self, cutoff_ms: i64) -> Result<usize> {
        self.db.tx(|t| {
            let n = t.execute("DELETE FROM datapoints WHERE ts_ms < ?1", args![cutoff_ms])?;
            t.execute(
                "DELETE FROM alarm_history WHERE ts_ms < ?1",
                args![cutoff_ms],
            )?;
            Ok(n)
        })
    }

    /// Creates or replaces an alarm (a new configuration is evaluated afresh).
    pub fn put_alarm(&self, name: &str, doc: &Value, history: &HistoryItem) -> Result<()> {
        self.db.tx(|t| {
            t.execute(
                "INSERT INTO alarms (name, doc, evaluated_ms) VALUES (?1, ?2, 0)
                 ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, evaluated_ms = 0",
                args![name, doc.to_string()],
            )?;
            insert_history(t, history)
        })
    }

    /// Every alarm, by name, with the time of its last evaluation.
    pub fn alarms(&self) -> Result<Vec<(Value, i64)>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT doc, evaluated_ms FROM alarms ORDER BY name",
                args![],
                |r| {
                    let doc: String = r.get(0)?;
                    Ok((serde_json::from_str(&doc).unwrap_or(Value::Null), r.get(1)?))
                },
            )
        })
    }

    pub fn alarm(&self, name: &str) -> Result<Option<Value>> {
        self.db.tx(|t| {
            t.query_opt("SELECT doc FROM alarms WHERE name = ?1", args![name], |r| {
                let doc: String = r.get(0)?;
                Ok(serde_json::from_str(&doc).unwrap_or(Value::Null))
            })
        })
    }

    /// Deletes the alarms named (with their history); unknown names are skipped.
    pub fn delete_alarms(&self, names: &[String]) -> Result<()> {
        self.db.tx(|t| {
            for n in names {
                t.execute("DELETE FROM alarms WHERE name = ?1", args![n])?;
                t.execute("DELETE FROM alarm_history WHERE name = ?1", args![n])?;
            }
            Ok(())
        })
    }

    /// Replaces an alarm's document (a state change, actions switched) with its history
    /// items; `false` when the alarm is gone.
    pub fn update_alarm(&self, name: &str, doc: &Value, history: &[HistoryItem]) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "UPDATE alarms SET doc = ?2 WHERE name = ?1",
                args![name, doc.to_string()],
            )?;
            if n == 0 {
                return Ok(false);
            }
            for h in history {
                insert_history(t, h)?;
            }
            Ok(true)
        })
    }

    /// Claims the evaluation of an alarm at `now_ms`: `true` for the one caller (of any node)
    /// that moved its evaluation time from the `seen_ms` it read.
    pub fn claim(&self, name: &str, seen_ms: i64, now_ms: i64) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "UPDATE alarms SET evaluated_ms = ?3 WHERE name = ?1 AND evaluated_ms = ?2",
                args![name, seen_ms, now_ms],
            )?;
            Ok(n == 1)
        })
    }

    /// History items, newest first, in `[from_ms, to_ms)`, of one alarm or all.
    pub fn history(
        &self,
        name: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<HistoryItem>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT name, ts_ms, kind, summary, data FROM alarm_history
                 WHERE (?1 = '' OR name = ?1) AND ts_ms >= ?2 AND ts_ms < ?3
                 ORDER BY ts_ms DESC",
                args![name.unwrap_or(""), from_ms, to_ms],
                |r| {
                    Ok(HistoryItem {
                        name: r.get(0)?,
                        ts_ms: r.get(1)?,
                        kind: r.get(2)?,
                        summary: r.get(3)?,
                        data: r.get(4)?,
                    })
                },
            )
        })
    }
}

fn insert_history(t: &stratus_db::Tx<'_>, h: &HistoryItem) -> Result<()> {
    t.execute(
        "INSERT INTO alarm_history (name, ts_ms, kind, summary, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        args![h.name, h.ts_ms, h.kind, h.summary, h.data],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, ts_ms: i64) -> HistoryItem {
        HistoryItem {
            name: name.into(),
            ts_ms,
            kind: "StateUpdate".into(),
            summary: "s".into(),
            data: "{}".into(),
        }
    }

    #[test]
    fn datapoints_round_trip_and_list() {
        for b in stratus_db::testing::backends("cw_points") {
            let db = CloudWatchDb::open(&b.location).unwrap();
            let dims = vec![("Host".to_string(), "a".to_string())];
            let put = |ts, v| Put {
                namespace: "App".into(),
                name: "Latency".into(),
                dims: dims.clone(),
                unit: "Milliseconds".into(),
                sample: Sample::one(ts, v),
            };
            db.put_datapoints(&[put(1_000, 2.0), put(2_000, 3.0)])
                .unwrap();
            let got = db.samples("App", "Latency", &dims, 0, 1_500).unwrap();
            assert_eq!(got, vec![(Sample::one(1_000, 2.0), "Milliseconds".into())]);
            assert!(db
                .samples("App", "Latency", &vec![], 0, 5_000)
                .unwrap()
                .is_empty());
            assert_eq!(
                db.metrics(0).unwrap(),
                vec![("App".into(), "Latency".into(), dims)]
            );
            assert_eq!(db.purge(1_500).unwrap(), 1);
        }
    }

    #[test]
    fn alarms_are_claimed_once_per_evaluation() {
        for b in stratus_db::testing::backends("cw_alarms") {
            let db = CloudWatchDb::open(&b.location).unwrap();
            let doc = serde_json::json!({"AlarmName": "a"});
            db.put_alarm("a", &doc, &item("a", 5)).unwrap();
            assert_eq!(db.alarms().unwrap(), vec![(doc.clone(), 0)]);
            assert!(db.claim("a", 0, 100).unwrap());
            assert!(!db.claim("a", 0, 100).unwrap(), "a second node loses");
            let newer = serde_json::json!({"AlarmName": "a", "StateValue": "ALARM"});
            assert!(db.update_alarm("a", &newer, &[item("a", 7)]).unwrap());
            assert_eq!(db.alarm("a").unwrap(), Some(newer));
            assert_eq!(
                db.history(Some("a"), 0, 10).unwrap(),
                vec![item("a", 7), item("a", 5)]
            );
            assert!(db.history(Some("b"), 0, 10).unwrap().is_empty());
            db.delete_alarms(&["a".into(), "zz".into()]).unwrap();
            assert_eq!(db.alarm("a").unwrap(), None);
            assert!(!db.update_alarm("a", &doc, &[]).unwrap());
        }
    }
}
