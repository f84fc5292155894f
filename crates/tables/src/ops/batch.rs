//! BatchWriteItem, BatchGetItem, TransactWriteItems and TransactGetItems. Like every
//! operation, each runs in one transaction of the store, so all of a batch is either stored
//! or (on a fault) none of it is; a transaction's conditions are all checked first.

use std::collections::HashSet;

use serde_json::{json, Map, Value};
use stratus_core::Error;

use super::common::*;
use super::items::{Kind, Write};
use crate::expr::eval;
use crate::store::Db;
use crate::table::constraint;
use crate::value::{item_size, item_to_json, Item};

fn request_map<'a>(
    req: &'a Value,
    member: &str,
    field: &str,
) -> Result<&'a Map<String, Value>, Error> {
    match req[member].as_object() {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(constraint(
            "{}",
            field,
            "Member must have length greater than or equal to 1",
        )),
    }
}

const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;

fn duplicates() -> Error {
    Error::validation("Provided list of item keys contains duplicates")
}

pub fn batch_write(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let tables = request_map(req, "RequestItems", "requestItems")?;
    let total: usize = tables
        .values()
        .filter_map(Value::as_array)
        .map(Vec::len)
        .sum();
    if total > 25 {
        return Err(constraint(
            &req["RequestItems"].to_string(),
            "requestItems",
            "Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ));
    }
    let mut writes = Vec::new();
    let mut seen = HashSet::new();
    for (name, list) in tables {
        for r in list.as_array().into_iter().flatten() {
            let (kind, mut body) = match (r.get("PutRequest"), r.get("DeleteRequest")) {
                (Some(p), None) => ("Put", p.clone()),
                (None, Some(d)) => ("Delete", d.clone()),
                _ => {
                    return Err(Error::validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ))
                }
            };
            body["TableName"] = json!(name);
            let w = Write::parse(db, kind, &body)?;
            if !seen.insert((name.clone(), w.pk.clone(), w.sk.clone())) {
                return Err(duplicates());
            }
            writes.push(w);
        }
    }
    let mut units: Vec<(String, f64)> = Vec::new();
    for w in &writes {
        let new = w.result(None)?;
        // The item before is read only for a stream's record (a Put or Delete does not
        // depend on it).
        let old = match w.table.stream {
            Some(_) => db.get(&w.table.name, &w.pk, &w.sk)?,
            None => None,
        };
        w.store(db, old.as_ref(), new.as_ref())?;
        let size = new.as_ref().map_or(0, item_size);
        add_units(&mut units, &w.table.name, write_units(size));
    }
    let mut resp = json!({"UnprocessedItems": {}});
    capacities(&mut resp, req, &units);
    Ok(resp)
}

fn add_units(units: &mut Vec<(String, f64)>, table: &str, n: f64) {
    match units.iter_mut().find(|(t, _)| t == table) {
        Some((_, u)) => *u += n,
        None => units.push((table.to_string(), n)),
    }
}

fn capacities(resp: &mut Value, req: &Value, units: &[(String, f64)]) {
    let list: Vec<Value> = units
        .iter()
        .filter_map(|(t, u)| capacity(req, t, *u))
        .collect();
    if !list.is_empty() {
        resp["ConsumedCapacity"] = Value::Array(list);
    }
}

pub fn batch_get(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let tables = request_map(req, "RequestItems", "requestItems")?;
    let total: usize = tables
        .values()
        .filter_map(|t| t["Keys"].as_array())
        .map(Vec::len)
        .sum();
    if total > 100 {
        return Err(Error::validation(
            "Too many items requested for the BatchGetItem call",
        ));
    }
    let mut responses = Map::new();
    let mut unprocessed = Map::new();
    let mut units = Vec::new();
    let mut bytes = 0usize;
    for (name, spec) in tables {
        let t = db.table(name)?;
        let mut ph = placeholders(spec)?;
        let proj = match projection(spec, &mut ph)? {
            Some(p) => Some(p),
            None => super::legacy::attributes_to_get(spec)?,
        };
        ph.check_unused("ProjectionExpression is null")?;
        let keys = spec["Keys"]
            .as_array()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                constraint(
                    "[]",
                    "requestItems.keys",
                    "Member must have length greater than or equal to 1",
                )
            })?;
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        let mut left = Vec::new();
        for k in keys {
            let (pk, sk, _) = key_of(&t, k)?;
            if !seen.insert((pk.clone(), sk.clone())) {
                return Err(duplicates());
            }
            if !left.is_empty() {
                left.push(k.clone());
                continue;
            }
            if let Some(item) = db.get(&t.name, &pk, &sk)? {
                // A response holds at most 16 MB; the rest is left for the caller to retry.
                bytes += item_size(&item);
                if bytes > MAX_BATCH_GET_BYTES {
                    left.push(k.clone());
                    continue;
                }
                add_units(
                    &mut units,
                    &t.name,
                    read_units(item_size(&item), consistent(spec)),
                );
                found.push(item_to_json(&match &proj {
                    Some(p) => eval::project(&item, p),
                    None => item,
                }));
            }
        }
        responses.insert(name.clone(), Value::Array(found));
        if !left.is_empty() {
            let mut rest = spec.clone();
            rest["Keys"] = Value::Array(left);
            unprocessed.insert(name.clone(), rest);
        }
    }
    let mut resp = json!({"Responses": responses, "UnprocessedKeys": unprocessed});
    capacities(&mut resp, req, &units);
    Ok(resp)
}

