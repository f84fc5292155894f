//! The legacy (pre-expression) parameters, translated into the same parsed forms as the
//! expressions: `Expected`, `KeyConditions`, `QueryFilter`, `ScanFilter` (with
//! `ConditionalOperator`), `AttributesToGet` and `AttributeUpdates`.

use serde_json::Value;
use stratus_core::Error;

use crate::expr::ast::{Cmp, Elem, Operand};
use crate::expr::{Action, Cond, Path};
use crate::table::constraint;
use crate::value::{invalid, Attr};

fn path(name: &str) -> Path {
    vec![Elem::Name(name.to_string())]
}

fn values(spec: &Value) -> Result<Vec<Attr>, Error> {
    spec["AttributeValueList"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Attr::from_json)
        .collect()
}

/// One `{ComparisonOperator, AttributeValueList}` condition on attribute `name`.
fn comparison(name: &str, op: &str, list: Vec<Attr>) -> Result<Cond, Error> {
    let want = match op {
        "NOT_NULL" | "NULL" => 0,
        "BETWEEN" => 2,
        "IN" => list.len().max(1),
        _ => 1,
    };
    if list.len() != want {
        return Err(invalid(format!(
            "Invalid number of argument(s) for the {op} ComparisonOperator"
        )));
    }
    let attr = || Operand::Path(path(name));
    let mut vals = list.into_iter().map(|v| Operand::Value(v.into()));
    let mut v = || vals.next().unwrap_or(Operand::Value(Attr::Null.into()));
    let cmp = |c: Cmp, v: Operand| Cond::Cmp(c, attr(), v);
    Ok(match op {
        "EQ" => cmp(Cmp::Eq, v()),
        "NE" => cmp(Cmp::Ne, v()),
        "LT" => cmp(Cmp::Lt, v()),
        "LE" => cmp(Cmp::Le, v()),
        "GT" => cmp(Cmp::Gt, v()),
        "GE" => cmp(Cmp::Ge, v()),
        "NOT_NULL" => Cond::Exists(path(name)),
        "NULL" => Cond::NotExists(path(name)),
        "CONTAINS" => Cond::Contains(attr(), v()),
        "NOT_CONTAINS" => Cond::Not(Box::new(Cond::Contains(attr(), v()))),
        "BEGINS_WITH" => Cond::BeginsWith(attr(), v()),
        "BETWEEN" => {
            let lo = v();
            Cond::Between(attr(), lo, v())
        }
        "IN" => Cond::In(attr(), vals.collect()),
        other => {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )))
        }
    })
}

/// The conditions of a legacy map member (`Expected`, `KeyConditions`, …), joined by
/// `ConditionalOperator`.
pub fn conditions(req: &Value, member: &str) -> Result<Option<Cond>, Error> {
    let Some(map) = req.get(member).and_then(Value::as_object) else {
        return Ok(None);
    };
    let or = req["ConditionalOperator"].as_str() == Some("OR");
    let mut all = Vec::with_capacity(map.len());
    for (name, spec) in map {
        let c = match spec["ComparisonOperator"].as_str() {
            Some(op) => comparison(name, op, values(spec)?)?,
            None => match (
                spec.get("Value").filter(|v| !v.is_null()),
                spec["Exists"].as_bool(),
            ) {
                (Some(v), Some(true) | None) => Cond::Cmp(
                    Cmp::Eq,
                    Operand::Path(path(name)),
                    Operand::Value(Attr::from_json(v)?.into()),
                ),
                (None, Some(false)) => Cond::NotExists(path(name)),
                (Some(_), Some(false)) => {
                    return Err(invalid(format!(
                        "Value cannot be used when Exists is false for Attribute: {name}"
                    )))
                }
                (None, _) => {
                    return Err(invalid(format!(
                        "Value must be provided when Exists is true for Attribute: {name}"
                    )))
                }
            },
        };
        all.push(c);
    }
    Ok(joined(all, or))
}

