//! The template model: a JSON or YAML body read into its sections, with the structural checks
//! CloudFormation makes before anything is evaluated, and their messages.

use crate::error::{Error, Result};
use crate::params::ParameterDecl;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The longest template body CreateStack accepts inline (TemplateURL allows 1 MB).
pub const MAX_BODY: usize = 51_200;
pub const MAX_URL_BODY: usize = 1_000_000;

/// The SAM transform's name, expanded by the hook in [`crate::transform`].
pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

const SECTIONS: [&str; 10] = [
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
];

const RESOURCE_ATTRIBUTES: [&str; 9] = [
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
    "CreationPolicy",
    "UpdatePolicy",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    Delete,
    Retain,
    /// Snapshot is accepted and, for the types Stratus supports, means Delete as on AWS for
    /// types that take no snapshots.
    Snapshot,
    RetainExceptOnCreate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDecl {
    pub logical_id: String,
    pub kind: String,
    /// The `Properties` object (empty when absent), not yet evaluated.
    pub properties: Value,
    pub depends_on: Vec<String>,
    pub condition: Option<String>,
    pub deletion_policy: Policy,
    pub update_replace_policy: Policy,
    /// The `UpdatePolicy` attribute (`Null` when absent), not yet evaluated.
    pub update_policy: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    pub key: String,
    pub value: Value,
    pub description: Option<Value>,
    pub export_name: Option<Value>,
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The body as read (after any transform), kept for GetTemplate's Processed stage.
    pub body: Value,
    pub description: Option<String>,
    pub parameters: Vec<ParameterDecl>,
    pub mappings: Map<String, Value>,
    pub conditions: Map<String, Value>,
    pub resources: BTreeMap<String, ResourceDecl>,
    pub outputs: Vec<OutputDecl>,
}

/// Reads a body as JSON (when it starts with `{`) or YAML, into a value.
pub fn read_body(text: &str) -> Result<Value> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).map_err(|e| {
            Error::format(format!(
                "JSON not well-formed. (line {}, column {})",
                e.line(),
                e.column()
            ))
        });
    }
    crate::yaml::parse(text).map_err(Error::validation)
}

/// The transforms a body names (`Transform` as a string or a list of strings).
pub fn transforms(body: &Value) -> Result<Vec<String>> {
    match body.get("Transform") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                // A macro with parameters: { Name, Parameters }.
                Value::Object(m) => m
                    .get("Name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::format("Transform must be a string or a list of strings")
                    }),
                _ => Err(Error::format(
                    "Transform must be a string or a list of strings",
                )),
            })
            .collect(),
        Some(Value::Object(m)) => m
            .get("Name")
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .ok_or_else(|| Error::format("Transform must be a string or a list of strings")),
        Some(_) => Err(Error::format(
            "Transform must be a string or a list of strings",
        )),
    }
}

impl Template {
    /// Reads an already-transformed body into its sections.
    pub fn from_value(body: Value) -> Result<Template> {
        let Value::Object(top) = &body else {
            return Err(Error::format("unsupported structure."));
        };
        let unknown: Vec<&str> = top
            .keys()
            .map(String::as_str)
            .filter(|k| !SECTIONS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::format(format!(
                "Invalid template property or properties [{}]",
                unknown.join(", ")
            )));
        }
        if let Some(v) = top.get("AWSTemplateFormatVersion") {
            if v.as_str() != Some("2010-09-09") {
                return Err(Error::format(format!(
                    "Unsupported AWSTemplateFormatVersion: {}",
                    text_of(v)
                )));
            }
        }
        let description = match top.get("Description") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::format("Every Description member must be a string.")),
        };
        let parameters = crate::params::declarations(section(top, "Parameters")?)?;
        let mappings = section(top, "Mappings")?.cloned().unwrap_or_default();
        check_mappings(&mappings)?;
        let conditions = section(top, "Conditions")?.cloned().unwrap_or_default();
        let resources = resources(section(top, "Resources")?)?;
        let outputs = outputs(section(top, "Outputs")?)?;
        let template = Template {
            description,
            parameters,
            mappings,
            conditions,
            resources,
            outputs,
            body: body.clone(),
        };
        crate::graph::check_references(&template)?;
        Ok(template)
    }

    pub fn parameter(&self, name: &str) -> Option<&ParameterDecl> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn section<'a>(top: &'a Map<String, Value>, name: &str) -> Result<Option<&'a Map<String, Value>>> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Error::format(format!("{name} section must be an object"))),
    }
}

