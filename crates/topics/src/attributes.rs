//! The attributes of topics and subscriptions: which names may be set, how values are checked,
//! and what Get*Attributes reports beyond what was set.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stratus_core::{Error, ACCOUNT_ID};

use crate::filter::{FilterPolicy, Scope};
use crate::names::invalid;

pub type Attributes = BTreeMap<String, String>;

/// Topic attributes SetTopicAttributes accepts (CreateTopic also takes `FifoTopic`).
const TOPIC_SETTABLE: &[&str] = &[
    "ApplicationFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ArchivePolicy",
    "ContentBasedDeduplication",
    "DataProtectionPolicy",
    "DeliveryPolicy",
    "DisplayName",
    "FifoThroughputScope",
    "FirehoseFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "KmsMasterKeyId",
    "LambdaFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "MaximumMessageSize",
    "Policy",
    "SignatureVersion",
    "SQSFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "TracingConfig",
];

/// Subscription attributes Subscribe and SetSubscriptionAttributes accept.
const SUBSCRIPTION_SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "ReplayPolicy",
    "SubscriptionRoleArn",
];

fn json_object(name: &str, value: &str) -> Result<(), Error> {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(invalid(format!(
            "Attributes Reason: {name}: failed to parse JSON"
        ))),
    }
}

fn boolean(name: &str, value: &str) -> Result<(), Error> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err(invalid(format!(
            "Attributes Reason: {name}: Invalid value [{value}]. Must be true or false."
        ))),
    }
}

/// Checks one topic attribute. `creating` allows `FifoTopic`, which is fixed at creation.
pub fn check_topic_attribute(
    name: &str,
    value: &str,
    creating: bool,
    fifo: bool,
) -> Result<(), Error> {
    let known = TOPIC_SETTABLE.contains(&name) || (creating && name == "FifoTopic");
    if !known {
        return Err(invalid("AttributeName"));
    }
    match name {
        "Policy" | "DeliveryPolicy" | "DataProtectionPolicy" | "ArchivePolicy"
            if !value.is_empty() =>
        {
            json_object(name, value)
        }
        "FifoTopic" => boolean(name, value),
        "ContentBasedDeduplication" => {
            boolean(name, value)?;
            if fifo {
                Ok(())
            } else {
                Err(invalid(
                    "ContentBasedDeduplication Reason: Content based deduplication can only be set for FIFO topics",
                ))
            }
        }
        "MaximumMessageSize"
            if !value.parse::<usize>().is_ok_and(|n| {
                (crate::message::MIN_TOPIC_MESSAGE_BYTES..=crate::message::MAX_TOPIC_MESSAGE_BYTES)
                    .contains(&n)
            }) =>
        {
            Err(invalid(
                "MaximumMessageSize: Invalid value. Must be an integer from 1024 to 1048576.",
            ))
        }
        "SignatureVersion" if !matches!(value, "1" | "2") => {
            Err(invalid("SignatureVersion: Invalid value. Must be 1 or 2."))
        }
        "TracingConfig" if !matches!(value, "PassThrough" | "Active") => Err(invalid(
            "Attributes Reason: TracingConfig: Invalid value. Must be PassThrough or Active.",
        )),
        "DisplayName" if value.chars().count() > 100 => Err(invalid(
            "DisplayName Reason: DisplayName must be less than 100 characters",
        )),
        _ => Ok(()),
    }
}

/// AWS's default access policy of a new topic.
pub fn default_policy(topic_arn: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT_ID}}
        }]
    })
    .to_string()
}

/// AddPermission: a statement `label` letting `accounts` perform `actions` on the topic.
pub fn add_statement(
    policy: &mut Value,
    topic_arn: &str,
    label: &str,
    accounts: &[String],
    actions: &[String],
) -> Result<(), Error> {
    let statements = statements(policy);
    if statements.iter().any(|s| s["Sid"] == label) {
        return Err(invalid("Statement already exists"));
    }
    let one_or_list = |items: Vec<String>| match items.as_slice() {
        [one] => json!(one),
        _ => json!(items),
    };
    let principals = accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    let actions = actions.iter().map(|a| format!("SNS:{a}")).collect();
    statements.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_list(principals)},
        "Action": one_or_list(actions),
        "Resource": topic_arn,
    }));
    Ok(())
}