/// The conditions joined by AND (or OR) as a balanced tree: a map of thousands of
/// conditions gives a tree of depth log2(n), which evaluation can walk recursively.
fn joined(mut conds: Vec<Cond>, or: bool) -> Option<Cond> {
    if conds.len() <= 1 {
        return conds.pop();
    }
    let right = conds.split_off(conds.len() / 2);
    let (a, b) = (joined(conds, or)?, joined(right, or)?);
    Some(if or {
        Cond::Or(Box::new(a), Box::new(b))
    } else {
        Cond::And(Box::new(a), Box::new(b))
    })
}

/// `AttributesToGet` as projection paths: one to 255 names, none twice.
pub fn attributes_to_get(req: &Value) -> Result<Option<Vec<Path>>, Error> {
    let Some(list) = req.get("AttributesToGet").and_then(Value::as_array) else {
        return Ok(None);
    };
    let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    let shown = || format!("[{}]", names.join(", "));
    if names.is_empty() {
        return Err(constraint(
            &shown(),
            "attributesToGet",
            "Member must have length greater than or equal to 1",
        ));
    }
    if names.len() > 255 {
        return Err(constraint(
            &shown(),
            "attributesToGet",
            "Member must have length less than or equal to 255",
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(invalid(format!("Duplicate value in attribute name: {n}")));
        }
    }
    Ok(Some(names.into_iter().map(path).collect()))
}

/// `AttributeUpdates` as update actions.
pub fn attribute_updates(req: &Value) -> Result<Option<Vec<Action>>, Error> {
    let Some(map) = req.get("AttributeUpdates").and_then(Value::as_object) else {
        return Ok(None);
    };
    let mut actions = Vec::new();
    for (name, spec) in map {
        let value = spec
            .get("Value")
            .filter(|v| !v.is_null())
            .map(Attr::from_json)
            .transpose()?;
        let action = match (spec["Action"].as_str().unwrap_or("PUT"), value) {
            ("PUT", Some(v)) => Action::Set(path(name), Operand::Value(v.into())),
            ("ADD", Some(v)) => Action::Add(path(name), v.into()),
            ("DELETE", Some(v)) => Action::Delete(path(name), v.into()),
            ("DELETE", None) => Action::Remove(path(name)),
            (a, None) => {
                return Err(invalid(format!(
                    "Only DELETE action is allowed when no attribute value is specified; action: {a}"
                )))
            }
            (other, _) => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )))
            }
        };
        actions.push(action);
    }
    Ok(Some(actions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn depth(c: &Cond) -> usize {
        match c {
            Cond::And(a, b) | Cond::Or(a, b) => 1 + depth(a).max(depth(b)),
            Cond::Not(a) => 1 + depth(a),
            _ => 1,
        }
    }

    #[test]
    fn many_conditions_make_a_shallow_tree() {
        let filter: serde_json::Map<String, Value> = (0..10_000)
            .map(|i| (format!("a{i}"), json!({"ComparisonOperator": "NULL"})))
            .collect();
        let req = json!({ "ScanFilter": filter });
        let c = conditions(&req, "ScanFilter").unwrap().unwrap();
        assert_eq!(depth(&c), 15); // ceil(log2(10000)) + 1
        assert!(crate::expr::eval::eval(&Default::default(), &c));
    }

    #[test]
    fn attributes_to_get_rules() {
        let err = |v: Value| {
            attributes_to_get(&json!({ "AttributesToGet": v }))
                .unwrap_err()
                .message
        };
        assert_eq!(
            err(json!(["a", "b", "a"])),
            "One or more parameter values were invalid: Duplicate value in attribute name: a"
        );
        assert!(err(json!([])).contains("Member must have length greater than or equal to 1"));
        let names: Vec<String> = (0..256).map(|i| format!("a{i}")).collect();
        assert!(err(json!(names)).contains("less than or equal to 255"));
        let ok = attributes_to_get(&json!({"AttributesToGet": ["a", "b"]})).unwrap();
        assert_eq!(ok.map(|p| p.len()), Some(2));
    }
}
