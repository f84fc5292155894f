//! Attribute values: DynamoDB's ten types, their JSON wire form (`{"S": "x"}`), their size as
//! DynamoDB counts it, equality with sets compared as sets, and key encodings whose byte order
//! is the key order.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};
use stratus_core::{Error, Kind};

use crate::number::Number;

/// One attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<Attr>),
    M(Item),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item (or a map value): attribute name → value.
pub type Item = BTreeMap<String, Attr>;

pub fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

fn b64(s: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| Error::validation("Invalid Base64 value for a binary attribute"))
}

fn text(v: &Value) -> Result<&str, Error> {
    v.as_str().ok_or_else(|| {
        Error::new(
            "SerializationException",
            Kind::InvalidInput,
            format!("Unexpected value type in payload: {v}"),
        )
    })
}

fn list(v: &Value) -> Result<&Vec<Value>, Error> {
    v.as_array().ok_or_else(|| {
        Error::new(
            "SerializationException",
            Kind::InvalidInput,
            "Start of list found where not expected",
        )
    })
}

fn no_duplicates<T: PartialEq + std::fmt::Debug>(
    items: &[T],
    show: impl Fn(&T) -> String,
) -> Result<(), Error> {
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            let all: Vec<String> = items.iter().map(show).collect();
            return Err(invalid(format!(
                "Input collection [{}] contains duplicates.",
                all.join(", ")
            )));
        }
    }
    Ok(())
}

/// AWS's limit on nesting: a top-level attribute is level 1, each list or map adds one.
pub const MAX_NESTING_LEVELS: usize = 32;
/// AWS's limit on an item's size (names and values), in bytes.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// AWS's limit on an attribute name, in bytes.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65535;

pub fn nesting_error() -> Error {
    Error::validation(
        "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit",
    )
}

impl Attr {
    /// Parses the wire form, with DynamoDB's validation of sets, numbers, NULL and nesting.
    pub fn from_json(v: &Value) -> Result<Attr, Error> {
        Attr::from_json_at(v, 1)
    }

