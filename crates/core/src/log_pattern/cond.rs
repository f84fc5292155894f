//! Conditions of JSON and space-delimited patterns: `$.a.b[0] > 5`, `status_code = 4*`,
//! `$.x IS NULL`, `$.y NOT EXISTS`, joined by `&&` and `||` (`&&` binds tighter) and grouped
//! by parentheses. Conditions are n-ary `And`/`Or` lists, so only parentheses add depth, and
//! those are bounded by [`MAX_NESTING`].

use serde_json::Value;

use super::lex::{tokens, Cmp, Tok};
use super::{INVALID, MAX_NESTING};

/// A path into a JSON event: `$.a.b[0].c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector(Vec<Step>, String);

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let bad = || String::from(INVALID);
        let mut rest = text.strip_prefix('$').ok_or_else(bad)?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad());
                }
                steps.push(Step::Key(r[..end].to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(bad)?;
                steps.push(Step::Index(r[..end].trim().parse().map_err(|_| bad())?));
                rest = &r[end + 1..];
            } else {
                return Err(bad());
            }
        }
        if steps.is_empty() {
            return Err(bad());
        }
        Ok(Selector(steps, text.to_string()))
    }

    /// The selector as written.
    pub fn text(&self) -> &str {
        &self.1
    }

    /// The value the path leads to in `doc`, if any.
    pub fn find<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(doc, |v, step| match step {
            Step::Key(k) => v.get(k.as_str()),
            Step::Index(i) => v.get(*i),
        })
    }
}

/// A scalar's text, as patterns and metric values compare it.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a condition tests: a JSON path or a space-delimited field's name.
#[derive(Debug)]
pub enum Target {
    Json(Selector),
    Field(String),
}

#[derive(Debug)]
pub enum Operand {
    Number(f64),
    /// Text with `*` wildcards.
    Glob(String),
    Regex(regex::Regex),
}

#[derive(Debug)]
pub enum Check {
    Compare(Cmp, Operand),
    IsNull,
    NotExists,
    IsTrue,
    IsFalse,
}

#[derive(Debug)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Test(Target, Check),
}

/// A value found for a target.
pub enum Found<'a> {
    Json(&'a Value),
    Text(&'a str),
}

/// Where conditions find their targets' values.
pub trait Lookup {
    fn find(&self, target: &Target) -> Option<Found<'_>>;
}

/// Lookup in a JSON event.
pub struct JsonLookup<'a>(pub &'a Value);

impl Lookup for JsonLookup<'_> {
    fn find(&self, target: &Target) -> Option<Found<'_>> {
        match target {
            Target::Json(sel) => sel.find(self.0).map(Found::Json),
            Target::Field(_) => None,
        }
    }
}

impl Expr {
    pub fn eval(&self, l: &dyn Lookup) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.eval(l)),
            Expr::Or(any) => any.iter().any(|e| e.eval(l)),
            Expr::Test(target, check) => test(l.find(target), check),
        }
    }

    /// Every JSON selector conditions test, as written.
    pub fn selectors<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.selectors(out)),
            Expr::Test(Target::Json(s), _) => out.push(s.text()),
            Expr::Test(..) => {}
        }
    }

    /// Every field name conditions refer to (space-delimited patterns check them).
    pub fn field_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.field_names(out)),
            Expr::Test(Target::Field(n), _) => out.push(n),
            Expr::Test(..) => {}
        }
    }
}

fn test(found: Option<Found<'_>>, check: &Check) -> bool {
    match (check, found) {
        (Check::NotExists, f) => f.is_none(),
        (_, None) => false,
        (Check::IsNull, Some(Found::Json(v))) => v.is_null(),
        (Check::IsTrue, Some(Found::Json(v))) => v.as_bool() == Some(true),
        (Check::IsFalse, Some(Found::Json(v))) => v.as_bool() == Some(false),
        (Check::IsNull | Check::IsTrue | Check::IsFalse, Some(Found::Text(_))) => false,
        (Check::Compare(cmp, operand), Some(found)) => compare(*cmp, operand, &found),
    }
}

