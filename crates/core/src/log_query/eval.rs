//! Values, rows and expression evaluation.

use std::cmp::Ordering;

use super::parse::Expr;

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// Epoch milliseconds, shown as `2024-01-02 03:04:05.678`.
    Time(i64),
}

impl Val {
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Time(t) => Some(*t as f64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Bool(_) | Val::Null => None,
        }
    }

    /// The value as results show it; `None` for null.
    pub fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Bool(b) => Some(b.to_string()),
            Val::Num(n) => Some(n.to_string()),
            Val::Str(s) => Some(s.clone()),
            Val::Time(t) => Some(format_time(*t)),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Null => false,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Time(_) => true,
        }
    }

    /// Order for `sort`: numbers by value, everything else by text; nulls last.
    pub fn order(&self, other: &Val) -> Ordering {
        match (self, other) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Greater,
            (_, Val::Null) => Ordering::Less,
            _ => match (self.num(), other.num()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => self.text().cmp(&other.text()),
            },
        }
    }
}

pub fn format_time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let f = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    t.format(f).unwrap_or_default()
}

/// A row: fields by name, in the order they were found.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<(String, Val)>);

impl Row {
    pub fn get(&self, name: &str) -> &Val {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&Val::Null, |(_, v)| v)
    }
    pub fn set(&mut self, name: &str, v: Val) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name.to_string(), v)),
        }
    }
}

pub const AGGREGATES: &[&str] = &[
    "count",
    "count_distinct",
    "sum",
    "avg",
    "min",
    "max",
    "pct",
    "percentile",
    "stddev",
];

/// Whether `name` with `args` arguments is a function this subset offers.
pub fn known_function(name: &str, args: usize) -> bool {
    match name {
        "bin" | "ispresent" | "strlen" | "tolower" | "toupper" | "abs" | "floor" | "ceil"
        | "isempty" | "isblank" | "trim" => args == 1,
        "count" => args <= 1,
        "pct" | "percentile" => args == 2,
        "concat" => args >= 1,
        n => AGGREGATES.contains(&n) && args == 1,
    }
}

pub fn eval(e: &Expr, row: &Row) -> Val {
    match e {
        Expr::Field(f) => row.get(f).clone(),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Num(n) => Val::Num(*n),
        Expr::Duration(ms) => Val::Num(*ms as f64),
        Expr::Regex(_) | Expr::List(_) => Val::Null,
        Expr::Not(inner) => Val::Bool(!eval(inner, row).truthy()),
        Expr::Neg(inner) => eval(inner, row).num().map_or(Val::Null, |n| Val::Num(-n)),
        Expr::Binary(l, op, r) => binary(l, op, r, row),
        Expr::Call(name, args) => call(name, args, row),
    }
}

pub fn truthy(e: &Expr, row: &Row) -> bool {
    eval(e, row).truthy()
}

fn binary(l: &Expr, op: &str, r: &Expr, row: &Row) -> Val {
    match op {
        "and" => return Val::Bool(truthy(l, row) && truthy(r, row)),
        "or" => return Val::Bool(truthy(l, row) || truthy(r, row)),
        _ => {}
    }
    let left = eval(l, row);
    if left == Val::Null {
        return Val::Null;
    }
    match op {
        "like" | "=~" | "not like" => {
            let text = left.text().unwrap_or_default();
            let hit = match r {
                Expr::Regex(re) => re.is_match(&text),
                other => eval(other, row)
                    .text()
                    .is_some_and(|needle| text.contains(&needle)),
            };
            Val::Bool(hit != (op == "not like"))
        }
        "in" | "not in" => {
            let Expr::List(items) = r else {
                return Val::Null;
            };
            let hit = items.iter().any(|i| equal(&left, &eval(i, row)));
            Val::Bool(hit != (op == "not in"))
        }
        "=" | "!=" => {
            let right = eval(r, row);
            if right == Val::Null {
                return Val::Null;
            }
            Val::Bool(equal(&left, &right) == (op == "="))
        }
        "<" | "<=" | ">" | ">=" => {
            let right = eval(r, row);
            let ord = match (left.num(), right.num()) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => match (left.text(), right.text()) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => None,
                },
            };
            let Some(ord) = ord else {
                return Val::Null;
            };
            Val::Bool(match op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        _ => {
            let (Some(a), Some(b)) = (left.num(), eval(r, row).num()) else {
                return Val::Null;
            };
            let n = match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" if b != 0.0 => a / b,
                "%" if b != 0.0 => a % b,
                _ => return Val::Null,
            };
            Val::Num(n)
        }
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Str(_), Val::Str(_)) => a == b,
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x == y,
            _ => a.text() == b.text(),
        },
    }
}

fn call(name: &str, args: &[Expr], row: &Row) -> Val {
    let arg = |i: usize| args.get(i).map_or(Val::Null, |a| eval(a, row));
    match name {
        "bin" => {
            let (Some(t), Some(width)) = (row.get("@timestamp").num(), arg(0).num()) else {
                return Val::Null;
            };
            let (t, width) = (t as i64, (width as i64).max(1));
            Val::Time(t - t.rem_euclid(width))
        }
        "ispresent" => Val::Bool(arg(0) != Val::Null),
        "isempty" => Val::Bool(arg(0).text().is_none_or(|s| s.is_empty())),
        "isblank" => Val::Bool(arg(0).text().is_none_or(|s| s.trim().is_empty())),
        "strlen" => arg(0)
            .text()
            .map_or(Val::Null, |s| Val::Num(s.chars().count() as f64)),
        "tolower" => arg(0)
            .text()
            .map_or(Val::Null, |s| Val::Str(s.to_lowercase())),
        "toupper" => arg(0)
            .text()
            .map_or(Val::Null, |s| Val::Str(s.to_uppercase())),
        "trim" => arg(0)
            .text()
            .map_or(Val::Null, |s| Val::Str(s.trim().to_string())),
        "concat" => Val::Str(
            (0..args.len())
                .filter_map(|i| arg(i).text())
                .collect::<String>(),
        ),
        "abs" => arg(0).num().map_or(Val::Null, |n| Val::Num(n.abs())),
        "floor" => arg(0).num().map_or(Val::Null, |n| Val::Num(n.floor())),
        "ceil" => arg(0).num().map_or(Val::Null, |n| Val::Num(n.ceil())),
        // Aggregates outside `stats` have no value.
        _ => Val::Null,
    }
}
