//! SNS Publish's message checks: NUL-separated fields `message, subject, structure`, then
//! triples `name, data type, value` of message attributes (the value is the binary value
//! for `Binary` types, the string value otherwise). An empty subject or structure means
//! absent. A message that passes is sized and given to every protocol. Nothing may panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::fields;
use stratus_topics::message::{Message, MessageAttribute};

fn attribute(data_type: &str, value: &str) -> MessageAttribute {
    let binary = data_type.starts_with("Binary");
    MessageAttribute {
        data_type: data_type.to_string(),
        string_value: (!binary).then(|| value.to_string()),
        binary_value: binary.then(|| value.as_bytes().to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut f = fields(data).into_iter();
    let message = f.next().unwrap_or_default();
    let subject = f.next().filter(|s| !s.is_empty());
    let structure = f.next().filter(|s| !s.is_empty());
    let rest: Vec<String> = f.collect();
    let attributes: BTreeMap<String, MessageAttribute> = rest
        .chunks(3)
        .map(|t| {
            let get = |i: usize| t.get(i).map_or("", String::as_str);
            (get(0).to_string(), attribute(get(1), get(2)))
        })
        .collect();
    let Ok(m) = Message::new(message, subject, structure.as_deref(), attributes) else {
        return;
    };
    let _ = m.check_size(m.size());
    for protocol in ["lambda", "sqs", "email", "default"] {
        let _ = m.body_for(protocol);
    }
    for a in m.attributes.values() {
        let _ = a.event_value();
    }
});
