//! AWS Signature Version 4 verification, for both the `Authorization` header form and the
//! presigned-query form. A header-signed request's string to sign is built from the request as
//! it arrived (`canonical`) and checked with the day's cached signing key (`signing_key`): one
//! HMAC. Anything else, and any signature that does not match that way, is recomputed with
//! `aws-sigv4`'s signer from exactly the headers the client says it signed; both compare in
//! constant time.

mod canonical;
mod signing_key;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use http::request::Parts;
pub use stratus_core::sigv4::missing_token;
#[cfg(test)]
use stratus_core::sigv4::MAX_SIGNED_HEADERS;
use stratus_core::sigv4::{
    incomplete, parse_amz_date, parse_header, parse_query, query_map, Claimed,
};
use stratus_core::{Error, Kind};
use stratus_iam::store::KeyRecord;
use stratus_iam::Identity;

/// How far a request's timestamp may be from the server's clock (AWS allows 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The verified identity and scope of a signed request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub region: String,
    pub service: String,
    /// Whom the access key authenticates.
    pub identity: Arc<Identity>,
    /// Signed with temporary (STS) credentials.
    pub session: bool,
}

/// Where verification finds an access key's secret and owner: the configured root key and
/// the IAM store's user and session keys.
pub trait Keys {
    fn lookup(&self, access_key: &str) -> Result<Option<KeyRecord>, Error>;
}

/// The root identity, shared: the root key's requests allocate none.
pub fn root_identity() -> Arc<Identity> {
    static ROOT: OnceLock<Arc<Identity>> = OnceLock::new();
    ROOT.get_or_init(|| Arc::new(Identity::root())).clone()
}

/// Access key → secret of the account's root credentials.
impl Keys for HashMap<String, String> {
    fn lookup(&self, access_key: &str) -> Result<Option<KeyRecord>, Error> {
        Ok(self.get(access_key).map(|secret| KeyRecord {
            secret: secret.clone(),
            identity: root_identity(),
            token: None,
            expires: None,
            active: true,
        }))
    }
}

/// The root key from configuration first (a map look-up, the common case), then the IAM
/// store.
pub struct RootThenIam<'a> {
    pub root: &'a HashMap<String, String>,
    pub iam: &'a stratus_iam::Iam,
}

impl Keys for RootThenIam<'_> {
    fn lookup(&self, access_key: &str) -> Result<Option<KeyRecord>, Error> {
        match self.root.lookup(access_key)? {
            Some(r) => Ok(Some(r)),
            None => self.iam.resolve_key(access_key),
        }
    }
}

/// AWS's answer to temporary credentials past their expiry.
pub fn expired_token() -> Error {
    Error::new(
        "ExpiredTokenException",
        Kind::Unauthenticated,
        "The security token included in the request is expired",
    )
}

/// The session token a request presents (`X-Amz-Security-Token`, header or query).
pub fn presented_token<'a>(
    parts: &'a Parts,
    query: &'a HashMap<String, String>,
) -> Option<&'a str> {
    parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("X-Amz-Security-Token").map(String::as_str))
}

/// Checks a key record against the token the request presents, and its expiry: a session
/// key needs its own token, a long-term key none.
pub fn check_token(record: &KeyRecord, presented: Option<&str>) -> Result<(), Error> {
    let matches = match (&record.token, presented) {
        (Some(t), Some(p)) => constant_time_eq(t.as_bytes(), p.as_bytes()),
        (None, None) => true,
        _ => false,
    };
    if !record.active || !matches {
        return Err(unrecognized());
    }
    Ok(())
}

/// Whether temporary credentials have expired.
pub fn is_expired(record: &KeyRecord) -> bool {
    // Long-term keys (root's included) never read the clock.
    let Some(expires) = record.expires else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now >= expires
}

fn unrecognized() -> Error {
    Error::new(
        "UnrecognizedClientException",
        Kind::Unauthenticated,
        "The security token included in the request is invalid.",
    )
}

