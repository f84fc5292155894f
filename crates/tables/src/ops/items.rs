//! PutItem, GetItem, DeleteItem and UpdateItem. A write is first parsed and checked into a
//! [`Write`] (shared with TransactWriteItems), then run against the current item.

use std::sync::Arc;

use serde_json::{json, Value};
use stratus_core::Error;

use super::common::*;
use crate::expr::{eval, parse, update, Action, Cond};
use crate::store::Db;
use crate::streams::record::Origin;
use crate::table::Table;
use crate::value::{invalid, item_from_json, item_size, item_to_json, Item};

pub enum Kind {
    Put(Item),
    Delete,
    Update { key: Item, actions: Vec<Action> },
    Check,
}

/// One checked write request.
pub struct Write {
    pub table: Arc<Table>,
    pub pk: Vec<u8>,
    pub sk: Vec<u8>,
    pub kind: Kind,
    pub cond: Option<Cond>,
}

impl Write {
    /// Parses a Put, Delete, Update or ConditionCheck request (`kind` names it).
    pub fn parse(db: &Db, kind: &str, req: &Value) -> Result<Write, Error> {
        let table = db.table(table_name(req)?)?;
        let mut ph = placeholders(req)?;
        let (pk, sk, kind, missing) = match kind {
            "Put" => {
                if req["Item"].is_null() {
                    return Err(Error::validation(
                        "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null",
                    ));
                }
                let item = item_from_json(&req["Item"])?;
                let (pk, sk) = item_key(&table, &item)?;
                check_size(&item, false)?;
                (pk, sk, Kind::Put(item), "ConditionExpression is null")
            }
            "Update" => {
                let (pk, sk, key) = key_of(&table, &req["Key"])?;
                let actions = match req["UpdateExpression"].as_str() {
                    Some(src) => parse::update(src, &mut ph)?,
                    None => super::legacy::attribute_updates(req)?.unwrap_or_default(),
                };
                for a in &actions {
                    if let Some(crate::expr::ast::Elem::Name(n)) = a.path().first() {
                        if table.key.attrs().any(|k| &k.name == n) {
                            return Err(invalid(format!(
                                "Cannot update attribute {n}. This attribute is part of the key"
                            )));
                        }
                    }
                }
                (
                    pk,
                    sk,
                    Kind::Update { key, actions },
                    "UpdateExpression and ConditionExpression are null",
                )
            }
            "Delete" => {
                let (pk, sk, _) = key_of(&table, &req["Key"])?;
                (pk, sk, Kind::Delete, "ConditionExpression is null")
            }
            _ => {
                let (pk, sk, _) = key_of(&table, &req["Key"])?;
                (pk, sk, Kind::Check, "ConditionExpression is null")
            }
        };
        let cond = match cond_expr(req, "ConditionExpression", "ConditionExpression", &mut ph)? {
            Some(c) => Some(c),
            None => super::legacy::conditions(req, "Expected")?,
        };
        ph.check_unused(missing)?;
        Ok(Write {
            table,
            pk,
            sk,
            kind,
            cond,
        })
    }

    /// Whether the condition holds for the current item.
    pub fn holds(&self, old: Option<&Item>) -> bool {
        let empty = Item::new();
        self.cond
            .as_ref()
            .is_none_or(|c| eval::eval(old.unwrap_or(&empty), c))
    }

    /// The item after this write (`None`: no item), or why it cannot be made.
    pub fn result(&self, old: Option<&Item>) -> Result<Option<Item>, Error> {
        Ok(match &self.kind {
            Kind::Put(item) => Some(item.clone()),
            Kind::Delete => None,
            Kind::Check => old.cloned(),
            Kind::Update { key, actions } => {
                let mut new = old.cloned().unwrap_or_else(|| key.clone());
                update::apply(&mut new, actions)?;
                // Deleting from a set of an item that does not exist creates nothing.
                let deletes_only =
                    !actions.is_empty() && actions.iter().all(|a| matches!(a, Action::Delete(..)));
                if old.is_none() && deletes_only {
                    return Ok(None);
                }
                item_key(&self.table, &new)?;
                check_size(&new, true)?;
                Some(new)
            }
        })
    }

    /// Stores the result of this write over `old`, with its stream record (if the table has
    /// a stream and the item changed) in the same transaction.
    pub fn store(&self, db: &mut Db, old: Option<&Item>, new: Option<&Item>) -> Result<(), Error> {
        match (&self.kind, new) {
            (Kind::Check, _) => return Ok(()),
            (_, Some(item)) => db.put(&self.table.name, &self.pk, &self.sk, item)?,
            (_, None) => db.delete(&self.table.name, &self.pk, &self.sk)?,
        }
        db.record_change(&self.table, old, new, Origin::Caller)
    }
}

/// The ReturnValues answer of a write.
fn attributes(
    rv: &str,
    old: Option<&Item>,
    new: Option<&Item>,
    actions: &[Action],
) -> Option<Item> {
    let paths: Vec<_> = actions.iter().map(|a| a.path().clone()).collect();
    let item = match rv {
        "ALL_OLD" => old.cloned(),
        "ALL_NEW" => new.cloned(),
        "UPDATED_OLD" => old.map(|o| eval::project(o, &paths)),
        "UPDATED_NEW" => new.map(|n| eval::project(n, &paths)),
        _ => None,
    }?;
    (!item.is_empty()).then_some(item)
}

fn write(db: &mut Db, kind: &str, req: &Value, allowed: &[&str]) -> Result<Value, Error> {
    let w = Write::parse(db, kind, req)?;
    let rv = return_values(req, allowed)?;
    let old = db.get(&w.table.name, &w.pk, &w.sk)?;
    check_condition(w.cond.as_ref(), old.as_ref(), req)?;
    let new = w.result(old.as_ref())?;
    w.store(db, old.as_ref(), new.as_ref())?;
    let actions = match &w.kind {
        Kind::Update { actions, .. } => actions.as_slice(),
        _ => &[],
    };
    let mut resp = json!({});
    if let Some(a) = attributes(&rv, old.as_ref(), new.as_ref(), actions) {
        resp["Attributes"] = item_to_json(&a);
    }
    let size = old
        .as_ref()
        .map_or(0, item_size)
        .max(new.as_ref().map_or(0, item_size));
    Ok(with_capacity(resp, req, &w.table.name, write_units(size)))
}

pub fn put_item(db: &mut Db, req: &Value) -> Result<Value, Error> {
    write(db, "Put", req, &["NONE", "ALL_OLD"])
}

pub fn delete_item(db: &mut Db, req: &Value) -> Result<Value, Error> {
    write(db, "Delete", req, &["NONE", "ALL_OLD"])
}

pub fn update_item(db: &mut Db, req: &Value) -> Result<Value, Error> {
    write(
        db,
        "Update",
        req,
        &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
    )
}

pub fn get_item(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let t = db.table(table_name(req)?)?;
    let (pk, sk, _) = key_of(&t, &req["Key"])?;
    let mut ph = placeholders(req)?;
    let proj = match projection(req, &mut ph)? {
        Some(p) => Some(p),
        None => super::legacy::attributes_to_get(req)?,
    };
    ph.check_unused("ProjectionExpression is null")?;
    let item = db.get(&t.name, &pk, &sk)?;
    let size = item.as_ref().map_or(0, item_size);
    let mut resp = json!({});
    if let Some(item) = item {
        let item = match &proj {
            Some(paths) => eval::project(&item, paths),
            None => item,
        };
        resp["Item"] = item_to_json(&item);
    }
    Ok(with_capacity(
        resp,
        req,
        &t.name,
        read_units(size, consistent(req)),
    ))
}
