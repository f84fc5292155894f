//! Stratus tables: a DynamoDB-compatible table service. Requests and answers are DynamoDB's
//! JSON (the protocol layer only moves bytes); items live in their own store (a SQLite file,
//! or a schema of a PostgreSQL database).
//!
//! # Layout
//! - [`number`]: DynamoDB's decimal numbers.
//! - [`value`]: attribute values, their JSON form, sizes and key encodings.
//! - [`expr`]: the expression language (lexer, parser, evaluation, updates).
//! - [`fuzzing`]: the parsers and decoders as fuzz targets call them.
//! - [`table`]: table definitions, CreateTable validation, DescribeTable's shape.
//! - [`store`]: the items and definitions, on SQLite or PostgreSQL.
//! - [`ops`]: one function per operation.
//! - [`streams`]: DynamoDB Streams: the records writes make, and the streams API.
//! - `ttl`: finding the items whose time to live has passed.

pub mod expr;
pub mod fuzzing;
pub mod number;
pub mod ops;
pub mod store;
pub mod streams;
pub mod table;
mod ttl;
pub mod value;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use stratus_core::{Error, Kind};
use stratus_db::{Dialect, Location};

use store::Failure;
use table::Table;

/// The table service. Each operation is one transaction of the storage layer, committed
/// before it returns: a conditional write reads, checks and writes with no other write in
/// between (on SQLite operations take turns; on PostgreSQL the transaction is serializable
/// and runs again when it loses a race with another writer).
pub struct Tables {
    db: stratus_db::Db,
    /// SQLite only: the table definitions, read once at open. Its lock is held for a whole
    /// operation, so an operation never sees a definition its transaction has not committed.
    cache: Option<Mutex<HashMap<String, Arc<Table>>>>,
}

/// How long a ClientRequestToken makes a repeated TransactWriteItems a no-op, in seconds.
pub const TOKEN_TTL_SECS: i64 = 600;

impl Tables {
    /// Opens (creating) the tables store at `location`.
    pub fn open(location: &Location) -> Result<Tables, String> {
        Tables::open_spec(location, &store::spec("tables"))
    }

    /// [`Tables::open`] with the store named otherwise (tests give each a schema of its own).
    fn open_spec(location: &Location, spec: &stratus_db::StoreSpec<'_>) -> Result<Tables, String> {
        let db = stratus_db::Db::open(location, spec).map_err(|e| e.to_string())?;
        let cache = match db.dialect() {
            Dialect::Sqlite => {
                let defs = db.tx(store::load_tables).map_err(|e| e.to_string())?;
                let map = defs
                    .into_iter()
                    .map(|t| (t.name.clone(), Arc::new(t)))
                    .collect();
                Some(Mutex::new(map))
            }
            Dialect::Postgres => None,
        };
        Ok(Tables { db, cache })
    }

    /// Runs one operation (`PutItem`, …) on a request body; the answer is the response body.
    pub fn call(&self, op: &str, req: &Value, region: &str) -> Result<Value, Error> {
        if !req.is_object() {
            return Err(Error::new(
                "SerializationException",
                Kind::InvalidInput,
                "Start of structure or map found where not expected.",
            ));
        }
        self.run(|db| ops::dispatch(db, op, req, region))
    }

    /// Runs one DynamoDB Streams operation (`GetRecords`, …) on a request body.
    pub fn call_streams(&self, op: &str, req: &Value, region: &str) -> Result<Value, Error> {
        if !req.is_object() {
            return Err(Error::new(
                "SerializationException",
                Kind::InvalidInput,
                "Start of structure or map found where not expected.",
            ));
        }
        self.run(|db| streams::ops::dispatch(db, op, req, region))
    }

    /// A stream, by ARN (`None`: no such stream, or retention removed it).
    pub fn stream(&self, arn: &str) -> Result<Option<streams::Stream>, Error> {
        let Some((tbl, label)) = streams::parse_arn(arn) else {
            return Ok(None);
        };
        self.run(|db| db.stream(tbl, label))
    }

    /// Up to `limit` records of a stream after sequence number `after`, in order, each with
    /// its sequence number (for pollers: the API's iterators are for clients).
    pub fn stream_records(
        &self,
        arn: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Value)>, Error> {
        let Some((tbl, label)) = streams::parse_arn(arn) else {
            return Ok(Vec::new());
        };
        self.run(|db| db.stream_records(tbl, label, after, limit))
    }

