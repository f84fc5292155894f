//! One page of a listing: keys under a prefix, with keys that share a delimited segment
//! rolled up into common prefixes, as S3 returns them.

use crate::db::{DbResult, ObjectRow, Tx};

pub struct Page {
    pub contents: Vec<ObjectRow>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned, to continue after.
    pub last: Option<String>,
}

/// Lists up to `max` entries (objects and common prefixes together) after `after`.
pub fn page(
    tx: &Tx,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: &str,
    max: usize,
) -> DbResult<Page> {
    let mut out = Page {
        contents: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    // MaxKeys=0 asks for nothing, and nothing is left out of that.
    if max == 0 {
        return Ok(out);
    }
    let mut cursor = after.to_string();
    // Continuing after a common prefix skips everything under it.
    if delimiter.is_some_and(|d| !d.is_empty() && after.len() > prefix.len() && after.ends_with(d))
    {
        cursor.push('\u{10FFFF}');
    }
    loop {
        let batch = tx.list(bucket, prefix, &cursor, 1000)?;
        if batch.is_empty() {
            return Ok(out);
        }
        for row in batch {
            // Rows already covered by a common prefix rolled up earlier in this batch.
            if row.key.as_str() <= cursor.as_str() {
                continue;
            }
            if out.contents.len() + out.prefixes.len() == max {
                out.truncated = true;
                return Ok(out);
            }
            cursor = row.key.clone();
            let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                let rest = &row.key[prefix.len()..];
                rest.find(d)
                    .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
            });
            match rolled {
                Some(cp) => {
                    // Skip every other key under this common prefix.
                    cursor = format!("{cp}\u{10FFFF}");
                    if cp.as_str() > after {
                        out.last = Some(cp.clone());
                        out.prefixes.push(cp);
                    }
                }
                None => {
                    out.last = Some(row.key.clone());
                    out.contents.push(row);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Attrs, Db};

    fn db_with(keys: &[&str]) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("s3.db")).unwrap();
        db.tx(|tx| {
            tx.create_bucket("b", 0)?;
            for k in keys {
                let row = ObjectRow {
                    bucket: "b".into(),
                    key: k.to_string(),
                    blob: k.to_string(),
                    size: 1,
                    etag: "e".into(),
                    last_modified_ms: 0,
                    attrs: Attrs::default(),
                    ..Default::default()
                };
                tx.put_object(&row)?;
            }
            Ok(())
        })
        .unwrap();
        (dir, db)
    }

    #[test]
    fn delimiter_rolls_up_and_pages() {
        let (_d, db) = db_with(&["a/1", "a/2", "b", "c/x/y", "d"]);
        let p = db.tx(|tx| page(tx, "b", "", Some("/"), "", 1000)).unwrap();
        let keys: Vec<_> = p.contents.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["b", "d"]);
        assert_eq!(p.prefixes, ["a/", "c/"]);
        assert!(!p.truncated);
        let first = db.tx(|tx| page(tx, "b", "", Some("/"), "", 2)).unwrap();
        assert!(first.truncated);
        assert_eq!(first.prefixes, ["a/"]);
        assert_eq!(first.last.as_deref(), Some("b"));
        let from_prefix = db.tx(|tx| page(tx, "b", "", Some("/"), "a/", 1)).unwrap();
        assert_eq!(
            from_prefix.contents[0].key, "b",
            "resuming after a common prefix skips its keys"
        );
        let next = db
            .tx(|tx| page(tx, "b", "", Some("/"), first.last.as_deref().unwrap(), 2))
            .unwrap();
        assert_eq!(next.prefixes, ["c/"]);
        assert_eq!(
            next.contents
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>(),
            ["d"]
        );
    }

    #[test]
    fn prefix_filters() {
        let (_d, db) = db_with(&["a/1", "a/2", "ab"]);
        let p = db.tx(|tx| page(tx, "b", "a/", None, "", 10)).unwrap();
        assert_eq!(p.contents.len(), 2);
    }
}
