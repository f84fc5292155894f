//! The tokens of JSON and space-delimited filter patterns.

use super::INVALID;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    And,
    Or,
    Op(Cmp),
    /// A double-quoted string, unescaped.
    Quoted(String),
    /// The text between `%` signs.
    Regex(String),
    /// Anything else: selectors (`$.a[0].b`), numbers, unquoted strings, keywords, `...`.
    Word(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"(){}[],=!<>&|\"%".contains(c)
}

/// Splits a pattern into tokens.
pub fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let bad = || String::from(INVALID);
    let mut out = Vec::new();
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '&' if it.next_if_eq(&'&').is_some() => Tok::And,
            '|' if it.next_if_eq(&'|').is_some() => Tok::Or,
            '=' => Tok::Op(Cmp::Eq),
            '!' if it.next_if_eq(&'=').is_some() => Tok::Op(Cmp::Ne),
            '<' if it.next_if_eq(&'=').is_some() => Tok::Op(Cmp::Le),
            '<' => Tok::Op(Cmp::Lt),
            '>' if it.next_if_eq(&'=').is_some() => Tok::Op(Cmp::Ge),
            '>' => Tok::Op(Cmp::Gt),
            '"' => {
                let mut s = String::new();
                loop {
                    match it.next().ok_or_else(bad)? {
                        '\\' => s.push(it.next().ok_or_else(bad)?),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                Tok::Quoted(s)
            }
            '%' => {
                let mut s = String::new();
                loop {
                    match it.next().ok_or_else(bad)? {
                        '\\' => {
                            s.push('\\');
                            s.push(it.next().ok_or_else(bad)?);
                        }
                        '%' => break,
                        c => s.push(c),
                    }
                }
                Tok::Regex(s)
            }
            c if is_word_char(c) => {
                let mut s = String::from(c);
                loop {
                    if let Some(c) = it.next_if(|c| is_word_char(*c)) {
                        s.push(c);
                    } else if s.starts_with('$') && it.peek() == Some(&'[') {
                        // An array index is part of a selector: `$.a[0].b`.
                        it.next();
                        s.push('[');
                        while let Some(c) = it.next_if(|c| *c != ']') {
                            s.push(c);
                        }
                        it.next().ok_or_else(bad)?;
                        s.push(']');
                    } else {
                        break;
                    }
                }
                Tok::Word(s)
            }
            _ => return Err(bad()),
        };
        out.push(tok);
    }
    Ok(out)
}
