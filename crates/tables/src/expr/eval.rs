//! Evaluating conditions against an item, and projecting items onto paths. A condition on a
//! missing attribute or on values of different types is simply false, as on AWS.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{Cmp, Cond, Elem, Operand, Path};
use crate::number::Number;
use crate::value::{Attr, Item};

/// The value at `path`, if there is one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a Attr> {
    let Some(Elem::Name(first)) = path.first() else {
        return None;
    };
    let mut cur = item.get(first)?;
    for e in &path[1..] {
        cur = match (e, cur) {
            (Elem::Name(n), Attr::M(m)) => m.get(n)?,
            (Elem::Index(i), Attr::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A condition operand's value (conditions have no arithmetic, so this cannot fail).
fn value<'a>(item: &'a Item, op: &'a Operand) -> Option<Cow<'a, Attr>> {
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = match resolve(item, p)? {
                Attr::S(s) => s.len(),
                Attr::B(b) => b.len(),
                Attr::Ss(l) => l.len(),
                Attr::Ns(l) => l.len(),
                Attr::Bs(l) => l.len(),
                Attr::L(l) => l.len(),
                Attr::M(m) => m.len(),
                _ => return None,
            };
            Number::parse(&n.to_string()).ok().map(|n| Cow::Owned(Attr::N(n)))
        }
        _ => None,
    }
}

pub fn eval(item: &Item, cond: &Cond) -> bool {
    match cond {
        Cond::And(a, b) => eval(item, a) && eval(item, b),
        Cond::Or(a, b) => eval(item, a) || eval(item, b),
        Cond::Not(a) => !eval(item, a),
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Cmp(op, a, b) => match (value(item, a), value(item, b)) {
            (Some(a), Some(b)) => compare(*op, &a, &b),
            // A missing attribute is unequal to any value.
            (None, Some(_)) | (Some(_), None) => *op == Cmp::Ne,
            (None, None) => false,
        },
        Cond::Between(a, lo, hi) => match (value(item, a), value(item, lo), value(item, hi)) {
            (Some(a), Some(lo), Some(hi)) => {
                compare(Cmp::Ge, &a, &lo) && compare(Cmp::Le, &a, &hi)
            }
            _ => false,
        },
        Cond::In(a, list) => match value(item, a) {
            Some(a) => list
                .iter()
                .any(|o| value(item, o).is_some_and(|v| *v == *a)),
            None => false,
        },
        Cond::Type(p, t) => match (resolve(item, p), value(item, t)) {
            (Some(v), Some(t)) => matches!(&*t, Attr::S(s) if s == v.type_name()),
            _ => false,
        },
        Cond::BeginsWith(a, b) => match (value(item, a), value(item, b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (Attr::S(a), Attr::S(b)) => a.starts_with(b.as_str()),
                (Attr::B(a), Attr::B(b)) => a.starts_with(b),
                _ => false,
            },
            _ => false,
        },
        Cond::Contains(a, b) => match (value(item, a), value(item, b)) {
            (Some(a), Some(b)) => contains(&a, &b),
            _ => false,
        },
    }
}

pub fn compare(op: Cmp, a: &Attr, b: &Attr) -> bool {
    match op {
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
        _ => match a.compare(b) {
            Some(o) => match op {
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            },
            None => false,
        },
    }
}

fn contains(a: &Attr, b: &Attr) -> bool {
    match (a, b) {
        (Attr::S(a), Attr::S(b)) => a.contains(b.as_str()),
        (Attr::B(a), Attr::B(b)) => b.is_empty() || a.windows(b.len()).any(|w| w == b.as_slice()),
        (Attr::Ss(l), Attr::S(s)) => l.contains(s),
        (Attr::Ns(l), Attr::N(n)) => l.contains(n),
        (Attr::Bs(l), Attr::B(b)) => l.contains(b),
        (Attr::L(l), v) => l.contains(v),
        _ => false,
    }
}

/// The item cut down to `paths` (ProjectionExpression; UPDATED_* return values). Elements
/// picked out of a list keep their order and close up, as on AWS.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    for p in paths {
        let Some(Elem::Name(first)) = p.first() else {
            continue;
        };
        let Some(v) = item.get(first) else { continue };
        if let Some(sub) = project_value(v, &p[1..]) {
            match out.remove(first) {
                Some(prev) => {
                    out.insert(first.clone(), merge(prev, sub));
                }
                None => {
                    out.insert(first.clone(), sub);
                }
            }
        }
    }
    out
}

fn project_value(v: &Attr, rest: &[Elem]) -> Option<Attr> {
    let Some(e) = rest.first() else {
        return Some(v.clone());
    };
    match (e, v) {
        (Elem::Name(n), Attr::M(m)) => {
            let sub = project_value(m.get(n)?, &rest[1..])?;
            Some(Attr::M(Item::from([(n.clone(), sub)])))
        }
        (Elem::Index(i), Attr::L(l)) => {
            let sub = project_value(l.get(*i)?, &rest[1..])?;
            Some(Attr::L(vec![sub]))
        }
        _ => None,
    }
}

fn merge(a: Attr, b: Attr) -> Attr {
    match (a, b) {
        (Attr::M(mut a), Attr::M(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(prev) => merge(prev, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Attr::M(a)
        }
        (Attr::L(mut a), Attr::L(b)) => {
            a.extend(b);
            Attr::L(a)
        }
        (_, b) => b,
    }
}
