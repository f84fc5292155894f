//! Evaluating conditions against an item, and projecting items onto paths. A condition on a
//! missing attribute or on values of different types is simply false, as on AWS.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

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
        Operand::Value(v) => Some(Cow::Borrowed(&**v)),
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
            Number::parse(&n.to_string())
                .ok()
                .map(|n| Cow::Owned(Attr::N(n)))
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
            // A missing attribute is unequal to any value, and to another missing one.
            _ => *op == Cmp::Ne,
        },
        Cond::Between(a, lo, hi) => match (value(item, a), value(item, lo), value(item, hi)) {
            (Some(a), Some(lo), Some(hi)) => compare(Cmp::Ge, &a, &lo) && compare(Cmp::Le, &a, &hi),
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
/// picked out of a list keep their list order and close up, as on AWS.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut root: BTreeMap<String, Tree> = BTreeMap::new();
    for p in paths {
        let Some(Elem::Name(first)) = p.first() else {
            continue;
        };
        let (Some(v), Some(_)) = (item.get(first), resolve(item, p)) else {
            continue;
        };
        let slot = root.entry(first.clone()).or_insert(Tree::Empty);
        slot.add(v, &p[1..]);
    }
    root.into_iter().map(|(k, t)| (k, t.into_attr())).collect()
}

/// A projection under construction.
enum Tree {
    Empty,
    Leaf(Attr),
    Map(BTreeMap<String, Tree>),
    List(BTreeMap<usize, Tree>),
}

impl Tree {
    fn add(&mut self, v: &Attr, rest: &[Elem]) {
        let Some(e) = rest.first() else {
            *self = Tree::Leaf(v.clone());
            return;
        };
        match (e, v) {
            (Elem::Name(n), Attr::M(m)) => {
                if !matches!(self, Tree::Map(_)) {
                    *self = Tree::Map(BTreeMap::new());
                }
                if let (Tree::Map(t), Some(sub)) = (self, m.get(n)) {
                    t.entry(n.clone())
                        .or_insert(Tree::Empty)
                        .add(sub, &rest[1..]);
                }
            }
            (Elem::Index(i), Attr::L(l)) => {
                if !matches!(self, Tree::List(_)) {
                    *self = Tree::List(BTreeMap::new());
                }
                if let (Tree::List(t), Some(sub)) = (self, l.get(*i)) {
                    t.entry(*i).or_insert(Tree::Empty).add(sub, &rest[1..]);
                }
            }
            _ => {}
        }
    }

    fn into_attr(self) -> Attr {
        match self {
            Tree::Empty => Attr::Null,
            Tree::Leaf(a) => a,
            Tree::Map(m) => Attr::M(m.into_iter().map(|(k, t)| (k, t.into_attr())).collect()),
            Tree::List(l) => Attr::L(l.into_values().map(Tree::into_attr).collect()),
        }
    }
}
