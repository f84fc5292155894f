//! The durable store: topics (attributes and tags as JSON) and subscriptions in `topics.db`,
//! WAL mode, one transaction per operation, so an acknowledged change survives `kill -9`. Every
//! check that depends on stored state runs inside the transaction that writes.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use stratus_core::{Error, Kind};

use crate::attributes::{
    apply_subscription_attribute, check_subscription_attribute, check_topic_attribute,
    default_policy, Attributes,
};
use crate::names::{
    invalid, new_subscription_arn, resource_not_found, subscription_not_found, topic_not_found,
};

pub type Tags = BTreeMap<String, String>;

/// Most tags on one topic.
const MAX_TAGS: usize = 50;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS topics (
    arn TEXT PRIMARY KEY,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    arn TEXT PRIMARY KEY,
    topic_arn TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attrs TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_topic ON subscriptions(topic_arn, arn);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#;

#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub arn: String,
    pub attrs: Attributes,
    pub tags: Tags,
    /// How many subscriptions it has (all confirmed: function subscriptions need no handshake).
    pub subscriptions: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub attrs: Attributes,
}

pub struct Topics {
    db: stratus_db::Database,
    key: Vec<u8>,
}

/// A database fault: logged, answered with SNS's generic internal error.
fn fault(what: &str, e: rusqlite::Error) -> Error {
    tracing::error!(error = %e, "topics store: {what}");
    Error::new("InternalError", Kind::Internal, "Internal Error")
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps serialise")
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

impl Topics {
    /// Opens (or creates) the topics database. Its schema is idempotent (it predates
    /// versioned migrations); the signing key is made on first open and kept.
    pub fn open(path: &Path) -> Result<Topics, stratus_db::Error> {
        let schema = stratus_db::Schema::Idempotent(SCHEMA);
        let conn = stratus_db::open(path, stratus_db::Options::default(), schema)?;
        let key = signing_key(&conn).map_err(|source| {
            stratus_db::Error::sqlite("keeping the signing key in", path, source)
        })?;
        Ok(Topics {
            db: conn.into(),
            key,
        })
    }

    /// The key notification signatures are made with (fixed for the life of the data dir).
    pub fn signing_key(&self) -> &[u8] {
        &self.key
    }

    fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>) -> Result<T, Error> {
        self.db.transaction(f, fault).map(|(out, _)| out)
    }

    /// Creates a topic, or returns quietly if one with this ARN exists with the same given
    /// attributes and tags (AWS's idempotent create); differing ones are refused.
    pub fn create_topic(&self, arn: &str, attrs: &Attributes, tags: &Tags) -> Result<(), Error> {
        let fifo = attrs
            .get("FifoTopic")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        for (k, v) in attrs {
            check_topic_attribute(k, v, true, fifo)?;
        }
        check_tags(tags)?;
        self.tx(|t| {
            if let Some(existing) = topic(t, arn)? {
                if attrs.iter().any(|(k, v)| existing.attrs.get(k) != Some(v)) {
                    return Err(invalid(
                        "Attributes Reason: Topic already exists with different attributes",
                    ));
                }
                if tags.iter().any(|(k, v)| existing.tags.get(k) != Some(v)) {
                    return Err(invalid(
                        "Tags Reason: Topic already exists with different tags",
                    ));
                }
                return Ok(());
            }
            t.execute(
                "INSERT INTO topics (arn, attrs, tags, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![arn, to_json(attrs), to_json(tags), now_ms()],
            )
            .map_err(|e| fault("create topic", e))?;
            Ok(())
        })
    }

    /// Deletes a topic and its subscriptions; deleting a missing topic is not an error.
    pub fn delete_topic(&self, arn: &str) -> Result<(), Error> {
        self.tx(|t| {
            t.execute("DELETE FROM subscriptions WHERE topic_arn = ?1", [arn])
                .map_err(|e| fault("delete subscriptions", e))?;
            t.execute("DELETE FROM topics WHERE arn = ?1", [arn])
                .map_err(|e| fault("delete topic", e))?;
            Ok(())
        })
    }

    pub fn topic(&self, arn: &str) -> Result<Option<Topic>, Error> {
        self.tx(|t| topic(t, arn))
    }

    /// Topic ARNs starting with `prefix` (a region's ARN prefix) after `after`, in order.
    pub fn list_topics(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        self.tx(|t| {
            let mut stmt = t
                .prepare_cached(
                    "SELECT arn FROM topics WHERE arn > ?1 AND substr(arn, 1, length(?2)) = ?2
                     ORDER BY arn LIMIT ?3",
                )
                .map_err(|e| fault("list topics", e))?;
            let rows = stmt
                .query_map(params![after, prefix, limit as i64], |r| r.get(0))
                .map_err(|e| fault("list topics", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| fault("list topics", e))
        })
    }

    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), Error> {
        self.tx(|t| {
            let mut topic = topic(t, arn)?.ok_or_else(topic_not_found)?;
            let fifo = topic.attrs.get("FifoTopic").is_some_and(|v| v == "true");
            check_topic_attribute(name, value, false, fifo)?;
            topic.attrs.insert(name.to_string(), value.to_string());
            t.execute(
                "UPDATE topics SET attrs = ?2 WHERE arn = ?1",
                params![arn, to_json(&topic.attrs)],
            )
            .map_err(|e| fault("set topic attribute", e))?;
            Ok(())
        })
    }

    /// Changes the topic's access policy (AWS's default one if none was set) with `f`.
    pub fn update_policy(
        &self,
        arn: &str,
        f: impl FnOnce(&mut serde_json::Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.tx(|t| {
            let mut topic = topic(t, arn)?.ok_or_else(topic_not_found)?;
            let current = topic
                .attrs
                .get("Policy")
                .cloned()
                .unwrap_or_else(|| default_policy(arn));
            let mut policy = serde_json::from_str(&current).unwrap_or(serde_json::json!({}));
            f(&mut policy)?;
            topic.attrs.insert("Policy".into(), policy.to_string());
            t.execute(
                "UPDATE topics SET attrs = ?2 WHERE arn = ?1",
                params![arn, to_json(&topic.attrs)],
            )
            .map_err(|e| fault("update policy", e))?;
            Ok(())
        })
    }

    /// Subscribes `endpoint`, or returns the existing subscription of the same endpoint and
    /// protocol (refused if it was made with different attributes).
    pub fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        given: &Attributes,
    ) -> Result<String, Error> {
        let mut attrs = Attributes::new();
        // Scope first, so a body-scoped policy is checked as one.
        let ordered = given
            .iter()
            .filter(|(k, _)| *k == "FilterPolicyScope")
            .chain(given.iter().filter(|(k, _)| *k != "FilterPolicyScope"));
        for (k, v) in ordered {
            check_subscription_attribute(k, v, protocol, &attrs)?;
            apply_subscription_attribute(&mut attrs, k, v);
        }
        self.tx(|t| {
            topic(t, topic_arn)?.ok_or_else(topic_not_found)?;
            let existing = t
                .query_row(
                    "SELECT arn, attrs FROM subscriptions WHERE topic_arn = ?1 AND protocol = ?2 AND endpoint = ?3",
                    params![topic_arn, protocol, endpoint],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(|e| fault("find subscription", e))?;
            if let Some((arn, stored)) = existing {
                let stored: Attributes = from_json(&stored);
                if given.iter().any(|(k, v)| stored.get(k) != Some(v)) {
                    return Err(invalid(
                        "Attributes Reason: Subscription already exists with different attributes",
                    ));
                }
                return Ok(arn);
            }
            let arn = new_subscription_arn(topic_arn);
            t.execute(
                "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, attrs, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![arn, topic_arn, protocol, endpoint, to_json(&attrs), now_ms()],
            )
            .map_err(|e| fault("subscribe", e))?;
            Ok(arn)
        })
    }

    /// Removes a subscription; a missing one is not an error.
    pub fn unsubscribe(&self, arn: &str) -> Result<(), Error> {
        self.tx(|t| {
            t.execute("DELETE FROM subscriptions WHERE arn = ?1", [arn])
                .map_err(|e| fault("unsubscribe", e))?;
            Ok(())
        })
    }

    pub fn subscription(&self, arn: &str) -> Result<Option<Subscription>, Error> {
        self.tx(|t| subscription(t, arn))
    }

    pub fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.tx(|t| {
            let mut sub = subscription(t, arn)?.ok_or_else(subscription_not_found)?;
            check_subscription_attribute(name, value, &sub.protocol, &sub.attrs)?;
            apply_subscription_attribute(&mut sub.attrs, name, value);
            t.execute(
                "UPDATE subscriptions SET attrs = ?2 WHERE arn = ?1",
                params![arn, to_json(&sub.attrs)],
            )
            .map_err(|e| fault("set subscription attribute", e))?;
            Ok(())
        })
    }

    /// Subscriptions (of `topic`, which must exist, or of topics under `prefix`) after
    /// `after`, in ARN order.
    pub fn list_subscriptions(
        &self,
        prefix: &str,
        topic_arn: Option<&str>,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Subscription>, Error> {
        self.tx(|t| {
            if let Some(arn) = topic_arn {
                topic(t, arn)?.ok_or_else(topic_not_found)?;
            }
            let (sql, key) = match topic_arn {
                Some(arn) => ("topic_arn = ?2", arn),
                None => ("substr(arn, 1, length(?2)) = ?2", prefix),
            };
            let mut stmt = t
                .prepare_cached(&format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions WHERE arn > ?1 AND {sql} ORDER BY arn LIMIT ?3"
                ))
                .map_err(|e| fault("list subscriptions", e))?;
            let rows = stmt
                .query_map(params![after, key, limit as i64], subscription_from)
                .map_err(|e| fault("list subscriptions", e))?;
            rows.collect::<Result<_, _>>().map_err(|e| fault("list subscriptions", e))
        })
    }

    /// A topic and the subscriptions a message published to it goes to, or `None` if the
    /// topic does not exist.
    pub fn subscribers(
        &self,
        topic_arn: &str,
    ) -> Result<Option<(Topic, Vec<Subscription>)>, Error> {
        self.tx(|t| {
            let Some(found) = topic(t, topic_arn)? else {
                return Ok(None);
            };
            let mut stmt = t
                .prepare_cached(&format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions WHERE topic_arn = ?1 ORDER BY arn"
                ))
                .map_err(|e| fault("subscribers", e))?;
            let rows = stmt
                .query_map([topic_arn], subscription_from)
                .map_err(|e| fault("subscribers", e))?;
            rows.collect::<Result<_, _>>()
                .map(|subs| Some((found, subs)))
                .map_err(|e| fault("subscribers", e))
        })
    }

    pub fn tags(&self, arn: &str) -> Result<Tags, Error> {
        self.tx(|t| Ok(topic(t, arn)?.ok_or_else(resource_not_found)?.tags))
    }

    pub fn tag(&self, arn: &str, add: &Tags) -> Result<(), Error> {
        check_tags(add)?;
        self.tx(|t| {
            let mut tags = topic(t, arn)?.ok_or_else(resource_not_found)?.tags;
            tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            if tags.len() > MAX_TAGS {
                return Err(tag_limit());
            }
            write_tags(t, arn, &tags)
        })
    }

    pub fn untag(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        self.tx(|t| {
            let mut tags = topic(t, arn)?.ok_or_else(resource_not_found)?.tags;
            for k in keys {
                tags.remove(k);
            }
            write_tags(t, arn, &tags)
        })
    }
}

