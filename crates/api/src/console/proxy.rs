//! `ANY /_stratus/console/aws/<service>/<path>?<query>`: the page's one way to the APIs. The
//! request needs a live session (and its CSRF token unless it is a GET or HEAD); it is then
//! re-signed for `<service>` in the session's region with the session's own key and sent
//! through the router in-process, and the API's answer comes back as it is. So the console
//! passes the APIs' own validation and authorization: it can do what its key may do.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::{refusal, refused, session, PREFIX};
use crate::inprocess::{self, Outgoing, SigningKey};
use crate::Shared;

/// The signing names the proxy signs for: the services the router answers, and S3.
const SERVICES: &[&str] = &[
    "lambda",
    "apigateway",
    "dynamodb",
    "sns",
    "sqs",
    "logs",
    "events",
    "scheduler",
    "iam",
    "sts",
    "monitoring",
    "cloudformation",
    "codedeploy",
    "s3",
];

/// The page's headers that reach the API: besides the two every protocol needs, the
/// `x-amz-*` request options (Invoke's `X-Amz-Log-Type`, S3's metadata and copy source) and
/// a range. Signing adds its own (`x-amz-date`, the payload hash, `authorization`).
fn forwarded(name: &str) -> bool {
    let signer_owned = matches!(
        name,
        "x-amz-date" | "x-amz-security-token" | "x-amz-content-sha256"
    );
    name == "content-type" || name == "range" || (name.starts_with("x-amz-") && !signer_owned)
}

/// Splits `/_stratus/console/aws/<service>/<rest>` into the service and the API's path.
fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix("/aws/")?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

pub async fn aws(State(state): State<Shared>, req: Request) -> Response {
    let session = match state.console.check(req.method(), req.headers()) {
        Ok(s) => s,
        Err(why) => return refused(why),
    };
    let (parts, body) = req.into_parts();
    let Some((service, path)) = split(parts.uri.path()) else {
        return refusal(StatusCode::NOT_FOUND, "No such console path.");
    };
    if !SERVICES.contains(&service) {
        return refusal(
            StatusCode::BAD_REQUEST,
            &format!("The console does not call the service '{service}'."),
        );
    }
    let Some((secret, token)) = inprocess::secret_of(&state, &session.access_key) else {
        state.console.remove(&parts.headers);
        return refused(session::Refusal::SignedOut);
    };
    let body = match crate::read_body(body, crate::MAX_BODY, crate::BODY_IDLE_TIMEOUT).await {
        Ok(b) => b,
        Err(crate::BodyError::TooLarge) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request must be smaller than {} bytes.", crate::MAX_BODY),
            )
        }
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            )
        }
    };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| forwarded(name.as_str()))
        .filter_map(|(name, v)| Some((name.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    if !body.is_empty() || !session::is_safe(&parts.method) {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    // The browser's own host, so the URLs answers carry (Code.Location, ApiEndpoint) are
    // ones it reaches.
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| inprocess::default_host(&state));
    let outgoing = Outgoing {
        service,
        method: parts.method.as_str(),
        path: &path_and_query,
        headers,
        body,
    };
    let key = SigningKey {
        access_key: session.access_key,
        secret,
        token,
        region: session.region,
    };
    let req = match inprocess::signed(&outgoing, &host, &key) {
        Ok(r) => r,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, &e),
    };
    let mut resp = inprocess::send(&state, req).await;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_service_then_the_apis_path() {
        assert_eq!(
            split("/_stratus/console/aws/lambda/2015-03-31/functions/"),
            Some(("lambda", "/2015-03-31/functions/"))
        );
        assert_eq!(
            split("/_stratus/console/aws/dynamodb"),
            Some(("dynamodb", "/"))
        );
        assert_eq!(
            split("/_stratus/console/aws/s3/b/k%20x"),
            Some(("s3", "/b/k%20x"))
        );
        assert_eq!(split("/_stratus/console/other"), None);
    }

    #[test]
    fn only_request_options_are_forwarded() {
        assert!(forwarded("content-type"));
        assert!(forwarded("x-amz-target"));
        assert!(forwarded("x-amz-log-type"));
        assert!(!forwarded("x-amz-date"));
        assert!(!forwarded("authorization"));
        assert!(!forwarded("cookie"));
        assert!(!forwarded("x-stratus-csrf"));
    }
}
