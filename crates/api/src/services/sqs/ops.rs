//! One function per SQS operation, on the JSON protocol's input and output (the Query
//! protocol is translated to and from it). Each checks its input with AWS's errors, then
//! makes one call on the store, off the async workers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Map, Value};
use stratus_core::{Error, Kind, ACCOUNT_ID};
use stratus_queues::message::{MessageAttribute, MessageAttributes};
use stratus_queues::names::{self, invalid_parameter, invalid_value, missing, queue_not_found};
use stratus_queues::store::{Outgoing, ReceiveRequest, Received};

use super::{query_code, Ctx};

/// How often a long poll re-reads the store, for messages sent through another node.
const POLL_EVERY: Duration = Duration::from_millis(300);
/// Most entries in one batch, and most bytes in all of them.
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 262_144;

/// Runs `op`. ReceiveMessage may wait (long polling); every other operation runs once.
pub async fn run(c: Ctx, op: &str, input: Value) -> Result<Value, Error> {
    if op == "ReceiveMessage" {
        return receive_message(c, input).await;
    }
    let op = op.to_string();
    tokio::task::spawn_blocking(move || sync_op(&c, &op, &input))
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                "InternalFailure",
                Kind::Internal,
                "Internal Error",
            ))
        })
}

fn sync_op(c: &Ctx, op: &str, i: &Value) -> Result<Value, Error> {
    match op {
        "CreateQueue" => create_queue(c, i),
        "GetQueueUrl" => get_queue_url(c, i),
        "ListQueues" => list_queues(c, i),
        "DeleteQueue" => delete_queue(c, i),
        "GetQueueAttributes" => get_queue_attributes(c, i),
        "SetQueueAttributes" => set_queue_attributes(c, i),
        "SendMessage" => send_message(c, i),
        "SendMessageBatch" => send_message_batch(c, i),
        "DeleteMessage" => delete_message(c, i),
        "DeleteMessageBatch" => delete_message_batch(c, i),
        "ChangeMessageVisibility" => change_message_visibility(c, i),
        "ChangeMessageVisibilityBatch" => change_message_visibility_batch(c, i),
        "PurgeQueue" => purge_queue(c, i),
        "TagQueue" => tag_queue(c, i),
        "UntagQueue" => untag_queue(c, i),
        "ListQueueTags" => list_queue_tags(c, i),
        "AddPermission" => add_permission(c, i),
        "RemovePermission" => remove_permission(c, i),
        "ListDeadLetterSourceQueues" => list_dead_letter_source_queues(c, i),
        "StartMessageMoveTask" => start_message_move_task(c, i),
        "ListMessageMoveTasks" => list_message_move_tasks(c, i),
        "CancelMessageMoveTask" => cancel_message_move_task(c, i),
        "" => Err(Error::new(
            "MissingAction",
            Kind::InvalidInput,
            "Missing Action parameter",
        )),
        other => Err(Error::new(
            "InvalidAction",
            Kind::InvalidInput,
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

// ---- input helpers ----

fn string<'a>(i: &'a Value, name: &str) -> Option<&'a str> {
    i.get(name).and_then(Value::as_str)
}

fn required<'a>(i: &'a Value, name: &str) -> Result<&'a str, Error> {
    string(i, name).ok_or_else(|| missing(name))
}

/// An integer member: a JSON number, or the Query protocol's text.
fn int(i: &Value, name: &str) -> Result<Option<i64>, Error> {
    match i.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| invalid_parameter(v, name, "Must be an integer.")),
    }
}

/// An integer member within `lo..=hi`, refused with `why` outside it.
fn ranged(i: &Value, name: &str, lo: i64, hi: i64, why: &str) -> Result<Option<i64>, Error> {
    match int(i, name)? {
        Some(n) if !(lo..=hi).contains(&n) => Err(invalid_parameter(n, name, why)),
        n => Ok(n),
    }
}

