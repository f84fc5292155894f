//! The services answered on `POST /` whose operation is named in the request rather than the
//! path: the signing service (from the verified SigV4 scope) picks the module, and each module
//! speaks its own wire protocol, errors included.
//!
//! - [`dynamodb`]: tables, DynamoDB's JSON 1.0 protocol (`X-Amz-Target: DynamoDB_20120810.*`).
//! - [`sns`]: topics, SNS's Query protocol (form-encoded requests, XML responses).
//! - [`logs`]: CloudWatch Logs' JSON 1.1 protocol (`X-Amz-Target: Logs_20140328.*`).
//! - [`iam`]: users, roles, policies, IAM's Query protocol.
//! - [`sts`]: temporary credentials, STS's Query protocol.

pub mod dynamodb;
pub mod iam;
pub mod logs;
pub mod sns;
pub mod sts;

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;

use crate::auth::Caller;
use crate::Shared;

/// Whether `service` is answered here rather than by a path route.
pub fn answers(service: &str) -> bool {
    matches!(service, "dynamodb" | "sns" | "logs" | "iam" | "sts")
}

/// Which of these services a request is for, before its signature is checked: the credential
/// scope's service, or for an unsigned request the JSON protocols' `X-Amz-Target` prefix.
pub fn protocol_of(parts: &Parts) -> Option<String> {
    if let Some((service, _)) = crate::auth::scope(parts) {
        return answers(&service).then_some(service);
    }
    let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
    if target.starts_with("DynamoDB_20120810.") {
        Some("dynamodb".into())
    } else if target.starts_with("Logs_20140328.") {
        Some("logs".into())
    } else {
        None
    }
}

/// Answers one verified request for one of these services.
pub async fn handle(state: &Shared, caller: Caller, parts: Parts, body: Bytes) -> Response {
    match caller.service.as_str() {
        "dynamodb" => dynamodb::handle(state, &caller, &parts, body).await,
        "sns" => sns::handle(state, &caller, &parts, body).await,
        "iam" => iam::handle(state, &caller, &parts, body).await,
        "sts" => sts::handle(state, &caller, &parts, body).await,
        _ => logs::handle(state, &caller, &parts, body).await,
    }
}