fn mismatch() -> Error {
    Error::new(
        "InvalidSignatureException",
        Kind::Unauthenticated,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

/// Reads the credential scope without verifying anything: the service name decides which API
/// answers (and how it words its errors) before the signature is checked.
pub fn scope(parts: &Parts) -> Option<(String, String)> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let query;
    let claimed = match header {
        Some(h) => parse_header(h).ok()?,
        None => {
            query = query_map(parts.uri.query().unwrap_or(""));
            parse_query(&query).ok()?
        }
    };
    Some((claimed.service.to_string(), claimed.region.to_string()))
}

/// Verifies a request's signature against the credentials `keys` knows (and a session key's
/// token and expiry).
pub fn verify(parts: &Parts, body: &[u8], keys: &dyn Keys) -> Result<Caller, Error> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Only the presigned form needs the query decoded.
    let query = match header {
        Some(_) => HashMap::new(),
        None => query_map(parts.uri.query().unwrap_or("")),
    };
    let mut claimed = match header {
        Some(h) => parse_header(h)?,
        None if query.contains_key("X-Amz-Signature") => parse_query(&query)?,
        None => return Err(missing_token()),
    };
    if header.is_some() {
        claimed.date = parts
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(incomplete)?;
    }
    let record = keys.lookup(claimed.access_key)?.ok_or_else(unrecognized)?;
    let token = presented_token(parts, &query);
    check_token(&record, token)?;
    let time = check_time(&claimed)?;
    check_signature(parts, body, &claimed, &record, time, header.is_none())?;
    if is_expired(&record) {
        return Err(expired_token());
    }
    let identity = record.identity;
    Ok(Caller {
        access_key: claimed.access_key.to_string(),
        region: claimed.region.to_string(),
        service: claimed.service.to_string(),
        identity,
        session: record.token.is_some(),
    })
}

/// How a signature was found to match.
#[derive(Debug, PartialEq, Eq)]
enum Matched {
    /// The request's own canonical form and the cached signing key: one HMAC.
    CachedKey,
    /// `aws-sigv4`'s signer, end to end.
    Signer,
}

fn check_signature(
    parts: &Parts,
    body: &[u8],
    claimed: &Claimed<'_>,
    record: &KeyRecord,
    time: SystemTime,
    presigned: bool,
) -> Result<Matched, Error> {
    if !presigned {
        let fast = canonical::string_to_sign(parts, body, claimed).zip(claimed.date.get(..8));
        if let Some((sts, day)) = fast {
            let scope = signing_key::Scope {
                access_key: claimed.access_key,
                day,
                region: claimed.region,
                service: claimed.service,
            };
            let keys = signing_key::shared();
            if keys.matches(&record.secret, &scope, time, &sts, claimed.signature) {
                return Ok(Matched::CachedKey);
            }
        }
    }
    // The presigned form's token is re-added by the signer, like the other X-Amz- fields.
    let signer_token = record.token.as_deref().filter(|_| presigned);
    let expected = expected_signature(
        parts,
        body,
        claimed,
        (&record.secret, signer_token),
        time,
        presigned,
    )?;
    if !constant_time_eq(expected.as_bytes(), claimed.signature.as_bytes()) {
        return Err(mismatch());
    }
    Ok(Matched::Signer)
}

fn check_time(c: &Claimed<'_>) -> Result<SystemTime, Error> {
    let time = parse_amz_date(c.date).ok_or_else(incomplete)?;
    let now = SystemTime::now();
    let expired = || {
        Error::new(
            "InvalidSignatureException",
            Kind::Unauthenticated,
            format!(
                "Signature expired: {} is now earlier than the allowed window.",
                c.date
            ),
        )
    };
    match c.expires {
        Some(secs) => {
            // `secs` is at most a week (checked when parsed), so this cannot overflow.
            let until = time + Duration::from_secs(secs) + Duration::from_secs(60);
            if now > until || time > now + MAX_SKEW {
                return Err(expired());
            }
        }
        None => {
            let skew = now
                .duration_since(time)
                .or_else(|e| Ok::<_, ()>(e.duration()))
                .unwrap_or_default();
            if skew > MAX_SKEW {
                return Err(expired());
            }
        }
    }
    Ok(time)
}

fn expected_signature(
    parts: &Parts,
    body: &[u8],
    c: &Claimed<'_>,
    (secret, token): (&str, Option<&str>),
    time: SystemTime,
    presigned: bool,
) -> Result<String, Error> {
    let is_s3 = c.service == "s3";
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    if is_s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    if presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = c.expires.map(Duration::from_secs);
    }
    let identity = Credentials::new(
        c.access_key,
        secret,
        token.map(str::to_string),
        None,
        "stratus",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(c.region)
        .name(c.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| incomplete())?
        .into();
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter(|(n, _)| c.signed_headers.contains(&n.as_str()) && n.as_str() != "x-amz-date")
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    let content_sha = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let body = match content_sha {
        Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
        Some(h) if c.signed_headers.contains(&"x-amz-content-sha256") => {
            SignableBody::Precomputed(h.to_string())
        }
        _ if presigned && is_s3 => SignableBody::UnsignedPayload,
        _ => SignableBody::Bytes(body),
    };
    let uri = signing_uri(parts, presigned);
    let request = SignableRequest::new(parts.method.as_str(), uri, headers.into_iter(), body)
        .map_err(|_| mismatch())?;
    let (_, signature) = sign(request, &params).map_err(|_| mismatch())?.into_parts();
    Ok(signature)
}

