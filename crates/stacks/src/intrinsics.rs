//! The intrinsic functions, evaluated over a template's JSON: Ref, Fn::GetAtt, Fn::Sub (both
//! forms), Fn::Join, Fn::Select, Fn::Split, Fn::If (and AWS::NoValue), the condition
//! functions, Fn::FindInMap, Fn::GetAZs, Fn::Base64, Fn::ImportValue and the pseudo
//! parameters. Values from resources (Ref, GetAtt) and exports come through [`Resolver`], so
//! the same code serves validation, the executor and change sets.
//!
//! Recursion follows the tree, whose depth the readers bound (serde_json at 128, the YAML
//! reader at [`crate::yaml::MAX_DEPTH`]).

use crate::error::{Error, Result};
use crate::params::ref_value;
use crate::template::Template;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The pseudo parameters' values for one stack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pseudo {
    pub account_id: String,
    pub region: String,
    pub stack_name: String,
    pub stack_id: String,
    pub partition: String,
    pub url_suffix: String,
    pub notification_arns: Vec<String>,
}

pub const PSEUDO_PARAMETERS: [&str; 8] = [
    "AWS::AccountId",
    "AWS::Region",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
];

/// What only a running stack knows: its resources' values and the region's exports.
pub trait Resolver {
    /// `Ref` of a resource: its physical id (or what the type documents).
    fn reference(&self, logical_id: &str) -> Result<Value>;
    /// `Fn::GetAtt` of a resource's attribute.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value>;
    /// `Fn::ImportValue`: an export's value, or None when no stack exports the name.
    fn import(&self, name: &str) -> Option<String>;
}

/// A resolver for contexts where no resource exists (conditions, validation).
pub struct NoResources;

impl Resolver for NoResources {
    fn reference(&self, logical_id: &str) -> Result<Value> {
        Err(Error::format(format!(
            "Unresolved dependencies [{logical_id}]. Cannot reference resources in the Conditions block of the template"
        )))
    }
    fn attribute(&self, logical_id: &str, _: &str) -> Result<Value> {
        self.reference(logical_id)
    }
    fn import(&self, _: &str) -> Option<String> {
        None
    }
}

pub struct Context<'a> {
    pub template: &'a Template,
    pub params: &'a BTreeMap<String, String>,
    pub pseudo: &'a Pseudo,
    /// The evaluated conditions (see [`evaluate_conditions`]).
    pub conditions: &'a BTreeMap<String, bool>,
    pub resolver: &'a dyn Resolver,
}

const FUNCTIONS: [&str; 17] = [
    "Ref",
    "Condition",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::If",
    "Fn::Equals",
    "Fn::And",
    "Fn::Or",
    "Fn::Not",
    "Fn::FindInMap",
    "Fn::GetAZs",
    "Fn::Base64",
    "Fn::ImportValue",
    "Fn::Cidr",
];

