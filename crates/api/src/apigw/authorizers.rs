//! CreateAuthorizer, GetAuthorizer(s), UpdateAuthorizer, DeleteAuthorizer: JWT authorizers
//! (issuer, audiences) and Lambda `REQUEST` authorizers (function, payload format, simple
//! responses, result caching) of an HTTP API, validated as API Gateway validates them. They
//! are items of their API (deleted with it) and frozen into each deployment with its routes.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::Result;
use stratus_store::meta::Tx;

use super::model::*;
use super::{bad_request, conflict, new_id, not_found, page, parse, store};
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

/// The store kind of authorizers under an API.
pub const AUTHORIZER: &str = "authorizer";

/// AWS's bound on `authorizerResultTtlInSeconds`.
const MAX_TTL: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfiguration {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    pub authorizer_id: String,
    pub name: String,
    /// `JWT` or `REQUEST`.
    pub authorizer_type: String,
    #[serde(default)]
    pub identity_source: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<JwtConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_payload_format_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_simple_responses: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_result_ttl_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
}

impl Authorizer {
    pub fn is_jwt(&self) -> bool {
        self.authorizer_type == "JWT"
    }

    /// Seconds a Lambda authorizer's answer is reused for (0: not cached).
    pub fn ttl(&self) -> u64 {
        self.authorizer_result_ttl_in_seconds.unwrap_or(0).max(0) as u64
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct AuthorizerInput {
    name: Option<String>,
    authorizer_type: Option<String>,
    identity_source: Option<Vec<String>>,
    jwt_configuration: Option<JwtConfiguration>,
    authorizer_uri: Option<String>,
    authorizer_payload_format_version: Option<String>,
    enable_simple_responses: Option<bool>,
    authorizer_result_ttl_in_seconds: Option<i64>,
    authorizer_credentials_arn: Option<String>,
    identity_validation_expression: Option<String>,
}

/// One identity source: where a request's credential is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Header(String),
    Query(String),
    Context(String),
    StageVariable(String),
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        let named = |p: &str| {
            s.strip_prefix(p)
                .filter(|n| !n.is_empty() && n.len() <= 256)
                .map(str::to_string)
        };
        if let Some(n) = named("$request.header.") {
            Some(Source::Header(n.to_ascii_lowercase()))
        } else if let Some(n) = named("$request.querystring.") {
            Some(Source::Query(n))
        } else if let Some(n) = named("$context.") {
            Some(Source::Context(n))
        } else {
            named("$stageVariables.").map(Source::StageVariable)
        }
    }
}

fn invalid_source(s: &str) -> stratus_core::Error {
    bad_request(format!(
        "Invalid identity source: {s}. Identity sources must be of the form $request.header.<name>, $request.querystring.<name>, $context.<variable> or $stageVariables.<name>."
    ))
}

/// Checks an authorizer as it would be after the change, the way API Gateway does.
fn check(a: &Authorizer) -> Result<()> {
    check_len("name", &a.name, 1, 128)?;
    for s in &a.identity_source {
        Source::parse(s).ok_or_else(|| invalid_source(s))?;
    }
    if let Some(ttl) = a.authorizer_result_ttl_in_seconds {
        if !(0..=MAX_TTL).contains(&ttl) {
            return Err(bad_request(
                "AuthorizerResultTtlInSeconds must be between 0 and 3600.",
            ));
        }
    }
    match a.authorizer_type.as_str() {
        "JWT" => check_jwt(a),
        "REQUEST" => check_request(a),
        t => Err(bad_request(format!(
            "Invalid authorizer type: {t}. Valid values are JWT and REQUEST."
        ))),
    }
}

fn check_jwt(a: &Authorizer) -> Result<()> {
    let cfg = a
        .jwt_configuration
        .as_ref()
        .ok_or_else(|| bad_request("JwtConfiguration is required for JWT authorizers."))?;
    let issuer = cfg.issuer.as_deref().unwrap_or("");
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(bad_request(
            "JwtConfiguration.Issuer must be a valid URL starting with https://.",
        ));
    }
    if cfg.audience.is_empty() {
        return Err(bad_request(
            "JwtConfiguration.Audience must contain at least one audience.",
        ));
    }
    let single = a.identity_source.len() == 1
        && matches!(
            Source::parse(&a.identity_source[0]),
            Some(Source::Header(_) | Source::Query(_))
        );
    if !single {
        return Err(bad_request(
            "A JWT authorizer must have exactly one identity source, a header or a query string parameter.",
        ));
    }
    if a.authorizer_uri.is_some() || a.enable_simple_responses == Some(true) {
        return Err(bad_request(
            "AuthorizerUri and EnableSimpleResponses are only supported for REQUEST authorizers.",
        ));
    }
    Ok(())
}

