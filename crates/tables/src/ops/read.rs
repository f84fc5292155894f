//! Query and Scan. The base table is read in key order straight from SQLite's index; a
//! secondary index is read by ordering the base table's items that carry the index's keys, so
//! an index is always consistent with its table.

use serde_json::{json, Value};
use stratus_core::Error;

use super::common::*;
use crate::expr::ast::{Cmp, Elem, Operand};
use crate::expr::{eval, parse, Cond, Path};
use crate::store::{Db, Range};
use crate::table::{constraint, Index, KeyAttr, KeySchema, Table};
use crate::value::{invalid, item_from_json, item_size, item_to_json, Attr, Item};

/// A page may hold at most this much item data before it stops with a LastEvaluatedKey.
const PAGE_BYTES: usize = 1024 * 1024;

fn limit(req: &Value) -> Result<Option<usize>, Error> {
    match req.get("Limit").and_then(Value::as_i64) {
        Some(n) if n < 1 => Err(constraint(
            &n.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) => Ok(Some(n as usize)),
        None => Ok(None),
    }
}

fn key_error(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("Invalid KeyConditionExpression: {msg}"))
}

fn flatten<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) -> Result<(), Error> {
    match c {
        Cond::And(a, b) => {
            flatten(a, out)?;
            flatten(b, out)
        }
        Cond::Or(..) => Err(key_error(
            "Invalid operator used in KeyConditionExpression: OR",
        )),
        Cond::Not(..) => Err(key_error(
            "Invalid operator used in KeyConditionExpression: NOT",
        )),
        Cond::In(..) => Err(key_error(
            "Invalid operator used in KeyConditionExpression: IN",
        )),
        Cond::Exists(_) | Cond::NotExists(_) | Cond::Type(..) | Cond::Contains(..) => {
            Err(key_error(
                "Invalid operator used in KeyConditionExpression: a function other than begins_with",
            ))
        }
        other => {
            out.push(other);
            Ok(())
        }
    }
}

fn single_name(op: &Operand) -> Option<&str> {
    match op {
        Operand::Path(p) if p.len() == 1 => match &p[0] {
            Elem::Name(n) => Some(n),
            _ => None,
        },
        _ => None,
    }
}

