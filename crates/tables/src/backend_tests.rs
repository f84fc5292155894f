//! The store's tests on every backend: SQLite always, and PostgreSQL when
//! `STRATUS_TEST_DATABASE` names a database (each test in a schema of its own). They cover
//! what PostgreSQL makes different: byte order of keys, concurrent writers, tokens shared
//! through the database, keys too long for a plain index.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use crate::store::spec;
use crate::Tables;
use stratus_db::Location;

/// A fresh store on each backend this run can reach.
pub fn stores(tag: &str) -> Vec<(tempfile::TempDir, Tables)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Tables::open(&Location::Sqlite(dir.path().into())).unwrap();
    let mut out = vec![(dir, sqlite)];
    if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
        let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
        let schema = format!("test_tables_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
        let pg = Tables::open_spec(&loc, &spec(&schema)).unwrap();
        out.push((tempfile::tempdir().unwrap(), pg));
    }
    out
}

fn call(t: &Tables, op: &str, req: Value) -> Result<Value, stratus_core::Error> {
    t.call(op, &req, "us-east-1")
}

/// A table with a partition key and a sort key of the given types.
fn create(t: &Tables, name: &str, pk: &str, sk: &str) {
    call(
        t,
        "CreateTable",
        json!({
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": pk},
                                     {"AttributeName": "sk", "AttributeType": sk}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}]
        }),
    )
    .unwrap();
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Bytes that do not compress (a linear congruential sequence).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

