//! Copying a store from one backend to another (`stratus migrate`): every table, parents
//! before the tables that reference them, verified by row counts and checksums.
//!
//! Idempotent: a store whose every table already matches is left alone; otherwise the
//! target's tables are emptied and refilled in one transaction, so an interrupted copy leaves
//! the target as it was and the next run starts over.

use sha2::{Digest, Sha256};

use crate::param::Value;
use crate::{Db, Dialect, Error, Tx};

/// What was found and done for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
    /// Hex of the order-independent checksum of the rows (equal on both sides after a copy).
    pub checksum: String,
    /// False when the target already held exactly these rows.
    pub copied: bool,
}

/// Copies every table of `from` into `to` (both opened with the same store's spec, so the
/// target's schema exists) and checks the result.
pub fn copy_store(from: &Db, to: &Db) -> Result<Vec<TableCopy>, Error> {
    let tables = from.tx(tables_parents_first)?;
    let mut source = Vec::new();
    let mut differs = false;
    for table in &tables {
        let columns = from.tx(|t| columns(t, table))?;
        let theirs = from.tx(|t| checksum(t, table, &columns))?;
        let ours = to.tx(|t| checksum(t, table, &columns))?;
        differs |= theirs != ours;
        source.push((table.clone(), columns, theirs));
    }
    if differs {
        to.tx(|t| {
            for (table, _, _) in source.iter().rev() {
                t.execute(&format!("DELETE FROM \"{table}\""), &[])?;
            }
            for (table, columns, _) in &source {
                copy_table(from, t, table, columns)?;
            }
            Ok::<_, Error>(())
        })?;
    }
    let mut report = Vec::new();
    for (table, columns, (rows, sum)) in source {
        let after = to.tx(|t| checksum(t, &table, &columns))?;
        if after != (rows, sum) {
            return Err(Error::new(
                "verifying the copy of",
                format!("table {table}"),
                crate::Cause::Invalid(format!(
                    "source has {rows} rows, target {} (or their checksums differ)",
                    after.0
                )),
            ));
        }
        report.push(TableCopy {
            table,
            rows,
            checksum: hex(&sum),
            copied: differs,
        });
    }
    Ok(report)
}

fn copy_table(from: &Db, to: &Tx<'_>, table: &str, columns: &[String]) -> Result<(), Error> {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let marks = (1..=columns.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let identity = identity_columns(to, table)?;
    let overriding = if identity.is_empty() {
        ""
    } else {
        " OVERRIDING SYSTEM VALUE"
    };
    let insert = format!("INSERT INTO \"{table}\" ({list}){overriding} VALUES ({marks})");
    let select = format!("SELECT {list} FROM \"{table}\"");
    from.tx(|s| {
        s.query_each(&select, &[], |row| {
            let values = (0..columns.len())
                .map(|i| row.get::<Value>(i))
                .collect::<Result<Vec<_>, _>>()?;
            let args: Vec<&dyn crate::Param> =
                values.iter().map(|v| v as &dyn crate::Param).collect();
            to.execute(&insert, &args)?;
            Ok::<_, Error>(true)
        })
    })?;
    // Identity columns continue after the highest copied value.
    for column in identity {
        to.query_opt(
            &format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), \
                 COALESCE(MAX(\"{column}\"), 0) + 1, false) FROM \"{table}\""
            ),
            &[],
            |_| Ok(()),
        )?;
    }
    Ok(())
}

/// The store's tables, each after the tables it references.
fn tables_parents_first(t: &Tx<'_>) -> Result<Vec<String>, Error> {
    let sql = match t.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> 'schema_version' ORDER BY table_name"
        }
    };
    let mut pending: Vec<(String, Vec<String>)> = Vec::new();
    for table in t.query_map(sql, &[], |r| r.get::<String>(0))? {
        let parents = parents(t, &table)?;
        pending.push((table, parents));
    }
    let mut ordered: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|(table, parents)| {
            let ready = parents.iter().all(|p| p == table || ordered.contains(p));
            if ready {
                ordered.push(table.clone());
            }
            !ready
        });
        if pending.len() == before {
            // A reference cycle: keep the remaining order; the copy runs in one transaction.
            ordered.extend(pending.drain(..).map(|(t, _)| t));
        }
    }
    Ok(ordered)
}

fn parents(t: &Tx<'_>, table: &str) -> Result<Vec<String>, Error> {
    let sql = match t.dialect() {
        Dialect::Sqlite => "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
        Dialect::Postgres => {
            "SELECT DISTINCT CAST(ccu.table_name AS TEXT) \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.constraint_column_usage ccu \
               ON tc.constraint_name = ccu.constraint_name \
              AND tc.constraint_schema = ccu.constraint_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() \
               AND tc.table_name = ?1"
        }
    };
    t.query_map(sql, crate::args![table], |r| r.get(0))
}

fn columns(t: &Tx<'_>, table: &str) -> Result<Vec<String>, Error> {
    let sql = match t.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Dialect::Postgres => {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    t.query_map(sql, crate::args![table], |r| r.get(0))
}

fn identity_columns(t: &Tx<'_>, table: &str) -> Result<Vec<String>, Error> {
    if t.dialect() == Dialect::Sqlite {
        return Ok(Vec::new());
    }
    t.query_map(
        "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 AND is_identity = 'YES'",
        crate::args![table],
        |r| r.get(0),
    )
}

/// Row count and an order-independent checksum: the sum of each row's SHA-256 (as four
/// 64-bit lanes), over values encoded so that both backends' spellings of one value agree
/// (text and bytes alike; a whole real as its integer).
fn checksum(t: &Tx<'_>, table: &str, columns: &[String]) -> Result<(u64, [u8; 32]), Error> {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = 0u64;
    let mut lanes = [0u64; 4];
    t.query_each(&format!("SELECT {list} FROM \"{table}\""), &[], |row| {
        let mut h = Sha256::new();
        for i in 0..columns.len() {
            encode(&mut h, &row.get::<Value>(i)?);
        }
        let digest = h.finalize();
        for (lane, chunk) in lanes.iter_mut().zip(digest.chunks(8)) {
            let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            *lane = lane.wrapping_add(v);
        }
        rows += 1;
        Ok::<_, Error>(true)
    })?;
    let mut sum = [0u8; 32];
    for (out, lane) in sum.chunks_mut(8).zip(lanes) {
        out.copy_from_slice(&lane.to_le_bytes());
    }
    Ok((rows, sum))
}

fn encode(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update([0u8]),
        Value::Int(n) => {
            h.update([1u8]);
            h.update(n.to_le_bytes());
        }
        Value::Real(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
            h.update([1u8]);
            h.update((*n as i64).to_le_bytes());
        }
        Value::Real(n) => {
            h.update([2u8]);
            h.update(n.to_bits().to_le_bytes());
        }
        Value::Text(s) => bytes(h, s.as_bytes()),
        Value::Blob(b) => bytes(h, b),
    }
}

fn bytes(h: &mut Sha256, b: &[u8]) {
    h.update([3u8]);
    h.update((b.len() as u64).to_le_bytes());
    h.update(b);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