/// The URI the client signed: for the presigned form, without the signing parameters, which
/// the signer adds back itself.
fn signing_uri<'a>(parts: &'a Parts, presigned: bool) -> Cow<'a, str> {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let query: Cow<'_, str> = if presigned {
        query
            .split('&')
            .filter(|kv| !kv.starts_with("X-Amz-") || kv.starts_with("X-Amz-Content"))
            .filter(|kv| !kv.is_empty())
            .collect::<Vec<_>>()
            .join("&")
            .into()
    } else {
        query.into()
    };
    if query.is_empty() {
        format!("http://{host}{path}").into()
    } else {
        format!("http://{host}{path}?{query}").into()
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_parts(secret: &str, time: SystemTime) -> Parts {
        // Sign a request with aws-sigv4 as a client would, then verify it.
        let identity = Credentials::new("test", secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "127.0.0.1:4566"),
            ("content-type", "application/json"),
        ];
        let req = SignableRequest::new(
            "GET",
            "http://127.0.0.1:4566/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/configuration?Qualifier=%24LATEST",
            headers.into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut builder = http::Request::builder()
            .method("GET")
            .uri("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/configuration?Qualifier=%24LATEST");
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let mut req = builder.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req.into_parts().0
    }

    fn secrets() -> HashMap<String, String> {
        [("test".to_string(), "test".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn accepts_a_correct_signature() {
        let parts = signed_parts("test", SystemTime::now());
        let caller = verify(&parts, b"", &secrets()).unwrap();
        assert_eq!(
            (caller.region.as_str(), caller.service.as_str()),
            ("us-east-1", "lambda")
        );
    }

    #[test]
    fn rejects_wrong_secret_unknown_key_and_old_dates() {
        let parts = signed_parts("wrong", SystemTime::now());
        assert_eq!(
            verify(&parts, b"", &secrets()).unwrap_err().code,
            "InvalidSignatureException"
        );
        let other: HashMap<String, String> =
            [("x".to_string(), "y".to_string())].into_iter().collect();
        let parts = signed_parts("test", SystemTime::now());
        assert_eq!(
            verify(&parts, b"", &other).unwrap_err().code,
            "UnrecognizedClientException"
        );
        let old = signed_parts("test", SystemTime::now() - Duration::from_secs(20 * 60));
        let e = verify(&old, b"", &secrets()).unwrap_err();
        assert!(e.message.contains("Signature expired"), "{e}");
    }

    fn header_parts(authorization: &str) -> Parts {
        http::Request::builder()
            .uri("/2015-03-31/functions")
            .header("authorization", authorization)
            .header("x-amz-date", "20260101T000000Z")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn malformed_scopes_are_incomplete_signatures() {
        let code = |auth: &str| {
            verify(&header_parts(auth), b"", &secrets())
                .unwrap_err()
                .code
        };
        let with = |cred: &str, signed: &str| {
            format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature=00")
        };
        for cred in [
            "test/20260101/us-east-1/lambda/aws4_request/extra",
            "test/2026/us-east-1/lambda/aws4_request",
            "/20260101/us-east-1/lambda/aws4_request",
            "test/20260101//lambda/aws4_request",
            "test/20260101/us-east-1/lambda",
        ] {
            assert_eq!(
                code(&with(cred, "host")),
                "IncompleteSignatureException",
                "{cred}"
            );
        }
        let long_key = format!("{}/20260101/us-east-1/lambda/aws4_request", "K".repeat(129));
        assert_eq!(
            code(&with(&long_key, "host")),
            "IncompleteSignatureException"
        );
        let many = vec!["h"; MAX_SIGNED_HEADERS + 1].join(";");
        let cred = "test/20260101/us-east-1/lambda/aws4_request";
        assert_eq!(code(&with(cred, &many)), "IncompleteSignatureException");
        assert_eq!(code("AWS4-HMAC-SHA256"), "IncompleteSignatureException");
        assert_eq!(code("Basic abc"), "IncompleteSignatureException");
    }

    #[test]
    fn presigned_expiry_is_bounded_and_cannot_overflow() {
        let query = |expires: &str| {
            format!(
                "/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20260101%2Fus-east-1%2Flambda%2Faws4_request\
                 &X-Amz-Date=20260101T000000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
            )
        };
        for expires in ["18446744073709551615", "604801", "-1", "x"] {
            let (parts, _) = http::Request::builder()
                .uri(query(expires))
                .body(())
                .unwrap()
                .into_parts();
            let e = verify(&parts, b"", &secrets()).unwrap_err();
            assert_eq!(e.code, "IncompleteSignatureException", "{expires}: {e}");
        }
    }

    #[test]
    fn unsigned_is_missing_token() {
        let (parts, _) = http::Request::builder()
            .uri("/x")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            verify(&parts, b"", &secrets()).unwrap_err().code,
            "MissingAuthenticationTokenException"
        );
    }

    /// A request signed by `aws-sigv4` as an SDK signs it (S3 the way S3 clients do).
    struct Signed<'a> {
        method: &'a str,
        path_and_query: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        body: &'a [u8],
        service: &'a str,
        token: Option<&'a str>,
    }

    impl Signed<'_> {
        fn parts(&self, secret: &str) -> Parts {
            let identity =
                Credentials::new("test", secret, self.token.map(str::to_string), None, "t").into();
            let mut settings = SigningSettings::default();
            if self.service == "s3" {
                settings.percent_encoding_mode = PercentEncodingMode::Single;
                settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            }
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name(self.service)
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let url = format!("http://127.0.0.1:4566{}", self.path_and_query);
            let req = SignableRequest::new(
                self.method,
                url,
                self.headers.iter().copied(),
                SignableBody::Bytes(self.body),
            )
            .unwrap();
            let (instructions, _) = sign(req, &params).unwrap().into_parts();
            let mut builder = http::Request::builder()
                .method(self.method)
                .uri(self.path_and_query)
                .header("host", "127.0.0.1:4566");
            for (k, v) in &self.headers {
                builder = builder.header(*k, *v);
            }
            let mut req = builder.body(()).unwrap();
            instructions.apply_to_request_http1x(&mut req);
            req.into_parts().0
        }
    }

    /// How `verify`'s signature check matched `s`, signed with `secret`.
    fn matched(s: &Signed<'_>, secret: &str) -> Result<Matched, Error> {
        let parts = s.parts(secret);
        let h = parts.headers[http::header::AUTHORIZATION].to_str().unwrap();
        let mut claimed = parse_header(h).unwrap();
        claimed.date = parts.headers["x-amz-date"].to_str().unwrap();
        let record = secrets().lookup("test").unwrap().unwrap();
        let time = check_time(&claimed).unwrap();
        check_signature(&parts, s.body, &claimed, &record, time, false)
    }

    fn request<'a>(method: &'a str, path_and_query: &'a str, service: &'a str) -> Signed<'a> {
        Signed {
            method,
            path_and_query,
            headers: vec![],
            body: b"",
            service,
            token: None,
        }
    }

    #[test]
    fn sdk_signed_requests_match_with_one_hmac() {
        let invoke = Signed {
            headers: vec![
                ("content-type", "application/json"),
                ("x-amz-invocation-type", "RequestResponse"),
            ],
            body: br#"{"hello":"world"}"#,
            ..request(
                "POST",
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST",
                "lambda",
            )
        };
        let odd_query = request(
            "GET",
            "/2015-03-31/functions?Marker=a+b&MaxItems=5&Marker=%2F~x&Flag",
            "lambda",
        );
        let spaced = Signed {
            headers: vec![("x-custom", "  two   spaces  here "), ("x-amz-meta-a", "1")],
            ..request("GET", "/", "sqs")
        };
        let session = Signed {
            token: Some("session-token"),
            ..request("GET", "/", "sts")
        };
        let s3 = Signed {
            body: b"object body",
            ..request("PUT", "/bucket/a%20key/with%2Bplus~", "s3")
        };
        for s in [&invoke, &odd_query, &spaced, &session, &s3] {
            assert_eq!(
                matched(s, "test").unwrap(),
                Matched::CachedKey,
                "{} {}",
                s.method,
                s.path_and_query
            );
        }
    }

    #[test]
    fn unusual_paths_fall_back_to_the_signer_and_still_verify() {
        let dotted = request("GET", "/a/./b/../c", "lambda");
        assert_eq!(matched(&dotted, "test").unwrap(), Matched::Signer);
    }

    #[test]
    fn a_wrong_secret_fails_both_ways() {
        let s = request("GET", "/2015-03-31/functions", "lambda");
        assert_eq!(
            matched(&s, "not-the-secret").unwrap_err().code,
            "InvalidSignatureException"
        );
    }

    #[test]
    fn a_deleted_key_stops_working_though_its_signing_key_is_cached() {
        let parts = signed_parts("test", SystemTime::now());
        let mut keys = secrets();
        verify(&parts, b"", &keys).unwrap();
        verify(&parts, b"", &keys).unwrap();
        keys.remove("test");
        assert_eq!(
            verify(&parts, b"", &keys).unwrap_err().code,
            "UnrecognizedClientException"
        );
        // Re-created under the same id with another secret: the old signature is refused.
        keys.insert("test".into(), "rotated".into());
        assert_eq!(
            verify(&parts, b"", &keys).unwrap_err().code,
            "InvalidSignatureException"
        );
    }
}