fn compare(cmp: Cmp, operand: &Operand, found: &Found<'_>) -> bool {
    let text = match found {
        Found::Json(v) => scalar_text(v),
        Found::Text(t) => Some(t.to_string()),
    };
    let Some(text) = text else {
        return false;
    };
    match operand {
        Operand::Number(want) => {
            let Ok(have) = text.trim().parse::<f64>() else {
                return false;
            };
            match cmp {
                Cmp::Eq => have == *want,
                Cmp::Ne => have != *want,
                Cmp::Lt => have < *want,
                Cmp::Le => have <= *want,
                Cmp::Gt => have > *want,
                Cmp::Ge => have >= *want,
            }
        }
        Operand::Glob(g) => glob(g, &text) == (cmp == Cmp::Eq),
        Operand::Regex(r) => r.is_match(&text) == (cmp == Cmp::Eq),
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Compiles a pattern's regular expression (bounded, as a hostile one must not eat memory).
pub fn regex(text: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|_| String::from(INVALID))
}

/// Parses `{ conditions }`.
pub fn parse_json(text: &str) -> Result<Expr, String> {
    let toks = tokens(text)?;
    match toks.as_slice() {
        [Tok::LBrace, inner @ .., Tok::RBrace] if !inner.is_empty() => {
            let mut p = Parser { toks: inner, at: 0 };
            let e = p.or(0)?;
            p.end()?;
            // A JSON pattern's conditions test selectors, never bare names.
            let mut names = Vec::new();
            e.field_names(&mut names);
            if !names.is_empty() {
                return Err(INVALID.into());
            }
            Ok(e)
        }
        _ => Err(INVALID.into()),
    }
}

/// A recursive-descent parser over tokens, its depth bounded by [`MAX_NESTING`].
pub struct Parser<'a> {
    pub toks: &'a [Tok],
    pub at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<&Tok> {
        self.at += 1;
        self.toks.get(self.at - 1)
    }
    pub fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(INVALID.into()),
        }
    }

    pub fn or(&mut self, depth: usize) -> Result<Expr, String> {
        let mut any = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            any.push(self.and(depth)?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Or(any)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut all = vec![self.primary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            all.push(self.primary(depth)?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::And(all)
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::LParen) {
            if depth >= MAX_NESTING {
                return Err(INVALID.into());
            }
            self.at += 1;
            let e = self.or(depth + 1)?;
            return match self.next() {
                Some(Tok::RParen) => Ok(e),
                _ => Err(INVALID.into()),
            };
        }
        let target = match self.next() {
            Some(Tok::Word(w)) if w.starts_with('$') => Target::Json(Selector::parse(w)?),
            Some(Tok::Word(w)) if w != "..." => Target::Field(w.clone()),
            _ => return Err(INVALID.into()),
        };
        let check = self.check()?;
        Ok(Expr::Test(target, check))
    }

    fn check(&mut self) -> Result<Check, String> {
        let bad = || String::from(INVALID);
        match self.next().cloned().ok_or_else(bad)? {
            Tok::Word(w) if w == "IS" => match self.next() {
                Some(Tok::Word(w)) if w == "NULL" => Ok(Check::IsNull),
                Some(Tok::Word(w)) if w == "TRUE" => Ok(Check::IsTrue),
                Some(Tok::Word(w)) if w == "FALSE" => Ok(Check::IsFalse),
                _ => Err(bad()),
            },
            Tok::Word(w) if w == "NOT" => match self.next() {
                Some(Tok::Word(w)) if w == "EXISTS" => Ok(Check::NotExists),
                _ => Err(bad()),
            },
            Tok::Op(cmp) => {
                let operand = match self.next().cloned().ok_or_else(bad)? {
                    Tok::Word(w) => match w.parse::<f64>() {
                        Ok(n) if n.is_finite() => Operand::Number(n),
                        _ => Operand::Glob(w),
                    },
                    Tok::Quoted(s) => Operand::Glob(s),
                    Tok::Regex(r) => Operand::Regex(regex(&r)?),
                    _ => return Err(bad()),
                };
                // Text is only tested for equality.
                if !matches!(operand, Operand::Number(_)) && !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                    return Err(bad());
                }
                Ok(Check::Compare(cmp, operand))
            }
            _ => Err(bad()),
        }
    }
}
