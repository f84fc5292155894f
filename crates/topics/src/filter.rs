//! Subscription filter policies: parsing with AWS's limits and `InvalidParameter` messages, and
//! matching with AWS's rules. A policy is an object whose leaves are arrays of rules; keys are
//! ANDed, the rules of one leaf ORed, and `$or` offers alternative sets of keys.
//!
//! Rules: exact strings, numbers, `true`/`false`/`null`; `prefix`, `suffix`,
//! `equals-ignore-case`; `anything-but` (a value, a list, or `{prefix}` / `{suffix}`);
//! `numeric` comparisons and ranges; `exists`. With `FilterPolicyScope` `MessageAttributes`
//! keys name message attributes (no nesting); with `MessageBody` they walk the JSON message.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};
use stratus_core::Error;

use crate::message::MessageAttribute;
use crate::names::invalid;

/// Most keys (leaves) one policy may name.
const MAX_KEYS: usize = 5;
/// Most value combinations one policy may describe.
const MAX_COMBINATIONS: usize = 150;
/// Largest policy document.
const MAX_BYTES: usize = 256 * 1024;
/// Deepest nesting of objects and `$or`s the expansion follows (a document nested deeper
/// cannot stay within five keys in any useful way; the bound keeps the recursion shallow).
const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    MessageAttributes,
    MessageBody,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "MessageAttributes" => Some(Scope::MessageAttributes),
            "MessageBody" => Some(Scope::MessageBody),
            _ => None,
        }
    }
}

/// A value to compare with: what a message attribute or a body field holds.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

impl Scalar {
    fn of(v: &Value) -> Option<Scalar> {
        match v {
            Value::String(s) => Some(Scalar::Str(s.clone())),
            Value::Number(n) => n.as_f64().map(Scalar::Num),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Null => Some(Scalar::Null),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Exact(Scalar),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Scalar>),
    AnythingButPrefix(String),
    AnythingButSuffix(String),
    Numeric(Vec<(Cmp, f64)>),
    Cidr(IpAddr, u8),
    Exists(bool),
}

/// One alternative: every leaf (a key path and its rules) must match.
#[derive(Debug, Clone, Default, PartialEq)]
struct Conjunction(Vec<(Vec<String>, Vec<Rule>)>);

/// A parsed filter policy: it matches when any of its alternatives does.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy {
    scope: Scope,
    alternatives: Vec<Conjunction>,
}

fn bad(what: impl std::fmt::Display) -> Error {
    invalid(format!("FilterPolicy: {what}"))
}

fn too_complex() -> Error {
    bad("Filter policy is too complex")
}

fn too_many_keys() -> Error {
    bad(format!(
        "Filter policy can not have more than {MAX_KEYS} keys"
    ))
}

impl FilterPolicy {
    /// Parses and checks a policy document for `scope`.
    pub fn parse(text: &str, scope: Scope) -> Result<FilterPolicy, Error> {
        if text.len() > MAX_BYTES {
            return Err(bad("Filter policy is too long"));
        }
        let doc: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("failed to parse JSON. {e}")))?;
        let Value::Object(obj) = doc else {
            return Err(bad("Filter policy must be a JSON object"));
        };
        let mut alternatives = vec![Conjunction::default()];
        expand(&obj, &[], scope, &mut alternatives, 0)?;
        let keys = alternatives.iter().map(|c| c.0.len()).max().unwrap_or(0);
        if keys > MAX_KEYS {
            return Err(too_many_keys());
        }
        let combinations: usize = alternatives
            .iter()
            .map(|c| c.0.iter().map(|(_, r)| r.len()).product::<usize>())
            .sum();
        if combinations > MAX_COMBINATIONS {
            return Err(too_complex());
        }
        Ok(FilterPolicy {
            scope,
            alternatives,
        })
    }

    /// Whether a message with these attributes and this body passes the policy.
    pub fn matches(&self, attributes: &BTreeMap<String, MessageAttribute>, body: &str) -> bool {
        let body_doc;
        let source = match self.scope {
            Scope::MessageAttributes => Source::Attributes(attributes),
            Scope::MessageBody => match serde_json::from_str::<Value>(body) {
                Ok(doc @ Value::Object(_)) => {
                    body_doc = doc;
                    Source::Body(&body_doc)
                }
                _ => return false,
            },
        };
        self.alternatives.iter().any(|c| {
            c.0.iter()
                .all(|(path, rules)| leaf_matches(rules, source.values(path).as_deref()))
        })
    }
}

