//! SQS's Query protocol in terms of its JSON one: a form (`Action=SendMessage&
//! MessageAttribute.1.Name=...`) becomes the JSON input the operations read, and a JSON
//! result becomes the `<{Action}Result>` members, with SQS's flattened lists and maps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::services::sns::xml::Xml;

/// Flattened Query names and the JSON members they become.
const LISTS: &[(&str, &str)] = &[
    ("AttributeName", "AttributeNames"),
    ("MessageAttributeName", "MessageAttributeNames"),
    ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ("TagKey", "TagKeys"),
    ("AWSAccountId", "AWSAccountIds"),
    ("ActionName", "Actions"),
];

/// The form's parameters as the JSON protocol's input.
pub fn to_json(form: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    // Group `Head.N.rest` by head and N.
    let mut groups: BTreeMap<&str, BTreeMap<u32, BTreeMap<String, String>>> = BTreeMap::new();
    for (k, v) in form {
        match k.split_once('.') {
            Some((head, rest)) => {
                let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
                if let Ok(n) = n.parse::<u32>() {
                    groups
                        .entry(head)
                        .or_default()
                        .entry(n)
                        .or_default()
                        .insert(tail.to_string(), v.clone());
                }
            }
            None => {
                out.insert(k.clone(), Value::from(v.clone()));
            }
        }
    }
    for (head, items) in groups {
        let items = items.into_values();
        if let Some((_, member)) = LISTS.iter().find(|(q, _)| *q == head) {
            let list: Vec<Value> = items
                .filter_map(|m| m.get("").cloned().map(Value::from))
                .collect();
            out.insert(member.to_string(), Value::from(list));
            continue;
        }
        match head {
            "Attribute" => out.insert("Attributes".into(), pairs(items, "Name", "Value")),
            "Tag" => out.insert("Tags".into(), pairs(items, "Key", "Value")),
            "MessageAttribute" | "MessageSystemAttribute" => {
                let mut map = Map::new();
                for m in items {
                    let Some(name) = m.get("Name") else { continue };
                    let value: BTreeMap<String, String> = m
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.strip_prefix("Value.")?.to_string(), v.clone()))
                        })
                        .collect();
                    map.insert(name.clone(), to_json(&value));
                }
                out.insert(format!("{head}s"), Value::Object(map))
            }
            h if h.ends_with("RequestEntry") => {
                let entries: Vec<Value> = items.map(|m| to_json(&m)).collect();
                out.insert("Entries".into(), Value::from(entries))
            }
            _ => None,
        };
    }
    Value::Object(out)
}

fn pairs(items: impl Iterator<Item = BTreeMap<String, String>>, key: &str, value: &str) -> Value {
    let mut map = Map::new();
    for m in items {
        if let Some(k) = m.get(key) {
            map.insert(
                k.clone(),
                Value::from(m.get(value).cloned().unwrap_or_default()),
            );
        }
    }
    Value::Object(map)
}

/// Writes a JSON result's members as the Query protocol's XML; `op` names the batch result
/// entries (`SendMessageBatchResultEntry`).
pub fn write(x: &mut Xml, op: &str, result: &Value) {
    let Some(map) = result.as_object() else {
        return;
    };
    for (k, v) in map {
        member(x, op, k, v);
    }
}

fn member(x: &mut Xml, op: &str, key: &str, v: &Value) {
    match (key, v) {
        ("Messages", Value::Array(items)) => each(x, op, "Message", items),
        ("QueueUrls" | "queueUrls", Value::Array(items)) => each(x, op, "QueueUrl", items),
        ("Successful", Value::Array(items)) => each(x, op, &format!("{op}ResultEntry"), items),
        ("Failed", Value::Array(items)) => each(x, op, "BatchResultErrorEntry", items),
        ("Results", Value::Array(items)) => each(x, op, "ListMessageMoveTasksResultEntry", items),
        ("Attributes", Value::Object(m)) => {
            for (name, value) in m {
                x.open("Attribute").leaf("Name", name);
                member(x, op, "Value", value);
                x.close("Attribute");
            }
        }
        ("Tags", Value::Object(m)) => {
            for (name, value) in m {
                x.open("Tag").leaf("Key", name);
                member(x, op, "Value", value);
                x.close("Tag");
            }
        }
        ("MessageAttributes", Value::Object(m)) => {
            for (name, value) in m {
                x.open("MessageAttribute").leaf("Name", name).open("Value");
                write(x, op, value);
                x.close("Value").close("MessageAttribute");
            }
        }
        (_, Value::Array(items)) => each(x, op, key, items),
        (_, Value::Object(_)) => {
            x.open(key);
            write(x, op, v);
            x.close(key);
        }
        (_, Value::String(s)) => {
            x.leaf(key, s);
        }
        (_, Value::Null) => {}
        (_, other) => {
            x.leaf(key, &other.to_string());
        }
    }
}

fn each(x: &mut Xml, op: &str, tag: &str, items: &[Value]) {
    for item in items {
        member(x, op, tag, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_json_input() {
        let form: BTreeMap<String, String> = [
            ("Action", "SendMessageBatch"),
            ("QueueUrl", "u"),
            ("SendMessageBatchRequestEntry.1.Id", "a"),
            ("SendMessageBatchRequestEntry.1.MessageBody", "b"),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
                "n",
            ),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                "String",
            ),
            (
                "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                "v",
            ),
            ("SendMessageBatchRequestEntry.2.Id", "c"),
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "5"),
            ("AttributeName.1", "All"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let j = to_json(&form);
        assert_eq!(
            j["Entries"][0]["MessageAttributes"]["n"]["StringValue"],
            "v"
        );
        assert_eq!(j["Entries"][1]["Id"], "c");
        assert_eq!(j["Attributes"]["VisibilityTimeout"], "5");
        assert_eq!(j["AttributeNames"][0], "All");
    }

    #[test]
    fn results_become_flattened_xml() {
        let mut x = Xml::default();
        let result = serde_json::json!({
            "Messages": [{"Body": "b", "Attributes": {"SenderId": "s"}}],
            "Failed": [{"Id": "x", "SenderFault": true}],
        });
        write(&mut x, "ReceiveMessage", &result);
        let text = x.into_string();
        assert!(!text.contains("<Attributes>"));
        assert!(text.contains("<Message><Attribute><Name>SenderId</Name><Value>s</Value></Attribute><Body>b</Body></Message>"), "{text}");
        assert!(text.contains("<BatchResultErrorEntry><Id>x</Id><SenderFault>true</SenderFault></BatchResultErrorEntry>"));
    }
}
