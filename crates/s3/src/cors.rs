//! Bucket CORS: the configuration (Put/Get/DeleteBucketCors, validated as S3 does) and its
//! application — answering a browser's preflight `OPTIONS` and adding the CORS headers to an
//! actual request that carries an `Origin` — by S3's rules: the first rule whose origin
//! pattern, method and (for a preflight) every requested header match decides.
//!
//! The front end calls [`preflight`] for `OPTIONS` (which the protocol layer does not route,
//! and which browsers send unsigned) and [`actual_request_headers`] after any request with an
//! `Origin`; requests without one cost nothing here.

use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::{s3_error, S3Result};

use crate::db::BucketConfig;
use crate::store::ObjectStore;

/// The most rules one configuration may have.
const MAX_RULES: usize = 100;
/// The methods a rule may allow.
const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
/// What S3 answers in `Vary` on every CORS response.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

fn malformed_xml() -> s3s::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Validates a PutBucketCors document as S3 does, returning its rules to keep.
pub fn validate(c: &CORSConfiguration) -> S3Result<Vec<CORSRule>> {
    if c.cors_rules.is_empty() || c.cors_rules.len() > MAX_RULES {
        return Err(malformed_xml());
    }
    for rule in &c.cors_rules {
        validate_rule(rule)?;
    }
    Ok(c.cors_rules.clone())
}

fn validate_rule(rule: &CORSRule) -> S3Result<()> {
    if rule.allowed_methods.is_empty()
        || rule.allowed_origins.is_empty()
        || rule.id.as_ref().is_some_and(|id| id.len() > 255)
    {
        return Err(malformed_xml());
    }
    if let Some(m) = rule
        .allowed_methods
        .iter()
        .find(|m| !METHODS.contains(&m.as_str()))
    {
        return Err(s3_error!(
            InvalidRequest,
            "Found unsupported HTTP method in CORS config. Unsupported method is {}",
            m
        ));
    }
    if let Some(o) = rule.allowed_origins.iter().find(|o| wildcards(o) > 1) {
        return Err(s3_error!(
            InvalidRequest,
            "AllowedOrigin \"{}\" can not have more than one wildcard.",
            o
        ));
    }
    let headers = rule.allowed_headers.iter().flatten();
    if let Some(h) = headers.into_iter().find(|h| wildcards(h) > 1) {
        return Err(s3_error!(
            InvalidRequest,
            "AllowedHeader \"{}\" can not have more than one wildcard.",
            h
        ));
    }
    Ok(())
}

fn wildcards(s: &str) -> usize {
    s.matches('*').count()
}

/// The configuration document of kept rules.
pub fn to_configuration(rules: Vec<CORSRule>) -> CORSConfiguration {
    CORSConfiguration { cors_rules: rules }
}

/// Whether `value` matches `pattern`, which has at most one `*` standing for any run of
/// characters.
fn matches_pattern(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

/// What one request asks of the CORS rules.
pub struct CorsRequest<'a> {
    pub origin: &'a str,
    /// The method of the actual request (a preflight's `Access-Control-Request-Method`).
    pub method: &'a str,
    /// A preflight's `Access-Control-Request-Headers`, split and lower-cased.
    pub headers: Vec<String>,
}

