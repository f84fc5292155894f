//! The services answered on `POST /` whose operation is named in the request rather than the
//! path: the signing service (from the verified SigV4 scope) picks the module, and each module
//! speaks its own wire protocol, errors included.
//!
//! - [`json`]: the AWS JSON protocol: the `X-Amz-Target` table of services, one dispatcher and
//!   one error renderer for them all.
//! - [`dynamodb`]: tables, DynamoDB's JSON 1.0 operations (`DynamoDB_20120810.*`), and
//!   DynamoDB Streams' (`DynamoDBStreams_20120810.*`, signed as `dynamodb` too).
//! - [`logs`]: CloudWatch Logs' JSON 1.1 operations (`Logs_20140328.*`).
//! - [`events`]: EventBridge's JSON 1.1 operations (`AWSEvents.*`), and its Scheduler's
//!   REST-JSON routes.
//! - [`codedeploy`]: CodeDeploy's JSON 1.1 operations for Lambda (`CodeDeploy_20141006.*`),
//!   and the worker that drives deployments.
//! - [`sns`]: topics, SNS's Query protocol (form-encoded requests, XML responses).
//! - [`cloudwatch`]: metrics and alarms, CloudWatch's smithy-rpc-v2-cbor and JSON 1.0
//!   protocols.
//! - [`sqs`]: queues, SQS's JSON 1.0 and Query protocols (either, on `/` or a queue's URL).
//! - [`iam`]: users, roles, policies, IAM's Query protocol.
//! - [`sts`]: temporary credentials, STS's Query protocol.
//! - [`cloudformation`]: stacks, CloudFormation's Query protocol.

pub mod cloudformation;
pub mod cloudwatch;
pub mod codedeploy;
pub mod dynamodb;
pub mod events;
pub mod iam;
pub mod json;
pub mod logs;
pub mod sns;
pub mod sqs;
pub mod sts;

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;

use crate::auth::Caller;
use crate::Shared;

/// Whether `service` is answered here rather than by a path route.
pub fn answers(service: &str) -> bool {
    matches!(
        service,
        "sns" | "sqs" | "iam" | "sts" | "monitoring" | "cloudformation"
    ) || json::by_name(service).is_some()
}

/// Which of these services a request is for, before its signature is checked: the credential
/// scope's service, or for an unsigned request the JSON protocols' `X-Amz-Target` prefix.
pub fn protocol_of(parts: &Parts) -> Option<String> {
    if let Some((service, _)) = crate::auth::scope(parts) {
        return answers(&service).then_some(service);
    }
    let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
    json::by_target(target).map(|s| s.name.to_string())
}

/// Answers one verified request for one of these services.
pub async fn handle(state: &Shared, caller: Caller, parts: Parts, body: Bytes) -> Response {
    if let Some(service) = json::for_request(&caller.service, &parts) {
        return json::handle(service, state, &caller, &parts, body).await;
    }
    match caller.service.as_str() {
        "iam" => iam::handle(state, &caller, &parts, body).await,
        "sts" => sts::handle(state, &caller, &parts, body).await,
        "sqs" => sqs::handle(state, &caller, &parts, body).await,
        "monitoring" => cloudwatch::handle(state, &caller, &parts, body).await,
        "cloudformation" => cloudformation::handle(state, &caller, &parts, body).await,
        _ => sns::handle(state, &caller, &parts, body).await,
    }
}

/// An error raised before the request reached its service (a bad signature, an unreadable
/// body), in the protocol of the service it is for; the REST APIs' errors are handed back.
pub fn early_error(parts: &Parts, e: stratus_core::Error) -> Result<Response, stratus_core::Error> {
    let Some(service) = protocol_of(parts) else {
        return Err(e);
    };
    if service == "sqs" {
        return Ok(sqs::early_error(parts, e));
    }
    if service == "monitoring" {
        return Ok(cloudwatch::early_error(parts, e));
    }
    Ok(match json::by_name(&service) {
        Some(json) => json::auth_error(json, e),
        None => {
            let id = parts.extensions.get::<crate::RequestId>().copied();
            let id = id.unwrap_or_else(|| crate::RequestId(stratus_core::ids::request_id()));
            let ns = match service.as_str() {
                "iam" => iam::NS,
                "sts" => sts::NS,
                "cloudformation" => cloudformation::NS,
                _ => sns::xml::NS,
            };
            sns::xml::error_in(ns, &e, &id.to_string())
        }
    })
}