fn tag_limit() -> Error {
    Error::new(
        "TagLimitExceeded",
        Kind::InvalidInput,
        "Could not complete request: tag quota of per resource exceeded",
    )
}

fn check_tags(tags: &Tags) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(tag_limit());
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid("Tags Reason: Tag key is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid("Tags Reason: Tag value is invalid"));
        }
    }
    Ok(())
}

fn write_tags(t: &Transaction<'_>, arn: &str, tags: &Tags) -> Result<(), Error> {
    t.execute(
        "UPDATE topics SET tags = ?2 WHERE arn = ?1",
        params![arn, to_json(tags)],
    )
    .map_err(|e| fault("write tags", e))?;
    Ok(())
}

const SUB_COLUMNS: &str = "arn, topic_arn, protocol, endpoint, attrs";

fn subscription_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        arn: r.get(0)?,
        topic_arn: r.get(1)?,
        protocol: r.get(2)?,
        endpoint: r.get(3)?,
        attrs: from_json(&r.get::<_, String>(4)?),
    })
}

fn subscription(t: &Transaction<'_>, arn: &str) -> Result<Option<Subscription>, Error> {
    t.query_row(
        &format!("SELECT {SUB_COLUMNS} FROM subscriptions WHERE arn = ?1"),
        [arn],
        subscription_from,
    )
    .optional()
    .map_err(|e| fault("read subscription", e))
}

