//! CORS at the S3 front: a browser's preflight `OPTIONS` (which the protocol service does not
//! route, and which carries no signature) is answered here from the bucket's CORS rules, and
//! an actual request with an `Origin` gets the CORS headers of the rule that allows it — on
//! errors too, as S3 does. A request without `Origin` costs nothing extra.

use axum::response::Response;
use stratus_s3::ObjectStore;

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn host(parts: &http::request::Parts) -> Option<&str> {
    header(parts, "host").or_else(|| parts.uri.host())
}

/// Answers a preflight. It reads only the bucket's CORS rules and reveals only what they
/// allow, so it needs no signature; a request to no bucket is refused as S3 refuses one for a
/// bucket that does not exist.
pub fn preflight(store: &ObjectStore, parts: &http::request::Parts, id: &str) -> Response {
    let (bucket, on_object) =
        stratus_s3::addressed_bucket(host(parts), parts.uri.path()).unwrap_or_default();
    let answer = stratus_s3::cors::preflight(
        store,
        &bucket,
        on_object,
        header(parts, "origin"),
        header(parts, "access-control-request-method"),
        header(parts, "access-control-request-headers"),
    );
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(%e, "reading a bucket's CORS rules");
            return super::internal_error(id);
        }
    };
    let mut resp = match &answer.error {
        Some(xml) => {
            let body = super::add_request_id(xml.as_bytes(), id);
            let mut r = Response::new(axum::body::Body::from(body));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
            r
        }
        None => Response::new(axum::body::Body::empty()),
    };
    *resp.status_mut() = answer.status;
    insert_all(resp.headers_mut(), answer.headers);
    resp
}

fn insert_all(h: &mut http::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

/// What an actual cross-origin request needs for its CORS headers, taken before the request
/// goes to the protocol service.
pub struct CrossOrigin {
    bucket: String,
    origin: String,
    method: String,
}

impl CrossOrigin {
    /// `None` for a request without `Origin` (not cross-origin) or to no bucket.
    pub fn of(parts: &http::request::Parts) -> Option<CrossOrigin> {
        let origin = header(parts, "origin")?;
        let (bucket, _) = stratus_s3::addressed_bucket(host(parts), parts.uri.path())?;
        Some(CrossOrigin {
            bucket,
            origin: origin.to_string(),
            method: parts.method.as_str().to_string(),
        })
    }

    /// Adds the headers of the first rule allowing this origin and method, if any.
    pub fn add_headers(&self, store: &ObjectStore, h: &mut http::HeaderMap) {
        let headers = stratus_s3::cors::actual_request_headers(
            store,
            &self.bucket,
            &self.origin,
            &self.method,
        );
        insert_all(h, headers);
    }
}
