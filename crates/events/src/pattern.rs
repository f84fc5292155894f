//! The event-pattern language of EventBridge rules (and of the `FilterCriteria` of event source
//! mappings): a JSON object whose leaves are arrays of matchers, parsed once with AWS's limits
//! and messages, then matched against event JSON any number of times.
//!
//! ```
//! use stratus_events::pattern::Pattern;
//! let p = Pattern::parse(r#"{"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}"#).unwrap();
//! assert!(p.matches(&serde_json::json!({"source": "shop", "detail": {"total": 250}})));
//! ```
//!
//! Matching follows AWS's rules: every field of the pattern must match; an array of matchers
//! is an OR; an array in the event matches when any element does; `$or` is an OR of whole
//! sub-patterns; a missing field matches only `{"exists": false}`.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// The longest pattern accepted, in characters (the `EventPattern` limit of PutRule).
pub const MAX_PATTERN_CHARS: usize = 4096;
/// The deepest nesting of objects in a pattern; bounds the recursion of parsing and matching.
pub const MAX_DEPTH: usize = 32;
/// The most combinations `$or` may make (AWS's documented limit).
pub const MAX_COMBINATIONS: u64 = 1000;
/// The longest wildcard pattern kept (bounds the matcher's work per event value).
const MAX_WILDCARD_CHARS: usize = 256;

/// Why a pattern was refused: the reason AWS gives after "Event pattern is not valid. Reason: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Event pattern is not valid. Reason: {}", self.0)
    }
}

impl std::error::Error for PatternError {}

impl PatternError {
    /// The API error AWS answers with (`InvalidEventPatternException`).
    pub fn into_error(self) -> stratus_core::Error {
        stratus_core::Error::new(
            "InvalidEventPatternException",
            stratus_core::Kind::InvalidInput,
            self.to_string(),
        )
    }
}

fn bad<T>(reason: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(reason.into()))
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Node,
}

/// A pattern object: every field must match, and every `$or` must have a matching branch.
#[derive(Debug, Clone, PartialEq, Default)]
struct Node {
    fields: Vec<(String, Field)>,
    ors: Vec<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// A nested object: the event's field must be an object (or an array of them) matching it.
    Object(Node),
    /// An array of matchers, any of which may match.
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
    /// Whether the field exists (`true`) or must be absent (`false`).
    Exists(bool),
    Numeric(Range),
    Cidr(Cidr),
    AnythingBut(Box<Matcher>),
    /// Any of several matchers (the list form of `anything-but`).
    Any(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Range {
    /// (bound, inclusive)
    lower: Option<(f64, bool)>,
    upper: Option<(f64, bool)>,
    /// `=`: an exact value.
    equal: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Pattern {
    /// Parses and validates a pattern, refusing it with AWS's reason. The size limit is
    /// checked before the JSON is parsed, and the nesting limit before each level is.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.chars().count() > MAX_PATTERN_CHARS {
            return bad(format!(
                "Event pattern length exceeds the maximum of {MAX_PATTERN_CHARS} characters"
            ));
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return bad(format!("Filter is not valid JSON: {e}")),
        };
        Pattern::from_value(&value)
    }

    /// Validates a pattern already parsed as JSON (the size limit is the caller's).
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(map) = value else {
            return bad("Filter is not an object");
        };
        let root = parse_object(map, 0)?;
        let combos = combinations(&root);
        if combos > MAX_COMBINATIONS {
            return bad(format!(
                "The total number of combinations in the pattern exceeds the maximum of {MAX_COMBINATIONS}"
            ));
        }
        Ok(Pattern { root })
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(map) => node_matches(&self.root, map),
            _ => false,
        }
    }

    /// Whether the JSON text `event` matches (text that is not a JSON object matches nothing).
    pub fn matches_json(&self, event: &str) -> bool {
        serde_json::from_str::<Value>(event).is_ok_and(|v| self.matches(&v))
    }
}

/// How many combinations `$or` makes: a field-wise product, a sum over `$or` branches. The
/// count saturates, so a hostile pattern cannot overflow it.
fn combinations(node: &Node) -> u64 {
    let mut n: u64 = 1;
    for (_, f) in &node.fields {
        if let Field::Object(child) = f {
            n = n.saturating_mul(combinations(child));
        }
    }
    for branches in &node.ors {
        let sum = branches
            .iter()
            .fold(0u64, |acc, b| acc.saturating_add(combinations(b)));
        n = n.saturating_mul(sum);
    }
    n
}

