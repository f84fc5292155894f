//! Applying an UpdateExpression's actions to an item. Every SET value is computed from the item
//! as it was before the update, then the actions are applied in order, as DynamoDB does.

use stratus_core::Error;

use super::ast::{Action, Elem, Operand, Path};
use super::eval::resolve;
use crate::value::{Attr, Item, MAX_ITEM_BYTES};

fn bad_type() -> Error {
    Error::validation("An operand in the update expression has an incorrect data type")
}

fn invalid_path() -> Error {
    Error::validation("The document path provided in the update expression is invalid for update")
}

fn show(p: &Path) -> String {
    let parts: Vec<String> = p
        .iter()
        .map(|e| match e {
            Elem::Name(n) => n.clone(),
            Elem::Index(i) => format!("[{i}]"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

pub fn overlap_message(a: &Path, b: &Path) -> String {
    format!(
        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
        show(a),
        show(b)
    )
}

/// Whether two paths name the same place, one inside the other, or the same place as both a
/// map and a list (AWS rejects all three in one expression).
pub fn path_clash(a: &Path, b: &Path) -> Option<String> {
    if a.starts_with(b) || b.starts_with(a) {
        return Some(overlap_message(a, b));
    }
    let i = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match (&a[i], &b[i]) {
        (Elem::Name(_), Elem::Index(_)) | (Elem::Index(_), Elem::Name(_)) => Some(format!(
            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
            show(a),
            show(b)
        )),
        _ => None,
    }
}

/// AWS rejects an update in which two actions' paths overlap or conflict.
pub fn check_overlap(actions: &[Action]) -> Result<(), String> {
    for (i, a) in actions.iter().enumerate() {
        for b in &actions[..i] {
            if let Some(m) = path_clash(b.path(), a.path()) {
                return Err(m);
            }
        }
    }
    Ok(())
}

fn operand(item: &Item, op: &Operand) -> Result<Attr, Error> {
    let missing = || {
        Error::validation(
            "The provided expression refers to an attribute that does not exist in the item",
        )
    };
    Ok(match op {
        Operand::Path(p) => resolve(item, p).cloned().ok_or_else(missing)?,
        Operand::Value(v) => (**v).clone(),
        Operand::IfNotExists(p, v) => match resolve(item, p) {
            Some(v) => v.clone(),
            None => operand(item, v)?,
        },
        Operand::ListAppend(a, b) => match (operand(item, a)?, operand(item, b)?) {
            (Attr::L(mut a), Attr::L(b)) => {
                // A list past the item limit cannot be stored: stop before growing it.
                let bytes: usize = a.iter().chain(&b).map(Attr::size).sum();
                if bytes > MAX_ITEM_BYTES {
                    return Err(Error::validation(
                        "Item size to update has exceeded the maximum allowed size",
                    ));
                }
                a.extend(b);
                Attr::L(a)
            }
            _ => return Err(bad_type()),
        },
        Operand::Plus(a, b) | Operand::Minus(a, b) => {
            match (operand(item, a)?, operand(item, b)?) {
                (Attr::N(a), Attr::N(b)) => Attr::N(if matches!(op, Operand::Plus(..)) {
                    a.add(&b)?
                } else {
                    a.sub(&b)?
                }),
                _ => return Err(bad_type()),
            }
        }
        Operand::Size(_) => return Err(bad_type()),
    })
}

/// Applies `actions` to `item` in place.
pub fn apply(item: &mut Item, actions: &[Action]) -> Result<(), Error> {
    let mut values = Vec::with_capacity(actions.len());
    // SET paths never overlap, so every value set ends up in the item: once their sizes pass
    // the item limit the update must fail, and stopping here bounds the copies it makes.
    let mut set_bytes = 0;
    for a in actions {
        values.push(match a {
            Action::Set(_, op) => {
                let v = operand(item, op)?;
                set_bytes += v.size();
                if set_bytes > MAX_ITEM_BYTES {
                    return Err(Error::validation(
                        "Item size to update has exceeded the maximum allowed size",
                    ));
                }
                Some(v)
            }
            _ => None,
        });
    }
    let mut removes = Vec::new();
    // No two paths overlap, so the order of the writes matters only where several append to
    // one list (`SET l[7] = :a, l[5] = :b` past its end): AWS appends in index order.
    let mut ordered: Vec<(&Action, Option<Attr>)> = actions.iter().zip(values).collect();
    ordered.sort_by(|a, b| a.0.path().cmp(b.0.path()));
    for (a, v) in ordered {
        match a {
            Action::Set(p, _) => set(item, p, v.unwrap_or(Attr::Null))?,
            Action::Remove(p) => removes.push(p),
            Action::Add(p, v) => add(item, p, v)?,
            Action::Delete(p, v) => delete(item, p, v)?,
        }
    }
    // List indexes name the elements as they were: remove from the back.
    removes.sort();
    for p in removes.into_iter().rev() {
        remove(item, p)?;
    }
    Ok(())
}

/// The container holding the last element of `path`, which must exist.
fn parent<'a>(item: &'a mut Item, path: &[Elem]) -> Result<Option<&'a mut Attr>, Error> {
    if path.len() == 1 {
        return Ok(None);
    }
    let Some(Elem::Name(first)) = path.first() else {
        return Err(invalid_path());
    };
    let mut cur = item.get_mut(first).ok_or_else(invalid_path)?;
    for e in &path[1..path.len() - 1] {
        cur = match (e, cur) {
            (Elem::Name(n), Attr::M(m)) => m.get_mut(n).ok_or_else(invalid_path)?,
            (Elem::Index(i), Attr::L(l)) => l.get_mut(*i).ok_or_else(invalid_path)?,
            _ => return Err(invalid_path()),
        };
    }
    Ok(Some(cur))
}

fn set(item: &mut Item, path: &[Elem], v: Attr) -> Result<(), Error> {
    let last = path.last().ok_or_else(invalid_path)?;
    match (parent(item, path)?, last) {
        (None, Elem::Name(n)) => {
            item.insert(n.clone(), v);
        }
        (Some(Attr::M(m)), Elem::Name(n)) => {
            m.insert(n.clone(), v);
        }
        (Some(Attr::L(l)), Elem::Index(i)) => {
            if *i < l.len() {
                l[*i] = v;
            } else {
                l.push(v);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn remove(item: &mut Item, path: &[Elem]) -> Result<(), Error> {
    let last = path.last().ok_or_else(invalid_path)?;
    match (parent(item, path), last) {
        (Ok(None), Elem::Name(n)) => {
            item.remove(n);
        }
        (Ok(Some(Attr::M(m))), Elem::Name(n)) => {
            m.remove(n);
        }
        (Ok(Some(Attr::L(l))), Elem::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        // Removing beneath a missing parent changes nothing.
        (Err(_), _) => {}
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn current<'a>(item: &'a Item, path: &[Elem]) -> Option<&'a Attr> {
    resolve(item, &path.to_vec())
}

fn add(item: &mut Item, path: &[Elem], v: &Attr) -> Result<(), Error> {
    let next = match (current(item, path), v) {
        (None, Attr::N(_) | Attr::Ss(_) | Attr::Ns(_) | Attr::Bs(_)) => v.clone(),
        (None, other) => {
            return Err(Error::validation(format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                other.long_type_name()
            )))
        }
        (Some(Attr::N(a)), Attr::N(b)) => Attr::N(a.add(b)?),
        (Some(Attr::Ss(a)), Attr::Ss(b)) => Attr::Ss(union(a, b)),
        (Some(Attr::Ns(a)), Attr::Ns(b)) => Attr::Ns(union(a, b)),
        (Some(Attr::Bs(a)), Attr::Bs(b)) => Attr::Bs(union(a, b)),
        _ => return Err(bad_type()),
    };
    set(item, path, next)
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|x| !a.contains(x)).cloned());
    out
}

fn minus<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

fn delete(item: &mut Item, path: &[Elem], v: &Attr) -> Result<(), Error> {
    if !matches!(v, Attr::Ss(_) | Attr::Ns(_) | Attr::Bs(_)) {
        return Err(Error::validation(format!(
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
            v.long_type_name()
        )));
    }
    let next = match (current(item, path), v) {
        (None, _) => return Ok(()),
        (Some(Attr::Ss(a)), Attr::Ss(b)) => Attr::Ss(minus(a, b)),
        (Some(Attr::Ns(a)), Attr::Ns(b)) => Attr::Ns(minus(a, b)),
        (Some(Attr::Bs(a)), Attr::Bs(b)) => Attr::Bs(minus(a, b)),
        _ => return Err(bad_type()),
    };
    let empty = match &next {
        Attr::Ss(l) => l.is_empty(),
        Attr::Ns(l) => l.is_empty(),
        Attr::Bs(l) => l.is_empty(),
        _ => false,
    };
    if empty {
        remove(item, path)
    } else {
        set(item, path, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse::{update, Placeholders};
    use crate::value::{item_from_json, item_to_json};
    use serde_json::json;

    fn run(item: serde_json::Value, expr: &str, values: serde_json::Value) -> serde_json::Value {
        let mut item = item_from_json(&item).unwrap();
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        let actions = update(expr, &mut ph).unwrap();
        apply(&mut item, &actions).unwrap();
        item_to_json(&item)
    }

    #[test]
    fn set_remove_add_delete() {
        let out = run(
            json!({"n": {"N": "1"}, "l": {"L": [{"S": "a"}]}, "s": {"SS": ["x", "y"]}, "gone": {"S": "z"}}),
            "SET n = n + :one, l = list_append(l, :l), m = if_not_exists(m, :one) REMOVE gone ADD c :one DELETE s :x",
            json!({":one": {"N": "1"}, ":l": {"L": [{"S": "b"}]}, ":x": {"SS": ["x"]}}),
        );
        assert_eq!(
            out,
            json!({"n": {"N": "2"}, "l": {"L": [{"S": "a"}, {"S": "b"}]}, "m": {"N": "1"},
                   "c": {"N": "1"}, "s": {"SS": ["y"]}})
        );
    }

    #[test]
    fn values_come_from_the_old_item() {
        let out = run(
            json!({"a": {"N": "1"}, "b": {"N": "2"}}),
            "SET a = b, b = a",
            json!({})
                .as_object()
                .map(|_| json!({":z": {"N": "0"}}))
                .unwrap(),
        );
        assert_eq!(out["a"], json!({"N": "2"}));
        assert_eq!(out["b"], json!({"N": "1"}));
    }

    #[test]
    fn appends_past_the_end_follow_index_order() {
        let out = run(
            json!({"l": {"L": [{"N": "0"}]}}),
            "SET l[9] = :b, l[4] = :a",
            json!({":a": {"S": "a"}, ":b": {"S": "b"}}),
        );
        assert_eq!(out["l"], json!({"L": [{"N": "0"}, {"S": "a"}, {"S": "b"}]}));
    }

    #[test]
    fn values_past_the_item_limit_stop_the_update_early() {
        let big = json!({"S": "x".repeat(150_000)});
        let mut item = item_from_json(&json!({"k": {"S": "1"}})).unwrap();
        let values = json!({":big": big});
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        let actions = update("SET a = :big, b = :big, c = :big, d = :big", &mut ph).unwrap();
        assert_eq!(
            apply(&mut item, &actions).unwrap_err().message,
            "Item size to update has exceeded the maximum allowed size"
        );
        // Nothing was written to the item.
        assert_eq!(item.len(), 1);
        let values = json!({":l": {"L": [big]}});
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        let grow = "SET a = list_append(list_append(list_append(:l, :l), :l), :l)";
        let actions = update(grow, &mut ph).unwrap();
        assert!(apply(&mut item, &actions).is_err());
    }
}
