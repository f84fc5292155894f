//! Publish and PublishBatch. A publish is acknowledged only once one asynchronous invocation
//! per matching function subscriber is in the durable queue (all of a request's in one
//! transaction), so delivery is at least once and survives a crash after the reply; the async
//! dispatcher's retries apply from there.

use std::collections::HashSet;

use axum::response::Response;
use stratus_core::names::FunctionRef;
use stratus_core::{Error, Kind};
use stratus_invoke::{EventQueue, NewEvent, Trigger};
use stratus_topics::event::{lambda_event, queue_envelope, timestamp_now, Notification};
use stratus_topics::filter::{FilterPolicy, Scope};
use stratus_topics::message::{Message, MAX_MESSAGE_BYTES};
use stratus_topics::names::{invalid, topic_not_found};
use stratus_topics::store::Subscription;

use super::form::Params;
use super::{check_topic_arn, xml, Ctx};

/// Most entries in one PublishBatch.
const MAX_BATCH: usize = 10;

/// A message checked and ready to go, with the id it will carry.
struct Outgoing {
    id: String,
    message: Message,
    /// FIFO topics' `MessageGroupId` and `MessageDeduplicationId`, passed on to FIFO queues.
    group_id: Option<String>,
    deduplication_id: Option<String>,
}

/// The target topic of a Publish: `TopicArn` or `TargetArn`, exactly one.
fn target<'p>(c: &Ctx, p: &'p Params) -> Result<&'p str, Error> {
    if p.get("PhoneNumber").is_some() {
        return Err(invalid(
            "PhoneNumber Reason: SMS delivery is not offered by this service",
        ));
    }
    let arn =
        match (p.get("TopicArn"), p.get("TargetArn")) {
            (Some(t), None) | (None, Some(t)) => t,
            (Some(_), Some(_)) => return Err(invalid(
                "TopicArn or TargetArn Reason: Only one of TopicArn or TargetArn may be specified",
            )),
            (None, None) => {
                return Err(invalid(
                    "TopicArn or TargetArn Reason: no value for required parameter",
                ))
            }
        };
    let param = if p.get("TopicArn").is_some() {
        "TopicArn"
    } else {
        "TargetArn"
    };
    check_topic_arn(c, arn, param)?;
    Ok(arn)
}

