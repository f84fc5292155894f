//! Preconditions, evaluated as S3 documents them: the `If-*` headers of reads (GetObject and
//! HeadObject, and the `x-amz-copy-source-if-*` forms of copies) and of writes (PutObject and
//! CompleteMultipartUpload). A write's condition is checked again inside the transaction that
//! commits it, so two writers racing on one key cannot both pass.

use s3s::dto::{ETag, ETagCondition, Timestamp};
use s3s::{s3_error, S3Error, S3Result};

use crate::db::{DbResult, ObjectRow, Tx};

const PRECONDITION_FAILED: &str = "At least one of the pre-conditions you specified did not hold";

/// The header that carries the failed condition's name from here to the front end, which
/// puts it in the error document's `<Condition>` (the protocol library's errors have no room
/// for it) and removes the header.
pub const FAILED_CONDITION_HEADER: &str = "x-stratus-failed-condition";

/// S3's 412, naming the header whose condition did not hold (`If-Match`...), as S3's error
/// document does in `<Condition>`.
pub fn precondition_failed(condition: &'static str) -> S3Error {
    let mut e = s3_error!(PreconditionFailed, "{}", PRECONDITION_FAILED);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        FAILED_CONDITION_HEADER,
        http::HeaderValue::from_static(condition),
    );
    e.set_headers(headers);
    e
}

/// What a read's preconditions decide.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    Proceed,
    /// `If-None-Match` matched, or the object was not modified since `If-Modified-Since`.
    NotModified,
    /// `If-Match` did not match, or the object was modified since `If-Unmodified-Since`
    /// (the header that failed).
    Failed(&'static str),
}

/// The conditional headers of a read.
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn unix_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

impl ReadConditions<'_> {
    /// RFC 9110's order, which S3 follows: `If-Match` (or, without it, `If-Unmodified-Since`),
    /// then `If-None-Match` (or, without it, `If-Modified-Since`). So a matching `If-Match`
    /// wins over a failing `If-Unmodified-Since`, and a matching `If-None-Match` answers 304
    /// whatever `If-Modified-Since` says. Dates compare in whole seconds, as HTTP dates are.
    pub fn evaluate(&self, etag: &str, last_modified_ms: i64) -> ReadOutcome {
        let current = ETag::Strong(etag.to_string());
        let modified_secs = last_modified_ms.div_euclid(1000);
        let failed = match (self.if_match, self.if_unmodified_since) {
            (Some(ETagCondition::Any), _) | (None, None) => None,
            (Some(ETagCondition::ETag(e)), _) => (!current.strong_cmp(e)).then_some("If-Match"),
            (None, Some(t)) => (modified_secs > unix_secs(t)).then_some("If-Unmodified-Since"),
        };
        if let Some(header) = failed {
            return ReadOutcome::Failed(header);
        }
        let modified = match (self.if_none_match, self.if_modified_since) {
            (Some(ETagCondition::Any), _) => false,
            (Some(ETagCondition::ETag(e)), _) => !current.weak_cmp(e),
            (None, Some(t)) => modified_secs > unix_secs(t),
            (None, None) => true,
        };
        if modified {
            ReadOutcome::Proceed
        } else {
            ReadOutcome::NotModified
        }
    }

    /// GetObject/HeadObject: 412, or 304 carrying the object's `ETag` and `Last-Modified` (a
    /// cache revalidating needs them), or go ahead.
    pub fn check_read(&self, row: &ObjectRow) -> S3Result<()> {
        match self.evaluate(&row.etag, row.last_modified_ms) {
            ReadOutcome::Proceed => Ok(()),
            ReadOutcome::Failed(header) => Err(precondition_failed(header)),
            ReadOutcome::NotModified => Err(not_modified(row)),
        }
    }

    /// The source of a copy: any failed condition is 412, never 304.
    pub fn check_copy_source(&self, row: &ObjectRow) -> S3Result<()> {
        match self.evaluate(&row.etag, row.last_modified_ms) {
            ReadOutcome::Proceed => Ok(()),
            ReadOutcome::Failed(header) => Err(precondition_failed(copy_source(header))),
            ReadOutcome::NotModified => Err(precondition_failed(match self.if_none_match {
                Some(_) => "x-amz-copy-source-If-None-Match",
                None => "x-amz-copy-source-If-Modified-Since",
            })),
        }
    }
}

