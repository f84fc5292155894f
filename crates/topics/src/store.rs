//! The durable store: topics (attributes and tags as JSON) and subscriptions in `topics.db`
//! (WAL mode) or the `topics` schema on PostgreSQL, one transaction per operation, so an
//! acknowledged change survives `kill -9`. Every check that depends on stored state runs
//! inside the transaction that writes; on PostgreSQL such a transaction is run again when it
//! raced another, so the closures below only read and write through their transaction.

use std::collections::BTreeMap;

use stratus_core::{Error, Kind};
use stratus_db::{args, Location, Migrations, Options, Row, Schema, StoreSpec, Tx};

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

/// PostgreSQL's schema: ARNs are `COLLATE "C"` so listings page in byte order, as on SQLite.
const POSTGRES: &[&str] = &[r#"
CREATE TABLE topics (
    arn TEXT COLLATE "C" PRIMARY KEY,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE subscriptions (
    arn TEXT COLLATE "C" PRIMARY KEY,
    topic_arn TEXT COLLATE "C" NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attrs TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_topic ON subscriptions (topic_arn, arn);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
"#];

/// The store on either backend; SQLite's file keeps the idempotent schema it always had.
pub const SPEC: StoreSpec<'static> = StoreSpec {
    name: "topics",
    file: "topics.db",
    options: Options {
        foreign_keys: false,
    },
    migrations: Migrations {
        sqlite: Schema::Idempotent(SCHEMA),
        postgres: POSTGRES,
    },
};

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
    db: stratus_db::Db,
    key: Vec<u8>,
}

/// A database fault: logged, answered with SNS's generic (retryable) internal error, which
/// is also what an unreachable PostgreSQL gets.
fn fault(what: &str, e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, unavailable = e.is_unavailable(), "topics store: {what}");
    Error::new("InternalError", Kind::Internal, "Internal Error")
}