fn transact_items(req: &Value) -> Result<&Vec<Value>, Error> {
    let list = req["TransactItems"].as_array().ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if list.is_empty() || list.len() > 100 {
        return Err(constraint(
            "[...]",
            "transactItems",
            if list.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 100"
            },
        ));
    }
    Ok(list)
}

/// Now, in epoch seconds.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a ClientRequestToken remembers of its request: a digest of its TransactItems, enough
/// to tell a repeat from a different request under the same token.
fn request_digest(items: &Value) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(items.to_string().as_bytes()))
}

pub fn transact_write(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let list = transact_items(req)?;
    let token = req["ClientRequestToken"].as_str();
    let canonical = request_digest(&req["TransactItems"]);
    let now = now_secs();
    if let Some(t) = token {
        // Read in the same transaction that records it, so two requests racing with one
        // token run once.
        if let Some(seen) = db.token(t, now - crate::TOKEN_TTL_SECS)? {
            if seen != canonical {
                return Err(Error::new(
                    "IdempotentParameterMismatchException",
                    stratus_core::Kind::InvalidInput,
                    "The request uses the same client token as a previous, but non-identical request.",
                ));
            }
            return Ok(json!({}));
        }
    }
    let mut writes = Vec::new();
    let mut seen = HashSet::new();
    for entry in list {
        let (kind, body) = ["ConditionCheck", "Put", "Delete", "Update"]
            .iter()
            .find_map(|k| entry.get(*k).map(|b| (*k, b)))
            .ok_or_else(|| {
                Error::validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                )
            })?;
        let w = Write::parse(db, kind, body)?;
        if kind == "ConditionCheck" && w.cond.is_none() {
            return Err(Error::validation(
                "1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null",
            ));
        }
        if !seen.insert((w.table.name.clone(), w.pk.clone(), w.sk.clone())) {
            return Err(Error::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        writes.push((w, body));
    }
    let mut units = Vec::new();
    let mut results: Vec<Option<Item>> = Vec::with_capacity(writes.len());
    let mut olds: Vec<Option<Item>> = Vec::with_capacity(writes.len());
    let mut reasons = Vec::with_capacity(writes.len());
    let mut failed = false;
    for (w, body) in &writes {
        let old = db.get(&w.table.name, &w.pk, &w.sk)?;
        olds.push(old.clone());
        if !w.holds(old.as_ref()) {
            failed = true;
            let mut r = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
            if body["ReturnValuesOnConditionCheckFailure"].as_str() == Some("ALL_OLD") {
                if let Some(o) = &old {
                    r["Item"] = item_to_json(o);
                }
            }
            reasons.push(r);
            results.push(None);
            continue;
        }
        match w.result(old.as_ref()) {
            Ok(new) => {
                reasons.push(json!({"Code": "None"}));
                results.push(new);
            }
            Err(e) => {
                failed = true;
                reasons.push(json!({"Code": "ValidationError", "Message": e.message}));
                results.push(None);
            }
        }
    }
    if failed {
        let codes: Vec<&str> = reasons
            .iter()
            .map(|r| r["Code"].as_str().unwrap_or("None"))
            .collect();
        return Err(Error::new(
            "TransactionCanceledException",
            stratus_core::Kind::Conflict,
            format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
        )
        .with("CancellationReasons", Value::Array(reasons)));
    }
    for (((w, _), new), old) in writes.iter().zip(&results).zip(&olds) {
        if !matches!(w.kind, Kind::Check) {
            w.store(db, old.as_ref(), new.as_ref())?;
        }
        let size = new.as_ref().map_or(0, item_size);
        add_units(&mut units, &w.table.name, 2.0 * write_units(size));
    }
    if let Some(t) = token {
        db.save_token(t, &canonical, now)?;
    }
    let mut resp = json!({});
    capacities(&mut resp, req, &units);
    Ok(resp)
}

pub fn transact_get(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let list = transact_items(req)?;
    let mut out = Vec::with_capacity(list.len());
    let mut units = Vec::new();
    for entry in list {
        let body = entry.get("Get").ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'transactItems.1.member.get' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let t = db.table(table_name(body)?)?;
        let (pk, sk, _) = key_of(&t, &body["Key"])?;
        let mut ph = placeholders(body)?;
        let proj = projection(body, &mut ph)?;
        ph.check_unused("ProjectionExpression is null")?;
        match db.get(&t.name, &pk, &sk)? {
            Some(item) => {
                add_units(
                    &mut units,
                    &t.name,
                    2.0 * read_units(item_size(&item), true),
                );
                let item = match &proj {
                    Some(p) => eval::project(&item, p),
                    None => item,
                };
                out.push(json!({"Item": item_to_json(&item)}));
            }
            None => out.push(json!({})),
        }
    }
    let mut resp = json!({"Responses": out});
    capacities(&mut resp, req, &units);
    Ok(resp)
}
