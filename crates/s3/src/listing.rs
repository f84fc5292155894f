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
    use crate::db::testing::{backends, TestDb};
    use crate::db::Attrs;

    /// Bucket `b` holding `keys`, on every backend.
    fn dbs_with(tag: &str, keys: &[&str]) -> Vec<TestDb> {
        let dbs = backends(tag);
        for t in &dbs {
            t.db.tx(|tx| {
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
        }
        dbs
    }

    fn keys(p: &Page) -> Vec<&str> {
        p.contents.iter().map(|r| r.key.as_str()).collect()
    }

    #[test]
    fn delimiter_rolls_up_and_pages() {
        for t in dbs_with("rollup", &["a/1", "a/2", "b", "c/x/y", "d"]) {
            let (db, loc) = (&t.db, &t.location);
            let p = db.tx(|tx| page(tx, "b", "", Some("/"), "", 1000)).unwrap();
            assert_eq!(keys(&p), ["b", "d"], "{loc}");
            assert_eq!(p.prefixes, ["a/", "c/"], "{loc}");
            assert!(!p.truncated, "{loc}");
            let first = db.tx(|tx| page(tx, "b", "", Some("/"), "", 2)).unwrap();
            assert!(first.truncated, "{loc}");
            assert_eq!(first.prefixes, ["a/"], "{loc}");
            assert_eq!(first.last.as_deref(), Some("b"), "{loc}");
            let from_prefix = db.tx(|tx| page(tx, "b", "", Some("/"), "a/", 1)).unwrap();
            assert_eq!(
                from_prefix.contents[0].key, "b",
                "{loc}: resuming after a common prefix skips its keys"
            );
            let last = first.last.clone().unwrap();
            let next = db.tx(|tx| page(tx, "b", "", Some("/"), &last, 2)).unwrap();
            assert_eq!(next.prefixes, ["c/"], "{loc}");
            assert_eq!(keys(&next), ["d"], "{loc}");
        }
    }

    #[test]
    fn prefix_filters() {
        for t in dbs_with("prefix", &["a/1", "a/2", "ab"]) {
            let p = t.db.tx(|tx| page(tx, "b", "a/", None, "", 10)).unwrap();
            assert_eq!(keys(&p), ["a/1", "a/2"], "{}", t.location);
        }
    }

    /// Keys sort by their UTF-8 bytes on both backends, as S3 lists them: upper case before
    /// lower, `/` before letters, characters above U+007F after ASCII (and by their bytes
    /// among themselves), so pages, prefixes and resuming after a key agree with SQLite.
    #[test]
    fn keys_list_in_byte_order_on_every_backend() {
        let given = [
            "b", "B", "a/b", "a/B", "a/é", "a/z", "aZ", "é", "É", "ø/1", "\u{7f}", "~", "日本/x",
            "a/\u{80}", "A", "a",
        ];
        let mut expected: Vec<&str> = given.to_vec();
        expected.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        for t in dbs_with("order", &given) {
            let loc = &t.location;
            let all = t.db.tx(|tx| page(tx, "b", "", None, "", 1000)).unwrap();
            assert_eq!(keys(&all), expected, "{loc}");
            // Two at a time, resuming after the last key: the same order, nothing repeated.
            let mut paged = Vec::new();
            let mut after = String::new();
            loop {
                let p = t.db.tx(|tx| page(tx, "b", "", None, &after, 2)).unwrap();
                paged.extend(p.contents.iter().map(|r| r.key.clone()));
                match (p.truncated, p.last) {
                    (true, Some(last)) => after = last,
                    _ => break,
                }
            }
            assert_eq!(paged, expected, "{loc}");
            let under_a = t.db.tx(|tx| page(tx, "b", "a/", None, "", 100)).unwrap();
            assert_eq!(
                keys(&under_a),
                ["a/B", "a/b", "a/z", "a/\u{80}", "a/é"],
                "{loc}"
            );
            let rolled = t.db.tx(|tx| page(tx, "b", "", Some("/"), "", 100)).unwrap();
            assert_eq!(rolled.prefixes, ["a/", "ø/", "日本/"], "{loc}");
            assert_eq!(
                keys(&rolled),
                ["A", "B", "a", "aZ", "b", "~", "\u{7f}", "É", "é"],
                "{loc}"
            );
            let after_upper = t.db.tx(|tx| page(tx, "b", "", None, "a", 3)).unwrap();
            assert_eq!(keys(&after_upper), ["a/B", "a/b", "a/z"], "{loc}");
        }
    }
}
