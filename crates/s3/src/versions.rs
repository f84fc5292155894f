//! Versions as requests meet them: the `versionId` a request names, what reading a delete
//! marker answers, deleting a key or one of its versions, and one page of ListObjectVersions
//! (every version and delete marker of keys under a prefix, by key and then newest first, with
//! keys that share a delimited segment rolled up into common prefixes, resuming after a
//! (key, version id) marker as S3 does).

use s3s::{s3_error, S3Error, S3Result};

use crate::db::{DbResult, ObjectRow, Tx, Versioning, NULL_VERSION};

/// A request's `versionId`: absent, or one this store could have made (`null` included);
/// anything else is S3's 400 for a malformed id.
pub fn version_param(v: &Option<String>) -> S3Result<Option<&str>> {
    match v.as_deref() {
        None => Ok(None),
        Some(v) if crate::db::is_version_id(v) => Ok(Some(v)),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

/// Reading a delete marker: 404 `NoSuchKey` when it is the key's current version read
/// without an id, 405 `MethodNotAllowed` when named by its id; both say it is a marker and
/// give its version id, so a client can tell a deleted key from one that never was.
pub fn delete_marker_error(row: &ObjectRow, named: bool) -> S3Error {
    let mut e = match named {
        false => s3_error!(NoSuchKey, "The specified key does not exist."),
        true => s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        ),
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    let id = row.version_id.as_deref().unwrap_or(NULL_VERSION);
    if let Ok(v) = http::HeaderValue::from_str(id) {
        headers.insert("x-amz-version-id", v);
    }
    e.set_headers(headers);
    e
}

/// What deleting a key (or one version of it) did.
#[derive(Default)]
pub struct Deletion {
    /// Bytes no version refers to any more.
    pub released: Vec<String>,
    /// The version removed was a delete marker, or a delete marker was created.
    pub delete_marker: bool,
    /// The version removed, or the id of the marker created (none in an unversioned bucket).
    pub version: Option<String>,
    /// The event it makes: `ObjectRemoved:Delete` or `:DeleteMarkerCreated`; none when
    /// nothing was there to remove.
    pub event: Option<&'static str>,
}

/// Deletes `version` of a key permanently, or without one, its current version: removed in a
/// bucket never versioned, hidden under a new delete marker otherwise (the `null` one while
/// versioning is suspended). `None` when there is no such bucket.
pub fn delete_key(
    tx: &Tx<'_, '_>,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    now_ms: i64,
) -> DbResult<Option<Deletion>> {
    let Some(mode) = tx.bucket_versioning(bucket)? else {
        return Ok(None);
    };
    if let Some(v) = version {
        let removed = tx.delete_version(bucket, key, v)?;
        return Ok(Some(Deletion {
            delete_marker: removed.as_ref().is_some_and(|r| r.delete_marker),
            version: Some(v.to_string()),
            event: removed.is_some().then_some("ObjectRemoved:Delete"),
            released: removed.into_iter().map(|r| r.blob).collect(),
        }));
    }
    if mode == Versioning::Unversioned {
        let removed = tx.delete_object(bucket, key)?;
        return Ok(Some(Deletion {
            event: removed.is_some().then_some("ObjectRemoved:Delete"),
            released: removed.into_iter().map(|r| r.blob).collect(),
            ..Default::default()
        }));
    }
    let marker = ObjectRow {
        bucket: bucket.into(),
        key: key.into(),
        last_modified_ms: now_ms,
        delete_marker: true,
        ..Default::default()
    };
    let current = tx.object(bucket, key)?;
    let (written, released) = tx.write_version(&marker, current, mode)?;
    Ok(Some(Deletion {
        released,
        delete_marker: true,
        version: mode.header(&written),
        event: Some("ObjectRemoved:DeleteMarkerCreated"),
    }))
}

pub struct VersionPage {
    /// Versions and delete markers, each with whether it is its key's current one.
    pub entries: Vec<(ObjectRow, bool)>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts: the last key (or common prefix) returned, and the
    /// version id returned last for that key (none after a common prefix).
    pub next: Option<(String, Option<String>)>,
}

/// Below every version's place: a cursor at (`key`, this) has passed none of `key`'s versions.
const BEFORE_ALL: i64 = i64::MIN;

/// Lists up to `max` entries (versions, delete markers and common prefixes together) after
/// `key_marker` — or, with `version_marker`, after that version of `key_marker`.
pub fn page(
    tx: &Tx,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: &str,
    version_marker: Option<&str>,
    max: usize,
) -> DbResult<VersionPage> {
    let mut out = VersionPage {
        entries: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        next: None,
    };
    if max == 0 {
        return Ok(out);
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut cursor = key_marker.to_string();
    // (key, BEFORE_ALL) is the position after every version of `key`'s predecessors but
    // before its own; a key marker alone continues after all of its versions.
    let mut seq = BEFORE_ALL;
    if let Some(v) = version_marker.filter(|_| !key_marker.is_empty()) {
        if let Some(row) = tx.object_version(bucket, key_marker, v)? {
            // After that version: the older ones of the same key still come.
            seq = row.seq;
        }
    }
    if delimiter.is_some_and(|d| key_marker.len() > prefix.len() && key_marker.ends_with(d)) {
        cursor.push('\u{10FFFF}');
        seq = BEFORE_ALL;
    }
    loop {
        let batch = tx.versions(bucket, prefix, &cursor, seq, 1000)?;
        if batch.is_empty() {
            return Ok(out);
        }
        for (row, latest) in batch {
            // Rows already covered by a common prefix rolled up earlier in this batch.
            let passed = row.key < cursor || (row.key == cursor && row.seq >= seq);
            if passed {
                continue;
            }
            if out.entries.len() + out.prefixes.len() == max {
                out.truncated = true;
                return Ok(out);
            }
            let rolled = delimiter.and_then(|d| {
                let rest = &row.key[prefix.len()..];
                rest.find(d)
                    .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
            });
            match rolled {
                Some(cp) => {
                    // Skip every other version of every key under this common prefix.
                    cursor = format!("{cp}\u{10FFFF}");
                    seq = BEFORE_ALL;
                    if cp.as_str() > key_marker {
                        out.next = Some((cp.clone(), None));
                        out.prefixes.push(cp);
                    }
                }
                None => {
                    cursor = row.key.clone();
                    seq = row.seq;
                    let id = row
                        .version_id
                        .clone()
                        .unwrap_or_else(|| NULL_VERSION.into());
                    out.next = Some((row.key.clone(), Some(id)));
                    out.entries.push((row, latest));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::backends;
    use crate::db::Versioning;

    fn put(tx: &Tx, key: &str, mode: Versioning) -> DbResult<ObjectRow> {
        let row = ObjectRow {
            bucket: "b".into(),
            key: key.into(),
            blob: format!("blob-{key}-{}", crate::db::new_version_id()),
            size: 1,
            etag: "e".into(),
            ..Default::default()
        };
        let current = tx.object("b", key)?;
        Ok(tx.write_version(&row, current, mode)?.0)
    }

    fn listed(p: &VersionPage) -> Vec<(String, Option<String>, bool)> {
        p.entries
            .iter()
            .map(|(r, latest)| (r.key.clone(), r.version_id.clone(), *latest))
            .collect()
    }

    /// Versions come by key, newest first; paging by (key, version id) markers walks them all
    /// exactly once, and a delimiter rolls keys up across their versions.
    #[test]
    fn pages_versions_newest_first() {
        for t in backends("versions") {
            let loc = &t.location;
            let (a1, a2, b1, c1) =
                t.db.tx(|tx| {
                    tx.create_bucket("b", 0)?;
                    let a1 = put(tx, "a", Versioning::Enabled)?;
                    let b1 = put(tx, "b", Versioning::Enabled)?;
                    let a2 = put(tx, "a", Versioning::Enabled)?;
                    let c1 = put(tx, "d/c", Versioning::Enabled)?;
                    Ok((a1, a2, b1, c1))
                })
                .unwrap();
            let all =
                t.db.tx(|tx| page(tx, "b", "", None, "", None, 1000))
                    .unwrap();
            assert_eq!(
                listed(&all),
                vec![
                    ("a".into(), a2.version_id.clone(), true),
                    ("a".into(), a1.version_id.clone(), false),
                    ("b".into(), b1.version_id.clone(), true),
                    ("d/c".into(), c1.version_id.clone(), true),
                ],
                "{loc}"
            );
            let mut walked = Vec::new();
            let (mut km, mut vm) = (String::new(), None::<String>);
            loop {
                let p =
                    t.db.tx(|tx| page(tx, "b", "", None, &km, vm.as_deref(), 1))
                        .unwrap();
                walked.extend(listed(&p));
                if !p.truncated {
                    break;
                }
                let (k, v) = p.next.unwrap();
                (km, vm) = (k, v);
            }
            assert_eq!(walked, listed(&all), "{loc}");
            let rolled =
                t.db.tx(|tx| page(tx, "b", "", Some("/"), "", None, 1000))
                    .unwrap();
            assert_eq!(rolled.prefixes, ["d/"], "{loc}");
            assert_eq!(rolled.entries.len(), 3, "{loc}");
        }
    }

    /// Eight writers put the same key of an Enabled bucket at once, each in its own
    /// transaction: every write becomes its own version, none is lost or listed twice, and
    /// the current one is the newest (PostgreSQL's losers run again after a conflict).
    #[test]
    fn concurrent_versioned_puts_each_make_a_version() {
        for t in backends("concurrent_versions") {
            let loc = &t.location;
            t.db.tx(|tx| tx.create_bucket("b", 0)).unwrap();
            let db = &t.db;
            let written: Vec<ObjectRow> = std::thread::scope(|s| {
                let writers: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(move || db.tx(|tx| put(tx, "k", Versioning::Enabled)).unwrap())
                    })
                    .collect();
                writers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            let all = db.tx(|tx| page(tx, "b", "", None, "", None, 1000)).unwrap();
            let mut listed: Vec<_> = all.entries.iter().map(|(r, _)| r.blob.clone()).collect();
            assert_eq!(all.entries.len(), 8, "{loc}");
            assert!(
                all.entries[0].1 && all.entries[1..].iter().all(|(_, l)| !l),
                "{loc}"
            );
            let seqs: Vec<i64> = all.entries.iter().map(|(r, _)| r.seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{loc}: {seqs:?}");
            let mut blobs: Vec<_> = written.iter().map(|r| r.blob.clone()).collect();
            listed.sort();
            blobs.sort();
            assert_eq!(listed, blobs, "{loc}");
        }
    }
}
