//! Bucket notifications to Lambda functions: the stored configuration, which writes match it,
//! and AWS's S3 event record. Delivery itself goes through an [`EventSink`], which the API
//! layer implements with the durable asynchronous invocation queue.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::ACCOUNT_ID;

/// Where object events go; implemented by the layer that can invoke functions.
pub trait EventSink: Send + Sync {
    /// Whether a function ARN names an existing function that S3 may invoke for events of
    /// `bucket` (S3 validates a destination by its permission, as on AWS).
    fn accepts(&self, arn: &str, bucket: &str) -> bool;
    /// Queues one asynchronous invocation of `arn` with `payload` (or sends it to the queue
    /// or the topic `arn` names), carrying on `trace`, the causing request's trace header.
    fn deliver(&self, arn: &str, payload: Vec<u8>, region: &str, trace: Option<&str>);
    /// Puts one event (`source`, `detail-type`, `resources`, `detail`) on the default event
    /// bus of `region`, for a bucket with EventBridge enabled. A sink without a bus drops it.
    fn put_event(&self, _event: Value, _region: &str) {}
}

/// A bucket's stored notification configuration: its targets (functions, queues, topics)
/// and whether every object event also goes to EventBridge.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NotificationConfig {
    pub targets: Vec<LambdaTarget>,
    #[serde(default)]
    pub event_bridge: bool,
}

impl NotificationConfig {
    /// Reads a stored configuration; the first stored form was the bare list of targets.
    pub fn parse(stored: &str) -> NotificationConfig {
        if let Ok(targets) = serde_json::from_str::<Vec<LambdaTarget>>(stored) {
            return NotificationConfig {
                targets,
                event_bridge: false,
            };
        }
        serde_json::from_str(stored).unwrap_or_default()
    }
}

/// Whether a target ARN names an SQS queue.
pub fn is_queue_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:sqs:")
}

/// Whether a target ARN names an SNS topic.
pub fn is_topic_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:sns:")
}

/// The Subject of the SNS messages S3 publishes.
pub const SNS_SUBJECT: &str = "Amazon S3 Notification";

/// One `LambdaFunctionConfiguration`, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LambdaTarget {
    pub id: String,
    pub arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

/// The event names S3 accepts in a configuration.
pub const EVENT_NAMES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
];

impl LambdaTarget {
    /// Whether an event (`s3:ObjectCreated:Put`) on `key` is for this target.
    pub fn matches(&self, event: &str, key: &str) -> bool {
        let kind_matches = self.events.iter().any(|e| match e.strip_suffix('*') {
            Some(family) => event.starts_with(family),
            None => e == event,
        });
        kind_matches
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// Characters S3 leaves as they are in an event's object key (space becomes `+`).
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/')
    .remove(b' ');

pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_KEEP)
        .to_string()
        .replace(' ', "+")
}

/// What happened to an object, for one event record.
pub struct ObjectEvent<'a> {
    /// Without the `s3:` prefix, e.g. `ObjectCreated:Put`.
    pub name: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: Option<u64>,
    pub etag: Option<&'a str>,
    /// The version written or removed, in a bucket that has had versioning enabled.
    pub version_id: Option<&'a str>,
    pub sequencer: String,
    pub region: &'a str,
    pub request_id: &'a str,
    pub source_ip: &'a str,
}

/// The message S3 sends a queue when a configuration naming it is stored.
pub fn test_event(bucket: &str) -> Value {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let now = time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default();
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": now,
        "Bucket": bucket,
        "RequestId": &id[..16],
        "HostId": format!("{id}/stratus"),
    })
}