    /// Runs `f` as one transaction. It may run more than once (PostgreSQL retries a lost
    /// race), so it only reads and writes through `db`; definition changes reach the SQLite
    /// cache after the commit.
    fn run<T>(&self, mut f: impl FnMut(&mut store::Db) -> Result<T, Error>) -> Result<T, Error> {
        let mut guard = self
            .cache
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()));
        let cache = guard.as_deref();
        let out = self.db.tx(|t| {
            let mut db = store::Db::new(t, cache);
            match f(&mut db) {
                Ok(v) => Ok(Ok((v, std::mem::take(&mut db.changes)))),
                // Nothing written and the transaction sound: commit, so that PostgreSQL
                // confirms the reads that led to the refusal were consistent.
                Err(e) if !db.wrote && !db.failed.get() => Ok(Err(e)),
                Err(e) => Err(Failure::Op(e)),
            }
        });
        let (v, changes) = match out {
            Ok(Ok(done)) => done,
            Ok(Err(e)) | Err(Failure::Op(e)) => return Err(e),
            Err(Failure::Db(e)) => return Err(store::db_err(e)),
        };
        if let Some(cache) = guard.as_mut() {
            for c in changes {
                match c {
                    store::Change::Saved(t) => {
                        cache.insert(t.name.clone(), t);
                    }
                    store::Change::Dropped(name) => {
                        cache.remove(&name);
                    }
                }
            }
        }
        Ok(v)
    }

    /// Deletes the items whose time-to-live attribute holds an epoch time (seconds) at or
    /// before `now`, in every table with time to live enabled; returns how many. Each table
    /// is swept in pages, one transaction each. Also forgets expired ClientRequestTokens, and
    /// stream records past their 24-hour retention. A deletion is a REMOVE record of the
    /// table's stream, made by the service rather than a caller.
    pub fn sweep_expired(&self, now: i64) -> Result<usize, Error> {
        self.run(|db| db.forget_tokens(now - TOKEN_TTL_SECS))?;
        self.run(|db| db.trim_streams(now * 1000 - streams::RETENTION_MS))?;
        let names: Vec<String> = self
            .run(|db| db.ttl_tables())?
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut deleted = 0;
        for name in names {
            let mut after: Option<(Vec<u8>, Vec<u8>)> = None;
            loop {
                let (n, last) = self.run(|db| {
                    let page = ttl::expired_page(db, &name, after.as_ref(), now)?;
                    let table = db.table_opt(&name)?;
                    for (pk, sk, old) in &page.expired {
                        db.delete(&name, pk, sk)?;
                        if let Some(t) = &table {
                            db.record_change(
                                t,
                                Some(old),
                                None,
                                streams::record::Origin::TimeToLive,
                            )?;
                        }
                    }
                    Ok((page.expired.len(), page.last))
                })?;
                deleted += n;
                match last {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod backend_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The table `tbl` (string partition key, number sort key) on every backend this run
    /// can reach.
    fn open(tag: &str) -> Vec<(tempfile::TempDir, Tables)> {
        let mut out = Vec::new();
        for (dir, t) in backend_tests::stores(tag) {
            create(&t);
            out.push((dir, t));
        }
        out
    }

    fn create(t: &Tables) {
        t.call(
            "CreateTable",
            &json!({
                "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}]
            }),
            "us-east-1",
        )
        .unwrap();
    }

    fn sks(resp: &Value) -> Vec<String> {
        resp["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sk"]["N"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn query_ranges_follow_numeric_order_and_page() {
        for (_dir, t) in open("ranges") {
            query_ranges(&t);
        }
    }

    fn query_ranges(t: &Tables) {
        for sk in ["-2.5", "-1", "0", "0.5", "3", "10", "100"] {
            t.call(
                "PutItem",
                &json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": sk}}}),
                "us-east-1",
            )
            .unwrap();
        }
        let q = |cond: &str, extra: Value| {
            let mut req = json!({
                "TableName": "tbl", "KeyConditionExpression": cond,
                "ExpressionAttributeValues": {":p": {"S": "a"}, ":lo": {"N": "-1"}, ":hi": {"N": "10"}}
            });
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            if !cond.contains(":lo") {
                req["ExpressionAttributeValues"] = json!({":p": {"S": "a"}, ":hi": {"N": "10"}});
            }
            t.call("Query", &req, "us-east-1").unwrap()
        };
        let r = q("pk = :p AND sk BETWEEN :lo AND :hi", json!({}));
        assert_eq!(sks(&r), ["-1", "0", "0.5", "3", "10"]);
        let r = q(
            "pk = :p AND sk < :hi",
            json!({"ScanIndexForward": false, "Limit": 2}),
        );
        assert_eq!(sks(&r), ["3", "0.5"]);
        let next = q(
            "pk = :p AND sk < :hi",
            json!({"ScanIndexForward": false, "ExclusiveStartKey": r["LastEvaluatedKey"]}),
        );
        assert_eq!(sks(&next), ["0", "-1", "-2.5"]);
    }

    #[test]
    fn conditional_write_failure_changes_nothing() {
        for (_dir, t) in open("condfail") {
            conditional_failure(&t);
        }
    }

    fn conditional_failure(t: &Tables) {
        let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
        let put = json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}},
                         "ConditionExpression": "attribute_not_exists(pk)"});
        t.call("PutItem", &put, "us-east-1").unwrap();
        let err = t.call("PutItem", &put, "us-east-1").unwrap_err();
        assert_eq!(err.code, "ConditionalCheckFailedException");
        let upd = json!({"TableName": "tbl", "Key": key, "UpdateExpression": "SET v = v + :x",
                         "ConditionExpression": "v > :x",
                         "ExpressionAttributeValues": {":x": {"N": "5"}}});
        assert!(t.call("UpdateItem", &upd, "us-east-1").is_err());
        let got = t
            .call(
                "GetItem",
                &json!({"TableName": "tbl", "Key": key}),
                "us-east-1",
            )
            .unwrap();
        assert_eq!(got["Item"]["v"], json!({"N": "1"}));
    }
}
