//! A published message: its checks (size, subject, `MessageStructure`, message attributes) with
//! SNS's errors, and the body each protocol receives.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};
use stratus_core::Error;

use crate::names::{invalid, invalid_value};

/// Largest message, attributes included (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// The range of a topic's `MaximumMessageSize` (its default is [`MAX_MESSAGE_BYTES`]).
pub const MIN_TOPIC_MESSAGE_BYTES: usize = 1024;
pub const MAX_TOPIC_MESSAGE_BYTES: usize = 1_048_576;
/// Longest subject.
const MAX_SUBJECT: usize = 100;

/// One message attribute as published.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageAttribute {
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
}

impl MessageAttribute {
    /// `String`, `Number`, `Binary` or `String.Array` (custom suffixes such as `Number.int`
    /// count as their base type).
    pub fn base_type(&self) -> &str {
        if self.data_type == "String.Array" {
            return "String.Array";
        }
        self.data_type.split('.').next().unwrap_or("")
    }

    /// The `Value` the event record carries: text as given, binary as base64.
    pub fn event_value(&self) -> String {
        match &self.binary_value {
            Some(b) if self.base_type() == "Binary" => {
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            _ => self.string_value.clone().unwrap_or_default(),
        }
    }

    fn size(&self, name: &str) -> usize {
        name.len()
            + self.data_type.len()
            + self.string_value.as_ref().map_or(0, String::len)
            + self.binary_value.as_ref().map_or(0, Vec::len)
    }
}

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub message: String,
    /// The per-protocol bodies when `MessageStructure` is `json`.
    pub structure: Option<Map<String, Value>>,
    pub subject: Option<String>,
    pub attributes: BTreeMap<String, MessageAttribute>,
}

impl Message {
    pub fn new(
        message: String,
        subject: Option<String>,
        structure: Option<&str>,
        attributes: BTreeMap<String, MessageAttribute>,
    ) -> Result<Message, Error> {
        if message.is_empty() {
            return Err(invalid("Empty message"));
        }
        if let Some(s) = &subject {
            check_subject(s)?;
        }
        for (name, a) in &attributes {
            check_attribute(name, a)?;
        }
        let size = message.len() + attributes.iter().map(|(n, a)| a.size(n)).sum::<usize>();
        if size > MAX_TOPIC_MESSAGE_BYTES {
            return Err(invalid("Message too long"));
        }
        let structure = match structure {
            None => None,
            Some("json") => Some(parse_structure(&message)?),
            Some(_) => return Err(invalid("MessageStructure")),
        };
        Ok(Message {
            message,
            structure,
            subject,
            attributes,
        })
    }

    /// The body and the attributes in bytes, as a topic's `MaximumMessageSize` counts them.
    pub fn size(&self) -> usize {
        self.message.len()
            + self
                .attributes
                .iter()
                .map(|(n, a)| a.size(n))
                .sum::<usize>()
    }

    /// Refuses a message larger than `limit`, the topic's `MaximumMessageSize`.
    pub fn check_size(&self, limit: usize) -> Result<(), Error> {
        if self.size() > limit {
            return Err(invalid("Message too long"));
        }
        Ok(())
    }

    /// The body a subscriber of `protocol` receives: with `MessageStructure` `json`, its own
    /// key if present, else `default`.
    pub fn body_for(&self, protocol: &str) -> &str {
        let Some(s) = &self.structure else {
            return &self.message;
        };
        s.get(protocol)
            .and_then(Value::as_str)
            .or_else(|| s.get("default").and_then(Value::as_str))
            .unwrap_or(&self.message)
    }
}

fn parse_structure(message: &str) -> Result<Map<String, Value>, Error> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(message) else {
        return Err(invalid(
            "Message Structure - JSON message body failed to parse",
        ));
    };
    match map.get("default") {
        Some(Value::String(_)) => Ok(map),
        _ => Err(invalid(
            "Message Structure - No default entry in JSON message body",
        )),
    }
}