fn check_mappings(mappings: &Map<String, Value>) -> Result<()> {
    for (name, map) in mappings {
        let ok = map
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_object));
        if !ok {
            return Err(Error::format(format!(
                "Mappings attribute {name} must be a map of maps of values"
            )));
        }
    }
    Ok(())
}

fn is_alphanumeric(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `AWS::Service::Type`, `Custom::Name` or `AWS::CloudFormation::CustomResource`.
fn well_formed_type(kind: &str) -> bool {
    let parts: Vec<&str> = kind.split("::").collect();
    match parts.as_slice() {
        ["Custom", name] => !name.is_empty(),
        [vendor, service, name] => {
            !vendor.is_empty() && is_alphanumeric(service) && is_alphanumeric(name)
        }
        _ => false,
    }
}

fn resources(section: Option<&Map<String, Value>>) -> Result<BTreeMap<String, ResourceDecl>> {
    let section = match section {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(Error::format(
                "At least one Resources member must be defined.",
            ))
        }
    };
    let mut out = BTreeMap::new();
    let mut unrecognized = Vec::new();
    for (id, decl) in section {
        if !is_alphanumeric(id) {
            return Err(Error::format(format!(
                "Resource name {id} is non alphanumeric."
            )));
        }
        let Value::Object(decl) = decl else {
            return Err(Error::format(format!(
                "[/Resources/{id}] Every Resources object must contain a Type member."
            )));
        };
        if let Some(bad) = decl
            .keys()
            .find(|k| !RESOURCE_ATTRIBUTES.contains(&k.as_str()))
        {
            return Err(Error::format(format!(
                "Invalid template resource property '{bad}'"
            )));
        }
        let kind = match decl.get("Type") {
            Some(Value::String(t)) => t.clone(),
            _ => {
                return Err(Error::format(format!(
                    "[/Resources/{id}] Every Resources object must contain a Type member."
                )))
            }
        };
        if !well_formed_type(&kind) {
            unrecognized.push(kind.clone());
        }
        let properties = match decl.get("Properties") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(Error::format(format!(
                    "[/Resources/{id}/Properties] Every Properties object must be an object."
                )))
            }
        };
        let depends_on = match decl.get("DependsOn") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => {
                return Err(Error::format(
                    "DependsOn must be a string or list of strings.".to_string(),
                ))
            }
        };
        let condition = match decl.get("Condition") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::format("Every Condition member must be a string.")),
        };
        out.insert(
            id.clone(),
            ResourceDecl {
                logical_id: id.clone(),
                kind,
                properties,
                depends_on,
                condition,
                deletion_policy: policy(id, decl.get("DeletionPolicy"))?,
                update_replace_policy: policy(id, decl.get("UpdateReplacePolicy"))?,
                update_policy: decl.get("UpdatePolicy").cloned().unwrap_or(Value::Null),
            },
        );
    }
    if !unrecognized.is_empty() {
        return Err(Error::format(format!(
            "Unrecognized resource types: [{}]",
            unrecognized.join(", ")
        )));
    }
    Ok(out)
}

fn policy(id: &str, value: Option<&Value>) -> Result<Policy> {
    match value.map(|v| v.as_str()) {
        None => Ok(Policy::Delete),
        Some(Some("Delete")) => Ok(Policy::Delete),
        Some(Some("Retain")) => Ok(Policy::Retain),
        Some(Some("Snapshot")) => Ok(Policy::Snapshot),
        Some(Some("RetainExceptOnCreate")) => Ok(Policy::RetainExceptOnCreate),
        Some(_) => Err(Error::format(format!(
            "Unrecognized DeletionPolicy {} for resource {id}",
            value.map(text_of).unwrap_or_default()
        ))),
    }
}

