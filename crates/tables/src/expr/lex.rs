//! The tokens of DynamoDB's expression language, lexed with winnow. Every token keeps its span
//! so that syntax errors can quote the token and its neighbourhood as AWS does.

use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{alt, preceded};
use winnow::prelude::*;
use winnow::token::{any, one_of, take_while};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A bare word: an attribute name, a keyword or a function name.
    Ident(String),
    /// `#name`
    Name(String),
    /// `:value`
    Value(String),
    /// A list index.
    Num(String),
    Sym(&'static str),
    /// A character the language has no use for.
    Other(char),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn kind(input: &mut &str) -> ModalResult<Kind> {
    alt((
        preceded('#', take_while(1.., is_word)).map(|s: &str| Kind::Name(format!("#{s}"))),
        preceded(':', take_while(1.., is_word)).map(|s: &str| Kind::Value(format!(":{s}"))),
        // A bare name starts with a letter: `_a` and `1a` are not names to DynamoDB.
        (
            one_of(|c: char| c.is_ascii_alphabetic()),
            take_while(0.., is_word),
        )
            .take()
            .map(|s: &str| Kind::Ident(s.to_string())),
        digit1.map(|s: &str| Kind::Num(s.to_string())),
        alt(("<>", "<=", ">=")).map(|s: &str| {
            Kind::Sym(match s {
                "<>" => "<>",
                "<=" => "<=",
                _ => ">=",
            })
        }),
        one_of(['<', '>', '=', '(', ')', '[', ']', ',', '.', '+', '-']).map(|c: char| {
            Kind::Sym(match c {
                '<' => "<",
                '>' => ">",
                '=' => "=",
                '(' => "(",
                ')' => ")",
                '[' => "[",
                ']' => "]",
                ',' => ",",
                '.' => ".",
                '+' => "+",
                _ => "-",
            })
        }),
        any.map(Kind::Other),
    ))
    .parse_next(input)
}

/// Splits an expression into tokens, ending with [`Kind::Eof`].
pub fn lex(src: &str) -> Vec<Token> {
    let mut input = src;
    let mut out = Vec::new();
    loop {
        let _ = multispace0::<_, winnow::error::ContextError>.parse_next(&mut input);
        let start = src.len() - input.len();
        if input.is_empty() {
            out.push(Token {
                kind: Kind::Eof,
                start,
                end: start,
            });
            return out;
        }
        // `any` always matches a non-empty input, so this cannot fail.
        let kind = kind(&mut input).unwrap_or(Kind::Eof);
        let end = src.len() - input.len();
        out.push(Token { kind, start, end });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_all_kinds() {
        let toks: Vec<Kind> = lex("#a.b[3] <> :v1 AND size(x)>=2 $")
            .into_iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(
            toks,
            vec![
                Kind::Name("#a".into()),
                Kind::Sym("."),
                Kind::Ident("b".into()),
                Kind::Sym("["),
                Kind::Num("3".into()),
                Kind::Sym("]"),
                Kind::Sym("<>"),
                Kind::Value(":v1".into()),
                Kind::Ident("AND".into()),
                Kind::Ident("size".into()),
                Kind::Sym("("),
                Kind::Ident("x".into()),
                Kind::Sym(")"),
                Kind::Sym(">="),
                Kind::Num("2".into()),
                Kind::Other('$'),
                Kind::Eof,
            ]
        );
    }

    #[test]
    fn a_bare_name_starts_with_a_letter() {
        let kinds = |src: &str| lex(src).into_iter().map(|t| t.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds("_a1"),
            vec![Kind::Other('_'), Kind::Ident("a1".into()), Kind::Eof]
        );
        assert_eq!(
            kinds("1a"),
            vec![Kind::Num("1".into()), Kind::Ident("a".into()), Kind::Eof]
        );
        // Placeholders may start with anything a word holds.
        assert_eq!(
            kinds("#_1 :_"),
            vec![
                Kind::Name("#_1".into()),
                Kind::Value(":_".into()),
                Kind::Eof
            ]
        );
    }
}
