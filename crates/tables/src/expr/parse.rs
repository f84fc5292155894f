//! The parser over the winnow-lexed tokens, for condition, filter, key condition, update and
//! projection expressions. Placeholders are substituted as they are met and recorded, so that
//! unused ones can be reported once every expression of a request has been parsed. Errors
//! carry AWS's wording.
//!
//! Untrusted input sets the bounds: AWS's limits (4 KB per expression, 300 operators and
//! functions, 32-level document paths, 100 IN operands, 255-byte placeholders) are checked
//! before the work they bound. Conditions are parsed on an explicit stack, so parentheses
//! cost no recursion; the only recursion left (functions inside functions) counts against the
//! operator limit before it descends, and so do NOT, AND and OR, which bounds the depth of the
//! trees that evaluation walks.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};
use stratus_core::Error;

use super::ast::{Action, Cmp, Cond, Elem, Operand, Path, SharedAttr};
use super::lex::{lex, Kind, Token};
use super::reserved::is_reserved;
use crate::value::Attr;

/// A request's ExpressionAttributeNames and ExpressionAttributeValues, and which were used.
pub struct Placeholders<'a> {
    names: Option<&'a Map<String, Value>>,
    values: Option<&'a Map<String, Value>>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
    /// The values, decoded once.
    decoded: HashMap<String, SharedAttr>,
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
            placeholder_key(k, '#', "ExpressionAttributeNames")?;
        }
        for (k, v) in names.into_iter().flat_map(|m| m.iter()) {
            match v.as_str() {
                Some("") => {
                    return Err(Error::validation(format!(
                        "ExpressionAttributeNames contains invalid value: Empty attribute name for key {k}"
                    )))
                }
                Some(_) => {}
                None => return Err(unexpected_type()),
            }
        }
        // Every key is checked before any value, as AWS reports a bad key first.
        for k in values.into_iter().flat_map(|m| m.keys()) {
            placeholder_key(k, ':', "ExpressionAttributeValues")?;
        }
        let mut decoded = HashMap::new();
        for (k, v) in values.into_iter().flat_map(|m| m.iter()) {
            decoded.insert(k.clone(), SharedAttr::new(placeholder_value(k, v)?));
        }
        Ok(Placeholders {
            names,
            values,
            used_names: HashSet::new(),
            used_values: HashSet::new(),
            decoded,
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

fn unexpected_type() -> Error {
    Error::new(
        "SerializationException",
        stratus_core::Kind::InvalidInput,
        "Unexpected value type in payload",
    )
}

fn as_map(v: &Value) -> Result<&Map<String, Value>, Error> {
    v.as_object().ok_or_else(unexpected_type)
}

/// AWS's limit on a placeholder (`#name`, `:value`), in bytes with its prefix.
pub const MAX_PLACEHOLDER_BYTES: usize = 255;

/// A key of ExpressionAttributeNames (`prefix` `#`) or ExpressionAttributeValues (`:`): at
/// most 255 bytes, then the prefix and one or more word characters, as the lexer reads them.
fn placeholder_key(k: &str, prefix: char, member: &str) -> Result<(), Error> {
    if k.len() > MAX_PLACEHOLDER_BYTES {
        // AWS gives the size for names only.
        let size = if prefix == '#' {
            format!(" size of key: {}", k.len())
        } else {
            String::new()
        };
        return Err(Error::validation(format!(
            "{member} contains invalid key: The expression attribute map contains a key that is too long;{size}"
        )));
    }
    let word = k.strip_prefix(prefix).is_some_and(|w| {
        !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if !word {
        return Err(Error::validation(format!(
            "{member} contains invalid key: Syntax error; key: \"{k}\""
        )));
    }
    Ok(())
}

/// A value of ExpressionAttributeValues. AWS names the key in the errors about the value's
/// content; errors of form (numbers, nesting, the wire types) come through as they are.
fn placeholder_value(k: &str, v: &Value) -> Result<Attr, Error> {
    if v.as_object().is_some_and(Map::is_empty) {
        return Err(Error::validation(format!(
            "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes for key {k}"
        )));
    }
    Attr::from_json(v).map_err(|e| {
        if e.message
            .starts_with("One or more parameter values were invalid:")
        {
            Error::validation(format!(
                "ExpressionAttributeValues contains invalid value: {} for key {k}",
                e.message
            ))
        } else {
            e
        }
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

/// AWS's limit on an expression's length, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// AWS's limit on the operators and functions of one expression.
pub const MAX_OPERATORS: usize = 300;
/// AWS's limit on the elements of a document path (`a.b[1]` has three).
pub const MAX_PATH_DEPTH: usize = 32;
/// AWS's limit on the right-hand operands of IN.
pub const MAX_IN_OPERANDS: usize = 100;

struct Parser<'s, 'p, 'a> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    label: &'static str,
    ph: &'p mut Placeholders<'a>,
    /// Token positions of the last parenthesised condition's `(` and `)`.
    paren: Option<(usize, usize)>,
    /// Operators and functions met so far. Every construct that nests (NOT, functions inside
    /// functions, AND/OR chains) counts before it is parsed, so the count bounds the depth of
    /// both the recursion here and the tree that evaluation walks.
    operators: usize,
}

/// What the condition parser holds while it reads tokens left to right: an explicit stack in
/// place of recursion for `(`, NOT, AND and OR, so that no expression (thousands of
/// parentheses fit in 4 KB) can exhaust the thread's stack.
enum Pending {
    /// An open parenthesis, at this token position.
    Open(usize),
    Not,
    And,
    Or,
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];

impl<'s, 'p, 'a> Parser<'s, 'p, 'a> {
    fn new(src: &'s str, label: &'static str, ph: &'p mut Placeholders<'a>) -> Result<Self, Error> {
        ph.parsed = true;
        let err = |msg: String| Error::validation(format!("Invalid {label}: {msg}"));
        if src.trim().is_empty() {
            return Err(err("The expression can not be empty;".into()));
        }
        // Checked before lexing: the limit bounds every allocation that follows.
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(err(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        Ok(Parser {
            src,
            toks: lex(src),
            pos: 0,
            label,
            ph,
            paren: None,
            operators: 0,
        })
    }

    /// Counts one operator or function against AWS's limit.
    fn count_operator(&mut self) -> Result<(), Error> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.err(format!(
                "The expression contains too many operators; operator count: {}",
                self.operators
            )));
        }
        Ok(())
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

    /// A document path. The loop reads the whole path (at most as long as the 4 KB
    /// expression) before the depth check, so that the message gives its real depth.
    fn path(&mut self) -> Result<Path, Error> {
        let mut path = vec![Elem::Name(self.name()?)];
        loop {
            if self.eat_sym(".") {
                path.push(Elem::Name(self.name()?));
            } else if self.eat_sym("[") {
                let Kind::Num(n) = self.peek().clone() else {
                    return Err(self.syntax());
                };
                // DynamoDB's list indexes are 32-bit.
                let i = n
                    .parse::<i32>()
                    .map_err(|_| self.err("List index is out of range"))?;
                self.advance();
                self.expect_sym("]")?;
                path.push(Elem::Index(i as usize));
            } else {
                break;
            }
        }
        if path.len() > MAX_PATH_DEPTH {
            return Err(self.err(format!(
                "The document path has too many nesting levels; nesting levels: {}",
                path.len()
            )));
        }
        Ok(path)
    }

    fn value(&mut self, name: &str) -> Result<SharedAttr, Error> {
        let Some(v) = self.ph.decoded.get(name).cloned() else {
            return Err(self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {name}"
            )));
        };
        self.ph.used_values.insert(name.to_string());
        self.advance();
        Ok(v)
    }

    /// A condition: comparisons and functions joined by NOT, AND, OR and parentheses, with
    /// AWS's precedence (NOT, then AND, then OR; AND and OR group to the left). The nesting
    /// lives on `pending`, not on the call stack; the trees built have one node per counted
    /// operator, so their depth is bounded too.
    fn or(&mut self) -> Result<Cond, Error> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut done: Vec<Cond> = Vec::new();
        loop {
            // An operand is due: any NOTs and opening parentheses, then a comparison.
            loop {
                if self.eat_kw("NOT") {
                    self.count_operator()?;
                    pending.push(Pending::Not);
                } else if self.eat_sym("(") {
                    pending.push(Pending::Open(self.pos - 1));
                } else {
                    break;
                }
            }
            done.push(self.comparison()?);
            // Closing parentheses, then AND, OR or the end of this condition.
            while matches!(self.peek(), Kind::Sym(")"))
                && pending.iter().any(|p| matches!(p, Pending::Open(_)))
            {
                self.advance();
                self.close_paren(&mut pending, &mut done)?;
            }
            let next = if self.is_kw("AND") {
                Pending::And
            } else if self.is_kw("OR") {
                Pending::Or
            } else {
                break;
            };
            self.advance();
            self.count_operator()?;
            // What binds at least as tightly as `next` is complete.
            let and = matches!(next, Pending::And);
            while let Some(top) = pending.last() {
                match top {
                    Pending::Not | Pending::And => reduce(&mut pending, &mut done),
                    Pending::Or if !and => reduce(&mut pending, &mut done),
                    _ => break,
                }
            }
            pending.push(next);
        }
        if pending.iter().any(|p| matches!(p, Pending::Open(_))) {
            // A parenthesis left open: the `)` expected here is missing.
            return Err(self.syntax());
        }
        while !pending.is_empty() {
            reduce(&mut pending, &mut done);
        }
        done.pop().ok_or_else(|| self.syntax())
    }

    /// A `)` just read: completes the innermost parenthesised condition, which AWS rejects
    /// when it is the whole of a parenthesised condition already (`((a = :v))`).
    fn close_paren(
        &mut self,
        pending: &mut Vec<Pending>,
        done: &mut Vec<Cond>,
    ) -> Result<(), Error> {
        let close = self.pos - 1;
        while !matches!(pending.last(), Some(Pending::Open(_)) | None) {
            reduce(pending, done);
        }
        let Some(Pending::Open(open)) = pending.pop() else {
            return Err(self.syntax());
        };
        if self.paren == Some((open + 1, close - 1)) {
            return Err(self.err("The expression has redundant parentheses;"));
        }
        self.paren = Some((open, close));
        Ok(())
    }

    /// A comparison, BETWEEN, IN or boolean function: a condition without NOT, AND, OR or
    /// grouping parentheses.
    fn comparison(&mut self) -> Result<Cond, Error> {
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
            self.count_operator()?;
            let right = self.operand(false)?;
            if !matches!(op, Cmp::Eq | Cmp::Ne) {
                self.orderable(op.symbol(), &[&left, &right])?;
            }
            return Ok(Cond::Cmp(op, left, right));
        }
        if self.eat_kw("BETWEEN") {
            self.count_operator()?;
            let lo = self.operand(false)?;
            if !self.eat_kw("AND") {
                return Err(self.syntax());
            }
            let hi = self.operand(false)?;
            self.orderable("BETWEEN", &[&left, &lo, &hi])?;
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
            self.count_operator()?;
            self.expect_sym("(")?;
            let mut list = vec![self.operand(false)?];
            while self.eat_sym(",") {
                list.push(self.operand(false)?);
            }
            self.expect_sym(")")?;
            if list.len() > MAX_IN_OPERANDS {
                return Err(self.err(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                )));
            }
            return Ok(Cond::In(left, list));
        }
        Err(self.syntax())
    }

    /// `name(arg, …)`: the arguments, checked for count.
    fn args(&mut self, f: &str, count: usize, update: bool) -> Result<Vec<Operand>, Error> {
        // Counted before the arguments, so functions nested in functions stay bounded.
        self.count_operator()?;
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

    /// AWS rejects, when parsing, a value of a type the operator cannot order (a map, a
    /// boolean, …): the condition could never hold, and the request is in error.
    fn orderable(&self, f: &str, ops: &[&Operand]) -> Result<(), Error> {
        self.operand_types(f, ops, &["S", "N", "B"])
    }

    /// The value operands of `f` must be of one of the `allowed` types.
    fn operand_types(&self, f: &str, ops: &[&Operand], allowed: &[&str]) -> Result<(), Error> {
        for op in ops {
            if let Operand::Value(v) = op {
                if !allowed.contains(&v.type_name()) {
                    return Err(self.err(format!(
                        "Incorrect operand type for operator or function; operator or function: {f}, operand type: {}",
                        v.type_name()
                    )));
                }
            }
        }
        Ok(())
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
                self.operand_types(f, &[&t], &["S"])?;
                if let Some(Attr::S(s)) = operand_value(&t) {
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
                if f == "begins_with" {
                    self.operand_types(f, &[&a, &b], &["S", "B"])?;
                }
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
                let arithmetic = matches!(self.peek(), Kind::Sym("+" | "-"));
                if arithmetic {
                    self.count_operator()?;
                }
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

/// Applies the operator on top of `pending` to the conditions it takes from `done`.
fn reduce(pending: &mut Vec<Pending>, done: &mut Vec<Cond>) {
    let op = pending.pop();
    let Some(right) = done.pop() else { return };
    let c = match op {
        Some(Pending::Not) => Cond::Not(Box::new(right)),
        Some(Pending::And | Pending::Or) => match done.pop() {
            Some(left) if matches!(op, Some(Pending::And)) => {
                Cond::And(Box::new(left), Box::new(right))
            }
            Some(left) => Cond::Or(Box::new(left), Box::new(right)),
            None => right,
        },
        _ => right,
    };
    done.push(c);
}

/// The value of a value operand.
fn operand_value(op: &Operand) -> Option<&Attr> {
    match op {
        Operand::Value(v) => Some(v),
        _ => None,
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

    /// Runs `f` on a thread with a small stack (256 KiB, an eighth of a tokio thread's): a
    /// parser that recursed once per parenthesis or NOT would overflow it on these inputs.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn an_expression_over_4_kb_is_refused_before_parsing() {
        let src = format!("a = :v{}", " ".repeat(4090));
        assert_eq!(cond_err(&src), "", "4096 bytes are allowed");
        let src = format!("a = :v{}", " ".repeat(4091));
        assert_eq!(
            cond_err(&src),
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
        );
        let mut ph = Placeholders::new(None, None).unwrap();
        let long = format!("SET a = b{}", "+".repeat(5000));
        assert!(update(&long, &mut ph)
            .unwrap_err()
            .message
            .starts_with("Invalid UpdateExpression: Expression size has exceeded"));
    }

    #[test]
    fn deep_parentheses_do_not_recurse() {
        let (open, close) = ("(".repeat(1200), ")".repeat(1200));
        let msgs = on_small_stack(move || {
            [
                cond_err(&format!("{open}a = :v{close}")),
                cond_err(&"(".repeat(4000)),
                cond_err(&format!("{open}a = :v")),
                cond_err(&format!("a = :v{}", ")".repeat(1200))),
            ]
        });
        assert_eq!(
            msgs[0],
            "Invalid ConditionExpression: The expression has redundant parentheses;"
        );
        assert_eq!(
            msgs[1],
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"(\""
        );
        assert_eq!(
            msgs[2],
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":v\""
        );
        assert_eq!(
            msgs[3],
            "Invalid ConditionExpression: Syntax error; token: \")\", near: \":v))\""
        );
    }

    #[test]
    fn operators_are_limited_to_300() {
        let nots = on_small_stack(|| cond_err(&format!("{}a = :v", "NOT ".repeat(1000))));
        assert_eq!(
            nots,
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
        );
        // 150 comparisons and 149 ANDs: 299 operators.
        let ok = vec!["a = :v"; 150].join(" AND ");
        assert_eq!(cond_err(&ok), "");
        let over = vec!["a = :v"; 151].join(" AND ");
        assert!(cond_err(&over).contains("too many operators; operator count: 301"));
        // Functions nest as deep as 4 KB allows (about 250) without exhausting a small stack,
        // and every level counts.
        let nested = format!(
            "SET a = {}:l{}",
            "list_append(:l,".repeat(250),
            ")".repeat(250)
        );
        let actions = on_small_stack(move || {
            let values = json!({":l": {"L": []}});
            let mut ph = Placeholders::new(None, Some(&values)).unwrap();
            let mut p = Parser::new(&nested, "UpdateExpression", &mut ph).unwrap();
            let actions = p.update().map(|a| a.len()).map_err(|e| e.message);
            (actions, p.operators)
        });
        assert_eq!(actions, (Ok(1), 250));
    }

    #[test]
    fn precedence_and_grouping_survive_the_explicit_stack() {
        let item: crate::value::Item = [
            (
                "a".to_string(),
                Attr::N(crate::number::Number::parse("1").unwrap()),
            ),
            ("b".to_string(), Attr::S("x".into())),
        ]
        .into_iter()
        .collect();
        let names = json!({"#n": "name"});
        let values = json!({":v": {"S": "x"}, ":n": {"N": "1"}, ":t": {"S": "N"}});
        let holds = |src: &str| {
            let mut ph = Placeholders::new(Some(&names), Some(&values)).unwrap();
            let c = condition(src, "ConditionExpression", &mut ph).unwrap();
            crate::expr::eval::eval(&item, &c)
        };
        // NOT binds tighter than AND, AND tighter than OR.
        assert!(holds("NOT a = :v AND b = :v"));
        assert!(holds("a = :v AND b = :n OR b = :v"));
        assert!(!holds("a = :v AND (b = :n OR b = :v)"));
        assert!(!holds("NOT (a = :n OR b = :n)"));
        assert!(holds("NOT NOT a = :n"));
        assert!(holds("(a = :n) AND (b = :v)"));
        assert!(holds("((a = :n) AND b = :v) OR #n = :v"));
        assert_eq!(
            cond_err("(a = :n) AND (b = :v"),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":v\""
        );
        assert_eq!(
            cond_err("a = :n AND"),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\""
        );
        assert_eq!(
            cond_err("a = :n NOT b = :v"),
            "Invalid ConditionExpression: Syntax error; token: \"NOT\", near: \":n NOT b\""
        );
    }

    #[test]
    fn paths_are_limited_to_32_levels_and_32_bit_indexes() {
        let mut ph = Placeholders::new(None, None).unwrap();
        let ok = format!("a{}", ".b".repeat(31));
        assert_eq!(projection(&ok, &mut ph).unwrap()[0].len(), 32);
        let deep = format!("a{}", ".b".repeat(32));
        assert_eq!(
            projection(&deep, &mut ph).unwrap_err().message,
            "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33"
        );
        let deep = format!("a{}", "[0]".repeat(40));
        assert!(projection(&deep, &mut ph)
            .unwrap_err()
            .message
            .ends_with("nesting levels: 41"));
        assert_eq!(
            projection("a[99999999999]", &mut ph).unwrap_err().message,
            "Invalid ProjectionExpression: List index is out of range"
        );
        assert_eq!(
            cond_err("a. = :v"),
            "Invalid ConditionExpression: Syntax error; token: \"=\", near: \". = :v\""
        );
        assert_eq!(
            cond_err("a[ = :v"),
            "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"[ = :v\""
        );
    }

    #[test]
    fn in_takes_at_most_100_operands() {
        let list = |n: usize| vec![":v"; n].join(", ");
        assert_eq!(cond_err(&format!("a IN ({})", list(100))), "");
        assert_eq!(
            cond_err(&format!("a IN ({})", list(101))),
            "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
        );
    }

    #[test]
    fn placeholder_maps_are_checked_as_aws_does() {
        let err = |names: Value, values: Value| {
            let (n, v) = (
                Some(&names).filter(|n| !n.is_null()),
                Some(&values).filter(|v| !v.is_null()),
            );
            Placeholders::new(n, v)
                .err()
                .map(|e| e.message)
                .unwrap_or_default()
        };
        assert_eq!(
            err(json!({"#a": ""}), Value::Null),
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"
        );
        assert_eq!(
            err(json!({"#": "x"}), Value::Null),
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\""
        );
        assert_eq!(
            err(json!({"#a-b": "x"}), Value::Null),
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#a-b\""
        );
        let long = format!("#{}", "a".repeat(255));
        assert_eq!(
            err(json!({long: "x"}), Value::Null),
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 256"
        );
        let long = format!(":{}", "a".repeat(255));
        assert_eq!(
            err(Value::Null, json!({long: {"S": "x"}})),
            "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;"
        );
        assert_eq!(
            err(Value::Null, json!({":v": {}})),
            "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes for key :v"
        );
        assert_eq!(
            err(Value::Null, json!({":v": {"NULL": false}})),
            "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: Null attribute value types must have the value of true for key :v"
        );
        // A bad key is reported before a bad value.
        assert!(err(Value::Null, json!({":v": {}, "v": {"S": "x"}})).contains("invalid key"));
        assert_eq!(
            err(Value::Null, json!({":v": {"N": "1e999"}})),
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        );
    }
}
