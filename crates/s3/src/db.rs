//! Object metadata in its own store (`objects/s3.db` on SQLite, the `s3` schema on
//! PostgreSQL), so object traffic never queues behind the function metadata. An object row
//! points at a blob; replacing an object is one row update, the commit point of every write.
//!
//! Keys are compared and ordered by their bytes on both backends (SQLite's default `BINARY`
//! collation, PostgreSQL's `COLLATE "C"`), which is the order S3 lists keys in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_db::{args, Dialect, Location, Migrations, Options, Row, Schema, StoreSpec};

pub type DbResult<T> = Result<T, stratus_db::Error>;

/// SQLite's schema, as `s3.db` has always had it (idempotent: it predates versioned
/// migrations); the columns added since come from [`ADDED_COLUMNS`].
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
CREATE TABLE IF NOT EXISTS object_versions (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    attrs TEXT NOT NULL,
    parts TEXT,
    upload_id TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    checksums TEXT,
    version_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX IF NOT EXISTS object_versions_by_key ON object_versions (bucket, key, seq);
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
    ("objects", "version_id", "TEXT"),
    ("objects", "delete_marker", "INTEGER NOT NULL DEFAULT 0"),
    ("objects", "seq", "INTEGER NOT NULL DEFAULT 0"),
    ("buckets", "cors", "TEXT"),
    ("buckets", "lifecycle", "TEXT"),
    ("buckets", "encryption", "TEXT"),
    ("parts", "checksums", "TEXT"),
];

