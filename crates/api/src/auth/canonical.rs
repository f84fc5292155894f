//! The header form's string to sign, built straight from the request as it arrived: the same
//! canonical request `aws-sigv4`'s signer builds with the settings `expected_signature` gives
//! it, without its detour through credentials, a re-parsed URI and a copied header map. The
//! encodings are the SDK's own (`aws-smithy-http`'s query and greedy label encoders), the
//! hashes `sha2`'s. Requests outside the common shape (a path with dot segments or empty
//! segments, an unsigned `host`, the presigned form) get `None` and go to the signer.

use http::request::Parts;
use sha2::{Digest, Sha256};
use stratus_core::sigv4::Claimed;

/// The string to sign of a header-signed request, or `None` when the request needs the full
/// signer. `claimed.date` is the request's `x-amz-date` (already checked to parse).
pub fn string_to_sign(parts: &Parts, body: &[u8], c: &Claimed<'_>) -> Option<String> {
    let creq = canonical_request(parts, body, c)?;
    let day = c.date.get(..8)?;
    let hashed = hex::encode(Sha256::digest(creq.as_bytes()));
    Some(format!(
        "AWS4-HMAC-SHA256\n{}\n{day}/{}/{}/aws4_request\n{hashed}",
        c.date, c.region, c.service
    ))
}

fn canonical_request(parts: &Parts, body: &[u8], c: &Claimed<'_>) -> Option<String> {
    let raw_path = parts.uri.path();
    // Dot and empty segments are normalised by the signer (outside S3): rare, left to it.
    if raw_path.contains("/.") || raw_path.contains("//") || !raw_path.starts_with('/') {
        return None;
    }
    let s3 = c.service == "s3";
    let mut out = String::with_capacity(512);
    out.push_str(parts.method.as_str());
    out.push('\n');
    if s3 {
        // S3 signs the path as sent (single encoding, no normalisation).
        out.push_str(raw_path);
    } else {
        // Everyone else signs the sent (already encoded) path encoded once more.
        let greedy = aws_smithy_http::label::EncodingStrategy::Greedy;
        out.push_str(&aws_smithy_http::label::fmt_string(raw_path, greedy));
    }
    out.push('\n');
    push_query(&mut out, parts.uri.query().unwrap_or(""));
    out.push('\n');
    let signed = push_headers(&mut out, parts, c)?;
    out.push('\n');
    out.push_str(&signed);
    out.push('\n');
    push_payload_hash(&mut out, parts, body, c);
    Some(out)
}

/// Parameters decoded, then re-encoded with the SDK's query encoder and sorted on the encoded
/// pairs, as the signer does.
fn push_query(out: &mut String, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            (
                aws_smithy_http::query::fmt_string(k),
                aws_smithy_http::query::fmt_string(v),
            )
        })
        .collect();
    params.sort();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// The canonical headers (each signed header present in the request, `x-amz-date` from the
/// claimed date; repeated names joined with commas in arrival order), returning the signed
/// header list. `None` when `host` is not among them (the signer would derive it).
fn push_headers(out: &mut String, parts: &Parts, c: &Claimed<'_>) -> Option<String> {
    let mut headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter(|(n, _)| n.as_str() != "x-amz-date" && c.signed_headers.contains(&n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    if !headers.iter().any(|(n, _)| *n == "host") {
        return None;
    }
    headers.push(("x-amz-date", c.date));
    // Stable: values of one name keep their order.
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut signed = String::with_capacity(128);
    let mut previous: Option<&str> = None;
    for (name, value) in headers {
        if previous == Some(name) {
            out.push(',');
        } else {
            if previous.is_some() {
                out.push('\n');
                signed.push(';');
            }
            out.push_str(name);
            out.push(':');
            signed.push_str(name);
            previous = Some(name);
        }
        push_trimmed(out, value);
    }
    out.push('\n');
    Some(signed)
}

/// A header value with its leading and trailing spaces removed and runs of spaces collapsed
/// to one (spaces only, as S3 does, not other whitespace).
fn push_trimmed(out: &mut String, value: &str) {
    let mut last_space = false;
    for ch in value.trim_matches(' ').chars() {
        if ch == ' ' && last_space {
            continue;
        }
        last_space = ch == ' ';
        out.push(ch);
    }
}

fn push_payload_hash(out: &mut String, parts: &Parts, body: &[u8], c: &Claimed<'_>) {
    let content_sha = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    match content_sha {
        Some("UNSIGNED-PAYLOAD") => out.push_str("UNSIGNED-PAYLOAD"),
        Some(h) if c.signed_headers.contains(&"x-amz-content-sha256") => out.push_str(h),
        _ => out.push_str(&hex::encode(Sha256::digest(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_trimmed_of_spaces_only() {
        let mut s = String::new();
        push_trimmed(&mut s, "  a  b \t c   ");
        assert_eq!(s, "a b \t c");
    }

    #[test]
    fn query_is_reencoded_and_sorted() {
        let mut s = String::new();
        push_query(&mut s, "b=2&a=x+y&a=%2F&c");
        assert_eq!(s, "a=%2F&a=x%20y&b=2&c=");
    }
}
