//! A recursive-descent parser over the winnow-lexed tokens, for condition, filter, key
//! condition, update and projection expressions. Placeholders are substituted as they are met
//! and recorded, so that unused ones can be reported once every expression of a request has
//! been parsed. Errors carry AWS's wording.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};
use stratus_core::Error;

use super::ast::{Action, Cmp, Cond, Elem, Operand, Path};
use super::lex::{lex, Kind, Token};
use super::reserved::is_reserved;
use crate::value::Attr;

/// A request's ExpressionAttributeNames and ExpressionAttributeValues, and which were used.
pub struct Placeholders<'a> {
    names: Option<&'a Map<String, Value>>,
    values: Option<&'a Map<String, Value>>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
    /// Whether any expression was parsed at all.
    parsed: bool,
}

impl<'a> Placeholders<'a> {
    pub fn new(names: Option<&'a Value>, values: Option<&'a Value>) -> Result<Self, Error> {
        let names = names.filter(|v| !v.is_null()).map(as_map).transpose()?;
        let values = values.filter(|v| !v.is_null()).map(as_map).transpose()?;
        if names.is_some_and(|m| m.is_empty()) {
            return Err(Error::validation(
                "ExpressionAttributeNames must not be empty",
            ));
        }
        if values.is_some_and(|m| m.is_empty()) {
            return Err(Error::validation(
                "ExpressionAttributeValues must not be empty",
            ));
        }
        for k in names.into_iter().flat_map(|m| m.keys()) {
            if !k.starts_with('#') {
                return Err(Error::validation(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
        }
        for (k, v) in values.into_iter().flat_map(|m| m.iter()) {
            if !k.starts_with(':') {
                return Err(Error::validation(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            Attr::from_json(v).map_err(|e| {
                Error::validation(format!(
                    "ExpressionAttributeValues contains invalid value: {} for key {k}",
                    e.message
                ))
            })?;
        }
        Ok(Placeholders {
            names,
            values,
            used_names: HashSet::new(),
            used_values: HashSet::new(),
            parsed: false,
        })
    }

    /// AWS rejects placeholders that no expression used; `missing` names the expressions that
    /// were absent, for the message when none was given at all.
    pub fn check_unused(&self, missing: &str) -> Result<(), Error> {
        if !self.parsed {
            if self.values.is_some() {
                return Err(Error::validation(format!(
                    "ExpressionAttributeValues can only be specified when using expressions: {missing}"
                )));
            }
            if self.names.is_some() {
                return Err(Error::validation(
                    "ExpressionAttributeNames can only be specified when using expressions",
                ));
            }
            return Ok(());
        }
        let unused = |m: Option<&Map<String, Value>>, used: &HashSet<String>| {
            m.into_iter()
                .flat_map(|m| m.keys())
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect::<BTreeSet<String>>()
        };
        let names = unused(self.names, &self.used_names);
        if !names.is_empty() {
            return Err(Error::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let values = unused(self.values, &self.used_values);
        if !values.is_empty() {
            return Err(Error::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }
}

fn as_map(v: &Value) -> Result<&Map<String, Value>, Error> {
    v.as_object().ok_or_else(|| {
        Error::new(
            "SerializationException",
            400,
            "Unexpected value type in payload",
        )
    })
}

/// Parses a condition (ConditionExpression, FilterExpression, KeyConditionExpression).
pub fn condition(src: &str, label: &'static str, ph: &mut Placeholders) -> Result<Cond, Error> {
    let mut p = Parser::new(src, label, ph)?;
    let c = p.or()?;
    p.end()?;
    Ok(c)
}

/// Parses an UpdateExpression into its actions, in order.
pub fn update(src: &str, ph: &mut Placeholders) -> Result<Vec<Action>, Error> {
    let mut p = Parser::new(src, "UpdateExpression", ph)?;
    let actions = p.update()?;
    p.end()?;
    super::update::check_overlap(&actions).map_err(|m| p.err(m))?;
    Ok(actions)
}

/// Parses a ProjectionExpression into its paths.
pub fn projection(src: &str, ph: &mut Placeholders) -> Result<Vec<Path>, Error> {
    let mut p = Parser::new(src, "ProjectionExpression", ph)?;
    let mut paths = vec![p.path()?];
    while p.eat_sym(",") {
        paths.push(p.path()?);
    }
    p.end()?;
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[..i] {
            if let Some(m) = super::update::path_clash(b, a) {
                return Err(p.err(m));
            }
        }
    }
    Ok(paths)
}

struct Parser<'s, 'p, 'a> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    label: &'static str,
    ph: &'p mut Placeholders<'a>,
    /// Token positions of the last parenthesised condition's `(` and `)`.
    paren: Option<(usize, usize)>,
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];

impl<'s, 'p, 'a> Parser<'s, 'p, 'a> {
    fn new(src: &'s str, label: &'static str, ph: &'p mut Placeholders<'a>) -> Result<Self, Error> {
        ph.parsed = true;
        let p = Parser {
            src,
            toks: lex(src),
            pos: 0,
            label,
            ph,
            paren: None,
        };
        if p.src.trim().is_empty() {
            return Err(p.err("The expression can not be empty;"));
        }
        Ok(p)
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::validation(format!("Invalid {}: {msg}", self.label))
    }

    /// AWS's syntax error: the offending token and the text from the token before it to the
    /// token after it.
    fn syntax(&self) -> Error {
        let t = &self.toks[self.pos];
        let token = match t.kind {
            Kind::Eof => "<EOF>",
            _ => &self.src[t.start..t.end],
        };
        let from = if self.pos > 0 {
            self.toks[self.pos - 1].start
        } else {
            t.start
        };
        let to = self.toks.get(self.pos + 1).map_or(t.end, |n| n.end);
        self.err(format!(
            "Syntax error; token: \"{token}\", near: \"{}\"",
            &self.src[from..to]
        ))
    }

    fn peek(&self) -> &Kind {
        &self.toks[self.pos].kind
    }

    fn peek_at(&self, n: usize) -> &Kind {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].kind
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Kind::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.advance();
        }
        yes
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = matches!(self.peek(), Kind::Sym(x) if *x == s);
        if yes {
            self.advance();
        }
        yes
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), Error> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn end(&self) -> Result<(), Error> {
        match self.peek() {
            Kind::Eof => Ok(()),
            _ => Err(self.syntax()),
        }
    }

    fn name(&mut self) -> Result<String, Error> {
        let name = match self.peek().clone() {
            Kind::Ident(w) => {
                if KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) {
                    return Err(self.syntax());
                }
                if is_reserved(&w) {
                    return Err(self.err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {w}"
                    )));
                }
                w
            }
            Kind::Name(n) => {
                let real = self
                    .ph
                    .names
                    .and_then(|m| m.get(&n))
                    .and_then(Value::as_str);
                match real {
                    Some(r) => {
                        self.ph.used_names.insert(n);
                        r.to_string()
                    }
                    None => {
                        return Err(self.err(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {n}"
                    )))
                    }
                }
            }
            _ => return Err(self.syntax()),
        };
        self.advance();
        Ok(name)
    }

    fn path(&mut self) -> Result<Path, Error> {
        let mut path = vec![Elem::Name(self.name()?)];
        loop {
            if self.eat_sym(".") {
                path.push(Elem::Name(self.name()?));
            } else if self.eat_sym("[") {
                let Kind::Num(n) = self.peek().clone() else {
                    return Err(self.syntax());
                };
                let i = n.parse::<usize>().map_err(|_| self.syntax())?;
                self.advance();
                self.expect_sym("]")?;
                path.push(Elem::Index(i));
            } else {
                return Ok(path);
            }
        }
    }

    fn value(&mut self, name: &str) -> Result<Attr, Error> {
        let Some(v) = self.ph.values.and_then(|m| m.get(name)) else {
            return Err(self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {name}"
            )));
        };
        self.ph.used_values.insert(name.to_string());
        self.advance();
        Attr::from_json(v)
    }

