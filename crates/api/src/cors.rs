//! CORS at the edge, shared by HTTP APIs (`corsConfiguration`) and function URLs (`Cors`),
//! as AWS documents it for HTTP APIs: a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered without invoking anything, and an actual
//! response from the function gets `Access-Control-Allow-Origin` (with `-Credentials` and
//! `-Expose-Headers`) when the request's `Origin` is allowed. The CORS headers a function
//! returns itself are dropped: the configuration is the only source, as on AWS.
//!
//! Origins match exactly (case-insensitively) or through `*`; methods and headers likewise.
//! A specific origin is echoed with `Vary: Origin`, so caches keep one answer per origin.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// One CORS configuration. Both APIs store the same members: HTTP APIs in camelCase
/// (`allowOrigins`), function URLs in PascalCase (`AllowOrigins`); [`Cors::from_json`] reads
/// either.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

const ALLOW_ORIGIN: &str = "access-control-allow-origin";
const ALLOW_CREDENTIALS: &str = "access-control-allow-credentials";
const EXPOSE_HEADERS: &str = "access-control-expose-headers";
const ALLOW_METHODS: &str = "access-control-allow-methods";
const ALLOW_HEADERS: &str = "access-control-allow-headers";
const MAX_AGE: &str = "access-control-max-age";

impl Cors {
    /// Reads a stored configuration in either casing; `None` when it is absent or not an
    /// object.
    pub fn from_json(v: &serde_json::Value) -> Option<Cors> {
        let obj = v.as_object()?;
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let list = |name: &str| -> Option<Vec<String>> {
            get(name)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        };
        Some(Cors {
            allow_credentials: get("allowCredentials").and_then(|v| v.as_bool()),
            allow_headers: list("allowHeaders"),
            allow_methods: list("allowMethods"),
            allow_origins: list("allowOrigins"),
            expose_headers: list("exposeHeaders"),
            max_age: get("maxAge").and_then(|v| v.as_i64()),
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    fn allowed_origin(&self, origin: &str) -> Option<HeaderValue> {
        let origins = self.allow_origins.as_deref().unwrap_or_default();
        if origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        origins
            .iter()
            .find(|o| o.eq_ignore_ascii_case(origin))
            .and_then(|_| HeaderValue::from_str(origin).ok())
    }

    fn allows_method(&self, method: &str) -> bool {
        let methods = self.allow_methods.as_deref().unwrap_or_default();
        methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method))
    }

    fn allows_headers(&self, requested: &str) -> bool {
        let allowed = self.allow_headers.as_deref().unwrap_or_default();
        if allowed.iter().any(|h| h == "*") {
            return true;
        }
        requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The answer to a preflight: `204` with the configuration's headers when the origin,
    /// method and headers asked for are allowed, a bare `204` otherwise (the browser then
    /// refuses the actual request, which never reaches the function).
    pub fn preflight(&self, req: &HeaderMap) -> Response {
        let mut resp = Response::new(axum::body::Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let origin = header(req, "origin").unwrap_or_default();
        let method = header(req, "access-control-request-method").unwrap_or_default();
        let headers = header(req, "access-control-request-headers").unwrap_or_default();
        let Some(allowed) = self.allowed_origin(origin) else {
            return resp;
        };
        if !self.allows_method(method) || !self.allows_headers(headers) {
            return resp;
        }
        let out = resp.headers_mut();
        self.origin_headers(allowed, out);
        if let Some(v) = joined(self.allow_methods.as_deref()) {
            out.insert(ALLOW_METHODS, v);
        }
        if let Some(v) = joined(self.allow_headers.as_deref()) {
            out.insert(ALLOW_HEADERS, v);
        }
        if let Some(age) = self.max_age.filter(|a| *a > 0) {
            out.insert(MAX_AGE, HeaderValue::from(age));
        }
        resp
    }

    /// Replaces whatever CORS headers a function returned with the configuration's, for a
    /// request whose `Origin` is allowed.
    pub fn apply(&self, req: &HeaderMap, out: &mut HeaderMap) {
        for name in [
            ALLOW_ORIGIN,
            ALLOW_CREDENTIALS,
            EXPOSE_HEADERS,
            ALLOW_METHODS,
            ALLOW_HEADERS,
            MAX_AGE,
        ] {
            out.remove(name);
        }
        let Some(allowed) = header(req, "origin").and_then(|o| self.allowed_origin(o)) else {
            return;
        };
        self.origin_headers(allowed, out);
        if let Some(v) = joined(self.expose_headers.as_deref()) {
            out.insert(EXPOSE_HEADERS, v);
        }
    }

    fn origin_headers(&self, allowed: HeaderValue, out: &mut HeaderMap) {
        if allowed != "*" {
            out.append(axum::http::header::VARY, HeaderValue::from_static("Origin"));
        }
        out.insert(ALLOW_ORIGIN, allowed);
        if self.allow_credentials == Some(true) {
            out.insert(ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn joined(list: Option<&[String]>) -> Option<HeaderValue> {
    let list = list.filter(|l| !l.is_empty())?;
    HeaderValue::from_str(&list.join(",")).ok()
}

/// The header names CORS configurations may list: what `HeaderName` accepts.
pub fn valid_header_name(name: &str) -> bool {
    name == "*" || HeaderName::from_bytes(name.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cors() -> Cors {
        Cors::from_json(&json!({
            "allowOrigins": ["https://app.example"], "allowMethods": ["GET", "POST"],
            "allowHeaders": ["content-type", "x-token"], "exposeHeaders": ["x-id"],
            "maxAge": 300, "allowCredentials": true
        }))
        .unwrap()
    }

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn both_casings_read_the_same() {
        let pascal = Cors::from_json(&json!({
            "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type", "x-token"], "ExposeHeaders": ["x-id"],
            "MaxAge": 300, "AllowCredentials": true
        }));
        assert_eq!(pascal, Some(cors()));
        assert!(Cors::from_json(&json!(null)).is_none());
    }

    #[test]
    fn an_allowed_preflight_gets_every_header() {
        let r = cors().preflight(&req(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "Content-Type, X-Token"),
        ]));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h[ALLOW_ORIGIN], "https://app.example");
        assert_eq!(h[ALLOW_METHODS], "GET,POST");
        assert_eq!(h[ALLOW_HEADERS], "content-type,x-token");
        assert_eq!(h[MAX_AGE], "300");
        assert_eq!(h[ALLOW_CREDENTIALS], "true");
        assert_eq!(h["vary"], "Origin");
    }

    #[test]
    fn a_refused_preflight_gets_none() {
        for pairs in [
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ][..],
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "DELETE"),
            ],
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-other"),
            ],
        ] {
            let r = cors().preflight(&req(pairs));
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
            assert!(r.headers().get(ALLOW_ORIGIN).is_none(), "{pairs:?}");
        }
    }

