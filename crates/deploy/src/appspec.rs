//! A Lambda AppSpec, read from its YAML or JSON value: the one `AWS::Lambda::Function`
//! resource (function, alias, current and target version) and the
//! `BeforeAllowTraffic`/`AfterAllowTraffic` hook functions.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub function: String,
    pub alias: String,
    pub current_version: String,
    pub target_version: String,
    pub before_allow_traffic: Option<String>,
    pub after_allow_traffic: Option<String>,
}

/// A scalar as text: versions are often written as YAML numbers.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl AppSpec {
    /// Reads an AppSpec; `Err` with what is wrong with it.
    pub fn of(doc: &Value) -> Result<AppSpec, String> {
        let resources = doc["Resources"]
            .as_array()
            .ok_or("The AppSpec file must have a Resources list")?;
        let [resource] = resources.as_slice() else {
            return Err("The AppSpec file must name exactly one Lambda function resource".into());
        };
        let (_, body) = resource
            .as_object()
            .and_then(|m| m.iter().next())
            .ok_or("A resource of the AppSpec file must be a map of one named resource")?;
        if body["Type"].as_str() != Some("AWS::Lambda::Function") {
            return Err("The resource type must be AWS::Lambda::Function".into());
        }
        let p = &body["Properties"];
        let prop = |k: &str| text(&p[k]).ok_or_else(|| format!("The resource needs {k}"));
        let mut spec = AppSpec {
            function: prop("Name")?,
            alias: prop("Alias")?,
            current_version: prop("CurrentVersion")?,
            target_version: prop("TargetVersion")?,
            before_allow_traffic: None,
            after_allow_traffic: None,
        };
        for hook in doc["Hooks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let Some((name, f)) = hook.as_object().and_then(|m| m.iter().next()) else {
                return Err("A hook must be a map of the lifecycle event to a function".into());
            };
            let f = text(f).ok_or("A hook must name a function")?;
            match name.as_str() {
                "BeforeAllowTraffic" => spec.before_allow_traffic = Some(f),
                "AfterAllowTraffic" => spec.after_allow_traffic = Some(f),
                other => return Err(format!("{other} is not a Lambda lifecycle event")),
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_resource_and_hooks() {
        let doc = json!({"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function",
            "Properties": {"Name": "f", "Alias": "live", "CurrentVersion": 1, "TargetVersion": "2"}}}],
            "Hooks": [{"BeforeAllowTraffic": "check"}]});
        let s = AppSpec::of(&doc).unwrap();
        assert_eq!(s.current_version, "1");
        assert_eq!(s.target_version, "2");
        assert_eq!(s.before_allow_traffic.as_deref(), Some("check"));
        assert_eq!(s.after_allow_traffic, None);
    }

    #[test]
    fn refuses_what_is_not_a_lambda_appspec() {
        assert!(AppSpec::of(&json!({})).is_err());
        assert!(
            AppSpec::of(&json!({"Resources": [{"x": {"Type": "AWS::ECS::Service"}}]})).is_err()
        );
        let no_alias = json!({"Resources": [{"x": {"Type": "AWS::Lambda::Function",
            "Properties": {"Name": "f", "CurrentVersion": "1", "TargetVersion": "2"}}}]});
        assert!(AppSpec::of(&no_alias).is_err());
    }
}
