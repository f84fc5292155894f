//! The streams on every backend a run can reach: which writes make records, their order,
//! and the streams API.

use serde_json::{json, Value};

use crate::backend_tests::stores;
use crate::Tables;

fn call(t: &Tables, op: &str, req: Value) -> Value {
    t.call(op, &req, "us-east-1")
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

fn streams(t: &Tables, op: &str, req: Value) -> Result<Value, stratus_core::Error> {
    t.call_streams(op, &req, "us-east-1")
}

/// A table `tbl` with a `view` stream; its stream ARN.
fn create(t: &Tables, view: &str) -> String {
    let r = call(
        t,
        "CreateTable",
        json!({
            "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": view}
        }),
    );
    r["TableDescription"]["LatestStreamArn"]
        .as_str()
        .unwrap()
        .to_string()
}

fn item(pk: &str, v: i64) -> Value {
    json!({"pk": {"S": pk}, "v": {"N": v.to_string()}})
}

/// Every record of the stream, from the trim horizon.
fn read_all(t: &Tables, arn: &str) -> Vec<Value> {
    let it = iterator(t, arn, json!({"ShardIteratorType": "TRIM_HORIZON"})).unwrap();
    let r = streams(t, "GetRecords", json!({"ShardIterator": it})).unwrap();
    r["Records"].as_array().unwrap().clone()
}

fn iterator(t: &Tables, arn: &str, extra: Value) -> Result<String, stratus_core::Error> {
    let d = streams(t, "DescribeStream", json!({"StreamArn": arn}))?;
    let shard = d["StreamDescription"]["Shards"][0]["ShardId"].clone();
    let mut req = json!({"StreamArn": arn, "ShardId": shard});
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    let r = streams(t, "GetShardIterator", req)?;
    Ok(r["ShardIterator"].as_str().unwrap().to_string())
}

fn names(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect()
}

#[test]
fn committed_changes_make_records_in_order() {
    for (_dir, t) in stores("streams_writes") {
        let arn = create(&t, "NEW_AND_OLD_IMAGES");
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 1)}),
        );
        // An identical put changes nothing: no record.
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 1)}),
        );
        call(
            &t,
            "UpdateItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}},
                   "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}}),
        );
        // A refused conditional write and a delete of a missing item write nothing.
        let refused = t.call(
            "PutItem",
            &json!({"TableName": "tbl", "Item": item("a", 9), "ConditionExpression": "attribute_not_exists(pk)"}),
            "us-east-1",
        );
        assert!(refused.is_err());
        call(
            &t,
            "DeleteItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "zz"}}}),
        );
        call(
            &t,
            "DeleteItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}}}),
        );
        call(
            &t,
            "BatchWriteItem",
            json!({"RequestItems": {"tbl": [{"PutRequest": {"Item": item("b", 1)}},
                                            {"PutRequest": {"Item": item("c", 1)}}]}}),
        );
        call(
            &t,
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "tbl", "Item": item("b", 2)}},
                {"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "c"}}}}]}),
        );
        let recs = read_all(&t, &arn);
        assert_eq!(
            names(&recs),
            ["INSERT", "MODIFY", "REMOVE", "INSERT", "INSERT", "MODIFY", "REMOVE"]
        );
        let seqs: Vec<&str> = recs
            .iter()
            .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(recs[1]["dynamodb"]["OldImage"]["v"], json!({"N": "1"}));
        assert_eq!(recs[1]["dynamodb"]["NewImage"]["v"], json!({"N": "2"}));
        assert_eq!(recs[2]["dynamodb"]["Keys"], json!({"pk": {"S": "a"}}));
        assert!(recs[2]["dynamodb"].get("NewImage").is_none());
        assert_eq!(recs[5]["dynamodb"]["OldImage"]["v"], json!({"N": "1"}));
        assert_eq!(recs[0]["awsRegion"], "us-east-1");
    }
}

#[test]
fn iterators_start_where_asked_and_page() {
    for (_dir, t) in stores("streams_iterators") {
        let arn = create(&t, "KEYS_ONLY");
        for i in 0..5 {
            call(
                &t,
                "PutItem",
                json!({"TableName": "tbl", "Item": item(&format!("k{i}"), i)}),
            );
        }
        let all = read_all(&t, &arn);
        assert!(all[0]["dynamodb"].get("NewImage").is_none());
        let seq = |i: usize| all[i]["dynamodb"]["SequenceNumber"].clone();
        let at = iterator(
            &t,
            &arn,
            json!({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": seq(2)}),
        )
        .unwrap();
        let r = streams(&t, "GetRecords", json!({"ShardIterator": at, "Limit": 2})).unwrap();
        assert_eq!(r["Records"][0]["dynamodb"]["SequenceNumber"], seq(2));
        assert_eq!(r["Records"].as_array().unwrap().len(), 2);
        // The next iterator continues after the page.
        let next = r["NextShardIterator"].clone();
        let r = streams(&t, "GetRecords", json!({"ShardIterator": next})).unwrap();
        assert_eq!(r["Records"][0]["dynamodb"]["SequenceNumber"], seq(4));
        let after = iterator(
            &t,
            &arn,
            json!({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq(3)}),
        )
        .unwrap();
        let r = streams(&t, "GetRecords", json!({"ShardIterator": after})).unwrap();
        assert_eq!(r["Records"].as_array().unwrap().len(), 1);
        // LATEST sees only what comes after it.
        let latest = iterator(&t, &arn, json!({"ShardIteratorType": "LATEST"})).unwrap();
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("new", 1)}),
        );
        let r = streams(&t, "GetRecords", json!({"ShardIterator": latest})).unwrap();
        assert_eq!(r["Records"][0]["dynamodb"]["Keys"]["pk"]["S"], "new");
        assert_eq!(r["Records"].as_array().unwrap().len(), 1);
        let bad = iterator(&t, &arn, json!({"ShardIteratorType": "SOMETIMES"})).unwrap_err();
        assert_eq!(bad.code, "ValidationException");
    }
}

