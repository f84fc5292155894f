//! Condition blocks: `{"StringEquals": {"aws:SourceAccount": "123"}}`. Operators compare the
//! request's context values with the policy's; keys are case-insensitive. Within one block
//! every operator and key must hold (AND); the policy's values for one key are alternatives
//! (OR); a negated operator (`StringNotEquals`...) holds when none of them matches.

use std::net::IpAddr;

use serde_json::Value;
use stratus_core::Error;

use crate::glob;
use crate::policy::malformed;
use crate::variables;
use crate::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

/// How a multi-valued context key is compared (`ForAnyValue:` / `ForAllValues:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub op: Op,
    /// `StringNotEquals`, `NotIpAddress`, `ArnNotLike`...: the complement of `op`.
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetOp,
    /// The context key, lower-cased (condition keys are case-insensitive).
    pub key: String,
    pub values: Vec<String>,
}

/// The operator names IAM accepts, each with its base operator and whether it is negated.
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    (
        "StringNotEqualsIgnoreCase",
        Op::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("NumericEquals", Op::NumericEquals, false),
    ("NumericNotEquals", Op::NumericEquals, true),
    ("NumericLessThan", Op::NumericLessThan, false),
    ("NumericLessThanEquals", Op::NumericLessThanEquals, false),
    ("NumericGreaterThan", Op::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Op::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Op::DateEquals, false),
    ("DateNotEquals", Op::DateEquals, true),
    ("DateLessThan", Op::DateLessThan, false),
    ("DateLessThanEquals", Op::DateLessThanEquals, false),
    ("DateGreaterThan", Op::DateGreaterThan, false),
    ("DateGreaterThanEquals", Op::DateGreaterThanEquals, false),
    ("Bool", Op::Bool, false),
    ("IpAddress", Op::IpAddress, false),
    ("NotIpAddress", Op::IpAddress, true),
    ("ArnEquals", Op::ArnEquals, false),
    ("ArnNotEquals", Op::ArnEquals, true),
    ("ArnLike", Op::ArnLike, false),
    ("ArnNotLike", Op::ArnLike, true),
    ("Null", Op::Null, false),
];

/// Parses a statement's `Condition` block (its JSON shape is already checked).
pub fn parse_block(block: &Value) -> Result<Vec<Condition>, Error> {
    let mut out = Vec::new();
    let Some(ops) = block.as_object() else {
        return Ok(out);
    };
    for (name, keys) in ops {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetOp::AnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetOp::AllValues, r)
        } else {
            (SetOp::Single, name.as_str())
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let Some(&(_, op, negated)) = OPERATORS.iter().find(|(n, _, _)| *n == base) else {
            return Err(malformed("The policy failed legacy parsing"));
        };
        for (key, values) in keys.as_object().into_iter().flatten() {
            if !key.contains(':') {
                return Err(malformed(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                ));
            }
            out.push(Condition {
                op,
                negated,
                if_exists,
                set,
                key: key.to_ascii_lowercase(),
                values: scalars(values),
            });
        }
    }
    Ok(out)
}

fn scalars(v: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        v => vec![one(v)],
    }
}

impl Condition {
    /// Whether this condition holds for the request's context.
    pub fn holds(&self, ctx: &Context) -> bool {
        let present = ctx.get(&self.key);
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return want_absent == present.is_none();
        }
        let Some(actual) = present.filter(|v| !v.is_empty()) else {
            // A missing key: ...IfExists and ForAllValues hold, negated operators hold (nothing
            // equals the policy's values), everything else fails.
            return self.if_exists || self.set == SetOp::AllValues || self.negated;
        };
        let one = |a: &str| self.values.iter().any(|v| self.value_matches(a, v, ctx));
        let positive = match self.set {
            SetOp::AllValues => actual.iter().all(|a| one(a)),
            SetOp::Single | SetOp::AnyValue => actual.iter().any(|a| one(a)),
        };
        positive != self.negated
    }
}

