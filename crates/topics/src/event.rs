//! The event a subscribed function receives, in AWS's shape:
//! `{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","EventSubscriptionArn":..,
//! "Sns":{"Type":"Notification","MessageId",..}}]}`.
//!
//! The signature: AWS signs the canonical string of a notification with a private key whose
//! certificate sits at `SigningCertUrl`. Stratus has no such key, so `Signature` is the base64
//! HMAC-SHA256 of the same canonical string under the platform's own signing key (kept in
//! `topics.db`). It is deterministic and tamper-evident for whoever holds the key, but it does
//! not verify against a certificate: code that verifies SNS signatures must not do so against
//! Stratus.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::message::MessageAttribute;

/// What one delivery of a published message says.
#[derive(Debug, Clone)]
pub struct Notification<'a> {
    pub message_id: &'a str,
    pub topic_arn: &'a str,
    pub subject: Option<&'a str>,
    /// The body for this subscriber's protocol.
    pub message: &'a str,
    /// ISO 8601 with milliseconds, UTC (`2024-01-02T03:04:05.678Z`).
    pub timestamp: &'a str,
    pub attributes: &'a BTreeMap<String, MessageAttribute>,
}

/// Now, as SNS writes timestamps.
pub fn timestamp_now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

/// SNS's canonical string of a notification (signature version 1): each present field's name
/// and value on their own lines, in this order.
pub fn canonical_string(n: &Notification<'_>) -> String {
    let mut s = String::new();
    let mut field = |k: &str, v: &str| {
        s.push_str(k);
        s.push('\n');
        s.push_str(v);
        s.push('\n');
    };
    field("Message", n.message);
    field("MessageId", n.message_id);
    if let Some(subject) = n.subject {
        field("Subject", subject);
    }
    field("Timestamp", n.timestamp);
    field("TopicArn", n.topic_arn);
    field("Type", "Notification");
    s
}

/// The base64 HMAC-SHA256 of the canonical string under `key`.
pub fn signature(key: &[u8], n: &Notification<'_>) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(canonical_string(n).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The event for a function subscribed as `subscription_arn`; `endpoint` is the platform's
/// base URL as the publisher reached it (for `SigningCertUrl` and `UnsubscribeUrl`).
/// `signature_version` is the topic's `SignatureVersion` ("1" unless set).
pub fn lambda_event(
    subscription_arn: &str,
    n: &Notification<'_>,
    endpoint: &str,
    key: &[u8],
    signature_version: &str,
) -> Value {
    let attributes: Map<String, Value> = n
        .attributes
        .iter()
        .map(|(name, a)| {
            (
                name.clone(),
                json!({"Type": a.data_type, "Value": a.event_value()}),
            )
        })
        .collect();
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": n.message_id,
            "TopicArn": n.topic_arn,
            "Subject": n.subject,
            "Message": n.message,
            "Timestamp": n.timestamp,
            "SignatureVersion": signature_version,
            "Signature": signature(key, n),
            "SigningCertUrl": format!("{endpoint}/SimpleNotificationService-stratus.pem"),
            "UnsubscribeUrl": format!("{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"),
            "MessageAttributes": attributes,
        }
    }]})
}

/// The notification a queue subscribed as `subscription_arn` receives as its message body
/// (unless it asked for raw delivery): SNS's JSON document for HTTP and SQS endpoints, whose
/// URL members are spelled `SigningCertURL` and `UnsubscribeURL`, with `Subject` and
/// `MessageAttributes` only when there are some.
pub fn queue_envelope(
    subscription_arn: &str,
    n: &Notification<'_>,
    endpoint: &str,
    key: &[u8],
    signature_version: &str,
) -> Value {
    let mut doc = Map::new();
    doc.insert("Type".into(), "Notification".into());
    doc.insert("MessageId".into(), n.message_id.into());
    doc.insert("TopicArn".into(), n.topic_arn.into());
    if let Some(subject) = n.subject {
        doc.insert("Subject".into(), subject.into());
    }
    doc.insert("Message".into(), n.message.into());
    doc.insert("Timestamp".into(), n.timestamp.into());
    doc.insert("SignatureVersion".into(), signature_version.into());
    doc.insert("Signature".into(), signature(key, n).into());
    doc.insert(
        "SigningCertURL".into(),
        format!("{endpoint}/SimpleNotificationService-stratus.pem").into(),
    );
    doc.insert(
        "UnsubscribeURL".into(),
        format!("{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}").into(),
    );
    if !n.attributes.is_empty() {
        let attributes: Map<String, Value> = n
            .attributes
            .iter()
            .map(|(name, a)| {
                (
                    name.clone(),
                    json!({"Type": a.data_type, "Value": a.event_value()}),
                )
            })
            .collect();
        doc.insert("MessageAttributes".into(), Value::Object(attributes));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_has_aws_shape() {
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "n".to_string(),
            MessageAttribute {
                data_type: "Number".into(),
                string_value: Some("7".into()),
                binary_value: None,
            },
        );
        let n = Notification {
            message_id: "m-1",
            topic_arn: "arn:aws:sns:us-east-1:000000000000:t",
            subject: None,
            message: "hello",
            timestamp: "2024-01-02T03:04:05.678Z",
            attributes: &attrs,
        };
        let sub = "arn:aws:sns:us-east-1:000000000000:t:3f7c0f53-1a3e-4a44-9f83-0e2d2ad3a1a2";
        let ev = lambda_event(sub, &n, "http://localhost:4566", b"k", "1");
        let r = &ev["Records"][0];
        assert_eq!(r["EventSource"], "aws:sns");
        assert_eq!(r["EventVersion"], "1.0");
        assert_eq!(r["EventSubscriptionArn"], sub);
        assert_eq!(r["Sns"]["Subject"], Value::Null);
        assert_eq!(
            r["Sns"]["MessageAttributes"]["n"],
            json!({"Type": "Number", "Value": "7"})
        );
        assert_eq!(
            r["Sns"]["UnsubscribeUrl"],
            format!("http://localhost:4566/?Action=Unsubscribe&SubscriptionArn={sub}")
        );
        assert_eq!(r["Sns"]["Signature"], signature(b"k", &n));
        let env = queue_envelope(sub, &n, "http://localhost:4566", b"k", "1");
        assert_eq!(env["Type"], "Notification");
        assert!(env.get("Subject").is_none());
        assert_eq!(env["MessageAttributes"]["n"]["Value"], "7");
        assert_eq!(env["UnsubscribeURL"], r["Sns"]["UnsubscribeUrl"]);
        assert_eq!(env["Signature"], r["Sns"]["Signature"]);
        assert_ne!(signature(b"k", &n), signature(b"other", &n));
        assert_eq!(
            canonical_string(&n),
            "Message\nhello\nMessageId\nm-1\nTimestamp\n2024-01-02T03:04:05.678Z\nTopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n"
        );
    }
}
