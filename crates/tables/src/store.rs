//! The SQLite file behind the tables: one row per table definition and one per item, keyed by
//! (table, partition key bytes, sort key bytes) so that SQLite's index gives Query its ranges
//! and order. WAL mode with `synchronous=NORMAL`: a committed write survives the process being
//! killed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use stratus_core::{Error, Kind};

use crate::table::Table;
use crate::value::{item_size, item_to_json, stored_item_from_json, Item};

const SCHEMA: &str = "
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
";

pub fn db_err(e: rusqlite::Error) -> Error {
    tracing::error!(error = %e, "tables store");
    Error::new(
        "InternalServerError",
        Kind::Internal,
        "Internal server error",
    )
}

/// One open store; callers hold it under a mutex, so each operation sees and writes a
/// consistent state.
pub struct Db {
    pub conn: Connection,
    pub tables: HashMap<String, Arc<Table>>,
    /// TransactWriteItems' ClientRequestTokens: when each was used and on which request.
    pub tokens: HashMap<String, (std::time::Instant, String)>,
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
        Error::new(
            "InternalServerError",
            Kind::Internal,
            "Internal server error",
        )
    })?;
    stored_item_from_json(&v)
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, String> {
        // The schema is idempotent: it predates versioned migrations.
        let schema = stratus_db::Schema::Idempotent(SCHEMA);
        let conn = stratus_db::open(path, stratus_db::Options::default(), schema)
            .map_err(|e| e.to_string())?;
        let mut tables = HashMap::new();
        {
            let mut st = conn
                .prepare("SELECT def FROM tables")
                .map_err(|e| e.to_string())?;
            let defs = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| e.to_string())?;
            for d in defs {
                let t: Table = serde_json::from_str(&d.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                tables.insert(t.name.clone(), Arc::new(t));
            }
        }
        Ok(Db {
            conn,
            tables,
            tokens: HashMap::new(),
        })
    }

    pub fn table(&self, name: &str) -> Result<Arc<Table>, Error> {
        self.tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found("Requested resource not found"))
    }

    pub fn save_table(&mut self, t: Table) -> Result<Arc<Table>, Error> {
        let def = serde_json::to_string(&t).unwrap_or_default();
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO tables (name, def) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![t.name, def]))
            .map_err(db_err)?;
        let t = Arc::new(t);
        self.tables.insert(t.name.clone(), t.clone());
        Ok(t)
    }

    pub fn drop_table(&mut self, name: &str) -> Result<(), Error> {
        let tx = self.conn.transaction().map_err(db_err)?;
        tx.execute("DELETE FROM items WHERE tbl = ?1", [name])
            .map_err(db_err)?;
        tx.execute("DELETE FROM tables WHERE name = ?1", [name])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        self.tables.remove(name);
        Ok(())
    }

    /// ItemCount and TableSizeBytes.
    pub fn stats(&self, name: &str) -> Result<(i64, i64), Error> {
        self.conn
            .prepare_cached("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM items WHERE tbl = ?1")
            .and_then(|mut s| s.query_row([name], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(db_err)
    }

    pub fn get(&self, tbl: &str, pk: &[u8], sk: &[u8]) -> Result<Option<Item>, Error> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT item FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3")
            .and_then(|mut s| s.query_row(params![tbl, pk, sk], |r| r.get(0)).optional())
            .map_err(db_err)?;
        text.map(|t| decode(&t)).transpose()
    }

    pub fn put(&self, tbl: &str, pk: &[u8], sk: &[u8], item: &Item) -> Result<(), Error> {
        let text = item_to_json(item).to_string();
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO items (tbl, pk, sk, item, size) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![tbl, pk, sk, text, item_size(item) as i64]))
            .map_err(db_err)?;
        Ok(())
    }

    pub fn delete(&self, tbl: &str, pk: &[u8], sk: &[u8]) -> Result<(), Error> {
        self.conn
            .prepare_cached("DELETE FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3")
            .and_then(|mut s| s.execute(params![tbl, pk, sk]))
            .map_err(db_err)?;
        Ok(())
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
        let mut sql = String::from("SELECT sk, item FROM items WHERE tbl = ?1 AND pk = ?2");
        let mut args: Vec<Vec<u8>> = Vec::new();
        let mut bind = |sql: &mut String, op: &str, v: &[u8]| {
            args.push(v.to_vec());
            sql.push_str(&format!(" AND sk {op} ?{}", args.len() + 2));
        };
        if let Some((v, inc)) = &range.lower {
            bind(&mut sql, if *inc { ">=" } else { ">" }, v);
        }
        if let Some((v, inc)) = &range.upper {
            bind(&mut sql, if *inc { "<=" } else { "<" }, v);
        }
        if let Some(a) = after {
            bind(&mut sql, if forward { ">" } else { "<" }, a);
        }
        sql.push_str(if forward {
            " ORDER BY sk ASC"
        } else {
            " ORDER BY sk DESC"
        });
        sql.push_str(&format!(" LIMIT {limit}"));
        let mut st = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&tbl, &pk];
        for a in &args {
            params.push(a);
        }
        let rows = st
            .query_map(params.as_slice(), |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for r in rows {
            let (sk, text) = r.map_err(db_err)?;
            out.push(Row {
                pk: pk.to_vec(),
                sk,
                item: decode(&text)?,
            });
        }
        Ok(out)
    }

    /// Visits a table's items in (partition, sort) key order after `after`, until `visit`
    /// returns false.
    pub fn scan(
        &self,
        tbl: &str,
        after: Option<(&[u8], &[u8])>,
        mut visit: impl FnMut(Row) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let (sql, a, b) = match after {
            Some((pk, sk)) => (
                "SELECT pk, sk, item FROM items WHERE tbl = ?1 AND (pk, sk) > (?2, ?3) ORDER BY pk, sk",
                pk.to_vec(),
                sk.to_vec(),
            ),
            None => (
                "SELECT pk, sk, item FROM items WHERE tbl = ?1 AND ?2 IS NOT NULL AND ?3 IS NOT NULL ORDER BY pk, sk",
                Vec::new(),
                Vec::new(),
            ),
        };
        let mut st = self.conn.prepare_cached(sql).map_err(db_err)?;
        let mut rows = st.query(params![tbl, a, b]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let row = Row {
                pk: r.get(0).map_err(db_err)?,
                sk: r.get(1).map_err(db_err)?,
                item: decode(&r.get::<_, String>(2).map_err(db_err)?)?,
            };
            if !visit(row)? {
                break;
            }
        }
        Ok(())
    }
}
