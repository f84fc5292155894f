//! Tag sets of objects and buckets: S3's limits, and the two forms a set arrives in (the XML
//! `Tagging` body, and the `x-amz-tagging` header of an upload, a URL query string).

use s3s::dto::{Tag, TagSet, Tagging};
use s3s::{s3_error, S3Error, S3Result};

use crate::db::Tags;

/// At most 10 tags on an object, 50 on a bucket.
pub const OBJECT_MAX_TAGS: usize = 10;
pub const BUCKET_MAX_TAGS: usize = 50;
const MAX_KEY_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 256;

fn invalid_tag(msg: String) -> S3Error {
    s3_error!(InvalidTag, "{}", msg)
}

/// Checks a set against S3's rules: how many, how long (in characters), no duplicate keys, no
/// key in the reserved `aws:` namespace.
pub fn validate(tags: &Tags, max: usize, what: &str) -> S3Result<()> {
    if tags.len() > max {
        return Err(invalid_tag(format!(
            "{what} tags cannot be greater than {max}"
        )));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_KEY_LEN {
            return Err(invalid_tag(format!(
                "The TagKey you have provided is invalid (at most {MAX_KEY_LEN} characters, at least 1)"
            )));
        }
        if v.chars().count() > MAX_VALUE_LEN {
            return Err(invalid_tag(format!(
                "The TagValue you have provided is too long, max {MAX_VALUE_LEN}"
            )));
        }
        if k.starts_with("aws:") {
            return Err(invalid_tag(
                "Your TagKey cannot be prefixed with aws:".to_string(),
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key".to_string(),
            ));
        }
    }
    Ok(())
}

/// An object's tags from an upload's `x-amz-tagging: k1=v1&k2=v2` header.
pub fn from_header(header: Option<&str>) -> S3Result<Tags> {
    let Some(h) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for pair in h.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((decode(k)?, decode(v)?));
    }
    validate(&tags, OBJECT_MAX_TAGS, "Object")?;
    Ok(tags)
}

fn decode(s: &str) -> S3Result<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| s3_error!(InvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))
}

/// A tag set from a `Tagging` body, checked against `max`.
pub fn from_xml(t: Tagging, max: usize, what: &str) -> S3Result<Tags> {
    let tags: Tags = t
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    validate(&tags, max, what)?;
    Ok(tags)
}

pub fn to_xml(tags: &Tags) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize) -> Tags {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    }

    #[test]
    fn limits() {
        assert!(validate(&set(10), OBJECT_MAX_TAGS, "Object").is_ok());
        assert!(validate(&set(11), OBJECT_MAX_TAGS, "Object").is_err());
        assert!(validate(&set(50), BUCKET_MAX_TAGS, "Bucket").is_ok());
        assert!(validate(&set(51), BUCKET_MAX_TAGS, "Bucket").is_err());
        let long_key = vec![("k".repeat(129), String::new())];
        assert!(validate(&long_key, 10, "Object").is_err());
        let ok_key = vec![("é".repeat(128), "v".repeat(256))];
        assert!(validate(&ok_key, 10, "Object").is_ok());
        let long_value = vec![("k".into(), "v".repeat(257))];
        assert!(validate(&long_value, 10, "Object").is_err());
        let dup = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        assert!(validate(&dup, 10, "Object").is_err());
        let reserved = vec![("aws:x".into(), "1".into())];
        assert!(validate(&reserved, 10, "Object").is_err());
    }

    #[test]
    fn header_form() {
        let tags = from_header(Some("a=1&b%20c=x+y&empty=")).unwrap();
        assert_eq!(
            tags,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b c".to_string(), "x y".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert!(from_header(None).unwrap().is_empty());
        assert!(from_header(Some("a=1&a=2")).is_err());
    }
}
