//! The Query protocol's request side: a flat form (`Action=...&Attributes.entry.1.key=...`)
//! with accessors for SNS's list and map encodings.

use std::collections::BTreeMap;

use base64::Engine;
use stratus_core::{Error, Kind};
use stratus_topics::message::MessageAttribute;
use stratus_topics::names::invalid;

/// The decoded parameters of one request (or one batch entry, with its prefix removed).
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parameters from the query string and the form body (the body wins).
    pub fn decode(query: &str, body: &[u8]) -> Params {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body)) {
            map.insert(k.into_owned(), v.into_owned());
        }
        Params(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter; absent, it gets AWS's validation error.
    pub fn required(&self, name: &str) -> Result<&str, Error> {
        self.get(name).ok_or_else(|| {
            let member = lower_first(name);
            Error::new(
                "ValidationError",
                Kind::InvalidInput,
                format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
            )
        })
    }

    /// `{prefix}.{kind}.N.*` grouped by N, in N order, each with `{prefix}.{kind}.N.` removed.
    pub fn indexed(&self, prefix: &str, kind: &str) -> Vec<Params> {
        let head = format!("{prefix}.{kind}.");
        let mut groups: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&head) else {
                continue;
            };
            let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
            if let Ok(n) = n.parse::<u32>() {
                groups
                    .entry(n)
                    .or_default()
                    .insert(tail.to_string(), v.clone());
            }
        }
        groups.into_values().map(Params).collect()
    }

    /// A list encoded as `{prefix}.member.N`.
    pub fn members(&self, prefix: &str) -> Vec<String> {
        self.indexed(prefix, "member")
            .into_iter()
            .filter_map(|p| p.get("").map(str::to_string))
            .collect()
    }

    /// A map encoded as `{prefix}.entry.N.key` / `.value`.
    pub fn map(&self, prefix: &str) -> BTreeMap<String, String> {
        self.indexed(prefix, "entry")
            .into_iter()
            .filter_map(|p| {
                Some((
                    p.get("key")?.to_string(),
                    p.get("value").unwrap_or("").to_string(),
                ))
            })
            .collect()
    }

    /// Tags encoded as `{prefix}.member.N.Key` / `.Value`.
    pub fn tags(&self, prefix: &str) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        for p in self.indexed(prefix, "member") {
            let key = p
                .get("Key")
                .ok_or_else(|| invalid("Tags Reason: Tag key must not be null"))?;
            let value = p.get("Value").unwrap_or("").to_string();
            if out.insert(key.to_string(), value).is_some() {
                return Err(invalid("Duplicated keys are not allowed."));
            }
        }
        Ok(out)
    }

    /// Message attributes: `{prefix}.entry.N.Name`, `.Value.DataType`, `.Value.StringValue`,
    /// `.Value.BinaryValue` (base64).
    pub fn message_attributes(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<String, MessageAttribute>, Error> {
        let mut out = BTreeMap::new();
        for p in self.indexed(prefix, "entry") {
            let name = p.get("Name").unwrap_or("").to_string();
            let data_type = p.get("Value.DataType").ok_or_else(|| {
                invalid(format!(
                    "The message attribute '{name}' must contain a data type."
                ))
            })?;
            let binary_value = match p.get("Value.BinaryValue") {
                Some(b) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|_| {
                            invalid(format!(
                                "The message attribute '{name}' has an invalid binary value."
                            ))
                        })?,
                ),
                None => None,
            };
            let attr = MessageAttribute {
                data_type: data_type.to_string(),
                string_value: p.get("Value.StringValue").map(str::to_string),
                binary_value,
            };
            out.insert(name, attr);
        }
        Ok(out)
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sns_encodings() {
        let body = "Action=X&Attributes.entry.2.key=B&Attributes.entry.2.value=2\
            &Attributes.entry.1.key=A&Attributes.entry.1.value=1\
            &Tags.member.1.Key=k&Tags.member.1.Value=v&TagKeys.member.1=a&TagKeys.member.2=b\
            &MessageAttributes.entry.1.Name=n&MessageAttributes.entry.1.Value.DataType=Binary\
            &MessageAttributes.entry.1.Value.BinaryValue=AQI%3D";
        let p = Params::decode("", body.as_bytes());
        assert_eq!(p.get("Action"), Some("X"));
        let m = p.map("Attributes");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "2");
        assert_eq!(p.tags("Tags").unwrap()["k"], "v");
        assert_eq!(p.members("TagKeys"), vec!["a", "b"]);
        let a = p.message_attributes("MessageAttributes").unwrap();
        assert_eq!(a["n"].binary_value, Some(vec![1, 2]));
        assert!(p.required("Name").unwrap_err().message.contains("'name'"));
    }
}