fn strings(i: &Value, name: &str) -> Vec<String> {
    i.get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(i: &Value, name: &str) -> BTreeMap<String, String> {
    i.get(name)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Message attributes: `{name: {DataType, StringValue | BinaryValue (base64)}}`.
fn message_attributes(i: &Value, name: &str) -> Result<MessageAttributes, Error> {
    let mut out = MessageAttributes::new();
    let Some(map) = i.get(name).and_then(Value::as_object) else {
        return Ok(out);
    };
    for (k, v) in map {
        let data_type = string(v, "DataType").ok_or_else(|| {
            invalid_value(format!(
                "The message attribute '{k}' must contain non-empty message attribute type."
            ))
        })?;
        let binary_value = match string(v, "BinaryValue") {
            Some(b) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| {
                        invalid_value(format!(
                            "The message attribute '{k}' has an invalid binary value."
                        ))
                    })?,
            ),
            None => None,
        };
        out.insert(
            k.clone(),
            MessageAttribute {
                data_type: data_type.to_string(),
                string_value: string(v, "StringValue").map(str::to_string),
                binary_value,
            },
        );
    }
    Ok(out)
}

fn attributes_json(attrs: &MessageAttributes) -> Value {
    let mut m = Map::new();
    for (k, a) in attrs {
        let mut v = Map::new();
        if let Some(s) = &a.string_value {
            v.insert("StringValue".into(), Value::from(s.clone()));
        }
        if let Some(b) = &a.binary_value {
            v.insert(
                "BinaryValue".into(),
                Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
        v.insert("DataType".into(), Value::from(a.data_type.clone()));
        m.insert(k.clone(), Value::Object(v));
    }
    Value::Object(m)
}

/// The queue a request names by `QueueUrl`, as an ARN in the caller's region.
fn queue_arn(c: &Ctx, i: &Value) -> Result<String, Error> {
    let url = required(i, "QueueUrl")?;
    let name = names::name_from_url(url).ok_or_else(queue_not_found)?;
    if !names::valid_name(name) {
        return Err(queue_not_found());
    }
    Ok(names::queue_arn(&c.region, name))
}

fn queue_url(c: &Ctx, arn: &str) -> String {
    let name = arn.rsplit(':').next().unwrap_or(arn);
    format!("{}/{ACCOUNT_ID}/{name}", c.endpoint)
}

/// A queue ARN parameter (`SourceArn`, `DestinationArn`).
fn arn_param(i: &Value, name: &str) -> Result<Option<String>, Error> {
    match string(i, name) {
        None => Ok(None),
        Some(a) => names::parse_queue_arn(a)
            .map(|_| Some(a.to_string()))
            .ok_or_else(|| {
                invalid_parameter(
                    a,
                    name,
                    "You must use this format: arn:aws:sqs:region:account-id:queue-name",
                )
            }),
    }
}

fn empty() -> Value {
    json!({})
}

// ---- queues ----

fn create_queue(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let name = required(i, "QueueName")?;
    let attrs = string_map(i, "Attributes");
    let mut tags = string_map(i, "tags");
    tags.extend(string_map(i, "Tags"));
    let q = c.queues().create_queue(&c.region, name, &attrs, &tags)?;
    Ok(json!({"QueueUrl": queue_url(c, &q.arn)}))
}

fn get_queue_url(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let name = required(i, "QueueName")?;
    if string(i, "QueueOwnerAWSAccountId").is_some_and(|a| a != ACCOUNT_ID)
        || !names::valid_name(name)
    {
        return Err(queue_not_found());
    }
    let arn = names::queue_arn(&c.region, name);
    c.queues().queue(&arn)?.ok_or_else(queue_not_found)?;
    Ok(json!({"QueueUrl": queue_url(c, &arn)}))
}

/// A paging token: the last ARN of the previous page, opaque to the client.
fn next_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn after_token(i: &Value) -> Result<String, Error> {
    match string(i, "NextToken") {
        None | Some("") => Ok(String::new()),
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| s.starts_with("arn:aws:sqs:"))
            .ok_or_else(|| invalid_value("Invalid NextToken value.")),
    }
}

fn list_queues(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let prefix = string(i, "QueueNamePrefix").unwrap_or("");
    let max = ranged(
        i,
        "MaxResults",
        1,
        1000,
        "MaxResults must be an integer between 1 and 1000.",
    )?;
    let after = after_token(i)?;
    let limit = max.unwrap_or(1000) as usize;
    let mut arns = c
        .queues()
        .list_queues(&c.region, prefix, &after, limit + 1)?;
    let more = arns.len() > limit;
    arns.truncate(limit);
    let mut out = Map::new();
    if !arns.is_empty() {
        let urls: Vec<Value> = arns.iter().map(|a| Value::from(queue_url(c, a))).collect();
        out.insert("QueueUrls".into(), Value::from(urls));
    }
    // Only a request that pages (MaxResults) gets a token, as on AWS.
    if more && max.is_some() {
        out.insert(
            "NextToken".into(),
            Value::from(next_token(arns.last().expect("a full page"))),
        );
    }
    Ok(Value::Object(out))
}

fn delete_queue(c: &Ctx, i: &Value) -> Result<Value, Error> {
    c.queues().delete_queue(&queue_arn(c, i)?)?;
    Ok(empty())
}

fn get_queue_attributes(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let names = strings(i, "AttributeNames");
    for n in &names {
        if n != "All" && !stratus_queues::attributes::known(n) {
            return Err(names::invalid_attribute_name(n));
        }
    }
    let all = c.queues().queue_attributes(&arn)?;
    let picked: Map<String, Value> = all
        .into_iter()
        .filter(|(k, _)| names.iter().any(|n| n == "All" || n == k))
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    if picked.is_empty() {
        return Ok(empty());
    }
    Ok(json!({"Attributes": picked}))
}

fn set_queue_attributes(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    c.queues()
        .set_queue_attributes(&arn, &string_map(i, "Attributes"))?;
    Ok(empty())
}

fn purge_queue(c: &Ctx, i: &Value) -> Result<Value, Error> {
    c.queues().purge(&queue_arn(c, i)?)?;
    Ok(empty())
}

fn tag_queue(c: &Ctx, i: &Value) -> Result<Value, Error> {
    c.queues().tag(&queue_arn(c, i)?, &string_map(i, "Tags"))?;
    Ok(empty())
}

fn untag_queue(c: &Ctx, i: &Value) -> Result<Value, Error> {
    c.queues()
        .untag(&queue_arn(c, i)?, &strings(i, "TagKeys"))?;
    Ok(empty())
}

fn list_queue_tags(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let tags = c.queues().tags(&queue_arn(c, i)?)?;
    if tags.is_empty() {
        return Ok(empty());
    }
    Ok(json!({"Tags": tags}))
}

/// Adds a statement allowing the accounts the actions (`SendMessage`, ...) to the queue's
/// policy, as AWS's AddPermission writes it.
fn add_permission(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let label = required(i, "Label")?.to_string();
    let accounts = strings(i, "AWSAccountIds");
    let actions = strings(i, "Actions");
    if accounts.is_empty() {
        return Err(missing("AWSAccountIds"));
    }
    if actions.is_empty() {
        return Err(missing("Actions"));
    }
    let principals: Vec<String> = accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    let statement = json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions.iter().map(|a| format!("SQS:{a}")).collect::<Vec<_>>(),
        "Resource": arn,
    });
    c.queues().update_policy(&arn, |policy| {
        let list = policy["Statement"]
            .as_array_mut()
            .ok_or_else(|| invalid_value("Policy is not valid."))?;
        if list.iter().any(|s| s["Sid"] == label.as_str()) {
            return Err(invalid_parameter(&label, "Label", "Already exists."));
        }
        list.push(statement.clone());
        Ok(())
    })?;
    Ok(empty())
}

