//! `${filename}` in a browser upload's `key` field. S3 replaces the variable with the name of
//! the uploaded file (the `filename` of the `file` part) before it checks the policy and
//! stores the object; the protocol library parses the form and drops that name. So the form's
//! fields, which S3 requires before the file, are read here first and the `key` field rewritten
//! in place; the file's bytes then stream through untouched.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::request::Parts;

/// How far into a form the `file` part is looked for: the fields S3 reads are at most a few
/// kilobytes (a policy is limited to 20 KB); a form that holds more is passed on unchanged.
const MAX_FIELDS: usize = 64 * 1024;

const VARIABLE: &str = "${filename}";

/// A POST object request with its `key` field's `${filename}` replaced, or as it came.
pub async fn with_file_name(mut parts: Parts, body: Body) -> (Parts, Body) {
    let Some(boundary) = boundary(&parts) else {
        return (parts, body);
    };
    let mut stream = body.into_data_stream();
    let mut head = BytesMut::new();
    let mut end = None;
    while head.len() <= MAX_FIELDS {
        if let Some(found) = fields_end(&head, &boundary) {
            end = Some(found);
            break;
        }
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                let rest = futures_util::stream::once(async move { Err::<Bytes, _>(e) });
                return (parts, joined(head.freeze(), rest));
            }
            None => break,
        }
    }
    let head = head.freeze();
    let rewritten = end.and_then(|end| rewrite(&head[..end], &boundary));
    let Some(mut fields) = rewritten else {
        return (parts, joined(head, stream));
    };
    let end = end.unwrap_or_default();
    if let Some(len) = content_length(&parts) {
        let new_len = len + fields.len() - end;
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, new_len.into());
    }
    fields.extend_from_slice(&head[end..]);
    (parts, joined(Bytes::from(fields), stream))
}

fn joined<S, E>(head: Bytes, rest: S) -> Body
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<axum::BoxError> + 'static,
{
    let first = futures_util::stream::once(async move { Ok::<_, E>(head) });
    Body::from_stream(first.chain(rest))
}

fn content_length(parts: &Parts) -> Option<usize> {
    parts
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The form's boundary, for a POST of `multipart/form-data` (a browser upload).
fn boundary(parts: &Parts) -> Option<String> {
    if parts.method != http::Method::POST {
        return None;
    }
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let (kind, params) = ct.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_string())
    })
}

/// The end of the `file` part's headers (where its bytes begin), once it has been read.
fn fields_end(head: &[u8], boundary: &str) -> Option<usize> {
    parts_of(head, boundary)
        .find(|p| p.name.eq_ignore_ascii_case("file"))
        .map(|p| p.body_start)
}

/// One part's headers as far as this module needs them.
struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    body_start: usize,
}

/// The parts of `head` whose headers are complete, in order.
fn parts_of<'a>(head: &'a [u8], boundary: &'a str) -> impl Iterator<Item = Part<'a>> + 'a {
    let delimiter = format!("--{boundary}\r\n").into_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + find(&head[at..], &delimiter)? + delimiter.len();
        let headers_len = find(&head[start..], b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&head[start..start + headers_len]).ok()?;
        at = start + headers_len + 4;
        let disposition = headers.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(value)
        })?;
        Some(Part {
            name: param(disposition, "name")?,
            filename: param(disposition, "filename"),
            body_start: at,
        })
    })
}

fn param<'a>(disposition: &'a str, wanted: &str) -> Option<&'a str> {
    disposition.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        (name == wanted).then(|| value.trim_matches('"'))
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The fields (everything before the file's bytes) with `${filename}` in the `key` field
/// replaced, or `None` when there is nothing to replace.
fn rewrite(fields: &[u8], boundary: &str) -> Option<Vec<u8>> {
    let parts: Vec<Part> = parts_of(fields, boundary).collect();
    let file_name = parts
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("file"))?
        .filename?;
    // Browsers send a bare name; some old ones sent the whole client-side path.
    let file_name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let key = parts.iter().find(|p| p.name.eq_ignore_ascii_case("key"))?;
    let value_len = find(&fields[key.body_start..], b"\r\n--")?;
    let value = &fields[key.body_start..key.body_start + value_len];
    let value = std::str::from_utf8(value).ok()?;
    if !value.contains(VARIABLE) {
        return None;
    }
    let mut out = Vec::with_capacity(fields.len() + file_name.len());
    out.extend_from_slice(&fields[..key.body_start]);
    out.extend_from_slice(value.replace(VARIABLE, file_name).as_bytes());
    out.extend_from_slice(&fields[key.body_start + value_len..]);
    Some(out)
}