/// EventBridge's `detail-type` and the `reason` of an event (None: S3 sends it no event),
/// per AWS's "EventBridge event message structure".
fn event_bridge_kind(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match name {
        "ObjectCreated:Put" => ("Object Created", Some("PutObject")),
        "ObjectCreated:Post" => ("Object Created", Some("POST Object")),
        "ObjectCreated:Copy" => ("Object Created", Some("CopyObject")),
        "ObjectCreated:CompleteMultipartUpload" => {
            ("Object Created", Some("CompleteMultipartUpload"))
        }
        "ObjectRemoved:Delete" | "ObjectRemoved:DeleteMarkerCreated" => {
            ("Object Deleted", Some("DeleteObject"))
        }
        "LifecycleExpiration:Delete" | "LifecycleExpiration:DeleteMarkerCreated" => {
            ("Object Deleted", Some("Lifecycle Expiration"))
        }
        "ObjectTagging:Put" => ("Object Tags Added", None),
        "ObjectTagging:Delete" => ("Object Tags Deleted", None),
        "ObjectAcl:Put" => ("Object ACL Updated", None),
        _ => return None,
    })
}

/// The event S3 puts on the default bus for an object event (`source`, `detail-type`,
/// `resources`, `detail`), or None for events EventBridge is not sent.
pub fn event_bridge_event(ev: &ObjectEvent<'_>) -> Option<Value> {
    let (detail_type, reason) = event_bridge_kind(ev.name)?;
    let mut object = json!({ "key": ev.key, "sequencer": ev.sequencer });
    if let Some(size) = ev.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = ev.etag {
        object["etag"] = json!(etag);
    }
    if let Some(v) = ev.version_id {
        object["version-id"] = json!(v);
    }
    let mut detail = json!({
        "version": "0",
        "bucket": { "name": ev.bucket },
        "object": object,
        "request-id": ev.request_id,
        "requester": ACCOUNT_ID,
        "source-ip-address": ev.source_ip,
    });
    if let Some(r) = reason {
        detail["reason"] = json!(r);
    }
    if detail_type == "Object Deleted" {
        detail["deletion-type"] = json!(match ev.name.ends_with("DeleteMarkerCreated") {
            true => "Delete Marker Created",
            false => "Permanently Deleted",
        });
    }
    Some(json!({
        "source": "aws.s3",
        "detail-type": detail_type,
        "resources": [format!("arn:aws:s3:::{}", ev.bucket)],
        "detail": detail,
    }))
}