    /// Parses a value found at nesting `level` (1 for an attribute of an item). The level is
    /// checked before descending, so the recursion never goes deeper than AWS's limit,
    /// whatever JSON it is given.
    fn from_json_at(v: &Value, level: usize) -> Result<Attr, Error> {
        let obj = v.as_object().ok_or_else(|| {
            Error::new(
                "SerializationException",
                Kind::InvalidInput,
                "Unexpected value type in payload",
            )
        })?;
        let set: Vec<(&String, &Value)> = obj.iter().filter(|(_, v)| !v.is_null()).collect();
        if set.is_empty() {
            return Err(Error::validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ));
        }
        if set.len() > 1 {
            return Err(Error::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ));
        }
        let (ty, v) = set[0];
        Ok(match ty.as_str() {
            "S" => Attr::S(text(v)?.to_string()),
            "N" => Attr::N(Number::parse(text(v)?)?),
            "B" => Attr::B(b64(text(v)?)?),
            "BOOL" => Attr::Bool(v.as_bool().ok_or_else(|| {
                Error::new(
                    "SerializationException",
                    Kind::InvalidInput,
                    "Unexpected value type in payload",
                )
            })?),
            "NULL" => {
                if v.as_bool() != Some(true) {
                    return Err(invalid(
                        "Null attribute value types must have the value of true",
                    ));
                }
                Attr::Null
            }
            "L" => {
                let l = list(v)?;
                if !l.is_empty() && level >= MAX_NESTING_LEVELS {
                    return Err(nesting_error());
                }
                Attr::L(
                    l.iter()
                        .map(|e| Attr::from_json_at(e, level + 1))
                        .collect::<Result<_, _>>()?,
                )
            }
            "M" => Attr::M(map_from_json(v, level + 1)?),
            "SS" => {
                let l: Vec<String> = list(v)?
                    .iter()
                    .map(|s| text(s).map(str::to_string))
                    .collect::<Result<_, _>>()?;
                if l.is_empty() {
                    return Err(invalid("An string set  may not be empty"));
                }
                no_duplicates(&l, |s| s.clone())?;
                Attr::Ss(l)
            }
            "NS" => {
                let l: Vec<Number> = list(v)?
                    .iter()
                    .map(|s| Number::parse(text(s)?))
                    .collect::<Result<_, _>>()?;
                if l.is_empty() {
                    return Err(invalid("An number set  may not be empty"));
                }
                no_duplicates(&l, |n| n.to_string())?;
                Attr::Ns(l)
            }
            "BS" => {
                let l: Vec<Vec<u8>> = list(v)?
                    .iter()
                    .map(|s| b64(text(s)?))
                    .collect::<Result<_, _>>()?;
                if l.is_empty() {
                    return Err(invalid("An binary set  may not be empty"));
                }
                no_duplicates(&l, |b| base64::engine::general_purpose::STANDARD.encode(b))?;
                Attr::Bs(l)
            }
            other => {
                return Err(Error::new(
                    "SerializationException",
                    Kind::InvalidInput,
                    format!("Unknown AttributeValue type: {other}"),
                ))
            }
        })
    }

    pub fn to_json(&self) -> Value {
        let enc = |b: &Vec<u8>| Value::from(base64::engine::general_purpose::STANDARD.encode(b));
        let (ty, v) = match self {
            Attr::S(s) => ("S", Value::from(s.as_str())),
            Attr::N(n) => ("N", Value::from(n.to_string())),
            Attr::B(b) => ("B", enc(b)),
            Attr::Bool(b) => ("BOOL", Value::from(*b)),
            Attr::Null => ("NULL", Value::from(true)),
            Attr::L(l) => ("L", Value::Array(l.iter().map(Attr::to_json).collect())),
            Attr::M(m) => ("M", item_to_json(m)),
            Attr::Ss(l) => ("SS", Value::from(l.clone())),
            Attr::Ns(l) => ("NS", l.iter().map(|n| Value::from(n.to_string())).collect()),
            Attr::Bs(l) => ("BS", l.iter().map(enc).collect()),
        };
        let mut m = Map::with_capacity(1);
        m.insert(ty.to_string(), v);
        Value::Object(m)
    }

    /// The type's name on the wire (`S`, `N`, …, `BOOL`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Attr::S(_) => "S",
            Attr::N(_) => "N",
            Attr::B(_) => "B",
            Attr::Bool(_) => "BOOL",
            Attr::Null => "NULL",
            Attr::L(_) => "L",
            Attr::M(_) => "M",
            Attr::Ss(_) => "SS",
            Attr::Ns(_) => "NS",
            Attr::Bs(_) => "BS",
        }
    }

    /// The type's name as the expression language's errors spell it.
    pub fn long_type_name(&self) -> &'static str {
        match self {
            Attr::S(_) => "STRING",
            Attr::N(_) => "NUMBER",
            Attr::B(_) => "BINARY",
            Attr::Bool(_) => "BOOLEAN",
            Attr::Null => "NULL",
            Attr::L(_) => "LIST",
            Attr::M(_) => "MAP",
            Attr::Ss(_) => "SET",
            Attr::Ns(_) => "SET",
            Attr::Bs(_) => "SET",
        }
    }

    /// Size as DynamoDB counts it (the value only; names are added by [`item_size`]).
    pub fn size(&self) -> usize {
        match self {
            Attr::S(s) => s.len(),
            Attr::N(n) => n.precision().div_ceil(2) + 1,
            Attr::B(b) => b.len(),
            Attr::Bool(_) | Attr::Null => 1,
            Attr::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Attr::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Attr::Ss(l) => l.iter().map(String::len).sum(),
            Attr::Ns(l) => l.iter().map(|n| n.precision().div_ceil(2) + 1).sum(),
            Attr::Bs(l) => l.iter().map(Vec::len).sum(),
        }
    }

    /// The memcmp-ordered encoding of a key value (S, N or B only).
    pub fn key_bytes(&self) -> Vec<u8> {
        match self {
            Attr::S(s) => s.as_bytes().to_vec(),
            Attr::B(b) => b.clone(),
            Attr::N(n) => n.key_bytes(),
            _ => Vec::new(),
        }
    }

    /// The order of two scalars of the same type (S, N, B); `None` otherwise.
    pub fn compare(&self, other: &Attr) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Attr::S(a), Attr::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Attr::N(a), Attr::N(b)) => Some(a.cmp(b)),
            (Attr::B(a), Attr::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl PartialEq for Attr {
    fn eq(&self, other: &Attr) -> bool {
        match (self, other) {
            (Attr::S(a), Attr::S(b)) => a == b,
            (Attr::N(a), Attr::N(b)) => a == b,
            (Attr::B(a), Attr::B(b)) => a == b,
            (Attr::Bool(a), Attr::Bool(b)) => a == b,
            (Attr::Null, Attr::Null) => true,
            (Attr::L(a), Attr::L(b)) => a == b,
            (Attr::M(a), Attr::M(b)) => a == b,
            (Attr::Ss(a), Attr::Ss(b)) => same_set(a, b),
            (Attr::Ns(a), Attr::Ns(b)) => same_set(a, b),
            (Attr::Bs(a), Attr::Bs(b)) => same_set(a, b),
            _ => false,
        }
    }
}

/// An item (or a key) from its wire form, with AWS's limits on attribute names.
pub fn item_from_json(v: &Value) -> Result<Item, Error> {
    let obj = object(v)?;
    for k in obj.keys() {
        if k.is_empty() {
            return Err(invalid("Empty attribute name"));
        }
    }
    map_from_json(v, 1)
}

/// An item read back from the store. Versions before the nesting check was exact stored one
/// level more than AWS allows; such an item stays readable (it is still bounded, so decoding
/// it cannot recurse without limit).
pub fn stored_item_from_json(v: &Value) -> Result<Item, Error> {
    map_from_json(v, 0)
}

/// The entries of a map whose values sit at nesting `level`.
fn map_from_json(v: &Value, level: usize) -> Result<Item, Error> {
    let obj = object(v)?;
    if !obj.is_empty() && level > MAX_NESTING_LEVELS {
        return Err(nesting_error());
    }
    obj.iter()
        .map(|(k, v)| {
            if k.len() > MAX_ATTRIBUTE_NAME_BYTES {
                return Err(invalid(format!(
                    "Attribute name size exceeds the limit of {MAX_ATTRIBUTE_NAME_BYTES} bytes"
                )));
            }
            Ok((k.clone(), Attr::from_json_at(v, level)?))
        })
        .collect()
}

fn object(v: &Value) -> Result<&Map<String, Value>, Error> {
    v.as_object().ok_or_else(|| {
        Error::new(
            "SerializationException",
            Kind::InvalidInput,
            "Unexpected value type in payload",
        )
    })
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// An item's size: the sum of its attribute names' and values' sizes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_type() {
        let v = json!({
            "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "l": {"L": [{"S": "a"}, {"N": "2"}]},
            "m": {"M": {"k": {"SS": ["a", "b"]}}}, "ns": {"NS": ["1", "2.0"]}, "bs": {"BS": ["AA=="]}
        });
        let item = item_from_json(&v).unwrap();
        let back = item_to_json(&item);
        assert_eq!(back["n"], json!({"N": "1.5"}));
        assert_eq!(back["ns"], json!({"NS": ["1", "2"]}));
        assert_eq!(back["m"], v["m"]);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            json!({}),
            json!({"S": "a", "N": "1"}),
            json!({"SS": []}),
            json!({"SS": ["a", "a"]}),
            json!({"NULL": false}),
            json!({"N": "x"}),
        ] {
            assert!(Attr::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sets_compare_as_sets() {
        let a = Attr::from_json(&json!({"NS": ["1", "2"]})).unwrap();
        let b = Attr::from_json(&json!({"NS": ["2.0", "1"]})).unwrap();
        assert_eq!(a, b);
    }

    /// `wraps` lists or maps around a string. Built by hand: `json!` would copy `v` by
    /// serialising it, recursively.
    fn nested(wraps: usize, list: bool) -> Value {
        let mut v = json!({"S": "leaf"});
        for _ in 0..wraps {
            let (ty, inner) = if list {
                ("L", Value::Array(vec![v]))
            } else {
                ("M", Value::Object(Map::from_iter([("n".to_string(), v)])))
            };
            v = Value::Object(Map::from_iter([(ty.to_string(), inner)]));
        }
        v
    }

    #[test]
    fn nesting_stops_at_32_levels() {
        for list in [false, true] {
            assert!(Attr::from_json(&nested(31, list)).is_ok());
            let err = Attr::from_json(&nested(32, list)).unwrap_err();
            assert_eq!(err.message, nesting_error().message);
            // Empty containers at the last level are allowed.
            let mut v = json!({"M": {}});
            for _ in 0..31 {
                v = json!({"L": [v]});
            }
            assert!(Attr::from_json(&v).is_ok());
        }
    }

    #[test]
    fn decoding_a_value_deeper_than_serde_allows_does_not_recurse() {
        // serde_json refuses more than 128 levels when parsing text, but a Value built in
        // code has no limit: the decoder must stop at its own.
        let v = nested(100_000, true);
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let e = Attr::from_json(&v).unwrap_err().message;
                // Dropping the Value recurses too; leak it rather than test serde_json.
                std::mem::forget(v);
                e
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(err, nesting_error().message);
    }

    #[test]
    fn stored_items_keep_one_more_level() {
        let item = json!({ "a": nested(32, false) });
        assert!(item_from_json(&item).is_err());
        assert!(stored_item_from_json(&item).is_ok());
        assert!(stored_item_from_json(&json!({ "a": nested(33, false) })).is_err());
    }

    #[test]
    fn attribute_names_have_limits() {
        assert_eq!(
            item_from_json(&json!({"": {"S": "x"}}))
                .unwrap_err()
                .message,
            "One or more parameter values were invalid: Empty attribute name"
        );
        let long = "a".repeat(65536);
        assert!(item_from_json(&json!({ long.clone(): {"S": "x"} }))
            .unwrap_err()
            .message
            .contains("Attribute name size exceeds the limit of 65535 bytes"));
        assert!(item_from_json(&json!({"m": {"M": { long: {"S": "x"} }}})).is_err());
        assert!(item_from_json(&json!({ "a".repeat(65535): {"S": "x"} })).is_ok());
    }
}
