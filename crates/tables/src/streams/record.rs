//! The record a write makes. AWS writes one only when the item actually changed: a
//! DeleteItem of a missing item, or a PutItem of an identical item, writes nothing.

use serde_json::{json, Value};

use crate::ops::common::key_item;
use crate::table::Table;
use crate::value::{item_size, item_to_json, Item};

/// Who made a change: a caller, or the time-to-live sweep (a service principal, as AWS
/// marks TTL deletions).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    Caller,
    TimeToLive,
}

/// INSERT, MODIFY or REMOVE; `None` when nothing changed.
pub fn event_name(old: Option<&Item>, new: Option<&Item>) -> Option<&'static str> {
    match (old, new) {
        (None, Some(_)) => Some("INSERT"),
        (Some(o), Some(n)) if item_to_json(o) != item_to_json(n) => Some("MODIFY"),
        (Some(_), None) => Some("REMOVE"),
        _ => None,
    }
}

/// The record of a change to `table`'s item, as GetRecords returns it less `awsRegion`
/// (added when read, from the reader's region). `seq` is its sequence number, `at_ms` the
/// commit time.
pub fn build(
    table: &Table,
    view: &str,
    old: Option<&Item>,
    new: Option<&Item>,
    origin: Origin,
    seq: i64,
    at_ms: i64,
) -> Option<Value> {
    let name = event_name(old, new)?;
    let item = new.or(old)?;
    let keys = key_item(item, table.key.attrs());
    let mut size = item_size(&keys);
    let mut ddb = json!({
        "ApproximateCreationDateTime": at_ms / 1000,
        "Keys": item_to_json(&keys),
        "SequenceNumber": sequence_number(seq),
        "StreamViewType": view,
    });
    let (with_new, with_old) = match view {
        "NEW_IMAGE" => (true, false),
        "OLD_IMAGE" => (false, true),
        "NEW_AND_OLD_IMAGES" => (true, true),
        _ => (false, false),
    };
    if let (true, Some(n)) = (with_new, new) {
        ddb["NewImage"] = item_to_json(n);
        size += item_size(n);
    }
    if let (true, Some(o)) = (with_old, old) {
        ddb["OldImage"] = item_to_json(o);
        size += item_size(o);
    }
    ddb["SizeBytes"] = json!(size);
    let mut rec = json!({
        "eventID": uuid::Uuid::new_v4().simple().to_string(),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "dynamodb": ddb,
    });
    if origin == Origin::TimeToLive {
        rec["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    }
    Some(rec)
}

/// A sequence number as AWS writes it: a string of digits. Padded to 21 digits, so that
/// string order is number order too.
pub fn sequence_number(seq: i64) -> String {
    format!("{:021}", seq)
}

/// The number a SequenceNumber string stands for.
pub fn parse_sequence_number(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('0').parse().ok().or(Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::item_from_json;

    fn table() -> Table {
        crate::table::from_create(&json!({
            "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]
        }))
        .unwrap()
    }

    fn item(v: &str) -> Item {
        item_from_json(&json!({"pk": {"S": "a"}, "v": {"S": v}})).unwrap()
    }

    #[test]
    fn unchanged_items_make_no_record() {
        let (a, b) = (item("1"), item("2"));
        assert_eq!(event_name(None, Some(&a)), Some("INSERT"));
        assert_eq!(event_name(Some(&a), Some(&b)), Some("MODIFY"));
        assert_eq!(event_name(Some(&a), None), Some("REMOVE"));
        assert_eq!(event_name(Some(&a), Some(&a.clone())), None);
        assert_eq!(event_name(None, None), None);
    }

    #[test]
    fn images_follow_the_view_type() {
        let (t, a, b) = (table(), item("1"), item("2"));
        let r = build(&t, "KEYS_ONLY", Some(&a), Some(&b), Origin::Caller, 7, 5000).unwrap();
        assert_eq!(r["dynamodb"]["Keys"], json!({"pk": {"S": "a"}}));
        assert!(r["dynamodb"].get("NewImage").is_none() && r["dynamodb"].get("OldImage").is_none());
        assert_eq!(r["dynamodb"]["SequenceNumber"], "000000000000000000007");
        assert_eq!(r["dynamodb"]["ApproximateCreationDateTime"], 5);
        let r = build(
            &t,
            "NEW_AND_OLD_IMAGES",
            Some(&a),
            Some(&b),
            Origin::Caller,
            1,
            0,
        )
        .unwrap();
        assert_eq!(r["dynamodb"]["OldImage"]["v"], json!({"S": "1"}));
        assert_eq!(r["dynamodb"]["NewImage"]["v"], json!({"S": "2"}));
        let keys_size = item_size(&key_item(&a, t.key.attrs()));
        let want = keys_size + item_size(&a) + item_size(&b);
        assert_eq!(r["dynamodb"]["SizeBytes"], json!(want));
        let r = build(&t, "OLD_IMAGE", Some(&a), None, Origin::TimeToLive, 1, 0).unwrap();
        assert_eq!(r["eventName"], "REMOVE");
        assert_eq!(r["userIdentity"]["principalId"], "dynamodb.amazonaws.com");
        assert!(build(&t, "NEW_IMAGE", Some(&a), Some(&a), Origin::Caller, 1, 0).is_none());
    }

    #[test]
    fn sequence_numbers_parse_back() {
        assert_eq!(parse_sequence_number(&sequence_number(42)), Some(42));
        assert_eq!(parse_sequence_number("000"), Some(0));
        assert_eq!(parse_sequence_number("12a"), None);
        assert_eq!(parse_sequence_number(""), None);
    }
}
