//! The blob store's URL: `file://<dir>` (or a plain path, or nothing for the default
//! directory) and `s3://<bucket>?endpoint=…&region=…[&prefix=…][&access_key_id=…&secret_access_key=…]`.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where blobs live.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3(S3Location),
}

/// An S3-compatible bucket. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// `http(s)://host:port`; none means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// Keys are stored under `<prefix>/` when set (one bucket shared by several uses).
    pub prefix: Option<String>,
    /// From the URL; when absent the standard environment variables are read.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Location::S3(self.clone()).redacted())
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

const REDACTED: &str = "REDACTED";

impl Location {
    /// Parses a URL; an empty one means `default_dir` on the local disk.
    pub fn parse(url: &str, default_dir: &Path) -> Result<Location, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(Location::File(default_dir.to_path_buf()));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err("file:// needs a directory, e.g. file:///var/lib/stratus/blobs".into());
            }
            return Ok(Location::File(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            return parse_s3(rest).map(Location::S3);
        }
        if url.contains("://") {
            return Err(format!(
                "unsupported blob store {:?}: use file://<dir> or s3://<bucket>?endpoint=…&region=…",
                redact_query(url)
            ));
        }
        Ok(Location::File(PathBuf::from(url)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Location::File(_) => "file",
            Location::S3(_) => "s3",
        }
    }

    /// The URL with credentials replaced: what logs and `/health` show.
    pub fn redacted(&self) -> String {
        match self {
            Location::File(dir) => format!("file://{}", dir.display()),
            Location::S3(s) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(e) = &s.endpoint {
                    q.append_pair("endpoint", e);
                }
                q.append_pair("region", &s.region);
                if let Some(p) = &s.prefix {
                    q.append_pair("prefix", p);
                }
                if s.access_key_id.is_some() {
                    q.append_pair("access_key_id", REDACTED);
                }
                if s.secret_access_key.is_some() {
                    q.append_pair("secret_access_key", REDACTED);
                }
                format!("s3://{}?{}", s.bucket, q.finish())
            }
        }
    }
}

fn parse_s3(rest: &str) -> Result<S3Location, String> {
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err("s3:// needs a bucket name and no path: s3://<bucket>?endpoint=…&region=… (use prefix= for a key prefix)".into());
    }
    let mut loc = S3Location {
        bucket: bucket.to_string(),
        endpoint: None,
        region: "us-east-1".into(),
        prefix: None,
        access_key_id: None,
        secret_access_key: None,
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "endpoint" => loc.endpoint = Some(v.trim_end_matches('/').to_string()),
            "region" => loc.region = v,
            "prefix" => {
                let p = v.trim_matches('/');
                loc.prefix = (!p.is_empty()).then(|| p.to_string());
            }
            "access_key_id" => loc.access_key_id = Some(v),
            "secret_access_key" => loc.secret_access_key = Some(v),
            other => {
                return Err(format!(
                    "unknown blob store parameter {other:?} (known: endpoint, region, prefix, access_key_id, secret_access_key)"
                ))
            }
        }
    }
    if loc.access_key_id.is_some() != loc.secret_access_key.is_some() {
        return Err("access_key_id and secret_access_key must be given together".into());
    }
    Ok(loc)
}

/// A URL of an unknown scheme, shown in an error without its query (which may hold secrets).
fn redact_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_paths_are_local() {
        let d = Path::new("/data");
        assert_eq!(
            Location::parse("", d).unwrap(),
            Location::File("/data".into())
        );
        assert_eq!(
            Location::parse("file:///x/y", d).unwrap(),
            Location::File("/x/y".into())
        );
        assert_eq!(
            Location::parse("rel/dir", d).unwrap(),
            Location::File("rel/dir".into())
        );
        assert!(Location::parse("file://", d).is_err());
        assert!(Location::parse("gs://b?secret=x", d)
            .unwrap_err()
            .contains("\"gs://b\""));
    }

    #[test]
    fn s3_urls_parse_and_never_show_secrets() {
        let url = "s3://blobs?endpoint=http://127.0.0.1:3900/&region=garage&prefix=/a/b/&access_key_id=GK1&secret_access_key=s3cr3t";
        let Location::S3(s) = Location::parse(url, Path::new("/d")).unwrap() else {
            panic!("not s3")
        };
        assert_eq!(s.bucket, "blobs");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(s.region, "garage");
        assert_eq!(s.prefix.as_deref(), Some("a/b"));
        assert_eq!(s.secret_access_key.as_deref(), Some("s3cr3t"));
        let shown = Location::S3(s.clone()).redacted();
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("GK1"),
            "{shown}"
        );
        assert!(shown.contains("secret_access_key=REDACTED"), "{shown}");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_s3_urls_are_refused() {
        let d = Path::new("/d");
        assert!(Location::parse("s3://", d).is_err());
        assert!(Location::parse("s3://b/path", d).is_err());
        assert!(Location::parse("s3://b?endpont=x", d)
            .unwrap_err()
            .contains("endpont"));
        assert!(Location::parse("s3://b?access_key_id=a", d).is_err());
    }
}
