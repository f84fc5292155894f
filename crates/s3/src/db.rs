//! Object metadata in its own SQLite database (`s3.db`), so object traffic never queues behind
//! the function metadata lock. An object row points at a blob file; replacing an object is one
//! row update, the commit point of every write.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

pub type DbResult<T> = Result<T, rusqlite::Error>;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    notification TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    attrs TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL,
    attrs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"#;

/// Columns added after the first schema: (table, column, declaration). A data directory written
/// before them gets them when it is opened; rows that predate them read the defaults.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("objects", "parts", "TEXT"),
    ("objects", "upload_id", "TEXT"),
    ("objects", "tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("objects", "checksums", "TEXT"),
    ("uploads", "tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("buckets", "versioning", "TEXT"),
    ("buckets", "tags", "TEXT"),
    ("buckets", "policy", "TEXT"),
];

/// Adds each of [`ADDED_COLUMNS`] that `conn`'s tables do not have yet.
fn add_missing_columns(conn: &Connection) -> DbResult<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// A tag set (object or bucket), in the order it was given.
pub type Tags = Vec<(String, String)>;

/// An object's additional checksums (base64, as on the wire), each present when the upload
/// named its algorithm.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The stored headers of an object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Attrs {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectRow {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    pub attrs: Attrs,
    /// The sizes of the parts of an object completed from a multipart upload, in order (for
    /// reads by part number); `None` for an object written whole.
    pub parts: Option<Vec<u64>>,
    /// The multipart upload this object was completed from (a repeated completion answers
    /// with this object).
    pub upload_id: Option<String>,
    pub tags: Tags,
    pub checksums: Checksums,
}

#[derive(Debug, Clone)]
pub struct UploadRow {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: i64,
    pub attrs: Attrs,
    /// The tags the completed object will have (CreateMultipartUpload's `x-amz-tagging`).
    pub tags: Tags,
}

#[derive(Debug, Clone)]
pub struct PartRow {
    pub part_number: i32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: i64,
}

pub struct Db {
    db: stratus_db::Database,
}

impl Db {
    /// Opens (or creates) `s3.db`: the schema is idempotent (it predates versioned
    /// migrations), and the columns added since are added to an older file.
    pub fn open(path: &Path) -> Result<Db, stratus_db::Error> {
        let schema = stratus_db::Schema::Idempotent(SCHEMA);
        let conn = stratus_db::open(path, stratus_db::Options::default(), schema)?;
        add_missing_columns(&conn)
            .map_err(|source| stratus_db::Error::sqlite("adding columns to", path, source))?;
        Ok(Db { db: conn.into() })
    }

    pub fn tx<T>(&self, f: impl FnOnce(&Tx) -> DbResult<T>) -> DbResult<T> {
        self.db.tx(|t| f(&Tx(t)))
    }
}

pub struct Tx<'a>(&'a Transaction<'a>);

