//! Requests the server makes to its own APIs: signed with SigV4 by a principal's own key and
//! sent through the router in-process (a tower `oneshot`), so they pass the same signature
//! check, IAM authorization, validation and errors as a client's. The stack executor's
//! resource calls and the web console's requests both go this way.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use tower::ServiceExt;

use crate::auth::{Keys, RootThenIam};
use crate::{AppState, Shared};

/// One request to send: the signing name of the service it is for, and what goes on the wire.
pub struct Outgoing<'a> {
    /// The signing name (`lambda`, `iam`, `s3`...).
    pub service: &'a str,
    pub method: &'a str,
    /// Path and query, as they go on the wire (already percent-encoded).
    pub path: &'a str,
    /// Headers besides `host` and the ones signing adds.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The key a request is signed with, and the region it is signed for.
pub struct SigningKey {
    pub access_key: String,
    pub secret: String,
    /// A session key's token.
    pub token: Option<String>,
    pub region: String,
}

/// The host in-process requests are addressed to when there is no better one (path-style for
/// S3; the router serves every host), on the server's port so the URLs answers carry
/// (ApiEndpoint, FunctionUrl, Code.Location) reach it.
pub fn default_host(state: &AppState) -> String {
    format!("localhost:{}", state.config.port)
}

/// The secret (and session token) of an access key the APIs accept now: `None` for an unknown
/// or inactive key. Expiry is left to the router's own check, which answers `ExpiredToken`.
pub fn secret_of(state: &AppState, access_key: &str) -> Option<(String, Option<String>)> {
    let keys = RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    match keys.lookup(access_key) {
        Ok(Some(record)) if record.active => Some((record.secret, record.token)),
        _ => None,
    }
}

/// Signs `r` for `host` with `key`.
pub fn signed(
    r: &Outgoing<'_>,
    host: &str,
    key: &SigningKey,
) -> Result<http::Request<Body>, String> {
    let url = format!("http://{host}{}", r.path);
    let mut headers: Vec<(&str, &str)> = vec![("host", host)];
    headers.extend(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut settings = SigningSettings::default();
    if r.service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let identity = Credentials::new(
        &key.access_key,
        &key.secret,
        key.token.clone(),
        None,
        "stratus-in-process",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&key.region)
        .name(r.service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        r.method,
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(&r.body),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut builder = http::Request::builder().method(r.method).uri(r.path);
    for (k, v) in &headers {
        builder = builder.header(*k, *v);
    }
    let mut req = builder
        .body(Body::from(r.body.clone()))
        .map_err(|e| format!("building a request: {e}"))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(req)
}

/// Sends a request through the whole router (edge layers included) and returns its answer.
pub async fn send(state: &Shared, req: http::Request<Body>) -> Response {
    match crate::router(state.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}