fn parse_object(map: &Map<String, Value>, depth: usize) -> Result<Node, PatternError> {
    if depth >= MAX_DEPTH {
        return bad(format!(
            "Event pattern nesting exceeds the maximum depth of {MAX_DEPTH}"
        ));
    }
    let mut node = Node::default();
    for (key, value) in map {
        if key == "$or" {
            node.ors.push(parse_or(value, depth)?);
            continue;
        }
        let field = match value {
            Value::Object(child) => Field::Object(parse_object(child, depth + 1)?),
            Value::Array(items) => Field::Leaf(parse_leaf(items)?),
            _ => return bad(format!("\"{key}\" must be an object or an array")),
        };
        node.fields.push((key.clone(), field));
    }
    Ok(node)
}

fn parse_or(value: &Value, depth: usize) -> Result<Vec<Node>, PatternError> {
    let Value::Array(items) = value else {
        return bad("Or relationship must be an array");
    };
    if items.len() < 2 {
        return bad("Or relationship must have at least 2 branches");
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(m) => parse_object(m, depth + 1),
            _ => bad("Or relationship must be an array of objects"),
        })
        .collect()
}

fn parse_leaf(items: &[Value]) -> Result<Vec<Matcher>, PatternError> {
    if items.is_empty() {
        return bad("Empty arrays are not allowed");
    }
    items.iter().map(parse_matcher).collect()
}

fn parse_matcher(item: &Value) -> Result<Matcher, PatternError> {
    match item {
        Value::Array(_) => bad("Arrays within arrays are not allowed"),
        Value::Object(m) => parse_operator(m),
        other => Ok(Matcher::Exact(other.clone())),
    }
}

/// One `{"operator": operand}` object inside a leaf array.
fn parse_operator(m: &Map<String, Value>) -> Result<Matcher, PatternError> {
    let mut entries = m.iter();
    let (Some((op, arg)), None) = (entries.next(), entries.next()) else {
        return bad("Only one key allowed in match expression");
    };
    match op.as_str() {
        "prefix" => parse_affix(arg, "prefix", Matcher::Prefix, Matcher::PrefixIgnoreCase),
        "suffix" => parse_affix(arg, "suffix", Matcher::Suffix, Matcher::SuffixIgnoreCase),
        "equals-ignore-case" => match arg {
            Value::String(s) => Ok(Matcher::EqualsIgnoreCase(s.to_lowercase())),
            _ => bad("equals-ignore-case match pattern must be a string"),
        },
        "wildcard" => match arg {
            Value::String(s) => parse_wildcard(s),
            _ => bad("wildcard match pattern must be a string"),
        },
        "exists" => match arg {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => bad("exists match pattern must be either true or false."),
        },
        "numeric" => parse_numeric(arg).map(Matcher::Numeric),
        "cidr" => match arg {
            Value::String(s) => parse_cidr(s).map(Matcher::Cidr),
            _ => bad("prefix match pattern must be a string"),
        },
        "anything-but" => parse_anything_but(arg),
        other => bad(format!("Unrecognized match type {other}")),
    }
}

/// `prefix` / `suffix`: a string, or `{"equals-ignore-case": string}`.
fn parse_affix(
    arg: &Value,
    name: &str,
    plain: fn(String) -> Matcher,
    folded: fn(String) -> Matcher,
) -> Result<Matcher, PatternError> {
    match arg {
        Value::String(s) => Ok(plain(s.clone())),
        Value::Object(m) if m.len() == 1 => match m.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(folded(s.to_lowercase())),
            Some(_) => bad("equals-ignore-case match pattern must be a string"),
            None => bad(format!(
                "Unsupported {name} pattern: {}",
                m.keys().next().map(String::as_str).unwrap_or("")
            )),
        },
        _ => bad(format!("{name} match pattern must be a string")),
    }
}

