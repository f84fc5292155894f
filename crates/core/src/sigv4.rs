//! Parsing the fields of an AWS Signature Version 4 request, from the `Authorization` header
//! or from a presigned URL's query string, with AWS's errors. Pure text handling, with no
//! cryptography: verifying the signature is the API layer's (`api::auth`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::{Error, Kind};

/// The longest a presigned URL may be valid (`X-Amz-Expires`, seconds): one week.
pub const MAX_EXPIRES: u64 = 604_800;
/// The most headers a signature may name: no request carries more (the HTTP layer refuses
/// requests with over 100 header fields).
pub const MAX_SIGNED_HEADERS: usize = 100;
/// The longest access key id accepted (AWS's are 16 to 128 characters).
pub const MAX_ACCESS_KEY: usize = 128;

/// The signature fields of a request, from either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires: Option<u64>,
}

pub fn missing_token() -> Error {
    Error::new(
        "MissingAuthenticationTokenException",
        Kind::Unauthenticated,
        "Missing Authentication Token",
    )
}

pub fn incomplete() -> Error {
    Error::new(
        "IncompleteSignatureException",
        Kind::Unauthenticated,
        "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
    )
}

/// The fields of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
pub fn parse_header(h: &str) -> Result<Claimed<'_>, Error> {
    let rest = h
        .strip_prefix("AWS4-HMAC-SHA256")
        .ok_or_else(incomplete)?
        .trim();
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => cred = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(incomplete());
    };
    claimed(cred, signed, sig, None, None)
}

/// The fields of a presigned URL, from its decoded query parameters ([`query_map`]).
pub fn parse_query(q: &HashMap<String, String>) -> Result<Claimed<'_>, Error> {
    let get = |k: &str| q.get(k).map(String::as_str).ok_or_else(missing_token);
    if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(incomplete());
    }
    let expires: u64 = get("X-Amz-Expires")?.parse().map_err(|_| incomplete())?;
    if expires > MAX_EXPIRES {
        return Err(Error::new(
            "IncompleteSignatureException",
            Kind::Unauthenticated,
            format!("X-Amz-Expires must be less than a week (in seconds) that is; {MAX_EXPIRES}"),
        ));
    }
    claimed(
        get("X-Amz-Credential")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Signature")?,
        Some(get("X-Amz-Date")?),
        Some(expires),
    )
}

fn claimed<'a>(
    cred: &'a str,
    signed: &'a str,
    sig: &'a str,
    date: Option<&'a str>,
    expires: Option<u64>,
) -> Result<Claimed<'a>, Error> {
    let mut scope = cred.split('/');
    let (Some(ak), Some(day), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(incomplete());
    };
    let well_formed = !ak.is_empty()
        && ak.len() <= MAX_ACCESS_KEY
        && day.len() == 8
        && day.bytes().all(|b| b.is_ascii_digit())
        && !region.is_empty()
        && !service.is_empty();
    if !well_formed {
        return Err(incomplete());
    }
    // Counted before anything is collected: the header may name thousands.
    if signed.split(';').nth(MAX_SIGNED_HEADERS).is_some() {
        return Err(incomplete());
    }
    Ok(Claimed {
        access_key: ak,
        date: date.unwrap_or(day),
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature: sig,
        expires,
    })
}

/// `20260101T120000Z` → time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let dt = time::PrimitiveDateTime::parse(s, fmt).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(dt.unix_timestamp()).ok()?))
}

/// A query string's parameters, `+` and percent escapes decoded (the last of a repeated name
/// wins).
pub fn query_map(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_form() {
        let c = parse_header(
            "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(
            (c.access_key, c.date, c.region, c.service, c.signature),
            ("AK", "20260101", "eu-west-1", "lambda", "abc")
        );
        assert_eq!(c.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(c.expires, None);
    }

    #[test]
    fn incomplete_headers_are_refused() {
        for h in [
            "Basic dGVzdA==",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/lambda/aws4_request, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/lambda, SignedHeaders=host, Signature=abc",
        ] {
            assert_eq!(
                parse_header(h).unwrap_err().code,
                "IncompleteSignatureException",
                "{h}"
            );
        }
    }

    #[test]
    fn reads_the_presigned_form() {
        let q = query_map(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=ab",
        );
        let c = parse_query(&q).unwrap();
        assert_eq!(
            (c.service, c.date, c.expires),
            ("s3", "20260101T120000Z", Some(300))
        );
        let q = query_map("X-Amz-Signature=ab");
        assert_eq!(
            parse_query(&q).unwrap_err().code,
            "MissingAuthenticationTokenException"
        );
    }

    #[test]
    fn dates_are_amz_basic_format() {
        assert!(parse_amz_date("20260101T120000Z").is_some());
        assert!(parse_amz_date("2026-01-01T12:00:00Z").is_none());
        assert!(parse_amz_date("19600101T000000Z").is_none());
    }
}
