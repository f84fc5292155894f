//! Space-delimited patterns: `[ip, user, ..., status_code = 4*, bytes > 1000]`. An event's
//! fields are separated by spaces; text in double quotes or square brackets is one field.
//! Each named slot takes one field, `...` any number of them; without `...` the event must have
//! exactly as many fields as the pattern names.

use super::cond::{Expr, Found, Lookup, Parser, Target};
use super::lex::{tokens, Tok};
use super::INVALID;

#[derive(Debug)]
enum Slot {
    Named(String),
    Any,
}

#[derive(Debug)]
pub struct Delimited {
    slots: Vec<Slot>,
    conditions: Vec<Expr>,
}

impl Delimited {
    pub fn parse(text: &str) -> Result<Delimited, String> {
        let bad = || String::from(INVALID);
        let toks = tokens(text)?;
        let inner = match toks.as_slice() {
            [Tok::LBracket, inner @ .., Tok::RBracket] if !inner.is_empty() => inner,
            _ => return Err(bad()),
        };
        let mut d = Delimited {
            slots: Vec::new(),
            conditions: Vec::new(),
        };
        for part in inner.split(|t| *t == Tok::Comma) {
            match part {
                [Tok::Word(w)] if w == "..." => d.slots.push(Slot::Any),
                [Tok::Word(w)] if !w.starts_with('$') => d.slots.push(Slot::Named(w.clone())),
                [Tok::Word(w), ..] if !w.starts_with('$') => {
                    let mut p = Parser { toks: part, at: 0 };
                    let e = p.or(0)?;
                    p.end()?;
                    d.slots.push(Slot::Named(w.clone()));
                    d.conditions.push(e);
                }
                _ => return Err(bad()),
            }
        }
        // Conditions may only name the pattern's own fields.
        let mut names = Vec::new();
        d.conditions.iter().for_each(|e| e.field_names(&mut names));
        if !names.iter().all(|n| d.has_field(n)) {
            return Err(bad());
        }
        Ok(d)
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s, Slot::Named(n) if n == name))
    }

    /// The named fields of a matching message, or `None`.
    pub fn fields(&self, message: &str) -> Option<Vec<(String, String)>> {
        let values = split(message);
        let bound = self.bind(&values)?;
        let lookup = Bound(&bound);
        self.conditions
            .iter()
            .all(|c| c.eval(&lookup))
            .then_some(bound)
    }

    /// Gives each named slot its field: those before the first `...` from the front, those
    /// after the last from the back, those between ellipses at the earliest place left.
    fn bind(&self, values: &[String]) -> Option<Vec<(String, String)>> {
        let first_any = self.slots.iter().position(|s| matches!(s, Slot::Any));
        let Some(first_any) = first_any else {
            if values.len() != self.slots.len() {
                return None;
            }
            return Some(self.named(self.slots.iter().zip(values)));
        };
        let last_any = self.slots.iter().rposition(|s| matches!(s, Slot::Any))?;
        let tail = self.slots.len() - last_any - 1;
        let middle = self.slots[first_any..last_any]
            .iter()
            .filter(|s| matches!(s, Slot::Named(_)))
            .count();
        if first_any + middle + tail > values.len() {
            return None;
        }
        let mut out = self.named(self.slots[..first_any].iter().zip(values));
        let mut at = first_any;
        for s in &self.slots[first_any..last_any] {
            if let Slot::Named(n) = s {
                out.push((n.clone(), values[at].clone()));
                at += 1;
            }
        }
        let back = &values[values.len() - tail..];
        out.extend(self.named(self.slots[last_any + 1..].iter().zip(back)));
        Some(out)
    }

    fn named<'a>(
        &self,
        pairs: impl Iterator<Item = (&'a Slot, &'a String)>,
    ) -> Vec<(String, String)> {
        pairs
            .filter_map(|(s, v)| match s {
                Slot::Named(n) => Some((n.clone(), v.clone())),
                Slot::Any => None,
            })
            .collect()
    }
}

struct Bound<'a>(&'a [(String, String)]);

impl Lookup for Bound<'_> {
    fn find(&self, target: &Target) -> Option<Found<'_>> {
        match target {
            Target::Field(name) => self
                .0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Found::Text(v)),
            Target::Json(_) => None,
        }
    }
}

/// An event's fields: space-separated, with `"..."` and `[...]` each one field (delimiters
/// dropped).
pub fn split(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = message.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(c) = it.next() else {
            return out;
        };
        let mut field = String::new();
        let close = match c {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => {
                field.push(c);
                None
            }
        };
        match close {
            Some(end) => {
                for c in it.by_ref() {
                    if c == end {
                        break;
                    }
                    field.push(c);
                }
            }
            None => {
                while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                    field.push(c);
                }
            }
        }
        out.push(field);
    }
}