fn parse_wildcard(s: &str) -> Result<Matcher, PatternError> {
    if s.chars().count() > MAX_WILDCARD_CHARS {
        return bad("wildcard match pattern is too long");
    }
    let mut prev_star = false;
    let mut escaped = false;
    for (i, c) in s.chars().enumerate() {
        if escaped {
            if c != '*' && c != '\\' {
                return bad(format!("Invalid escape character at pos {}", i - 1));
            }
            escaped = false;
            prev_star = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '*' if prev_star => return bad(format!("Consecutive wildcard characters at pos {i}")),
            _ => {}
        }
        prev_star = c == '*';
    }
    if escaped {
        return bad(format!(
            "Invalid escape character at pos {}",
            s.chars().count() - 1
        ));
    }
    Ok(Matcher::Wildcard(s.to_string()))
}

fn parse_numeric(arg: &Value) -> Result<Range, PatternError> {
    let Value::Array(items) = arg else {
        return bad("Value of numeric must be an array.");
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return bad("Value of numeric must be an array.");
    }
    let mut range = Range::default();
    for pair in items.chunks(2) {
        let Value::String(op) = &pair[0] else {
            return bad("Invalid member in numeric match: operator must be a string");
        };
        let Some(n) = pair[1].as_f64() else {
            return bad(format!("Value of {op} must be numeric"));
        };
        if n.abs() > 5.0e9 {
            return bad("Value of numeric match must be between -5.0E9 and 5.0E9 inclusive");
        }
        let slot = match op.as_str() {
            "=" => {
                if range.equal.is_some() || items.len() != 2 {
                    return bad("Bad numeric range operator: =");
                }
                range.equal = Some(n);
                continue;
            }
            ">" | ">=" => &mut range.lower,
            "<" | "<=" => &mut range.upper,
            other => return bad(format!("Unrecognized numeric range operator: {other}")),
        };
        if slot.is_some() {
            return bad(format!("Bad numeric range operator: {op}"));
        }
        *slot = Some((n, op.ends_with('=')));
    }
    if let (Some((lo, _)), Some((hi, _))) = (range.lower, range.upper) {
        if lo >= hi {
            return bad("Bottom must be less than top");
        }
    }
    Ok(range)
}

fn parse_cidr(s: &str) -> Result<Cidr, PatternError> {
    let invalid = || PatternError(format!("Nonstandard IP address: {s}"));
    let (addr, bits) = s.split_once('/').ok_or_else(invalid)?;
    let net: IpAddr = addr.parse().map_err(|_| invalid())?;
    let bits: u8 = bits.parse().map_err(|_| invalid())?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(invalid());
    }
    Ok(Cidr { net, bits })
}

