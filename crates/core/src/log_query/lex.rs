//! The tokens of a Logs Insights query, each with its place for error messages.

use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A field or keyword: `@message`, `a.b`, `` `odd-name` ``, `filter`.
    Ident(String),
    Str(String),
    Num(f64),
    /// A duration such as `5m`, in milliseconds.
    Duration(i64),
    Regex(String),
    Op(&'static str),
    Pipe,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// The character offset where the token starts.
    pub at: usize,
    pub text: String,
}

const OPS: &[&str] = &[
    "!=", "<=", ">=", "=~", "=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",", "%",
];

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || "_@.$".contains(c)
}

/// Whether a `/` after `out` starts a regular expression rather than dividing: after an
/// operator, `like`, or `parse <field>`.
fn regex_may_start(out: &[Token]) -> bool {
    let is = |t: Option<&Token>, word: &str| matches!(t.map(|t| &t.tok), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word));
    match out.last().map(|t| &t.tok) {
        None | Some(Tok::Pipe) => true,
        Some(Tok::Op(op)) => *op != ")" && *op != "]",
        Some(Tok::Ident(_)) => {
            is(out.last(), "like") || is(out.len().checked_sub(2).and_then(|i| out.get(i)), "parse")
        }
        _ => false,
    }
}

pub fn tokens(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = if c == '|' {
            i += 1;
            Tok::Pipe
        } else if c == '"' || c == '\'' || c == '`' || (c == '/' && regex_may_start(&out)) {
            let (body, end) = quoted(&chars, i, c).ok_or_else(|| QueryError::at(text, start))?;
            i = end;
            match c {
                '`' => Tok::Ident(body),
                '/' => Tok::Regex(body),
                _ => Tok::Str(body),
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: f64 = chars[start..i]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| QueryError::at(text, start))?;
            let unit_start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            if unit_start == i {
                Tok::Num(n)
            } else {
                let unit: String = chars[unit_start..i].iter().collect();
                let ms = unit_ms(&unit).ok_or_else(|| QueryError::at(text, unit_start))?;
                Tok::Duration((n * ms as f64) as i64)
            }
        } else if ident_char(c) {
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(*op))
                .ok_or_else(|| QueryError::at(text, start))?;
            i += op.len();
            Tok::Op(op)
        };
        out.push(Token {
            tok,
            at: start,
            text: chars[start..i].iter().collect(),
        });
    }
    Ok(out)
}

/// The text between `open` at `at` and its closing twin (a backslash escapes it), and the
/// offset after it.
fn quoted(chars: &[char], at: usize, open: char) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut i = at + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if open != '/' => {
                s.push(*chars.get(i + 1)?);
                i += 2;
            }
            '\\' => {
                s.push('\\');
                s.push(*chars.get(i + 1)?);
                i += 2;
            }
            c if c == open => return Some((s, i + 1)),
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    None
}

fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" | "sec" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    })
}
