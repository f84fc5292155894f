//! `stratus migrate`: copies every store from one database to another (SQLite to PostgreSQL
//! or back), verified table by table, and safe to run again.

use std::fmt::Write as _;

use anyhow::Context;
use stratus_db::copy::{copy_store, TableCopy};
use stratus_db::{Db, Location, StoreSpec};

/// Every store on the storage layer, in the order they are copied. Function logs are not
/// among them: on SQLite they are stream files in the data directory, not a store (decision
/// 0018), and stay there.
pub fn stores() -> Vec<StoreSpec<'static>> {
    vec![
        stratus_store::meta::Meta::spec(),
        stratus_metering::store::UsageDb::spec(),
        stratus_tables::store::spec("tables"),
        stratus_s3::db::SPEC,
        stratus_topics::store::SPEC,
        stratus_iam::Iam::spec("iam"),
    ]
}

/// What was copied of one store.
pub struct StoreCopy {
    pub store: &'static str,
    pub tables: Vec<TableCopy>,
}

/// Copies each of `stores` from `from` to `to`. The source is only read; each target store is
/// created (and migrated) if it does not exist yet.
pub fn migrate(
    from: &Location,
    to: &Location,
    stores: &[StoreSpec<'static>],
) -> anyhow::Result<Vec<StoreCopy>> {
    if from.to_string() == to.to_string() {
        anyhow::bail!("--from and --to name the same database ({from})");
    }
    let mut out = Vec::new();
    for spec in stores {
        let source =
            Db::open(from, spec).with_context(|| format!("opening {} at {from}", spec.name))?;
        let target =
            Db::open(to, spec).with_context(|| format!("opening {} at {to}", spec.name))?;
        let tables = copy_store(&source, &target)
            .with_context(|| format!("copying the {} store", spec.name))?;
        out.push(StoreCopy {
            store: spec.name,
            tables,
        });
    }
    Ok(out)
}

/// The report `stratus migrate` prints: a line per table.
pub fn render(copies: &[StoreCopy]) -> String {
    let mut s = String::new();
    for c in copies {
        for t in &c.tables {
            let _ = writeln!(
                s,
                "{:<8} {:<20} {:>9} rows  {}  {}",
                c.store,
                t.table,
                t.rows,
                &t.checksum[..16],
                if t.copied {
                    "copied"
                } else {
                    "already identical"
                }
            );
        }
    }
    s
}
