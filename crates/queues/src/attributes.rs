//! Queue attributes: which exist, their defaults, the checks AWS makes on each, and the two
//! redrive policies (a source's `RedrivePolicy`, a dead-letter queue's `RedriveAllowPolicy`).

use std::collections::BTreeMap;

use stratus_core::Error;

use crate::names::{invalid_attribute_name, invalid_attribute_value, invalid_parameter};

/// A queue's attributes as stored: every settable attribute with its value (defaults
/// included), so a read needs no merging.
pub type Attributes = BTreeMap<String, String>;

/// Largest message (and largest `MaximumMessageSize`): 256 KiB.
pub const MAX_MESSAGE_SIZE: usize = 262_144;

/// Attributes computed at read time, which a request may not set.
pub const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Attributes only a FIFO queue has.
const FIFO_ONLY: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Integer attributes and their inclusive ranges.
const RANGES: &[(&str, i64, i64)] = &[
    ("DelaySeconds", 0, 900),
    ("MaximumMessageSize", 1024, MAX_MESSAGE_SIZE as i64),
    ("MessageRetentionPeriod", 60, 1_209_600),
    ("ReceiveMessageWaitTimeSeconds", 0, 20),
    ("VisibilityTimeout", 0, 43_200),
    ("KmsDataKeyReusePeriodSeconds", 60, 86_400),
];

/// Other attributes a request may set.
const OTHERS: &[&str] = &[
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
    "FifoQueue",
];

