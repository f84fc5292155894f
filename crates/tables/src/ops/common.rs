//! What the item operations share: keys from requests and items, return-value and capacity
//! options, expressions named in a request, and the errors AWS gives for them.

use serde_json::{json, Value};
use stratus_core::{Error, Kind};

use crate::expr::{eval, parse, Cond, Path, Placeholders};
use crate::table::{constraint, KeyAttr, Table};
use crate::value::{
    invalid, item_from_json, item_size, item_to_json, nesting_error, Attr, Item, MAX_NESTING_LEVELS,
};

pub const MAX_ITEM: usize = crate::value::MAX_ITEM_BYTES;

pub fn table_name(req: &Value) -> Result<&str, Error> {
    let name = req["TableName"].as_str().ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
        )
    })?;
    // The SDKs accept a table's ARN wherever they accept its name.
    let name = match name.strip_prefix("arn:") {
        Some(rest) => rest
            .split_once(":table/")
            .map(|(_, n)| n.split('/').next().unwrap_or(n))
            .unwrap_or(name),
        None => name,
    };
    // The member also takes an ARN (1 to 1024 characters), so only the characters of a plain
    // name are checked here (as AWS does); CreateTable checks its length too.
    if !name.starts_with("arn:")
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(crate::table::constraint(
            name,
            "tableName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    if name.len() > 1024 {
        return Err(crate::table::constraint(
            name,
            "tableName",
            "Member must have length less than or equal to 1024",
        ));
    }
    Ok(name)
}

/// AWS refuses a request that mixes the legacy parameters with expressions. KeyConditions is
/// the exception: AWS takes it with a FilterExpression or ProjectionExpression, and refuses
/// it only beside a KeyConditionExpression.
pub fn no_mixed_parameters(req: &Value) -> Result<(), Error> {
    let given = |n: &str| req.get(n).is_some_and(|v| !v.is_null());
    if given("KeyConditions") && given("KeyConditionExpression") {
        return Err(Error::validation(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}",
        ));
    }
    const LEGACY: &[&str] = &[
        "AttributesToGet",
        "QueryFilter",
        "ScanFilter",
        "Expected",
        "AttributeUpdates",
        "ConditionalOperator",
    ];
    const EXPRESSIONS: &[&str] = &[
        "ProjectionExpression",
        "KeyConditionExpression",
        "FilterExpression",
        "ConditionExpression",
        "UpdateExpression",
    ];
    let present = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| req.get(**n).is_some_and(|v| !v.is_null()))
            .map(|n| n.to_string())
            .collect()
    };
    let (legacy, expressions) = (present(LEGACY), present(EXPRESSIONS));
    if !legacy.is_empty() && !expressions.is_empty() {
        return Err(Error::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            legacy.join(", "),
            expressions.join(", ")
        )));
    }
    Ok(())
}

pub fn schema_mismatch() -> Error {
    Error::validation("The provided key element does not match the schema")
}

pub fn empty_key(name: &str, v: &Attr) -> Option<Error> {
    let what = match v {
        Attr::S(s) if s.is_empty() => "string",
        Attr::B(b) if b.is_empty() => "binary",
        _ => return None,
    };
    Some(Error::validation(format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {what} value. Key: {name}"
    )))
}

/// Key bytes of one key attribute of a Key parameter.
fn key_part(k: &KeyAttr, key: &Item) -> Result<Vec<u8>, Error> {
    let v = key.get(&k.name).ok_or_else(schema_mismatch)?;
    if v.type_name() != k.ty {
        return Err(schema_mismatch());
    }
    if let Some(e) = empty_key(&k.name, v) {
        return Err(e);
    }
    Ok(v.key_bytes())
}

/// The (partition, sort) key bytes named by a `Key` parameter, and the key as an item.
pub fn key_of(t: &Table, key: &Value) -> Result<(Vec<u8>, Vec<u8>, Item), Error> {
    if key.is_null() {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null",
        ));
    }
    let key = item_from_json(key)?;
    if key.len() != t.key.attrs().count() {
        return Err(schema_mismatch());
    }
    let pk = key_part(&t.key.hash, &key)?;
    let sk = match &t.key.range {
        Some(r) => key_part(r, &key)?,
        None => Vec::new(),
    };
    Ok((pk, sk, key))
}

