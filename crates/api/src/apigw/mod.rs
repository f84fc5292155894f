//! API Gateway v2 HTTP APIs: the management API (`/v2/apis/...`, signed with service
//! `apigateway`) and the data plane that turns HTTP requests into Lambda invocations.
//!
//! # Layout
//! - [`model`]: APIs, integrations, routes, stages and deployments as stored and rendered.
//! - [`store`]: reading and writing them inside one metadata transaction, and auto-deploying.
//! - [`apis`], [`integrations`], [`routes`], [`stages`], [`authorizers`], [`tags`]: one handler per
//!   management operation.
//! - [`routing`]: route keys and AWS's route-matching precedence.
//! - [`events`]: the payload 2.0 and 1.0 events a function receives.
//! - [`response`]: a function's result as the HTTP response the client gets.
//! - [`authorize`]: a route's authorization before its integration runs: JWTs ([`jwt`], with
//!   the issuers' keys from [`jwks`]), Lambda authorizers ([`lambda_authorizer`]) and SigV4
//!   with IAM policies ([`iam_auth`]).
//! - [`served`]: what each API serves, memoised per metadata generation for the data plane.
//! - [`access_log`]: stages' access logs, written to CloudWatch Logs groups.
//! - [`data_plane`]: the unsigned endpoints (`/_aws/execute-api/<apiId>/...` and
//!   `<apiId>.execute-api.<anything>` Host names), stage selection and gateway errors.

pub mod access_log;
pub mod apis;
pub mod authorize;
pub mod authorizers;
pub mod data_plane;
pub mod events;
pub mod iam_auth;
pub mod integrations;
pub mod jwks;
pub mod jwt;
pub mod lambda_authorizer;
pub mod model;
pub mod response;
pub mod routes;
pub mod routing;
pub mod served;
pub mod stages;
pub mod store;
pub mod tags;

use std::collections::HashMap;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use stratus_core::{Error, Kind, Result};

use crate::auth::Caller;
use crate::wire::ApiError;
use crate::Shared;

/// The management API's routes (behind SigV4 authentication).
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/v2/apis", post(apis::create_api).get(apis::get_apis))
        .route(
            "/v2/apis/{api}",
            get(apis::get_api)
                .patch(apis::update_api)
                .delete(apis::delete_api),
        )
        .route(
            "/v2/apis/{api}/integrations",
            post(integrations::create_integration).get(integrations::get_integrations),
        )
        .route(
            "/v2/apis/{api}/integrations/{id}",
            get(integrations::get_integration)
                .patch(integrations::update_integration)
                .delete(integrations::delete_integration),
        )
        .route(
            "/v2/apis/{api}/routes",
            post(routes::create_route).get(routes::get_routes),
        )
        .route(
            "/v2/apis/{api}/routes/{id}",
            get(routes::get_route)
                .patch(routes::update_route)
                .delete(routes::delete_route),
        )
        .route(
            "/v2/apis/{api}/authorizers",
            post(authorizers::create_authorizer).get(authorizers::get_authorizers),
        )
        .route(
            "/v2/apis/{api}/authorizers/{id}",
            get(authorizers::get_authorizer)
                .patch(authorizers::update_authorizer)
                .delete(authorizers::delete_authorizer),
        )
        .route(
            "/v2/apis/{api}/stages",
            post(stages::create_stage).get(stages::get_stages),
        )
        .route(
            "/v2/apis/{api}/stages/{name}",
            get(stages::get_stage)
                .patch(stages::update_stage)
                .delete(stages::delete_stage),
        )
        .route(
            "/v2/apis/{api}/stages/{name}/accesslogsettings",
            axum::routing::delete(stages::delete_access_log_settings),
        )
        .route(
            "/v2/apis/{api}/deployments",
            post(stages::create_deployment).get(stages::get_deployments),
        )
        .route(
            "/v2/apis/{api}/deployments/{id}",
            get(stages::get_deployment).delete(stages::delete_deployment),
        )
        .route(
            "/v2/tags/{arn}",
            get(tags::get_tags)
                .post(tags::tag_resource)
                .delete(tags::untag_resource),
        )
        .route_layer(middleware::from_fn(require_apigateway))
}

/// Only requests signed for `apigateway` reach the management API, as on AWS, where each
/// service has its own endpoint.
async fn require_apigateway(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(c) if c.service == "apigateway" => next.run(req).await,
        _ => ApiError(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            "Unknown operation",
        ))
        .into_response(),
    }
}

pub fn bad_request(message: impl Into<String>) -> Error {
    Error::new("BadRequestException", Kind::InvalidInput, message)
}

pub fn not_found(message: impl Into<String>) -> Error {
    Error::new("NotFoundException", Kind::NotFound, message)
}

pub fn conflict(message: impl Into<String>) -> Error {
    Error::new("ConflictException", Kind::Conflict, message)
}

/// Parses a JSON request body (empty means `{}`); anything malformed is a BadRequestException.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let text = crate::wire::json_text(body)
        .map_err(|e| bad_request(format!("Invalid request body: {e}")))?;
    serde_json::from_str(text).map_err(|e| bad_request(format!("Invalid request body: {e}")))
}

/// A random identifier of lower-case letters and digits, as API Gateway's ids look.
pub fn new_id(len: usize) -> String {
    stratus_core::ids::random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", len)
}

/// `createdDate` and friends: ISO 8601 in UTC, whole seconds.
pub fn now_iso() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

/// One page of a list: `maxResults` (a string on the wire) and the opaque `nextToken`
/// (base64 of the last id returned).
pub fn page<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    query: &HashMap<String, String>,
) -> Result<(Vec<T>, Option<String>)> {
    let max = match query.get("maxResults") {
        None => 500,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| bad_request(format!("Invalid maxResults: {s}")))?,
    };
    let after = match query.get("nextToken") {
        None => String::new(),
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad_request("Invalid nextToken"))?,
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| id(i) > after.as_str())
        .collect();
    let next = if rest.len() > max {
        rest.truncate(max);
        rest.last()
            .map(|i| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id(i)))
    } else {
        None
    };
    Ok((rest, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_next_token() {
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut q = HashMap::from([("maxResults".to_string(), "2".to_string())]);
        let (first, next) = page(items.clone(), |s| s, &q).unwrap();
        assert_eq!(first, ["a", "b"]);
        q.insert("nextToken".into(), next.unwrap());
        let (second, next) = page(items.clone(), |s| s, &q).unwrap();
        assert_eq!(second, ["c"]);
        assert!(next.is_none());
        q.insert("maxResults".into(), "0".into());
        assert_eq!(page(items, |s| s, &q).unwrap_err().kind, Kind::InvalidInput);
    }

    #[test]
    fn ids_are_lower_alphanumeric() {
        let id = new_id(10);
        assert_eq!(id.len(), 10);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }
}
