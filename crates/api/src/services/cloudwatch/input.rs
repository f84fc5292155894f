//! Reading request members, with CloudWatch's errors: `MissingParameter` for an absent
//! required member, `InvalidParameterValue` for one of the wrong kind or out of range.

use serde_json::Value;
use stratus_cloudwatch::Dims;
use stratus_core::{Error, Kind};

pub fn invalid(message: impl Into<String>) -> Error {
    Error::new("InvalidParameterValue", Kind::InvalidInput, message)
}

pub fn combination(message: impl Into<String>) -> Error {
    Error::new("InvalidParameterCombination", Kind::InvalidInput, message)
}

pub fn missing(name: &str) -> Error {
    Error::new(
        "MissingParameter",
        Kind::InvalidInput,
        format!("The parameter {name} is required."),
    )
}

pub fn not_found(message: impl Into<String>) -> Error {
    Error::new("ResourceNotFound", Kind::NotFound, message)
}

fn wrong(name: &str, v: &Value) -> Error {
    invalid(format!("The value {v} for parameter {name} is invalid."))
}

pub fn opt_str<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, Error> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(wrong(name, other)),
    }
}

pub fn req_str<'a>(v: &'a Value, name: &str) -> Result<&'a str, Error> {
    opt_str(v, name)?.ok_or_else(|| missing(name))
}

pub fn opt_f64(v: &Value, name: &str) -> Result<Option<f64>, Error> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        other => Err(wrong(name, other)),
    }
}

pub fn opt_int(v: &Value, name: &str) -> Result<Option<i64>, Error> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| wrong(name, &v[name])),
        other => Err(wrong(name, other)),
    }
}

pub fn req_int(v: &Value, name: &str) -> Result<i64, Error> {
    opt_int(v, name)?.ok_or_else(|| missing(name))
}

/// A timestamp member (epoch seconds, as both protocols carry it) in milliseconds.
pub fn opt_time(v: &Value, name: &str) -> Result<Option<i64>, Error> {
    Ok(opt_f64(v, name)?.map(|s| (s * 1000.0).round() as i64))
}

pub fn req_time(v: &Value, name: &str) -> Result<i64, Error> {
    opt_time(v, name)?.ok_or_else(|| missing(name))
}

pub fn opt_bool(v: &Value, name: &str) -> Result<Option<bool>, Error> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        other => Err(wrong(name, other)),
    }
}

/// A list member (absent is empty).
pub fn list<'a>(v: &'a Value, name: &str) -> Result<&'a [Value], Error> {
    match &v[name] {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        other => Err(wrong(name, other)),
    }
}

/// A list of strings, at most `max` of them.
pub fn strings(v: &Value, name: &str, max: usize) -> Result<Vec<String>, Error> {
    let items = list(v, name)?;
    if items.len() > max {
        return Err(invalid(format!(
            "The collection {name} must not have a size greater than {max}."
        )));
    }
    items
        .iter()
        .map(|i| i.as_str().map(str::to_string).ok_or_else(|| wrong(name, i)))
        .collect()
}

/// `Dimensions`: at most 30 `{Name, Value}` pairs, names unique, sorted by name.
pub fn dimensions(v: &Value, name: &str) -> Result<Dims, Error> {
    let items = list(v, name)?;
    if items.len() > 30 {
        return Err(invalid(format!(
            "The collection {name} must not have a size greater than 30."
        )));
    }
    let mut dims = Dims::new();
    for (i, d) in items.iter().enumerate() {
        let at = format!("{name}.member.{}", i + 1);
        let n = req_str(d, "Name").map_err(|_| missing(&format!("{at}.Name")))?;
        let val = req_str(d, "Value").map_err(|_| missing(&format!("{at}.Value")))?;
        if n.is_empty() || n.len() > 255 || val.is_empty() || val.len() > 1024 {
            return Err(invalid(format!(
                "The value {n} for parameter {at} is invalid."
            )));
        }
        if dims.iter().any(|(k, _)| k == n) {
            return Err(combination(format!(
                "No metric may have more than one dimension named {n}."
            )));
        }
        dims.push((n.to_string(), val.to_string()));
    }
    dims.sort();
    Ok(dims)
}

/// Dimensions as the API shapes them.
pub fn dims_json(dims: &Dims) -> Value {
    Value::Array(
        dims.iter()
            .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
            .collect(),
    )
}

/// Milliseconds as the epoch seconds both protocols carry.
pub fn secs(ms: i64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}