fn flip(op: Cmp) -> Cmp {
    match op {
        Cmp::Lt => Cmp::Gt,
        Cmp::Le => Cmp::Ge,
        Cmp::Gt => Cmp::Lt,
        Cmp::Ge => Cmp::Le,
        o => o,
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 255 {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

fn typed(k: &KeyAttr, v: &Attr) -> Result<Vec<u8>, Error> {
    if v.type_name() != k.ty {
        return Err(invalid(
            "Condition parameter type does not match schema type",
        ));
    }
    if let Some(e) = empty_key(&k.name, v) {
        return Err(e);
    }
    Ok(v.key_bytes())
}

/// A KeyConditionExpression reduced to a partition key and a sort-key range (public for the
/// fuzz targets).
pub fn key_condition(c: &Cond, schema: &KeySchema) -> Result<(Vec<u8>, Range), Error> {
    let mut parts = Vec::new();
    flatten(c, &mut parts)?;
    if parts.len() > 2 {
        return Err(Error::validation(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    // The partition key's condition first, so that errors name what is really missing.
    let names_hash = |p: &&Cond| match p {
        Cond::Cmp(_, a, b) => [a, b]
            .iter()
            .any(|o| single_name(o) == Some(schema.hash.name.as_str())),
        _ => false,
    };
    parts.sort_by_key(|p| !names_hash(p));
    let mut pk = None;
    let mut range: Option<Range> = None;
    for p in parts {
        let (name, op, values): (&str, Option<Cmp>, Vec<&Attr>) = match p {
            Cond::Cmp(op, a, Operand::Value(v)) if single_name(a).is_some() => {
                (single_name(a).unwrap_or_default(), Some(*op), vec![&**v])
            }
            Cond::Cmp(op, Operand::Value(v), b) if single_name(b).is_some() => (
                single_name(b).unwrap_or_default(),
                Some(flip(*op)),
                vec![&**v],
            ),
            Cond::Between(a, Operand::Value(lo), Operand::Value(hi))
                if single_name(a).is_some() =>
            {
                (single_name(a).unwrap_or_default(), None, vec![&**lo, &**hi])
            }
            Cond::BeginsWith(a, Operand::Value(v)) if single_name(a).is_some() => {
                (single_name(a).unwrap_or_default(), None, vec![&**v])
            }
            _ => return Err(Error::validation("Query key condition not supported")),
        };
        if name == schema.hash.name {
            if op != Some(Cmp::Eq) || pk.is_some() {
                return Err(Error::validation("Query key condition not supported"));
            }
            pk = Some(typed(&schema.hash, values[0])?);
            continue;
        }
        let Some(rk) = schema.range.as_ref().filter(|r| r.name == name) else {
            return Err(Error::validation(format!(
                "Query condition missed key schema element: {}",
                match (&pk, &schema.range) {
                    (Some(_), Some(r)) => &r.name,
                    _ => &schema.hash.name,
                }
            )));
        };
        if range.is_some() {
            return Err(Error::validation(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
        let mut r = Range::default();
        match (p, op) {
            (Cond::BeginsWith(..), _) => {
                if rk.ty == "N" {
                    return Err(key_error(
                        "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                    ));
                }
                let prefix = typed(rk, values[0])?;
                r.upper = prefix_end(&prefix).map(|e| (e, false));
                r.lower = Some((prefix, true));
            }
            (Cond::Between(..), _) => {
                r.lower = Some((typed(rk, values[0])?, true));
                r.upper = Some((typed(rk, values[1])?, true));
            }
            (_, Some(op)) => {
                let b = typed(rk, values[0])?;
                match op {
                    Cmp::Eq => {
                        r.lower = Some((b.clone(), true));
                        r.upper = Some((b, true));
                    }
                    Cmp::Lt => r.upper = Some((b, false)),
                    Cmp::Le => r.upper = Some((b, true)),
                    Cmp::Gt => r.lower = Some((b, false)),
                    Cmp::Ge => r.lower = Some((b, true)),
                    Cmp::Ne => {
                        return Err(key_error(
                            "Invalid operator used in KeyConditionExpression: <>",
                        ))
                    }
                }
            }
            _ => return Err(Error::validation("Query key condition not supported")),
        }
        range = Some(r);
    }
    let pk = pk.ok_or_else(|| {
        Error::validation(format!(
            "Query condition missed key schema element: {}",
            schema.hash.name
        ))
    })?;
    Ok((pk, range.unwrap_or_default()))
}

fn in_range(b: &[u8], r: &Range) -> bool {
    r.lower.as_ref().is_none_or(|(l, inc)| {
        if *inc {
            b >= l.as_slice()
        } else {
            b > l.as_slice()
        }
    }) && r.upper.as_ref().is_none_or(|(u, inc)| {
        if *inc {
            b <= u.as_slice()
        } else {
            b < u.as_slice()
        }
    })
}

fn cond_names(c: &Cond, out: &mut Vec<String>) {
    let mut op = |o: &Operand| operand_names(o, out);
    match c {
        Cond::Cmp(_, a, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
            op(a);
            op(b)
        }
        Cond::Between(a, b, c) => {
            op(a);
            op(b);
            op(c)
        }
        Cond::In(a, l) => {
            op(a);
            l.iter().for_each(op)
        }
        Cond::And(a, b) | Cond::Or(a, b) => {
            cond_names(a, out);
            cond_names(b, out)
        }
        Cond::Not(a) => cond_names(a, out),
        Cond::Exists(p) | Cond::NotExists(p) | Cond::Type(p, _) => path_name(p, out),
    }
}

fn path_name(p: &Path, out: &mut Vec<String>) {
    if let Some(Elem::Name(n)) = p.first() {
        out.push(n.clone());
    }
}

fn operand_names(o: &Operand, out: &mut Vec<String>) {
    match o {
        Operand::Path(p) | Operand::Size(p) => path_name(p, out),
        _ => {}
    }
}

/// Options shared by Query and Scan.
struct Read<'a> {
    table: &'a Table,
    index: Option<&'a Index>,
    limit: Option<usize>,
    filter: Option<Cond>,
    proj: Option<Vec<Path>>,
    count_only: bool,
    /// A local index read for attributes it does not project: answer from the table.
    full_items: bool,
}

impl Read<'_> {
    /// What a read of index `ix` returns of `item`, if the item is in the index.
    fn index_item(&self, ix: &Index, item: &Item) -> Option<Item> {
        let projected = self.table.index_item(ix, item)?;
        Some(if self.full_items {
            item.clone()
        } else {
            projected
        })
    }

    fn key_attrs(&self) -> Vec<&KeyAttr> {
        let mut v: Vec<&KeyAttr> = self.table.key.attrs().collect();
        if let Some(ix) = self.index {
            for k in ix.key.attrs() {
                if !v.iter().any(|x| x.name == k.name) {
                    v.push(k);
                }
            }
        }
        v
    }

    /// The sort position of an item in an index: index keys, then table keys.
    fn index_position(&self, ix: &Index, item: &Item, with_hash: bool) -> Option<Vec<Vec<u8>>> {
        let mut pos = Vec::with_capacity(4);
        if with_hash {
            pos.push(item.get(&ix.key.hash.name)?.key_bytes());
        }
        if let Some(r) = &ix.key.range {
            pos.push(item.get(&r.name)?.key_bytes());
        }
        for k in self.table.key.attrs() {
            pos.push(item.get(&k.name)?.key_bytes());
        }
        Some(pos)
    }

    /// Filters, projects and pages items given in read order.
    fn page(&self, req: &Value, rows: impl IntoIterator<Item = Item>) -> Value {
        let mut items = Vec::new();
        let (mut scanned, mut bytes) = (0usize, 0usize);
        let mut last = None;
        let empty = Item::new();
        for item in rows {
            scanned += 1;
            bytes += item_size(&item);
            let keep = self.filter.as_ref().is_none_or(|f| eval::eval(&item, f));
            let full = self.limit == Some(scanned) || bytes >= PAGE_BYTES;
            if full {
                last = Some(key_item(&item, self.key_attrs().into_iter()));
            }
            if keep {
                items.push(match &self.proj {
                    Some(p) => eval::project(&item, p),
                    None => item,
                });
            }
            if full {
                break;
            }
        }
        let _ = &empty;
        let mut resp = json!({"Count": items.len(), "ScannedCount": scanned});
        if !self.count_only {
            resp["Items"] = items.iter().map(item_to_json).collect();
        }
        if let Some(l) = last {
            resp["LastEvaluatedKey"] = item_to_json(&l);
        }
        let units = read_units(bytes, consistent(req));
        with_capacity(resp, req, &self.table.name, units)
    }
}

fn start_key(req: &Value) -> Result<Option<Item>, Error> {
    match req.get("ExclusiveStartKey").filter(|v| !v.is_null()) {
        Some(v) => item_from_json(v).map(Some),
        None => Ok(None),
    }
}

fn bad_start() -> Error {
    Error::validation(
        "The provided starting key is invalid: The provided key element does not match the schema",
    )
}

/// Parses what Query and Scan share.
fn prepare<'a>(
    req: &'a Value,
    t: &'a Table,
    ph: &mut crate::expr::Placeholders,
    query: bool,
) -> Result<Read<'a>, Error> {
    let index = req["IndexName"].as_str().map(|n| t.index(n)).transpose()?;
    if index.is_some_and(|i| i.global) && consistent(req) {
        return Err(Error::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    let select = req["Select"].as_str().unwrap_or("");
    const SELECT: &[&str] = &[
        "",
        "ALL_ATTRIBUTES",
        "ALL_PROJECTED_ATTRIBUTES",
        "SPECIFIC_ATTRIBUTES",
        "COUNT",
    ];
    if !SELECT.contains(&select) {
        return Err(constraint(
            select,
            "select",
            "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
        ));
    }
    if select == "ALL_PROJECTED_ATTRIBUTES" && index.is_none() {
        return Err(Error::validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ));
    }
    let filter = match cond_expr(req, "FilterExpression", "FilterExpression", ph)? {
        Some(f) => Some(f),
        None => super::legacy::conditions(req, if query { "QueryFilter" } else { "ScanFilter" })?,
    };
    let proj = match projection(req, ph)? {
        Some(p) => Some(p),
        None => super::legacy::attributes_to_get(req)?,
    };
    if select == "SPECIFIC_ATTRIBUTES" && proj.is_none() {
        return Err(Error::validation(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ));
    }
    if proj.is_some() && !["", "SPECIFIC_ATTRIBUTES"].contains(&select) {
        return Err(Error::validation(if select == "COUNT" {
            format!(
                "{}Cannot specify the ProjectionExpression when choosing to get only the Count",
                if query {
                    "1 validation error detected: "
                } else {
                    ""
                }
            )
        } else {
            format!("Cannot specify the ProjectionExpression when choosing to get {select}")
        }));
    }
    let mut full_items = false;
    if let Some(ix) = index.filter(|ix| ix.projected().is_some()) {
        if !ix.global {
            full_items = select == "ALL_ATTRIBUTES" || proj.is_some();
        } else if select == "ALL_ATTRIBUTES" {
            return Err(invalid(format!(
                "Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                ix.name
            )));
        } else if let Some(paths) = &proj {
            let extra = ix.projected().unwrap_or_default();
            let mut missing: Vec<&str> = Vec::new();
            for p in paths {
                if let Some(Elem::Name(n)) = p.first() {
                    let known = t.key.attrs().chain(ix.key.attrs()).any(|k| &k.name == n)
                        || extra.contains(n);
                    if !known && !missing.contains(&n.as_str()) {
                        missing.push(n);
                    }
                }
            }
            if !missing.is_empty() {
                return Err(invalid(format!(
                    "Global secondary index {} does not project [{}]",
                    ix.name,
                    missing.join(", ")
                )));
            }
        }
    }
    Ok(Read {
        table: t,
        index,
        limit: limit(req)?,
        filter,
        proj,
        count_only: select == "COUNT",
        full_items,
    })
}

pub fn query(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let t = db.table(table_name(req)?)?;
    let mut ph = placeholders(req)?;
    let kc = match req["KeyConditionExpression"].as_str() {
        Some(src) => parse::condition(src, "KeyConditionExpression", &mut ph)?,
        None => super::legacy::conditions(req, "KeyConditions")?.ok_or_else(|| {
            Error::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            )
        })?,
    };
    let read = prepare(req, &t, &mut ph, true)?;
    ph.check_unused("")?;
    let schema = read.index.map_or(&t.key, |i| &i.key);
    let (pk, range) = key_condition(&kc, schema)?;
    if let Some(f) = &read.filter {
        let mut names = Vec::new();
        cond_names(f, &mut names);
        if let Some(k) = names.iter().find(|n| schema.attrs().any(|k| &k.name == *n)) {
            return Err(Error::validation(format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
            )));
        }
    }
    let forward = req["ScanIndexForward"].as_bool().unwrap_or(true);
    let start = start_key(req)?;
    let rows: Vec<Item> = match read.index {
        None => {
            let after = match &start {
                Some(s) => {
                    let (spk, sk, _) = key_of(&t, &item_to_json(s)).map_err(|_| bad_start())?;
                    if spk != pk {
                        return Err(Error::validation(
                            "The provided starting key is outside query boundaries based on provided conditions",
                        ));
                    }
                    Some(sk)
                }
                None => None,
            };
            // With no sort key a partition holds one item, which ExclusiveStartKey passes.
            if start.is_some() && t.key.range.is_none() {
                Vec::new()
            } else {
                let n = read.limit.unwrap_or(usize::MAX / 2).min(i64::MAX as usize);
                db.query(&t.name, &pk, &range, forward, after.as_deref(), n)?
                    .into_iter()
                    .map(|r| r.item)
                    .collect()
            }
        }
        Some(ix) => {
            let mut rows = Vec::new();
            db.scan(&t.name, None, |row| {
                if row
                    .item
                    .get(&ix.key.hash.name)
                    .map(Attr::key_bytes)
                    .as_deref()
                    != Some(&pk[..])
                {
                    return Ok(true);
                }
                let isk = match &ix.key.range {
                    Some(r) => match row.item.get(&r.name) {
                        Some(v) => v.key_bytes(),
                        None => return Ok(true),
                    },
                    None => Vec::new(),
                };
                if !in_range(&isk, &range) {
                    return Ok(true);
                }
                if let (Some(pos), Some(item)) = (
                    read.index_position(ix, &row.item, false),
                    read.index_item(ix, &row.item),
                ) {
                    rows.push((pos, item));
                }
                Ok(true)
            })?;
            ordered(&read, ix, rows, forward, start.as_ref(), false)?
        }
    };
    Ok(read.page(req, rows))
}

/// Sorts index rows and skips to just after ExclusiveStartKey.
fn ordered(
    read: &Read,
    ix: &Index,
    mut rows: Vec<(Vec<Vec<u8>>, Item)>,
    forward: bool,
    start: Option<&Item>,
    with_hash: bool,
) -> Result<Vec<Item>, Error> {
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if !forward {
        rows.reverse();
    }
    let from = match start {
        Some(s) => {
            let pos = read
                .index_position(ix, s, with_hash)
                .ok_or_else(bad_start)?;
            rows.iter()
                .position(|(p, _)| if forward { *p > pos } else { *p < pos })
                .unwrap_or(rows.len())
        }
        None => 0,
    };
    Ok(rows.into_iter().skip(from).map(|(_, i)| i).collect())
}

pub fn scan(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let t = db.table(table_name(req)?)?;
    let mut ph = placeholders(req)?;
    let read = prepare(req, &t, &mut ph, false)?;
    ph.check_unused("")?;
    let segment = segment(req)?;
    let in_segment = |pk: &[u8]| segment.is_none_or(|(s, n)| crc32fast::hash(pk) % n == s);
    let start = start_key(req)?;
    if let Some(s) = &start {
        // A parallel scan resumes only inside its own segment.
        let table_key = key_item(s, t.key.attrs());
        if let Ok((pk, _, _)) = key_of(&t, &item_to_json(&table_key)) {
            if !in_segment(&pk) {
                return Err(Error::validation(
                    "The provided Exclusive start key does not map to the provided Segment and TotalSegments values.",
                ));
            }
        }
    }
    match read.index {
        None => {
            let after = match &start {
                Some(s) => Some(key_of(&t, &item_to_json(s)).map_err(|_| bad_start())?),
                None => None,
            };
            let mut rows = Vec::new();
            let mut bytes = 0;
            db.scan(
                &t.name,
                after.as_ref().map(|(p, s, _)| (p.as_slice(), s.as_slice())),
                |row| {
                    if in_segment(&row.pk) {
                        bytes += item_size(&row.item);
                        rows.push(row.item);
                    }
                    Ok(read.limit != Some(rows.len()) && bytes < PAGE_BYTES)
                },
            )?;
            Ok(read.page(req, rows))
        }
        Some(ix) => {
            let mut rows = Vec::new();
            db.scan(&t.name, None, |row| {
                if !in_segment(&row.pk) {
                    return Ok(true);
                }
                if let (Some(pos), Some(item)) = (
                    read.index_position(ix, &row.item, true),
                    read.index_item(ix, &row.item),
                ) {
                    rows.push((pos, item));
                }
                Ok(true)
            })?;
            let rows = ordered(&read, ix, rows, true, start.as_ref(), true)?;
            Ok(read.page(req, rows))
        }
    }
}

fn segment(req: &Value) -> Result<Option<(u32, u32)>, Error> {
    let seg = req.get("Segment").and_then(Value::as_i64);
    let total = req.get("TotalSegments").and_then(Value::as_i64);
    match (seg, total) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::validation(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
        )),
        (None, Some(_)) => Err(Error::validation(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
        )),
        (Some(s), Some(n)) => {
            if !(1..=1_000_000).contains(&n) {
                return Err(constraint(
                    &n.to_string(),
                    "totalSegments",
                    if n < 1 {
                        "Member must have value greater than or equal to 1"
                    } else {
                        "Member must have value less than or equal to 1000000"
                    },
                ));
            }
            if s < 0 {
                return Err(constraint(
                    &s.to_string(),
                    "segment",
                    "Member must have value greater than or equal to 0",
                ));
            }
            if s >= n {
                return Err(Error::validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}"
                )));
            }
            Ok(Some((s as u32, n as u32)))
        }
    }
}
