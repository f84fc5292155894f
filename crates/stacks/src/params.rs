//! Parameters: their declarations, and the values a stack gets from the caller, the previous
//! stack and the defaults, checked against the constraints with CloudFormation's messages.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParameterDecl {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    pub description: Option<String>,
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub no_echo: bool,
    pub constraint_description: Option<String>,
}

impl ParameterDecl {
    /// List types: their value is a list of strings (split at commas).
    pub fn is_list(&self) -> bool {
        self.kind == "CommaDelimitedList" || self.kind.starts_with("List<")
    }
}

/// A value the caller gave: a value, or UsePreviousValue.
#[derive(Debug, Clone, PartialEq)]
pub enum Supplied {
    Value(String),
    UsePrevious,
}

/// Types CloudFormation knows; the AWS-specific ones are validated as plain strings (Stratus
/// has no EC2 to look them up in), and SSM parameter types are refused (no SSM).
fn known_type(kind: &str) -> bool {
    matches!(
        kind,
        "String" | "Number" | "List<Number>" | "CommaDelimitedList"
    ) || (kind.starts_with("AWS::") && !kind.starts_with("AWS::SSM::"))
        || (kind.starts_with("List<AWS::") && kind.ends_with('>') && !kind.contains("SSM"))
}

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(string_of)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

fn number_of(v: Option<&Value>, name: &str, attr: &str) -> Result<Option<f64>> {
    match v {
        None => Ok(None),
        Some(v) => string_of(v)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| Error::format(format!("Parameter '{name}' {attr} must be a number"))),
    }
}

pub fn declarations(section: Option<&Map<String, Value>>) -> Result<Vec<ParameterDecl>> {
    let mut out = Vec::new();
    for (name, decl) in section.into_iter().flatten() {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::format(format!(
                "Parameter name {name} is non alphanumeric."
            )));
        }
        let Some(decl) = decl.as_object() else {
            return Err(Error::format(format!(
                "Every Parameters object must contain a Type member. Parameter {name} is malformed."
            )));
        };
        let kind = match decl.get("Type").and_then(Value::as_str) {
            Some(k) => k.to_string(),
            None => {
                return Err(Error::format(format!(
                    "Every Parameters object must contain a Type member. Parameter {name} is malformed."
                )))
            }
        };
        if !known_type(&kind) {
            return Err(Error::format(format!(
                "Unrecognized parameter type: {kind}"
            )));
        }
        let allowed_values = match decl.get("AllowedValues") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(string_of)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::format(format!(
                        "Parameter '{name}' AllowedValues must be a list of strings"
                    ))
                })?,
            Some(_) => {
                return Err(Error::format(format!(
                    "Parameter '{name}' AllowedValues must be a list of strings"
                )))
            }
        };
        let text = |k: &str| decl.get(k).and_then(string_of);
        let length = |k: &str| -> Result<Option<u64>> {
            number_of(decl.get(k), name, k).map(|n| n.map(|n| n.max(0.0) as u64))
        };
        let no_echo = matches!(text("NoEcho").as_deref(), Some("true" | "True" | "TRUE"));
        let pattern = text("AllowedPattern");
        if let Some(p) = &pattern {
            if regex::Regex::new(&format!("^(?:{p})$")).is_err() {
                return Err(Error::format(format!(
                    "Parameter '{name}' AllowedPattern is not a valid regular expression"
                )));
            }
        }
        out.push(ParameterDecl {
            name: name.clone(),
            default: text("Default"),
            description: text("Description"),
            allowed_values,
            allowed_pattern: pattern,
            min_length: length("MinLength")?,
            max_length: length("MaxLength")?,
            min_value: number_of(decl.get("MinValue"), name, "MinValue")?,
            max_value: number_of(decl.get("MaxValue"), name, "MaxValue")?,
            no_echo,
            constraint_description: text("ConstraintDescription"),
            kind,
        });
    }
    Ok(out)
}