/// Why a transaction's closure stopped: the database failed (which PostgreSQL may retry), or
/// the request was refused.
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
    /// Opens (or creates) the topics store at `location`; the signing key is made on first
    /// open and kept (nodes sharing a PostgreSQL database share it).
    pub fn open(location: &Location) -> Result<Topics, stratus_db::Error> {
        Topics::open_spec(location, &SPEC)
    }

    fn open_spec(location: &Location, spec: &StoreSpec<'_>) -> Result<Topics, stratus_db::Error> {
        let db = stratus_db::Db::open(location, spec)?;
        let fresh: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        let key = db.tx(|t| signing_key(t, &fresh))?;
        Ok(Topics { db, key })
    }

    /// The key notification signatures are made with (fixed for the life of the data dir).
    pub fn signing_key(&self) -> &[u8] {
        &self.key
    }

    /// Runs `f` in one transaction; `what` names the operation in the log of a fault.
    fn tx<T>(&self, what: &str, mut f: impl FnMut(&Tx<'_>) -> Result<T, Stop>) -> Result<T, Error> {
        self.db.tx(|t| f(t)).map_err(|stop| match stop {
            Stop::Db(e) => fault(what, e),
            Stop::Refused(e) => e,
        })
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
        self.tx("create topic", |t| {
            if let Some(existing) = topic(t, arn)? {
                if attrs.iter().any(|(k, v)| existing.attrs.get(k) != Some(v)) {
                    return Err(invalid(
                        "Attributes Reason: Topic already exists with different attributes",
                    )
                    .into());
                }
                if tags.iter().any(|(k, v)| existing.tags.get(k) != Some(v)) {
                    return Err(
                        invalid("Tags Reason: Topic already exists with different tags").into(),
                    );
                }
                return Ok(());
            }
            t.execute(
                "INSERT INTO topics (arn, attrs, tags, created_ms) VALUES (?1, ?2, ?3, ?4)",
                args![arn, to_json(attrs), to_json(tags), now_ms()],
            )?;
            Ok(())
        })
    }

    /// Deletes a topic and its subscriptions; deleting a missing topic is not an error.
    pub fn delete_topic(&self, arn: &str) -> Result<(), Error> {
        self.tx("delete topic", |t| {
            t.execute("DELETE FROM subscriptions WHERE topic_arn = ?1", args![arn])?;
            t.execute("DELETE FROM topics WHERE arn = ?1", args![arn])?;
            Ok(())
        })
    }

    pub fn topic(&self, arn: &str) -> Result<Option<Topic>, Error> {
        self.tx("read topic", |t| Ok(topic(t, arn)?))
    }

    /// Topic ARNs starting with `prefix` (a region's ARN prefix) after `after`, in order.
    /// The prefix is cast so PostgreSQL knows its type.
    pub fn list_topics(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        self.tx("list topics", |t| {
            Ok(t.query_map(
                "SELECT arn FROM topics
                 WHERE arn > ?1 AND substr(arn, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)
                 ORDER BY arn LIMIT ?3",
                args![after, prefix, limit as i64],
                |r| r.get(0),
            )?)
        })
    }

    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), Error> {
        self.tx("set topic attribute", |t| {
            let mut topic = topic(t, arn)?.ok_or_else(topic_not_found)?;
            let fifo = topic.attrs.get("FifoTopic").is_some_and(|v| v == "true");
            check_topic_attribute(name, value, false, fifo)?;
            topic.attrs.insert(name.to_string(), value.to_string());
            write_attrs(t, arn, &topic.attrs)
        })
    }

    /// Changes the topic's access policy (AWS's default one if none was set) with `f`, which
    /// may be called again if the transaction is retried.
    pub fn update_policy(
        &self,
        arn: &str,
        mut f: impl FnMut(&mut serde_json::Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.tx("update policy", |t| {
            let mut topic = topic(t, arn)?.ok_or_else(topic_not_found)?;
            let current = topic
                .attrs
                .get("Policy")
                .cloned()
                .unwrap_or_else(|| default_policy(arn));
            let mut policy = serde_json::from_str(&current).unwrap_or(serde_json::json!({}));
            f(&mut policy)?;
            topic.attrs.insert("Policy".into(), policy.to_string());
            write_attrs(t, arn, &topic.attrs)
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
        self.tx("subscribe", |t| {
            topic(t, topic_arn)?.ok_or_else(topic_not_found)?;
            let existing = t.query_opt(
                "SELECT arn, attrs FROM subscriptions WHERE topic_arn = ?1 AND protocol = ?2 AND endpoint = ?3",
                args![topic_arn, protocol, endpoint],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?;
            if let Some((arn, stored)) = existing {
                let stored: Attributes = from_json(&stored);
                if given.iter().any(|(k, v)| stored.get(k) != Some(v)) {
                    return Err(invalid(
                        "Attributes Reason: Subscription already exists with different attributes",
                    )
                    .into());
                }
                return Ok(arn);
            }
            let arn = new_subscription_arn(topic_arn);
            t.execute(
                "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, attrs, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![arn.as_str(), topic_arn, protocol, endpoint, to_json(&attrs), now_ms()],
            )?;
            Ok(arn)
        })
    }

    /// Removes a subscription; a missing one is not an error.
    pub fn unsubscribe(&self, arn: &str) -> Result<(), Error> {
        self.tx("unsubscribe", |t| {
            t.execute("DELETE FROM subscriptions WHERE arn = ?1", args![arn])?;
            Ok(())
        })
    }

    pub fn subscription(&self, arn: &str) -> Result<Option<Subscription>, Error> {
        self.tx("read subscription", |t| Ok(subscription(t, arn)?))
    }

    pub fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.tx("set subscription attribute", |t| {
            let mut sub = subscription(t, arn)?.ok_or_else(subscription_not_found)?;
            check_subscription_attribute(name, value, &sub.protocol, &sub.attrs)?;
            apply_subscription_attribute(&mut sub.attrs, name, value);
            t.execute(
                "UPDATE subscriptions SET attrs = ?2 WHERE arn = ?1",
                args![arn, to_json(&sub.attrs)],
            )?;
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
        self.tx("list subscriptions", |t| {
            if let Some(arn) = topic_arn {
                topic(t, arn)?.ok_or_else(topic_not_found)?;
            }
            let (sql, key) = match topic_arn {
                Some(arn) => ("topic_arn = ?2", arn),
                None => (
                    "substr(arn, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)",
                    prefix,
                ),
            };
            Ok(t.query_map(
                &format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions WHERE arn > ?1 AND {sql} ORDER BY arn LIMIT ?3"
                ),
                args![after, key, limit as i64],
                subscription_from,
            )?)
        })
    }

    /// A topic and the subscriptions a message published to it goes to, or `None` if the
    /// topic does not exist.
    pub fn subscribers(
        &self,
        topic_arn: &str,
    ) -> Result<Option<(Topic, Vec<Subscription>)>, Error> {
        self.tx("subscribers", |t| {
            let Some(found) = topic(t, topic_arn)? else {
                return Ok(None);
            };
            let subs = t.query_map(
                &format!(
                    "SELECT {SUB_COLUMNS} FROM subscriptions WHERE topic_arn = ?1 ORDER BY arn"
                ),
                args![topic_arn],
                subscription_from,
            )?;
            Ok(Some((found, subs)))
        })
    }

    pub fn tags(&self, arn: &str) -> Result<Tags, Error> {
        self.tx("read tags", |t| {
            Ok(topic(t, arn)?.ok_or_else(resource_not_found)?.tags)
        })
    }

    pub fn tag(&self, arn: &str, add: &Tags) -> Result<(), Error> {
        check_tags(add)?;
        self.tx("tag", |t| {
            let mut tags = topic(t, arn)?.ok_or_else(resource_not_found)?.tags;
            tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            if tags.len() > MAX_TAGS {
                return Err(tag_limit().into());
            }
            write_tags(t, arn, &tags)
        })
    }

    pub fn untag(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        self.tx("untag", |t| {
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

fn write_tags(t: &Tx<'_>, arn: &str, tags: &Tags) -> Result<(), Stop> {
    t.execute(
        "UPDATE topics SET tags = ?2 WHERE arn = ?1",
        args![arn, to_json(tags)],
    )?;
    Ok(())
}

fn write_attrs(t: &Tx<'_>, arn: &str, attrs: &Attributes) -> Result<(), Stop> {
    t.execute(
        "UPDATE topics SET attrs = ?2 WHERE arn = ?1",
        args![arn, to_json(attrs)],
    )?;
    Ok(())
}

const SUB_COLUMNS: &str = "arn, topic_arn, protocol, endpoint, attrs";

fn subscription_from(r: &Row<'_>) -> Result<Subscription, stratus_db::Error> {
    Ok(Subscription {
        arn: r.get(0)?,
        topic_arn: r.get(1)?,
        protocol: r.get(2)?,
        endpoint: r.get(3)?,
        attrs: from_json(&r.get::<String>(4)?),
    })
}

fn subscription(t: &Tx<'_>, arn: &str) -> Result<Option<Subscription>, stratus_db::Error> {
    t.query_opt(
        &format!("SELECT {SUB_COLUMNS} FROM subscriptions WHERE arn = ?1"),
        args![arn],
        subscription_from,
    )
}

fn topic(t: &Tx<'_>, arn: &str) -> Result<Option<Topic>, stratus_db::Error> {
    let row = t.query_opt(
        "SELECT attrs, tags, (SELECT COUNT(*) FROM subscriptions WHERE topic_arn = ?1)
         FROM topics WHERE arn = ?1",
        args![arn],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)),
    )?;
    Ok(row.map(|(attrs, tags, n)| Topic {
        arn: arn.to_string(),
        attrs: from_json(&attrs),
        tags: from_json(&tags),
        subscriptions: n as usize,
    }))
}

/// The signing key, made once per store: `fresh` is kept unless a key is there already.
fn signing_key(t: &Tx<'_>, fresh: &[u8]) -> Result<Vec<u8>, stratus_db::Error> {
    t.execute(
        "INSERT INTO settings (name, value) VALUES ('signing_key', ?1) ON CONFLICT DO NOTHING",
        args![fresh],
    )?;
    let key = t.query_opt(
        "SELECT value FROM settings WHERE name = 'signing_key'",
        args![],
        |r| r.get(0),
    )?;
    Ok(key.unwrap_or_else(|| fresh.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::topic_arn;

    /// A fresh store on each backend the run can reach: SQLite always, PostgreSQL when
    /// `STRATUS_TEST_DATABASE` names one (in a schema of the test's own, dropped afterwards).
    struct Store {
        topics: Option<Topics>,
        location: Location,
        spec_name: String,
        schema: Option<String>,
        _dir: tempfile::TempDir,
    }

    impl Store {
        fn s(&self) -> &Topics {
            self.topics.as_ref().unwrap()
        }

        /// Closes and opens the store again.
        fn reopen(&mut self) {
            self.topics = None;
            let spec = StoreSpec {
                name: &self.spec_name,
                ..SPEC
            };
            self.topics = Some(Topics::open_spec(&self.location, &spec).unwrap());
        }
    }

    impl Drop for Store {
        fn drop(&mut self) {
            if let (Some(schema), Some(t)) = (&self.schema, &self.topics) {
                let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let _ = t.db.tx(|t| t.batch(&sql));
            }
        }
    }

    fn stores(tag: &str) -> Vec<Store> {
        let mut out = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        out.push(Store {
            topics: None,
            location: Location::Sqlite(dir.path().into()),
            spec_name: "topics".into(),
            schema: None,
            _dir: dir,
        });
        if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
            let schema = format!("test_topics_{tag}_{}", std::process::id());
            out.push(Store {
                topics: None,
                location: Location::parse(Some(&url), std::path::Path::new("/")).unwrap(),
                spec_name: schema.clone(),
                schema: Some(schema),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        for s in &mut out {
            s.reopen();
        }
        out
    }

    fn attrs(list: &[(&str, &str)]) -> Attributes {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_is_idempotent_but_refuses_different_attributes() {
        for st in stores("create") {
            let s = st.s();
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
    }

    #[test]
    fn subscriptions_follow_their_topic() {
        for mut st in stores("subs") {
            let arn = topic_arn("us-east-1", "t");
            st.s()
                .create_topic(&arn, &Attributes::new(), &Tags::new())
                .unwrap();
            let fa = "arn:aws:lambda:us-east-1:000000000000:function:f";
            let sub = st
                .s()
                .subscribe(&arn, "lambda", fa, &Attributes::new())
                .unwrap();
            assert_eq!(
                st.s()
                    .subscribe(&arn, "lambda", fa, &Attributes::new())
                    .unwrap(),
                sub
            );
            assert_eq!(st.s().topic(&arn).unwrap().unwrap().subscriptions, 1);
            st.reopen();
            let s = st.s();
            assert_eq!(s.subscribers(&arn).unwrap().unwrap().1.len(), 1);
            s.delete_topic(&arn).unwrap();
            assert!(s.subscription(&sub).unwrap().is_none());
            assert!(s.subscribers(&arn).unwrap().is_none());
        }
    }

    #[test]
    fn listing_pages_in_order() {
        for st in stores("list") {
            let s = st.s();
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
    }

    /// Topic names mix cases, digits, `-` and `_`: they list in byte order on every backend
    /// (`-` < digits < upper case < `_` < lower case), as on SQLite.
    #[test]
    fn topics_list_in_byte_order() {
        for st in stores("order") {
            let s = st.s();
            let names = ["b", "B", "a_1", "a-1", "A", "a", "9", "_z", "Z"];
            for n in names {
                s.create_topic(&topic_arn("us-east-1", n), &Attributes::new(), &Tags::new())
                    .unwrap();
            }
            let mut expected: Vec<String> =
                names.iter().map(|n| topic_arn("us-east-1", n)).collect();
            expected.sort();
            let mut listed = Vec::new();
            let mut after = String::new();
            loop {
                let page = s.list_topics("arn:aws:sns:us-east-1:", &after, 2).unwrap();
                let Some(last) = page.last().cloned() else {
                    break;
                };
                listed.extend(page);
                after = last;
            }
            assert_eq!(listed, expected, "{}", st.location);
        }
    }

    /// Eight callers subscribe the same endpoint at once: one subscription is made and every
    /// caller gets its ARN (on PostgreSQL the racing transactions are run again).
    #[test]
    fn concurrent_subscribes_make_one_subscription() {
        for st in stores("race") {
            let s = st.s();
            let arn = topic_arn("us-east-1", "t");
            s.create_topic(&arn, &Attributes::new(), &Tags::new())
                .unwrap();
            let fa = "arn:aws:lambda:us-east-1:000000000000:function:f";
            let arns: Vec<String> = std::thread::scope(|scope| {
                let callers: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| s.subscribe(&arn, "lambda", fa, &Attributes::new())))
                    .collect();
                callers
                    .into_iter()
                    .map(|c| c.join().unwrap().unwrap())
                    .collect()
            });
            assert!(
                arns.iter().all(|a| *a == arns[0]),
                "{}: {arns:?}",
                st.location
            );
            assert_eq!(s.topic(&arn).unwrap().unwrap().subscriptions, 1);
        }
    }

    #[test]
    fn signing_key_survives_reopen() {
        for mut st in stores("key") {
            let key = st.s().signing_key().to_vec();
            assert_eq!(key.len(), 32);
            st.reopen();
            assert_eq!(st.s().signing_key(), key.as_slice(), "{}", st.location);
        }
    }
}