fn topic(t: &Transaction<'_>, arn: &str) -> Result<Option<Topic>, Error> {
    let row = t
        .query_row(
            "SELECT attrs, tags, (SELECT COUNT(*) FROM subscriptions WHERE topic_arn = ?1)
             FROM topics WHERE arn = ?1",
            [arn],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()
        .map_err(|e| fault("read topic", e))?;
    Ok(row.map(|(attrs, tags, n)| Topic {
        arn: arn.to_string(),
        attrs: from_json(&attrs),
        tags: from_json(&tags),
        subscriptions: n as usize,
    }))
}

/// The signing key, made once per data dir.
fn signing_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    let fresh: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    conn.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES ('signing_key', ?1)",
        [&fresh],
    )?;
    conn.query_row(
        "SELECT value FROM settings WHERE name = 'signing_key'",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::topic_arn;

    fn store() -> (tempfile::TempDir, Topics) {
        let dir = tempfile::tempdir().unwrap();
        let s = Topics::open(&dir.path().join("topics.db")).unwrap();
        (dir, s)
    }

    fn attrs(list: &[(&str, &str)]) -> Attributes {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_is_idempotent_but_refuses_different_attributes() {
        let (_d, s) = store();
        let arn = topic_arn("us-east-1", "t");
        s.create_topic(&arn, &attrs(&[("DisplayName", "a")]), &Tags::new())
            .unwrap();
        s.create_topic(&arn, &attrs(&[("DisplayName", "a")]), &Tags::new())
            .unwrap();
        s.create_topic(&arn, &Attributes::new(), &Tags::new())
            .unwrap();
        let e = s.create_topic(&arn, &attrs(&[("DisplayName", "b")]), &Tags::new());
        assert!(e.unwrap_err().message.contains("different attributes"));
        let e = s.create_topic(&arn, &Attributes::new(), &attrs(&[("k", "v")]));
        assert!(e.unwrap_err().message.contains("different tags"));
    }

    #[test]
    fn subscriptions_follow_their_topic() {
        let (dir, s) = store();
        let arn = topic_arn("us-east-1", "t");
        s.create_topic(&arn, &Attributes::new(), &Tags::new())
            .unwrap();
        let fa = "arn:aws:lambda:us-east-1:000000000000:function:f";
        let sub = s.subscribe(&arn, "lambda", fa, &Attributes::new()).unwrap();
        assert_eq!(
            s.subscribe(&arn, "lambda", fa, &Attributes::new()).unwrap(),
            sub
        );
        assert_eq!(s.topic(&arn).unwrap().unwrap().subscriptions, 1);
        drop(s);
        let s = Topics::open(&dir.path().join("topics.db")).unwrap();
        assert_eq!(s.subscribers(&arn).unwrap().unwrap().1.len(), 1);
        s.delete_topic(&arn).unwrap();
        assert!(s.subscription(&sub).unwrap().is_none());
        assert!(s.subscribers(&arn).unwrap().is_none());
    }

    #[test]
    fn listing_pages_in_order() {
        let (_d, s) = store();
        for i in 0..5 {
            let arn = topic_arn("us-east-1", &format!("t{i}"));
            s.create_topic(&arn, &Attributes::new(), &Tags::new())
                .unwrap();
        }
        s.create_topic(
            &topic_arn("eu-west-1", "x"),
            &Attributes::new(),
            &Tags::new(),
        )
        .unwrap();
        let prefix = "arn:aws:sns:us-east-1:";
        let first = s.list_topics(prefix, "", 3).unwrap();
        assert_eq!(first.len(), 3);
        let rest = s.list_topics(prefix, first.last().unwrap(), 3).unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|a| a.starts_with(prefix)));
    }

    #[test]
    fn signing_key_survives_reopen() {
        let (dir, s) = store();
        let key = s.signing_key().to_vec();
        drop(s);
        let s = Topics::open(&dir.path().join("topics.db")).unwrap();
        assert_eq!(s.signing_key(), key.as_slice());
    }
}
