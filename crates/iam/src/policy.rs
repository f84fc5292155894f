//! Policy documents: parsed once into [`Policy`] (the form the evaluator reads), validated
//! with the words IAM answers `MalformedPolicyDocument` with. The checks run in IAM's order,
//! so a document with several faults gets the message AWS gives for it.

use serde_json::{Map, Value};
use stratus_core::Error;

use crate::condition::Condition;

/// Where a document is used: identity policies name actions and resources; trust policies
/// (a role's `AssumeRolePolicyDocument`) name principals and no resource; resource policies
/// (bucket policies, a function's permissions) name principals and resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Identity,
    Trust,
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or its complement (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub values: Vec<String>,
    pub negated: bool,
}

/// The principals a statement names: `"*"`, or per type (`AWS`, `Service`, `Federated`,
/// `CanonicalUser`) a list of ARNs, account ids or service names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principals {
    pub any: bool,
    pub entries: Vec<(String, String)>,
    pub negated: bool,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principals: Option<Principals>,
    pub actions: Patterns,
    /// `None` in trust policies, which name no resource.
    pub resources: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

/// A parsed, valid policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

const TOP: &[&str] = &["Version", "Id", "Statement"];
const ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

pub fn malformed(message: impl Into<String>) -> Error {
    Error::new(
        "MalformedPolicyDocument",
        stratus_core::Kind::InvalidInput,
        message,
    )
}

fn syntax() -> Error {
    malformed("Syntax errors in policy.")
}

impl Policy {
    /// Parses and validates `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: Kind) -> Result<Policy, Error> {
        let doc: Value = serde_json::from_str(text).map_err(|_| syntax())?;
        let doc = doc.as_object().ok_or_else(syntax)?;
        if doc.keys().any(|k| !TOP.contains(&k.as_str())) {
            return Err(syntax());
        }
        let raw = statements(doc)?;
        match doc.get("Version").map(|v| v.as_str()) {
            Some(Some("2012-10-17")) => {}
            // The old version (and a document without one, which defaults to it) is accepted
            // as IAM accepts it, as long as nothing in it is a policy variable, which only
            // 2012-10-17 has (SAM's policy templates, for one, give no Version).
            Some(Some("2008-10-17")) | None => {
                if text.contains("${") {
                    return Err(malformed(
                        "Policy document must be version 2012-10-17 or greater.",
                    ));
                }
            }
            _ => return Err(syntax()),
        }
        if raw.iter().any(
            |s| !matches!(s.get("Effect"), Some(Value::String(e)) if e == "Allow" || e == "Deny"),
        ) {
            return Err(malformed("The policy failed legacy parsing"));
        }
        unique_sids(&raw)?;
        let statements = raw
            .iter()
            .map(|s| statement(s, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }
}

/// The statements, each checked for shape: an object of known elements whose values have
/// the right JSON types.
fn statements(doc: &Map<String, Value>) -> Result<Vec<&Map<String, Value>>, Error> {
    if let Some(id) = doc.get("Id") {
        id.as_str().ok_or_else(syntax)?;
    }
    let list: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return Err(syntax()),
    };
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let s = s.as_object().ok_or_else(syntax)?;
        let well_formed = s.keys().all(|k| ELEMENTS.contains(&k.as_str()))
            && !(s.contains_key("Action") && s.contains_key("NotAction"))
            && !(s.contains_key("Resource") && s.contains_key("NotResource"))
            && !(s.contains_key("Principal") && s.contains_key("NotPrincipal"))
            && s.get("Effect")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny"))
            && ["Action", "NotAction", "Resource", "NotResource"]
                .iter()
                .all(|k| s.get(*k).is_none_or(is_strings))
            && s.get("Sid").is_none_or(Value::is_string)
            && s.get("Condition").is_none_or(is_condition_block);
        if !well_formed {
            return Err(syntax());
        }
        out.push(s);
    }
    Ok(out)
}

fn is_strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => a.iter().all(Value::is_string),
        _ => false,
    }
}