    #[test]
    fn actual_responses_get_the_configured_headers_only() {
        let mut out = req(&[(ALLOW_ORIGIN, "https://mine.example")]);
        cors().apply(&req(&[("origin", "https://app.example")]), &mut out);
        assert_eq!(out[ALLOW_ORIGIN], "https://app.example");
        assert_eq!(out[EXPOSE_HEADERS], "x-id");
        let mut out = req(&[(ALLOW_ORIGIN, "*")]);
        cors().apply(&req(&[("origin", "https://evil.example")]), &mut out);
        assert!(out.get(ALLOW_ORIGIN).is_none());
        let any = Cors {
            allow_origins: Some(vec!["*".into()]),
            ..Cors::default()
        };
        let mut out = HeaderMap::new();
        any.apply(&req(&[("origin", "https://x.example")]), &mut out);
        assert_eq!(out[ALLOW_ORIGIN], "*");
        assert!(out.get("vary").is_none());
    }

    #[test]
    fn preflights_are_told_apart() {
        let h = req(&[
            ("origin", "https://a"),
            ("access-control-request-method", "GET"),
        ]);
        assert!(is_preflight(&Method::OPTIONS, &h));
        assert!(!is_preflight(&Method::GET, &h));
        assert!(!is_preflight(&Method::OPTIONS, &req(&[("origin", "x")])));
    }
}
