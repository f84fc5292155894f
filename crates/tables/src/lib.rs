//! Stratus tables: a DynamoDB-compatible table service. Requests and answers are DynamoDB's
//! JSON (the protocol layer only moves bytes); items live in their own SQLite file.
//!
//! # Layout
//! - [`number`]: DynamoDB's decimal numbers.
//! - [`value`]: attribute values, their JSON form, sizes and key encodings.
//! - [`expr`]: the expression language (lexer, parser, evaluation, updates).
//! - [`fuzzing`]: the parsers and decoders as fuzz targets call them.
//! - [`table`]: table definitions, CreateTable validation, DescribeTable's shape.
//! - [`store`]: the SQLite file.
//! - [`ops`]: one function per operation.
//! - `ttl`: finding the items whose time to live has passed.

pub mod expr;
pub mod fuzzing;
pub mod number;
pub mod ops;
pub mod store;
pub mod table;
mod ttl;
pub mod value;

use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;
use stratus_core::{Error, Kind};

/// The table service. Operations are serialised on one connection: a conditional write reads,
/// checks and writes with no other request in between, and is committed before it returns.
pub struct Tables {
    db: Mutex<store::Db>,
}

impl Tables {
    pub fn open(path: &Path) -> Result<Tables, String> {
        Ok(Tables {
            db: Mutex::new(store::Db::open(path)?),
        })
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
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        // A panic inside a batch or transaction would leave it open; end it before going on.
        if !db.conn.is_autocommit() {
            let _ = db.conn.execute_batch("ROLLBACK");
        }
        ops::dispatch(&mut db, op, req, region)
    }

    /// Deletes the items whose time-to-live attribute holds an epoch time (seconds) at or
    /// before `now`, in every table with time to live enabled; returns how many. Each table
    /// is swept in pages, so the lock is held for one page at a time.
    pub fn sweep_expired(&self, now: i64) -> Result<usize, Error> {
        let names: Vec<String> = {
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            db.tables
                .values()
                .filter(|t| t.ttl.is_some())
                .map(|t| t.name.clone())
                .collect()
        };
        let mut deleted = 0;
        for name in names {
            let mut after: Option<(Vec<u8>, Vec<u8>)> = None;
            loop {
                let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
                let page = ttl::expired_page(&db, &name, after.as_ref(), now)?;
                for (pk, sk) in &page.expired {
                    db.delete(&name, pk, sk)?;
                }
                deleted += page.expired.len();
                match page.last {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open() -> (tempfile::TempDir, Tables) {
        let dir = tempfile::tempdir().unwrap();
        let t = Tables::open(&dir.path().join("tables.db")).unwrap();
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
        (dir, t)
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
        let (_dir, t) = open();
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
        let (_dir, t) = open();
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
