//! Panic containment: a panic in one request's handler answers that request with its
//! protocol's internal error and leaves the process serving. Without it the connection's task
//! dies and the client sees a reset connection, with nothing in the log that ties the panic to
//! a request.
//!
//! The request's protocol is only worked out after a panic, from a few header values kept
//! aside (cheap clones of shared buffers), so the common path pays almost nothing.

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue};
use stratus_core::{Error, Kind};

use crate::services::json;
use crate::RequestId;

/// The wire protocols whose internal errors differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// REST-JSON (Lambda, the API Gateway management API): 500 `ServiceException`.
    RestJson,
    /// A service of the AWS JSON protocol, by signing name: its own fault (DynamoDB's
    /// `InternalServerError`, CloudWatch Logs' `ServiceUnavailableException`).
    Json(&'static str),
    /// SNS's Query protocol: XML `InternalError`.
    Sns,
    /// S3's REST-XML: XML `InternalError`.
    S3,
    /// An HTTP API's data plane: 500 `{"message":"Internal Server Error"}`.
    HttpApi,
}

/// The headers that decide a request's protocol.
const KEPT_HEADERS: [http::header::HeaderName; 4] = [
    http::header::AUTHORIZATION,
    http::header::HeaderName::from_static("x-amz-target"),
    http::header::HOST,
    http::header::CONTENT_TYPE,
];

/// What is kept of a request to answer it after its handler panicked: shared handles only
/// (header values and the URI are reference-counted buffers), no map and no string is built
/// unless a panic happens.
struct Kept {
    headers: [Option<HeaderValue>; 4],
    uri: http::Uri,
    method: http::Method,
}

impl Kept {
    fn of(req: &Request) -> Kept {
        Kept {
            headers: KEPT_HEADERS.map(|name| req.headers().get(name).cloned()),
            uri: req.uri().clone(),
            method: req.method().clone(),
        }
    }

    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in KEPT_HEADERS.iter().zip(&self.headers) {
            if let Some(v) = value {
                map.insert(name.clone(), v.clone());
            }
        }
        map
    }

    fn protocol(&self) -> Protocol {
        let headers = self.header_map();
        let host = headers.get("host").and_then(|h| h.to_str().ok());
        if self.uri.path().starts_with("/_aws/execute-api/")
            || host.is_some_and(|h| crate::apigw::data_plane::api_from_host(h).is_some())
        {
            return Protocol::HttpApi;
        }
        let mut parts = http::Request::new(()).into_parts().0;
        parts.headers = headers;
        if let Some(q) = self.uri.query().and_then(|q| format!("/?{q}").parse().ok()) {
            parts.uri = q;
        }
        if crate::auth::scope(&parts).is_some_and(|(service, _)| service == "s3") {
            return Protocol::S3;
        }
        let service = crate::services::protocol_of(&parts);
        match service.as_deref().and_then(json::by_name) {
            Some(json) => Protocol::Json(json.name),
            None if service.as_deref() == Some("sns") => Protocol::Sns,
            None => Protocol::RestJson,
        }
    }
}

/// Runs the rest of the stack, turning a panic into the protocol's internal error. Sits just
/// inside the request-id layer, so the log line and the answer carry the same id.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    let kept = Kept::of(&req);
    let id = req.extensions().get::<RequestId>().copied();
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let protocol = kept.protocol();
            let id = id.map(|id| id.to_string()).unwrap_or_default();
            tracing::error!(
                request_id = %id,
                method = %kept.method,
                path = %kept.uri.path(),
                ?protocol,
                panic = panic_message(panic.as_ref()),
                "request handler panicked; answered with an internal error"
            );
            internal_error(protocol, &id)
        }
    }
}

/// The text a panic was raised with, when it is a string.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
}

/// The internal error of `protocol`, in AWS's shape, stamped with `request_id`.
pub fn internal_error(protocol: Protocol, request_id: &str) -> Response {
    let mut resp = match protocol {
        Protocol::RestJson => crate::wire::ApiError(Error::service()).into_response(),
        Protocol::Json(name) => match json::by_name(name) {
            Some(service) => json::render(service, (service.internal)()),
            None => crate::wire::ApiError(Error::service()).into_response(),
        },
        Protocol::Sns => crate::services::sns::xml::error(
            &Error::new(
                "InternalError",
                Kind::Internal,
                "Request could not be completed due to an internal error.",
            ),
            request_id,
        ),
        Protocol::S3 => crate::objects::internal_error(request_id),
        Protocol::HttpApi => {
            crate::wire::json(500, serde_json::json!({"message": "Internal Server Error"}))
        }
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn kept(headers: &[(&str, &str)], path: &str) -> Kept {
        let mut b = http::Request::builder().uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Kept::of(&b.body(Body::empty()).unwrap())
    }

    const SCOPE: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=00";

    fn signed(service: &str) -> String {
        SCOPE.replace("{}", service)
    }

    #[test]
    fn the_protocol_comes_from_scope_target_host_or_path() {
        let p = |h: &[(&str, &str)], path| kept(h, path).protocol();
        assert_eq!(p(&[("authorization", &signed("s3"))], "/b/k"), Protocol::S3);
        assert_eq!(p(&[("authorization", &signed("sns"))], "/"), Protocol::Sns);
        assert_eq!(
            p(&[("authorization", &signed("dynamodb"))], "/"),
            Protocol::Json("dynamodb")
        );
        assert_eq!(
            p(&[("x-amz-target", "Logs_20140328.PutLogEvents")], "/"),
            Protocol::Json("logs")
        );
        assert_eq!(
            p(
                &[("authorization", &signed("lambda"))],
                "/2015-03-31/functions"
            ),
            Protocol::RestJson
        );
        assert_eq!(
            p(&[("host", "abc.execute-api.localhost:4566")], "/x"),
            Protocol::HttpApi
        );
        assert_eq!(p(&[], "/_aws/execute-api/abc/x"), Protocol::HttpApi);
        assert_eq!(p(&[], "/health"), Protocol::RestJson);
    }

    #[tokio::test]
    async fn each_protocol_answers_its_own_internal_error() {
        let body = |r: Response| async {
            let status = r.status();
            let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, String::from_utf8(b.to_vec()).unwrap())
        };
        let (s, b) = body(internal_error(Protocol::Json("dynamodb"), "r1")).await;
        assert_eq!(s, 500);
        assert!(
            b.contains("com.amazonaws.dynamodb.v20120810#InternalServerError"),
            "{b}"
        );
        let (s, b) = body(internal_error(Protocol::S3, "r2")).await;
        assert_eq!(s, 500);
        assert!(
            b.contains("<Code>InternalError</Code>") && b.contains("r2"),
            "{b}"
        );
        let (s, b) = body(internal_error(Protocol::Sns, "r3")).await;
        assert_eq!(s, 500);
        assert!(b.contains("<Code>InternalError</Code>"), "{b}");
        let r = internal_error(Protocol::RestJson, "r4");
        assert_eq!(r.headers()["x-amzn-ErrorType"], "ServiceException");
        assert_eq!(r.headers()["x-amzn-RequestId"], "r4");
        let (s, b) = body(r).await;
        assert_eq!(s, 500);
        assert!(b.contains("An internal error occurred"), "{b}");
        let (s, b) = body(internal_error(Protocol::Json("logs"), "r5")).await;
        assert_eq!(s, 500);
        assert!(b.contains("ServiceUnavailableException"), "{b}");
    }
}
