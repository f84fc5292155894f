//! A subset of CloudWatch Logs Insights' query language, with no I/O: `fields`, `filter`
//! (comparisons, `like`, `=~`, `in`, `and`/`or`/`not`), `stats` (`count`, `sum`, `avg`,
//! `min`, `max`, `pct`, `count_distinct`, `stddev`, `by` expressions and `bin(5m)`), `sort`,
//! `limit`, `parse` (a glob with `*` or a regular expression with named groups) and `display`,
//! over the fields Logs Insights discovers: `@timestamp`, `@message`, `@logStream`, `@log`,
//! the fields of JSON events, and those of the Lambda platform's REPORT lines (`@duration`,
//! `@billedDuration`, `@memorySize`, `@maxMemoryUsed`, `@initDuration`, `@requestId`,
//! `@type`). Errors are `MalformedQueryException`'s.

mod eval;
mod lex;
mod parse;
mod run;
#[cfg(test)]
mod tests;

use parse::{Command, Expr};

/// AWS's limit on a query string's length.
pub const MAX_QUERY_LEN: usize = 10_000;

/// Why a query is malformed: AWS's message and where in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl QueryError {
    fn new(message: impl Into<String>, start: usize, end: usize) -> QueryError {
        QueryError {
            message: message.into(),
            start,
            end,
        }
    }

    /// "unexpected symbol found X at line L and position P", for the text at char `at`.
    fn at(text: &str, at: usize) -> QueryError {
        let chars: Vec<char> = text.chars().collect();
        let at = at.min(chars.len());
        let symbol: String = chars[at..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let line = 1 + chars[..at].iter().filter(|c| **c == '\n').count();
        let line_start = chars[..at]
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |i| i + 1);
        let symbol = if symbol.is_empty() {
            "<EOF>".to_string()
        } else {
            symbol
        };
        QueryError::new(
            format!(
                "unexpected symbol found {symbol} at line {line} and position {}",
                at - line_start + 1
            ),
            at,
            at + symbol.chars().count().saturating_sub(1),
        )
    }
}

/// One event a query reads.
pub struct Event<'a> {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: &'a str,
    pub stream: &'a str,
    pub group: &'a str,
    /// The event's `@ptr`.
    pub ptr: &'a str,
}

/// A query's results, and what it read.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rows of `(field, value)`.
    pub rows: Vec<Vec<(String, String)>>,
    pub matched: u64,
    pub scanned: u64,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Query {
    commands: Vec<Command>,
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError::new("Query string cannot be empty", 0, 0));
        }
        let commands = parse::parse(text)?;
        for c in &commands {
            if let Command::Stats { aggs, .. } = c {
                for (agg, name) in aggs {
                    let ok =
                        matches!(agg, Expr::Call(n, _) if eval::AGGREGATES.contains(&n.as_str()));
                    if !ok {
                        return Err(QueryError::new(
                            format!("Expression {name} is not an aggregate function"),
                            0,
                            0,
                        ));
                    }
                }
            }
        }
        Ok(Query { commands })
    }

    /// Runs the query over `events` (in time order); at most `limit` rows come back.
    pub fn run<'a>(&self, events: impl IntoIterator<Item = Event<'a>>, limit: usize) -> Outcome {
        run::run(&self.commands, events, limit)
    }
}
