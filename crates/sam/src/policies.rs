//! A function's `Policies`: AWS managed policy names and ARNs, inline policy documents, and
//! SAM's policy templates, turned into the generated role's `ManagedPolicyArns` and
//! `Policies` as SAM's role constructor does.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::util::{is_intrinsic, py_list};
use crate::{Context, Invalid};

/// The path and name of each AWS managed policy (as SAM's bundled list has them).
const MANAGED: &str = include_str!("managed_policies.txt");

/// SAM's policy templates (name → parameters and definition), from SAM's `policy_templates.json`.
const TEMPLATES: &str = include_str!("policy_templates.json");

fn templates() -> &'static Map<String, Value> {
    static PARSED: OnceLock<Map<String, Value>> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(TEMPLATES).unwrap_or_default())
}

/// The ARN of an AWS managed policy given by name, or the name as is when it is an ARN or
/// no managed policy has that name (as SAM leaves it, for CloudFormation to refuse).
pub(crate) fn managed_policy_arn(name: &str, ctx: &Context) -> String {
    if name.starts_with("arn:") {
        return name.into();
    }
    let path = MANAGED
        .lines()
        .find(|line| line.rsplit('/').next() == Some(name));
    match path {
        Some(path) => format!("arn:{}:iam::aws:policy/{path}", ctx.partition),
        None => name.into(),
    }
}

/// What `Policies` adds to the generated role.
#[derive(Debug, Default)]
pub(crate) struct RolePolicies {
    pub managed: Vec<Value>,
    pub inline: Vec<Value>,
}

pub(crate) fn resolve(
    policies: Option<&Value>,
    role_id: &str,
    ctx: &Context,
) -> Result<RolePolicies, Invalid> {
    let entries: Vec<&Value> = match policies {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        // A single name, ARN, document or template stands for a list of one.
        Some(v) => vec![v],
    };
    let mut out = RolePolicies::default();
    for (index, entry) in entries.into_iter().enumerate() {
        let name = format!("{role_id}Policy{index}");
        match entry {
            Value::String(s) => out.managed.push(json!(managed_policy_arn(s, ctx))),
            v if is_intrinsic(v) && v.get("Fn::If").is_none() => out.managed.push(v.clone()),
            Value::Object(m) if is_template(m) => {
                let (template, params) = m.iter().next().ok_or("Invalid policy.")?;
                let doc = expand_template(template, params)?;
                out.inline
                    .push(json!({ "PolicyName": name, "PolicyDocument": doc }));
            }
            Value::Object(_) => {
                out.inline
                    .push(json!({ "PolicyName": name, "PolicyDocument": entry }));
            }
            _ => return Err("Type of property 'Policies' is invalid.".into()),
        }
    }
    Ok(out)
}

/// A one-key map naming one of SAM's policy templates; any other map is a policy document.
fn is_template(m: &Map<String, Value>) -> bool {
    m.len() == 1 && m.keys().all(|k| templates().contains_key(k))
}

fn expand_template(name: &str, params: &Value) -> Result<Value, Invalid> {
    let Some(template) = templates().get(name) else {
        return Err(format!("Policy template '{name}' does not exist."));
    };
    let Some(values) = params.as_object() else {
        return Err("Parameter values are required to process a policy template".into());
    };
    let required: Vec<&str> = template["Parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|p| !values.contains_key(*p))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Following required parameters of template '{name}' don't have values: {}",
            py_list(&missing)
        ));
    }
    Ok(substitute(&template["Definition"], values))
}

/// Replaces each `{"Ref": Param}` of the template's definition with the parameter's value.
fn substitute(v: &Value, values: &Map<String, Value>) -> Value {
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(p))) = (m.len(), m.get("Ref")) {
                if let Some(value) = values.get(p) {
                    return value.clone();
                }
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, values)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, values)).collect()),
        other => other.clone(),
    }
}