fn attrs_of(s: String) -> Attrs {
    serde_json::from_str(&s).unwrap_or_default()
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn object_from(r: &rusqlite::Row<'_>) -> DbResult<ObjectRow> {
    Ok(ObjectRow {
        bucket: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        etag: r.get(4)?,
        last_modified_ms: r.get(5)?,
        attrs: attrs_of(r.get(6)?),
        parts: r
            .get::<_, Option<String>>(7)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        upload_id: r.get(8)?,
        tags: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
        checksums: r
            .get::<_, Option<String>>(10)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
    })
}

fn upload_from(r: &rusqlite::Row<'_>) -> DbResult<UploadRow> {
    Ok(UploadRow {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        initiated_ms: r.get(3)?,
        attrs: attrs_of(r.get(4)?),
        tags: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
    })
}

const OBJECT_COLUMNS: &str =
    "bucket, key, blob, size, etag, last_modified_ms, attrs, parts, upload_id, tags, checksums";

impl Tx<'_> {
    pub fn bucket_exists(&self, name: &str) -> DbResult<bool> {
        Ok(self
            .0
            .query_row("SELECT 1 FROM buckets WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn create_bucket(&self, name: &str, now_ms: i64) -> DbResult<bool> {
        Ok(self.0.execute(
            "INSERT OR IGNORE INTO buckets (name, created_ms) VALUES (?1, ?2)",
            params![name, now_ms],
        )? == 1)
    }

    pub fn delete_bucket(&self, name: &str) -> DbResult<()> {
        self.0
            .execute("DELETE FROM buckets WHERE name = ?1", [name])?;
        Ok(())
    }

    pub fn buckets(&self) -> DbResult<Vec<(String, i64)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT name, created_ms FROM buckets ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    pub fn notification(&self, bucket: &str) -> DbResult<Option<String>> {
        self.0
            .query_row(
                "SELECT notification FROM buckets WHERE name = ?1",
                [bucket],
                |r| r.get(0),
            )
            .optional()
    }

    pub fn set_notification(&self, bucket: &str, config: &str) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET notification = ?2 WHERE name = ?1",
            params![bucket, config],
        )?;
        Ok(())
    }

    pub fn is_empty(&self, bucket: &str) -> DbResult<bool> {
        let n: i64 = self.0.query_row(
            "SELECT COUNT(*) FROM objects WHERE bucket = ?1",
            [bucket],
            |r| r.get(0),
        )?;
        Ok(n == 0)
    }

    pub fn object(&self, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
        self.0
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                [bucket, key],
                object_from,
            )
            .optional()
    }

    /// Writes an object row, returning the blob it replaced (to delete after commit).
    pub fn put_object(&self, o: &ObjectRow) -> DbResult<Option<String>> {
        let old = self.object(&o.bucket, &o.key)?.map(|r| r.blob);
        self.0.execute(
            &format!("INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                o.bucket,
                o.key,
                o.blob,
                o.size as i64,
                o.etag,
                o.last_modified_ms,
                json(&o.attrs),
                o.parts.as_ref().map(json),
                o.upload_id,
                json(&o.tags),
                json(&o.checksums)
            ],
        )?;
        Ok(old.filter(|b| *b != o.blob))
    }

    /// Replaces an object's tag set; false when there is no such object.
    pub fn set_object_tags(&self, bucket: &str, key: &str, tags: &Tags) -> DbResult<bool> {
        Ok(self.0.execute(
            "UPDATE objects SET tags = ?3 WHERE bucket = ?1 AND key = ?2",
            params![bucket, key, json(tags)],
        )? == 1)
    }

    /// A bucket's versioning status (`Enabled` or `Suspended`), `None` if never set.
    pub fn versioning(&self, bucket: &str) -> DbResult<Option<String>> {
        self.0
            .query_row(
                "SELECT versioning FROM buckets WHERE name = ?1",
                [bucket],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
    }

    pub fn set_versioning(&self, bucket: &str, status: &str) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
            params![bucket, status],
        )?;
        Ok(())
    }

    /// A bucket's tag set, `None` when it has none.
    pub fn bucket_tags(&self, bucket: &str) -> DbResult<Option<Tags>> {
        let s: Option<String> = self
            .0
            .query_row("SELECT tags FROM buckets WHERE name = ?1", [bucket], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// A bucket's policy document, as it was put.
    pub fn bucket_policy(&self, bucket: &str) -> DbResult<Option<String>> {
        Ok(self
            .0
            .query_row(
                "SELECT policy FROM buckets WHERE name = ?1",
                [bucket],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Sets (or with `None`, removes) a bucket's policy.
    pub fn set_bucket_policy(&self, bucket: &str, policy: Option<&str>) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET policy = ?2 WHERE name = ?1",
            params![bucket, policy],
        )?;
        Ok(())
    }

    /// Sets (or with `None`, removes) a bucket's tag set.
    pub fn set_bucket_tags(&self, bucket: &str, tags: Option<&Tags>) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET tags = ?2 WHERE name = ?1",
            params![bucket, tags.map(json)],
        )?;
        Ok(())
    }

    /// Deletes an object row, returning it.
    pub fn delete_object(&self, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
        let old = self.object(bucket, key)?;
        self.0.execute(
            "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
            [bucket, key],
        )?;
        Ok(old)
    }

    /// Objects with `prefix` whose key sorts after `after`, in key order.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> DbResult<Vec<ObjectRow>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key > ?2 AND substr(key, 1, length(?3)) = ?3
             ORDER BY key LIMIT ?4"
        ))?;
        let rows = stmt.query_map(params![bucket, after, prefix, limit as i64], object_from)?;
        rows.collect()
    }

    pub fn create_upload(&self, u: &UploadRow) -> DbResult<()> {
        self.0.execute(
            "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, attrs, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![u.upload_id, u.bucket, u.key, u.initiated_ms, json(&u.attrs), json(&u.tags)],
        )?;
        Ok(())
    }

    pub fn upload(&self, upload_id: &str) -> DbResult<Option<UploadRow>> {
        self.0
            .query_row(
                "SELECT upload_id, bucket, key, initiated_ms, attrs, tags FROM uploads WHERE upload_id = ?1",
                [upload_id],
                upload_from,
            )
            .optional()
    }

    pub fn uploads(&self, bucket: &str) -> DbResult<Vec<UploadRow>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT upload_id, bucket, key, initiated_ms, attrs, tags FROM uploads WHERE bucket = ?1 ORDER BY key, initiated_ms",
        )?;
        let rows = stmt.query_map([bucket], upload_from)?;
        rows.collect()
    }

    /// Removes an upload and its parts, returning the parts' blobs.
    pub fn delete_upload(&self, upload_id: &str) -> DbResult<Vec<String>> {
        let blobs = self.parts(upload_id)?.into_iter().map(|p| p.blob).collect();
        self.0
            .execute("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
        self.0
            .execute("DELETE FROM uploads WHERE upload_id = ?1", [upload_id])?;
        Ok(blobs)
    }

    /// Records a part, returning the blob of the part it replaced.
    pub fn put_part(&self, upload_id: &str, p: &PartRow) -> DbResult<Option<String>> {
        let old: Option<String> = self
            .0
            .query_row(
                "SELECT blob FROM parts WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, p.part_number],
                |r| r.get(0),
            )
            .optional()?;
        self.0.execute(
            "INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, etag, last_modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![upload_id, p.part_number, p.blob, p.size as i64, p.etag, p.last_modified_ms],
        )?;
        Ok(old)
    }

    pub fn parts(&self, upload_id: &str) -> DbResult<Vec<PartRow>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT part_number, blob, size, etag, last_modified_ms FROM parts WHERE upload_id = ?1 ORDER BY part_number",
        )?;
        let rows = stmt.query_map([upload_id], |r| {
            Ok(PartRow {
                part_number: r.get(0)?,
                blob: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                etag: r.get(3)?,
                last_modified_ms: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    /// Every blob any row refers to (for sweeping orphans left by a crash).
    pub fn all_blobs(&self) -> DbResult<Vec<String>> {
        let mut stmt = self
            .0
            .prepare("SELECT blob FROM objects UNION SELECT blob FROM parts")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data directory written before the added columns still opens, and its rows read with
    /// the defaults.
    #[test]
    fn opens_a_database_from_before_the_added_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(
                "INSERT INTO buckets (name, created_ms) VALUES ('b', 1);
                 INSERT INTO objects (bucket, key, blob, size, etag, last_modified_ms, attrs)
                 VALUES ('b', 'k', 'blob1', 3, 'e', 2, '{}');",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let row = db.tx(|tx| tx.object("b", "k")).unwrap().unwrap();
        assert_eq!(row.blob, "blob1");
        assert_eq!(row.parts, None);
        assert!(row.tags.is_empty());
        assert_eq!(db.tx(|tx| tx.bucket_tags("b")).unwrap(), None);
        // Opening again (columns present now) changes nothing.
        drop(db);
        let db = Db::open(&path).unwrap();
        let tags = vec![("a".to_string(), "1".to_string())];
        db.tx(|tx| tx.set_object_tags("b", "k", &tags)).unwrap();
        assert_eq!(db.tx(|tx| tx.object("b", "k")).unwrap().unwrap().tags, tags);
    }
}
