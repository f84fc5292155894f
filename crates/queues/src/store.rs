//! The durable store: queues (attributes and tags as JSON), their messages, FIFO
//! deduplication records and message move tasks, in `queues.db` (WAL mode) or the `queues`
//! schema on PostgreSQL. Every operation is one transaction, so an acknowledged send
//! survives `kill -9`. A message is visible when its `visible_ms` has passed: receiving,
//! delaying and changing visibility only move that timestamp, and no timer is needed.

use std::collections::BTreeMap;

use base64::Engine;
use stratus_core::{Error, Kind};
use stratus_db::{args, Location, Migrations, Options, Row, Schema, StoreSpec, Tx};

use crate::attributes::{self, int, is_fifo, Attributes};
use crate::message::{self, md5_of_attributes, md5_of_body, selected, MessageAttributes};
use crate::names::*;

pub type Tags = BTreeMap<String, String>;

/// Most tags on one queue.
const MAX_TAGS: usize = 50;
/// How long a FIFO deduplication id is remembered.
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// How soon a queue may be purged again.
const PURGE_INTERVAL_MS: i64 = 60 * 1000;
/// How many visible messages a receive from a FIFO queue looks at to find deliverable ones
/// (past groups with a message in flight).
const SCAN: i64 = 500;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS queues (
    arn TEXT PRIMARY KEY,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    purged_ms INTEGER NOT NULL,
    next_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    queue_arn TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attrs TEXT NOT NULL,
    sys TEXT NOT NULL,
    sys_attrs TEXT NOT NULL,
    group_id TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    first_receive_ms INTEGER NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (queue_arn, seq)
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages(queue_arn, visible_ms);
CREATE INDEX IF NOT EXISTS messages_by_age ON messages(queue_arn, sent_ms);
CREATE TABLE IF NOT EXISTS dedup (
    queue_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue_arn, key)
);
CREATE TABLE IF NOT EXISTS move_tasks (
    handle TEXT PRIMARY KEY,
    source_arn TEXT NOT NULL,
    destination_arn TEXT NOT NULL,
    status TEXT NOT NULL,
    moved INTEGER NOT NULL,
    to_move INTEGER NOT NULL,
    max_per_second INTEGER NOT NULL,
    started_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#;

/// PostgreSQL's schema: ARNs are `COLLATE "C"` so listings page in byte order, as on SQLite.
const POSTGRES: &[&str] = &[r#"
CREATE TABLE queues (
    arn TEXT COLLATE "C" PRIMARY KEY,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL,
    purged_ms BIGINT NOT NULL,
    next_seq BIGINT NOT NULL
);
CREATE TABLE messages (
    queue_arn TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attrs TEXT NOT NULL,
    sys TEXT NOT NULL,
    sys_attrs TEXT NOT NULL,
    group_id TEXT NOT NULL,
    sent_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    receive_count BIGINT NOT NULL,
    first_receive_ms BIGINT NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (queue_arn, seq)
);
CREATE INDEX messages_by_visibility ON messages (queue_arn, visible_ms);
CREATE INDEX messages_by_age ON messages (queue_arn, sent_ms);
CREATE TABLE dedup (
    queue_arn TEXT COLLATE "C" NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (queue_arn, key)
);
CREATE TABLE move_tasks (
    handle TEXT PRIMARY KEY,
    source_arn TEXT COLLATE "C" NOT NULL,
    destination_arn TEXT NOT NULL,
    status TEXT NOT NULL,
    moved BIGINT NOT NULL,
    to_move BIGINT NOT NULL,
    max_per_second BIGINT NOT NULL,
    started_ms BIGINT NOT NULL
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
"#];

/// The store on either backend.
pub const SPEC: StoreSpec<'static> = StoreSpec {
    name: "queues",
    file: "queues.db",
    options: Options {
        foreign_keys: false,
    },
    migrations: Migrations {
        sqlite: Schema::Idempotent(SCHEMA),
        postgres: POSTGRES,
    },
};

/// A queue as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub arn: String,
    pub name: String,
    pub attrs: Attributes,
    pub tags: Tags,
    pub created_ms: i64,
    pub modified_ms: i64,
    purged_ms: i64,
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub body: String,
    /// Per-message delay (standard queues only); the queue's `DelaySeconds` otherwise.
    pub delay_seconds: Option<i64>,
    pub attributes: MessageAttributes,
    /// Message system attributes the sender set (`AWSTraceHeader`).
    pub system_attributes: MessageAttributes,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// Who sent it (`SenderId`): the caller's access key or account.
    pub sender_id: String,
}

/// What a send answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    pub sequence_number: Option<String>,
}

/// What a receive asks for.
#[derive(Debug, Clone, Default)]
pub struct ReceiveRequest {
    pub max: i64,
    pub visibility_timeout: Option<i64>,
    /// System attribute names (`All`, or names).
    pub attribute_names: Vec<String>,
    /// Message attribute names (`All`, `.*`, `prefix.*`, or names).
    pub message_attribute_names: Vec<String>,
}

/// One received message, its attributes already filtered by the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: MessageAttributes,
    pub md5_of_message_attributes: Option<String>,
}

/// A message move task.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveTask {
    pub handle: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub status: String,
    pub moved: i64,
    pub to_move: i64,
    pub max_per_second: Option<i64>,
    pub started_ms: i64,
}

pub struct Queues {
    db: stratus_db::Db,
    /// Woken by every send (and every message made visible by a move): long polls waiting
    /// in this process re-read the store at once rather than at their next periodic check.
    sent: tokio::sync::Notify,
}

/// Why a transaction's closure stopped.
enum Stop {
    Db(stratus_db::Error),
    Refused(Error),
}

impl From<stratus_db::Error> for Stop {
    fn from(e: stratus_db::Error) -> Self {
        Stop::Db(e)
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Refused(e)
    }
}