/// Reads and checks one message (a Publish, or one batch entry with its prefix removed).
fn read_message(p: &Params, fifo: bool) -> Result<Outgoing, Error> {
    if fifo && p.get("MessageGroupId").is_none() {
        return Err(invalid(
            "The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    if !fifo && p.get("MessageDeduplicationId").is_some() {
        return Err(invalid(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        ));
    }
    let message = Message::new(
        p.required("Message")?.to_string(),
        p.get("Subject").map(str::to_string),
        p.get("MessageStructure"),
        p.message_attributes("MessageAttributes")?,
    )?;
    Ok(Outgoing {
        id: uuid::Uuid::new_v4().to_string(),
        message,
        group_id: p.get("MessageGroupId").map(str::to_string),
        deduplication_id: p.get("MessageDeduplicationId").map(str::to_string),
    })
}

/// What a publish needs of its topic.
struct Target {
    subs: Vec<Subscription>,
    /// A FIFO topic that deduplicates by content.
    by_content: bool,
    /// `MaximumMessageSize`.
    max_size: usize,
    /// `SignatureVersion` of the notifications.
    signature_version: String,
}

/// The subscribers and settings of `topic`, which must exist.
fn subscribers(c: &Ctx, topic: &str) -> Result<Target, Error> {
    let (t, subs) = c.topics().subscribers(topic)?.ok_or_else(topic_not_found)?;
    let by_content = t
        .attrs
        .get("ContentBasedDeduplication")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let max_size = t
        .attrs
        .get("MaximumMessageSize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_MESSAGE_BYTES);
    let signature_version = t
        .attrs
        .get("SignatureVersion")
        .cloned()
        .unwrap_or_else(|| "1".into());
    Ok(Target {
        subs,
        by_content,
        max_size,
        signature_version,
    })
}

/// FIFO topics need a deduplication id unless they deduplicate by content.
fn check_dedup(p: &Params, fifo: bool, by_content: bool) -> Result<(), Error> {
    if fifo && !by_content && p.get("MessageDeduplicationId").is_none() {
        return Err(invalid(
            "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        ));
    }
    Ok(())
}

pub fn publish(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let topic = target(c, p)?;
    let fifo = topic.ends_with(".fifo");
    let out = read_message(p, fifo)?;
    let t = subscribers(c, topic)?;
    out.message.check_size(t.max_size)?;
    check_dedup(p, fifo, t.by_content)?;
    deliver(c, topic, &t, &[&out])?;
    Ok(xml::ok("Publish", &c.request_id, |x| {
        x.leaf("MessageId", &out.id);
        if fifo {
            x.leaf("SequenceNumber", &sequence_number());
        }
    }))
}

/// PublishBatch. As on AWS, an entry that fails validation fails the whole request; `Failed`
/// is for entries that could not be sent, which a local durable queue does not produce.
pub fn publish_batch(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let topic = p.required("TopicArn")?;
    check_topic_arn(c, topic, "TopicArn")?;
    let fifo = topic.ends_with(".fifo");
    let entries = p.indexed("PublishBatchRequestEntries", "member");
    check_batch(&entries)?;
    let t = subscribers(c, topic)?;
    let mut sent = Vec::new();
    for e in &entries {
        let out = read_message(e, fifo)?;
        out.message.check_size(t.max_size)?;
        check_dedup(e, fifo, t.by_content)?;
        sent.push((e.get("Id").unwrap_or("").to_string(), out));
    }
    let outgoing: Vec<&Outgoing> = sent.iter().map(|(_, o)| o).collect();
    deliver(c, topic, &t, &outgoing)?;
    Ok(xml::ok("PublishBatch", &c.request_id, |x| {
        x.open("Successful");
        for (id, o) in &sent {
            x.open("member").leaf("Id", id).leaf("MessageId", &o.id);
            if fifo {
                x.leaf("SequenceNumber", &sequence_number());
            }
            x.close("member");
        }
        x.close("Successful").open("Failed").close("Failed");
    }))
}

/// The batch-wide checks, in AWS's order.
fn check_batch(entries: &[Params]) -> Result<(), Error> {
    if entries.is_empty() {
        return Err(Error::new(
            "EmptyBatchRequest",
            Kind::InvalidInput,
            "The batch request doesn't contain any entries.",
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(Error::new(
            "TooManyEntriesInBatchRequest",
            Kind::InvalidInput,
            "The batch request contains more entries than permissible.",
        ));
    }
    let mut ids = HashSet::new();
    for e in entries {
        let id = e.get("Id").unwrap_or("");
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::new(
                "InvalidBatchEntryId",
                Kind::InvalidInput,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !ids.insert(id) {
            return Err(Error::new(
                "BatchEntryIdsNotDistinct",
                Kind::InvalidInput,
                "Two or more batch entries in the request have the same Id.",
            ));
        }
    }
    let total: usize = entries
        .iter()
        .map(|e| e.get("Message").map_or(0, str::len))
        .sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(Error::new(
            "BatchRequestTooLong",
            Kind::TooLarge,
            "The length of all the messages put together is more than the limit.",
        ));
    }
    Ok(())
}

/// Whether `sub` wants `body` with these attributes (no policy, or a matching one). A policy
/// that no longer parses matches nothing.
fn wants(sub: &Subscription, m: &Message, body: &str) -> bool {
    let Some(policy) = sub.attrs.get("FilterPolicy").filter(|p| !p.is_empty()) else {
        return true;
    };
    let scope = sub
        .attrs
        .get("FilterPolicyScope")
        .and_then(|s| Scope::parse(s))
        .unwrap_or(Scope::MessageAttributes);
    FilterPolicy::parse(policy, scope).is_ok_and(|f| f.matches(&m.attributes, body))
}

/// Queues one invocation per (message, matching function subscriber), all in one transaction.
fn deliver(c: &Ctx, topic: &str, t: &Target, msgs: &[&Outgoing]) -> Result<(), Error> {
    let key = c.topics().signing_key();
    let mut events = Vec::new();
    for out in msgs {
        let timestamp = timestamp_now();
        for sub in t.subs.iter().filter(|s| s.protocol == "lambda") {
            let body = out.message.body_for("lambda");
            if !wants(sub, &out.message, body) {
                continue;
            }
            let Ok(f) = FunctionRef::parse(&sub.endpoint) else {
                continue;
            };
            let region = f.region.clone().unwrap_or_else(|| c.region.to_string());
            if !crate::lambda::policy::InvokePermissions::of(c.state).allow(
                &f.name,
                f.qualifier.as_deref(),
                "sns.amazonaws.com",
                topic,
                &region,
            ) {
                continue;
            }
            let n = Notification {
                message_id: &out.id,
                topic_arn: topic,
                subject: out.message.subject.as_deref(),
                message: body,
                timestamp: &timestamp,
                attributes: &out.message.attributes,
            };
            let event = lambda_event(&sub.arn, &n, &c.endpoint, key, &t.signature_version);
            events.push(NewEvent {
                function: f.name,
                qualifier: f.qualifier,
                payload: event.to_string().into_bytes(),
                trigger: Trigger::Sns,
                region: f.region.unwrap_or_else(|| c.region.to_string()),
                request_id: None,
                trace: c.trace.clone(),
            });
        }
    }
    c.state.invoker.enqueue_all(events)?;
    deliver_to_queues(c, topic, t, msgs);
    Ok(())
}

/// Sends each message to every matching queue subscriber, before the publish answers: SNS's
/// JSON notification as the body, or with `RawMessageDelivery` the message itself with its
/// attributes as message attributes. A queue that is gone loses the message, as on AWS
/// without a subscription dead-letter queue.
fn deliver_to_queues(c: &Ctx, topic: &str, t: &Target, msgs: &[&Outgoing]) {
    let key = c.topics().signing_key();
    for out in msgs {
        let timestamp = timestamp_now();
        for sub in t.subs.iter().filter(|s| s.protocol == "sqs") {
            let body = out.message.body_for("sqs");
            if !wants(sub, &out.message, body) {
                continue;
            }
            let raw = sub
                .attrs
                .get("RawMessageDelivery")
                .is_some_and(|v| v == "true");
            let (text, attributes) = if raw {
                (body.to_string(), queue_attributes(&out.message))
            } else {
                let n = Notification {
                    message_id: &out.id,
                    topic_arn: topic,
                    subject: out.message.subject.as_deref(),
                    message: body,
                    timestamp: &timestamp,
                    attributes: &out.message.attributes,
                };
                let doc = queue_envelope(&sub.arn, &n, &c.endpoint, key, &t.signature_version);
                (doc.to_string(), Default::default())
            };
            let mut m = stratus_queues::store::Outgoing {
                body: text,
                attributes,
                group_id: out.group_id.clone(),
                // A FIFO queue needs an id; the message's own is unique.
                deduplication_id: out.group_id.as_ref().map(|_| {
                    out.deduplication_id
                        .clone()
                        .unwrap_or_else(|| out.id.clone())
                }),
                sender_id: "sns.amazonaws.com".into(),
                ..Default::default()
            };
            stratus_queues::message::with_trace_header(
                &mut m.system_attributes,
                c.trace.as_deref(),
            );
            if let Err(e) = c.state.stores.queues.send(&sub.endpoint, &m) {
                tracing::warn!(queue = %sub.endpoint, error = %e, "topic delivery to a queue dropped");
            }
        }
    }
}

/// A published message's attributes as a queue's message attributes (the same types).
fn queue_attributes(m: &Message) -> stratus_queues::message::MessageAttributes {
    m.attributes
        .iter()
        .map(|(k, a)| {
            let v = stratus_queues::message::MessageAttribute {
                data_type: a.data_type.clone(),
                string_value: a.string_value.clone(),
                binary_value: a.binary_value.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// A FIFO sequence number: 20 digits, increasing with time.
fn sequence_number() -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{:020}", nanos.max(0) as u128 % 10u128.pow(20))
}

/// Publishes `message` (with `subject`, if any) to `topic` for another service (an EventBridge
/// rule's or schedule's target, an S3 bucket notification): Publish's checks and deliveries,
/// without a request. Returns the message id.
pub fn publish_for_service(
    state: &crate::Shared,
    region: &str,
    endpoint: &str,
    topic: &str,
    message: &str,
    subject: Option<&str>,
) -> Result<String, Error> {
    let c = Ctx {
        state,
        action: "Publish".into(),
        region,
        endpoint: endpoint.to_string(),
        request_id: uuid::Uuid::new_v4().to_string(),
        trace: None,
    };
    if topic.ends_with(".fifo") {
        return Err(invalid(
            "The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    let out = Outgoing {
        id: uuid::Uuid::new_v4().to_string(),
        message: Message::new(
            message.to_string(),
            subject.map(str::to_string),
            None,
            Default::default(),
        )?,
        group_id: None,
        deduplication_id: None,
    };
    let t = subscribers(&c, topic)?;
    out.message.check_size(t.max_size)?;
    deliver(&c, topic, &t, &[&out])?;
    Ok(out.id)
}
