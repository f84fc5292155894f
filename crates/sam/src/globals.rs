//! The `Globals` section: properties shared by every resource of a SAM type, merged into each
//! as SAM merges them (maps key by key, lists global first, anything else the local value).

use serde_json::{Map, Value};

use crate::util::{is_intrinsic, py_list};

const FUNCTION: &[&str] = &[
    "Handler",
    "Runtime",
    "CodeUri",
    "DeadLetterQueue",
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "Tags",
    "PropagateTags",
    "Tracing",
    "KmsKeyArn",
    "AutoPublishAlias",
    "AutoPublishAliasAllProperties",
    "Layers",
    "DeploymentPreference",
    "RolePath",
    "PermissionsBoundary",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "AssumeRolePolicyDocument",
    "EventInvokeConfig",
    "FileSystemConfigs",
    "CodeSigningConfigArn",
    "Architectures",
    "SnapStart",
    "EphemeralStorage",
    "FunctionUrlConfig",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "SourceKMSKeyArn",
];

const HTTP_API: &[&str] = &[
    "Auth",
    "AccessLogSettings",
    "StageVariables",
    "Tags",
    "CorsConfiguration",
    "DefaultRouteSettings",
    "Domain",
    "RouteSettings",
    "FailOnWarnings",
    "PropagateTags",
];

const SIMPLE_TABLE: &[&str] = &["SSESpecification"];
const LAYER: &[&str] = &["PublishLambdaVersion"];

/// The sections SAM accepts, with the resource type each applies to.
const SECTIONS: &[(&str, &str, &[&str])] = &[
    ("Function", "AWS::Serverless::Function", FUNCTION),
    ("HttpApi", "AWS::Serverless::HttpApi", HTTP_API),
    ("SimpleTable", "AWS::Serverless::SimpleTable", SIMPLE_TABLE),
    ("LayerVersion", "AWS::Serverless::LayerVersion", LAYER),
];

#[derive(Debug, Default)]
pub(crate) struct Globals {
    by_type: Vec<(&'static str, Map<String, Value>)>,
}

fn invalid(msg: String) -> String {
    format!("'Globals' section is invalid. {msg}")
}

impl Globals {
    pub(crate) fn parse(v: &Value) -> Result<Self, String> {
        let Some(sections) = v.as_object().filter(|m| !m.is_empty()) else {
            return Err(invalid("It must be a non-empty dictionary".into()));
        };
        let mut by_type = Vec::new();
        for (name, props) in sections {
            let Some((_, kind, allowed)) = SECTIONS.iter().find(|(n, _, _)| n == name) else {
                let names: Vec<&str> = SECTIONS.iter().map(|s| s.0).collect();
                return Err(invalid(format!(
                    "'{name}' is not supported. Must be one of the following values - {}",
                    py_list(&names)
                )));
            };
            let Some(props) = props.as_object() else {
                return Err(invalid(format!("Value of {name} must be a dictionary")));
            };
            if let Some(key) = props.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(invalid(format!(
                    "'{key}' is not a supported property of '{name}'. Must be one of the following values - {}",
                    py_list(allowed)
                )));
            }
            by_type.push((*kind, props.clone()));
        }
        Ok(Globals { by_type })
    }

    /// The resource's properties with the globals of its type merged under them.
    pub(crate) fn apply(&self, kind: &str, local: &Map<String, Value>) -> Map<String, Value> {
        match self.by_type.iter().find(|(k, _)| *k == kind) {
            Some((_, global)) => merge_maps(global, local),
            None => local.clone(),
        }
    }
}

fn merge_maps(global: &Map<String, Value>, local: &Map<String, Value>) -> Map<String, Value> {
    let mut out = global.clone();
    for (k, v) in local {
        let merged = match out.get(k) {
            Some(g) => merge(g, v),
            None => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}

fn merge(global: &Value, local: &Value) -> Value {
    // An intrinsic is a single value to SAM: it is never merged with anything.
    if is_intrinsic(global) || is_intrinsic(local) {
        return local.clone();
    }
    match (global, local) {
        (Value::Object(g), Value::Object(l)) => Value::Object(merge_maps(g, l)),
        (Value::Array(g), Value::Array(l)) => Value::Array(g.iter().chain(l).cloned().collect()),
        _ => local.clone(),
    }
}