fn is_condition_block(v: &Value) -> bool {
    v.as_object().is_some_and(|ops| {
        ops.values().all(|keys| {
            keys.as_object().is_some_and(|keys| {
                keys.values().all(|v| match v {
                    Value::Array(a) => a.iter().all(is_scalar),
                    v => is_scalar(v),
                })
            })
        })
    })
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Bool(_) | Value::Number(_))
}

fn unique_sids(raw: &[&Map<String, Value>]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for s in raw {
        if let Some(sid) = s
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if !seen.insert(sid) {
                return Err(malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
        }
    }
    Ok(())
}

/// A string or a list of strings as a list.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn patterns(s: &Map<String, Value>, key: &str, not_key: &str) -> Option<Patterns> {
    let (v, negated) = match (s.get(key), s.get(not_key)) {
        (Some(v), _) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => return None,
    };
    Some(Patterns {
        values: strings(v),
        negated,
    })
}

fn statement(s: &Map<String, Value>, kind: Kind) -> Result<Statement, Error> {
    let actions = patterns(s, "Action", "NotAction")
        .filter(|p| !p.values.is_empty())
        .ok_or_else(|| malformed("Policy statement must contain actions."))?;
    let resources = patterns(s, "Resource", "NotResource");
    let principals = principals(s)?;
    match kind {
        Kind::Identity if principals.is_some() => {
            return Err(malformed("Policy document should not specify a principal."))
        }
        Kind::Trust | Kind::Resource if principals.is_none() => {
            return Err(malformed("Missing required field Principal"))
        }
        Kind::Trust if resources.is_some() => {
            return Err(malformed("Has prohibited field Resource"))
        }
        Kind::Identity | Kind::Resource
            if resources.as_ref().is_none_or(|r| r.values.is_empty()) =>
        {
            return Err(malformed("Policy statement must contain resources."))
        }
        _ => {}
    }
    if let Some(r) = &resources {
        // IAM reports the resources of a list in reverse sorted order.
        let mut sorted: Vec<&String> = r.values.iter().collect();
        sorted.sort_by(|a, b| b.cmp(a));
        for res in sorted {
            check_resource(res)?;
        }
    }
    for a in &actions.values {
        check_action(a)?;
    }
    let conditions = match s.get("Condition") {
        Some(block) => crate::condition::parse_block(block)?,
        None => Vec::new(),
    };
    Ok(Statement {
        sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
        effect: if s.get("Effect").and_then(Value::as_str) == Some("Deny") {
            Effect::Deny
        } else {
            Effect::Allow
        },
        principals,
        actions,
        resources,
        conditions,
    })
}

fn principals(s: &Map<String, Value>) -> Result<Option<Principals>, Error> {
    let (v, negated) = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(v), _) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => return Ok(None),
    };
    let mut p = Principals {
        negated,
        ..Default::default()
    };
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(map) => {
            for (kind, values) in map {
                if !matches!(
                    kind.as_str(),
                    "AWS" | "Service" | "Federated" | "CanonicalUser"
                ) {
                    return Err(syntax());
                }
                if !is_strings(values) {
                    return Err(syntax());
                }
                for value in strings(values) {
                    if kind == "AWS" && !valid_aws_principal(&value) {
                        return Err(malformed(format!(
                            "Invalid principal in policy: \"AWS\":\"{value}\""
                        )));
                    }
                    p.entries.push((kind.clone(), value));
                }
            }
        }
        _ => return Err(syntax()),
    }
    Ok(Some(p))
}

/// `*`, a 12-digit account id, or an IAM/STS ARN.
fn valid_aws_principal(v: &str) -> bool {
    v == "*"
        || (v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
        || v.starts_with("arn:aws:iam::")
        || v.starts_with("arn:aws:sts::")
}

fn check_action(a: &str) -> Result<(), Error> {
    if a == "*" {
        return Ok(());
    }
    let mut parts = a.split(':');
    let vendor = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => Err(malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        )),
        (Some(_), Some(_)) => Err(malformed("Actions/Condition can contain only one colon.")),
        (Some(_), None)
            if vendor.is_empty()
                || !vendor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            Err(malformed(format!("Vendor {vendor} is not valid")))
        }
        _ => Ok(()),
    }
}