/// PostgreSQL's schema: SQLite's with the added columns in place. Bucket names and keys are
/// `COLLATE "C"` so they sort by bytes, as on SQLite.
const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    notification TEXT NOT NULL DEFAULT '[]',
    versioning TEXT,
    tags TEXT,
    policy TEXT
);
CREATE TABLE objects (
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms BIGINT NOT NULL,
    attrs TEXT NOT NULL,
    parts TEXT,
    upload_id TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    checksums TEXT,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    initiated_ms BIGINT NOT NULL,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX uploads_by_bucket ON uploads (bucket, key, initiated_ms);
CREATE TABLE parts (
    upload_id TEXT NOT NULL,
    part_number BIGINT NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"#,
    // Versioning: the current row of a key carries its version id (NULL: the `null` version),
    // whether it is a delete marker, and its place in the key's history; older versions live
    // in `object_versions`.
    r#"
ALTER TABLE objects ADD COLUMN version_id TEXT;
ALTER TABLE objects ADD COLUMN delete_marker BIGINT NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE object_versions (
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms BIGINT NOT NULL,
    attrs TEXT NOT NULL,
    parts TEXT,
    upload_id TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    checksums TEXT,
    version_id TEXT NOT NULL,
    delete_marker BIGINT NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX object_versions_by_key ON object_versions (bucket, key, seq);
"#,
    // Bucket CORS, lifecycle and default-encryption configurations (JSON), as SQLite's
    // ADDED_COLUMNS.
    r#"
ALTER TABLE buckets ADD COLUMN cors TEXT;
ALTER TABLE buckets ADD COLUMN lifecycle TEXT;
ALTER TABLE buckets ADD COLUMN encryption TEXT;
"#,
    // Each part's additional checksums, from which a multipart object's checksum is made.
    "ALTER TABLE parts ADD COLUMN checksums TEXT;",
];

/// The store on either backend.
pub const SPEC: StoreSpec<'static> = StoreSpec {
    name: "s3",
    file: "objects/s3.db",
    options: Options {
        foreign_keys: false,
    },
    migrations: Migrations {
        sqlite: Schema::Idempotent(SCHEMA),
        postgres: POSTGRES,
    },
};

/// Adds each of [`ADDED_COLUMNS`] that a SQLite file's tables do not have yet.
fn add_missing_columns(t: &stratus_db::Tx<'_>) -> DbResult<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: i64 = t
            .query_opt(
                &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                args![*column],
                |r| r.get(0),
            )?
            .unwrap_or(0);
        if present == 0 {
            t.batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// The bucket configurations kept as JSON in a column of their bucket's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketConfig {
    Cors,
    Lifecycle,
    Encryption,
}

impl BucketConfig {
    fn column(self) -> &'static str {
        match self {
            BucketConfig::Cors => "cors",
            BucketConfig::Lifecycle => "lifecycle",
            BucketConfig::Encryption => "encryption",
        }
    }
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
    /// The server-side encryption the object was written with (`None` for objects written
    /// before it was kept: S3's default, SSE-S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::encryption::Sse>,
    /// A multipart upload's checksum algorithm and type, and so those of the object it
    /// completes (`None`: an object written whole, whose checksums are of all its bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<crate::checksums::UploadChecksum>,
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
    /// The version's id; `None` is the `null` version (every write to a bucket whose
    /// versioning was never enabled, and every write while it is suspended).
    pub version_id: Option<String>,
    /// A delete marker: a version with no bytes (`blob` is empty) that hides the key.
    pub delete_marker: bool,
    /// The version's place in its key's history: larger is newer. The current row always
    /// has the largest.
    pub seq: i64,
}

/// A bucket's versioning state, from the status PutBucketVersioning recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: one `null` version per key, replaced in place.
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    fn of(status: Option<&str>) -> Versioning {
        match status {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }

    /// The `x-amz-version-id` a response about `row` carries: none from a bucket that was
    /// never versioned, `null` for the null version.
    pub fn header(self, row: &ObjectRow) -> Option<String> {
        (self != Versioning::Unversioned).then(|| {
            row.version_id
                .clone()
                .unwrap_or_else(|| NULL_VERSION.into())
        })
    }
}

/// The id S3 gives the version an unversioned (or suspended) write makes.
pub const NULL_VERSION: &str = "null";

/// A new version id: 24 random bytes as 32 URL-safe characters, the length and alphabet of
/// S3's own.
pub fn new_version_id() -> String {
    use base64::Engine;
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `id` could be a version id this store made (or `null`): anything else is a
/// malformed id, which S3 answers with 400 rather than 404.
pub fn is_version_id(id: &str) -> bool {
    id == NULL_VERSION
        || (id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
}

/// A version's place in history: the clock in nanoseconds, never repeating within this
/// process ([`Tx::write_version`] also puts it after the key's current version).
fn next_seq() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos()) as i64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
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
    /// The part's additional checksums (those its upload computed).
    pub checksums: Checksums,
}

pub struct Db {
    db: stratus_db::Db,
}

impl Db {
    /// Opens (or creates) the store at `location`. An older SQLite file gets the columns
    /// added since it was written.
    pub fn open(location: &Location) -> DbResult<Db> {
        Db::open_spec(location, &SPEC)
    }

    fn open_spec(location: &Location, spec: &StoreSpec<'_>) -> DbResult<Db> {
        if let Location::Sqlite(dir) = location {
            // The file lives beside the blobs, in a folder of its own.
            let folder = dir.join("objects");
            std::fs::create_dir_all(&folder).map_err(|e| {
                stratus_db::Error::new(
                    "creating",
                    folder.display().to_string(),
                    stratus_db::Cause::Invalid(e.to_string()),
                )
            })?;
        }
        let db = stratus_db::Db::open(location, spec)?;
        if db.dialect() == Dialect::Sqlite {
            db.tx(add_missing_columns)?;
        }
        Ok(Db { db })
    }

    /// Runs `f` in one transaction. On PostgreSQL `f` may run again when the transaction
    /// loses a race, so it must only read and write through `tx`.
    pub fn tx<T>(&self, mut f: impl FnMut(&Tx<'_, '_>) -> DbResult<T>) -> DbResult<T> {
        self.db.tx(|t| f(&Tx(t)))
    }
}

/// The statements of one transaction on the store.
pub struct Tx<'a, 'b>(&'a stratus_db::Tx<'b>);

fn attrs_of(s: String) -> Attrs {
    serde_json::from_str(&s).unwrap_or_default()
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn object_from(r: &Row<'_>) -> DbResult<ObjectRow> {
    Ok(ObjectRow {
        bucket: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<i64>(3)? as u64,
        etag: r.get(4)?,
        last_modified_ms: r.get(5)?,
        attrs: attrs_of(r.get(6)?),
        parts: r
            .get::<Option<String>>(7)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        upload_id: r.get(8)?,
        tags: serde_json::from_str(&r.get::<String>(9)?).unwrap_or_default(),
        checksums: r
            .get::<Option<String>>(10)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        version_id: r.get::<Option<String>>(11)?.filter(|v| v != NULL_VERSION),
        delete_marker: r.get::<i64>(12)? != 0,
        seq: r.get(13)?,
    })
}

fn upload_from(r: &Row<'_>) -> DbResult<UploadRow> {
    Ok(UploadRow {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        initiated_ms: r.get(3)?,
        attrs: attrs_of(r.get(4)?),
        tags: serde_json::from_str(&r.get::<String>(5)?).unwrap_or_default(),
    })
}

const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, last_modified_ms, attrs, parts, \
     upload_id, tags, checksums, version_id, delete_marker, seq";

/// Every column set on writing an object, for the upsert that replaces a row in place.
const OBJECT_UPDATE: &str = "blob = excluded.blob, size = excluded.size, etag = excluded.etag,
     last_modified_ms = excluded.last_modified_ms, attrs = excluded.attrs, parts = excluded.parts,
     upload_id = excluded.upload_id, tags = excluded.tags, checksums = excluded.checksums,
     version_id = excluded.version_id, delete_marker = excluded.delete_marker, seq = excluded.seq";

/// The placeholders of a row of [`OBJECT_COLUMNS`].
const OBJECT_VALUES: &str = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14";

impl Tx<'_, '_> {
    pub fn bucket_exists(&self, name: &str) -> DbResult<bool> {
        Ok(self
            .0
            .query_opt("SELECT 1 FROM buckets WHERE name = ?1", args![name], |_| {
                Ok(())
            })?
            .is_some())
    }

    /// Creates a bucket; false when one of that name exists.
    pub fn create_bucket(&self, name: &str, now_ms: i64) -> DbResult<bool> {
        Ok(self.0.execute(
            "INSERT INTO buckets (name, created_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![name, now_ms],
        )? == 1)
    }

    pub fn delete_bucket(&self, name: &str) -> DbResult<()> {
        self.0
            .execute("DELETE FROM buckets WHERE name = ?1", args![name])?;
        Ok(())
    }

    pub fn buckets(&self) -> DbResult<Vec<(String, i64)>> {
        self.0.query_map(
            "SELECT name, created_ms FROM buckets ORDER BY name",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    pub fn notification(&self, bucket: &str) -> DbResult<Option<String>> {
        self.0.query_opt(
            "SELECT notification FROM buckets WHERE name = ?1",
            args![bucket],
            |r| r.get(0),
        )
    }

    pub fn set_notification(&self, bucket: &str, config: &str) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET notification = ?2 WHERE name = ?1",
            args![bucket, config],
        )?;
        Ok(())
    }

    pub fn is_empty(&self, bucket: &str) -> DbResult<bool> {
        let any = self.0.query_opt(
            "SELECT 1 FROM objects WHERE bucket = ?1
             UNION ALL SELECT 1 FROM object_versions WHERE bucket = ?1 LIMIT 1",
            args![bucket],
            |_| Ok(()),
        )?;
        Ok(any.is_none())
    }

    pub fn object(&self, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
        self.0.query_opt(
            &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
            args![bucket, key],
            object_from,
        )
    }

    /// Writes an object row, returning the blob it replaced (to delete after commit).
    pub fn put_object(&self, o: &ObjectRow) -> DbResult<Option<String>> {
        let old = self.object(&o.bucket, &o.key)?.map(|r| r.blob);
        self.upsert_current(o)?;
        Ok(old.filter(|b| *b != o.blob && !b.is_empty()))
    }

    /// Makes `o` its key's current row, in place of any other.
    fn upsert_current(&self, o: &ObjectRow) -> DbResult<()> {
        let sql = format!(
            "INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_VALUES})
             ON CONFLICT (bucket, key) DO UPDATE SET {OBJECT_UPDATE}"
        );
        self.write_row(&sql, o, o.version_id.as_deref())
    }

    /// Moves a key's current row into its history (`object_versions`), as it is. The same
    /// version there already is the same row, so a conflict changes nothing; and on
    /// PostgreSQL, a conflict with a racing writer's archive that this transaction cannot see
    /// is a serialization failure (the transaction runs again and sees the winner's write),
    /// where a plain insert would fail with a unique violation that is not retried.
    fn archive(&self, o: &ObjectRow) -> DbResult<()> {
        let sql = format!(
            "INSERT INTO object_versions ({OBJECT_COLUMNS}) VALUES ({OBJECT_VALUES})
             ON CONFLICT (bucket, key, version_id) DO NOTHING"
        );
        let version = o.version_id.as_deref().unwrap_or(NULL_VERSION);
        self.write_row(&sql, o, Some(version))
    }

    /// Runs `sql` (an insert of [`OBJECT_COLUMNS`]) with `o`'s values; the tables differ in
    /// how they store the `null` version's id, hence `version_id`.
    fn write_row(&self, sql: &str, o: &ObjectRow, version_id: Option<&str>) -> DbResult<()> {
        self.0.execute(
            sql,
            args![
                o.bucket.as_str(),
                o.key.as_str(),
                o.blob.as_str(),
                o.size as i64,
                o.etag.as_str(),
                o.last_modified_ms,
                json(&o.attrs),
                o.parts.as_ref().map(json),
                o.upload_id.as_deref(),
                json(&o.tags),
                json(&o.checksums),
                version_id,
                i64::from(o.delete_marker),
                o.seq
            ],
        )?;
        Ok(())
    }

    /// Writes `o` (an object or a delete marker) as its key's newest version, given the key's
    /// `current` row and the bucket's versioning `mode`, and returns the row as written (with
    /// its version id and place) and the blobs no version refers to any more:
    /// - never versioned: `o` replaces the current row, whose bytes are released;
    /// - enabled: `o` gets a new version id and the current row joins the history;
    /// - suspended: `o` is the `null` version, replacing the earlier `null` version wherever
    ///   it is (releasing its bytes); a current row with a real id joins the history.
    pub fn write_version(
        &self,
        o: &ObjectRow,
        current: Option<ObjectRow>,
        mode: Versioning,
    ) -> DbResult<(ObjectRow, Vec<String>)> {
        let mut row = o.clone();
        row.version_id = (mode == Versioning::Enabled).then(new_version_id);
        row.seq = next_seq().max(current.as_ref().map_or(0, |c| c.seq + 1));
        let mut released = Vec::new();
        if let Some(c) = current {
            let replaced_in_place = mode == Versioning::Unversioned
                || (mode == Versioning::Suspended && c.version_id.is_none());
            if replaced_in_place {
                released.push(c.blob);
            } else {
                self.archive(&c)?;
            }
        }
        if mode == Versioning::Suspended {
            released.extend(
                self.remove_archived(&o.bucket, &o.key, NULL_VERSION)?
                    .map(|r| r.blob),
            );
        }
        self.upsert_current(&row)?;
        released.retain(|b| !b.is_empty() && *b != row.blob);
        Ok((row, released))
    }

    /// Removes one version from a key's history, returning it.
    fn remove_archived(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> DbResult<Option<ObjectRow>> {
        let old = self.archived(bucket, key, version)?;
        if old.is_some() {
            self.0.execute(
                "DELETE FROM object_versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                args![bucket, key, version],
            )?;
        }
        Ok(old)
    }

    /// One version from a key's history (`null` names the null version).
    fn archived(&self, bucket: &str, key: &str, version: &str) -> DbResult<Option<ObjectRow>> {
        self.0.query_opt(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM object_versions
                 WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
            ),
            args![bucket, key, version],
            object_from,
        )
    }

    /// One version of a key, current or not (`null` names the null version).
    pub fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> DbResult<Option<ObjectRow>> {
        let current = self.object(bucket, key)?;
        match current {
            Some(c) if c.version_id.as_deref().unwrap_or(NULL_VERSION) == version => Ok(Some(c)),
            _ => self.archived(bucket, key, version),
        }
    }

    /// Permanently deletes one version of a key, returning it. When it was the current one,
    /// the newest version left in the history becomes current.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> DbResult<Option<ObjectRow>> {
        let current = self.object(bucket, key)?;
        let is_current = current
            .as_ref()
            .is_some_and(|c| c.version_id.as_deref().unwrap_or(NULL_VERSION) == version);
        if !is_current {
            return self.remove_archived(bucket, key, version);
        }
        self.0.execute(
            "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
            args![bucket, key],
        )?;
        let newest = self.0.query_opt(
            "SELECT version_id FROM object_versions WHERE bucket = ?1 AND key = ?2
             ORDER BY seq DESC LIMIT 1",
            args![bucket, key],
            |r| r.get::<String>(0),
        )?;
        if let Some(v) = newest {
            if let Some(row) = self.remove_archived(bucket, key, &v)? {
                self.upsert_current(&row)?;
            }
        }
        Ok(current)
    }

    /// Replaces one version's tag set; false when there is no such version (or it is a
    /// delete marker, which has none).
    pub fn set_version_tags(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        tags: &Tags,
    ) -> DbResult<bool> {
        let current = self.0.execute(
            "UPDATE objects SET tags = ?4 WHERE bucket = ?1 AND key = ?2
               AND COALESCE(version_id, 'null') = ?3 AND delete_marker = 0",
            args![bucket, key, version, json(tags)],
        )?;
        if current == 1 {
            return Ok(true);
        }
        Ok(self.0.execute(
            "UPDATE object_versions SET tags = ?4 WHERE bucket = ?1 AND key = ?2
               AND version_id = ?3 AND delete_marker = 0",
            args![bucket, key, version, json(tags)],
        )? == 1)
    }

    /// Every version (current first, then newest first) of keys with `prefix` after the
    /// position (`key`, `seq`): later versions of `key` itself, then the keys after it.
    /// Each row comes with whether it is its key's current one.
    pub fn versions(
        &self,
        bucket: &str,
        prefix: &str,
        key: &str,
        seq: i64,
        limit: usize,
    ) -> DbResult<Vec<(ObjectRow, bool)>> {
        self.0.query_map(
            &format!(
                "SELECT {OBJECT_COLUMNS}, latest FROM (
                     SELECT {OBJECT_COLUMNS}, 1 AS latest FROM objects WHERE bucket = ?1
                     UNION ALL
                     SELECT {OBJECT_COLUMNS}, 0 AS latest FROM object_versions WHERE bucket = ?1
                 ) v
                 WHERE (key > ?2 OR (key = ?2 AND seq < ?3)) AND key >= CAST(?4 AS TEXT)
                   AND substr(key, 1, length(CAST(?4 AS TEXT))) = CAST(?4 AS TEXT)
                 ORDER BY key, seq DESC LIMIT ?5"
            ),
            args![bucket, key, seq, prefix, limit as i64],
            |r| Ok((object_from(r)?, r.get::<i64>(14)? != 0)),
        )
    }

    /// Replaces an object's tag set; false when there is no such object.
    pub fn set_object_tags(&self, bucket: &str, key: &str, tags: &Tags) -> DbResult<bool> {
        Ok(self.0.execute(
            "UPDATE objects SET tags = ?3 WHERE bucket = ?1 AND key = ?2 AND delete_marker = 0",
            args![bucket, key, json(tags)],
        )? == 1)
    }

    /// A bucket's versioning state; `None` when there is no such bucket. Every object read
    /// and write asks this first, in place of whether the bucket exists.
    pub fn bucket_versioning(&self, bucket: &str) -> DbResult<Option<Versioning>> {
        Ok(self
            .0
            .query_opt(
                "SELECT versioning FROM buckets WHERE name = ?1",
                args![bucket],
                |r| r.get::<Option<String>>(0),
            )?
            .map(|s| Versioning::of(s.as_deref())))
    }

    /// What a read of a bucket's object needs of the bucket, in one query: its versioning
    /// mode and its lifecycle rules (for `x-amz-expiration`); `None` if it does not exist.
    pub fn bucket_for_read(&self, bucket: &str) -> DbResult<Option<(Versioning, Option<String>)>> {
        self.0.query_opt(
            "SELECT versioning, lifecycle FROM buckets WHERE name = ?1",
            args![bucket],
            |r| {
                Ok((
                    Versioning::of(r.get::<Option<String>>(0)?.as_deref()),
                    r.get::<Option<String>>(1)?,
                ))
            },
        )
    }

    /// What a new object needs of its bucket, in one query: the default encryption and the
    /// lifecycle rules (JSON, each `None` when not set); `None` if the bucket does not exist.
    #[allow(clippy::type_complexity)]
    pub fn bucket_for_write(
        &self,
        bucket: &str,
    ) -> DbResult<Option<(Option<String>, Option<String>)>> {
        self.0.query_opt(
            "SELECT encryption, lifecycle FROM buckets WHERE name = ?1",
            args![bucket],
            |r| Ok((r.get::<Option<String>>(0)?, r.get::<Option<String>>(1)?)),
        )
    }

    /// A bucket's versioning status (`Enabled` or `Suspended`), `None` if never set.
    pub fn versioning(&self, bucket: &str) -> DbResult<Option<String>> {
        self.bucket_column("versioning", bucket)
    }

    /// A nullable text column of a bucket's row (`None` also for a missing bucket).
    fn bucket_column(&self, column: &str, bucket: &str) -> DbResult<Option<String>> {
        Ok(self
            .0
            .query_opt(
                &format!("SELECT {column} FROM buckets WHERE name = ?1"),
                args![bucket],
                |r| r.get::<Option<String>>(0),
            )?
            .flatten())
    }

    pub fn set_versioning(&self, bucket: &str, status: &str) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
            args![bucket, status],
        )?;
        Ok(())
    }

    /// A bucket's tag set, `None` when it has none.
    pub fn bucket_tags(&self, bucket: &str) -> DbResult<Option<Tags>> {
        let s = self.bucket_column("tags", bucket)?;
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// A bucket's policy document, as it was put.
    pub fn bucket_policy(&self, bucket: &str) -> DbResult<Option<String>> {
        self.bucket_column("policy", bucket)
    }

    /// Sets (or with `None`, removes) a bucket's policy.
    pub fn set_bucket_policy(&self, bucket: &str, policy: Option<&str>) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET policy = ?2 WHERE name = ?1",
            args![bucket, policy],
        )?;
        Ok(())
    }

    /// One of a bucket's kept configurations (JSON): `None` for a bucket that does not exist,
    /// `Some(None)` for one without that configuration. One query, so a caller learns both.
    pub fn bucket_config(
        &self,
        config: BucketConfig,
        bucket: &str,
    ) -> DbResult<Option<Option<String>>> {
        self.0.query_opt(
            &format!("SELECT {} FROM buckets WHERE name = ?1", config.column()),
            args![bucket],
            |r| r.get::<Option<String>>(0),
        )
    }

    /// Sets (or with `None`, removes) one of a bucket's kept configurations.
    pub fn set_bucket_config(
        &self,
        config: BucketConfig,
        bucket: &str,
        value: Option<&str>,
    ) -> DbResult<()> {
        self.0.execute(
            &format!(
                "UPDATE buckets SET {} = ?2 WHERE name = ?1",
                config.column()
            ),
            args![bucket, value],
        )?;
        Ok(())
    }

    /// Every bucket that has `config`, with it (for the lifecycle sweep).
    pub fn buckets_with_config(&self, config: BucketConfig) -> DbResult<Vec<(String, String)>> {
        self.0.query_map(
            &format!(
                "SELECT name, {0} FROM buckets WHERE {0} IS NOT NULL ORDER BY name",
                config.column()
            ),
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Sets (or with `None`, removes) a bucket's tag set.
    pub fn set_bucket_tags(&self, bucket: &str, tags: Option<&Tags>) -> DbResult<()> {
        self.0.execute(
            "UPDATE buckets SET tags = ?2 WHERE name = ?1",
            args![bucket, tags.map(json)],
        )?;
        Ok(())
    }

    /// Deletes an object row, returning it.
    pub fn delete_object(&self, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
        let old = self.object(bucket, key)?;
        self.0.execute(
            "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
            args![bucket, key],
        )?;
        Ok(old)
    }

    /// Objects with `prefix` whose key sorts after `after`, in key (byte) order, leaving out
    /// keys whose current version is a delete marker. The prefix
    /// is cast so PostgreSQL knows its type; `key >= prefix` lets both backends start the
    /// index scan at the prefix.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> DbResult<Vec<ObjectRow>> {
        self.0.query_map(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM objects
                 WHERE bucket = ?1 AND key > ?2 AND key >= CAST(?3 AS TEXT)
                   AND substr(key, 1, length(CAST(?3 AS TEXT))) = CAST(?3 AS TEXT)
                   AND delete_marker = 0
                 ORDER BY key LIMIT ?4"
            ),
            args![bucket, after, prefix, limit as i64],
            object_from,
        )
    }

    pub fn create_upload(&self, u: &UploadRow) -> DbResult<()> {
        self.0.execute(
            "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, attrs, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![
                u.upload_id.as_str(),
                u.bucket.as_str(),
                u.key.as_str(),
                u.initiated_ms,
                json(&u.attrs),
                json(&u.tags)
            ],
        )?;
        Ok(())
    }

    pub fn upload(&self, upload_id: &str) -> DbResult<Option<UploadRow>> {
        self.0.query_opt(
            "SELECT upload_id, bucket, key, initiated_ms, attrs, tags FROM uploads WHERE upload_id = ?1",
            args![upload_id],
            upload_from,
        )
    }

    pub fn uploads(&self, bucket: &str) -> DbResult<Vec<UploadRow>> {
        self.0.query_map(
            "SELECT upload_id, bucket, key, initiated_ms, attrs, tags FROM uploads WHERE bucket = ?1 ORDER BY key, initiated_ms",
            args![bucket],
            upload_from,
        )
    }

    /// Removes an upload and its parts, returning the parts' blobs.
    pub fn delete_upload(&self, upload_id: &str) -> DbResult<Vec<String>> {
        let blobs = self.parts(upload_id)?.into_iter().map(|p| p.blob).collect();
        self.0
            .execute("DELETE FROM parts WHERE upload_id = ?1", args![upload_id])?;
        self.0
            .execute("DELETE FROM uploads WHERE upload_id = ?1", args![upload_id])?;
        Ok(blobs)
    }

    /// Records a part, returning the blob of the part it replaced.
    pub fn put_part(&self, upload_id: &str, p: &PartRow) -> DbResult<Option<String>> {
        let old: Option<String> = self.0.query_opt(
            "SELECT blob FROM parts WHERE upload_id = ?1 AND part_number = ?2",
            args![upload_id, p.part_number],
            |r| r.get(0),
        )?;
        self.0.execute(
            "INSERT INTO parts (upload_id, part_number, blob, size, etag, last_modified_ms, checksums)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET blob = excluded.blob, size = excluded.size,
                 etag = excluded.etag, last_modified_ms = excluded.last_modified_ms,
                 checksums = excluded.checksums",
            args![
                upload_id,
                p.part_number,
                p.blob.as_str(),
                p.size as i64,
                p.etag.as_str(),
                p.last_modified_ms,
                json(&p.checksums)
            ],
        )?;
        Ok(old)
    }

    pub fn parts(&self, upload_id: &str) -> DbResult<Vec<PartRow>> {
        self.0.query_map(
            "SELECT part_number, blob, size, etag, last_modified_ms, checksums FROM parts
             WHERE upload_id = ?1 ORDER BY part_number",
            args![upload_id],
            |r| {
                Ok(PartRow {
                    part_number: r.get(0)?,
                    blob: r.get(1)?,
                    size: r.get::<i64>(2)? as u64,
                    etag: r.get(3)?,
                    last_modified_ms: r.get(4)?,
                    checksums: r
                        .get::<Option<String>>(5)?
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default(),
                })
            },
        )
    }

    /// Every blob any row refers to (for sweeping orphans left by a crash).
    pub fn all_blobs(&self) -> DbResult<Vec<String>> {
        self.0.query_map(
            "SELECT blob FROM objects UNION SELECT blob FROM parts
             UNION SELECT blob FROM object_versions",
            args![],
            |r| r.get(0),
        )
    }
}