fn check_request(a: &Authorizer) -> Result<()> {
    let uri = a
        .authorizer_uri
        .as_deref()
        .ok_or_else(|| bad_request("AuthorizerUri is required for REQUEST authorizer."))?;
    if lambda_target(uri).is_none() {
        return Err(bad_request(format!(
            "Invalid Authorizer URI: {uri}. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation."
        )));
    }
    let version = a
        .authorizer_payload_format_version
        .as_deref()
        .ok_or_else(|| {
            bad_request("AuthorizerPayloadFormatVersion is required for REQUEST authorizer.")
        })?;
    if version != "1.0" && version != "2.0" {
        return Err(bad_request(format!(
            "Invalid AuthorizerPayloadFormatVersion: {version}. Supported values are 1.0 and 2.0."
        )));
    }
    if a.enable_simple_responses == Some(true) && version != "2.0" {
        return Err(bad_request(
            "EnableSimpleResponses is only supported for AuthorizerPayloadFormatVersion 2.0.",
        ));
    }
    if a.ttl() > 0 && a.identity_source.is_empty() {
        return Err(bad_request(
            "Identity source is required when authorizer caching is enabled.",
        ));
    }
    if a.jwt_configuration.is_some() {
        return Err(bad_request(
            "JwtConfiguration is only supported for JWT authorizers.",
        ));
    }
    Ok(())
}

fn apply(a: &mut Authorizer, input: AuthorizerInput) {
    if let Some(v) = input.name {
        a.name = v;
    }
    if let Some(v) = input.authorizer_type {
        a.authorizer_type = v;
    }
    if let Some(v) = input.identity_source {
        a.identity_source = v;
    }
    if let Some(v) = input.jwt_configuration {
        a.jwt_configuration = Some(v);
    }
    if let Some(v) = input.authorizer_uri {
        a.authorizer_uri = Some(v);
    }
    if let Some(v) = input.authorizer_payload_format_version {
        a.authorizer_payload_format_version = Some(v);
    }
    if let Some(v) = input.enable_simple_responses {
        a.enable_simple_responses = Some(v);
    }
    if let Some(v) = input.authorizer_result_ttl_in_seconds {
        a.authorizer_result_ttl_in_seconds = Some(v);
    }
    if let Some(v) = input.authorizer_credentials_arn {
        a.authorizer_credentials_arn = Some(v);
    }
    if let Some(v) = input.identity_validation_expression {
        a.identity_validation_expression = Some(v);
    }
}

pub fn authorizer(tx: &Tx, api: &str, id: &str) -> Result<Authorizer> {
    tx.http_api_item(api, AUTHORIZER, id)?
        .ok_or_else(|| not_found(format!("Invalid authorizer identifier specified {id}")))
}

pub async fn create_authorizer(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: AuthorizerInput = parse(&body.0)?;
    let name = input
        .name
        .clone()
        .ok_or_else(|| bad_request("Invalid input: name is required"))?;
    let kind = input
        .authorizer_type
        .clone()
        .ok_or_else(|| bad_request("Invalid input: authorizerType is required"))?;
    let mut a = Authorizer {
        authorizer_id: new_id(6),
        name,
        authorizer_type: kind,
        identity_source: Vec::new(),
        jwt_configuration: None,
        authorizer_uri: None,
        authorizer_payload_format_version: None,
        enable_simple_responses: None,
        authorizer_result_ttl_in_seconds: None,
        authorizer_credentials_arn: None,
        identity_validation_expression: None,
    };
    apply(&mut a, input);
    if a.authorizer_type == "REQUEST" && a.enable_simple_responses.is_none() {
        a.enable_simple_responses = Some(false);
    }
    if a.authorizer_type == "REQUEST" && a.authorizer_result_ttl_in_seconds.is_none() {
        a.authorizer_result_ttl_in_seconds = Some(0);
    }
    check(&a)?;
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.put_http_api_item(&api, AUTHORIZER, &a.authorizer_id, &a)?;
        store::auto_deploy(tx, &api)
    })?;
    Ok(json(201, Value::Object(render(&a))))
}

pub async fn get_authorizer(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    let a = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        authorizer(tx, &api, &id)
    })?;
    Ok(json(200, Value::Object(render(&a))))
}