#[test]
fn query_orders_sort_keys_by_their_bytes() {
    for (_dir, t) in stores("order") {
        create(&t, "ord", "S", "S");
        // Byte order: upper case before lower case, multi-byte UTF-8 (>= 0x80) last.
        let keys = ["é", "b", "Z", "a", "B", "\u{7f}", "ü", "aa"];
        for k in keys {
            call(
                &t,
                "PutItem",
                json!({"TableName": "ord", "Item": {"pk": {"S": "p"}, "sk": {"S": k}}}),
            )
            .unwrap();
        }
        let mut want: Vec<&str> = keys.to_vec();
        want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let q = |extra: Value| {
            let mut req = json!({"TableName": "ord", "KeyConditionExpression": "pk = :p",
                                 "ExpressionAttributeValues": {":p": {"S": "p"}}});
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            call(&t, "Query", req).unwrap()
        };
        let sks = |r: &Value| -> Vec<String> {
            r["Items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["sk"]["S"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(sks(&q(json!({}))), want);
        // Paged backwards, three at a time, ends where it should and misses nothing.
        let mut seen = Vec::new();
        let mut start = Value::Null;
        loop {
            let mut extra = json!({"ScanIndexForward": false, "Limit": 3});
            if !start.is_null() {
                extra["ExclusiveStartKey"] = start.clone();
            }
            let r = q(extra);
            seen.extend(sks(&r));
            start = r.get("LastEvaluatedKey").cloned().unwrap_or(Value::Null);
            if start.is_null() {
                break;
            }
        }
        let mut back = want.clone();
        back.reverse();
        assert_eq!(seen, back);
        // A range in bytes: everything from "a" up to (not including) 0x80.
        let r = call(
            &t,
            "Query",
            json!({"TableName": "ord", "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
                   "ExpressionAttributeValues": {":p": {"S": "p"}, ":lo": {"S": "a"}, ":hi": {"S": "\u{7f}"}}}),
        )
        .unwrap();
        assert_eq!(sks(&r), ["a", "aa", "b", "\u{7f}"]);
    }
}

#[test]
fn binary_sort_keys_compare_as_unsigned_bytes() {
    for (_dir, t) in stores("binary") {
        create(&t, "bin", "S", "B");
        let keys: [&[u8]; 5] = [&[0xff], &[0x00], &[0x80, 0x00], &[0x7f, 0xff], &[0x80]];
        for k in keys {
            call(
                &t,
                "PutItem",
                json!({"TableName": "bin", "Item": {"pk": {"S": "p"}, "sk": {"B": b64(k)}}}),
            )
            .unwrap();
        }
        let r = call(
            &t,
            "Query",
            json!({"TableName": "bin", "KeyConditionExpression": "pk = :p AND sk > :lo",
                   "ExpressionAttributeValues": {":p": {"S": "p"}, ":lo": {"B": b64(&[0x7f, 0xff])}}}),
        )
        .unwrap();
        let got: Vec<String> = r["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sk"]["B"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, [b64(&[0x80]), b64(&[0x80, 0x00]), b64(&[0xff])]);
    }
}

#[test]
fn list_tables_in_byte_order_and_pages() {
    for (_dir, t) in stores("list") {
        for n in ["abc", "Zed", "ABC", "a-b", "a_b"] {
            create(&t, n, "S", "S");
        }
        let r = call(&t, "ListTables", json!({"Limit": 3})).unwrap();
        assert_eq!(r["TableNames"], json!(["ABC", "Zed", "a-b"]));
        assert_eq!(r["LastEvaluatedTableName"], json!("a-b"));
        let r = call(&t, "ListTables", json!({"ExclusiveStartTableName": "a-b"})).unwrap();
        assert_eq!(r["TableNames"], json!(["a_b", "abc"]));
        assert!(r.get("LastEvaluatedTableName").is_none());
        let e = call(
            &t,
            "CreateTable",
            json!({"TableName": "abc", "BillingMode": "PAY_PER_REQUEST",
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceInUseException");
    }
}

/// Eight writers put the same new key under `attribute_not_exists`: exactly one succeeds,
/// the others are told the condition failed.
#[test]
fn concurrent_conditional_puts_have_one_winner() {
    for (_dir, t) in stores("race") {
        create(&t, "race", "S", "S");
        let t = Arc::new(t);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    call(
                        &t,
                        "PutItem",
                        json!({"TableName": "race",
                               "Item": {"pk": {"S": "k"}, "sk": {"S": "k"}, "by": {"N": i.to_string()}},
                               "ConditionExpression": "attribute_not_exists(pk)"}),
                    )
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "{:?}", results);
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.code, "ConditionalCheckFailedException", "{r:?}");
        }
        let d = call(&t, "DescribeTable", json!({"TableName": "race"})).unwrap();
        assert_eq!(d["Table"]["ItemCount"], json!(1));
    }
}

/// Read-modify-write updates from several threads lose nothing, and a TransactWriteItems
/// against the same item is all or nothing.
#[test]
fn concurrent_updates_and_transactions_lose_nothing() {
    for (_dir, t) in stores("updates") {
        create(&t, "upd", "S", "S");
        let key = json!({"pk": {"S": "c"}, "sk": {"S": "c"}});
        let t = Arc::new(t);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (t, key) = (t.clone(), key.clone());
                std::thread::spawn(move || {
                    for j in 0..10 {
                        if (i + j) % 2 == 0 {
                            call(&t, "UpdateItem", json!({"TableName": "upd", "Key": key,
                                "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}))
                            .unwrap();
                        } else {
                            // Two items in one transaction: both move or neither.
                            call(&t, "TransactWriteItems", json!({"TransactItems": [
                                {"Update": {"TableName": "upd", "Key": key,
                                    "UpdateExpression": "ADD n :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                                {"Update": {"TableName": "upd", "Key": {"pk": {"S": "d"}, "sk": {"S": "d"}},
                                    "UpdateExpression": "ADD n :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}
                            ]}))
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in threads {
            h.join().unwrap();
        }
        let n = |pk: &str| {
            call(
                &t,
                "GetItem",
                json!({"TableName": "upd", "Key": {"pk": {"S": pk}, "sk": {"S": pk}}}),
            )
            .unwrap()["Item"]["n"]["N"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(n("c"), "40");
        assert_eq!(n("d"), "20");
        // A cancelled transaction writes neither item.
        let e = call(
            &t,
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Update": {"TableName": "upd", "Key": key, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": "upd", "Key": {"pk": {"S": "d"}, "sk": {"S": "d"}},
                                    "ConditionExpression": "n > :big",
                                    "ExpressionAttributeValues": {":big": {"N": "100"}}}}
            ]}),
        )
        .unwrap_err();
        assert_eq!(e.code, "TransactionCanceledException");
        assert_eq!(
            e.extra["CancellationReasons"],
            json!([{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}])
        );
        assert_eq!(n("c"), "40");
    }
}

/// A ClientRequestToken makes a repeat a no-op, even when the repeats race; another request
/// under the same token is refused.
#[test]
fn client_request_tokens_run_a_transaction_once() {
    for (_dir, t) in stores("tokens") {
        create(&t, "tok", "S", "S");
        let req = json!({"ClientRequestToken": "tok-1", "TransactItems": [
            {"Update": {"TableName": "tok", "Key": {"pk": {"S": "a"}, "sk": {"S": "a"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}]});
        let t = Arc::new(t);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (t, req) = (t.clone(), req.clone());
                std::thread::spawn(move || call(&t, "TransactWriteItems", req).unwrap())
            })
            .collect();
        for h in threads {
            h.join().unwrap();
        }
        call(&t, "TransactWriteItems", req.clone()).unwrap();
        let got = call(
            &t,
            "GetItem",
            json!({"TableName": "tok", "Key": {"pk": {"S": "a"}, "sk": {"S": "a"}}}),
        )
        .unwrap();
        assert_eq!(got["Item"]["n"], json!({"N": "1"}));
        let mut other = req.clone();
        other["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":one"] =
            json!({"N": "2"});
        let e = call(&t, "TransactWriteItems", other).unwrap_err();
        assert_eq!(e.code, "IdempotentParameterMismatchException");
        // Once the token has expired, the sweep forgets it and it may be used again.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        t.sweep_expired(now + crate::TOKEN_TTL_SECS + 1).unwrap();
        call(&t, "TransactWriteItems", req).unwrap();
        let got = call(
            &t,
            "GetItem",
            json!({"TableName": "tok", "Key": {"pk": {"S": "a"}, "sk": {"S": "a"}}}),
        )
        .unwrap();
        assert_eq!(got["Item"]["n"], json!({"N": "2"}));
    }
}

/// The largest keys DynamoDB allows (a 2048-byte partition key, a 1024-byte sort key), of
/// bytes that do not compress, are stored, read, counted and scanned.
#[test]
fn the_largest_keys_are_stored() {
    for (_dir, t) in stores("bigkeys") {
        create(&t, "big", "B", "B");
        let (pk, sk) = (noise(2048, 1), noise(1024, 2));
        let key = json!({"pk": {"B": b64(&pk)}, "sk": {"B": b64(&sk)}});
        let mut item = key.clone();
        item["v"] = json!({"S": "x"});
        call(&t, "PutItem", json!({"TableName": "big", "Item": item})).unwrap();
        let got = call(&t, "GetItem", json!({"TableName": "big", "Key": key})).unwrap();
        assert_eq!(got["Item"]["v"], json!({"S": "x"}));
        let d = call(&t, "DescribeTable", json!({"TableName": "big"})).unwrap();
        assert_eq!(d["Table"]["ItemCount"], json!(1));
        assert!(d["Table"]["TableSizeBytes"].as_i64().unwrap() > 3072);
        call(&t, "DeleteItem", json!({"TableName": "big", "Key": key})).unwrap();
        let s = call(&t, "Scan", json!({"TableName": "big"})).unwrap();
        assert_eq!(s["Count"], json!(0));
    }
}

/// Scan pages with ExclusiveStartKey and parallel segments each visit every item once.
#[test]
fn scan_pages_and_segments_cover_every_item_once() {
    for (_dir, t) in stores("scan") {
        create(&t, "scan", "S", "N");
        let mut want = Vec::new();
        for p in 0..12 {
            for s in 0..3 {
                let pk = format!("p{p}-\u{e9}");
                call(
                    &t,
                    "PutItem",
                    json!({"TableName": "scan",
                    "Item": {"pk": {"S": pk}, "sk": {"N": s.to_string()}}}),
                )
                .unwrap();
                want.push(format!("{pk}/{s}"));
            }
        }
        want.sort();
        let scan_all = |extra: Value| {
            let mut seen = Vec::new();
            let mut start = Value::Null;
            loop {
                let mut req = json!({"TableName": "scan", "Limit": 5});
                for (k, v) in extra.as_object().unwrap() {
                    req[k] = v.clone();
                }
                if !start.is_null() {
                    req["ExclusiveStartKey"] = start.clone();
                }
                let r = call(&t, "Scan", req).unwrap();
                for i in r["Items"].as_array().unwrap() {
                    seen.push(format!(
                        "{}/{}",
                        i["pk"]["S"].as_str().unwrap(),
                        i["sk"]["N"].as_str().unwrap()
                    ));
                }
                start = r.get("LastEvaluatedKey").cloned().unwrap_or(Value::Null);
                if start.is_null() {
                    return seen;
                }
            }
        };
        let mut all = scan_all(json!({}));
        all.sort();
        assert_eq!(all, want);
        let mut segments = Vec::new();
        for s in 0..3 {
            segments.extend(scan_all(json!({"Segment": s, "TotalSegments": 3})));
        }
        segments.sort();
        assert_eq!(segments, want);
    }
}

/// Point-in-time recovery is stored with the table's definition on both backends, and an
/// invalid period changes nothing.
#[test]
fn continuous_backups_keep_the_recovery_setting() {
    for (_dir, t) in stores("pitr") {
        create(&t, "pitr", "S", "N");
        let pitr = |t: &Tables| {
            call(t, "DescribeContinuousBackups", json!({"TableName": "pitr"})).unwrap()
                ["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
                .clone()
        };
        assert_eq!(pitr(&t), json!({"PointInTimeRecoveryStatus": "DISABLED"}));
        let spec = |days: Value| {
            json!({"TableName": "pitr", "PointInTimeRecoverySpecification":
                {"PointInTimeRecoveryEnabled": true, "RecoveryPeriodInDays": days}})
        };
        let e = call(&t, "UpdateContinuousBackups", spec(json!(0))).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert_eq!(pitr(&t), json!({"PointInTimeRecoveryStatus": "DISABLED"}));
        call(&t, "UpdateContinuousBackups", spec(json!(7))).unwrap();
        assert_eq!(
            pitr(&t),
            json!({"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": 7})
        );
    }
}

/// Expired items go in the sweep, in pages; the others stay; the counts follow.
#[test]
fn the_sweep_deletes_expired_items_only() {
    for (_dir, t) in stores("ttl") {
        create(&t, "ttl", "S", "N");
        call(
            &t,
            "UpdateTimeToLive",
            json!({"TableName": "ttl",
            "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
        )
        .unwrap();
        let now = 1_700_000_000i64;
        for i in 0..2500 {
            let exp = if i % 2 == 0 { now - 10 } else { now + 1000 };
            call(
                &t,
                "PutItem",
                json!({"TableName": "ttl",
                "Item": {"pk": {"S": format!("p{}", i % 7)}, "sk": {"N": i.to_string()},
                         "exp": {"N": exp.to_string()}}}),
            )
            .unwrap();
        }
        assert_eq!(t.sweep_expired(now).unwrap(), 1250);
        let d = call(&t, "DescribeTable", json!({"TableName": "ttl"})).unwrap();
        assert_eq!(d["Table"]["ItemCount"], json!(1250));
        assert_eq!(t.sweep_expired(now).unwrap(), 0);
    }
}

/// PostgreSQL ending the store's idle connections (a restart, an operator) costs no request:
/// the stale connection fails at BEGIN and a fresh one takes the request. While the database
/// refuses connections, requests fail with DynamoDB's retryable `ServiceUnavailable` (never a
/// client error), and they succeed again once it accepts them. Runs in a database of its own,
/// so only this test's connections are cut.
#[test]
fn a_lost_connection_is_retryable_and_recovers() {
    let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
        return;
    };
    let db = format!("test_tables_fault_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .unwrap();
    let mut config: postgres::Config = url.parse().unwrap();
    config.dbname(&db);
    let t = Tables::open(&Location::Postgres(Box::new(config.into()))).unwrap();
    create(&t, "flt", "S", "S");
    let item = |k: &str| json!({"TableName": "flt", "Item": {"pk": {"S": k}, "sk": {"S": k}}});
    call(&t, "PutItem", item("a")).unwrap();
    // Waits until the sessions are gone, so the next request meets a dead connection.
    let end_sessions = |admin: &mut postgres::Client| {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .unwrap();
    };
    end_sessions(&mut admin);
    call(&t, "PutItem", item("b")).unwrap();

    let allow = |admin: &mut postgres::Client, yes: bool| {
        admin
            .batch_execute(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS {yes}"))
            .unwrap();
    };
    allow(&mut admin, false);
    end_sessions(&mut admin);
    let e = call(&t, "PutItem", item("c")).unwrap_err();
    assert_eq!(e.code, "ServiceUnavailable", "{e:?}");
    assert_eq!(e.kind, stratus_core::Kind::Unavailable);
    allow(&mut admin, true);
    call(&t, "PutItem", item("c")).unwrap();
    let d = call(&t, "DescribeTable", json!({"TableName": "flt"})).unwrap();
    assert_eq!(d["Table"]["ItemCount"], json!(3));
    drop(t);
    admin
        .batch_execute(&format!("DROP DATABASE \"{db}\" WITH (FORCE)"))
        .unwrap();
}
