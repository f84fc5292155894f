//! The dependency graph: which resources each resource needs (from Ref, Fn::GetAtt, Fn::Sub
//! variables and DependsOn), the checks on names CloudFormation makes when a template is read,
//! and the order of creation, with cycles refused in CloudFormation's words.

use crate::error::{Error, Result};
use crate::intrinsics::{as_call, sub_pieces, SubPiece, PSEUDO_PARAMETERS};
use crate::template::Template;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A name a value refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reference {
    /// `Ref` or a `${Name}` in Fn::Sub: a parameter, a pseudo parameter or a resource.
    Ref(String),
    /// `Fn::GetAtt` or a `${Name.Attr}` in Fn::Sub: a resource.
    Att(String),
}

/// Every name a value refers to, walking the tree without recursion.
fn references(value: &Value) -> BTreeSet<Reference> {
    let mut out = BTreeSet::new();
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        if let Some((name, arg)) = as_call(v) {
            match (name, arg) {
                ("Ref", Value::String(s)) => {
                    out.insert(Reference::Ref(s.clone()));
                    continue;
                }
                ("Fn::GetAtt", Value::String(s)) => {
                    let r = s.split_once('.').map_or(s.as_str(), |(r, _)| r);
                    out.insert(Reference::Att(r.to_string()));
                    continue;
                }
                ("Fn::GetAtt", Value::Array(items)) => {
                    if let Some(r) = items.first().and_then(Value::as_str) {
                        out.insert(Reference::Att(r.to_string()));
                    }
                    todo.extend(items.iter().skip(1));
                    continue;
                }
                ("Fn::Sub", _) => {
                    sub_references(arg, &mut out, &mut todo);
                    continue;
                }
                _ => {}
            }
        }
        match v {
            Value::Array(items) => todo.extend(items.iter()),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    out
}

fn sub_references<'a>(arg: &'a Value, out: &mut BTreeSet<Reference>, todo: &mut Vec<&'a Value>) {
    let (text, vars) = match arg {
        Value::String(s) => (s.as_str(), None),
        Value::Array(items) if items.len() == 2 => {
            todo.push(&items[1]);
            match items[0].as_str() {
                Some(s) => (s, items[1].as_object()),
                None => {
                    todo.push(&items[0]);
                    return;
                }
            }
        }
        other => {
            todo.push(other);
            return;
        }
    };
    // A malformed string is reported when it is evaluated.
    for piece in sub_pieces(text).unwrap_or_default() {
        if let SubPiece::Var(name) = piece {
            if vars.is_some_and(|v| v.contains_key(&name)) {
                continue;
            }
            match name.split_once('.') {
                Some((r, _)) => out.insert(Reference::Att(r.to_string())),
                None => out.insert(Reference::Ref(name)),
            };
        }
    }
}