impl Condition {
    /// One request value against one policy value, the policy value's variables
    /// (`${aws:username}`) replaced first; a variable without a value matches nothing.
    fn value_matches(&self, actual: &str, policy: &str, ctx: &Context) -> bool {
        if !variables::has_variables(policy) {
            return compare(self.op, actual, policy);
        }
        let wildcards = matches!(self.op, Op::StringLike | Op::ArnLike);
        variables::expand(policy, ctx, wildcards).is_some_and(|p| compare(self.op, actual, &p))
    }
}

/// One request value against one policy value.
fn compare(op: Op, actual: &str, policy: &str) -> bool {
    match op {
        Op::StringEquals => actual == policy,
        Op::StringEqualsIgnoreCase => actual.eq_ignore_ascii_case(policy),
        Op::StringLike => glob::matches(policy, actual),
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThan
        | Op::NumericGreaterThanEquals => match (number(actual), number(policy)) {
            (Some(a), Some(p)) => ordered(op, a.partial_cmp(&p)),
            _ => false,
        },
        Op::DateEquals
        | Op::DateLessThan
        | Op::DateLessThanEquals
        | Op::DateGreaterThan
        | Op::DateGreaterThanEquals => match (date(actual), date(policy)) {
            (Some(a), Some(p)) => ordered(op, Some(a.cmp(&p))),
            _ => false,
        },
        Op::Bool => actual.eq_ignore_ascii_case(policy),
        Op::IpAddress => in_cidr(actual, policy),
        Op::ArnEquals => arn_like(policy, actual, false),
        Op::ArnLike => arn_like(policy, actual, true),
        Op::Null => false,
    }
}

fn ordered(op: Op, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (op, ord),
        (Op::NumericEquals | Op::DateEquals, Some(Equal))
            | (Op::NumericLessThan | Op::DateLessThan, Some(Less))
            | (
                Op::NumericLessThanEquals | Op::DateLessThanEquals,
                Some(Less | Equal)
            )
            | (Op::NumericGreaterThan | Op::DateGreaterThan, Some(Greater))
            | (
                Op::NumericGreaterThanEquals | Op::DateGreaterThanEquals,
                Some(Greater | Equal)
            )
    )
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// An ISO 8601 date-time (or date) or epoch seconds, as seconds since the epoch.
fn date(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, day)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

/// Whether `ip` lies in `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
fn in_cidr(ip: &str, cidr: &str) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let (Ok(ip), Ok(net)) = (ip.parse::<IpAddr>(), net.parse::<IpAddr>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => prefix_eq(
            u32::from(a) as u128,
            u32::from(n) as u128,
            32,
            bits.unwrap_or(32),
        ),
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            prefix_eq(u128::from(a), u128::from(n), 128, bits.unwrap_or(128))
        }
        _ => false,
    }
}

fn prefix_eq(a: u128, n: u128, width: u32, bits: u32) -> bool {
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (n >> shift)
}