/// UTF-8 text without line breaks or control characters, under 100 characters (the current
/// API reference; older documents said ASCII).
fn check_subject(s: &str) -> Result<(), Error> {
    let printable = s.chars().all(|c| !c.is_control());
    if s.is_empty() || !printable || s.trim().is_empty() {
        return Err(invalid("Subject"));
    }
    if s.chars().count() > MAX_SUBJECT {
        return Err(invalid(
            "Subject Reason: Subject must be less than 100 characters",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.len() > 256 {
        return Err(invalid_value(
            "Length of message attribute name must be less than 256 bytes.",
        ));
    }
    if name.starts_with('.') {
        return Err(invalid_value(
            "Invalid message attribute name starting with character '.' was found.",
        ));
    }
    if name.ends_with('.') {
        return Err(invalid_value(
            "Invalid message attribute name ending with character '.' was found.",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid_value(format!(
            "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            c as u32
        )));
    }
    if name.contains("..") {
        return Err(invalid_value(
            "Message attribute name can not have successive '.' character.",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if name.is_empty() || lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err(invalid_value(format!(
            "The message attribute name '{name}' is invalid."
        )));
    }
    Ok(())
}

fn check_attribute(name: &str, a: &MessageAttribute) -> Result<(), Error> {
    check_name(name)?;
    let (base, data_type) = (a.base_type(), a.data_type.as_str());
    if !matches!(base, "String" | "Number" | "Binary" | "String.Array") {
        return Err(invalid_value(format!(
            "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
        )));
    }
    let field = if base == "Binary" { "Binary" } else { "String" };
    let (present, empty) = match field {
        "Binary" => (
            a.binary_value.is_some(),
            a.binary_value.as_ref().is_some_and(Vec::is_empty),
        ),
        _ => (
            a.string_value.is_some(),
            a.string_value.as_ref().is_some_and(String::is_empty),
        ),
    };
    if !present {
        return Err(invalid_value(format!(
            "The message attribute '{name}' with type '{data_type}' must use field '{field}'."
        )));
    }
    if empty {
        return Err(invalid_value(format!(
            "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
        )));
    }
    let text = a.string_value.as_deref().unwrap_or("");
    match base {
        "Number" if !is_number(text) => Err(invalid_value(format!(
            "Could not cast message attribute '{name}' value to number."
        ))),
        "String.Array" if !is_string_array(text) => Err(invalid_value(format!(
            "The message attribute '{name}' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null."
        ))),
        _ => Ok(()),
    }
}

/// SNS numbers: finite, within ±10^9, at most five decimal places.
fn is_number(text: &str) -> bool {
    let t = text.trim();
    let decimals = t.split_once('.').map_or(0, |(_, d)| d.len());
    t.parse::<f64>()
        .is_ok_and(|n| n.is_finite() && n.abs() <= 1e9 && decimals <= 5)
}

fn is_string_array(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items.iter().all(|i| {
            matches!(
                i,
                Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(t: &str, v: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: t.into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    fn publish(msg: &str, attrs: &[(&str, MessageAttribute)]) -> Result<Message, Error> {
        let attrs = attrs
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect();
        Message::new(msg.into(), None, None, attrs)
    }

    #[test]
    fn message_checks() {
        assert_eq!(
            publish("", &[]).unwrap_err().message,
            "Invalid parameter: Empty message"
        );
        let at_limit = publish(&"x".repeat(MAX_MESSAGE_BYTES), &[]).unwrap();
        assert!(at_limit.check_size(MAX_MESSAGE_BYTES).is_ok());
        let over = publish(&"x".repeat(MAX_MESSAGE_BYTES + 1), &[]).unwrap();
        assert_eq!(
            over.check_size(MAX_MESSAGE_BYTES).unwrap_err().message,
            "Invalid parameter: Message too long",
            "over the default MaximumMessageSize"
        );
        assert!(over.check_size(MAX_TOPIC_MESSAGE_BYTES).is_ok());
        assert!(publish(&"x".repeat(MAX_TOPIC_MESSAGE_BYTES + 1), &[]).is_err());
        assert!(Message::new("m".into(), Some("Café über".into()), None, BTreeMap::new()).is_ok());
        assert!(Message::new("m".into(), Some("".into()), None, BTreeMap::new()).is_err());
        assert!(Message::new("m".into(), Some("a\nb".into()), None, BTreeMap::new()).is_err());
    }

    #[test]
    fn message_structure() {
        let m = Message::new(
            r#"{"default":"d","lambda":"l"}"#.into(),
            None,
            Some("json"),
            BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(m.body_for("lambda"), "l");
        assert_eq!(m.body_for("sqs"), "d");
        let e = Message::new(
            r#"{"lambda":"l"}"#.into(),
            None,
            Some("json"),
            BTreeMap::new(),
        );
        assert_eq!(
            e.unwrap_err().message,
            "Invalid parameter: Message Structure - No default entry in JSON message body"
        );
        let e = Message::new("nope".into(), None, Some("json"), BTreeMap::new());
        assert!(e.unwrap_err().message.contains("failed to parse"));
    }

    #[test]
    fn attribute_checks() {
        assert!(publish("m", &[("n", attr("Number", "1.5"))]).is_ok());
        assert!(publish("m", &[("n", attr("Number.int", "3"))]).is_ok());
        let e = publish("m", &[("n", attr("Number", "abc"))]).unwrap_err();
        assert_eq!(e.code, "ParameterValueInvalid");
        assert_eq!(
            e.message,
            "Could not cast message attribute 'n' value to number."
        );
        assert!(publish("m", &[("n", attr("Bogus", "x"))]).is_err());
        assert!(publish("m", &[("n", attr("String", ""))]).is_err());
        assert!(publish("m", &[("a", attr("String.Array", r#"["x",1,true]"#))]).is_ok());
        assert!(publish("m", &[("a", attr("String.Array", r#"[{"x":1}]"#))]).is_err());
        assert!(publish("m", &[("AWS.x", attr("String", "v"))]).is_err());
        assert!(publish("m", &[("a b", attr("String", "v"))]).is_err());
        assert!(publish("m", &[("a..b", attr("String", "v"))]).is_err());
        assert!(publish("m", &[(".a", attr("String", "v"))]).is_err());
        let no_field = MessageAttribute {
            data_type: "Binary".into(),
            string_value: Some("x".into()),
            binary_value: None,
        };
        assert_eq!(
            publish("m", &[("b", no_field)]).unwrap_err().message,
            "The message attribute 'b' with type 'Binary' must use field 'Binary'."
        );
        let bin = MessageAttribute {
            data_type: "Binary".into(),
            string_value: None,
            binary_value: Some(vec![1, 2]),
        };
        assert_eq!(bin.event_value(), "AQI=");
    }
}