/// S3's answer when a form's policy refuses an upload: 403 `AccessDenied` with "Invalid
/// according to Policy: ...", where the protocol library answers 400 `InvalidPolicyDocument`
/// (a failed condition) or "Request has expired". Returns the code and message to send, or
/// `None` for any other error.
pub fn policy_refusal(code: &str, message: &str) -> Option<(&'static str, String)> {
    let why = match code {
        "AccessDenied" if message == "Request has expired" => "Policy expired.".to_string(),
        "InvalidPolicyDocument" => {
            format!("Policy Condition failed: {}", failed_condition(message)?)
        }
        _ => return None,
    };
    Some((
        "AccessDenied",
        format!("Invalid according to Policy: {why}"),
    ))
}

/// A condition as the policy wrote it (`["starts-with", "$key", "foo"]`), from the library's
/// "Policy condition 'starts-with' for field 'key' failed: expected prefix 'foo', got ..."
fn failed_condition(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Policy condition '")?;
    let (op, rest) = rest.split_once("' for field '")?;
    let (field, rest) = rest.split_once("' failed: expected ")?;
    let rest = rest.strip_prefix("prefix ").unwrap_or(rest);
    let value = rest.strip_prefix('\'')?.rsplit_once("', got '")?.0;
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    Some(format!(
        "[{}, {}, {}]",
        quoted(op),
        quoted(&format!("${field}")),
        quoted(value)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(key: &str, filename: &str) -> Vec<u8> {
        format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\nabc\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: text/plain\r\n\r\nbar\r\n--XyZ--\r\n"
        )
        .into_bytes()
    }

    async fn run(body: Vec<u8>, chunk: usize) -> (Parts, Vec<u8>) {
        let len = body.len();
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let req = http::Request::post("/bucket")
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header("content-length", len)
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
        let (parts, body) = req.into_parts();
        let (parts, body) = with_file_name(parts, body).await;
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts, bytes.to_vec())
    }

    #[tokio::test]
    async fn the_key_takes_the_file_name_however_the_body_arrives() {
        for chunk in [1, 7, 1000] {
            let (parts, body) = run(form("up/${filename}", "C:\\docs\\foo.txt"), chunk).await;
            let want = form("up/foo.txt", "C:\\docs\\foo.txt");
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&want)
            );
            assert_eq!(
                parts.headers["content-length"],
                want.len().to_string().as_str()
            );
        }
    }

    #[tokio::test]
    async fn a_form_without_the_variable_passes_unchanged() {
        let original = form("plain.txt", "foo.txt");
        let (parts, body) = run(original.clone(), 5).await;
        assert_eq!(body, original);
        assert_eq!(
            parts.headers["content-length"],
            original.len().to_string().as_str()
        );
    }

    #[tokio::test]
    async fn a_form_without_a_file_passes_unchanged() {
        let original = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n${filename}\r\n--XyZ--\r\n".to_vec();
        let (_, body) = run(original.clone(), 3).await;
        assert_eq!(body, original);
    }

    #[test]
    fn policy_refusals_are_worded_as_s3_words_them() {
        let (code, msg) = policy_refusal(
            "InvalidPolicyDocument",
            "Policy condition 'starts-with' for field 'key' failed: expected prefix 'foo', got 'bar.txt'",
        )
        .unwrap();
        assert_eq!(code, "AccessDenied");
        assert_eq!(
            msg,
            r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "foo"]"#
        );
        let (_, msg) = policy_refusal(
            "InvalidPolicyDocument",
            "Policy condition 'eq' for field 'acl' failed: expected 'private', got ''",
        )
        .unwrap();
        assert_eq!(
            msg,
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$acl", "private"]"#
        );
        assert_eq!(
            policy_refusal("AccessDenied", "Request has expired")
                .unwrap()
                .1,
            "Invalid according to Policy: Policy expired."
        );
        assert!(policy_refusal("InvalidPolicyDocument", "failed to parse POST policy").is_none());
        assert!(policy_refusal("NoSuchBucket", "x").is_none());
    }
}
