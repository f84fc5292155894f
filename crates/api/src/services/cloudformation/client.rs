//! The stack executor's way to the APIs: each request is signed with the credentials of the
//! principal that started the stack operation (looked up as the authentication middleware
//! looks keys up) and sent through the router in-process (a tower `oneshot`), so a stack's
//! resources pass the same validation, IAM checks and errors as a user's own calls.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use http_body_util::BodyExt;
use stratus_stacks::providers::{ApiRequest, ApiResponse, Client};
use tower::ServiceExt;

use crate::auth::{Keys, RootThenIam};
use crate::AppState;

/// The host requests are addressed to (path-style for S3; the router serves every host), on
/// the server's port so the URLs answers carry (ApiEndpoint, FunctionUrl) reach it.
fn host(port: u16) -> String {
    format!("localhost:{port}")
}

pub struct RouterClient {
    pub state: Weak<AppState>,
}

fn failure(message: &str) -> ApiResponse {
    ApiResponse {
        status: 500,
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

#[async_trait]
impl Client for RouterClient {
    async fn send(&self, owner: &str, region: &str, request: ApiRequest) -> ApiResponse {
        let Some(state) = self.state.upgrade() else {
            return failure("The server is shutting down");
        };
        let (key, secret, token) = match credentials(&state, owner) {
            Some(c) => c,
            None => {
                return failure(
                    "The credentials that started this stack operation are no longer valid",
                )
            }
        };
        let host = host(state.config.port);
        let req = match signed(&request, &host, region, &key, &secret, token) {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let router = crate::router(state.clone());
        let response = match router.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => return failure(&e.to_string()),
        };
        ApiResponse { status, body }
    }
}

/// The secret (and session token) of `owner`'s key; the root key when the owner is unknown
/// (a stack recovered after a restart whose starter's session has gone stays usable).
fn credentials(state: &Arc<AppState>, owner: &str) -> Option<(String, String, Option<String>)> {
    let keys = RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    if let Ok(Some(record)) = keys.lookup(owner) {
        if record.active {
            return Some((owner.to_string(), record.secret, record.token));
        }
        return None;
    }
    let (key, secret) = state.config.secrets.iter().next()?;
    Some((key.clone(), secret.clone(), None))
}

fn signed(
    r: &ApiRequest,
    host: &str,
    region: &str,
    key: &str,
    secret: &str,
    token: Option<String>,
) -> Result<http::Request<Body>, String> {
    let url = format!("http://{host}{}", r.path);
    let mut headers: Vec<(&str, String)> = vec![("host", host.to_string())];
    headers.extend(r.headers.iter().map(|(k, v)| (*k, v.clone())));
    let mut settings = SigningSettings::default();
    if r.service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let identity = Credentials::new(key, secret, token, None, "stratus-stacks").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(r.service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        r.method,
        &url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(&r.body),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut builder = http::Request::builder().method(r.method).uri(&r.path);
    for (k, v) in &headers {
        builder = builder.header(*k, v);
    }
    let mut req = builder
        .body(Body::from(r.body.clone()))
        .map_err(|e| format!("building a request: {e}"))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(req)
}