/// The key bytes of a whole item, with PutItem's checks of table and index keys and sizes.
pub fn item_key(t: &Table, item: &Item) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut parts = Vec::with_capacity(2);
    for k in t.key.attrs() {
        let v = item
            .get(&k.name)
            .ok_or_else(|| invalid(format!("Missing the key {} in the item", k.name)))?;
        if v.type_name() != k.ty {
            return Err(invalid(format!(
                "Type mismatch for key {} expected: {} actual: {}",
                k.name,
                k.ty,
                v.type_name()
            )));
        }
        if let Some(e) = empty_key(&k.name, v) {
            return Err(e);
        }
        parts.push(v.key_bytes());
    }
    for ix in &t.indexes {
        for k in ix.key.attrs() {
            let Some(v) = item.get(&k.name) else { continue };
            if v.type_name() != k.ty {
                return Err(invalid(format!(
                    "Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    k.name,
                    k.ty,
                    v.type_name(),
                    ix.name
                )));
            }
            if matches!(v, Attr::S(s) if s.is_empty()) || matches!(v, Attr::B(b) if b.is_empty()) {
                return Err(Error::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: {}, IndexKey: {}",
                    ix.name, k.name
                )));
            }
        }
    }
    let hash = item.get(&t.key.hash.name).map_or(0, Attr::size);
    if hash > 2048 {
        return Err(invalid(
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if let Some(r) = &t.key.range {
        if item.get(&r.name).map_or(0, Attr::size) > 1024 {
            return Err(invalid(
                "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
            ));
        }
    }
    let sk = if parts.len() > 1 {
        parts.pop().unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok((parts.pop().unwrap_or_default(), sk))
}

/// The key attributes of an item, as a key map (LastEvaluatedKey and friends).
pub fn key_item<'a>(item: &Item, attrs: impl Iterator<Item = &'a KeyAttr>) -> Item {
    attrs
        .filter_map(|k| item.get(&k.name).map(|v| (k.name.clone(), v.clone())))
        .collect()
}

/// Whether a value at nesting `level` keeps within AWS's limit. The walk stops at the limit,
/// so it never recurses deeper than that, however deep an update made the value.
fn within_levels(v: &Attr, level: usize) -> bool {
    let deeper = level < MAX_NESTING_LEVELS;
    match v {
        Attr::L(l) => l.is_empty() || deeper && l.iter().all(|e| within_levels(e, level + 1)),
        Attr::M(m) => m.is_empty() || deeper && m.values().all(|e| within_levels(e, level + 1)),
        _ => true,
    }
}

pub fn check_size(item: &Item, update: bool) -> Result<(), Error> {
    if !item.values().all(|v| within_levels(v, 1)) {
        return Err(nesting_error());
    }
    if item_size(item) > MAX_ITEM {
        return Err(Error::validation(if update {
            "Item size to update has exceeded the maximum allowed size"
        } else {
            "Item size has exceeded the maximum allowed size"
        }));
    }
    Ok(())
}

/// ReturnValues, checked against the enum and against what this operation allows.
pub fn return_values(req: &Value, allowed: &[&str]) -> Result<String, Error> {
    let rv = req["ReturnValues"].as_str().unwrap_or("NONE");
    const ALL: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
    if !ALL.contains(&rv) {
        return Err(constraint(
            rv,
            "returnValues",
            "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
        ));
    }
    if !allowed.contains(&rv) {
        // PutItem and DeleteItem take only these two.
        return Err(Error::validation(
            "ReturnValues can only be ALL_OLD or NONE",
        ));
    }
    Ok(rv.to_string())
}

/// An optional condition-like expression of the request.
pub fn cond_expr(
    req: &Value,
    member: &str,
    label: &'static str,
    ph: &mut Placeholders,
) -> Result<Option<Cond>, Error> {
    match req[member].as_str() {
        Some(src) => parse::condition(src, label, ph).map(Some),
        None => Ok(None),
    }
}

pub fn projection(req: &Value, ph: &mut Placeholders) -> Result<Option<Vec<Path>>, Error> {
    match req["ProjectionExpression"].as_str() {
        Some(src) => parse::projection(src, ph).map(Some),
        None => Ok(None),
    }
}

pub fn placeholders(req: &Value) -> Result<Placeholders<'_>, Error> {
    no_mixed_parameters(req)?;
    Placeholders::new(
        req.get("ExpressionAttributeNames"),
        req.get("ExpressionAttributeValues"),
    )
}

/// Checks a write's condition against the current item.
pub fn check_condition(cond: Option<&Cond>, old: Option<&Item>, req: &Value) -> Result<(), Error> {
    let Some(c) = cond else { return Ok(()) };
    let empty = Item::new();
    if eval::eval(old.unwrap_or(&empty), c) {
        return Ok(());
    }
    let mut e = Error::new(
        "ConditionalCheckFailedException",
        Kind::PreconditionFailed,
        "The conditional request failed",
    );
    if req["ReturnValuesOnConditionCheckFailure"].as_str() == Some("ALL_OLD") {
        if let Some(old) = old {
            e = e.with("Item", item_to_json(old));
        }
    }
    Err(e)
}

/// Capacity units: reads per 4 KB (half for eventually consistent), writes per 1 KB.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// ConsumedCapacity, when the request asked for it.
pub fn capacity(req: &Value, table: &str, units: f64) -> Option<Value> {
    match req["ReturnConsumedCapacity"].as_str() {
        Some("TOTAL") => Some(json!({"TableName": table, "CapacityUnits": units})),
        Some("INDEXES") => Some(json!({
            "TableName": table, "CapacityUnits": units, "Table": {"CapacityUnits": units}
        })),
        _ => None,
    }
}

/// Adds ConsumedCapacity to a response if asked for.
pub fn with_capacity(mut resp: Value, req: &Value, table: &str, units: f64) -> Value {
    if let Some(c) = capacity(req, table, units) {
        resp["ConsumedCapacity"] = c;
    }
    resp
}

pub fn consistent(req: &Value) -> bool {
    req["ConsistentRead"].as_bool().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string inside `maps` single-key maps.
    fn nested(maps: usize) -> Attr {
        let mut v = Attr::S("leaf".into());
        for _ in 0..maps {
            v = Attr::M([("n".to_string(), v)].into_iter().collect());
        }
        v
    }

    #[test]
    fn items_nest_at_most_32_levels() {
        let item = |v: Attr| -> Item { [("a".to_string(), v)].into_iter().collect() };
        assert!(check_size(&item(nested(31)), false).is_ok());
        assert_eq!(
            check_size(&item(nested(32)), true).unwrap_err().message,
            nesting_error().message
        );
        // An update can build an item far deeper than any request value: still refused,
        // and the walk stops at the limit.
        assert!(check_size(&item(nested(5000)), true).is_err());
        assert!(check_size(&item(Attr::M(Item::new())), false).is_ok());
    }
}