/// RemovePermission: drops the statement `label` (absent, nothing changes).
pub fn remove_statement(policy: &mut Value, label: &str) {
    statements(policy).retain(|s| s["Sid"] != label);
}

fn statements(policy: &mut Value) -> &mut Vec<Value> {
    if !policy["Statement"].is_array() {
        policy["Statement"] = json!([]);
    }
    policy["Statement"]
        .as_array_mut()
        .expect("made an array above")
}

/// The delivery policy in force when none is set (AWS's defaults for HTTP/S endpoints).
pub fn default_delivery_policy() -> Value {
    json!({"http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3,
            "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
            "backoffFunction": "linear"
        },
        "disableSubscriptionOverrides": false,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}
    }})
}

/// What GetTopicAttributes reports: the computed attributes, then what was set.
pub fn topic_view(topic_arn: &str, set: &Attributes, confirmed: usize) -> Attributes {
    let mut out = Attributes::new();
    out.insert("TopicArn".into(), topic_arn.into());
    out.insert("Owner".into(), ACCOUNT_ID.into());
    out.insert("Policy".into(), default_policy(topic_arn));
    out.insert("DisplayName".into(), String::new());
    out.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
    out.insert("SubscriptionsPending".into(), "0".into());
    out.insert("SubscriptionsDeleted".into(), "0".into());
    let mut effective = default_delivery_policy();
    if let Some(Ok(Value::Object(custom))) = set
        .get("DeliveryPolicy")
        .map(|p| serde_json::from_str::<Value>(p))
    {
        for (k, v) in custom {
            effective[k] = v;
        }
    }
    out.insert("EffectiveDeliveryPolicy".into(), effective.to_string());
    if set.get("FifoTopic").is_some_and(|v| v == "true") {
        out.insert("ContentBasedDeduplication".into(), "false".into());
    }
    for (k, v) in set {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Checks one subscription attribute against the other attributes it will sit with
/// (`current`, the state before the change) for a subscription of `protocol`.
pub fn check_subscription_attribute(
    name: &str,
    value: &str,
    protocol: &str,
    current: &Attributes,
) -> Result<(), Error> {
    if !SUBSCRIPTION_SETTABLE.contains(&name) {
        return Err(invalid("AttributeName"));
    }
    match name {
        "RawMessageDelivery" => {
            // AWS refuses the attribute itself for such protocols, even set to false.
            if protocol == "lambda" {
                return Err(invalid(format!(
                    "Delivery protocol [{protocol}] does not support raw message delivery."
                )));
            }
            boolean(name, value)
        }
        "FilterPolicyScope" => {
            let scope = Scope::parse(value).ok_or_else(|| {
                invalid(format!(
                    "Attributes Reason: FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
                ))
            })?;
            match current.get("FilterPolicy").filter(|p| !p.is_empty()) {
                Some(p) => FilterPolicy::parse(p, scope).map(|_| ()),
                None => Ok(()),
            }
        }
        "FilterPolicy" if !value.is_empty() => {
            let scope = current
                .get("FilterPolicyScope")
                .and_then(|s| Scope::parse(s))
                .unwrap_or(Scope::MessageAttributes);
            FilterPolicy::parse(value, scope).map(|_| ())
        }
        "RedrivePolicy" if !value.is_empty() => redrive_policy(value),
        "DeliveryPolicy" | "ReplayPolicy" if !value.is_empty() => json_object(name, value),
        _ => Ok(()),
    }
}

fn redrive_policy(value: &str) -> Result<(), Error> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(value) else {
        return Err(invalid("RedrivePolicy: failed to parse JSON."));
    };
    let target = doc
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .unwrap_or("");
    if target.split(':').count() < 6 || !target.starts_with("arn:") {
        return Err(invalid(
            "RedrivePolicy: deadLetterTargetArn is an invalid arn",
        ));
    }
    Ok(())
}

/// Applies a checked subscription attribute to `attrs` (an empty filter policy removes it,
/// and with it the scope, as on AWS).
pub fn apply_subscription_attribute(attrs: &mut Attributes, name: &str, value: &str) {
    match name {
        "FilterPolicy" if value.is_empty() => {
            attrs.remove("FilterPolicy");
            attrs.remove("FilterPolicyScope");
        }
        "RawMessageDelivery" => {
            attrs.insert(name.into(), value.to_ascii_lowercase());
        }
        "FilterPolicy" => {
            attrs.insert(name.into(), value.into());
            attrs
                .entry("FilterPolicyScope".into())
                .or_insert_with(|| "MessageAttributes".into());
        }
        _ => {
            attrs.insert(name.into(), value.into());
        }
    }
}

/// What GetSubscriptionAttributes reports.
pub fn subscription_view(
    arn: &str,
    topic_arn: &str,
    protocol: &str,
    endpoint: &str,
    set: &Attributes,
) -> Attributes {
    let mut out = Attributes::new();
    out.insert("SubscriptionArn".into(), arn.into());
    out.insert("TopicArn".into(), topic_arn.into());
    out.insert("Protocol".into(), protocol.into());
    out.insert("Endpoint".into(), endpoint.into());
    out.insert("Owner".into(), ACCOUNT_ID.into());
    out.insert("ConfirmationWasAuthenticated".into(), "true".into());
    out.insert("PendingConfirmation".into(), "false".into());
    out.insert("RawMessageDelivery".into(), "false".into());
    // The principal that subscribed: with one credential pair, the account itself.
    out.insert(
        "SubscriptionPrincipal".into(),
        format!("arn:aws:iam::{ACCOUNT_ID}:root"),
    );
    for (k, v) in set {
        out.insert(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_attribute_names_and_values() {
        assert!(check_topic_attribute("DisplayName", "x", false, false).is_ok());
        assert_eq!(
            check_topic_attribute("Bogus", "x", false, false)
                .unwrap_err()
                .message,
            "Invalid parameter: AttributeName"
        );
        assert!(check_topic_attribute("FifoTopic", "true", false, false).is_err());
        assert!(check_topic_attribute("FifoTopic", "true", true, true).is_ok());
        assert!(check_topic_attribute("Policy", "{", false, false).is_err());
        assert!(check_topic_attribute("ContentBasedDeduplication", "true", false, false).is_err());
    }

    #[test]
    fn topic_view_merges_delivery_policy() {
        let mut set = Attributes::new();
        set.insert("DisplayName".into(), "Orders".into());
        set.insert(
            "DeliveryPolicy".into(),
            r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5}}}"#.into(),
        );
        let v = topic_view("arn:aws:sns:us-east-1:000000000000:t", &set, 2);
        assert_eq!(v["DisplayName"], "Orders");
        assert_eq!(v["SubscriptionsConfirmed"], "2");
        let eff: Value = serde_json::from_str(&v["EffectiveDeliveryPolicy"]).unwrap();
        assert_eq!(eff["http"]["defaultHealthyRetryPolicy"]["numRetries"], 5);
        assert!(v["Policy"].contains("__default_policy_ID"));
    }

    #[test]
    fn raw_delivery_is_refused_for_functions() {
        let none = Attributes::new();
        assert!(
            check_subscription_attribute("RawMessageDelivery", "true", "lambda", &none).is_err()
        );
        assert!(
            check_subscription_attribute("RawMessageDelivery", "false", "lambda", &none).is_err()
        );
        assert!(check_subscription_attribute("RawMessageDelivery", "true", "sqs", &none).is_ok());
        assert!(check_subscription_attribute("RawMessageDelivery", "yes", "sqs", &none).is_err());
    }

    #[test]
    fn filter_policy_and_scope_are_checked_together() {
        let mut attrs = Attributes::new();
        let nested = r#"{"a":{"b":["x"]}}"#;
        assert!(check_subscription_attribute("FilterPolicy", nested, "lambda", &attrs).is_err());
        apply_subscription_attribute(&mut attrs, "FilterPolicyScope", "MessageBody");
        assert!(check_subscription_attribute("FilterPolicy", nested, "lambda", &attrs).is_ok());
        apply_subscription_attribute(&mut attrs, "FilterPolicy", nested);
        assert!(check_subscription_attribute(
            "FilterPolicyScope",
            "MessageAttributes",
            "lambda",
            &attrs
        )
        .is_err());
        apply_subscription_attribute(&mut attrs, "FilterPolicy", "");
        assert!(attrs.is_empty());
    }
}
