//! The resources of an HTTP API as stored (JSON documents) and rendered (camelCase members,
//! as botocore's `apigatewayv2` model names them), with the validation of their inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stratus_core::names::FunctionRef;
use stratus_core::Result;

use super::bad_request;

/// Store kinds of the items under an API.
pub const INTEGRATION: &str = "integration";
pub const ROUTE: &str = "route";
pub const STAGE: &str = "stage";
pub const DEPLOYMENT: &str = "deployment";
/// The routes and integrations a deployment froze, keyed by the deployment id.
pub const SNAPSHOT: &str = "snapshot";

/// The stage served at the root of an API's endpoint.
pub const DEFAULT_STAGE: &str = "$default";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    pub api_id: String,
    pub name: String,
    pub protocol_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: String,
    pub route_selection_expression: String,
    pub api_key_selection_expression: String,
    pub disable_execute_api_endpoint: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub ip_address_type: String,
    /// The region the API was created in (not rendered): functions without a region in their
    /// ARN are looked up there.
    pub region: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub integration_id: String,
    pub integration_type: String,
    pub integration_uri: String,
    pub integration_method: String,
    pub payload_format_version: String,
    pub timeout_in_millis: u32,
    pub connection_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub api_gateway_managed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub route_id: String,
    pub route_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub authorization_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    pub api_key_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    pub api_gateway_managed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub stage_name: String,
    pub auto_deploy: bool,
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    pub created_date: String,
    pub last_updated_date: String,
    pub default_route_settings: Value,
    pub route_settings: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub api_gateway_managed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deployment_status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<super::access_log::AccessLogSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub deployment_id: String,
    pub created_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub auto_deployed: bool,
    pub deployment_status: String,
}

/// What a deployment serves: the routes and integrations as they were when it was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
    /// Deployments made before authorizers existed have none.
    #[serde(default)]
    pub authorizers: Vec<super::authorizers::Authorizer>,
}

/// A resource as the API renders it: its JSON members, minus the internal ones.
pub fn render<T: Serialize>(item: &T) -> Map<String, Value> {
    match serde_json::to_value(item) {
        Ok(Value::Object(mut m)) => {
            m.remove("region");
            m
        }
        _ => Map::new(),
    }
}

/// The function an integration URI designates: a Lambda function or alias ARN, or the
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations` form that
/// CloudFormation and Terraform use.
pub fn lambda_target(uri: &str) -> Option<FunctionRef> {
    let arn = match uri.strip_prefix("arn:aws:apigateway:") {
        Some(rest) => {
            let (_, path) = rest.split_once(":lambda:path/2015-03-31/functions/")?;
            path.strip_suffix("/invocations")?
        }
        None => uri,
    };
    if !arn.starts_with("arn:") || !arn.contains(":function:") {
        return None;
    }
    FunctionRef::parse(arn).ok()
}

/// Checks a `timeoutInMillis` input (50-30000 for HTTP APIs).
pub fn check_timeout(ms: i64) -> Result<u32> {
    if (50..=30_000).contains(&ms) {
        Ok(ms as u32)
    } else {
        Err(bad_request(
            "Timeout must be between 50 milliseconds and 30 seconds.",
        ))
    }
}

/// Checks a `payloadFormatVersion` input.
pub fn check_payload_format(v: &str) -> Result<()> {
    match v {
        "1.0" | "2.0" => Ok(()),
        _ => Err(bad_request(format!(
            "Unsupported payload format version: {v}. Supported versions are 1.0 and 2.0."
        ))),
    }
}

/// Checks a length-limited string member.
pub fn check_len(member: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(bad_request(format!(
            "Invalid {member}: length must be between {min} and {max} characters"
        )));
    }
    Ok(())
}

/// Stage names: `$default`, or 1-128 letters, digits, `-` and `_`.
pub fn check_stage_name(name: &str) -> Result<()> {
    let ok = name == DEFAULT_STAGE
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if ok {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Stage name is invalid: {name}. Stage names can only contain alphanumeric characters, hyphens and underscores, or be $default."
        )))
    }
}

/// Stage variables: names of letters, digits and `_`; values up to 2048 characters.
pub fn check_stage_variables(vars: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in vars {
        let name_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(bad_request(format!(
                "Stage variable name {k} is invalid. Names can only contain alphanumeric characters and underscores."
            )));
        }
        if v.chars().count() > 2048 {
            return Err(bad_request(format!(
                "Stage variable value for {k} is too long (2048 characters at most)."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_uris_name_functions() {
        let f = lambda_target("arn:aws:lambda:us-east-1:000000000000:function:f:prod").unwrap();
        assert_eq!(
            (f.name.as_str(), f.qualifier.as_deref()),
            ("f", Some("prod"))
        );
        let g = lambda_target(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:g/invocations",
        )
        .unwrap();
        assert_eq!((g.name.as_str(), g.qualifier), ("g", None));
        assert!(lambda_target("https://example.com").is_none());
        assert!(lambda_target("f").is_none());
        assert!(lambda_target("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn input_checks() {
        assert!(check_timeout(50).is_ok() && check_timeout(30_000).is_ok());
        assert_eq!(check_timeout(49).unwrap_err().code, "BadRequestException");
        assert!(check_timeout(30_001).is_err());
        assert!(check_payload_format("2.0").is_ok());
        assert!(check_payload_format("3.0").is_err());
        assert!(check_stage_name("$default").is_ok() && check_stage_name("prod-1").is_ok());
        assert!(check_stage_name("a/b").is_err() && check_stage_name("").is_err());
        let bad: BTreeMap<String, String> = [("a-b".to_string(), "v".to_string())].into();
        assert!(check_stage_variables(&bad).is_err());
    }
}