impl CorsRequest<'_> {
    /// The first rule allowing this request, as S3 evaluates them: in order.
    pub fn first_match<'r>(&self, rules: &'r [CORSRule]) -> Option<&'r CORSRule> {
        rules.iter().find(|r| self.allowed_by(r))
    }

    fn allowed_by(&self, rule: &CORSRule) -> bool {
        let origin_ok = rule
            .allowed_origins
            .iter()
            .any(|o| matches_pattern(o, self.origin));
        let method_ok = rule.allowed_methods.iter().any(|m| m == self.method);
        let allowed: Vec<String> = rule
            .allowed_headers
            .iter()
            .flatten()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let headers_ok = self
            .headers
            .iter()
            .all(|h| allowed.iter().any(|a| matches_pattern(a, h)));
        origin_ok && method_ok && headers_ok
    }

    /// The CORS response headers a matching rule gives: on a preflight, the requested
    /// headers too.
    pub fn response_headers(
        &self,
        rule: &CORSRule,
        preflight: bool,
    ) -> Vec<(&'static str, String)> {
        let wildcard = rule.allowed_origins.iter().any(|o| o == "*");
        let mut h = vec![(
            "access-control-allow-origin",
            if wildcard { "*" } else { self.origin }.to_string(),
        )];
        if !wildcard {
            h.push(("access-control-allow-credentials", "true".into()));
        }
        h.push(("vary", VARY.into()));
        h.push((
            "access-control-allow-methods",
            rule.allowed_methods.join(", "),
        ));
        if preflight && !self.headers.is_empty() {
            h.push(("access-control-allow-headers", self.headers.join(", ")));
        }
        if let Some(expose) = rule.expose_headers.as_ref().filter(|e| !e.is_empty()) {
            h.push(("access-control-expose-headers", expose.join(", ")));
        }
        if let Some(age) = rule.max_age_seconds {
            h.push(("access-control-max-age", age.to_string()));
        }
        h
    }
}

/// Splits an `Access-Control-Request-Headers` value into lower-case names.
pub fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// A bucket's CORS rules: `None` when the bucket does not exist, `Some(None)` when it has no
/// configuration.
pub fn rules(
    store: &ObjectStore,
    bucket: &str,
) -> Result<Option<Option<Vec<CORSRule>>>, stratus_db::Error> {
    let config = store
        .db
        .tx(|tx| tx.bucket_config(BucketConfig::Cors, bucket))?;
    Ok(config.map(|c| c.and_then(|s| serde_json::from_str(&s).ok())))
}

/// `s` with XML's special characters escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The answer to a preflight or a refused one: a status, headers, and for a refusal S3's
/// error document (without the request id, which the front end adds).
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub error: Option<String>,
}

/// S3's refusal of a preflight: `code` and `message`, and for `AccessForbidden` the method and
/// kind of resource S3 names.
fn refusal(status: http::StatusCode, code: &str, message: &str, extra: &[(&str, &str)]) -> Answer {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>",
        escape(message)
    );
    for (name, value) in extra {
        body.push_str(&format!("<{name}>{}</{name}>", escape(value)));
    }
    body.push_str("</Error>");
    Answer {
        status,
        headers: Vec::new(),
        error: Some(body),
    }
}

const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// A preflight `OPTIONS` on `bucket` (and an object of it when `on_object`), with the
/// request's `Origin`, `Access-Control-Request-Method` and `-Headers`. Needs no signature,
/// as browsers send none; it only ever reveals what the bucket's CORS rules allow.
pub fn preflight(
    store: &ObjectStore,
    bucket: &str,
    on_object: bool,
    origin: Option<&str>,
    method: Option<&str>,
    headers: Option<&str>,
) -> Result<Answer, stratus_db::Error> {
    let forbidden = http::StatusCode::FORBIDDEN;
    let Some(origin) = origin else {
        return Ok(refusal(
            http::StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
            &[],
        ));
    };
    let named = method.unwrap_or("OPTIONS");
    let rules = match rules(store, bucket)? {
        None => {
            let extra = [("Method", named), ("ResourceType", "BUCKET")];
            return Ok(refusal(
                forbidden,
                "AccessForbidden",
                "CORSResponse: Bucket not found",
                &extra,
            ));
        }
        Some(None) => {
            let extra = [("Method", named), ("ResourceType", "BUCKET")];
            let message = "CORSResponse: CORS is not enabled for this bucket.";
            return Ok(refusal(forbidden, "AccessForbidden", message, &extra));
        }
        Some(Some(rules)) => rules,
    };
    let request = CorsRequest {
        origin,
        method: named,
        headers: requested_headers(headers),
    };
    match request.first_match(&rules) {
        Some(rule) => Ok(Answer {
            status: http::StatusCode::OK,
            headers: request.response_headers(rule, true),
            error: None,
        }),
        None => {
            let kind = if on_object { "OBJECT" } else { "BUCKET" };
            let extra = [("Method", named), ("ResourceType", kind)];
            Ok(refusal(forbidden, "AccessForbidden", NOT_ALLOWED, &extra))
        }
    }
}