/// The value of each declared parameter: given, previous (for UsePreviousValue) or default,
/// checked against its constraints. `previous` holds the stack's current values on update.
pub fn resolve(
    decls: &[ParameterDecl],
    supplied: &BTreeMap<String, Supplied>,
    previous: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let unknown: Vec<&str> = supplied
        .keys()
        .filter(|k| !decls.iter().any(|d| &d.name == *k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::validation(format!(
            "Parameters: [{}] do not exist in the template",
            unknown.join(", ")
        )));
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for decl in decls {
        let value = match supplied.get(&decl.name) {
            Some(Supplied::Value(v)) => Some(v.clone()),
            Some(Supplied::UsePrevious) => match previous.get(&decl.name) {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(Error::validation(format!(
                        "Invalid input for parameter key {}. Cannot specify usePreviousValue as true for a parameter key not in the previous template",
                        decl.name
                    )))
                }
            },
            None => decl.default.clone(),
        };
        match value {
            Some(v) => {
                check(decl, &v)?;
                values.insert(decl.name.clone(), v);
            }
            None => missing.push(decl.name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::validation(format!(
            "Parameters: [{}] must have values",
            missing.join(", ")
        )));
    }
    Ok(values)
}

/// The value `Ref` gives for a parameter: a list for list types, a string otherwise.
pub fn ref_value(decl: &ParameterDecl, value: &str) -> Value {
    if decl.is_list() {
        if value.is_empty() {
            return Value::Array(Vec::new());
        }
        Value::Array(
            value
                .split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        )
    } else {
        Value::String(value.to_string())
    }
}

fn constraint(decl: &ParameterDecl, default: String) -> Error {
    match &decl.constraint_description {
        Some(d) => Error::validation(format!(
            "Parameter '{}' failed to satisfy constraint: {d}",
            decl.name
        )),
        None => Error::validation(default),
    }
}

fn check(decl: &ParameterDecl, value: &str) -> Result<()> {
    let name = &decl.name;
    let items: Vec<&str> = if decl.is_list() {
        value.split(',').map(str::trim).collect()
    } else {
        vec![value]
    };
    for item in items {
        if decl.kind == "Number" || decl.kind == "List<Number>" {
            let Ok(n) = item.trim().parse::<f64>() else {
                return Err(Error::validation(format!(
                    "Parameter '{name}' must be a number."
                )));
            };
            if decl.min_value.is_some_and(|m| n < m) {
                return Err(constraint(
                    decl,
                    format!(
                        "Parameter '{name}' must be a number not less than {}",
                        fmt_num(decl.min_value)
                    ),
                ));
            }
            if decl.max_value.is_some_and(|m| n > m) {
                return Err(constraint(
                    decl,
                    format!(
                        "Parameter '{name}' must be a number not greater than {}",
                        fmt_num(decl.max_value)
                    ),
                ));
            }
        }
        if !decl.allowed_values.is_empty() && !decl.allowed_values.iter().any(|a| a == item) {
            return Err(constraint(
                decl,
                format!("Parameter '{name}' must be one of AllowedValues"),
            ));
        }
    }
    let len = value.chars().count() as u64;
    if let Some(min) = decl.min_length.filter(|m| len < *m) {
        return Err(constraint(
            decl,
            format!("Parameter '{name}' must contain at least {min} characters"),
        ));
    }
    if let Some(max) = decl.max_length.filter(|m| len > *m) {
        return Err(constraint(
            decl,
            format!("Parameter '{name}' must contain at most {max} characters"),
        ));
    }
    if let Some(p) = &decl.allowed_pattern {
        // Checked when the template was read.
        let re = regex::Regex::new(&format!("^(?:{p})$"))
            .map_err(|_| Error::validation("bad pattern"))?;
        if !re.is_match(value) {
            return Err(constraint(
                decl,
                format!("Parameter '{name}' must match pattern {p}"),
            ));
        }
    }
    Ok(())
}

fn fmt_num(n: Option<f64>) -> String {
    let n = n.unwrap_or_default();
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decls(v: Value) -> Vec<ParameterDecl> {
        declarations(v.as_object()).unwrap()
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, Supplied> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Supplied::Value(v.to_string())))
            .collect()
    }

    #[test]
    fn defaults_given_values_and_previous_values() {
        let d = decls(
            json!({"A": {"Type": "String", "Default": "a"}, "B": {"Type": "Number"},
            "C": {"Type": "CommaDelimitedList", "Default": "x, y"}}),
        );
        let prev = BTreeMap::from([("B".to_string(), "7".to_string())]);
        let mut s = given(&[]);
        s.insert("B".into(), Supplied::UsePrevious);
        let v = resolve(&d, &s, &prev).unwrap();
        assert_eq!(v["A"], "a");
        assert_eq!(v["B"], "7");
        assert_eq!(ref_value(&d[2], &v["C"]), json!(["x", "y"]));
    }

    #[test]
    fn constraint_messages() {
        let d = decls(json!({
            "Env": {"Type": "String", "AllowedValues": ["dev", "prod"]},
            "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
            "Name": {"Type": "String", "AllowedPattern": "[a-z]+", "MinLength": 2, "MaxLength": 5},
            "Tag": {"Type": "String", "AllowedPattern": "[a-z]+", "ConstraintDescription": "lower case only"}
        }));
        let ok = [("Env", "dev"), ("Size", "3"), ("Name", "abc"), ("Tag", "x")];
        let with = |k: &str, v: &str| {
            let mut g = given(&ok);
            g.insert(k.into(), Supplied::Value(v.into()));
            resolve(&d, &g, &BTreeMap::new())
                .map(|_| ())
                .map_err(|e| e.message)
        };
        assert_eq!(with("Env", "dev"), Ok(()));
        assert_eq!(
            with("Env", "qa"),
            Err("Parameter 'Env' must be one of AllowedValues".into())
        );
        assert_eq!(
            with("Size", "x"),
            Err("Parameter 'Size' must be a number.".into())
        );
        assert_eq!(
            with("Size", "0"),
            Err("Parameter 'Size' must be a number not less than 1".into())
        );
        assert_eq!(
            with("Size", "11"),
            Err("Parameter 'Size' must be a number not greater than 10".into())
        );
        assert_eq!(
            with("Name", "a"),
            Err("Parameter 'Name' must contain at least 2 characters".into())
        );
        assert_eq!(
            with("Name", "abcdef"),
            Err("Parameter 'Name' must contain at most 5 characters".into())
        );
        assert_eq!(
            with("Name", "AB"),
            Err("Parameter 'Name' must match pattern [a-z]+".into())
        );
        assert_eq!(
            with("Tag", "X"),
            Err("Parameter 'Tag' failed to satisfy constraint: lower case only".into())
        );
        assert_eq!(
            with("Nope", "1"),
            Err("Parameters: [Nope] do not exist in the template".into())
        );
        let e = resolve(&d, &given(&[("Env", "dev")]), &BTreeMap::new()).unwrap_err();
        assert_eq!(e.message, "Parameters: [Name, Size, Tag] must have values");
    }

    #[test]
    fn bad_declarations() {
        let e = declarations(json!({"A": {"Type": "Integer"}}).as_object()).unwrap_err();
        assert_eq!(
            e.message,
            "Template format error: Unrecognized parameter type: Integer"
        );
        let e = declarations(json!({"A": {"Default": "x"}}).as_object()).unwrap_err();
        assert!(e
            .message
            .contains("Every Parameters object must contain a Type member"));
        assert!(declarations(
            json!({"A": {"Type": "AWS::SSM::Parameter::Value<String>"}}).as_object()
        )
        .is_err());
        let d = decls(json!({"A": {"Type": "AWS::EC2::VPC::Id", "NoEcho": true}}));
        assert!(d[0].no_echo);
    }
}