/// `anything-but`: a value, a list of values, or `{prefix|suffix|wildcard|equals-ignore-case}`.
fn parse_anything_but(arg: &Value) -> Result<Matcher, PatternError> {
    let inner = match arg {
        Value::String(_) | Value::Number(_) => Matcher::Exact(arg.clone()),
        Value::Array(items) => {
            if items.is_empty() {
                return bad("Empty arrays are not allowed");
            }
            let all_strings = items.iter().all(Value::is_string);
            let all_numbers = items.iter().all(Value::is_number);
            if !all_strings && !all_numbers {
                return bad("Inside anything but list, start|null|boolean is not supported.");
            }
            Matcher::Any(items.iter().cloned().map(Matcher::Exact).collect())
        }
        Value::Object(m) if m.len() == 1 => {
            let (op, v) = m.iter().next().expect("one entry");
            match op.as_str() {
                "prefix" | "suffix" => match v {
                    Value::String(s) if op == "prefix" => Matcher::Prefix(s.clone()),
                    Value::String(s) => Matcher::Suffix(s.clone()),
                    _ => return bad(format!("{op} match pattern must be a string")),
                },
                "wildcard" => match v {
                    Value::String(s) => parse_wildcard(s)?,
                    Value::Array(list) if !list.is_empty() => Matcher::Any(
                        list.iter()
                            .map(|w| match w {
                                Value::String(s) => parse_wildcard(s),
                                _ => bad("wildcard match pattern must be a string"),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return bad("wildcard match pattern must be a string"),
                },
                "equals-ignore-case" => match v {
                    Value::String(s) => Matcher::EqualsIgnoreCase(s.to_lowercase()),
                    Value::Array(list) if !list.is_empty() => Matcher::Any(
                        list.iter()
                            .map(|w| match w {
                                Value::String(s) => Ok(Matcher::EqualsIgnoreCase(s.to_lowercase())),
                                _ => bad("Inside anything-but/ignore-case list, number|start|null|boolean is not supported."),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return bad("Inside anything-but/ignore-case list, number|start|null|boolean is not supported."),
                },
                other => return bad(format!("Unsupported anything-but pattern: {other}")),
            }
        }
        _ => return bad("Value of anything-but must be an array or single string/number value."),
    };
    Ok(Matcher::AnythingBut(Box::new(inner)))
}

fn node_matches(node: &Node, event: &Map<String, Value>) -> bool {
    node.fields
        .iter()
        .all(|(key, field)| field_matches(field, event.get(key)))
        && node
            .ors
            .iter()
            .all(|branches| branches.iter().any(|b| node_matches(b, event)))
}

fn field_matches(field: &Field, value: Option<&Value>) -> bool {
    match field {
        Field::Object(child) => match value {
            Some(Value::Object(m)) => node_matches(child, m),
            Some(Value::Array(items)) => items
                .iter()
                .any(|i| matches!(i, Value::Object(m) if node_matches(child, m))),
            _ => false,
        },
        Field::Leaf(matchers) => matchers.iter().any(|m| leaf_matches(m, value)),
    }
}

/// One matcher against the event's value (`None`: the field is absent). An array in the
/// event matches when any of its elements does; an empty one counts as absent.
fn leaf_matches(m: &Matcher, value: Option<&Value>) -> bool {
    match (m, value) {
        (Matcher::Exists(want), None) => !want,
        (Matcher::Exists(want), Some(Value::Array(items))) => *want != items.is_empty(),
        (Matcher::Exists(want), Some(Value::Object(_))) => !want,
        (Matcher::Exists(want), Some(_)) => *want,
        (_, None) => false,
        (_, Some(Value::Array(items))) => items.iter().any(|v| value_matches(m, v)),
        (_, Some(v)) => value_matches(m, v),
    }
}

/// One matcher against one scalar value of the event.
fn value_matches(m: &Matcher, v: &Value) -> bool {
    match m {
        Matcher::Exact(want) => exact(want, v),
        Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => v
            .as_str()
            .is_some_and(|s| s.to_lowercase().starts_with(p.as_str())),
        Matcher::Suffix(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::SuffixIgnoreCase(p) => v
            .as_str()
            .is_some_and(|s| s.to_lowercase().ends_with(p.as_str())),
        Matcher::EqualsIgnoreCase(p) => v.as_str().is_some_and(|s| s.to_lowercase() == *p),
        Matcher::Wildcard(p) => v.as_str().is_some_and(|s| wildcard(p, s)),
        Matcher::Exists(want) => *want,
        Matcher::Numeric(r) => v.as_f64().is_some_and(|n| r.contains(n)),
        Matcher::Cidr(c) => v
            .as_str()
            .and_then(|s| s.parse::<IpAddr>().ok())
            .is_some_and(|ip| c.contains(ip)),
        Matcher::AnythingBut(inner) => match v {
            // Anything-but of values matches only values of the same kind.
            Value::String(_) | Value::Number(_) => !value_matches(inner, v),
            _ => false,
        },
        Matcher::Any(list) => list.iter().any(|m| value_matches(m, v)),
    }
}

/// Exact equality, numbers compared numerically.
fn exact(want: &Value, v: &Value) -> bool {
    match (want, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == v,
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        if let Some(eq) = self.equal {
            return n == eq;
        }
        let above = self
            .lower
            .is_none_or(|(lo, incl)| if incl { n >= lo } else { n > lo });
        let below = self
            .upper
            .is_none_or(|(hi, incl)| if incl { n <= hi } else { n < hi });
        above && below
    }
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// Whether `s` matches the wildcard pattern `p` (`*` any run of characters, `\*` a star).
/// Greedy with one backtrack point: linear in practice, at most |p|·|s| steps.
fn wildcard(p: &str, s: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(pi) {
            Some(Tok::Char(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
            }
            Some(Tok::Star) => {
                star = Some((pi, si));
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    toks[pi..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests;