fn outputs(section: Option<&Map<String, Value>>) -> Result<Vec<OutputDecl>> {
    let mut out = Vec::new();
    for (key, decl) in section.into_iter().flatten() {
        if !is_alphanumeric(key) {
            return Err(Error::format(format!(
                "Output name {key} is non alphanumeric."
            )));
        }
        let Some(decl) = decl.as_object() else {
            return Err(Error::format(format!(
                "Every Outputs member must be an object: {key}"
            )));
        };
        let Some(value) = decl.get("Value") else {
            return Err(Error::format(format!(
                "Every Outputs member must contain a Value object, the Outputs member {key} does not contain a Value object"
            )));
        };
        let export_name = match decl.get("Export") {
            None => None,
            Some(Value::Object(e)) => match e.get("Name") {
                Some(n) => Some(n.clone()),
                None => {
                    return Err(Error::format(format!(
                        "Output {key} is malformed. The Name field of every Export member must be specified and consist only of alphanumeric characters, colons, or hyphens."
                    )))
                }
            },
            Some(_) => return Err(Error::format(format!("Output {key} is malformed."))),
        };
        let condition = match decl.get("Condition") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::format("Every Condition member must be a string.")),
        };
        out.push(OutputDecl {
            key: key.clone(),
            value: value.clone(),
            description: decl.get("Description").cloned(),
            export_name,
            condition,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Template> {
        Template::from_value(read_body(text)?)
    }

    #[test]
    fn reads_json_and_yaml_alike() {
        let y = parse("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n")
            .unwrap();
        let j = parse(
            r#"{"Resources": {"B": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}}}"#,
        )
        .unwrap();
        assert_eq!(y.resources, j.resources);
        assert_eq!(y.resources["B"].deletion_policy, Policy::Retain);
        assert_eq!(y.resources["B"].properties, json!({}));
    }

    #[test]
    fn structural_errors_use_cloudformations_words() {
        let msg = |t: &str| parse(t).unwrap_err().message;
        assert_eq!(
            msg("Description: x\n"),
            "Template format error: At least one Resources member must be defined."
        );
        assert_eq!(
            msg("Resources: {}\n"),
            "Template format error: At least one Resources member must be defined."
        );
        assert_eq!(
            msg("Resources:\n  B:\n    Properties: {}\n"),
            "Template format error: [/Resources/B] Every Resources object must contain a Type member."
        );
        assert_eq!(
            msg("Resources:\n  B:\n    Type: Nope\n"),
            "Template format error: Unrecognized resource types: [Nope]"
        );
        assert_eq!(
            msg("Resources:\n  my-b:\n    Type: AWS::S3::Bucket\n"),
            "Template format error: Resource name my-b is non alphanumeric."
        );
        assert_eq!(
            msg("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Foo: 1\n"),
            "Template format error: Invalid template resource property 'Foo'"
        );
        assert_eq!(
            msg("Bogus: 1\nResources:\n  B:\n    Type: AWS::S3::Bucket\n"),
            "Template format error: Invalid template property or properties [Bogus]"
        );
        assert!(msg("{\"Resources\": ")
            .starts_with("Template format error: JSON not well-formed. (line 1"));
        assert_eq!(
            msg("Resources:\n  B:\n    Type: AWS::S3::Bucket\nOutputs:\n  O:\n    Description: x\n"),
            "Template format error: Every Outputs member must contain a Value object, the Outputs member O does not contain a Value object"
        );
    }

    #[test]
    fn transforms_are_listed() {
        let v = read_body("Transform: AWS::Serverless-2016-10-31\nResources: {}\n").unwrap();
        assert_eq!(transforms(&v).unwrap(), vec![SAM_TRANSFORM.to_string()]);
        let v = json!({"Transform": ["A", {"Name": "B"}]});
        assert_eq!(
            transforms(&v).unwrap(),
            vec!["A".to_string(), "B".to_string()]
        );
    }
}