/// The CORS headers for an actual (non-preflight) request with an `Origin`, from the first
/// rule allowing its origin and method; none when no rule does (or the bucket has none).
pub fn actual_request_headers(
    store: &ObjectStore,
    bucket: &str,
    origin: &str,
    method: &str,
) -> Vec<(&'static str, String)> {
    let Ok(Some(Some(rules))) = rules(store, bucket) else {
        return Vec::new();
    };
    let request = CorsRequest {
        origin,
        method,
        headers: Vec::new(),
    };
    request
        .first_match(&rules)
        .map(|rule| request.response_headers(rule, false))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CORSRule {
        CORSRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: (!headers.is_empty())
                .then(|| headers.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn config(rules: Vec<CORSRule>) -> CORSConfiguration {
        CORSConfiguration { cors_rules: rules }
    }

    #[test]
    fn validation_follows_s3() {
        let ok = config(vec![rule(
            &["https://*.example.com"],
            &["GET", "PUT"],
            &["x-amz-*"],
        )]);
        assert_eq!(validate(&ok).unwrap().len(), 1);
        let e = validate(&config(vec![rule(&["*"], &["PATCH"], &[])])).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidRequest");
        assert_eq!(
            e.message(),
            Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
        );
        let e = validate(&config(vec![rule(&["https://*.*.com"], &["GET"], &[])])).unwrap_err();
        assert_eq!(
            e.message(),
            Some("AllowedOrigin \"https://*.*.com\" can not have more than one wildcard.")
        );
        assert_eq!(
            validate(&config(vec![])).unwrap_err().code().as_str(),
            "MalformedXML"
        );
        let many = config(vec![rule(&["*"], &["GET"], &[]); 101]);
        assert_eq!(validate(&many).unwrap_err().code().as_str(), "MalformedXML");
        assert!(validate(&config(vec![rule(&["*"], &["GET"], &[]); 100])).is_ok());
    }

    #[test]
    fn patterns_have_one_wildcard() {
        assert!(matches_pattern("*", "https://a.com"));
        assert!(matches_pattern(
            "https://*.example.com",
            "https://app.example.com"
        ));
        assert!(!matches_pattern(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!matches_pattern("https://a.com", "https://a.com.evil"));
        assert!(matches_pattern("x-amz-*", "x-amz-date"));
    }

    #[test]
    fn first_matching_rule_decides() {
        let rules = vec![
            rule(&["https://a.com"], &["GET"], &[]),
            rule(&["*"], &["PUT"], &["Content-Type", "x-amz-*"]),
        ];
        let get = CorsRequest {
            origin: "https://a.com",
            method: "GET",
            headers: vec![],
        };
        let matched = get.first_match(&rules).unwrap();
        assert_eq!(matched, &rules[0]);
        let h = get.response_headers(matched, false);
        assert!(h.contains(&("access-control-allow-origin", "https://a.com".into())));
        assert!(h.contains(&("access-control-allow-credentials", "true".into())));
        let put = CorsRequest {
            origin: "https://b.com",
            method: "PUT",
            headers: requested_headers(Some("content-type, X-Amz-Date")),
        };
        let matched = put.first_match(&rules).unwrap();
        let h = put.response_headers(matched, true);
        assert!(h.contains(&("access-control-allow-origin", "*".into())));
        assert!(h.contains(&(
            "access-control-allow-headers",
            "content-type, x-amz-date".into()
        )));
        assert!(!h
            .iter()
            .any(|(n, _)| *n == "access-control-allow-credentials"));
        let refused = CorsRequest {
            origin: "https://b.com",
            method: "PUT",
            headers: requested_headers(Some("authorization")),
        };
        assert!(refused.first_match(&rules).is_none());
        let wrong_method = CorsRequest {
            origin: "https://a.com",
            method: "DELETE",
            headers: vec![],
        };
        assert!(wrong_method.first_match(&rules).is_none());
    }
}
