//! The streams and their records in the tables store (schema in `crate::store`).

use serde_json::Value;
use stratus_core::Error;
use stratus_db::args;

use super::record::{self, Origin};
use crate::store::Db;
use crate::table::Table;
use crate::value::Item;

/// One stream as stored.
#[derive(Debug, Clone)]
pub struct Stream {
    pub table: String,
    pub label: String,
    pub view: String,
    /// The table's KeySchema when the stream was enabled (DescribeStream's).
    pub keys: Value,
    pub created_ms: i64,
    pub disabled_ms: Option<i64>,
    pub last_seq: i64,
    /// The highest sequence number removed by retention (0: none).
    pub trimmed: i64,
}

const COLUMNS: &str = "tbl, label, view, keys, created, disabled, last_seq, trimmed";

fn row(r: &stratus_db::Row<'_>) -> Result<Stream, stratus_db::Error> {
    let keys: String = r.get(3)?;
    Ok(Stream {
        table: r.get(0)?,
        label: r.get(1)?,
        view: r.get(2)?,
        keys: serde_json::from_str(&keys).unwrap_or(Value::Null),
        created_ms: r.get(4)?,
        disabled_ms: r.get(5)?,
        last_seq: r.get(6)?,
        trimmed: r.get(7)?,
    })
}

impl Db<'_, '_> {
    /// Starts a new stream of `t` (its `stream_label` and view type are set).
    pub fn open_stream(&mut self, t: &Table, view: &str, now_ms: i64) -> Result<(), Error> {
        let label = t.stream_label.clone().unwrap_or_default();
        let keys = t.key.to_json().to_string();
        let n = self
            .tx()
            .execute(
                "INSERT INTO streams (tbl, label, view, keys, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![t.name, label, view, keys, now_ms],
            )
            .map_err(|e| self.err(e))?;
        self.note_write(n);
        Ok(())
    }

    /// Marks table `tbl`'s enabled stream disabled at `now_ms`; its records stay readable.
    pub fn disable_streams(&mut self, tbl: &str, now_ms: i64) -> Result<(), Error> {
        let n = self
            .tx()
            .execute(
                "UPDATE streams SET disabled = ?2 WHERE tbl = ?1 AND disabled IS NULL",
                args![tbl, now_ms],
            )
            .map_err(|e| self.err(e))?;
        self.note_write(n);
        Ok(())
    }

    /// Appends the record of a write to `t`'s stream, if it has one enabled and the item
    /// changed. Taking the next sequence number locks the stream's row until commit, so
    /// numbers follow commit order.
    pub fn record_change(
        &mut self,
        t: &Table,
        old: Option<&Item>,
        new: Option<&Item>,
        origin: Origin,
    ) -> Result<(), Error> {
        let (Some(spec), Some(label)) = (&t.stream, &t.stream_label) else {
            return Ok(());
        };
        if record::event_name(old, new).is_none() {
            return Ok(());
        }
        let view = spec["StreamViewType"].as_str().unwrap_or("KEYS_ONLY");
        let n = self
            .tx()
            .execute(
                "UPDATE streams SET last_seq = last_seq + 1 WHERE tbl = ?1 AND label = ?2",
                args![t.name, label],
            )
            .map_err(|e| self.err(e))?;
        self.note_write(n);
        let Some(s) = self.stream(&t.name, label)? else {
            return Ok(());
        };
        let now = super::now_ms();
        let Some(rec) = record::build(t, view, old, new, origin, s.last_seq, now) else {
            return Ok(());
        };
        let n = self
            .tx()
            .execute(
                "INSERT INTO stream_records (tbl, label, seq, at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![t.name, label, s.last_seq, now, rec.to_string()],
            )
            .map_err(|e| self.err(e))?;
        self.note_write(n);
        Ok(())
    }

    /// The stream of table `tbl` labelled `label`.
    pub fn stream(&self, tbl: &str, label: &str) -> Result<Option<Stream>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM streams WHERE tbl = ?1 AND label = ?2");
        self.tx()
            .query_opt(&sql, args![tbl, label], row)
            .map_err(|e| self.err(e))
    }

    /// Streams after `after` (table, label) in that order, of table `only` if given; at
    /// most `limit`.
    pub fn streams(
        &self,
        only: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<Stream>, Error> {
        let (tbl, label) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {COLUMNS} FROM streams WHERE (?1 = '' OR tbl = ?1) \
             AND (tbl > ?2 OR (tbl = ?2 AND label > ?3)) ORDER BY tbl, label LIMIT ?4"
        );
        self.tx()
            .query_map(
                &sql,
                args![only.unwrap_or(""), tbl, label, limit as i64],
                row,
            )
            .map_err(|e| self.err(e))
    }

    /// Records of a stream after sequence number `after`, in order, at most `limit`.
    pub fn stream_records(
        &self,
        tbl: &str,
        label: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Value)>, Error> {
        let rows: Vec<(i64, String)> = self
            .tx()
            .query_map(
                "SELECT seq, record FROM stream_records WHERE tbl = ?1 AND label = ?2 \
                 AND seq > ?3 ORDER BY seq LIMIT ?4",
                args![tbl, label, after, limit as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, text)| Some((seq, serde_json::from_str(&text).ok()?)))
            .collect())
    }

    /// Retention: removes records written before `cutoff_ms` (remembering the highest
    /// removed per stream, so a reader behind it is told its data was trimmed) and streams
    /// disabled before it. Returns how many records went.
    pub fn trim_streams(&mut self, cutoff_ms: i64) -> Result<usize, Error> {
        let statements: [&str; 3] = [
            "UPDATE streams SET trimmed = (SELECT MAX(r.seq) FROM stream_records r \
             WHERE r.tbl = streams.tbl AND r.label = streams.label AND r.at < ?1) \
             WHERE EXISTS (SELECT 1 FROM stream_records r WHERE r.tbl = streams.tbl \
             AND r.label = streams.label AND r.at < ?1)",
            "DELETE FROM stream_records WHERE at < ?1",
            "DELETE FROM streams WHERE disabled IS NOT NULL AND disabled < ?1",
        ];
        let mut removed = 0;
        for (i, sql) in statements.iter().enumerate() {
            let n = self
                .tx()
                .execute(sql, args![cutoff_ms])
                .map_err(|e| self.err(e))?;
            self.note_write(n);
            if i == 1 {
                removed = n;
            }
        }
        Ok(removed)
    }
}
