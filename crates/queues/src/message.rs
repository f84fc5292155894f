//! Messages as SQS checks them: the characters a body may hold, message and system
//! attributes with their types, the size limit, and the MD5 digests the SDKs verify (of the
//! body, and of the attributes in the Java and Go SDKs' encoding).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use stratus_core::Error;

use crate::names::{invalid_value, missing};

/// One message (or message system) attribute: a type (`String`, `Number`, `Binary`, each
/// optionally followed by `.custom`) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MessageAttribute {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<Vec<u8>>,
}

pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

/// Most message attributes on one message.
const MAX_ATTRIBUTES: usize = 10;

/// Whether `c` is in SQS's allowed set: `#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD
/// | #x10000 to #x10FFFF` (a Rust string holds no surrogates).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Checks a body's characters, with AWS's `InvalidMessageContents`.
pub fn check_body(body: &str) -> Result<(), Error> {
    if body.is_empty() {
        return Err(missing("MessageBody"));
    }
    match body.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(Error::new(
            "InvalidMessageContents",
            stratus_core::Kind::InvalidInput,
            format!(
                "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
                c as u32
            ),
        )),
    }
}

/// Checks a message's user attributes: at most ten, well-named, typed and non-empty.
pub fn check_attributes(attrs: &MessageAttributes) -> Result<(), Error> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(invalid_value(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    for (name, a) in attrs {
        check_name(name)?;
        check_value(name, a, "message (user)")?;
    }
    Ok(())
}

/// Sets `AWSTraceHeader` from the sending request's `X-Amzn-Trace-Id`, unless the sender
/// set the attribute itself (as SQS does: the explicit attribute wins).
pub fn with_trace_header(attrs: &mut MessageAttributes, trace: Option<&str>) {
    let Some(trace) = trace else { return };
    attrs
        .entry("AWSTraceHeader".to_string())
        .or_insert_with(|| MessageAttribute {
            data_type: "String".into(),
            string_value: Some(trace.to_string()),
            binary_value: None,
        });
}

/// Checks the system attributes a sender may set: only `AWSTraceHeader`, a string.
pub fn check_system_attributes(attrs: &MessageAttributes) -> Result<(), Error> {
    for (name, a) in attrs {
        if name != "AWSTraceHeader" {
            return Err(invalid_value(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        if a.data_type != "String" {
            return Err(invalid_value(format!(
                "The message system attribute '{name}' must be of type 'String'."
            )));
        }
        check_value(name, a, "message system")?;
    }
    Ok(())
}

/// A name of letters, digits, `_`, `-` and `.` (no leading, trailing or doubled `.`), not
/// reserved for AWS, at most 256 characters.
fn check_name(name: &str) -> Result<(), Error> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(invalid_value(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
        )))
    }
}

fn check_value(name: &str, a: &MessageAttribute, what: &str) -> Result<(), Error> {
    let base = a.data_type.split('.').next().unwrap_or("");
    if !matches!(base, "String" | "Number" | "Binary") || a.data_type.len() > 256 {
        return Err(invalid_value(format!(
            "The type of {what} attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    let empty = |kind: &str| {
        invalid_value(format!(
            "The {what} attribute '{name}' must contain a non-empty value of type '{kind}'."
        ))
    };
    if base == "Binary" {
        return match &a.binary_value {
            Some(b) if !b.is_empty() => Ok(()),
            _ => Err(empty("Binary")),
        };
    }
    let Some(s) = a.string_value.as_deref().filter(|s| !s.is_empty()) else {
        return Err(empty("String"));
    };
    if base == "Number" && s.trim().parse::<f64>().is_err() {
        return Err(invalid_value(format!(
            "Can't cast the value of {what} attribute '{name}' to a number."
        )));
    }
    if !s.chars().all(allowed) {
        return Err(invalid_value(format!(
            "The {what} attribute '{name}' contains invalid characters."
        )));
    }
    Ok(())
}

/// What a message counts against `MaximumMessageSize`: its body and, for each attribute,
/// its name, type and value.
pub fn size(body: &str, attrs: &MessageAttributes) -> usize {
    body.len()
        + attrs
            .iter()
            .map(|(n, a)| {
                n.len()
                    + a.data_type.len()
                    + a.string_value.as_ref().map_or(0, String::len)
                    + a.binary_value.as_ref().map_or(0, Vec::len)
            })
            .sum::<usize>()
}

/// The size error, with the queue's limit.
pub fn too_long(limit: i64) -> Error {
    invalid_value(format!(
        "One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    ))
}

/// The hex MD5 of a body.
pub fn md5_of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// The hex MD5 of attributes as the SDKs compute it: by name, each of name, type and value
/// as a 4-byte big-endian length and its bytes, the value preceded by a transport byte (1
/// for a string, 2 for binary). `None` for no attributes (the member is then left out).
pub fn md5_of_attributes(attrs: &MessageAttributes) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut h = Md5::new();
    let field = |h: &mut Md5, bytes: &[u8]| {
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(bytes);
    };
    for (name, a) in attrs {
        field(&mut h, name.as_bytes());
        field(&mut h, a.data_type.as_bytes());
        if let Some(s) = &a.string_value {
            h.update([1u8]);
            field(&mut h, s.as_bytes());
        } else if let Some(b) = &a.binary_value {
            h.update([2u8]);
            field(&mut h, b);
        }
    }
    Some(hex::encode(h.finalize()))
}

/// The attributes a receive asked for by name: `All` or `.*` for all, `prefix.*` for those
/// starting with `prefix.`, or exact names.
pub fn selected<'a>(names: &'a [String]) -> impl Fn(&str) -> bool + 'a {
    move |attr: &str| {
        names.iter().any(|n| {
            n == "All"
                || n == ".*"
                || n == attr
                || n.strip_suffix(".*")
                    .is_some_and(|p| attr.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(t: &str, v: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: t.into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    /// The digest of AWS's documented example is fixed by the encoding, computed here by
    /// hand from its bytes.
    #[test]
    fn attribute_md5_follows_the_sdk_encoding() {
        let mut attrs = MessageAttributes::new();
        attrs.insert("b".into(), string("String", "x"));
        attrs.insert(
            "a".into(),
            MessageAttribute {
                data_type: "Binary".into(),
                string_value: None,
                binary_value: Some(vec![1, 2]),
            },
        );
        let mut bytes = Vec::new();
        for (n, t, tag, v) in [
            ("a", "Binary", 2u8, &[1u8, 2][..]),
            ("b", "String", 1, b"x"),
        ] {
            bytes.extend((n.len() as u32).to_be_bytes());
            bytes.extend(n.as_bytes());
            bytes.extend((t.len() as u32).to_be_bytes());
            bytes.extend(t.as_bytes());
            bytes.push(tag);
            bytes.extend((v.len() as u32).to_be_bytes());
            bytes.extend(v);
        }
        assert_eq!(
            md5_of_attributes(&attrs).unwrap(),
            hex::encode(Md5::digest(&bytes))
        );
        assert_eq!(md5_of_attributes(&MessageAttributes::new()), None);
        assert_eq!(md5_of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn bodies_and_attributes_are_checked() {
        assert!(check_body("ok\t\n\r é 😀").is_ok());
        let e = check_body("a\u{1}").unwrap_err();
        assert_eq!(e.code, "InvalidMessageContents");
        assert!(e.message.contains("'#x1'"));
        assert_eq!(check_body("").unwrap_err().code, "MissingParameter");
        let mut attrs = MessageAttributes::new();
        attrs.insert("n".into(), string("Number.int", "12"));
        assert!(check_attributes(&attrs).is_ok());
        attrs.insert("m".into(), string("Number", "x"));
        assert!(check_attributes(&attrs).is_err());
        attrs.remove("m");
        attrs.insert("AWS.x".into(), string("String", "x"));
        assert!(check_attributes(&attrs).is_err());
        attrs.remove("AWS.x");
        attrs.insert("t".into(), string("Text", "x"));
        assert!(check_attributes(&attrs).is_err());
    }

    #[test]
    fn selection_by_name_and_prefix() {
        let names = vec!["app.*".to_string(), "x".to_string()];
        let pick = selected(&names);
        assert!(pick("app.id"));
        assert!(pick("x"));
        assert!(!pick("apple"));
        assert!(!pick("y"));
        let all = vec!["All".to_string()];
        assert!(selected(&all)("anything"));
    }
}