/// AWS's S3 event notification (one record), as a Lambda function receives it.
pub fn record(ev: &ObjectEvent<'_>, configuration_id: &str) -> Value {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let now = time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default();
    let mut object = json!({ "key": encode_key(ev.key), "sequencer": ev.sequencer });
    if let Some(size) = ev.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = ev.etag {
        object["eTag"] = json!(etag);
    }
    if let Some(v) = ev.version_id {
        object["versionId"] = json!(v);
    }
    json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": ev.region,
        "eventTime": now,
        "eventName": ev.name,
        "userIdentity": { "principalId": format!("AWS:{ACCOUNT_ID}") },
        "requestParameters": { "sourceIPAddress": ev.source_ip },
        "responseElements": { "x-amz-request-id": ev.request_id, "x-amz-id-2": format!("{}/stratus", ev.request_id) },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": ev.bucket,
                "ownerIdentity": { "principalId": ACCOUNT_ID },
                "arn": format!("arn:aws:s3:::{}", ev.bucket),
            },
            "object": object,
        },
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> LambdaTarget {
        LambdaTarget {
            id: "t".into(),
            arn: "arn".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            prefix: prefix.map(str::to_string),
            suffix: suffix.map(str::to_string),
        }
    }

    #[test]
    fn wildcards_and_filters() {
        let t = target(&["s3:ObjectCreated:*"], Some("images/"), Some(".jpg"));
        assert!(t.matches("s3:ObjectCreated:Put", "images/a.jpg"));
        assert!(t.matches("s3:ObjectCreated:CompleteMultipartUpload", "images/b.jpg"));
        assert!(!t.matches("s3:ObjectRemoved:Delete", "images/a.jpg"));
        assert!(!t.matches("s3:ObjectCreated:Put", "docs/a.jpg"));
        assert!(!t.matches("s3:ObjectCreated:Put", "images/a.png"));
        let exact = target(&["s3:ObjectCreated:Copy"], None, None);
        assert!(!exact.matches("s3:ObjectCreated:Put", "x"));
        assert!(exact.matches("s3:ObjectCreated:Copy", "x"));
    }

    #[test]
    fn keys_are_encoded_as_s3_does() {
        assert_eq!(encode_key("images/my photo.jpg"), "images/my+photo.jpg");
        assert_eq!(encode_key("a+b=c"), "a%2Bb%3Dc");
    }

    #[test]
    fn record_shape() {
        let ev = ObjectEvent {
            name: "ObjectCreated:Put",
            bucket: "b",
            key: "k 1",
            size: Some(3),
            etag: Some("abc"),
            version_id: Some("v1"),
            sequencer: "00AB".into(),
            region: "us-east-1",
            request_id: "r",
            source_ip: "127.0.0.1",
        };
        let r = record(&ev, "cfg");
        let rec = &r["Records"][0];
        assert_eq!(rec["eventSource"], "aws:s3");
        assert_eq!(rec["s3"]["object"]["key"], "k+1");
        assert_eq!(rec["s3"]["object"]["versionId"], "v1");
        let unversioned = record(
            &ObjectEvent {
                version_id: None,
                ..ev
            },
            "cfg",
        );
        assert!(unversioned["Records"][0]["s3"]["object"]
            .get("versionId")
            .is_none());
        assert_eq!(rec["s3"]["bucket"]["arn"], "arn:aws:s3:::b");
        assert_eq!(rec["s3"]["configurationId"], "cfg");
    }

    fn event(name: &'static str, version_id: Option<&'static str>) -> ObjectEvent<'static> {
        ObjectEvent {
            name,
            bucket: "b",
            key: "k 1",
            size: None,
            etag: None,
            version_id,
            sequencer: "00AB".into(),
            region: "us-east-1",
            request_id: "r",
            source_ip: "127.0.0.1",
        }
    }

    #[test]
    fn event_bridge_shape() {
        let created = event_bridge_event(&ObjectEvent {
            size: Some(3),
            etag: Some("abc"),
            ..event("ObjectCreated:Copy", Some("v1"))
        })
        .unwrap();
        assert_eq!(created["source"], "aws.s3");
        assert_eq!(created["detail-type"], "Object Created");
        assert_eq!(created["resources"], json!(["arn:aws:s3:::b"]));
        let d = &created["detail"];
        assert_eq!(d["reason"], "CopyObject");
        assert_eq!(
            d["object"]["key"], "k 1",
            "EventBridge keys are not encoded"
        );
        assert_eq!(d["object"]["etag"], "abc");
        assert_eq!(d["object"]["version-id"], "v1");
        assert!(d.get("deletion-type").is_none());
        let marker = event_bridge_event(&event("ObjectRemoved:DeleteMarkerCreated", None)).unwrap();
        assert_eq!(marker["detail-type"], "Object Deleted");
        assert_eq!(marker["detail"]["deletion-type"], "Delete Marker Created");
        assert_eq!(marker["detail"]["reason"], "DeleteObject");
        let gone = event_bridge_event(&event("LifecycleExpiration:Delete", None)).unwrap();
        assert_eq!(gone["detail"]["deletion-type"], "Permanently Deleted");
        assert_eq!(gone["detail"]["reason"], "Lifecycle Expiration");
        assert!(event_bridge_event(&event("ReducedRedundancyLostObject", None)).is_none());
    }

    #[test]
    fn stored_configurations_of_both_forms_read() {
        let t = target(&["s3:ObjectCreated:*"], None, None);
        let old = serde_json::to_string(&vec![t.clone()]).unwrap();
        assert_eq!(NotificationConfig::parse(&old).targets, vec![t.clone()]);
        let new = NotificationConfig {
            targets: vec![t],
            event_bridge: true,
        };
        let stored = serde_json::to_string(&new).unwrap();
        assert_eq!(NotificationConfig::parse(&stored), new);
        assert_eq!(NotificationConfig::parse(""), NotificationConfig::default());
    }
}
