//! `stratus migrate`: copies every store from one database to another (SQLite to PostgreSQL
//! or back), verified table by table; the function logs of a SQLite data directory into the
//! `logs` store when the target is PostgreSQL; and every blob (code packages, object bodies)
//! from one blob store to another. Each part is verified and safe to run again.

use std::fmt::Write as _;

use anyhow::Context;
use stratus_db::copy::{copy_store, TableCopy};
use stratus_db::{Db, Location, StoreSpec};

/// Every store on the storage layer, in the order they are copied. Function logs are not
/// among them: on SQLite they are stream files in the data directory, not a store (decision
/// 0018), copied by [`migrate_logs`].
pub fn stores() -> Vec<StoreSpec<'static>> {
    vec![
        stratus_store::meta::Meta::spec(),
        stratus_metering::store::UsageDb::spec(),
        stratus_tables::store::spec("tables"),
        stratus_s3::db::SPEC,
        stratus_topics::store::SPEC,
        stratus_events::store::SPEC,
        stratus_queues::store::SPEC,
        stratus_iam::Iam::spec("iam"),
        stratus_cloudwatch::store::CloudWatchDb::spec(),
        stratus_stacks::store::SPEC,
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

/// Copies the stream files of a SQLite data directory into the `logs` store when the target
/// is PostgreSQL (where the server keeps logs in the database); `None` for any other pair,
/// whose logs stay where they are.
pub fn migrate_logs(
    from: &Location,
    to: &Location,
) -> anyhow::Result<Option<stratus_engine::logs::copy::LogsCopy>> {
    let (Location::Sqlite(dir), Location::Postgres(_)) = (from, to) else {
        return Ok(None);
    };
    let copied = stratus_engine::logs::copy::copy_files_to_database(&dir.join("logs"), to)
        .context("copying the function logs")?;
    Ok(Some(copied))
}

/// The report line for the logs.
pub fn render_logs(c: &stratus_engine::logs::copy::LogsCopy) -> String {
    format!(
        "logs     {} groups, {} streams, {} events  {}\n",
        c.groups,
        c.streams,
        c.events,
        outcome(c.copied_streams, "streams")
    )
}

/// What a run did: `already identical`, as for tables, when it wrote nothing.
fn outcome(copied: u64, what: &str) -> String {
    match copied {
        0 => "already identical".into(),
        n => format!("{n} {what} copied"),
    }
}

/// Whether a key listed under a prefix is a blob to copy.
type IsBlob = fn(&str) -> bool;

/// What is kept in a blob store, by prefix, and which keys under it are blobs: code packages
/// (`code/<sha256>.zip`; a local store also keeps the unpacked trees there) and object bodies.
const BLOB_PREFIXES: [(&str, IsBlob); 2] = [
    ("code/", |k| k.ends_with(".zip")),
    ("objects/blobs/", |_| true),
];

/// Copies every blob from one store to another, each checked by size and MD5.
pub async fn migrate_blobs(
    from: &stratus_blobs::BlobStore,
    to: &stratus_blobs::BlobStore,
) -> anyhow::Result<Vec<stratus_blobs::copy::PrefixCopy>> {
    if from.location() == to.location() {
        anyhow::bail!(
            "--from-blob-store and --to-blob-store name the same store ({})",
            from.location()
        );
    }
    let mut out = Vec::new();
    for (prefix, keep) in BLOB_PREFIXES {
        let copied = stratus_blobs::copy::copy_prefix(from, to, prefix, keep)
            .await
            .with_context(|| format!("copying the blobs under {prefix}"))?;
        out.push(copied);
    }
    Ok(out)
}

/// The report lines for the blobs: a line per prefix.
pub fn render_blobs(copies: &[stratus_blobs::copy::PrefixCopy]) -> String {
    let mut s = String::new();
    for c in copies {
        let _ = writeln!(
            s,
            "blobs    {:<20} {:>9} blobs {:>12} bytes  {}",
            c.prefix,
            c.blobs,
            c.bytes,
            outcome(c.copied, "blobs")
        );
    }
    s
}