/// The single-key object form of a function call, when `value` is one.
pub fn as_call(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (FUNCTIONS.contains(&k.as_str()) || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

/// A scalar's string form, as CloudFormation converts numbers and booleans in strings.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Context<'_> {
    /// Evaluates a value; `None` is AWS::NoValue (the caller drops the key or item).
    pub fn eval(&self, value: &Value) -> Result<Option<Value>> {
        if let Some((name, arg)) = as_call(value) {
            return self.call(name, arg);
        }
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.eval(v)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    if let Some(v) = self.eval(v)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    /// Evaluates a value that must be present (NoValue is refused where a value is needed).
    pub fn value(&self, value: &Value, what: &str) -> Result<Value> {
        self.eval(value)?
            .ok_or_else(|| Error::template(format!("{what} cannot be AWS::NoValue")))
    }

    fn string(&self, value: &Value, what: &str) -> Result<String> {
        let v = self.value(value, what)?;
        scalar_text(&v).ok_or_else(|| Error::template(format!("{what} must be a string")))
    }

    fn list(&self, value: &Value, what: &str) -> Result<Vec<Value>> {
        match self.value(value, what)? {
            Value::Array(items) => Ok(items),
            _ => Err(Error::template(format!("{what} must be a list"))),
        }
    }

    fn call(&self, name: &str, arg: &Value) -> Result<Option<Value>> {
        Ok(Some(match name {
            "Ref" => return self.reference(arg),
            "Fn::GetAtt" => self.get_att(arg)?,
            "Fn::Sub" => Value::String(self.sub(arg)?),
            "Fn::Join" => self.join(arg)?,
            "Fn::Select" => return self.select(arg),
            "Fn::Split" => self.split(arg)?,
            "Fn::If" => return self.fn_if(arg),
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition" => {
                Value::Bool(self.condition(name, arg)?)
            }
            "Fn::FindInMap" => self.find_in_map(arg)?,
            "Fn::GetAZs" => {
                let region = self.string(arg, "Fn::GetAZs")?;
                let region = if region.is_empty() {
                    self.pseudo.region.clone()
                } else {
                    region
                };
                Value::Array(
                    ["a", "b", "c"]
                        .iter()
                        .map(|z| Value::String(format!("{region}{z}")))
                        .collect(),
                )
            }
            "Fn::Base64" => {
                let s = self.string(arg, "Fn::Base64")?;
                Value::String(base64::engine::general_purpose::STANDARD.encode(s))
            }
            "Fn::ImportValue" => {
                let name = self.string(arg, "Fn::ImportValue")?;
                match self.resolver.import(&name) {
                    Some(v) => Value::String(v),
                    None => {
                        return Err(Error::validation(format!("No export named {name} found.")))
                    }
                }
            }
            other => {
                return Err(Error::format(format!(
                    "Unrecognized intrinsic function: {other}"
                )));
            }
        }))
    }

    fn reference(&self, arg: &Value) -> Result<Option<Value>> {
        let Some(name) = arg.as_str() else {
            return Err(Error::template(
                "Every Ref object must have a single String value.",
            ));
        };
        if let Some(v) = self.pseudo(name) {
            return Ok(v);
        }
        if let Some(decl) = self.template.parameter(name) {
            let value = self
                .params
                .get(name)
                .map(String::as_str)
                .unwrap_or_default();
            return Ok(Some(ref_value(decl, value)));
        }
        if self.template.resources.contains_key(name) {
            return self.resolver.reference(name).map(Some);
        }
        Err(Error::format(format!(
            "Unresolved resource dependencies [{name}] in the Resources block of the template"
        )))
    }

    /// A pseudo parameter's value: Some(None) is AWS::NoValue, None means "not a pseudo".
    fn pseudo(&self, name: &str) -> Option<Option<Value>> {
        let p = self.pseudo;
        let s = |v: &str| Some(Some(Value::String(v.to_string())));
        match name {
            "AWS::AccountId" => s(&p.account_id),
            "AWS::Region" => s(&p.region),
            "AWS::StackName" => s(&p.stack_name),
            "AWS::StackId" => s(&p.stack_id),
            "AWS::Partition" => s(&p.partition),
            "AWS::URLSuffix" => s(&p.url_suffix),
            "AWS::NoValue" => Some(None),
            "AWS::NotificationARNs" => Some(Some(Value::Array(
                p.notification_arns
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            ))),
            _ => None,
        }
    }

    fn get_att(&self, arg: &Value) -> Result<Value> {
        let (resource, attribute) = match arg {
            Value::String(s) => match s.split_once('.') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => {
                    return Err(Error::template(
                        "Fn::GetAtt requires a resource name and an attribute name",
                    ))
                }
            },
            Value::Array(items) if items.len() == 2 => {
                let resource = items[0].as_str().map(str::to_string);
                let attribute = self.string(&items[1], "Fn::GetAtt")?;
                match resource {
                    Some(r) => (r, attribute),
                    None => {
                        return Err(Error::template(
                            "Fn::GetAtt requires a resource name and an attribute name",
                        ))
                    }
                }
            }
            _ => {
                return Err(Error::template(
                    "Fn::GetAtt requires a resource name and an attribute name",
                ))
            }
        };
        if !self.template.resources.contains_key(&resource) {
            return Err(Error::template(format!(
                "instance of Fn::GetAtt references undefined resource {resource}"
            )));
        }
        self.resolver.attribute(&resource, &attribute)
    }

    fn sub(&self, arg: &Value) -> Result<String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(items) if items.len() == 2 => {
                let text = self.string(&items[0], "Fn::Sub")?;
                let Some(vars) = items[1].as_object() else {
                    return Err(Error::template("One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"));
                };
                (text, vars.clone())
            }
            _ => return Err(Error::template("One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string")),
        };
        let mut out = String::new();
        for piece in sub_pieces(&text)? {
            match piece {
                SubPiece::Text(t) => out.push_str(&t),
                SubPiece::Var(name) => {
                    let value = if let Some(v) = vars.get(&name) {
                        self.value(v, "Fn::Sub")?
                    } else if let Some((r, a)) = name.split_once('.') {
                        self.get_att(&Value::Array(vec![r.into(), a.into()]))?
                    } else {
                        self.reference(&Value::String(name.clone()))?
                            .unwrap_or(Value::String(String::new()))
                    };
                    match scalar_text(&value) {
                        Some(s) => out.push_str(&s),
                        None => {
                            return Err(Error::template(format!(
                                "variable {name} in Fn::Sub expression does not resolve to a string"
                            )))
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn join(&self, arg: &Value) -> Result<Value> {
        const MSG: &str = "every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.";
        let Some([delim, list]) = arg
            .as_array()
            .map(Vec::as_slice)
            .and_then(|s| <&[Value; 2]>::try_from(s).ok())
        else {
            return Err(Error::template(MSG));
        };
        let Some(delim) = delim.as_str() else {
            return Err(Error::template(MSG));
        };
        let Value::Array(items) = self.value(list, "Fn::Join")? else {
            return Err(Error::template(MSG));
        };
        let parts = items
            .iter()
            .map(scalar_text)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::template(MSG))?;
        Ok(Value::String(parts.join(delim)))
    }

    fn select(&self, arg: &Value) -> Result<Option<Value>> {
        const MSG: &str =
            "Fn::Select requires a list argument with two elements: an integer index and a list";
        let Some([index, list]) = arg
            .as_array()
            .map(Vec::as_slice)
            .and_then(|s| <&[Value; 2]>::try_from(s).ok())
        else {
            return Err(Error::template(MSG));
        };
        let index = self.string(index, "Fn::Select")?;
        let Ok(i) = index.trim().parse::<usize>() else {
            return Err(Error::template(MSG));
        };
        let items = self.list(list, "Fn::Select")?;
        match items.into_iter().nth(i) {
            Some(v) => Ok(Some(v)),
            None => Err(Error::template(format!(
                "Fn::Select cannot select nonexistent value at index {i}"
            ))),
        }
    }

    fn split(&self, arg: &Value) -> Result<Value> {
        const MSG: &str = "Fn::Split requires a list argument with two elements: a string delimiter and a source string";
        let Some([delim, source]) = arg
            .as_array()
            .map(Vec::as_slice)
            .and_then(|s| <&[Value; 2]>::try_from(s).ok())
        else {
            return Err(Error::template(MSG));
        };
        let Some(delim) = delim.as_str().filter(|d| !d.is_empty()) else {
            return Err(Error::template(MSG));
        };
        let source = self.string(source, "Fn::Split")?;
        Ok(Value::Array(
            source
                .split(delim)
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ))
    }

    fn fn_if(&self, arg: &Value) -> Result<Option<Value>> {
        let Some([cond, yes, no]) = arg
            .as_array()
            .map(Vec::as_slice)
            .and_then(|s| <&[Value; 3]>::try_from(s).ok())
        else {
            return Err(Error::template(
                "Fn::If requires a list argument with three elements",
            ));
        };
        let Some(name) = cond.as_str() else {
            return Err(Error::template(
                "Fn::If requires a list argument with the first element being a condition",
            ));
        };
        match self.conditions.get(name) {
            Some(true) => self.eval(yes),
            Some(false) => self.eval(no),
            None => Err(Error::format(format!(
                "Unresolved condition dependency {name} in Fn::If"
            ))),
        }
    }

    fn condition(&self, name: &str, arg: &Value) -> Result<bool> {
        let bools = |arg: &Value, min: usize, max: usize| -> Result<Vec<bool>> {
            let items = arg
                .as_array()
                .filter(|a| a.len() >= min && a.len() <= max)
                .ok_or_else(|| {
                    Error::template(format!(
                        "{name} requires a list of {min} to {max} conditions"
                    ))
                })?;
            items.iter().map(|v| self.boolean(v)).collect()
        };
        match name {
            "Condition" => {
                let n = arg
                    .as_str()
                    .ok_or_else(|| Error::template("Condition must be a string"))?;
                self.conditions.get(n).copied().ok_or_else(|| {
                    Error::format(format!("Unresolved dependencies [{n}]. Cannot reference resources in the Conditions block of the template"))
                })
            }
            "Fn::Equals" => {
                let Some([a, b]) = arg
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                else {
                    return Err(Error::template("Fn::Equals requires a list of two values"));
                };
                let (a, b) = (self.value(a, "Fn::Equals")?, self.value(b, "Fn::Equals")?);
                Ok(match (scalar_text(&a), scalar_text(&b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => a == b,
                })
            }
            "Fn::And" => Ok(bools(arg, 2, 10)?.iter().all(|b| *b)),
            "Fn::Or" => Ok(bools(arg, 2, 10)?.iter().any(|b| *b)),
            _ => Ok(!bools(arg, 1, 1)?[0]),
        }
    }

    fn boolean(&self, value: &Value) -> Result<bool> {
        match self.value(value, "condition")? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(Error::template("a condition must evaluate to a boolean")),
        }
    }

    fn find_in_map(&self, arg: &Value) -> Result<Value> {
        let Some([map, top, second]) = arg
            .as_array()
            .map(Vec::as_slice)
            .and_then(|s| <&[Value; 3]>::try_from(s).ok())
        else {
            return Err(Error::template(
                "Fn::FindInMap requires a list argument with three elements",
            ));
        };
        let map = self.string(map, "Fn::FindInMap")?;
        let top = self.string(top, "Fn::FindInMap")?;
        let second = self.string(second, "Fn::FindInMap")?;
        self.template
            .mappings
            .get(&map)
            .and_then(|m| m.get(&top))
            .and_then(|m| m.get(&second))
            .cloned()
            .ok_or_else(|| {
                Error::template(format!("Unable to get mapping for {map}::{top}::{second}"))
            })
    }
}

pub enum SubPiece {
    Text(String),
    Var(String),
}

/// Splits an Fn::Sub string into literal text and `${Var}` references; `${!Literal}` is the
/// literal `${Literal}`.
pub fn sub_pieces(text: &str) -> Result<Vec<SubPiece>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut literal = String::new();
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            literal.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        if let Some(lit) = name.strip_prefix('!') {
            literal.push_str("${");
            literal.push_str(lit);
            literal.push('}');
        } else {
            let name = name.trim();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':'));
            if !valid {
                return Err(Error::template("variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, periods, and colons"));
            }
            if !literal.is_empty() {
                out.push(SubPiece::Text(std::mem::take(&mut literal)));
            }
            out.push(SubPiece::Var(name.to_string()));
        }
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(SubPiece::Text(literal));
    }
    Ok(out)
}