/// Where a policy's keys are looked up.
enum Source<'a> {
    Attributes(&'a BTreeMap<String, MessageAttribute>),
    Body(&'a Value),
}

impl Source<'_> {
    fn values(&self, path: &[String]) -> Option<Vec<Scalar>> {
        match self {
            Source::Attributes(a) => attribute_values(a, &path[0]),
            Source::Body(doc) => body_values(doc, path),
        }
    }
}

/// Adds the keys of `obj` (under `prefix`) to every alternative, multiplying them out at `$or`.
/// The limits are checked as the policy is expanded, not after: nested `$or`s double the
/// alternatives at each level, so a small document could otherwise describe millions.
fn expand(
    obj: &Map<String, Value>,
    prefix: &[String],
    scope: Scope,
    alts: &mut Vec<Conjunction>,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_NESTING {
        return Err(bad("Filter policy is too complex"));
    }
    for (key, value) in obj {
        if key == "$or" {
            let Value::Array(branches) = value else {
                return Err(bad("\"$or\" must be an array"));
            };
            if branches.len() < 2 {
                return Err(bad("\"$or\" must have at least 2 elements"));
            }
            let mut out = Vec::new();
            for branch in branches {
                let Value::Object(b) = branch else {
                    return Err(bad("\"$or\" elements must be objects"));
                };
                let mut these = alts.clone();
                expand(b, prefix, scope, &mut these, depth + 1)?;
                out.extend(these);
                // Every alternative counts at least one combination, and `$or`s under sibling
                // keys multiply: stop before the count grows past what the limit allows.
                if out.len() > MAX_COMBINATIONS {
                    return Err(too_complex());
                }
            }
            *alts = out;
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match value {
            Value::Array(items) => {
                let rules = parse_rules(items)?;
                for c in alts.iter_mut() {
                    c.0.push((path.clone(), rules.clone()));
                    if c.0.len() > MAX_KEYS {
                        return Err(too_many_keys());
                    }
                }
            }
            Value::Object(inner) if scope == Scope::MessageBody => {
                expand(inner, &path, scope, alts, depth + 1)?
            }
            Value::Object(_) => {
                return Err(bad(
                    "Filter policy scope MessageAttributes does not support nested filter policy",
                ))
            }
            _ => return Err(bad(format!("\"{key}\" must be an object or an array"))),
        }
    }
    Ok(())
}

fn parse_rules(items: &[Value]) -> Result<Vec<Rule>, Error> {
    if items.is_empty() {
        return Err(bad("Empty arrays are not allowed"));
    }
    items.iter().map(parse_rule).collect()
}

fn parse_rule(item: &Value) -> Result<Rule, Error> {
    if let Some(s) = Scalar::of(item) {
        return Ok(Rule::Exact(s));
    }
    let Value::Object(obj) = item else {
        return Err(bad(
            "Match value must be String, number, true, false, or null",
        ));
    };
    let mut entries = obj.iter();
    let (Some((kind, v)), None) = (entries.next(), entries.next()) else {
        return Err(bad("Only one key allowed in match expression"));
    };
    match kind.as_str() {
        "prefix" => Ok(Rule::Prefix(string_operand(kind, v)?)),
        "suffix" => Ok(Rule::Suffix(string_operand(kind, v)?)),
        "equals-ignore-case" => Ok(Rule::EqualsIgnoreCase(string_operand(kind, v)?)),
        "exists" => match v {
            Value::Bool(b) => Ok(Rule::Exists(*b)),
            _ => Err(bad("exists match pattern must be either true or false.")),
        },
        "anything-but" => anything_but(v),
        "numeric" => numeric(v),
        "cidr" => cidr(v),
        other => Err(bad(format!("Unrecognized match type {other}"))),
    }
}

fn string_operand(kind: &str, v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(bad(format!("{kind} match pattern must be a string"))),
    }
}

