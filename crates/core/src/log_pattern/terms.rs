//! Patterns for unstructured text: terms (`ERROR`), quoted phrases (`"request failed"`),
//! any-of terms (`?ERROR ?WARN`), exclusions (`ERROR -retrying`) and a regular expression
//! between `%` signs (`%ERROR|WARN%`).

use super::{cond, INVALID};

#[derive(Debug, Default)]
pub struct Terms {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
    regex: Option<regex::Regex>,
}

impl Terms {
    pub fn parse(text: &str) -> Result<Terms, String> {
        let mut p = Terms::default();
        if let Some(inner) = text.strip_prefix('%') {
            let inner = inner.strip_suffix('%').filter(|r| !r.is_empty());
            p.regex = Some(cond::regex(inner.ok_or(INVALID)?)?);
            return Ok(p);
        }
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else {
                break;
            };
            let list = match first {
                '?' => &mut p.any,
                '-' => &mut p.none,
                _ => &mut p.all,
            };
            if first == '?' || first == '-' {
                chars.next();
            }
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                let mut term = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => term.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => term.push(c),
                        None => return Err(INVALID.into()),
                    }
                }
                term
            } else {
                let mut term = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
                term
            };
            if !term.is_empty() {
                list.push(term);
            }
        }
        Ok(p)
    }

    /// Whether an event's message passes the pattern.
    pub fn matches(&self, message: &str) -> bool {
        if let Some(r) = &self.regex {
            return r.is_match(message);
        }
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}
