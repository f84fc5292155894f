//! The commands of a query and their expressions. Expressions are parsed by precedence
//! climbing with a depth bound ([`MAX_DEPTH`]), so hostile queries cannot exhaust the stack.

use super::lex::{tokens, Tok, Token};
use super::QueryError;

pub const MAX_DEPTH: usize = 32;

#[derive(Debug)]
pub enum Expr {
    Field(String),
    Str(String),
    Num(f64),
    Duration(i64),
    Regex(regex::Regex),
    List(Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    /// `and`, `or`, comparisons, `like`, `=~`, `in`, arithmetic.
    Binary(Box<Expr>, &'static str, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug)]
pub enum Parse {
    /// Literal pieces around each `*` of a glob.
    Glob(Vec<String>),
    Regex(regex::Regex),
}

#[derive(Debug)]
pub enum Command {
    /// Expressions and the names they are shown under.
    Fields(Vec<(Expr, String)>),
    Display(Vec<String>),
    Filter(Expr),
    Stats {
        aggs: Vec<(Expr, String)>,
        by: Vec<(Expr, String)>,
    },
    /// Field names, `true` for descending.
    Sort(Vec<(String, bool)>),
    Limit(usize),
    Parse {
        field: String,
        how: Parse,
        names: Vec<String>,
    },
}

pub fn parse(text: &str) -> Result<Vec<Command>, QueryError> {
    let toks = tokens(text)?;
    if toks.is_empty() {
        return Err(QueryError::new("Query string cannot be empty", 0, 0));
    }
    let mut commands = Vec::new();
    for part in toks.split(|t| t.tok == Tok::Pipe) {
        let mut p = Parser {
            text,
            toks: part,
            at: 0,
        };
        commands.push(p.command()?);
        p.end()?;
    }
    Ok(commands)
}

struct Parser<'a> {
    text: &'a str,
    toks: &'a [Token],
    at: usize,
}

/// Binary operators by binding strength, loosest first.
const LEVELS: &[&[&str]] = &[
    &["or"],
    &["and"],
    &[
        "=", "!=", "<", "<=", ">", ">=", "like", "=~", "in", "not like", "not in",
    ],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn err(&self) -> QueryError {
        match self.toks.get(self.at) {
            Some(t) => QueryError::at(self.text, t.at),
            None => match self.toks.last() {
                Some(t) => QueryError::at(self.text, t.at + t.text.chars().count()),
                None => QueryError::at(self.text, self.text.chars().count()),
            },
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }
    fn next(&mut self) -> Option<&Tok> {
        self.at += 1;
        self.toks.get(self.at - 1).map(|t| &t.tok)
    }
    fn end(&self) -> Result<(), QueryError> {
        if self.at < self.toks.len() {
            return Err(self.err());
        }
        Ok(())
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }
    fn op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn expect_op(&mut self, op: &str) -> Result<(), QueryError> {
        if !self.op(op) {
            return Err(self.err());
        }
        self.at += 1;
        Ok(())
    }
    fn ident(&mut self) -> Result<String, QueryError> {
        match self.peek() {
            Some(Tok::Ident(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => Err(self.err()),
        }
    }
    /// The source text of tokens `from..self.at`, as AWS names an unaliased column.
    fn source(&self, from: usize) -> String {
        let (Some(a), Some(b)) = (self.toks.get(from), self.toks.get(self.at - 1)) else {
            return String::new();
        };
        let chars: Vec<char> = self.text.chars().collect();
        chars[a.at..b.at + b.text.chars().count()].iter().collect()
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let name = self.ident()?.to_ascii_lowercase();
        match name.as_str() {
            "fields" => Ok(Command::Fields(self.named_list()?)),
            "display" => {
                let mut names = vec![self.ident()?];
                while self.op(",") {
                    self.at += 1;
                    names.push(self.ident()?);
                }
                Ok(Command::Display(names))
            }
            "filter" => Ok(Command::Filter(self.expr(0, 0)?)),
            "stats" => {
                let aggs = self.named_list()?;
                let mut by = Vec::new();
                if self.word("by") {
                    self.at += 1;
                    by = self.named_list()?;
                }
                Ok(Command::Stats { aggs, by })
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let f = self.ident()?;
                    let desc = if self.word("desc") {
                        self.at += 1;
                        true
                    } else {
                        if self.word("asc") {
                            self.at += 1;
                        }
                        false
                    };
                    keys.push((f, desc));
                    if !self.op(",") {
                        break Ok(Command::Sort(keys));
                    }
                    self.at += 1;
                }
            }
            "limit" => match self.next() {
                Some(Tok::Num(n)) if *n >= 1.0 && *n <= 10_000.0 && n.fract() == 0.0 => {
                    Ok(Command::Limit(*n as usize))
                }
                _ => {
                    self.at -= 1;
                    Err(self.err())
                }
            },
            "parse" => self.parse_command(),
            _ => {
                self.at -= 1;
                Err(self.err())
            }
        }
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let field = if matches!(self.peek(), Some(Tok::Ident(_))) {
            self.ident()?
        } else {
            "@message".to_string()
        };
        let here = self.at;
        let how = match self.next().cloned() {
            Some(Tok::Str(s)) => Parse::Glob(s.split('*').map(str::to_string).collect()),
            Some(Tok::Regex(r)) => Parse::Regex(compile(&r).map_err(|_| {
                self.at = here;
                self.err()
            })?),
            _ => {
                self.at = here;
                return Err(self.err());
            }
        };
        let mut names = Vec::new();
        match &how {
            Parse::Glob(pieces) => {
                if !self.word("as") {
                    return Err(self.err());
                }
                self.at += 1;
                names.push(self.ident()?);
                while self.op(",") {
                    self.at += 1;
                    names.push(self.ident()?);
                }
                if names.len() != pieces.len() - 1 {
                    return Err(QueryError::at(self.text, self.toks[here].at));
                }
            }
            Parse::Regex(r) => {
                names = r.capture_names().flatten().map(str::to_string).collect();
                if names.is_empty() {
                    return Err(QueryError::at(self.text, self.toks[here].at));
                }
            }
        }
        Ok(Command::Parse { field, how, names })
    }

    /// `expr [as name], ...`
    fn named_list(&mut self) -> Result<Vec<(Expr, String)>, QueryError> {
        let mut out = Vec::new();
        loop {
            let from = self.at;
            let e = self.expr(0, 0)?;
            let mut name = self.source(from);
            if self.word("as") {
                self.at += 1;
                name = self.ident()?;
            }
            out.push((e, name));
            if !self.op(",") {
                return Ok(out);
            }
            self.at += 1;
        }
    }

    /// The operator at the cursor if it belongs to `level`, and how many tokens it spans.
    fn level_op(&self, level: usize) -> Option<(&'static str, usize)> {
        let ops = LEVELS.get(level)?;
        let tok = self.peek()?;
        let next_is = |w: &str| matches!(self.toks.get(self.at + 1).map(|t| &t.tok), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w));
        match tok {
            Tok::Op(o) => ops.iter().find(|x| *x == o).map(|x| (*x, 1)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("not") && level == 2 => {
                if next_is("like") {
                    Some(("not like", 2))
                } else if next_is("in") {
                    Some(("not in", 2))
                } else {
                    None
                }
            }
            Tok::Ident(w) => ops
                .iter()
                .find(|x| x.eq_ignore_ascii_case(w))
                .map(|x| (*x, 1)),
            _ => None,
        }
    }

    fn expr(&mut self, level: usize, depth: usize) -> Result<Expr, QueryError> {
        if level >= LEVELS.len() {
            return self.unary(depth);
        }
        let mut left = self.expr(level + 1, depth)?;
        while let Some((op, len)) = self.level_op(level) {
            self.at += len;
            let right = self.expr(level + 1, depth)?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
            // Comparisons do not chain.
            if level == 2 {
                break;
            }
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if depth > MAX_DEPTH {
            return Err(self.err());
        }
        if self.word("not") {
            self.at += 1;
            // `not` binds looser than comparisons: `not a = 1` is `not (a = 1)`.
            return Ok(Expr::Not(Box::new(self.expr(2, depth + 1)?)));
        }
        if self.op("-") {
            self.at += 1;
            return Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)));
        }
        let here = self.at;
        let e = match self.next().cloned() {
            Some(Tok::Num(n)) => Expr::Num(n),
            Some(Tok::Str(s)) => Expr::Str(s),
            Some(Tok::Duration(ms)) => Expr::Duration(ms),
            Some(Tok::Regex(r)) => Expr::Regex(compile(&r).map_err(|_| {
                self.at = here;
                self.err()
            })?),
            Some(Tok::Op("(")) => {
                let e = self.expr(0, depth + 1)?;
                self.expect_op(")")?;
                e
            }
            Some(Tok::Op("[")) => {
                let mut items = Vec::new();
                if !self.op("]") {
                    items.push(self.expr(0, depth + 1)?);
                    while self.op(",") {
                        self.at += 1;
                        items.push(self.expr(0, depth + 1)?);
                    }
                }
                self.expect_op("]")?;
                Expr::List(items)
            }
            Some(Tok::Ident(w)) if self.op("(") => {
                self.at += 1;
                let mut args = Vec::new();
                if self.op("*") {
                    self.at += 1;
                    args.push(Expr::Field("*".into()));
                } else if !self.op(")") {
                    args.push(self.expr(0, depth + 1)?);
                    while self.op(",") {
                        self.at += 1;
                        args.push(self.expr(0, depth + 1)?);
                    }
                }
                self.expect_op(")")?;
                let name = w.to_ascii_lowercase();
                if !super::eval::known_function(&name, args.len()) {
                    self.at = here;
                    return Err(self.err());
                }
                Expr::Call(name, args)
            }
            Some(Tok::Ident(w)) if !is_keyword(&w) => Expr::Field(w),
            _ => {
                self.at = here;
                return Err(self.err());
            }
        };
        Ok(e)
    }
}

fn is_keyword(w: &str) -> bool {
    ["and", "or", "not", "by", "as", "like", "in", "asc", "desc"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(w))
}

pub fn compile(r: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(r).size_limit(1 << 20).build()
}