/// The store on every backend a test run can reach: SQLite always, and PostgreSQL when
/// `STRATUS_TEST_DATABASE` names one (in a schema of the test's own, dropped afterwards).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub struct TestDb {
        pub db: Db,
        pub location: Location,
        schema: Option<String>,
        _dir: tempfile::TempDir,
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Some(schema) = &self.schema {
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let _ = self.db.db.tx(|t| t.batch(&drop));
            }
        }
    }

    pub fn backends(tag: &str) -> Vec<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().into());
        let mut out = vec![TestDb {
            db: Db::open(&location).unwrap(),
            location,
            schema: None,
            _dir: dir,
        }];
        if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
            let location = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
            let schema = format!("test_s3_{tag}_{}", std::process::id());
            let spec = StoreSpec {
                name: &schema,
                ..SPEC
            };
            out.push(TestDb {
                db: Db::open_spec(&location, &spec).unwrap(),
                location,
                schema: Some(schema.clone()),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept configurations on every backend: absent, set, listed for the sweep, removed;
    /// a missing bucket is told apart from one without the configuration.
    #[test]
    fn bucket_configurations_are_kept() {
        for t in testing::backends("bucket_config") {
            let db = &t.db;
            db.tx(|tx| tx.create_bucket("b", 1)).unwrap();
            db.tx(|tx| tx.create_bucket("c", 1)).unwrap();
            let read = |c| db.tx(|tx| tx.bucket_config(c, "b")).unwrap();
            assert_eq!(read(BucketConfig::Cors), Some(None));
            assert_eq!(
                db.tx(|tx| tx.bucket_config(BucketConfig::Cors, "x"))
                    .unwrap(),
                None
            );
            db.tx(|tx| tx.set_bucket_config(BucketConfig::Lifecycle, "b", Some("[1]")))
                .unwrap();
            assert_eq!(read(BucketConfig::Lifecycle), Some(Some("[1]".into())));
            assert_eq!(read(BucketConfig::Encryption), Some(None));
            let with = db
                .tx(|tx| tx.buckets_with_config(BucketConfig::Lifecycle))
                .unwrap();
            assert_eq!(with, vec![("b".to_string(), "[1]".to_string())]);
            db.tx(|tx| tx.set_bucket_config(BucketConfig::Lifecycle, "b", None))
                .unwrap();
            assert_eq!(read(BucketConfig::Lifecycle), Some(None));
        }
    }

    /// A data directory written before the added columns still opens, and its rows read with
    /// the defaults.
    #[test]
    fn opens_a_database_from_before_the_added_columns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("objects")).unwrap();
        let path = dir.path().join("objects/s3.db");
        let location = Location::Sqlite(dir.path().into());
        {
            let old = stratus_db::rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(
                "INSERT INTO buckets (name, created_ms) VALUES ('b', 1);
                 INSERT INTO objects (bucket, key, blob, size, etag, last_modified_ms, attrs)
                 VALUES ('b', 'k', 'blob1', 3, 'e', 2, '{}');",
            )
            .unwrap();
        }
        let db = Db::open(&location).unwrap();
        let row = db.tx(|tx| tx.object("b", "k")).unwrap().unwrap();
        assert_eq!(row.blob, "blob1");
        assert_eq!(row.parts, None);
        assert!(row.tags.is_empty());
        assert_eq!(db.tx(|tx| tx.bucket_tags("b")).unwrap(), None);
        // Opening again (columns present now) changes nothing.
        drop(db);
        let db = Db::open(&location).unwrap();
        let tags = vec![("a".to_string(), "1".to_string())];
        db.tx(|tx| tx.set_object_tags("b", "k", &tags)).unwrap();
        assert_eq!(db.tx(|tx| tx.object("b", "k")).unwrap().unwrap().tags, tags);
    }

    fn put(tx: &Tx<'_, '_>, key: &str, blob: &str, mode: Versioning) -> (ObjectRow, Vec<String>) {
        let row = ObjectRow {
            bucket: "b".into(),
            key: key.into(),
            blob: blob.into(),
            size: 1,
            etag: "e".into(),
            ..Default::default()
        };
        let current = tx.object("b", key).unwrap();
        tx.write_version(&row, current, mode).unwrap()
    }

    /// A data directory from before versioning (no history table, no version columns) opens
    /// in place: its objects are the `null` versions of their keys, and versioned writes go on
    /// from there.
    #[test]
    fn upgrades_a_database_from_before_versioning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("objects")).unwrap();
        let location = Location::Sqlite(dir.path().into());
        {
            let old =
                stratus_db::rusqlite::Connection::open(dir.path().join("objects/s3.db")).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(
                "DROP TABLE object_versions;
                 INSERT INTO buckets (name, created_ms) VALUES ('b', 1);
                 INSERT INTO objects (bucket, key, blob, size, etag, last_modified_ms, attrs)
                 VALUES ('b', 'k', 'old', 3, 'e', 2, '{}');",
            )
            .unwrap();
        }
        let db = Db::open(&location).unwrap();
        let old = db
            .tx(|tx| tx.object_version("b", "k", "null"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (old.blob.as_str(), old.version_id, old.seq),
            ("old", None, 0)
        );
        let (new, released) = db
            .tx(|tx| Ok(put(tx, "k", "new", Versioning::Enabled)))
            .unwrap();
        assert!(released.is_empty());
        let versions = db.tx(|tx| tx.versions("b", "", "", i64::MIN, 10)).unwrap();
        let listed: Vec<_> = versions
            .iter()
            .map(|(r, latest)| (r.blob.as_str(), r.version_id.clone(), *latest))
            .collect();
        assert_eq!(
            listed,
            [("new", new.version_id, true), ("old", None, false)]
        );
    }

    /// Which bytes each kind of write and delete leaves unreferenced, on every backend: only
    /// a version replaced in place (never versioned, or the `null` version while suspended)
    /// or deleted by id; never a version still in the history.
    #[test]
    fn releases_bytes_only_with_their_version() {
        for t in testing::backends("release") {
            let loc = &t.location;
            let released =
                t.db.tx(|tx| {
                    tx.create_bucket("b", 0)?;
                    let out = vec![
                        put(tx, "u", "u1", Versioning::Unversioned).1,
                        put(tx, "u", "u2", Versioning::Unversioned).1,
                        put(tx, "k", "k1", Versioning::Enabled).1,
                        put(tx, "k", "k2", Versioning::Enabled).1,
                        put(tx, "k", "n1", Versioning::Suspended).1,
                        put(tx, "k", "n2", Versioning::Suspended).1,
                    ];
                    Ok(out)
                })
                .unwrap();
            let expected: Vec<Vec<String>> = vec![
                vec![],
                vec!["u1".into()],
                vec![],
                vec![],
                vec![],
                vec!["n1".into()],
            ];
            assert_eq!(released, expected, "{loc}");
            let k1 =
                t.db.tx(|tx| tx.versions("b", "k", "", i64::MIN, 10))
                    .unwrap();
            let blobs: Vec<_> = k1.iter().map(|(r, _)| r.blob.as_str()).collect();
            assert_eq!(blobs, ["n2", "k2", "k1"], "{loc}");
            // Deleting the current version by id makes the next newest current.
            let k2 = k1[1].0.version_id.clone().unwrap();
            let gone = t.db.tx(|tx| tx.delete_version("b", "k", "null")).unwrap();
            assert_eq!(gone.map(|r| r.blob).as_deref(), Some("n2"), "{loc}");
            let current = t.db.tx(|tx| tx.object("b", "k")).unwrap().unwrap();
            assert_eq!(current.version_id.as_deref(), Some(k2.as_str()), "{loc}");
            assert!(!t.db.tx(|tx| tx.is_empty("b")).unwrap(), "{loc}");
            let all = t.db.tx(|tx| tx.all_blobs()).unwrap();
            for b in ["k1", "k2", "u2"] {
                assert!(all.contains(&b.to_string()), "{loc}: {b} in {all:?}");
            }
        }
    }
}