#[test]
fn disabling_keeps_records_and_closes_the_shard() {
    for (_dir, t) in stores("streams_disable") {
        let arn = create(&t, "NEW_IMAGE");
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 1)}),
        );
        let again = t.call(
            "UpdateTable",
            &json!({"TableName": "tbl", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}}),
            "us-east-1",
        );
        assert_eq!(
            again.unwrap_err().message,
            "Table already has an enabled stream: TableName: tbl"
        );
        let off = json!({"TableName": "tbl", "StreamSpecification": {"StreamEnabled": false}});
        let r = call(&t, "UpdateTable", off.clone());
        assert!(r["TableDescription"].get("StreamSpecification").is_none());
        assert_eq!(r["TableDescription"]["LatestStreamArn"], json!(arn));
        assert_eq!(
            t.call("UpdateTable", &off, "us-east-1")
                .unwrap_err()
                .message,
            "Table has no stream to disable: TableName: tbl"
        );
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("b", 1)}),
        );
        let d = streams(&t, "DescribeStream", json!({"StreamArn": arn})).unwrap();
        assert_eq!(d["StreamDescription"]["StreamStatus"], "DISABLED");
        let it = iterator(&t, &arn, json!({"ShardIteratorType": "TRIM_HORIZON"})).unwrap();
        let r = streams(&t, "GetRecords", json!({"ShardIterator": it})).unwrap();
        assert_eq!(names(r["Records"].as_array().unwrap()), ["INSERT"]);
        assert!(r.get("NextShardIterator").is_none());
        // Enabling again starts a new stream; both are listed.
        let on = json!({"TableName": "tbl", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}});
        let r = call(&t, "UpdateTable", on);
        assert_ne!(r["TableDescription"]["LatestStreamArn"], json!(arn));
        let l = streams(&t, "ListStreams", json!({"TableName": "tbl", "Limit": 1})).unwrap();
        assert_eq!(l["Streams"][0]["StreamArn"], json!(arn));
        let rest = streams(
            &t,
            "ListStreams",
            json!({"ExclusiveStartStreamArn": l["LastEvaluatedStreamArn"]}),
        )
        .unwrap();
        assert_eq!(
            rest["Streams"][0]["StreamArn"],
            r["TableDescription"]["LatestStreamArn"]
        );
    }
}

#[test]
fn retention_trims_old_records() {
    for (_dir, t) in stores("streams_trim") {
        let arn = create(&t, "KEYS_ONLY");
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 1)}),
        );
        let first = read_all(&t, &arn)[0]["dynamodb"]["SequenceNumber"].clone();
        let old = iterator(&t, &arn, json!({"ShardIteratorType": "TRIM_HORIZON"})).unwrap();
        // A sweep a day and a minute later removes the record.
        let later = crate::streams::now_ms() / 1000 + 24 * 3600 + 60;
        t.sweep_expired(later).unwrap();
        assert!(read_all(&t, &arn).is_empty());
        let e = streams(&t, "GetRecords", json!({"ShardIterator": old})).unwrap_err();
        assert_eq!(e.code, "TrimmedDataAccessException");
        let e = iterator(
            &t,
            &arn,
            json!({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": first}),
        )
        .unwrap_err();
        assert_eq!(e.code, "TrimmedDataAccessException");
    }
}

#[test]
fn time_to_live_deletions_are_the_service_s() {
    for (_dir, t) in stores("streams_ttl") {
        let arn = create(&t, "OLD_IMAGE");
        call(
            &t,
            "UpdateTimeToLive",
            json!({"TableName": "tbl",
            "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
        );
        let now = crate::streams::now_ms() / 1000;
        call(
            &t,
            "PutItem",
            json!({"TableName": "tbl",
            "Item": {"pk": {"S": "a"}, "exp": {"N": (now - 10).to_string()}}}),
        );
        assert_eq!(t.sweep_expired(now).unwrap(), 1);
        let recs = read_all(&t, &arn);
        assert_eq!(names(&recs), ["INSERT", "REMOVE"]);
        assert_eq!(
            recs[1]["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
        assert!(recs[0].get("userIdentity").is_none());
    }
}

#[test]
fn iterators_expire_after_15_minutes() {
    for (_dir, t) in stores("streams_expiry") {
        let arn = create(&t, "KEYS_ONLY");
        let it = iterator(&t, &arn, json!({"ShardIteratorType": "TRIM_HORIZON"})).unwrap();
        let fresh = crate::streams::ops::backdate(&it, 14 * 60 * 1000);
        assert!(streams(&t, "GetRecords", json!({"ShardIterator": fresh})).is_ok());
        let stale = crate::streams::ops::backdate(&it, 15 * 60 * 1000 + 1000);
        let e = streams(&t, "GetRecords", json!({"ShardIterator": stale})).unwrap_err();
        assert_eq!(e.code, "ExpiredIteratorException");
        assert!(e.message.starts_with("Iterator expired."));
    }
}