/// A copy's condition headers are the read's, prefixed.
fn copy_source(header: &str) -> &'static str {
    match header {
        "If-Match" => "x-amz-copy-source-If-Match",
        _ => "x-amz-copy-source-If-Unmodified-Since",
    }
}

fn not_modified(row: &ObjectRow) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", row.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    if let Some(v) = http_date(row.last_modified_ms) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

fn http_date(ms: i64) -> Option<http::HeaderValue> {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?;
    let mut buf = Vec::new();
    Timestamp::from(t)
        .format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
        .ok()?;
    http::HeaderValue::from_bytes(&buf).ok()
}

/// The conditions of a write (`If-Match` / `If-None-Match: *`) on the key it replaces.
#[derive(Debug, Clone, Default)]
pub struct WriteConditions {
    /// `If-Match`: the key must exist and (unless `*`) have this ETag.
    pub if_match: Option<ETagCondition>,
    /// `If-None-Match: *`: the key must not exist.
    pub must_be_absent: bool,
}

impl WriteConditions {
    /// Reads the headers. S3 accepts only `*` in a write's `If-None-Match`; any other value
    /// asks for something it does not implement.
    pub fn from_headers(
        if_match: Option<ETagCondition>,
        if_none_match: Option<ETagCondition>,
    ) -> S3Result<WriteConditions> {
        let must_be_absent = match if_none_match {
            None => false,
            Some(ETagCondition::Any) => true,
            Some(ETagCondition::ETag(_)) => {
                return Err(s3_error!(
                    NotImplemented,
                    "A header you provided implies functionality that is not implemented"
                ))
            }
        };
        Ok(WriteConditions {
            if_match,
            must_be_absent,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && !self.must_be_absent
    }

    /// Checks the conditions against the object the write would replace: 412 when the key
    /// exists but must not, or its ETag differs; 404 `NoSuchKey` when `If-Match` names a key
    /// that does not exist.
    /// A current delete marker counts as no object.
    pub fn check(&self, current: Option<&ObjectRow>) -> S3Result<()> {
        let current = current.filter(|c| !c.delete_marker);
        if self.must_be_absent && current.is_some() {
            return Err(precondition_failed("If-None-Match"));
        }
        match (&self.if_match, current) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
            (Some(ETagCondition::Any), Some(_)) => Ok(()),
            (Some(ETagCondition::ETag(e)), Some(row)) => {
                if e.value() == row.etag {
                    Ok(())
                } else {
                    Err(precondition_failed("If-Match"))
                }
            }
        }
    }
}

/// A committed write: the `x-amz-version-id` to answer (none in a bucket never versioned) and
/// the blobs no version refers to any more (to remove after the commit).
#[derive(Debug)]
pub struct Committed {
    pub version: Option<String>,
    pub released: Vec<String>,
}

/// Writes `row` in `tx` as its key's newest version if its bucket exists and `cond` holds for
/// the object it replaces (see [`Tx::write_version`]). The read and the write are one transaction: on SQLite the
/// writers take turns; on PostgreSQL a writer that raced another is run again and then sees
/// the winner's object, so of several `If-None-Match: *` writers exactly one succeeds.
pub fn put_if(
    tx: &Tx<'_, '_>,
    row: &ObjectRow,
    cond: &WriteConditions,
) -> DbResult<S3Result<Committed>> {
    let Some(mode) = tx.bucket_versioning(&row.bucket)? else {
        return Ok(Err(s3_error!(
            NoSuchBucket,
            "The specified bucket does not exist"
        )));
    };
    let current = tx.object(&row.bucket, &row.key)?;
    if let Err(e) = cond.check(current.as_ref()) {
        return Ok(Err(e));
    }
    let (written, released) = tx.write_version(row, current, mode)?;
    Ok(Ok(Committed {
        version: mode.header(&written),
        released,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    /// Eight writers put the same new key with `If-None-Match: *` at once, each in its own
    /// transaction: exactly one commits, the others see its object and get 412, on every
    /// backend (PostgreSQL's losers are run again after a serialization conflict).
    #[test]
    fn of_concurrent_create_only_puts_exactly_one_wins() {
        use crate::db::testing::backends;
        for t in backends("create_only") {
            let loc = t.location.to_string();
            t.db.tx(|tx| tx.create_bucket("b", 0)).unwrap();
            let db = &t.db;
            let cond = WriteConditions {
                if_match: None,
                must_be_absent: true,
            };
            let outcomes: Vec<_> = std::thread::scope(|s| {
                let writers: Vec<_> = (0..8)
                    .map(|i| {
                        let cond = cond.clone();
                        s.spawn(move || {
                            let row = ObjectRow {
                                bucket: "b".into(),
                                key: "k".into(),
                                blob: format!("blob{i}"),
                                etag: format!("e{i}"),
                                ..Default::default()
                            };
                            db.tx(|tx| put_if(tx, &row, &cond)).unwrap()
                        })
                    })
                    .collect();
                writers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            let won = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(won, 1, "{loc}: {outcomes:?}");
            for o in outcomes.iter().filter_map(|o| o.as_ref().err()) {
                assert_eq!(*o.code(), S3ErrorCode::PreconditionFailed, "{loc}");
            }
            let stored = db.tx(|tx| tx.object("b", "k")).unwrap().unwrap();
            let winner = outcomes.iter().position(|o| o.is_ok()).unwrap();
            assert_eq!(stored.blob, format!("blob{winner}"), "{loc}");
        }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap())
    }

    fn strong(v: &str) -> ETagCondition {
        ETagCondition::ETag(ETag::Strong(v.into()))
    }

    fn outcome(c: ReadConditions<'_>) -> ReadOutcome {
        // An object with ETag "abc", last modified at 1000.5 s.
        c.evaluate("abc", 1_000_500)
    }

    const NONE: ReadConditions<'static> = ReadConditions {
        if_match: None,
        if_none_match: None,
        if_modified_since: None,
        if_unmodified_since: None,
    };

    #[test]
    fn if_match_wins_over_a_failing_if_unmodified_since() {
        let m = strong("abc");
        let early = ts(10);
        let c = ReadConditions {
            if_match: Some(&m),
            if_unmodified_since: Some(&early),
            ..NONE
        };
        assert_eq!(outcome(c), ReadOutcome::Proceed);
        let c = ReadConditions {
            if_unmodified_since: Some(&early),
            ..NONE
        };
        assert!(matches!(outcome(c), ReadOutcome::Failed(_)));
        let other = strong("zzz");
        let c = ReadConditions {
            if_match: Some(&other),
            ..NONE
        };
        assert!(matches!(outcome(c), ReadOutcome::Failed(_)));
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let m = strong("abc");
        let early = ts(10);
        // If-None-Match false, If-Modified-Since true: 304.
        let c = ReadConditions {
            if_none_match: Some(&m),
            if_modified_since: Some(&early),
            ..NONE
        };
        assert_eq!(outcome(c), ReadOutcome::NotModified);
        let other = strong("zzz");
        let late = ts(5000);
        // If-None-Match true, If-Modified-Since false: the object is returned.
        let c = ReadConditions {
            if_none_match: Some(&other),
            if_modified_since: Some(&late),
            ..NONE
        };
        assert_eq!(outcome(c), ReadOutcome::Proceed);
    }

    #[test]
    fn dates_compare_in_whole_seconds() {
        let same = ts(1000);
        let c = ReadConditions {
            if_modified_since: Some(&same),
            ..NONE
        };
        assert_eq!(outcome(c), ReadOutcome::NotModified);
        let c = ReadConditions {
            if_unmodified_since: Some(&same),
            ..NONE
        };
        assert_eq!(outcome(c), ReadOutcome::Proceed);
        // A failed If-Match is 412 even when If-None-Match would be 304.
        let m = strong("zzz");
        let any = ETagCondition::Any;
        let c = ReadConditions {
            if_match: Some(&m),
            if_none_match: Some(&any),
            ..NONE
        };
        assert!(matches!(outcome(c), ReadOutcome::Failed(_)));
    }

    fn row(etag: &str) -> ObjectRow {
        ObjectRow {
            etag: etag.into(),
            ..Default::default()
        }
    }

    #[test]
    fn write_conditions() {
        let absent = WriteConditions::from_headers(None, Some(ETagCondition::Any)).unwrap();
        assert!(absent.check(None).is_ok());
        let e = absent.check(Some(&row("abc"))).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::PreconditionFailed);

        let matching = WriteConditions::from_headers(Some(strong("abc")), None).unwrap();
        assert!(matching.check(Some(&row("abc"))).is_ok());
        let e = matching.check(Some(&row("def"))).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::PreconditionFailed);
        let e = matching.check(None).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::NoSuchKey);

        let e = WriteConditions::from_headers(None, Some(strong("abc"))).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::NotImplemented);
        assert!(WriteConditions::default().check(Some(&row("x"))).is_ok());
    }
}