/// The attributes a new queue has before the request's own are applied.
pub fn defaults(fifo: bool) -> Attributes {
    let mut a: Attributes = [
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "262144"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("VisibilityTimeout", "30"),
        ("SqsManagedSseEnabled", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if fifo {
        for (k, v) in [
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perQueue"),
        ] {
            a.insert(k.into(), v.into());
        }
    }
    a
}

/// Whether `name` is an attribute GetQueueAttributes knows (settable or computed).
pub fn known(name: &str) -> bool {
    READ_ONLY.contains(&name)
        || OTHERS.contains(&name)
        || FIFO_ONLY.contains(&name)
        || RANGES.iter().any(|(n, _, _)| *n == name)
}

/// Checks one attribute a request sets; `creating` allows `FifoQueue`. The dead-letter
/// target of a redrive policy is checked by the store, which can see it.
pub fn check(name: &str, value: &str, creating: bool, fifo: bool) -> Result<(), Error> {
    if READ_ONLY.contains(&name) || !known(name) || (FIFO_ONLY.contains(&name) && !fifo) {
        return Err(invalid_attribute_name(name));
    }
    if let Some((_, lo, hi)) = RANGES.iter().find(|(n, _, _)| *n == name) {
        return match value.parse::<i64>() {
            Ok(n) if (*lo..=*hi).contains(&n) => Ok(()),
            _ => Err(invalid_attribute_value(name, None)),
        };
    }
    let boolean = value == "true" || value == "false";
    match name {
        "FifoQueue" if !creating => Err(invalid_attribute_value(
            name,
            Some("Modifying queue type is not supported."),
        )),
        "FifoQueue" if value != if fifo { "true" } else { "false" } => {
            Err(invalid_attribute_value(name, None))
        }
        "ContentBasedDeduplication" | "SqsManagedSseEnabled" if !boolean => {
            Err(invalid_attribute_value(name, None))
        }
        "DeduplicationScope" if value != "queue" && value != "messageGroup" => {
            Err(invalid_attribute_value(name, None))
        }
        "FifoThroughputLimit" if value != "perQueue" && value != "perMessageGroupId" => {
            Err(invalid_attribute_value(name, None))
        }
        "Policy"
            if !value.is_empty() && serde_json::from_str::<serde_json::Value>(value).is_err() =>
        {
            Err(invalid_attribute_value(
                name,
                Some("Policy is not a valid JSON document."),
            ))
        }
        "RedrivePolicy" if !value.is_empty() => parse_redrive(value).map(|_| ()),
        "RedriveAllowPolicy" if !value.is_empty() => parse_allow(value).map(|_| ()),
        _ => Ok(()),
    }
}

/// A checked attribute as it is stored and reported: a redrive policy in AWS's form (its
/// count a number, whatever the request sent), every other value as given.
pub fn normalize(name: &str, value: &str) -> String {
    match name {
        "RedrivePolicy" if !value.is_empty() => match parse_redrive(value) {
            Ok(r) => serde_json::json!({
                "deadLetterTargetArn": r.dead_letter_arn,
                "maxReceiveCount": r.max_receive_count,
            })
            .to_string(),
            Err(_) => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// A source queue's redrive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_arn: String,
    pub max_receive_count: i64,
}

/// The queue's redrive policy, if it has one.
pub fn redrive(attrs: &Attributes) -> Option<Redrive> {
    attrs
        .get("RedrivePolicy")
        .and_then(|v| parse_redrive(v).ok())
}

/// Parses a `RedrivePolicy`: `maxReceiveCount` (1-1000, a number or a string of one) and
/// `deadLetterTargetArn`.
pub fn parse_redrive(value: &str) -> Result<Redrive, Error> {
    let bad = |why: &str| invalid_parameter(value, "RedrivePolicy", why);
    let v: serde_json::Value =
        serde_json::from_str(value).map_err(|_| bad("Redrive policy is not a valid JSON map."))?;
    let map = v
        .as_object()
        .ok_or_else(|| bad("Redrive policy is not a valid JSON map."))?;
    let arn = map
        .get("deadLetterTargetArn")
        .and_then(|a| a.as_str())
        .ok_or_else(|| {
            bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        })?;
    let count = map.get("maxReceiveCount").ok_or_else(|| {
        bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    })?;
    let n = count
        .as_i64()
        .or_else(|| count.as_str().and_then(|s| s.parse().ok()))
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| {
            bad(&format!(
                "Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive."
            ))
        })?;
    Ok(Redrive {
        dead_letter_arn: arn.to_string(),
        max_receive_count: n,
    })
}

/// Which source queues a dead-letter queue accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    All,
    None,
    Queues(Vec<String>),
}

/// Parses a `RedriveAllowPolicy`: `redrivePermission` `allowAll`, `denyAll` or `byQueue`
/// (with 1-10 `sourceQueueArns`).
pub fn parse_allow(value: &str) -> Result<Allow, Error> {
    let bad = |why: &str| invalid_parameter(value, "RedriveAllowPolicy", why);
    let v: serde_json::Value = serde_json::from_str(value)
        .map_err(|_| bad("Redrive allow policy is not a valid JSON map."))?;
    let sources = v.get("sourceQueueArns").and_then(|s| s.as_array());
    match v.get("redrivePermission").and_then(|p| p.as_str()) {
        Some("allowAll") if sources.is_none() => Ok(Allow::All),
        Some("denyAll") if sources.is_none() => Ok(Allow::None),
        Some("byQueue") => {
            let arns: Vec<String> = sources
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            if arns.is_empty() || arns.len() > 10 {
                return Err(bad("Amount of source queue ARNs must be between 1 and 10."));
            }
            Ok(Allow::Queues(arns))
        }
        Some("allowAll" | "denyAll") => Err(bad(
            "Only byQueue redrivePermission may have sourceQueueArns.",
        )),
        _ => Err(bad("Invalid value for redrivePermission.")),
    }
}

/// Whether a dead-letter queue with these attributes accepts `source` (no policy: any).
pub fn allows(dead_letter: &Attributes, source: &str) -> bool {
    match dead_letter
        .get("RedriveAllowPolicy")
        .filter(|v| !v.is_empty())
        .map(|v| parse_allow(v))
    {
        None | Some(Ok(Allow::All)) => true,
        Some(Ok(Allow::Queues(arns))) => arns.iter().any(|a| a == source),
        Some(Ok(Allow::None)) | Some(Err(_)) => false,
    }
}

/// An integer attribute (always present: defaults are stored).
pub fn int(attrs: &Attributes, name: &str) -> i64 {
    attrs.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn is_fifo(attrs: &Attributes) -> bool {
    attrs.get("FifoQueue").is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_follow_aws() {
        assert!(check("VisibilityTimeout", "43200", true, false).is_ok());
        assert_eq!(
            check("VisibilityTimeout", "43201", true, false)
                .unwrap_err()
                .code,
            "InvalidAttributeValue"
        );
        assert_eq!(
            check("Bogus", "1", true, false).unwrap_err().code,
            "InvalidAttributeName"
        );
        assert_eq!(
            check("ContentBasedDeduplication", "true", true, false)
                .unwrap_err()
                .code,
            "InvalidAttributeName"
        );
        assert!(check("ContentBasedDeduplication", "true", true, true).is_ok());
        assert!(check("QueueArn", "x", true, false).is_err());
        assert!(check("FifoQueue", "true", false, true).is_err());
    }

    #[test]
    fn redrive_policies_parse() {
        let given = r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":"3"}"#;
        let r = parse_redrive(given).unwrap();
        assert_eq!(r.max_receive_count, 3);
        assert_eq!(
            normalize("RedrivePolicy", given),
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}"#
        );
        assert!(parse_redrive(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":0}"#).is_err());
        assert!(parse_redrive("nope").is_err());
        let mut dlq = Attributes::new();
        assert!(allows(&dlq, "a"));
        dlq.insert(
            "RedriveAllowPolicy".into(),
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["a"]}"#.into(),
        );
        assert!(allows(&dlq, "a"));
        assert!(!allows(&dlq, "b"));
        dlq.insert(
            "RedriveAllowPolicy".into(),
            r#"{"redrivePermission":"denyAll"}"#.into(),
        );
        assert!(!allows(&dlq, "a"));
    }
}
