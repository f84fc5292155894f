//! The parsed forms of the five expression kinds. Placeholders are already substituted: a
//! path holds real attribute names and a value operand holds the value itself.

use std::sync::Arc;

use crate::value::Attr;

/// A value from ExpressionAttributeValues, shared by every use of its placeholder: an
/// expression may name one large value hundreds of times.
pub type SharedAttr = Arc<Attr>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Name(String),
    Index(usize),
}

pub type Path = Vec<Elem>;

/// Renders a path as AWS's messages do (`a.b[1]`).
pub fn show_path(p: &Path) -> String {
    let mut s = String::new();
    for (i, e) in p.iter().enumerate() {
        match e {
            Elem::Name(n) if i == 0 => s.push_str(n),
            Elem::Name(n) => {
                s.push('.');
                s.push_str(n)
            }
            Elem::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[derive(Debug, Clone)]
pub enum Operand {
    Path(Path),
    Value(SharedAttr),
    Size(Path),
    IfNotExists(Path, Box<Operand>),
    ListAppend(Box<Operand>, Box<Operand>),
    Plus(Box<Operand>, Box<Operand>),
    Minus(Box<Operand>, Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Cond {
    Cmp(Cmp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

#[derive(Debug, Clone)]
pub enum Action {
    Set(Path, Operand),
    Remove(Path),
    Add(Path, SharedAttr),
    Delete(Path, SharedAttr),
}

impl Action {
    pub fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}