/// ARNs compare part by part (`arn:partition:service:region:account:resource`), each part
/// with wildcards for `ArnLike`.
fn arn_like(policy: &str, actual: &str, wildcards: bool) -> bool {
    let p: Vec<&str> = policy.splitn(6, ':').collect();
    let a: Vec<&str> = actual.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return false;
    }
    p.iter().zip(&a).all(|(p, a)| {
        if wildcards {
            glob::matches(p, a)
        } else {
            p == a
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request context as (key, value) pairs.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn holds(block: Value, ctx: &[(&str, &str)]) -> bool {
        let mut c = Context::default();
        for (k, v) in ctx {
            c.add(k, *v);
        }
        parse_block(&block)
            .unwrap()
            .iter()
            .all(|cond| cond.holds(&c))
    }

    #[test]
    fn operators() {
        let src = [("aws:SourceArn", "arn:aws:s3:::photos")];
        let cases: Vec<(Value, Pairs, bool)> = vec![
            (
                json!({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::pho*"}}),
                &src,
                true,
            ),
            (
                json!({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::other"}}),
                &src,
                false,
            ),
            (
                json!({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::other"}}),
                &src,
                true,
            ),
            (
                json!({"StringEquals": {"aws:sourcearn": ["x", "arn:aws:s3:::photos"]}}),
                &src,
                true,
            ),
            (
                json!({"StringEquals": {"aws:SourceAccount": "1"}}),
                &src,
                false,
            ),
            (
                json!({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}),
                &src,
                true,
            ),
            (
                json!({"StringNotEquals": {"aws:SourceAccount": "1"}}),
                &src,
                true,
            ),
            (json!({"Null": {"aws:SourceAccount": "true"}}), &src, true),
            (json!({"Null": {"aws:SourceArn": "true"}}), &src, false),
            (
                json!({"Bool": {"aws:SecureTransport": "false"}}),
                &[("aws:SecureTransport", "false")],
                true,
            ),
            (
                json!({"Bool": {"aws:SecureTransport": true}}),
                &[("aws:SecureTransport", "false")],
                false,
            ),
            (
                json!({"NumericLessThan": {"s3:max-keys": "10"}}),
                &[("s3:max-keys", "5")],
                true,
            ),
            (
                json!({"NumericGreaterThanEquals": {"s3:max-keys": 10}}),
                &[("s3:max-keys", "5")],
                false,
            ),
            (
                json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
                &[("aws:CurrentTime", "2026-12-05T12:00:00Z")],
                true,
            ),
            (
                json!({"DateGreaterThan": {"aws:CurrentTime": "2030-01-01"}}),
                &[("aws:CurrentTime", "2026-12-05T12:00:00Z")],
                false,
            ),
            (
                json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
                &[("aws:SourceIp", "10.1.2.3")],
                true,
            ),
            (
                json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
                &[("aws:SourceIp", "11.1.2.3")],
                true,
            ),
            (
                json!({"IpAddress": {"aws:SourceIp": "::1/128"}}),
                &[("aws:SourceIp", "::1")],
                true,
            ),
            (
                json!({"StringLike": {"s3:prefix": ["home/", "home/alice/*"]}}),
                &[("s3:prefix", "home/alice/x")],
                true,
            ),
            (
                json!({"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}),
                &[("s3:prefix", "home/carlos/x"), ("aws:username", "carlos")],
                true,
            ),
            (
                json!({"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}),
                &[("s3:prefix", "home/maria/x"), ("aws:username", "carlos")],
                false,
            ),
            (
                json!({"StringEquals": {"s3:prefix": "${aws:username}"}}),
                &[("s3:prefix", "carlos")],
                false,
            ),
            (
                json!({"StringEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount, '1'}"}}),
                &[("aws:PrincipalAccount", "1")],
                true,
            ),
            (
                json!({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}),
                &[("aws:SourceIp", "2001:db8:1::7")],
                true,
            ),
            (
                json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
                &[("aws:SourceIp", "192.0.3.1")],
                false,
            ),
            (
                json!({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
                &[("aws:SourceIp", "127.0.0.1")],
                false,
            ),
            (
                json!({"StringEqualsIgnoreCase": {"aws:PrincipalArn": "ARN:AWS:IAM::1:ROLE/R"}}),
                &[("aws:PrincipalArn", "arn:aws:iam::1:role/r")],
                true,
            ),
        ];
        for (block, ctx, want) in cases {
            assert_eq!(holds(block.clone(), ctx), want, "{block} with {ctx:?}");
        }
    }

    #[test]
    fn set_operators_on_multivalued_keys() {
        let mut c = Context::default();
        c.add("dynamodb:LeadingKeys", "alice");
        c.add("dynamodb:LeadingKeys", "bob");
        let all =
            parse_block(&json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["alice"]}}))
                .unwrap();
        assert!(!all[0].holds(&c));
        let any =
            parse_block(&json!({"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["alice"]}}))
                .unwrap();
        assert!(any[0].holds(&c));
        // ForAllValues holds for a request without the key at all, as AWS documents.
        assert!(all[0].holds(&Context::default()));
    }
}