    fn or(&mut self) -> Result<Cond, Error> {
        let mut c = self.and()?;
        while self.eat_kw("OR") {
            c = Cond::Or(Box::new(c), Box::new(self.and()?));
        }
        Ok(c)
    }

    fn and(&mut self) -> Result<Cond, Error> {
        let mut c = self.not()?;
        while self.eat_kw("AND") {
            c = Cond::And(Box::new(c), Box::new(self.not()?));
        }
        Ok(c)
    }

    fn not(&mut self) -> Result<Cond, Error> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, Error> {
        if self.eat_sym("(") {
            let open = self.pos - 1;
            let c = self.or()?;
            let close = self.pos;
            self.expect_sym(")")?;
            if self.paren == Some((open + 1, close - 1)) {
                return Err(self.err("The expression has redundant parentheses;"));
            }
            self.paren = Some((open, close));
            return Ok(c);
        }
        if let (Kind::Ident(f), Kind::Sym("(")) = (self.peek().clone(), self.peek_at(1)) {
            if f != "size" {
                return self.boolean_function(&f);
            }
        }
        let left = self.operand(false)?;
        if let Kind::Sym(s) = self.peek().clone() {
            let op = match s {
                "=" => Cmp::Eq,
                "<>" => Cmp::Ne,
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                ">" => Cmp::Gt,
                ">=" => Cmp::Ge,
                _ => return Err(self.syntax()),
            };
            self.advance();
            let right = self.operand(false)?;
            return Ok(Cond::Cmp(op, left, right));
        }
        if self.eat_kw("BETWEEN") {
            let lo = self.operand(false)?;
            if !self.eat_kw("AND") {
                return Err(self.syntax());
            }
            let hi = self.operand(false)?;
            if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi) {
                if a.compare(b) == Some(std::cmp::Ordering::Greater) {
                    return Err(self.err(format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                        a.type_name(), scalar_text(a), b.type_name(), scalar_text(b)
                    )));
                }
            }
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.eat_kw("IN") {
            self.expect_sym("(")?;
            let mut list = vec![self.operand(false)?];
            while self.eat_sym(",") {
                list.push(self.operand(false)?);
            }
            self.expect_sym(")")?;
            return Ok(Cond::In(left, list));
        }
        Err(self.syntax())
    }

    /// `name(arg, …)`: the arguments, checked for count.
    fn args(&mut self, f: &str, count: usize, update: bool) -> Result<Vec<Operand>, Error> {
        self.advance(); // the name
        self.expect_sym("(")?;
        let mut args = vec![self.operand(update)?];
        while self.eat_sym(",") {
            args.push(self.operand(update)?);
        }
        self.expect_sym(")")?;
        if args.len() != count {
            return Err(self.err(format!(
                "Incorrect number of operands for operator or function; operator or function: {f}, number of operands: {}",
                args.len()
            )));
        }
        Ok(args)
    }

    fn path_arg(&self, f: &str, op: Operand) -> Result<Path, Error> {
        match op {
            Operand::Path(p) => Ok(p),
            _ => Err(self.err(format!(
                "Operator or function requires a document path; operator or function: {f}"
            ))),
        }
    }

    fn boolean_function(&mut self, f: &str) -> Result<Cond, Error> {
        match f {
            "attribute_exists" | "attribute_not_exists" => {
                let mut a = self.args(f, 1, false)?;
                let p = self.path_arg(f, a.remove(0))?;
                Ok(if f == "attribute_exists" {
                    Cond::Exists(p)
                } else {
                    Cond::NotExists(p)
                })
            }
            "attribute_type" => {
                let mut a = self.args(f, 2, false)?;
                let t = a.remove(1);
                let p = self.path_arg(f, a.remove(0))?;
                if let Operand::Value(Attr::S(s)) = &t {
                    const TYPES: &[&str] =
                        &["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
                    if !TYPES.contains(&s.as_str()) {
                        return Err(self.err(format!(
                            "Invalid attribute type name found; type: {s}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                        )));
                    }
                }
                Ok(Cond::Type(p, t))
            }
            "begins_with" | "contains" => {
                let mut a = self.args(f, 2, false)?;
                let b = a.remove(1);
                let a = a.remove(0);
                Ok(if f == "begins_with" {
                    Cond::BeginsWith(a, b)
                } else {
                    Cond::Contains(a, b)
                })
            }
            "if_not_exists" | "list_append" => Err(self.err(format!(
                "The function is not allowed in a condition expression; function: {f}"
            ))),
            "size" => Err(self.syntax()),
            _ => Err(self.err(format!("Invalid function name; function: {f}"))),
        }
    }

    /// An operand: a path, a value, or a function returning a value (`size` in conditions;
    /// `if_not_exists` and `list_append` in updates).
    fn operand(&mut self, update: bool) -> Result<Operand, Error> {
        match self.peek().clone() {
            Kind::Value(v) => Ok(Operand::Value(self.value(&v)?)),
            Kind::Ident(f) if matches!(self.peek_at(1), Kind::Sym("(")) => {
                self.function_operand(&f, update)
            }
            Kind::Ident(_) | Kind::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax()),
        }
    }

    fn function_operand(&mut self, f: &str, update: bool) -> Result<Operand, Error> {
        match (f, update) {
            ("size", false) => {
                let mut a = self.args(f, 1, false)?;
                Ok(Operand::Size(self.path_arg(f, a.remove(0))?))
            }
            ("if_not_exists", true) => {
                let mut a = self.args(f, 2, true)?;
                let v = a.remove(1);
                Ok(Operand::IfNotExists(
                    self.path_arg(f, a.remove(0))?,
                    Box::new(v),
                ))
            }
            ("list_append", true) => {
                let mut a = self.args(f, 2, true)?;
                let b = a.remove(1);
                Ok(Operand::ListAppend(Box::new(a.remove(0)), Box::new(b)))
            }
            (
                "attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains"
                | "size",
                true,
            ) => Err(self.err(format!(
                "The function is not allowed in an update expression; function: {f}"
            ))),
            ("if_not_exists" | "list_append", false) => Err(self.err(format!(
                "The function is not allowed in a condition expression; function: {f}"
            ))),
            (
                "attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains",
                false,
            ) => Err(self.err(format!(
                "The function is not allowed to be used this way in an expression; function: {f}"
            ))),
            _ => Err(self.err(format!("Invalid function name; function: {f}"))),
        }
    }

    fn update(&mut self) -> Result<Vec<Action>, Error> {
        let mut seen = HashSet::new();
        let mut actions = Vec::new();
        while !matches!(self.peek(), Kind::Eof) {
            let Kind::Ident(w) = self.peek().clone() else {
                return Err(self.syntax());
            };
            let clause = w.to_ascii_uppercase();
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
                return Err(self.syntax());
            }
            if !seen.insert(clause.clone()) {
                return Err(self.err(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                )));
            }
            self.advance();
            loop {
                actions.push(self.action(&clause)?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(actions)
    }

    fn action(&mut self, clause: &str) -> Result<Action, Error> {
        let path = self.path()?;
        match clause {
            "SET" => {
                self.expect_sym("=")?;
                let left = self.operand(true)?;
                let value = if self.eat_sym("+") {
                    Operand::Plus(Box::new(left), Box::new(self.operand(true)?))
                } else if self.eat_sym("-") {
                    Operand::Minus(Box::new(left), Box::new(self.operand(true)?))
                } else {
                    left
                };
                Ok(Action::Set(path, value))
            }
            "REMOVE" => Ok(Action::Remove(path)),
            _ => {
                let Kind::Value(v) = self.peek().clone() else {
                    return Err(self.syntax());
                };
                let value = self.value(&v)?;
                Ok(if clause == "ADD" {
                    Action::Add(path, value)
                } else {
                    Action::Delete(path, value)
                })
            }
        }
    }
}

fn scalar_text(a: &Attr) -> String {
    match a {
        Attr::S(s) => s.clone(),
        Attr::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond_err(src: &str) -> String {
        let names = json!({"#n": "name"});
        let values = json!({":v": {"S": "x"}, ":n": {"N": "1"}, ":t": {"S": "N"}});
        let mut ph = Placeholders::new(Some(&names), Some(&values)).unwrap();
        condition(src, "ConditionExpression", &mut ph)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.message)
    }

    #[test]
    fn parses_the_condition_grammar() {
        for ok in [
            "a = :v",
            "#n <> :v AND (b < :n OR NOT c >= :n)",
            "attribute_exists(a.b[2]) AND attribute_not_exists(#n)",
            "begins_with(a, :v) OR contains(a, :v)",
            "size(a) > :n",
            "a BETWEEN :n AND :n",
            "a IN (:v, :n)",
            "attribute_type(a, :t) AND a = :v",
        ] {
            assert_eq!(cond_err(ok), "", "{ok}");
        }
    }

    #[test]
    fn reports_errors_as_aws_does() {
        assert_eq!(
            cond_err("a = "),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"= \""
        );
        assert_eq!(
            cond_err("a = = :v"),
            "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"= = :v\""
        );
        assert_eq!(
            cond_err("a = :x"),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"
        );
        assert_eq!(
            cond_err("#m = :v"),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #m"
        );
        assert_eq!(
            cond_err("foo(a)"),
            "Invalid ConditionExpression: Invalid function name; function: foo"
        );
        assert_eq!(
            cond_err("status = :v"),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        );
        assert_eq!(
            cond_err("attribute_exists(a, b)"),
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
        );
    }

    #[test]
    fn update_sections_and_unused_values() {
        let values = json!({":v": {"N": "1"}, ":u": {"N": "2"}});
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        let a = update("SET a = a + :v, b = if_not_exists(b, :v) REMOVE c", &mut ph).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(
            ph.check_unused("").unwrap_err().message,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:u}"
        );
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        assert_eq!(
            update("SET a = :v SET b = :u", &mut ph).unwrap_err().message,
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"
        );
        let mut ph = Placeholders::new(None, Some(&values)).unwrap();
        assert!(update("SET a = :v, a = :u", &mut ph)
            .unwrap_err()
            .message
            .contains("Two document paths overlap"));
    }
}
