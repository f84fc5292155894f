//! Entry points for fuzz targets: each takes untrusted text or JSON as a request would carry
//! it and runs the same code a request runs, returning AWS's error or the parsed form. None of
//! them may panic or recurse without bound, whatever the input.

use serde_json::Value;
use stratus_core::Error;

use crate::expr::ast::{Action, Cond, Path};
use crate::expr::{eval, parse, update, Placeholders};
use crate::value::{item_from_json, Attr, Item};

/// A condition expression (`label`: ConditionExpression, FilterExpression or
/// KeyConditionExpression) with its request's ExpressionAttributeNames and Values.
pub fn condition(
    src: &str,
    label: &'static str,
    names: Option<&Value>,
    values: Option<&Value>,
) -> Result<Cond, Error> {
    let mut ph = Placeholders::new(names, values)?;
    parse::condition(src, label, &mut ph)
}

/// An UpdateExpression with its placeholders.
pub fn update_expression(
    src: &str,
    names: Option<&Value>,
    values: Option<&Value>,
) -> Result<Vec<Action>, Error> {
    let mut ph = Placeholders::new(names, values)?;
    parse::update(src, &mut ph)
}

/// A ProjectionExpression with its ExpressionAttributeNames.
pub fn projection(src: &str, names: Option<&Value>) -> Result<Vec<Path>, Error> {
    let mut ph = Placeholders::new(names, None)?;
    parse::projection(src, &mut ph)
}

/// One AttributeValue in DynamoDB JSON (`{"S": "x"}`).
pub fn attribute_value(v: &Value) -> Result<Attr, Error> {
    Attr::from_json(v)
}

/// An item (attribute name → AttributeValue) in DynamoDB JSON.
pub fn item(v: &Value) -> Result<Item, Error> {
    item_from_json(v)
}

/// Whether `cond` holds for `item`.
pub fn evaluate(item: &Item, cond: &Cond) -> bool {
    eval::eval(item, cond)
}

/// Applies update actions to `item`, as UpdateItem does before its size checks.
pub fn apply_update(item: &mut Item, actions: &[Action]) -> Result<(), Error> {
    update::apply(item, actions)
}