fn anything_but(v: &Value) -> Result<Rule, Error> {
    let wrong = || bad("Value of anything-but must be an array or single string/number value.");
    match v {
        Value::String(_) | Value::Number(_) => {
            Ok(Rule::AnythingBut(vec![Scalar::of(v).ok_or_else(wrong)?]))
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(_) | Value::Number(_) => Scalar::of(i).ok_or_else(wrong),
                _ => Err(wrong()),
            })
            .collect::<Result<_, _>>()
            .map(Rule::AnythingBut),
        Value::Object(o) if o.len() == 1 => match o.iter().next() {
            Some((k, Value::String(p))) if k == "prefix" => Ok(Rule::AnythingButPrefix(p.clone())),
            Some((k, Value::String(p))) if k == "suffix" => Ok(Rule::AnythingButSuffix(p.clone())),
            Some((k, _)) if k == "prefix" || k == "suffix" => {
                Err(bad(format!("{k} match pattern must be a string")))
            }
            Some((k, _)) => Err(bad(format!("Unsupported anything-but pattern: {k}"))),
            None => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

/// `{"cidr": "10.0.0.0/24"}`: IPv4 or IPv6 addresses inside a block.
fn cidr(v: &Value) -> Result<Rule, Error> {
    let text = v
        .as_str()
        .ok_or_else(|| bad("cidr match pattern must be a string"))?;
    let parsed = text.split_once('/').and_then(|(ip, len)| {
        let ip: IpAddr = ip.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some((ip, len))
    });
    let (ip, len) =
        parsed.ok_or_else(|| bad(format!("Malformed CIDR, one '/' required: {text}")))?;
    Ok(Rule::Cidr(ip, len))
}

fn in_block(addr: &str, net: IpAddr, len: u8) -> bool {
    let (a, n, width) = match (addr.parse::<IpAddr>(), net) {
        (Ok(IpAddr::V4(a)), IpAddr::V4(n)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(n)), 32)
        }
        (Ok(IpAddr::V6(a)), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = width - u32::from(len);
    shift >= 128 || a >> shift == n >> shift
}

fn numeric(v: &Value) -> Result<Rule, Error> {
    let Value::Array(items) = v else {
        return Err(bad("Value of numeric must be an array."));
    };
    if items.is_empty() {
        return Err(bad("Invalid member in numeric match: ]"));
    }
    if items.len() > 4 || items.len() % 2 == 1 {
        return Err(bad("Too many elements in numeric expression"));
    }
    let mut terms = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some("=") => Cmp::Eq,
            Some(">=") => Cmp::Ge,
            Some(">") => Cmp::Gt,
            Some(other) => {
                return Err(bad(format!("Unrecognized numeric range operator: {other}")))
            }
            None => return Err(bad(format!("Invalid member in numeric match: {}", pair[0]))),
        };
        let Some(n) = pair[1].as_f64() else {
            return Err(bad(format!(
                "Value of {} must be numeric",
                pair[0].as_str().unwrap_or("")
            )));
        };
        terms.push((op, n));
    }
    if let [(lo_op, lo), (hi_op, hi)] = terms[..] {
        if !matches!(lo_op, Cmp::Gt | Cmp::Ge) || !matches!(hi_op, Cmp::Lt | Cmp::Le) {
            return Err(bad("Bad numeric range operator"));
        }
        if lo >= hi {
            return Err(bad("Bottom must be less than top"));
        }
    } else if terms.len() == 2 {
        return Err(bad("Too many elements in numeric expression"));
    }
    Ok(Rule::Numeric(terms))
}

/// The values a message attribute offers to a policy (Binary attributes offer none).
fn attribute_values(attrs: &BTreeMap<String, MessageAttribute>, name: &str) -> Option<Vec<Scalar>> {
    let a = attrs.get(name)?;
    let text = a.string_value.as_deref()?;
    match a.base_type() {
        "String" => Some(vec![Scalar::Str(text.to_string())]),
        "Number" => text
            .trim()
            .parse::<f64>()
            .ok()
            .map(|n| vec![Scalar::Num(n)]),
        "String.Array" => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => Some(items.iter().filter_map(Scalar::of).collect()),
            _ => None,
        },
        _ => None,
    }
}

