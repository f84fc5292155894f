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

/// Rewrites `Ref`, `Fn::GetAtt` and `DependsOn` that name a resource whose logical id the
/// transform changed (layer versions get a content hash), as SAM does across the template.
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
                    ("Fn::GetAtt", Value::Array(mut a)) => {
                        if let Some(Value::String(s)) = a.first_mut() {
                            *s = swap(std::mem::take(s));
                        }
                        Value::Array(a)
                    }
                    ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
                        Some((id, attr)) => Value::String(format!("{}.{attr}", swap(id.into()))),
                        None => Value::String(s),
                    },
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