fn remove_permission(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let label = required(i, "Label")?.to_string();
    c.queues().update_policy(&arn, |policy| {
        let list = policy["Statement"]
            .as_array_mut()
            .ok_or_else(|| invalid_value("Policy is not valid."))?;
        let before = list.len();
        list.retain(|s| s["Sid"] != label.as_str());
        if list.len() == before {
            return Err(invalid_parameter(&label, "Label", "can't find label."));
        }
        Ok(())
    })?;
    Ok(empty())
}

fn list_dead_letter_source_queues(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let max = ranged(
        i,
        "MaxResults",
        1,
        1000,
        "MaxResults must be an integer between 1 and 1000.",
    )?;
    let after = after_token(i)?;
    let mut sources: Vec<String> = c
        .queues()
        .dead_letter_sources(&arn)?
        .into_iter()
        .filter(|a| *a > after)
        .collect();
    let limit = max.unwrap_or(1000) as usize;
    let more = sources.len() > limit;
    sources.truncate(limit);
    let urls: Vec<Value> = sources
        .iter()
        .map(|a| Value::from(queue_url(c, a)))
        .collect();
    let mut out = json!({"queueUrls": urls});
    if more && max.is_some() {
        out["NextToken"] = Value::from(next_token(sources.last().expect("a full page")));
    }
    Ok(out)
}