/// Evaluates every condition of the template (conditions may name each other; a cycle is
/// refused).
pub fn evaluate_conditions(
    template: &Template,
    params: &BTreeMap<String, String>,
    pseudo: &Pseudo,
) -> Result<BTreeMap<String, bool>> {
    let mut done: BTreeMap<String, bool> = BTreeMap::new();
    // Repeated passes: each evaluates the conditions whose named conditions are known. A pass
    // that makes no progress means a cycle or an undefined name.
    let names: Vec<&String> = template.conditions.keys().collect();
    loop {
        let mut progress = false;
        for name in &names {
            if done.contains_key(*name) {
                continue;
            }
            let expr = &template.conditions[*name];
            let needed = crate::graph::named_conditions(expr);
            if let Some(missing) = needed
                .iter()
                .find(|n| !template.conditions.contains_key(*n))
            {
                return Err(Error::format(format!(
                    "Unresolved dependencies [{missing}]. Cannot reference resources in the Conditions block of the template"
                )));
            }
            if !needed.iter().all(|n| done.contains_key(n)) {
                continue;
            }
            let ctx = Context {
                template,
                params,
                pseudo,
                conditions: &done,
                resolver: &NoResources,
            };
            let value = ctx.boolean(expr)?;
            done.insert((*name).clone(), value);
            progress = true;
        }
        if done.len() == names.len() {
            return Ok(done);
        }
        if !progress {
            let left: Vec<&str> = names
                .iter()
                .filter(|n| !done.contains_key(**n))
                .map(|n| n.as_str())
                .collect();
            return Err(Error::format(format!(
                "Circular dependency between conditions: [{}]",
                left.join(", ")
            )));
        }
    }
}

#[cfg(test)]
mod tests;
