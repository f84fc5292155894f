//! CBOR bodies (the smithy-rpc-v2-cbor protocol) to and from the JSON values the operations
//! take and give. Timestamps arrive as tag 1 (epoch seconds) and become plain numbers, as the
//! JSON protocol sends them; on the way out, the members CloudWatch's model types as
//! timestamps are tagged again.

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

/// Output members whose values (or list elements) are timestamps.
const TIMESTAMPS: &[&str] = &[
    "Timestamp",
    "Timestamps",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
    "AlarmConfigurationUpdatedTimestamp",
    "LastUpdatedTimestamp",
];

/// Decodes a request body; `Err` with a reason when it is not CBOR (ciborium bounds the
/// nesting it follows, so a hostile body cannot exhaust the stack).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let v: Cbor = ciborium::de::from_reader(body).map_err(|e| e.to_string())?;
    Ok(to_json(v))
}

fn to_json(v: Cbor) -> Value {
    match v {
        Cbor::Integer(i) => {
            let n = i128::from(i);
            i64::try_from(n)
                .map(Value::from)
                .or_else(|_| u64::try_from(n).map(Value::from))
                .unwrap_or_else(|_| Value::from(n as f64))
        }
        Cbor::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cbor::Bytes(b) => Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Text(s) => Value::from(s),
        Cbor::Bool(b) => Value::from(b),
        Cbor::Null => Value::Null,
        Cbor::Tag(_, inner) => to_json(*inner),
        Cbor::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Cbor::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .filter_map(|(k, v)| match k {
                    Cbor::Text(k) => Some((k, to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Encodes an answer.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&to_cbor(v, false), &mut out);
    out
}

fn to_cbor(v: &Value, timestamp: bool) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) if timestamp => {
            Cbor::Tag(1, Box::new(Cbor::Float(n.as_f64().unwrap_or(0.0))))
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cbor::Integer(i.into()),
            (None, Some(u)) => Cbor::Integer(u.into()),
            _ => Cbor::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(|i| to_cbor(i, timestamp)).collect()),
        Value::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| {
                    (
                        Cbor::Text(k.clone()),
                        to_cbor(v, TIMESTAMPS.contains(&k.as_str())),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_tagged_and_untagged() {
        let out = json!({"Datapoints": [{"Timestamp": 1.5e9, "Sum": 2.0, "Count": 3}], "Timestamps": [1, 2]});
        let bytes = encode(&out);
        let raw: Cbor = ciborium::de::from_reader(&bytes[..]).unwrap();
        let text = format!("{raw:?}");
        assert!(text.contains("Tag(1, Float(1500000000.0))"), "{text}");
        assert!(text.contains("Tag(1, Float(1.0))"), "{text}");
        assert!(
            text.contains("Float(2.0)") && text.contains("Integer(Integer(3))"),
            "{text}"
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(back["Datapoints"][0]["Timestamp"], json!(1.5e9));
        assert_eq!(back["Datapoints"][0]["Count"], json!(3));
    }

    #[test]
    fn hostile_bodies_are_refused() {
        assert!(decode(&[0xff, 0x00]).is_err());
        assert!(decode(&[0x9f; 100_000]).is_err(), "deep nesting is bounded");
        assert_eq!(decode(b"").unwrap(), json!({}));
    }
}
