//! CloudWatch Logs filter patterns, as AWS documents them ("Filter pattern syntax for metric
//! filters, subscription filters, filter log events"):
//!
//! - terms for unstructured text ([`terms`]): `ERROR`, `"request failed"`, `?ERROR ?WARN`,
//!   `ERROR -retrying`, and a regular expression between `%` signs (`%ERROR|WARN%`);
//! - JSON patterns (`{ $.level = "INFO" && $.latency > 500 }`) over events that are JSON
//!   objects ([`cond`] holds the conditions and their selectors);
//! - space-delimited patterns (`[ip, user, ..., status_code = 4*, bytes > 1000]`,
//!   [`delimited`]).
//!
//! Matching is case-sensitive, as on AWS. The empty pattern matches every event. A pattern that
//! cannot be parsed is refused with the message of CloudWatch Logs'
//! `InvalidParameterException`. Parsing never recurses deeper than [`MAX_NESTING`]
//! parentheses, so hostile patterns cannot exhaust the stack.

mod cond;
mod delimited;
mod lex;
mod terms;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use cond::Selector;

/// How deep parentheses may nest in a pattern.
pub const MAX_NESTING: usize = 16;
/// AWS's limit on a filter pattern's length.
pub const MAX_LEN: usize = 1024;

/// The message every unparseable pattern gets, as CloudWatch Logs words it.
pub const INVALID: &str = "Invalid filter pattern";

/// A parsed filter pattern.
#[derive(Debug)]
pub enum Pattern {
    Terms(terms::Terms),
    Json(cond::Expr),
    Delimited(delimited::Delimited),
}

/// What a matched event offers a metric filter's `metricValue` and dimensions: its JSON
/// document, or its space-delimited fields by name.
#[derive(Debug)]
pub enum Fields {
    None,
    Json(Value),
    Named(Vec<(String, String)>),
}

impl Fields {
    /// The text of `$.a.b` (JSON) or `$name` (space-delimited), if the event has it.
    pub fn get(&self, selector: &str) -> Option<String> {
        match self {
            Fields::None => None,
            Fields::Json(doc) => {
                let sel = Selector::parse(selector).ok()?;
                sel.find(doc).and_then(cond::scalar_text)
            }
            Fields::Named(fields) => {
                let name = selector.strip_prefix('$')?;
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            }
        }
    }
}

impl Pattern {
    /// Parses a pattern; the error is the message of an `InvalidParameterException`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.len() > MAX_LEN {
            return Err(INVALID.into());
        }
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            cond::parse_json(trimmed).map(Pattern::Json)
        } else if trimmed.starts_with('[') {
            delimited::Delimited::parse(trimmed).map(Pattern::Delimited)
        } else {
            terms::Terms::parse(trimmed).map(Pattern::Terms)
        }
    }

    /// Whether an event's message passes the pattern.
    pub fn matches(&self, message: &str) -> bool {
        self.fields(message).is_some()
    }

    /// The fields of a message the pattern matches, or `None` when it does not match.
    pub fn fields(&self, message: &str) -> Option<Fields> {
        match self {
            Pattern::Terms(t) => t.matches(message).then_some(Fields::None),
            Pattern::Json(expr) => {
                let doc = json_object(message)?;
                expr.eval(&cond::JsonLookup(&doc))
                    .then_some(Fields::Json(doc))
            }
            Pattern::Delimited(d) => d.fields(message).map(Fields::Named),
        }
    }

    /// What TestMetricFilter reports a match extracted: the JSON selectors the pattern
    /// tests, or every named field of a space-delimited one, as `$name`.
    pub fn extracted(&self, fields: &Fields) -> Vec<(String, String)> {
        match (self, fields) {
            (Pattern::Json(expr), Fields::Json(_)) => {
                let mut sels = Vec::new();
                expr.selectors(&mut sels);
                sels.dedup();
                sels.into_iter()
                    .filter_map(|s| fields.get(s).map(|v| (s.to_string(), v)))
                    .collect()
            }
            (_, Fields::Named(named)) => named
                .iter()
                .map(|(n, v)| (format!("${n}"), v.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `selector` (`$.a.b`, or `$name` of a space-delimited pattern) names something
    /// this pattern can extract, for a metric filter's `metricValue`.
    pub fn can_select(&self, selector: &str) -> bool {
        match self {
            Pattern::Terms(_) => false,
            Pattern::Json(_) => Selector::parse(selector).is_ok(),
            Pattern::Delimited(d) => selector
                .strip_prefix('$')
                .is_some_and(|name| d.has_field(name)),
        }
    }
}

/// The message as a JSON object, if it is one (JSON patterns match nothing else).
pub fn json_object(message: &str) -> Option<Value> {
    let t = message.trim();
    if !t.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(Value::is_object)
}
