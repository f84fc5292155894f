//! SigV4 for Invoke requests, done as an SDK client does it (`aws-sigv4`). A signature is valid
//! for 15 minutes and the benchmark sends the same body again and again, so a connection signs
//! once per [`RESIGN_EVERY`] and reuses the headers: the server still verifies every request,
//! but the load generator, which shares the machine's two cores with the server, does not pay
//! for an HMAC chain per request. `Signer::every_request` turns the cache off.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};

pub const RESIGN_EVERY: Duration = Duration::from_secs(60);

/// Signed headers for one (method, URI, body, extra headers) request shape.
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    service: String,
    cache_for: Duration,
    cached: Option<(Instant, Vec<(HeaderName, HeaderValue)>)>,
}

/// What is signed: everything but the signature's own headers.
pub struct Shape<'a> {
    pub method: &'a str,
    /// Full URL, e.g. `http://127.0.0.1:4566/2015-03-31/functions/f/invocations`.
    pub url: &'a str,
    /// Headers sent and signed (must include `host`).
    pub headers: &'a [(&'a str, String)],
    pub body: &'a [u8],
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str, service: &str) -> Signer {
        Signer {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            service: service.into(),
            cache_for: RESIGN_EVERY,
            cached: None,
        }
    }

    /// Signs every request afresh.
    pub fn every_request(mut self) -> Signer {
        self.cache_for = Duration::ZERO;
        self
    }

    /// The `authorization` and `x-amz-date` headers for `shape` (the same shape every call).
    pub fn headers(&mut self, shape: &Shape<'_>) -> anyhow::Result<&[(HeaderName, HeaderValue)]> {
        let fresh = self
            .cached
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < self.cache_for);
        if !fresh {
            self.cached = Some((Instant::now(), self.sign(shape)?));
        }
        Ok(&self.cached.as_ref().expect("just set").1)
    }

    fn sign(&self, shape: &Shape<'_>) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
        let identity =
            Credentials::new(&self.access_key, &self.secret_key, None, None, "bench").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let req = SignableRequest::new(
            shape.method,
            shape.url,
            shape.headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(shape.body),
        )?;
        let (instructions, _) = sign(req, &params)?.into_parts();
        let (headers, _query) = instructions.into_parts();
        headers
            .into_iter()
            .map(|h| {
                Ok((
                    HeaderName::from_bytes(h.name().as_bytes())?,
                    HeaderValue::from_str(h.value())?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_caches() {
        let mut s = Signer::new("test", "test", "us-east-1", "lambda");
        let headers = [("host", "127.0.0.1:1".to_string())];
        let shape = Shape {
            method: "POST",
            url: "http://127.0.0.1:1/2015-03-31/functions/f/invocations",
            headers: &headers,
            body: b"{}",
        };
        let first: Vec<_> = s.headers(&shape).unwrap().to_vec();
        assert!(first.iter().any(|(k, _)| k == "authorization"));
        assert!(first.iter().any(|(k, _)| k == "x-amz-date"));
        assert_eq!(s.headers(&shape).unwrap(), first.as_slice());
    }
}
