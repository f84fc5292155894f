//! Which bytes of an object a request reads: a `Range` header, a `partNumber` (the part of a
//! multipart object, or the whole of an object written in one piece), or an UploadPartCopy's
//! `x-amz-copy-source-range`.

use s3s::dto::Range;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

use crate::db::ObjectRow;

/// A slice of an object chosen by a request.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    pub start: u64,
    pub len: u64,
    /// `Content-Range` (and a 206 status) when the request asked for a range or a part.
    pub content_range: Option<String>,
    /// `x-amz-mp-parts-count`, answered to a read by part number of a multipart object.
    pub parts_count: Option<i32>,
}

fn content_range(start: u64, len: u64, size: u64) -> Option<String> {
    // An empty object has no byte to name.
    (len > 0).then(|| format!("bytes {start}-{}/{size}", start + len - 1))
}

fn invalid_part_number() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("InvalidPartNumber".into()),
        "The requested partnumber is not satisfiable",
    );
    e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
    e
}

/// The bytes a GetObject/HeadObject reads.
pub fn select(
    row: &ObjectRow,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<Selection> {
    match (range, part_number) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(r), None) => {
            let r = r
                .check(row.size)
                .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            let len = r.end - r.start;
            Ok(Selection {
                start: r.start,
                len,
                content_range: content_range(r.start, len, row.size),
                parts_count: None,
            })
        }
        (None, Some(n)) => select_part(row, n),
        (None, None) => Ok(Selection {
            start: 0,
            len: row.size,
            content_range: None,
            parts_count: None,
        }),
    }
}

/// Part `n` (from 1) of `row`. An object written whole is its own single part 1.
fn select_part(row: &ObjectRow, n: i32) -> S3Result<Selection> {
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    let single = [row.size];
    let sizes: &[u64] = row.parts.as_deref().unwrap_or(&single);
    let index = (n - 1) as usize;
    let Some(len) = sizes.get(index).copied() else {
        return Err(invalid_part_number());
    };
    let start: u64 = sizes[..index].iter().sum();
    Ok(Selection {
        start,
        len,
        content_range: content_range(start, len, row.size),
        parts_count: row.parts.as_ref().map(|p| p.len() as i32),
    })
}

const COPY_RANGE_FORM: &str = "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy";

/// An UploadPartCopy's `x-amz-copy-source-range` (`bytes=first-last`, both inclusive) over a
/// source of `size` bytes, as (start, len). Anything else is 400 `InvalidArgument`, as is a
/// range that does not fit in the source.
pub fn copy_source_range(value: &str, size: u64) -> S3Result<(u64, u64)> {
    let parsed = value
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            (digits(a) && digits(b)).then(|| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        })
        .flatten();
    let Some((first, last)) = parsed else {
        return Err(s3_error!(InvalidArgument, "{}", COPY_RANGE_FORM));
    };
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {size}"
        ));
    }
    Ok((first, last - first + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(size: u64, parts: Option<Vec<u64>>) -> ObjectRow {
        ObjectRow {
            size,
            parts,
            ..Default::default()
        }
    }

    #[test]
    fn parts_of_a_multipart_object() {
        let r = row(12, Some(vec![5, 5, 2]));
        let p2 = select(&r, None, Some(2)).unwrap();
        assert_eq!((p2.start, p2.len), (5, 5));
        assert_eq!(p2.content_range.as_deref(), Some("bytes 5-9/12"));
        assert_eq!(p2.parts_count, Some(3));
        let p3 = select(&r, None, Some(3)).unwrap();
        assert_eq!((p3.start, p3.len), (10, 2));
        let e = select(&r, None, Some(4)).unwrap_err();
        assert_eq!(
            e.status_code(),
            Some(http::StatusCode::RANGE_NOT_SATISFIABLE)
        );
        let e = select(&r, None, Some(0)).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn a_whole_object_is_part_one() {
        let r = row(10, None);
        let p1 = select(&r, None, Some(1)).unwrap();
        assert_eq!((p1.start, p1.len, p1.parts_count), (0, 10, None));
        assert_eq!(p1.content_range.as_deref(), Some("bytes 0-9/10"));
        assert!(select(&r, None, Some(2)).is_err());
        let all = select(&r, None, None).unwrap();
        assert_eq!((all.start, all.len, all.content_range), (0, 10, None));
    }

    #[test]
    fn copy_source_ranges() {
        assert_eq!(copy_source_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(copy_source_range("bytes=3-3", 10).unwrap(), (3, 1));
        for bad in [
            "0-9",
            "bytes=0",
            "bytes=0-",
            "bytes=-5",
            "bytes=hello-world",
            "bytes=0-bar",
            "bytes=0-2,3-5",
            "bytes=5-2",
            "bytes=0-10",
        ] {
            let e = copy_source_range(bad, 10).unwrap_err();
            assert_eq!(*e.code(), S3ErrorCode::InvalidArgument, "{bad}");
        }
    }
}
