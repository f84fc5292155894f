//! Where a template body comes from: `TemplateBody`, or `TemplateURL` naming an object in
//! Stratus's own S3, in the forms the tools write (path-style `http://host:port/bucket/key`,
//! `https://s3.amazonaws.com/bucket/key`, `https://s3.<region>.amazonaws.com/bucket/key`, and
//! virtual-hosted `https://bucket.s3[.<region>].amazonaws.com/key`). The network is never
//! fetched: the object is read from the local store.

use stratus_core::Error;
use stratus_stacks::template::{MAX_BODY, MAX_URL_BODY};

use super::{validation, Ctx};
use crate::services::sns::form::Params;

/// A URL's bucket and key, or None when it names no object.
pub fn bucket_and_key(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next()?;
    let host = host.split(':').next()?.to_ascii_lowercase();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let virtual_bucket = [".s3.", ".s3-"]
        .iter()
        .filter_map(|m| host.find(m).filter(|i| *i > 0))
        .min()
        .map(|i| host[..i].to_string());
    match virtual_bucket {
        Some(bucket) if !host.starts_with("s3.") && !host.starts_with("s3-") => {
            let key = decode(path)?;
            (!key.is_empty()).then_some((bucket, key))
        }
        _ => {
            let (bucket, key) = path.split_once('/')?;
            let key = decode(key)?;
            (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key))
        }
    }
}

/// The template text of a request: TemplateBody or TemplateURL (exactly one).
pub async fn template_text(ctx: &Ctx<'_>, p: &Params) -> Result<String, Error> {
    match (p.get("TemplateBody"), p.get("TemplateURL")) {
        (Some(_), Some(_)) => Err(validation(
            "Specify exactly one of TemplateBody or TemplateUrl.",
        )),
        (Some(body), None) => {
            if body.len() > MAX_BODY {
                return Err(validation(format!(
                    "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to {MAX_BODY}"
                )));
            }
            Ok(body.to_string())
        }
        (None, Some(url)) => read_url(ctx, url).await,
        (None, None) => Err(validation(
            "Either Template URL or Template Body must be specified.",
        )),
    }
}

async fn read_url(ctx: &Ctx<'_>, url: &str) -> Result<String, Error> {
    let invalid = || validation("TemplateURL must be a supported URL.");
    let (bucket, key) = bucket_and_key(url).ok_or_else(invalid)?;
    let bytes = ctx
        .state
        .stores
        .objects
        .read_object(&bucket, &key)
        .await
        .map_err(|_| {
            validation(format!(
                "S3 error: Unable to read the object {key} in bucket {bucket}"
            ))
        })?
        .ok_or_else(|| validation("S3 error: The specified key does not exist."))?;
    if bytes.len() > MAX_URL_BODY {
        return Err(validation("Template may not exceed 1000000 bytes in size."));
    }
    String::from_utf8(bytes)
        .map_err(|_| validation("Template format error: unsupported structure."))
}

#[cfg(test)]
mod tests {
    use super::bucket_and_key;

    #[test]
    fn template_urls_in_the_forms_the_tools_write() {
        let bk = |b: &str, k: &str| Some((b.to_string(), k.to_string()));
        assert_eq!(
            bucket_and_key("http://127.0.0.1:4566/bkt/dir/t.yaml"),
            bk("bkt", "dir/t.yaml")
        );
        assert_eq!(
            bucket_and_key("https://s3.amazonaws.com/bkt/t.json"),
            bk("bkt", "t.json")
        );
        assert_eq!(
            bucket_and_key("https://s3.us-east-1.amazonaws.com/bkt/a%20b.yaml"),
            bk("bkt", "a b.yaml")
        );
        assert_eq!(
            bucket_and_key("https://bkt.s3.amazonaws.com/k/t.yaml"),
            bk("bkt", "k/t.yaml")
        );
        assert_eq!(
            bucket_and_key("https://bkt.s3.us-west-2.amazonaws.com/t.yaml"),
            bk("bkt", "t.yaml")
        );
        assert_eq!(
            bucket_and_key("http://bkt.s3.localhost.localstack.cloud:4566/t.yaml"),
            bk("bkt", "t.yaml")
        );
        assert_eq!(bucket_and_key("http://localhost:4566/bkt"), None);
        assert_eq!(bucket_and_key("ftp://x/y/z"), None);
    }
}