/// The conditions a condition expression names (`{"Condition": name}`).
pub fn named_conditions(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        if let Some(("Condition", Value::String(s))) = as_call(v) {
            out.insert(s.clone());
            continue;
        }
        match v {
            Value::Array(items) => todo.extend(items.iter()),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    out
}

/// The conditions `Fn::If` names anywhere in a value.
fn if_conditions(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        if let Some(("Fn::If", Value::Array(items))) = as_call(v) {
            if let Some(c) = items.first().and_then(Value::as_str) {
                out.insert(c.to_string());
            }
        }
        match v {
            Value::Array(items) => todo.extend(items.iter()),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    out
}

/// The resources each resource depends on.
pub fn dependencies(template: &Template) -> BTreeMap<String, BTreeSet<String>> {
    template
        .resources
        .iter()
        .map(|(id, r)| {
            // An UpdatePolicy's references (a CodeDeploy application and group) are
            // dependencies too, as CloudFormation orders them.
            let mut deps: BTreeSet<String> = references(&r.properties)
                .into_iter()
                .chain(references(&r.update_policy))
                .map(|reference| match reference {
                    Reference::Ref(n) | Reference::Att(n) => n,
                })
                .filter(|n| template.resources.contains_key(n))
                .collect();
            deps.extend(r.depends_on.iter().cloned());
            (id.clone(), deps)
        })
        .collect()
}

/// The checks made when a template is read: every name a resource or output refers to
/// exists, every condition named exists, and the resources have no cycle.
pub fn check_references(template: &Template) -> Result<()> {
    let known = |n: &str| {
        PSEUDO_PARAMETERS.contains(&n)
            || template.parameter(n).is_some()
            || template.resources.contains_key(n)
    };
    let check_block = |values: Vec<(&Value, &[String])>, block: &str| -> Result<()> {
        let mut unresolved = BTreeSet::new();
        for (value, depends_on) in values {
            for reference in references(value) {
                match reference {
                    Reference::Ref(n) if !known(&n) => {
                        unresolved.insert(n);
                    }
                    Reference::Att(n) if !template.resources.contains_key(&n) => {
                        return Err(Error::template(format!(
                            "instance of Fn::GetAtt references undefined resource {n}"
                        )));
                    }
                    _ => {}
                }
            }
            for d in depends_on {
                if !template.resources.contains_key(d) {
                    unresolved.insert(d.clone());
                }
            }
        }
        if unresolved.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = unresolved.into_iter().collect();
        Err(Error::format(format!(
            "Unresolved resource dependencies [{}] in the {block} block of the template",
            names.join(", ")
        )))
    };
    check_block(
        template
            .resources
            .values()
            .map(|r| (&r.properties, r.depends_on.as_slice()))
            .collect(),
        "Resources",
    )?;
    check_block(
        template
            .outputs
            .iter()
            .map(|o| (&o.value, &[][..]))
            .collect(),
        "Outputs",
    )?;
    check_conditions(template)?;
    order(template).map(|_| ())
}

fn check_conditions(template: &Template) -> Result<()> {
    let defined = |n: &String| template.conditions.contains_key(n);
    for r in template.resources.values() {
        if let Some(c) = r.condition.as_ref().filter(|c| !defined(c)) {
            return Err(Error::format(format!(
                "Unresolved dependencies [{c}]. Cannot reference resources in the Conditions block of the template"
            )));
        }
        if let Some(c) = if_conditions(&r.properties).iter().find(|c| !defined(c)) {
            return Err(Error::format(format!(
                "Unresolved condition dependency {c} in Fn::If"
            )));
        }
    }
    for o in &template.outputs {
        if let Some(c) = o.condition.as_ref().filter(|c| !defined(c)) {
            return Err(Error::format(format!(
                "Unresolved dependencies [{c}]. Cannot reference resources in the Conditions block of the template"
            )));
        }
    }
    Ok(())
}

/// The resources in an order where each comes after everything it depends on (ties by name,
/// so the order is stable). A cycle is refused, naming the resources on it.
pub fn order(template: &Template) -> Result<Vec<String>> {
    let deps = dependencies(template);
    let mut waiting: BTreeMap<&str, usize> =
        deps.iter().map(|(id, d)| (id.as_str(), d.len())).collect();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, d) in &deps {
        for dep in d {
            dependents
                .entry(dep.as_str())
                .or_default()
                .push(id.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut out = Vec::with_capacity(deps.len());
    while let Some(id) = ready.pop_first() {
        out.push(id.to_string());
        waiting.remove(id);
        for d in dependents.get(id).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(d);
                }
            }
        }
    }
    if waiting.is_empty() {
        return Ok(out);
    }
    Err(Error::validation(format!(
        "Circular dependency between resources: [{}]",
        on_cycles(&deps, waiting.keys().copied().collect()).join(", ")
    )))
}

/// Of the resources left after ordering, those on a cycle: the ones something left still
/// depends on, pruned until none can go.
fn on_cycles<'a>(
    deps: &'a BTreeMap<String, BTreeSet<String>>,
    mut left: BTreeSet<&'a str>,
) -> Vec<&'a str> {
    loop {
        let needed: BTreeSet<&str> = left
            .iter()
            .flat_map(|id| deps[*id].iter().map(String::as_str))
            .filter(|d| left.contains(d))
            .collect();
        let before = left.len();
        left.retain(|id| needed.contains(id));
        if left.len() == before {
            return left.into_iter().collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{read_body, Template};

    fn parse(text: &str) -> Result<Template> {
        Template::from_value(read_body(text)?)
    }

    #[test]
    fn orders_by_ref_getatt_sub_and_depends_on() {
        let t = parse(
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt Role.Arn\n      Description: !Sub '${Bucket}-${AWS::Region}'\n  Role:\n    Type: AWS::IAM::Role\n  Bucket:\n    Type: AWS::S3::Bucket\n    DependsOn: Role\n  Alias:\n    Type: AWS::Lambda::Alias\n    Properties:\n      FunctionName: !Ref Fn\n",
        )
        .unwrap();
        assert_eq!(order(&t).unwrap(), vec!["Role", "Bucket", "Fn", "Alias"]);
    }

    #[test]
    fn unresolved_and_circular_use_cloudformations_words() {
        let e = parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n").unwrap_err();
        assert_eq!(e.message, "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template");
        let e = parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    DependsOn: [Z, Y]\n")
            .unwrap_err();
        assert_eq!(e.message, "Template format error: Unresolved resource dependencies [Y, Z] in the Resources block of the template");
        let e = parse(
            "Resources:\n  A:\n    Type: AWS::S3::Bucket\nOutputs:\n  O:\n    Value: !Ref B\n",
        )
        .unwrap_err();
        assert_eq!(e.message, "Template format error: Unresolved resource dependencies [B] in the Outputs block of the template");
        let e = parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      X: !GetAtt Q.Arn\n").unwrap_err();
        assert_eq!(
            e.message,
            "Template error: instance of Fn::GetAtt references undefined resource Q"
        );
        let e = parse(
            "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    DependsOn: B\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      X: !Sub '${A.Arn}'\n  C:\n    Type: AWS::S3::Bucket\n    DependsOn: A\n",
        )
        .unwrap_err();
        assert_eq!(e.message, "Circular dependency between resources: [A, B]");
        // A Sub variable given in its map is not a reference.
        parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      X: !Sub ['${V}', {V: x}]\n").unwrap();
    }

    #[test]
    fn undefined_conditions_are_refused() {
        let e = parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Condition: Nope\n")
            .unwrap_err();
        assert!(e.message.contains("[Nope]"), "{}", e.message);
        let e = parse("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      X: !If [C, 1, 2]\n").unwrap_err();
        assert_eq!(
            e.message,
            "Template format error: Unresolved condition dependency C in Fn::If"
        );
    }
}