/// A database fault: logged, answered with SQS's generic internal error.
fn fault(what: &str, e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, unavailable = e.is_unavailable(), "queues store: {what}");
    Error::new("InternalFailure", Kind::Internal, "Internal Error")
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps serialise")
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

impl Queues {
    pub fn open(location: &Location) -> Result<Queues, stratus_db::Error> {
        Queues::open_spec(location, &SPEC)
    }

    fn open_spec(location: &Location, spec: &StoreSpec<'_>) -> Result<Queues, stratus_db::Error> {
        Ok(Queues {
            db: stratus_db::Db::open(location, spec)?,
            sent: tokio::sync::Notify::new(),
        })
    }

    /// Resolves when a message may have become receivable in this process; a long poll
    /// waits on this and on a short timer (for sends on other nodes).
    pub fn sent(&self) -> tokio::sync::futures::Notified<'_> {
        self.sent.notified()
    }

    fn tx<T>(&self, what: &str, mut f: impl FnMut(&Tx<'_>) -> Result<T, Stop>) -> Result<T, Error> {
        self.db.tx(|t| f(t)).map_err(|stop| match stop {
            Stop::Db(e) => fault(what, e),
            Stop::Refused(e) => e,
        })
    }

    /// Creates a queue, or returns quietly if it exists with the same given attributes
    /// (AWS's idempotent create); a different value is `QueueNameExists`.
    pub fn create_queue(
        &self,
        region: &str,
        name: &str,
        given: &Attributes,
        tags: &Tags,
    ) -> Result<Queue, Error> {
        let fifo = given.get("FifoQueue").is_some_and(|v| v == "true") || name.ends_with(".fifo");
        check_name(name, fifo)?;
        for (k, v) in given {
            attributes::check(k, v, true, fifo)?;
        }
        check_tags(tags)?;
        let given: Attributes = given
            .iter()
            .map(|(k, v)| (k.clone(), attributes::normalize(k, v)))
            .collect();
        let arn = queue_arn(region, name);
        self.tx("create queue", |t| {
            if let Some(existing) = queue(t, &arn)? {
                if let Some((k, _)) = given
                    .iter()
                    .find(|(k, v)| existing.attrs.get(*k) != Some(v))
                {
                    return Err(queue_exists(k).into());
                }
                return Ok(existing);
            }
            let mut attrs = attributes::defaults(fifo);
            attrs.extend(
                given
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            check_redrive_target(t, &arn, &attrs)?;
            let now = now_ms();
            t.execute(
                "INSERT INTO queues (arn, attrs, tags, created_ms, modified_ms, purged_ms, next_seq)
                 VALUES (?1, ?2, ?3, ?4, ?4, 0, 1)",
                args![arn.as_str(), to_json(&attrs), to_json(tags), now],
            )?;
            Ok(queue(t, &arn)?.expect("just inserted"))
        })
    }

    /// Deletes a queue and its messages. The name may be used again at once (AWS asks for
    /// 60 seconds).
    pub fn delete_queue(&self, arn: &str) -> Result<(), Error> {
        self.tx("delete queue", |t| {
            queue(t, arn)?.ok_or_else(queue_not_found)?;
            for table in ["messages", "dedup"] {
                t.execute(
                    &format!("DELETE FROM {table} WHERE queue_arn = ?1"),
                    args![arn],
                )?;
            }
            t.execute("DELETE FROM queues WHERE arn = ?1", args![arn])?;
            Ok(())
        })
    }

    pub fn queue(&self, arn: &str) -> Result<Option<Queue>, Error> {
        self.tx("read queue", |t| Ok(queue(t, arn)?))
    }

    /// Queue ARNs of `region` whose names start with `prefix`, after `after`, in order.
    pub fn list_queues(
        &self,
        region: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        let start = queue_arn(region, prefix);
        self.tx("list queues", |t| {
            Ok(t.query_map(
                "SELECT arn FROM queues
                 WHERE arn > ?1 AND substr(arn, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)
                 ORDER BY arn LIMIT ?3",
                args![after, start.as_str(), limit as i64],
                |r| r.get(0),
            )?)
        })
    }

    /// The attributes GetQueueAttributes reports: the stored ones and the computed counts
    /// and timestamps.
    pub fn queue_attributes(&self, arn: &str) -> Result<Attributes, Error> {
        self.tx("queue attributes", |t| {
            let q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let now = now_ms();
            drop_expired(t, &q, now)?;
            let count = |cond: &str| -> Result<i64, stratus_db::Error> {
                let sql = format!("SELECT COUNT(*) FROM messages WHERE queue_arn = ?1 AND {cond}");
                Ok(t.query_opt(&sql, args![arn, now], |r| r.get(0))?
                    .unwrap_or(0))
            };
            let mut a = q.attrs.clone();
            a.insert(
                "ApproximateNumberOfMessages".into(),
                count("visible_ms <= ?2")?.to_string(),
            );
            a.insert(
                "ApproximateNumberOfMessagesNotVisible".into(),
                count("visible_ms > ?2 AND receive_count > 0")?.to_string(),
            );
            a.insert(
                "ApproximateNumberOfMessagesDelayed".into(),
                count("visible_ms > ?2 AND receive_count = 0")?.to_string(),
            );
            a.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
            a.insert(
                "LastModifiedTimestamp".into(),
                (q.modified_ms / 1000).to_string(),
            );
            a.insert("QueueArn".into(), arn.to_string());
            Ok(a)
        })
    }

    /// Sets attributes (an empty `RedrivePolicy`, `Policy` or `RedriveAllowPolicy` removes it).
    pub fn set_queue_attributes(&self, arn: &str, given: &Attributes) -> Result<(), Error> {
        self.tx("set queue attributes", |t| {
            let mut q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let fifo = is_fifo(&q.attrs);
            for (k, v) in given {
                attributes::check(k, v, false, fifo)?;
                if v.is_empty()
                    && matches!(
                        k.as_str(),
                        "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" | "KmsMasterKeyId"
                    )
                {
                    q.attrs.remove(k);
                } else {
                    q.attrs.insert(k.clone(), attributes::normalize(k, v));
                }
            }
            check_redrive_target(t, arn, &q.attrs)?;
            write_attrs(t, arn, &q.attrs)
        })
    }

    /// Changes the queue's access policy (an empty one if none was set) with `f`.
    pub fn update_policy(
        &self,
        arn: &str,
        mut f: impl FnMut(&mut serde_json::Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.tx("update policy", |t| {
            let mut q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let mut policy = q
                .attrs
                .get("Policy")
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_else(|| serde_json::json!({"Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}));
            f(&mut policy)?;
            let empty = policy["Statement"].as_array().is_none_or(|s| s.is_empty());
            match empty {
                true => q.attrs.remove("Policy"),
                false => q.attrs.insert("Policy".into(), policy.to_string()),
            };
            write_attrs(t, arn, &q.attrs)
        })
    }

    pub fn tags(&self, arn: &str) -> Result<Tags, Error> {
        self.tx("read tags", |t| {
            Ok(queue(t, arn)?.ok_or_else(queue_not_found)?.tags)
        })
    }

    pub fn tag(&self, arn: &str, add: &Tags) -> Result<(), Error> {
        check_tags(add)?;
        self.tx("tag", |t| {
            let mut tags = queue(t, arn)?.ok_or_else(queue_not_found)?.tags;
            tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            if tags.len() > MAX_TAGS {
                return Err(invalid_value(format!(
                    "Too many tags added for queue {}.",
                    name_of(arn)
                ))
                .into());
            }
            write_tags(t, arn, &tags)
        })
    }

    pub fn untag(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        self.tx("untag", |t| {
            let mut tags = queue(t, arn)?.ok_or_else(queue_not_found)?.tags;
            for k in keys {
                tags.remove(k);
            }
            write_tags(t, arn, &tags)
        })
    }

    /// Sends one message to the queue `arn` (the entry point other parts of the platform
    /// use too: topic subscriptions, event targets). A FIFO duplicate within five minutes
    /// answers the first message's id and is not queued again.
    pub fn send(&self, arn: &str, m: &Outgoing) -> Result<Sent, Error> {
        message::check_body(&m.body)?;
        message::check_attributes(&m.attributes)?;
        message::check_system_attributes(&m.system_attributes)?;
        let sent = self.tx("send message", |t| {
            let q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let limit = int(&q.attrs, "MaximumMessageSize");
            if message::size(&m.body, &m.attributes) > limit as usize {
                return Err(message::too_long(limit).into());
            }
            let fifo = is_fifo(&q.attrs);
            let plan = plan_send(&q, m, fifo)?;
            let now = now_ms();
            if let Some(key) = &plan.dedup_key {
                t.execute("DELETE FROM dedup WHERE queue_arn = ?1 AND expires_ms <= ?2", args![arn, now])?;
                let dup = t.query_opt(
                    "SELECT message_id, sequence FROM dedup WHERE queue_arn = ?1 AND key = ?2",
                    args![arn, key.as_str()],
                    |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
                )?;
                if let Some((id, seq)) = dup {
                    return Ok(sent(m, id, Some(seq)));
                }
            }
            let seq = next_seq(t, arn)?;
            let id = uuid::Uuid::new_v4().to_string();
            let sequence = fifo.then(|| format!("{:020}", 18_000_000_000_000_000_000u128 + seq as u128));
            let mut sys = BTreeMap::from([
                ("SenderId".to_string(), m.sender_id.clone()),
                ("SentTimestamp".to_string(), now.to_string()),
            ]);
            if let Some(g) = &m.group_id {
                sys.insert("MessageGroupId".into(), g.clone());
            }
            if let Some(d) = &plan.dedup_id {
                sys.insert("MessageDeduplicationId".into(), d.clone());
            }
            if let Some(s) = &sequence {
                sys.insert("SequenceNumber".into(), s.clone());
            }
            t.execute(
                "INSERT INTO messages (queue_arn, seq, id, body, attrs, sys, sys_attrs, group_id, sent_ms,
                 visible_ms, receive_count, first_receive_ms, receipt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, '')",
                args![
                    arn, seq, id.as_str(), m.body.as_str(), to_json(&m.attributes), to_json(&sys),
                    to_json(&m.system_attributes), m.group_id.clone().unwrap_or_default(), now,
                    now + plan.delay_s * 1000
                ],
            )?;
            if let Some(key) = &plan.dedup_key {
                t.execute(
                    "INSERT INTO dedup (queue_arn, key, message_id, sequence, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    args![arn, key.as_str(), id.as_str(), sequence.clone().unwrap_or_default(), now + DEDUP_WINDOW_MS],
                )?;
            }
            Ok(sent(m, id, sequence))
        })?;
        self.sent.notify_waiters();
        Ok(sent)
    }

    /// Receives up to `req.max` messages: each gets a new receipt handle and is hidden for
    /// the visibility timeout. A FIFO group with a message in flight delivers nothing else;
    /// a message already received `maxReceiveCount` times moves to the dead-letter queue.
    pub fn receive(&self, arn: &str, req: &ReceiveRequest) -> Result<Vec<Received>, Error> {
        let (out, moved) = self.tx("receive", |t| {
            let q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let now = now_ms();
            drop_expired(t, &q, now)?;
            let visibility = req.visibility_timeout.unwrap_or_else(|| int(&q.attrs, "VisibilityTimeout"));
            let redrive = attributes::redrive(&q.attrs);
            let blocked: Vec<String> = if is_fifo(&q.attrs) {
                t.query_map(
                    "SELECT DISTINCT group_id FROM messages WHERE queue_arn = ?1 AND receive_count > 0 AND visible_ms > ?2",
                    args![arn, now],
                    |r| r.get(0),
                )?
            } else {
                Vec::new()
            };
            // A FIFO queue delivers in order, past the groups that are blocked. A standard
            // queue promises no order: it takes the messages visible longest, which the
            // visibility index yields without reading the rest of a deep backlog.
            let (order, limit) = if is_fifo(&q.attrs) {
                ("seq", SCAN)
            } else {
                ("visible_ms", (req.max * 2).max(20))
            };
            let candidates = t.query_map(
                &format!("SELECT {MSG_COLUMNS} FROM messages WHERE queue_arn = ?1 AND visible_ms <= ?2 ORDER BY {order} LIMIT ?3"),
                args![arn, now, limit],
                stored_from,
            )?;
            let mut out = Vec::new();
            let mut moved = false;
            for m in candidates {
                if out.len() as i64 >= req.max {
                    break;
                }
                if blocked.contains(&m.group_id) {
                    continue;
                }
                if let Some(r) = redrive.as_ref().filter(|r| m.receive_count >= r.max_receive_count) {
                    if move_to_dead_letter(t, arn, &m, &r.dead_letter_arn, now)? {
                        moved = true;
                        continue;
                    }
                }
                out.push(deliver(t, arn, m, now, visibility, req)?);
            }
            Ok((out, moved))
        })?;
        if moved {
            self.sent.notify_waiters();
        }
        Ok(out)
    }

    /// Deletes a received message. A stale handle (the message was received again since)
    /// succeeds without deleting, as on AWS; a message already gone is not an error.
    pub fn delete_message(&self, arn: &str, handle: &str) -> Result<(), Error> {
        let (queue_of, seq) = parse_handle(handle).ok_or_else(|| receipt_handle_invalid(handle))?;
        if queue_of != arn {
            return Err(receipt_handle_invalid(handle));
        }
        self.tx("delete message", |t| {
            queue(t, arn)?.ok_or_else(queue_not_found)?;
            t.execute(
                "DELETE FROM messages WHERE queue_arn = ?1 AND seq = ?2 AND receipt = ?3",
                args![arn, seq, handle],
            )?;
            Ok(())
        })
    }

    /// Makes a message in flight visible again after `timeout` seconds from now.
    pub fn change_visibility(&self, arn: &str, handle: &str, timeout: i64) -> Result<(), Error> {
        let (queue_of, seq) = parse_handle(handle).ok_or_else(|| receipt_handle_invalid(handle))?;
        if queue_of != arn {
            return Err(receipt_handle_invalid(handle));
        }
        let found = self.tx("change visibility", |t| {
            queue(t, arn)?.ok_or_else(queue_not_found)?;
            let row = t.query_opt(
                "SELECT receipt, visible_ms FROM messages WHERE queue_arn = ?1 AND seq = ?2",
                args![arn, seq],
                |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
            )?;
            let now = now_ms();
            match row {
                Some((receipt, _)) if receipt != handle => Err(invalid_parameter(
                    handle,
                    "ReceiptHandle",
                    "The receipt handle has expired.",
                )
                .into()),
                Some((_, visible)) if visible <= now => Err(message_not_inflight().into()),
                Some(_) => {
                    t.execute(
                        "UPDATE messages SET visible_ms = ?3 WHERE queue_arn = ?1 AND seq = ?2",
                        args![arn, seq, now + timeout * 1000],
                    )?;
                    Ok(timeout == 0)
                }
                None => Err(invalid_parameter(
                    handle,
                    "ReceiptHandle",
                    "The receipt handle has expired.",
                )
                .into()),
            }
        })?;
        if found {
            self.sent.notify_waiters();
        }
        Ok(())
    }

    /// Deletes every message; refused within 60 seconds of the last purge.
    pub fn purge(&self, arn: &str) -> Result<(), Error> {
        self.tx("purge", |t| {
            let q = queue(t, arn)?.ok_or_else(queue_not_found)?;
            let now = now_ms();
            if q.purged_ms > 0 && now - q.purged_ms < PURGE_INTERVAL_MS {
                return Err(purge_in_progress(&q.name).into());
            }
            t.execute("DELETE FROM messages WHERE queue_arn = ?1", args![arn])?;
            t.execute(
                "UPDATE queues SET purged_ms = ?2 WHERE arn = ?1",
                args![arn, now],
            )?;
            Ok(())
        })
    }

    /// Queues whose redrive policy names `arn` as their dead-letter queue.
    pub fn dead_letter_sources(&self, arn: &str) -> Result<Vec<String>, Error> {
        self.tx("dead-letter sources", |t| {
            queue(t, arn)?.ok_or_else(queue_not_found)?;
            sources_of(t, arn)
        })
    }

    /// Moves the messages of dead-letter queue `source` back to the queues they came from
    /// (or to `destination`). The move happens before this returns: the task is recorded
    /// as `COMPLETED` with what it moved.
    pub fn start_move_task(
        &self,
        source: &str,
        destination: Option<&str>,
        max_per_second: Option<i64>,
    ) -> Result<String, Error> {
        let handle = self.tx("start move task", |t| {
            queue(t, source)?.ok_or_else(|| {
                resource_not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
            })?;
            if sources_of(t, source)?.is_empty() {
                return Err(invalid_value("Source queue must be configured as a Dead Letter Queue.").into());
            }
            if let Some(d) = destination {
                queue(t, d)?.ok_or_else(|| {
                    resource_not_found("The resource that you specified for the DestinationArn parameter doesn't exist.")
                })?;
            }
            let now = now_ms();
            let messages = t.query_map(
                &format!("SELECT {MSG_COLUMNS} FROM messages WHERE queue_arn = ?1 AND visible_ms <= ?2 ORDER BY seq"),
                args![source, now],
                stored_from,
            )?;
            let mut moved = 0i64;
            for m in &messages {
                let target = destination
                    .map(str::to_string)
                    .or_else(|| m.sys.get("DeadLetterQueueSourceArn").cloned());
                if let Some(target) = target {
                    if move_message(t, source, m, &target, now, false)? {
                        moved += 1;
                    }
                }
            }
            let handle = uuid::Uuid::new_v4().to_string();
            t.execute(
                "INSERT INTO move_tasks (handle, source_arn, destination_arn, status, moved, to_move, max_per_second, started_ms)
                 VALUES (?1, ?2, ?3, 'COMPLETED', ?4, ?5, ?6, ?7)",
                args![handle.as_str(), source, destination.unwrap_or(""), moved, messages.len() as i64, max_per_second.unwrap_or(0), now],
            )?;
            Ok(handle)
        })?;
        self.sent.notify_waiters();
        Ok(handle)
    }

    /// The most recent move tasks of `source`, newest first.
    pub fn move_tasks(&self, source: &str, limit: i64) -> Result<Vec<MoveTask>, Error> {
        self.tx("list move tasks", |t| {
            queue(t, source)?.ok_or_else(|| {
                resource_not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
            })?;
            Ok(t.query_map(
                "SELECT handle, source_arn, destination_arn, status, moved, to_move, max_per_second, started_ms
                 FROM move_tasks WHERE source_arn = ?1 ORDER BY started_ms DESC, handle LIMIT ?2",
                args![source, limit],
                |r| {
                    let dest: String = r.get(2)?;
                    let max: i64 = r.get(6)?;
                    Ok(MoveTask {
                        handle: r.get(0)?,
                        source_arn: r.get(1)?,
                        destination_arn: (!dest.is_empty()).then_some(dest),
                        status: r.get(3)?,
                        moved: r.get(4)?,
                        to_move: r.get(5)?,
                        max_per_second: (max > 0).then_some(max),
                        started_ms: r.get(7)?,
                    })
                },
            )?)
        })
    }

    /// Cancels a running move task. Moves complete before StartMessageMoveTask answers, so
    /// a known task can no longer be cancelled.
    pub fn cancel_move_task(&self, handle: &str) -> Result<i64, Error> {
        self.tx("cancel move task", |t| {
            let status = t.query_opt(
                "SELECT status FROM move_tasks WHERE handle = ?1",
                args![handle],
                |r| r.get::<String>(0),
            )?;
            match status {
                None => Err(resource_not_found("Task does not exist.").into()),
                Some(_) => Err(unsupported("Only active tasks can be cancelled.").into()),
            }
        })
    }
}

/// How a send goes into a queue: its delay and, on a FIFO queue, its deduplication id and
/// the key it is remembered under.
struct SendPlan {
    delay_s: i64,
    dedup_id: Option<String>,
    dedup_key: Option<String>,
}

fn plan_send(q: &Queue, m: &Outgoing, fifo: bool) -> Result<SendPlan, Error> {
    if !fifo {
        if m.deduplication_id.is_some() {
            return Err(invalid_parameter(
                m.deduplication_id.as_deref().unwrap_or(""),
                "MessageDeduplicationId",
                "The request includes a parameter that is not valid for this queue type.",
            ));
        }
        let delay = m
            .delay_seconds
            .unwrap_or_else(|| int(&q.attrs, "DelaySeconds"));
        return Ok(SendPlan {
            delay_s: delay,
            dedup_id: None,
            dedup_key: None,
        });
    }
    if let Some(d) = m.delay_seconds {
        return Err(invalid_parameter(
            d,
            "DelaySeconds",
            "The request include parameter that is not valid for this queue type.",
        ));
    }
    let group = m
        .group_id
        .as_deref()
        .ok_or_else(|| missing("MessageGroupId"))?;
    let dedup = match &m.deduplication_id {
        Some(d) => d.clone(),
        None if q.attrs.get("ContentBasedDeduplication").is_some_and(|v| v == "true") => {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(m.body.as_bytes()))
        }
        None => {
            return Err(invalid_value(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ))
        }
    };
    let key = match q.attrs.get("DeduplicationScope").map(String::as_str) {
        Some("messageGroup") => format!("{group}\n{dedup}"),
        _ => dedup.clone(),
    };
    Ok(SendPlan {
        delay_s: int(&q.attrs, "DelaySeconds"),
        dedup_id: Some(dedup),
        dedup_key: Some(key),
    })
}

fn sent(m: &Outgoing, id: String, sequence: Option<String>) -> Sent {
    Sent {
        message_id: id,
        md5_of_body: md5_of_body(&m.body),
        md5_of_attributes: md5_of_attributes(&m.attributes),
        md5_of_system_attributes: md5_of_attributes(&m.system_attributes),
        sequence_number: sequence.filter(|s| !s.is_empty()),
    }
}

/// A message row.
struct Stored {
    seq: i64,
    id: String,
    body: String,
    attrs: MessageAttributes,
    sys: BTreeMap<String, String>,
    sys_attrs: MessageAttributes,
    group_id: String,
    sent_ms: i64,
    receive_count: i64,
    first_receive_ms: i64,
}

const MSG_COLUMNS: &str =
    "seq, id, body, attrs, sys, sys_attrs, group_id, sent_ms, receive_count, first_receive_ms";

fn stored_from(r: &Row<'_>) -> Result<Stored, stratus_db::Error> {
    Ok(Stored {
        seq: r.get(0)?,
        id: r.get(1)?,
        body: r.get(2)?,
        attrs: from_json(&r.get::<String>(3)?),
        sys: from_json(&r.get::<String>(4)?),
        sys_attrs: from_json(&r.get::<String>(5)?),
        group_id: r.get(6)?,
        sent_ms: r.get(7)?,
        receive_count: r.get(8)?,
        first_receive_ms: r.get(9)?,
    })
}

/// Hands a message out: one more receive, a new receipt handle, hidden until the
/// visibility timeout passes.
fn deliver(
    t: &Tx<'_>,
    arn: &str,
    m: Stored,
    now: i64,
    visibility: i64,
    req: &ReceiveRequest,
) -> Result<Received, Stop> {
    let count = m.receive_count + 1;
    let first = if m.first_receive_ms == 0 {
        now
    } else {
        m.first_receive_ms
    };
    let handle = new_handle(arn, m.seq);
    t.execute(
        "UPDATE messages SET receive_count = ?3, first_receive_ms = ?4, receipt = ?5, visible_ms = ?6
         WHERE queue_arn = ?1 AND seq = ?2",
        args![arn, m.seq, count, first, handle.as_str(), now + visibility * 1000],
    )?;
    let mut all = m.sys.clone();
    all.insert("ApproximateReceiveCount".into(), count.to_string());
    all.insert("ApproximateFirstReceiveTimestamp".into(), first.to_string());
    if let Some(trace) = m
        .sys_attrs
        .get("AWSTraceHeader")
        .and_then(|a| a.string_value.clone())
    {
        all.insert("AWSTraceHeader".into(), trace);
    }
    let want = selected(&req.attribute_names);
    let attributes = all.into_iter().filter(|(k, _)| want(k)).collect();
    let pick = selected(&req.message_attribute_names);
    let message_attributes: MessageAttributes =
        m.attrs.into_iter().filter(|(k, _)| pick(k)).collect();
    Ok(Received {
        message_id: m.id,
        receipt_handle: handle,
        md5_of_body: md5_of_body(&m.body),
        body: m.body,
        attributes,
        md5_of_message_attributes: md5_of_attributes(&message_attributes),
        message_attributes,
    })
}

/// Moves a message that was received too often to its dead-letter queue, keeping its id,
/// body, attributes and receive count; `false` if that queue does not exist.
fn move_to_dead_letter(
    t: &Tx<'_>,
    arn: &str,
    m: &Stored,
    dlq: &str,
    now: i64,
) -> Result<bool, Stop> {
    move_message(t, arn, m, dlq, now, true)
}

/// Moves message `m` from `from` to `to`, visible there at once. A move to a dead-letter
/// queue records where it came from and keeps its receive count; a move back starts over.
fn move_message(
    t: &Tx<'_>,
    from: &str,
    m: &Stored,
    to: &str,
    now: i64,
    to_dead_letter: bool,
) -> Result<bool, Stop> {
    if queue(t, to)?.is_none() {
        return Ok(false);
    }
    let seq = next_seq(t, to)?;
    let mut sys = m.sys.clone();
    let count = if to_dead_letter {
        sys.insert("DeadLetterQueueSourceArn".into(), from.to_string());
        m.receive_count
    } else {
        sys.remove("DeadLetterQueueSourceArn");
        0
    };
    let first = if to_dead_letter {
        m.first_receive_ms
    } else {
        0
    };
    t.execute(
        "INSERT INTO messages (queue_arn, seq, id, body, attrs, sys, sys_attrs, group_id, sent_ms,
         visible_ms, receive_count, first_receive_ms, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, '')",
        args![
            to,
            seq,
            m.id.as_str(),
            m.body.as_str(),
            to_json(&m.attrs),
            to_json(&sys),
            to_json(&m.sys_attrs),
            m.group_id.as_str(),
            m.sent_ms,
            now,
            count,
            first
        ],
    )?;
    t.execute(
        "DELETE FROM messages WHERE queue_arn = ?1 AND seq = ?2",
        args![from, m.seq],
    )?;
    Ok(true)
}

/// Drops the messages older than the queue's retention period.
fn drop_expired(t: &Tx<'_>, q: &Queue, now: i64) -> Result<(), stratus_db::Error> {
    let cutoff = now - int(&q.attrs, "MessageRetentionPeriod") * 1000;
    t.execute(
        "DELETE FROM messages WHERE queue_arn = ?1 AND sent_ms < ?2",
        args![q.arn.as_str(), cutoff],
    )?;
    Ok(())
}

/// Takes the queue's next message sequence number.
fn next_seq(t: &Tx<'_>, arn: &str) -> Result<i64, stratus_db::Error> {
    let seq: i64 = t
        .query_opt(
            "SELECT next_seq FROM queues WHERE arn = ?1",
            args![arn],
            |r| r.get(0),
        )?
        .unwrap_or(1);
    t.execute(
        "UPDATE queues SET next_seq = ?2 WHERE arn = ?1",
        args![arn, seq + 1],
    )?;
    Ok(seq)
}

/// A receipt handle: the queue, the message's place in it and a random part, so each
/// receive's handle differs and only the newest one matches the stored one.
fn new_handle(arn: &str, seq: i64) -> String {
    let raw = format!("{arn}\n{seq}\n{}", uuid::Uuid::new_v4().simple());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn parse_handle(handle: &str) -> Option<(String, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(handle)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.split('\n');
    let arn = parts.next()?.to_string();
    let seq = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((arn, seq))
}

/// The queues that name `arn` as their dead-letter queue.
fn sources_of(t: &Tx<'_>, arn: &str) -> Result<Vec<String>, Stop> {
    let all = t.query_map("SELECT arn, attrs FROM queues ORDER BY arn", args![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?))
    })?;
    Ok(all
        .into_iter()
        .filter(|(_, attrs)| {
            attributes::redrive(&from_json(attrs)).is_some_and(|r| r.dead_letter_arn == arn)
        })
        .map(|(a, _)| a)
        .collect())
}

/// A redrive policy's dead-letter queue must exist, be of the same type, and accept this
/// source by its `RedriveAllowPolicy`.
fn check_redrive_target(t: &Tx<'_>, arn: &str, attrs: &Attributes) -> Result<(), Stop> {
    let Some(value) = attrs.get("RedrivePolicy") else {
        return Ok(());
    };
    let r = attributes::parse_redrive(value)?;
    let bad = |why: &str| Stop::Refused(invalid_parameter(value, "RedrivePolicy", why));
    let dlq =
        queue(t, &r.dead_letter_arn)?.ok_or_else(|| bad("Dead letter target does not exist."))?;
    if is_fifo(&dlq.attrs) != is_fifo(attrs) {
        return Err(bad(
            "Dead-letter queue must be same type of queue as the source.",
        ));
    }
    if !attributes::allows(&dlq.attrs, arn) {
        return Err(bad("Dead letter target does not allow this source queue."));
    }
    Ok(())
}

fn check_tags(tags: &Tags) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_value("Too many tags added for queue."));
    }
    for (k, v) in tags {
        if k.is_empty()
            || k.chars().count() > 128
            || k.starts_with("aws:")
            || v.chars().count() > 256
        {
            return Err(invalid_value(format!("Tag {k} is invalid.")));
        }
    }
    Ok(())
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn write_tags(t: &Tx<'_>, arn: &str, tags: &Tags) -> Result<(), Stop> {
    t.execute(
        "UPDATE queues SET tags = ?2 WHERE arn = ?1",
        args![arn, to_json(tags)],
    )?;
    Ok(())
}