fn start_message_move_task(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let source = arn_param(i, "SourceArn")?.ok_or_else(|| missing("SourceArn"))?;
    let destination = arn_param(i, "DestinationArn")?;
    let rate = ranged(
        i,
        "MaxNumberOfMessagesPerSecond",
        1,
        500,
        "Must be between 1 and 500.",
    )?;
    let handle = c
        .queues()
        .start_move_task(&source, destination.as_deref(), rate)?;
    Ok(json!({"TaskHandle": handle}))
}

fn list_message_move_tasks(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let source = arn_param(i, "SourceArn")?.ok_or_else(|| missing("SourceArn"))?;
    let max = ranged(i, "MaxResults", 1, 10, "Must be between 1 and 10.")?.unwrap_or(1);
    let tasks = c.queues().move_tasks(&source, max)?;
    let results: Vec<Value> = tasks
        .into_iter()
        .map(|t| {
            let mut v = json!({
                "TaskHandle": t.handle,
                "Status": t.status,
                "SourceArn": t.source_arn,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started_ms,
            });
            if let Some(d) = t.destination_arn {
                v["DestinationArn"] = Value::from(d);
            }
            if let Some(m) = t.max_per_second {
                v["MaxNumberOfMessagesPerSecond"] = Value::from(m);
            }
            v
        })
        .collect();
    Ok(json!({"Results": results}))
}

fn cancel_message_move_task(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let handle = required(i, "TaskHandle")?;
    let moved = c.queues().cancel_move_task(handle)?;
    Ok(json!({"ApproximateNumberOfMessagesMoved": moved}))
}

// ---- messages ----

/// A message to send from a request (or a batch entry).
fn outgoing(c: &Ctx, i: &Value) -> Result<Outgoing, Error> {
    let body = string(i, "MessageBody")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("MessageBody"))?;
    let mut system_attributes = message_attributes(i, "MessageSystemAttributes")?;
    stratus_queues::message::with_trace_header(&mut system_attributes, c.trace.as_deref());
    Ok(Outgoing {
        body: body.to_string(),
        delay_seconds: ranged(
            i,
            "DelaySeconds",
            0,
            900,
            "DelaySeconds must be >= 0 and <= 900.",
        )?,
        attributes: message_attributes(i, "MessageAttributes")?,
        system_attributes,
        group_id: string(i, "MessageGroupId").map(str::to_string),
        deduplication_id: string(i, "MessageDeduplicationId").map(str::to_string),
        sender_id: c.sender_id.clone(),
    })
}