/// The values at `path` in a JSON body; arrays along the way offer each of their elements.
fn body_values(doc: &Value, path: &[String]) -> Option<Vec<Scalar>> {
    let mut current = vec![doc];
    for key in path {
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(o) => next.extend(o.get(key)),
                Value::Array(items) => next.extend(items.iter().filter_map(|i| i.get(key))),
                _ => {}
            }
        }
        if next.is_empty() {
            return None;
        }
        current = next;
    }
    let mut out = Vec::new();
    for v in current {
        match v {
            Value::Array(items) => out.extend(items.iter().filter_map(Scalar::of)),
            other => out.extend(Scalar::of(other)),
        }
    }
    Some(out)
}

fn leaf_matches(rules: &[Rule], values: Option<&[Scalar]>) -> bool {
    rules.iter().any(|rule| match (rule, values) {
        (Rule::Exists(want), v) => *want == v.is_some(),
        (_, None) => false,
        (rule, Some(vs)) => vs.iter().any(|v| rule_matches(rule, v)),
    })
}

fn rule_matches(rule: &Rule, v: &Scalar) -> bool {
    let text = match v {
        Scalar::Str(s) => Some(s.as_str()),
        _ => None,
    };
    match rule {
        Rule::Exact(want) => want == v,
        Rule::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
        Rule::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
        Rule::EqualsIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
        Rule::AnythingBut(list) => !list.contains(v),
        Rule::AnythingButPrefix(p) => text.is_some_and(|s| !s.starts_with(p.as_str())),
        Rule::AnythingButSuffix(p) => text.is_some_and(|s| !s.ends_with(p.as_str())),
        Rule::Numeric(terms) => match v {
            Scalar::Num(n) => terms.iter().all(|(op, bound)| compare(*n, *op, *bound)),
            _ => false,
        },
        Rule::Cidr(net, len) => text.is_some_and(|s| in_block(s, *net, *len)),
        Rule::Exists(_) => true,
    }
}