fn write_attrs(t: &Tx<'_>, arn: &str, attrs: &Attributes) -> Result<(), Stop> {
    t.execute(
        "UPDATE queues SET attrs = ?2, modified_ms = ?3 WHERE arn = ?1",
        args![arn, to_json(attrs), now_ms()],
    )?;
    Ok(())
}

fn queue(t: &Tx<'_>, arn: &str) -> Result<Option<Queue>, stratus_db::Error> {
    t.query_opt(
        "SELECT attrs, tags, created_ms, modified_ms, purged_ms FROM queues WHERE arn = ?1",
        args![arn],
        |r| {
            Ok(Queue {
                arn: arn.to_string(),
                name: name_of(arn).to_string(),
                attrs: from_json(&r.get::<String>(0)?),
                tags: from_json(&r.get::<String>(1)?),
                created_ms: r.get(2)?,
                modified_ms: r.get(3)?,
                purged_ms: r.get(4)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh store on every backend the run can reach (PostgreSQL when
    /// `STRATUS_TEST_DATABASE` names one).
    fn stores(tag: &str) -> Vec<(Queues, stratus_db::testing::Backend)> {
        stratus_db::testing::backends(&format!("queues_{tag}"))
            .into_iter()
            .map(|b| (Queues::open(&b.location).unwrap(), b))
            .collect()
    }

    fn attrs(list: &[(&str, &str)]) -> Attributes {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn text(body: &str) -> Outgoing {
        Outgoing {
            body: body.into(),
            sender_id: "AIDA".into(),
            ..Outgoing::default()
        }
    }

    fn receive(q: &Queues, arn: &str, max: i64, visibility: Option<i64>) -> Vec<Received> {
        let req = ReceiveRequest {
            max,
            visibility_timeout: visibility,
            attribute_names: vec!["All".into()],
            message_attribute_names: vec!["All".into()],
        };
        q.receive(arn, &req).unwrap()
    }

    #[test]
    fn create_is_idempotent_but_refuses_different_attributes() {
        for (s, _b) in stores("create") {
            let a = attrs(&[("VisibilityTimeout", "10")]);
            let q = s
                .create_queue("us-east-1", "jobs", &a, &Tags::new())
                .unwrap();
            s.create_queue("us-east-1", "jobs", &a, &Tags::new())
                .unwrap();
            s.create_queue("us-east-1", "jobs", &Attributes::new(), &Tags::new())
                .unwrap();
            let e = s.create_queue(
                "us-east-1",
                "jobs",
                &attrs(&[("VisibilityTimeout", "11")]),
                &Tags::new(),
            );
            assert_eq!(e.unwrap_err().code, "QueueNameExists");
            let listed = s.list_queues("us-east-1", "jo", "", 10).unwrap();
            assert_eq!(listed, vec![q.arn.clone()]);
            assert!(s.list_queues("us-east-1", "x", "", 10).unwrap().is_empty());
            s.delete_queue(&q.arn).unwrap();
            assert!(s.queue(&q.arn).unwrap().is_none());
        }
    }

    #[test]
    fn visibility_hides_a_message_until_it_expires_and_stale_handles_do_not_delete() {
        for (s, _b) in stores("vis") {
            let q = s
                .create_queue("us-east-1", "q", &Attributes::new(), &Tags::new())
                .unwrap();
            s.send(&q.arn, &text("one")).unwrap();
            let first = receive(&s, &q.arn, 10, Some(0));
            assert_eq!(first.len(), 1);
            // Visible at once again (timeout 0): a second receive gets a new handle.
            let second = receive(&s, &q.arn, 10, Some(30));
            assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
            assert_ne!(first[0].receipt_handle, second[0].receipt_handle);
            assert!(receive(&s, &q.arn, 10, None).is_empty());
            s.delete_message(&q.arn, &first[0].receipt_handle).unwrap();
            assert_eq!(
                s.queue_attributes(&q.arn).unwrap()["ApproximateNumberOfMessagesNotVisible"],
                "1"
            );
            let e = s
                .change_visibility(&q.arn, &first[0].receipt_handle, 0)
                .unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
            s.change_visibility(&q.arn, &second[0].receipt_handle, 0)
                .unwrap();
            let third = receive(&s, &q.arn, 10, None);
            s.delete_message(&q.arn, &third[0].receipt_handle).unwrap();
            assert_eq!(
                s.queue_attributes(&q.arn).unwrap()["ApproximateNumberOfMessagesNotVisible"],
                "0"
            );
            assert_eq!(
                s.delete_message(&q.arn, "garbage").unwrap_err().code,
                "ReceiptHandleIsInvalid"
            );
        }
    }

    #[test]
    fn fifo_groups_deliver_in_order_one_batch_at_a_time_and_deduplicate() {
        for (s, _b) in stores("fifo") {
            let a = attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]);
            let q = s
                .create_queue("us-east-1", "f.fifo", &a, &Tags::new())
                .unwrap();
            let send = |body: &str, group: &str| {
                let mut m = text(body);
                m.group_id = Some(group.into());
                s.send(&q.arn, &m).unwrap()
            };
            let a1 = send("a1", "A");
            send("b1", "B");
            send("a2", "A");
            let dup = send("a1", "A");
            assert_eq!(dup.message_id, a1.message_id, "deduplicated");
            assert!(a1.sequence_number.is_some());
            let got = receive(&s, &q.arn, 1, None);
            assert_eq!(got[0].body, "a1");
            // Group A is blocked while a1 is in flight: only B is delivered.
            let next = receive(&s, &q.arn, 10, None);
            assert_eq!(
                next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
                vec!["b1"]
            );
            s.delete_message(&q.arn, &got[0].receipt_handle).unwrap();
            let after = receive(&s, &q.arn, 10, None);
            assert_eq!(after[0].body, "a2");
            let mut bad = text("x");
            bad.group_id = Some("A".into());
            bad.delay_seconds = Some(1);
            assert_eq!(
                s.send(&q.arn, &bad).unwrap_err().code,
                "InvalidParameterValue"
            );
            assert_eq!(
                s.send(&q.arn, &text("x")).unwrap_err().code,
                "MissingParameter"
            );
        }
    }

    #[test]
    fn too_many_receives_move_to_the_dead_letter_queue_and_back() {
        for (s, _b) in stores("dlq") {
            let dlq = s
                .create_queue("us-east-1", "dlq", &Attributes::new(), &Tags::new())
                .unwrap();
            let policy = format!(
                r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#,
                dlq.arn
            );
            let src = s
                .create_queue(
                    "us-east-1",
                    "src",
                    &attrs(&[("RedrivePolicy", &policy)]),
                    &Tags::new(),
                )
                .unwrap();
            assert_eq!(
                s.dead_letter_sources(&dlq.arn).unwrap(),
                vec![src.arn.clone()]
            );
            let mut m = text("poison");
            m.attributes.insert(
                "k".into(),
                crate::message::MessageAttribute {
                    data_type: "String".into(),
                    string_value: Some("v".into()),
                    binary_value: None,
                },
            );
            let sent = s.send(&src.arn, &m).unwrap();
            assert_eq!(receive(&s, &src.arn, 1, Some(0)).len(), 1);
            assert!(
                receive(&s, &src.arn, 1, Some(0)).is_empty(),
                "moved on the next receive"
            );
            let dead = receive(&s, &dlq.arn, 1, Some(0));
            assert_eq!(dead[0].message_id, sent.message_id);
            assert_eq!(
                dead[0].message_attributes["k"].string_value.as_deref(),
                Some("v")
            );
            assert_eq!(dead[0].attributes["DeadLetterQueueSourceArn"], src.arn);
            s.start_move_task(&dlq.arn, None, None).unwrap();
            assert_eq!(s.move_tasks(&dlq.arn, 10).unwrap()[0].moved, 1);
            assert_eq!(receive(&s, &src.arn, 1, None)[0].body, "poison");
            let e = s.start_move_task(&src.arn, None, None).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
            let missing = format!(
                r#"{{"deadLetterTargetArn":"{}x","maxReceiveCount":1}}"#,
                dlq.arn
            );
            let e = s.set_queue_attributes(&src.arn, &attrs(&[("RedrivePolicy", &missing)]));
            assert!(e.unwrap_err().message.contains("does not exist"));
        }
    }

    /// Messages older than the retention period are gone; the size limit is the queue's.
    #[test]
    fn retention_drops_old_messages_and_size_follows_the_queue() {
        for (s, _b) in stores("retention") {
            let a = attrs(&[
                ("MessageRetentionPeriod", "60"),
                ("MaximumMessageSize", "1024"),
            ]);
            let q = s.create_queue("us-east-1", "r", &a, &Tags::new()).unwrap();
            s.send(&q.arn, &text("old")).unwrap();
            s.send(&q.arn, &text("new")).unwrap();
            // Age the first message past the 60 s retention period.
            s.db.tx(|t| {
                t.execute(
                    "UPDATE messages SET sent_ms = sent_ms - 61000 WHERE body = 'old'",
                    args![],
                )
            })
            .unwrap();
            assert_eq!(
                s.queue_attributes(&q.arn).unwrap()["ApproximateNumberOfMessages"],
                "1"
            );
            let got = receive(&s, &q.arn, 10, None);
            assert_eq!(
                got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
                vec!["new"]
            );
            let e = s.send(&q.arn, &text(&"x".repeat(1025))).unwrap_err();
            assert!(
                e.message.contains("shorter than 1024 bytes"),
                "{}",
                e.message
            );
            s.send(&q.arn, &text(&"x".repeat(1024))).unwrap();
        }
    }

    #[test]
    fn an_acknowledged_send_survives_reopening_and_purge_is_limited() {
        for (s, b) in stores("durable") {
            let q = s
                .create_queue("us-east-1", "d", &Attributes::new(), &Tags::new())
                .unwrap();
            s.send(&q.arn, &text("kept")).unwrap();
            drop(s);
            let s = Queues::open(&b.location).unwrap();
            assert_eq!(receive(&s, &q.arn, 1, None)[0].body, "kept");
            s.purge(&q.arn).unwrap();
            assert_eq!(s.purge(&q.arn).unwrap_err().code, "PurgeQueueInProgress");
            assert_eq!(
                s.queue_attributes(&q.arn).unwrap()["ApproximateNumberOfMessagesNotVisible"],
                "0"
            );
        }
    }
}