fn sent_json(s: &stratus_queues::store::Sent) -> Value {
    let mut v = json!({"MD5OfMessageBody": s.md5_of_body, "MessageId": s.message_id});
    if let Some(m) = &s.md5_of_attributes {
        v["MD5OfMessageAttributes"] = Value::from(m.clone());
    }
    if let Some(m) = &s.md5_of_system_attributes {
        v["MD5OfMessageSystemAttributes"] = Value::from(m.clone());
    }
    if let Some(n) = &s.sequence_number {
        v["SequenceNumber"] = Value::from(n.clone());
    }
    v
}

fn send_message(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let m = outgoing(c, i)?;
    Ok(sent_json(&c.queues().send(&arn, &m)?))
}

/// A batch's entries, checked as AWS checks them before any is run: present, at most ten,
/// well-formed and distinct ids.
fn batch_entries<'a>(i: &'a Value, entry: &str) -> Result<&'a Vec<Value>, Error> {
    static EMPTY: Vec<Value> = Vec::new();
    let entries = i.get("Entries").and_then(Value::as_array).unwrap_or(&EMPTY);
    let client = |code, message: String| Error::new(code, Kind::InvalidInput, message);
    if entries.is_empty() {
        return Err(client(
            "EmptyBatchRequest",
            format!("There should be at least one {entry} in the request."),
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(client(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let id = string(e, "Id").unwrap_or("");
        let ok = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(client(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".into(),
            ));
        }
        if !seen.insert(id) {
            return Err(client(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

/// A batch answer: each entry's success or `BatchResultErrorEntry`.
fn batch_result(results: Vec<(String, Result<Value, Error>)>) -> Value {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (id, r) in results {
        match r {
            Ok(mut v) => {
                v["Id"] = Value::from(id);
                ok.push(v);
            }
            Err(e) => failed.push(json!({
                "Id": id,
                "SenderFault": !e.kind.is_fault(),
                "Code": query_code(e.code),
                "Message": e.message,
            })),
        }
    }
    json!({"Successful": ok, "Failed": failed})
}

fn send_message_batch(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let entries = batch_entries(i, "SendMessageBatchRequestEntry")?;
    let messages: Vec<(String, Result<Outgoing, Error>)> = entries
        .iter()
        .map(|e| (string(e, "Id").unwrap_or("").to_string(), outgoing(c, e)))
        .collect();
    let total: usize = messages
        .iter()
        .filter_map(|(_, m)| m.as_ref().ok())
        .map(|m| stratus_queues::message::size(&m.body, &m.attributes))
        .sum();
    if total > MAX_BATCH_BYTES {
        return Err(Error::new(
            "BatchRequestTooLong",
            Kind::InvalidInput,
            format!("Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes."),
        ));
    }
    c.queues().queue(&arn)?.ok_or_else(queue_not_found)?;
    let results = messages
        .into_iter()
        .map(|(id, m)| {
            (
                id,
                m.and_then(|m| c.queues().send(&arn, &m))
                    .map(|s| sent_json(&s)),
            )
        })
        .collect();
    Ok(batch_result(results))
}

fn delete_message(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    c.queues()
        .delete_message(&arn, required(i, "ReceiptHandle")?)?;
    Ok(empty())
}

fn delete_message_batch(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let entries = batch_entries(i, "DeleteMessageBatchRequestEntry")?;
    c.queues().queue(&arn)?.ok_or_else(queue_not_found)?;
    let results = entries
        .iter()
        .map(|e| {
            let id = string(e, "Id").unwrap_or("").to_string();
            let r = required(e, "ReceiptHandle")
                .and_then(|h| c.queues().delete_message(&arn, h))
                .map(|_| empty());
            (id, r)
        })
        .collect();
    Ok(batch_result(results))
}

fn visibility(i: &Value) -> Result<i64, Error> {
    ranged(
        i,
        "VisibilityTimeout",
        0,
        43_200,
        "Must be >= 0 and <= 43200, if provided.",
    )?
    .ok_or_else(|| missing("VisibilityTimeout"))
}

fn change_message_visibility(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let handle = required(i, "ReceiptHandle")?;
    c.queues().change_visibility(&arn, handle, visibility(i)?)?;
    Ok(empty())
}

fn change_message_visibility_batch(c: &Ctx, i: &Value) -> Result<Value, Error> {
    let arn = queue_arn(c, i)?;
    let entries = batch_entries(i, "ChangeMessageVisibilityBatchRequestEntry")?;
    c.queues().queue(&arn)?.ok_or_else(queue_not_found)?;
    let results = entries
        .iter()
        .map(|e| {
            let id = string(e, "Id").unwrap_or("").to_string();
            let r = required(e, "ReceiptHandle")
                .and_then(|h| c.queues().change_visibility(&arn, h, visibility(e)?))
                .map(|_| empty());
            (id, r)
        })
        .collect();
    Ok(batch_result(results))
}

/// ReceiveMessage: receives at once, or waits up to `WaitTimeSeconds` (the queue's
/// `ReceiveMessageWaitTimeSeconds` by default) for a message. The wait wakes on a send in
/// this process and re-reads the store every [`POLL_EVERY`] for sends through other nodes.
async fn receive_message(c: Ctx, i: Value) -> Result<Value, Error> {
    let arn = queue_arn(&c, &i)?;
    let max = ranged(
        &i,
        "MaxNumberOfMessages",
        1,
        10,
        "Must be between 1 and 10, if provided.",
    )?
    .unwrap_or(1);
    let visibility_timeout = ranged(
        &i,
        "VisibilityTimeout",
        0,
        43_200,
        "Must be >= 0 and <= 43200, if provided.",
    )?;
    let wait = ranged(
        &i,
        "WaitTimeSeconds",
        0,
        20,
        "Must be >= 0 and <= 20, if provided.",
    )?;
    let mut attribute_names = strings(&i, "AttributeNames");
    attribute_names.extend(strings(&i, "MessageSystemAttributeNames"));
    let req = ReceiveRequest {
        max,
        visibility_timeout,
        attribute_names,
        message_attribute_names: strings(&i, "MessageAttributeNames"),
    };
    let c = std::sync::Arc::new(c);
    let wait = match wait {
        Some(w) => w,
        None => {
            let c2 = c.clone();
            let arn2 = arn.clone();
            let attrs = tokio::task::spawn_blocking(move || c2.queues().queue(&arn2))
                .await
                .map_err(|_| Error::new("InternalFailure", Kind::Internal, "Internal Error"))??
                .ok_or_else(queue_not_found)?
                .attrs;
            stratus_queues::attributes::int(&attrs, "ReceiveMessageWaitTimeSeconds")
        }
    };
    let deadline = Instant::now() + Duration::from_secs(wait as u64);
    loop {
        // Listen before reading, so a send between the read and the wait is not missed.
        let woken = c.queues().sent();
        let (c2, arn2, req2) = (c.clone(), arn.clone(), req.clone());
        let got = tokio::task::spawn_blocking(move || c2.queues().receive(&arn2, &req2))
            .await
            .map_err(|_| Error::new("InternalFailure", Kind::Internal, "Internal Error"))??;
        let now = Instant::now();
        if !got.is_empty() || now >= deadline {
            return Ok(messages_json(got));
        }
        let nap = POLL_EVERY.min(deadline - now);
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}

fn messages_json(got: Vec<Received>) -> Value {
    if got.is_empty() {
        return empty();
    }
    let list: Vec<Value> = got
        .into_iter()
        .map(|m| {
            let mut v = json!({
                "MessageId": m.message_id,
                "ReceiptHandle": m.receipt_handle,
                "MD5OfBody": m.md5_of_body,
                "Body": m.body,
            });
            if !m.attributes.is_empty() {
                v["Attributes"] = json!(m.attributes);
            }
            if let Some(md5) = m.md5_of_message_attributes {
                v["MD5OfMessageAttributes"] = Value::from(md5);
                v["MessageAttributes"] = attributes_json(&m.message_attributes);
            }
            v
        })
        .collect();
    json!({"Messages": list})
}