/// `*` or `arn:aws:<service>:<region>:<account>:<resource>`, with IAM's and S3's own rules.
fn check_resource(r: &str) -> Result<(), Error> {
    if r == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() < 2 || parts[0] != "arn" {
        return Err(malformed(format!(
            "Resource {r} must be in ARN format or \"*\"."
        )));
    }
    if parts[1] != "aws" {
        let at = |i: usize| {
            parts
                .get(i)
                .copied()
                .filter(|s| !s.is_empty())
                .unwrap_or("*")
        };
        return Err(malformed(format!(
            "Partition \"{}\" is not valid for resource \"arn:{}:{}:{}:{}:{}\".",
            parts[1],
            parts[1],
            at(2),
            at(3),
            at(4),
            at(5)
        )));
    }
    if parts.len() < 6 || parts[2].is_empty() || parts[2].contains('*') {
        return Err(malformed(
            "Resource vendor must be fully qualified and cannot contain regexes.",
        ));
    }
    let (service, region, resource) = (parts[2], parts[3], parts[5]);
    match service {
        "iam" if !region.is_empty() => Err(malformed(format!(
            "IAM resource {r} cannot contain region information."
        ))),
        "s3" if !region.is_empty() => Err(malformed(format!(
            "Resource {r} can not contain region information."
        ))),
        "iam" if resource != "*" && !IAM_PATHS.iter().any(|p| resource.starts_with(p)) => {
            Err(malformed(format!(
                "IAM resource path must either be \"*\" or start with {}.",
                IAM_PATHS.join(", ")
            )))
        }
        _ => Ok(()),
    }
}

const IAM_PATHS: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn err(doc: &str, kind: Kind) -> String {
        Policy::parse(doc, kind).unwrap_err().message
    }

    #[test]
    fn malformed_documents_get_iams_messages() {
        let id = Kind::Identity;
        let cases = [
            ("not json", "Syntax errors in policy."),
            (r#"{"Version":"2012-10-17"}"#, "Syntax errors in policy."),
            (
                r#"{"Version":"2012-10-17","Statement":[],"X":1}"#,
                "Syntax errors in policy.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"s3:*","Resource":"*"}}"#,
                "Syntax errors in policy.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${aws:username}/*"}}"#,
                "Policy document must be version 2012-10-17 or greater.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"s3:*","Resource":"*"}}"#,
                "The policy failed legacy parsing",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
                "Statement IDs (SID) in a single policy must be unique.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
                "Policy statement must contain resources.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#,
                "Resource bucket must be in ARN format or \"*\".",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3","Resource":"*"}}"#,
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:us-east-1::b"}}"#,
                "Resource arn:aws:s3:us-east-1::b can not contain region information.",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#,
                "Policy document should not specify a principal.",
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(err(doc, id), want, "{doc}");
        }
        let trust_no_principal =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#;
        assert_eq!(
            err(trust_no_principal, Kind::Trust),
            "Missing required field Principal"
        );
        let trust_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
        assert_eq!(
            err(trust_resource, Kind::Trust),
            "Has prohibited field Resource"
        );
        let bad_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}}"#;
        assert_eq!(
            err(bad_principal, Kind::Trust),
            "Invalid principal in policy: \"AWS\":\"bob\""
        );
    }

    #[test]
    fn a_document_without_version_or_variables_is_accepted() {
        for doc in [
            r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}"#,
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}"#,
        ] {
            Policy::parse(doc, Kind::Identity).unwrap();
        }
    }

    #[test]
    fn the_managed_policies_parse() {
        for p in crate::managed::ALL {
            Policy::parse(p.document, Kind::Identity).unwrap();
        }
    }
}
