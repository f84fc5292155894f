//! Function metadata in SQLite. Every operation runs inside one transaction under one
//! connection lock, so read-modify-write sequences (publish, alias updates, revision checks)
//! are atomic, and a crash leaves either the old state or the new one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{de::DeserializeOwned, Serialize};
use stratus_core::alias::Alias;
use stratus_core::function::{FunctionConfig, LATEST};
use stratus_core::Result;
use stratus_db::Schema;

use crate::fault;

/// Schema migrations, applied in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE functions (
    name TEXT PRIMARY KEY,
    next_version INTEGER NOT NULL DEFAULT 1,
    published_revision TEXT,
    reserved_concurrency INTEGER,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE versions (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    num INTEGER NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, version)
);
CREATE TABLE aliases (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (function, name)
);
-- Per-qualifier documents: event invoke configs, resource policies.
CREATE TABLE documents (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (function, kind, qualifier)
);
"#,
    r#"
-- Asynchronous invocations waiting to run (or to be retried). A row is deleted only once its
-- outcome is final, so an acknowledged event survives a crash (at-least-once delivery).
CREATE TABLE async_events (
    request_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    trigger TEXT NOT NULL,
    region TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX async_events_due ON async_events(due_ms);
"#,
    r#"
-- API Gateway v2 HTTP APIs, and their integrations, routes, stages and deployments (one
-- JSON document each, keyed by kind and id, deleted with their API).
CREATE TABLE http_apis (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE http_api_items (
    api TEXT NOT NULL REFERENCES http_apis(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (api, kind, id)
);
"#,
];

/// The function-level row: what all versions share.
#[derive(Debug, Clone, Default)]
pub struct FunctionRow {
    pub name: String,
    pub next_version: u64,
    /// `$LATEST`'s RevisionId right after the last publish: equal means nothing changed since.
    pub published_revision: Option<String>,
    pub reserved_concurrency: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

/// The metadata database.
pub struct Meta {
    db: stratus_db::Database,
    /// Bumped after every committed transaction that changed a row, so readers can keep
    /// derived copies (see [`Meta::generation`]).
    generation: AtomicU64,
}

impl Meta {
    /// Opens (or creates) the metadata database, with foreign keys on: deleting a function
    /// cascades to its versions, aliases and documents.
    pub fn open(path: &Path) -> std::result::Result<Self, stratus_db::Error> {
        let options = stratus_db::Options { foreign_keys: true };
        let db = stratus_db::Database::open(path, options, Schema::Versioned(MIGRATIONS))?;
        Ok(Meta {
            db,
            generation: AtomicU64::new(0),
        })
    }

    /// A number that changes whenever a committed transaction has written: a copy of anything
    /// read at generation `g` is still current while this returns `g`. Read it *before* the
    /// transaction whose results are kept, so a write racing with that read only makes the copy
    /// look older than it is.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` in one transaction, committed only if it returns `Ok`.
    pub fn tx<T>(&self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let (out, changed) = self.db.transaction(|t| f(&Tx(t)), fault)?;
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(out)
    }
}

/// Typed reads and writes inside a transaction.
pub struct Tx<'a>(pub(crate) &'a Transaction<'a>);

pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| fault("decode stored document", e))
}

/// Orders versions numerically, `$LATEST` first.
fn version_num(version: &str) -> i64 {
    if version == LATEST {
        0
    } else {
        version.parse().unwrap_or(i64::MAX)
    }
}

impl Tx<'_> {
    pub fn function(&self, name: &str) -> Result<Option<FunctionRow>> {
        // Cached statements: these two reads are on every invocation's path.
        self.0
            .prepare_cached(
                "SELECT next_version, published_revision, reserved_concurrency, tags
                 FROM functions WHERE name = ?1",
            )
            .map_err(|e| fault("prepare", e))?
            .query_row([name], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()
            .map_err(|e| fault("read function", e))?
            .map(|(next, published, reserved, tags)| {
                Ok(FunctionRow {
                    name: name.to_string(),
                    next_version: next as u64,
                    published_revision: published,
                    reserved_concurrency: reserved.map(|v| v as u32),
                    tags: from_json(&tags)?,
                })
            })
            .transpose()
    }

    pub fn put_function(&self, row: &FunctionRow) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO functions (name, next_version, published_revision, reserved_concurrency, tags)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET next_version = ?2, published_revision = ?3,
                   reserved_concurrency = ?4, tags = ?5",
                params![
                    row.name,
                    row.next_version as i64,
                    row.published_revision,
                    row.reserved_concurrency.map(i64::from),
                    to_json(&row.tags)
                ],
            )
            .map_err(|e| fault("write function", e))?;
        Ok(())
    }

    pub fn delete_function(&self, name: &str) -> Result<()> {
        self.0
            .execute("DELETE FROM functions WHERE name = ?1", [name])
            .map_err(|e| fault("delete function", e))?;
        Ok(())
    }

    pub fn version(&self, name: &str, version: &str) -> Result<Option<FunctionConfig>> {
        self.0
            .prepare_cached("SELECT config FROM versions WHERE function = ?1 AND version = ?2")
            .map_err(|e| fault("prepare", e))?
            .query_row([name, version], |r| r.get::<_, String>(0))
            .optional()
            .map_err(|e| fault("read version", e))?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn put_version(&self, cfg: &FunctionConfig) -> Result<()> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO versions (function, version, num, config) VALUES (?1, ?2, ?3, ?4)",
                params![cfg.name, cfg.version, version_num(&cfg.version), to_json(cfg)],
            )
            .map_err(|e| fault("write version", e))?;
        Ok(())
    }

    pub fn delete_version(&self, name: &str, version: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM versions WHERE function = ?1 AND version = ?2",
                [name, version],
            )
            .map_err(|e| fault("delete version", e))?;
        self.0
            .execute(
                "DELETE FROM documents WHERE function = ?1 AND qualifier = ?2",
                [name, version],
            )
            .map_err(|e| fault("delete version documents", e))?;
        Ok(())
    }

    /// All versions of a function, `$LATEST` first, then by number.
    pub fn versions(&self, name: &str) -> Result<Vec<FunctionConfig>> {
        self.configs(
            "SELECT config FROM versions WHERE function = ?1 ORDER BY num",
            params![name],
        )
    }

    /// The highest published version, if any.
    pub fn last_published(&self, name: &str) -> Result<Option<FunctionConfig>> {
        let mut v = self.configs(
            "SELECT config FROM versions WHERE function = ?1 AND num > 0 ORDER BY num DESC LIMIT 1",
            params![name],
        )?;
        Ok(v.pop())
    }

    /// `$LATEST` of every function whose name sorts after `after`, by name.
    pub fn latest_after(&self, after: &str, limit: usize) -> Result<Vec<FunctionConfig>> {
        self.configs(
            "SELECT config FROM versions WHERE version = '$LATEST' AND function > ?1
             ORDER BY function LIMIT ?2",
            params![after, limit as i64],
        )
    }

    /// Every version of every function, ordered by (name, version), after a position.
    pub fn all_versions_after(
        &self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<FunctionConfig>> {
        self.configs(
            "SELECT config FROM versions WHERE (function, num) > (?1, ?2)
             ORDER BY function, num LIMIT ?3",
            params![after.0, after.1, limit as i64],
        )
    }

    fn configs(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<FunctionConfig>> {
        let mut stmt = self
            .0
            .prepare_cached(sql)
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map(p, |r| r.get::<_, String>(0))
            .map_err(|e| fault("query versions", e))?;
        rows.map(|r| from_json(&r.map_err(|e| fault("read row", e))?))
            .collect()
    }

    pub fn function_count(&self) -> Result<(u64, u64)> {
        self.0
            .query_row(
                "SELECT (SELECT COUNT(*) FROM functions), (SELECT COALESCE(SUM(json_extract(config, '$.code.size')), 0) FROM versions)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| fault("count functions", e))
    }

    pub fn total_reserved(&self, except: &str) -> Result<u64> {
        self.0
            .query_row(
                "SELECT COALESCE(SUM(reserved_concurrency), 0) FROM functions WHERE name != ?1",
                [except],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(|e| fault("sum reserved concurrency", e))
    }

    pub fn alias(&self, function: &str, name: &str) -> Result<Option<Alias>> {
        self.0
            .query_row(
                "SELECT config FROM aliases WHERE function = ?1 AND name = ?2",
                [function, name],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| fault("read alias", e))?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn put_alias(&self, function: &str, alias: &Alias) -> Result<()> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO aliases (function, name, config) VALUES (?1, ?2, ?3)",
                params![function, alias.name, to_json(alias)],
            )
            .map_err(|e| fault("write alias", e))?;
        Ok(())
    }

    pub fn delete_alias(&self, function: &str, name: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM aliases WHERE function = ?1 AND name = ?2",
                [function, name],
            )
            .map_err(|e| fault("delete alias", e))?;
        self.0
            .execute(
                "DELETE FROM documents WHERE function = ?1 AND qualifier = ?2",
                [function, name],
            )
            .map_err(|e| fault("delete alias documents", e))?;
        Ok(())
    }

    pub fn aliases(&self, function: &str) -> Result<Vec<Alias>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT config FROM aliases WHERE function = ?1 ORDER BY name")
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map([function], |r| r.get::<_, String>(0))
            .map_err(|e| fault("query aliases", e))?;
        rows.map(|r| from_json(&r.map_err(|e| fault("read row", e))?))
            .collect()
    }

    /// A per-qualifier document of some kind (`event-invoke-config`, `policy`).
    pub fn document<T: DeserializeOwned>(
        &self,
        function: &str,
        kind: &str,
        qualifier: &str,
    ) -> Result<Option<T>> {
        self.0
            .query_row(
                "SELECT body FROM documents WHERE function = ?1 AND kind = ?2 AND qualifier = ?3",
                [function, kind, qualifier],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| fault("read document", e))?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn documents<T: DeserializeOwned>(
        &self,
        function: &str,
        kind: &str,
    ) -> Result<Vec<(String, T)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT qualifier, body FROM documents WHERE function = ?1 AND kind = ?2 ORDER BY qualifier")
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map([function, kind], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| fault("query documents", e))?;
        rows.map(|r| {
            let (q, b) = r.map_err(|e| fault("read row", e))?;
            Ok((q, from_json(&b)?))
        })
        .collect()
    }

    pub fn put_document<T: Serialize>(
        &self,
        function: &str,
        kind: &str,
        qualifier: &str,
        body: &T,
    ) -> Result<()> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO documents (function, kind, qualifier, body) VALUES (?1, ?2, ?3, ?4)",
                params![function, kind, qualifier, to_json(body)],
            )
            .map_err(|e| fault("write document", e))?;
        Ok(())
    }

    pub fn delete_document(&self, function: &str, kind: &str, qualifier: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM documents WHERE function = ?1 AND kind = ?2 AND qualifier = ?3",
                [function, kind, qualifier],
            )
            .map_err(|e| fault("delete document", e))?;
        Ok(())
    }
}