pub async fn get_authorizers(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all: Vec<Authorizer> = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.http_api_items(&api, AUTHORIZER)
    })?;
    let (items, next) = page(all, |a| &a.authorizer_id, &q)?;
    let items: Vec<Value> = items.iter().map(|a| Value::Object(render(a))).collect();
    let mut out = json!({ "items": items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(json(200, out))
}

pub async fn update_authorizer(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: AuthorizerInput = parse(&body.0)?;
    let a = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let mut a = authorizer(tx, &api, &id)?;
        let was = a.authorizer_type.clone();
        apply(&mut a, input.clone());
        check(&a)?;
        if a.authorizer_type != was {
            check_unused(tx, &api, &id, "change the type of")?;
        }
        tx.put_http_api_item(&api, AUTHORIZER, &id, &a)?;
        store::auto_deploy(tx, &api)?;
        Ok(a)
    })?;
    Ok(json(200, Value::Object(render(&a))))
}

/// An authorizer that routes use can be neither deleted nor retyped.
fn check_unused(tx: &Tx, api: &str, id: &str, what: &str) -> Result<()> {
    let routes: Vec<Route> = tx.http_api_items(api, ROUTE)?;
    if let Some(r) = routes
        .iter()
        .find(|r| r.authorizer_id.as_deref() == Some(id))
    {
        return Err(conflict(format!(
            "Cannot {what} authorizer {id}, it is referenced by route {}",
            r.route_id
        )));
    }
    Ok(())
}

pub async fn delete_authorizer(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        authorizer(tx, &api, &id)?;
        check_unused(tx, &api, &id, "delete")?;
        tx.delete_http_api_item(&api, AUTHORIZER, &id)?;
        store::auto_deploy(tx, &api)
    })?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> Authorizer {
        serde_json::from_value(json!({
            "authorizerId": "a1", "name": "j", "authorizerType": "JWT",
            "identitySource": ["$request.header.Authorization"],
            "jwtConfiguration": {"issuer": "http://127.0.0.1:9/", "audience": ["aud"]}
        }))
        .unwrap()
    }

    fn lambda() -> Authorizer {
        serde_json::from_value(json!({
            "authorizerId": "a2", "name": "l", "authorizerType": "REQUEST",
            "identitySource": ["$request.header.X-Token", "$request.querystring.q"],
            "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations",
            "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": true,
            "authorizerResultTtlInSeconds": 300
        }))
        .unwrap()
    }

    #[test]
    fn valid_authorizers_pass() {
        check(&jwt()).unwrap();
        check(&lambda()).unwrap();
    }

    #[test]
    fn jwt_authorizers_need_issuer_audience_and_one_source() {
        let mut a = jwt();
        a.jwt_configuration = None;
        assert!(check(&a).is_err());
        let mut a = jwt();
        a.jwt_configuration.as_mut().unwrap().audience.clear();
        assert!(check(&a).is_err());
        let mut a = jwt();
        a.identity_source.push("$request.header.X".into());
        assert!(check(&a).is_err());
        let mut a = jwt();
        a.jwt_configuration.as_mut().unwrap().issuer = Some("ftp://x".into());
        assert!(check(&a).is_err());
    }

    #[test]
    fn request_authorizers_are_checked() {
        let mut a = lambda();
        a.authorizer_payload_format_version = Some("1.0".into());
        assert!(check(&a).is_err(), "simple responses need 2.0");
        let mut a = lambda();
        a.identity_source.clear();
        assert!(check(&a).is_err(), "caching needs identity sources");
        a.authorizer_result_ttl_in_seconds = Some(0);
        check(&a).unwrap();
        let mut a = lambda();
        a.authorizer_result_ttl_in_seconds = Some(3601);
        assert!(check(&a).is_err());
        let mut a = lambda();
        a.authorizer_uri = Some("https://example.com".into());
        assert!(check(&a).is_err());
        let mut a = lambda();
        a.identity_source = vec!["Authorization".into()];
        assert_eq!(check(&a).unwrap_err().code, "BadRequestException");
    }

    #[test]
    fn identity_sources_parse() {
        assert_eq!(
            Source::parse("$request.header.X-Token"),
            Some(Source::Header("x-token".into()))
        );
        assert_eq!(
            Source::parse("$context.identity.sourceIp"),
            Some(Source::Context("identity.sourceIp".into()))
        );
        assert_eq!(Source::parse("$request.header."), None);
        assert_eq!(Source::parse("header.x"), None);
    }
}
