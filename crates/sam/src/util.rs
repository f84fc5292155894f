//! Small builders for CloudFormation JSON and checks shared by the translators.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

pub(crate) fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

pub(crate) fn get_att(id: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attr] })
}

/// A generated resource: `{"Type": .., "Properties": ..}`, without `Properties` when empty.
pub(crate) fn resource(kind: &str, properties: Map<String, Value>) -> Value {
    let mut r = Map::new();
    r.insert("Type".into(), Value::String(kind.into()));
    if !properties.is_empty() {
        r.insert("Properties".into(), Value::Object(properties));
    }
    Value::Object(r)
}

/// True for `{"Ref": ..}`, `{"Fn::...": ..}` and `{"Condition": ..}`: a value CloudFormation
/// computes, which the transform must pass through rather than inspect.
pub(crate) fn is_intrinsic(v: &Value) -> bool {
    match v.as_object() {
        Some(m) if m.len() == 1 => m
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::")),
        _ => false,
    }
}

/// Copies the listed properties that are present from `from` to `to`.
pub(crate) fn copy_props(from: &Map<String, Value>, to: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        if let Some(v) = from.get(*name) {
            to.insert((*name).into(), v.clone());
        }
    }
}

/// A SAM `Tags` map as CloudFormation's tag list, led by SAM's own tag.
pub(crate) fn tag_list(created_by: Option<&str>, tags: Option<&Value>) -> Vec<Value> {
    let mut list = Vec::new();
    if let Some(by) = created_by {
        list.push(json!({ "Key": "lambda:createdBy", "Value": by }));
    }
    if let Some(Value::Object(m)) = tags {
        for (k, v) in m {
            list.push(json!({ "Key": k, "Value": v }));
        }
    }
    list
}

/// Rewrites `Ref`, `Fn::GetAtt`, `Fn::Sub` and `DependsOn` that name a resource whose logical
/// id the transform changed (layer versions get a content hash) or one of SAM's references to
/// a generated resource (`Fn.Alias`, `Fn.Version`, `Api.Stage`), as SAM does across the template.
pub(crate) fn rename_refs(v: Value, renamed: &BTreeMap<String, String>) -> Value {
    if renamed.is_empty() {
        return v;
    }
    rename(v, renamed, false)
}

fn rename(v: Value, renamed: &BTreeMap<String, String>, depends_on: bool) -> Value {
    let swap = |s: String| renamed.get(&s).cloned().unwrap_or(s);
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match (k.as_str(), v) {
                    ("Ref", Value::String(s)) => Value::String(swap(s)),
                    ("Fn::GetAtt", Value::Array(a)) => Value::Array(rename_get_att(a, renamed)),
                    ("Fn::GetAtt", Value::String(s)) => {
                        let parts = s
                            .split_once('.')
                            .map(|(id, attr)| vec![json!(id), json!(attr)]);
                        match parts {
                            Some(parts) => {
                                let a = rename_get_att(parts, renamed);
                                Value::String(format!(
                                    "{}.{}",
                                    a[0].as_str().unwrap_or(""),
                                    a[1].as_str().unwrap_or("")
                                ))
                            }
                            None => Value::String(s),
                        }
                    }
                    ("Fn::Sub", Value::String(s)) => Value::String(rename_sub(&s, renamed)),
                    ("Fn::Sub", Value::Array(mut a)) => {
                        if let Some(Value::String(s)) = a.first_mut() {
                            *s = rename_sub(s, renamed);
                        }
                        rename(Value::Array(a), renamed, false)
                    }
                    ("DependsOn", v) => rename(v, renamed, true),
                    (_, v) => rename(v, renamed, false),
                };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| rename(x, renamed, depends_on))
                .collect(),
        ),
        Value::String(s) if depends_on => Value::String(swap(s)),
        other => other,
    }
}

/// `[id, attr]`, where `id` may have been renamed, or `[fn, "Alias.Arn"]` may name the alias.
fn rename_get_att(mut a: Vec<Value>, renamed: &BTreeMap<String, String>) -> Vec<Value> {
    let (Some(id), Some(attr)) = (
        a.first().and_then(Value::as_str).map(str::to_string),
        a.get(1).and_then(Value::as_str).map(str::to_string),
    ) else {
        return a;
    };
    if let Some(new) = renamed.get(&id) {
        a[0] = json!(new);
    } else if let Some((prop, rest)) = attr.split_once('.') {
        if let Some(new) = renamed.get(&format!("{id}.{prop}")) {
            a[0] = json!(new);
            a[1] = json!(rest);
        }
    }
    a
}

/// Rewrites the `${Id}` and `${Id.Attr}` variables of a `Fn::Sub` string.
fn rename_sub(s: &str, renamed: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            rest = &rest[start..];
            break;
        };
        let var = &after[..end];
        let new = if var.starts_with('!') {
            var.to_string()
        } else if let Some(n) = renamed.get(var) {
            n.clone()
        } else {
            match var.split_once('.') {
                Some((id, attr)) => match renamed.get(id) {
                    Some(n) => format!("{n}.{attr}"),
                    None => var.to_string(),
                },
                None => var.to_string(),
            }
        };
        out.push_str("${");
        out.push_str(&new);
        out.push('}');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The parameter values SAM resolves while it transforms: each parameter's `Default`, and the
/// `AWS::Region` and `AWS::Partition` pseudo parameters.
pub(crate) fn known_parameters(params: Option<&Value>, ctx: &crate::Context) -> Map<String, Value> {
    let mut known = Map::new();
    if let Some(Value::Object(params)) = params {
        for (name, p) in params {
            if let Some(default) = p.get("Default") {
                known.insert(name.clone(), default.clone());
            }
        }
    }
    known.insert("AWS::Region".into(), json!(ctx.region));
    known.insert("AWS::Partition".into(), json!(ctx.partition));
    known
}

/// `v` with each `Ref` to a known parameter replaced by its value, and the parameter
/// variables of `Fn::Sub` strings substituted, as SAM's `resolve_parameter_refs` does.
pub(crate) fn resolve_parameters(v: &Value, params: &Map<String, Value>) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 => {
            if let Some(Value::String(name)) = m.get("Ref") {
                if let Some(value) = params.get(name) {
                    return value.clone();
                }
            }
            if let Some(sub) = m.get("Fn::Sub") {
                let sub = match sub {
                    Value::String(s) => Value::String(substitute_sub(s, params)),
                    Value::Array(a) => {
                        let mut a = a.clone();
                        if let Some(Value::String(s)) = a.first_mut() {
                            *s = substitute_sub(s, params);
                        }
                        Value::Array(a)
                    }
                    other => other.clone(),
                };
                return json!({ "Fn::Sub": sub });
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), resolve_parameters(v, params)))
                    .collect(),
            )
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve_parameters(v, params)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_parameters(x, params)).collect()),
        other => other.clone(),
    }
}

fn substitute_sub(s: &str, params: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            rest = &rest[start..];
            break;
        };
        let var = &after[..end];
        match params.get(var) {
            Some(Value::String(v)) => out.push_str(v),
            Some(v) if !var.starts_with('!') => out.push_str(&v.to_string()),
            _ => {
                out.push_str("${");
                out.push_str(var);
                out.push('}');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A list as Python prints it (`['a', 'b']`), as SAM's messages show lists.
pub(crate) fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{}'", s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// Whether `v` nests arrays and objects more than `max` levels deep, found without recursion.
pub(crate) fn depth_exceeds(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    false
}