/// One queued asynchronous invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncEvent {
    pub request_id: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    /// What queued it: `async`, `s3`, `destination`, ...
    pub trigger: String,
    /// Region of the request that queued it (ARNs in records and destinations use it).
    pub region: String,
    pub attempts: u32,
    pub enqueued_ms: i64,
    pub due_ms: i64,
}

impl Tx<'_> {
    pub fn enqueue(&self, e: &AsyncEvent) -> Result<()> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO async_events (request_id, function, qualifier, payload, trigger, region, attempts, enqueued_ms, due_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![e.request_id, e.function, e.qualifier, e.payload, e.trigger, e.region, e.attempts, e.enqueued_ms, e.due_ms],
            )
            .map_err(|e| fault("enqueue event", e))?;
        Ok(())
    }

    /// Events due at `now_ms`, leased until `lease_ms` so no other pass takes them meanwhile
    /// (and a crash makes them due again once the lease runs out).
    pub fn claim_due(&self, now_ms: i64, lease_ms: i64, limit: usize) -> Result<Vec<AsyncEvent>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT request_id, function, qualifier, payload, trigger, region, attempts, enqueued_ms, due_ms
                 FROM async_events WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2",
            )
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map(params![now_ms, limit as i64], |r| {
                Ok(AsyncEvent {
                    request_id: r.get(0)?,
                    function: r.get(1)?,
                    qualifier: r.get(2)?,
                    payload: r.get(3)?,
                    trigger: r.get(4)?,
                    region: r.get(5)?,
                    attempts: r.get(6)?,
                    enqueued_ms: r.get(7)?,
                    due_ms: r.get(8)?,
                })
            })
            .map_err(|e| fault("query events", e))?;
        let events: Vec<AsyncEvent> = rows
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| fault("read event", e))?;
        for e in &events {
            self.0
                .execute(
                    "UPDATE async_events SET due_ms = ?2, leased = 1 WHERE request_id = ?1",
                    params![e.request_id, lease_ms],
                )
                .map_err(|e| fault("lease event", e))?;
        }
        Ok(events)
    }

    pub fn reschedule(&self, request_id: &str, attempts: u32, due_ms: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE async_events SET attempts = ?2, due_ms = ?3, leased = 0 WHERE request_id = ?1",
                params![request_id, attempts, due_ms],
            )
            .map_err(|e| fault("reschedule event", e))?;
        Ok(())
    }

    /// Makes events that a previous process had claimed (and never finished) due now: that
    /// process is gone, so nobody is running them.
    pub fn release_leases(&self, now_ms: i64) -> Result<usize> {
        self.0
            .execute(
                "UPDATE async_events SET due_ms = ?1, leased = 0 WHERE leased = 1",
                [now_ms],
            )
            .map_err(|e| fault("release leases", e))
    }

    pub fn finish(&self, request_id: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM async_events WHERE request_id = ?1",
                [request_id],
            )
            .map_err(|e| fault("finish event", e))?;
        Ok(())
    }

    pub fn queue_stats(&self) -> Result<(u64, Option<i64>)> {
        self.0
            .query_row(
                "SELECT COUNT(*), MIN(enqueued_ms) FROM async_events",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Option<i64>>(1)?)),
            )
            .map_err(|e| fault("queue stats", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_core::function::CodeRef;

    #[test]
    fn generation_moves_only_when_a_commit_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("g.db")).unwrap();
        let g0 = meta.generation();
        meta.tx(|tx| tx.function("nope")).unwrap();
        assert_eq!(meta.generation(), g0, "a read leaves it alone");
        let ev = AsyncEvent {
            request_id: "r".into(),
            function: "f".into(),
            qualifier: None,
            payload: Vec::new(),
            trigger: "async".into(),
            region: "us-east-1".into(),
            attempts: 0,
            enqueued_ms: 1,
            due_ms: 1,
        };
        let failed: Result<()> = meta.tx(|tx| {
            tx.enqueue(&ev)?;
            Err(stratus_core::Error::service())
        });
        assert!(failed.is_err());
        assert_eq!(meta.generation(), g0, "a rolled-back write leaves it alone");
        meta.tx(|tx| tx.enqueue(&ev)).unwrap();
        assert_ne!(meta.generation(), g0, "a committed write moves it");
    }

    #[test]
    fn queued_events_are_leased_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let ev = AsyncEvent {
            request_id: "r1".into(),
            function: "f".into(),
            qualifier: None,
            payload: b"{}".to_vec(),
            trigger: "async".into(),
            region: "us-east-1".into(),
            attempts: 0,
            enqueued_ms: 10,
            due_ms: 10,
        };
        Meta::open(&path).unwrap().tx(|tx| tx.enqueue(&ev)).unwrap();
        let meta = Meta::open(&path).unwrap();
        let claimed = meta.tx(|tx| tx.claim_due(20, 1000, 10)).unwrap();
        assert_eq!(claimed, vec![ev]);
        assert!(
            meta.tx(|tx| tx.claim_due(500, 2000, 10))
                .unwrap()
                .is_empty(),
            "leased"
        );
        assert_eq!(
            meta.tx(|tx| tx.claim_due(1000, 3000, 10)).unwrap().len(),
            1,
            "lease expired"
        );
        meta.tx(|tx| tx.finish("r1")).unwrap();
        assert_eq!(meta.tx(|tx| tx.queue_stats()).unwrap().0, 0);
    }

    fn cfg(name: &str, version: &str) -> FunctionConfig {
        FunctionConfig {
            name: name.into(),
            version: version.into(),
            runtime: Some("python3.12".into()),
            role: "arn:aws:iam::123456789012:role/r".into(),
            handler: Some("app.handler".into()),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            environment: None,
            architectures: vec!["x86_64".into()],
            ephemeral_storage: 512,
            package_type: "Zip".into(),
            tracing_mode: "PassThrough".into(),
            dead_letter_target: None,
            kms_key_arn: None,
            log_format: "Text".into(),
            log_group: None,
            code: CodeRef {
                sha256_hex: "ab".into(),
                sha256_b64: "qw==".into(),
                size: 10,
            },
            last_modified: "x".into(),
            revision_id: "r".into(),
            source_description: None,
        }
    }

    #[test]
    fn versions_survive_reopen_and_cascade_on_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let meta = Meta::open(&path).unwrap();
            meta.tx(|tx| {
                tx.put_function(&FunctionRow {
                    name: "f".into(),
                    next_version: 3,
                    ..Default::default()
                })?;
                tx.put_version(&cfg("f", "$LATEST"))?;
                tx.put_version(&cfg("f", "2"))?;
                tx.put_version(&cfg("f", "10"))?;
                Ok(())
            })
            .unwrap();
        }
        let meta = Meta::open(&path).unwrap();
        let versions: Vec<String> = meta
            .tx(|tx| tx.versions("f"))
            .unwrap()
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(versions, ["$LATEST", "2", "10"]);
        assert_eq!(
            meta.tx(|tx| tx.last_published("f"))
                .unwrap()
                .unwrap()
                .version,
            "10"
        );
        meta.tx(|tx| tx.delete_function("f")).unwrap();
        assert!(meta.tx(|tx| tx.versions("f")).unwrap().is_empty());
    }

    #[test]
    fn failed_transaction_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("m.db")).unwrap();
        let r: Result<()> = meta.tx(|tx| {
            tx.put_function(&FunctionRow {
                name: "g".into(),
                next_version: 1,
                ..Default::default()
            })?;
            Err(stratus_core::Error::invalid("no"))
        });
        assert!(r.is_err());
        assert!(meta.tx(|tx| tx.function("g")).unwrap().is_none());
    }
}