fn compare(n: f64, op: Cmp, bound: f64) -> bool {
    match op {
        Cmp::Lt => n < bound,
        Cmp::Le => n <= bound,
        Cmp::Eq => n == bound,
        Cmp::Ge => n >= bound,
        Cmp::Gt => n > bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(list: &[(&str, &str, &str)]) -> BTreeMap<String, MessageAttribute> {
        list.iter()
            .map(|(n, t, v)| {
                (
                    n.to_string(),
                    MessageAttribute {
                        data_type: t.to_string(),
                        string_value: Some(v.to_string()),
                        binary_value: None,
                    },
                )
            })
            .collect()
    }

    fn on_attrs(policy: &str, list: &[(&str, &str, &str)]) -> bool {
        FilterPolicy::parse(policy, Scope::MessageAttributes)
            .unwrap()
            .matches(&attrs(list), "")
    }

    fn on_body(policy: &str, body: &str) -> bool {
        FilterPolicy::parse(policy, Scope::MessageBody)
            .unwrap()
            .matches(&BTreeMap::new(), body)
    }

    fn error(policy: &str, scope: Scope) -> String {
        FilterPolicy::parse(policy, scope).unwrap_err().message
    }

    #[test]
    fn nested_ors_are_refused_before_they_multiply_out() {
        // 40 sibling objects, each with a two-way `$or`: 2^40 alternatives if expanded fully.
        let members: Vec<String> = (0..40)
            .map(|i| format!(r#""k{i}":{{"$or":[{{"a":[1]}},{{"b":[2]}}]}}"#))
            .collect();
        let policy = format!("{{{}}}", members.join(","));
        let started = std::time::Instant::now();
        let e = error(&policy, Scope::MessageBody);
        assert!(
            e.contains("too complex") || e.contains("more than 5 keys"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn deep_nesting_is_refused_without_deep_recursion() {
        let depth = MAX_NESTING + 2;
        let policy = format!("{}[1]{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        assert_eq!(
            error(&policy, Scope::MessageBody),
            "Invalid parameter: FilterPolicy: Filter policy is too complex"
        );
        // Deeper than serde_json's own recursion limit: a parse error, not a crash.
        let policy = format!("{}[1]{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        assert!(error(&policy, Scope::MessageBody).contains("failed to parse JSON"));
    }

    #[test]
    fn a_policy_over_256_kb_is_refused() {
        let policy = format!(r#"{{"a":["{}"]}}"#, "x".repeat(256 * 1024));
        assert!(error(&policy, Scope::MessageAttributes).contains("too long"));
    }

    #[test]
    fn exact_strings_and_numbers() {
        let p = r#"{"color":["red","blue"]}"#;
        assert!(on_attrs(p, &[("color", "String", "red")]));
        assert!(!on_attrs(p, &[("color", "String", "green")]));
        assert!(!on_attrs(p, &[]));
        let n = r#"{"size":[5]}"#;
        assert!(on_attrs(n, &[("size", "Number", "5.0")]));
        assert!(!on_attrs(n, &[("size", "Number", "6")]));
        assert!(!on_attrs(n, &[("size", "String", "5")]));
    }

    #[test]
    fn keys_are_anded() {
        let p = r#"{"a":["x"],"b":["y"]}"#;
        assert!(on_attrs(p, &[("a", "String", "x"), ("b", "String", "y")]));
        assert!(!on_attrs(p, &[("a", "String", "x")]));
    }

    #[test]
    fn prefix_suffix_and_case() {
        let p = r#"{"k":[{"prefix":"ord-"}]}"#;
        assert!(on_attrs(p, &[("k", "String", "ord-1")]));
        assert!(!on_attrs(p, &[("k", "String", "inv-1")]));
        let s = r#"{"k":[{"suffix":".png"}]}"#;
        assert!(on_attrs(s, &[("k", "String", "a.png")]));
        assert!(!on_attrs(s, &[("k", "String", "a.jpg")]));
        let c = r#"{"k":[{"equals-ignore-case":"RED"}]}"#;
        assert!(on_attrs(c, &[("k", "String", "red")]));
    }

    #[test]
    fn anything_but_forms() {
        let one = r#"{"k":[{"anything-but":"red"}]}"#;
        assert!(on_attrs(one, &[("k", "String", "blue")]));
        assert!(!on_attrs(one, &[("k", "String", "red")]));
        assert!(
            !on_attrs(one, &[]),
            "absent attributes never match anything-but"
        );
        let list = r#"{"k":[{"anything-but":["red","blue"]}]}"#;
        assert!(!on_attrs(list, &[("k", "String", "blue")]));
        assert!(on_attrs(list, &[("k", "String", "green")]));
        let num = r#"{"k":[{"anything-but":[100]}]}"#;
        assert!(on_attrs(num, &[("k", "Number", "99")]));
        assert!(!on_attrs(num, &[("k", "Number", "100")]));
        let prefix = r#"{"k":[{"anything-but":{"prefix":"tmp"}}]}"#;
        assert!(on_attrs(prefix, &[("k", "String", "final")]));
        assert!(!on_attrs(prefix, &[("k", "String", "tmp-1")]));
    }

    #[test]
    fn numeric_ranges() {
        let p = r#"{"price":[{"numeric":[">",0,"<=",100]}]}"#;
        assert!(on_attrs(p, &[("price", "Number", "100")]));
        assert!(on_attrs(p, &[("price", "Number", "0.5")]));
        assert!(!on_attrs(p, &[("price", "Number", "0")]));
        assert!(!on_attrs(p, &[("price", "Number", "101")]));
        assert!(!on_attrs(p, &[("price", "String", "50")]));
        let eq = r#"{"price":[{"numeric":["=",3e2]}]}"#;
        assert!(on_attrs(eq, &[("price", "Number", "300")]));
    }

    #[test]
    fn cidr_blocks() {
        let p = r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#;
        assert!(on_attrs(p, &[("ip", "String", "10.0.0.255")]));
        assert!(!on_attrs(p, &[("ip", "String", "10.0.1.0")]));
        assert!(!on_attrs(p, &[("ip", "String", "not an ip")]));
        let v6 = r#"{"ip":[{"cidr":"2001:db8::/32"}]}"#;
        assert!(on_attrs(v6, &[("ip", "String", "2001:db8::1")]));
        assert!(!on_attrs(v6, &[("ip", "String", "2001:db9::1")]));
        assert!(on_attrs(
            r#"{"ip":[{"cidr":"0.0.0.0/0"}]}"#,
            &[("ip", "String", "1.2.3.4")]
        ));
        assert!(
            FilterPolicy::parse(r#"{"ip":[{"cidr":"10.0.0.0"}]}"#, Scope::MessageAttributes)
                .is_err()
        );
    }

    #[test]
    fn exists() {
        let yes = r#"{"k":[{"exists":true}]}"#;
        let no = r#"{"k":[{"exists":false}]}"#;
        assert!(on_attrs(yes, &[("k", "String", "v")]));
        assert!(!on_attrs(yes, &[]));
        assert!(on_attrs(no, &[]));
        assert!(!on_attrs(no, &[("k", "String", "v")]));
    }

    #[test]
    fn string_arrays_match_any_element() {
        let p = r#"{"tags":["b"]}"#;
        assert!(on_attrs(p, &[("tags", "String.Array", r#"["a","b"]"#)]));
        assert!(!on_attrs(p, &[("tags", "String.Array", r#"["a"]"#)]));
    }

    #[test]
    fn body_scope_walks_nested_keys() {
        let p = r#"{"order":{"kind":["book"],"total":[{"numeric":[">=",10]}]}}"#;
        assert!(on_body(p, r#"{"order":{"kind":"book","total":12}}"#));
        assert!(!on_body(p, r#"{"order":{"kind":"book","total":2}}"#));
        assert!(!on_body(p, r#"{"kind":"book","total":12}"#));
        assert!(!on_body(p, "not json"));
        let arr = r#"{"items":{"sku":["x"]}}"#;
        assert!(on_body(arr, r#"{"items":[{"sku":"y"},{"sku":"x"}]}"#));
    }

    #[test]
    fn or_alternatives() {
        let p = r#"{"source":["shop"],"$or":[{"a":["1"]},{"b":["2"]}]}"#;
        assert!(on_attrs(
            p,
            &[("source", "String", "shop"), ("b", "String", "2")]
        ));
        assert!(!on_attrs(p, &[("source", "String", "shop")]));
        assert!(!on_attrs(p, &[("a", "String", "1")]));
    }

    #[test]
    fn invalid_policies_get_aws_messages() {
        let a = Scope::MessageAttributes;
        assert_eq!(
            error(r#"{"a":{"b":["x"]}}"#, a),
            "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy"
        );
        assert_eq!(
            error(r#"{"a":[],"b":["x"]}"#, a),
            "Invalid parameter: FilterPolicy: Empty arrays are not allowed"
        );
        assert!(error(r#"{"a":[{"bogus":1}]}"#, a).contains("Unrecognized match type bogus"));
        assert!(error(r#"{"a":[{"exists":"yes"}]}"#, a).contains("exists match pattern"));
        assert!(
            error(r#"{"a":[{"prefix":1}]}"#, a).contains("prefix match pattern must be a string")
        );
        assert!(error(r#"{"a":[{"numeric":[">","x"]}]}"#, a).contains("Value of > must be numeric"));
        assert!(error(r#"{"a":[{"numeric":["<",5,">",1]}]}"#, a).contains("Bad numeric range"));
        assert!(error(r#"{"a":[{"numeric":[">",5,"<",1]}]}"#, a)
            .contains("Bottom must be less than top"));
        assert!(error(r#"{"a":[[1]]}"#, a).contains("Match value must be"));
        assert!(error("[1]", a).contains("JSON object"));
        assert!(error("{", a).contains("failed to parse JSON"));
        let six = r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#;
        assert_eq!(
            error(six, a),
            "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
        );
        let values: Vec<String> = (0..13).map(|i| format!("\"{i}\"")).collect();
        let list = values.join(",");
        let complex = format!(r#"{{"a":[{list}],"b":[{list}]}}"#);
        assert!(error(&complex, a).contains("too complex"));
    }

    #[test]
    fn sibling_ors_are_refused_before_they_multiply() {
        // 40 keys of the body, each with a two-way `$or`: 2^40 alternatives if expanded.
        let keys: Vec<String> = (0..40)
            .map(|i| format!(r#""k{i}":{{"$or":[{{"a":["1"]}},{{"b":["2"]}}]}}"#))
            .collect();
        let policy = format!("{{{}}}", keys.join(","));
        // Whichever limit the expansion passes first refuses it: each alternative's key count
        // or the number of alternatives; what matters is that it stops before multiplying.
        let message = error(&policy, Scope::MessageBody);
        assert!(
            message.ends_with("Filter policy is too complex")
                || message.ends_with("Filter policy can not have more than 5 keys"),
            "{message}"
        );
    }
}
