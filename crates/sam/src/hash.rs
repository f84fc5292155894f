//! SAM's stable logical ids: a prefix and the first 10 hex digits of the SHA-1 of the data,
//! serialised exactly as Python's `json.dumps(data, separators=(",", ":"), sort_keys=True)`
//! does, so an unchanged template keeps the ids AWS's translator gives it.

use serde_json::Value;
use sha1::{Digest, Sha1};

/// `prefix` followed by the hash of `data` (a string is hashed as is, as SAM does).
pub(crate) fn logical_id(prefix: &str, data: &Value) -> String {
    let text = match data {
        Value::String(s) => s.clone(),
        other => {
            let mut s = String::new();
            python_json(other, &mut s);
            s
        }
    };
    let digest = Sha1::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..10])
}

fn python_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&python_number(n)),
        Value::String(s) => python_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            // Sorted by code point, as Python sorts str keys (byte order of UTF-8 is the same).
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_string(k, out);
                out.push(':');
                python_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr` of an int or a float (`1.0`, `1e+16`, `1.5e-07`).
fn python_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python writes at least two exponent digits and always a sign.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// A JSON string with `ensure_ascii`: everything past ASCII as `\uXXXX` (surrogate pairs).
fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dumps(v: &Value) -> String {
        let mut s = String::new();
        python_json(v, &mut s);
        s
    }

    #[test]
    fn serialises_as_python_json_dumps() {
        let v = json!({"b": [1, 2.5, true, null], "a": "é\"\n", "c": {"z": 1e20, "y": 1.0}});
        assert_eq!(
            dumps(&v),
            r#"{"a":"\u00e9\"\n","b":[1,2.5,true,null],"c":{"y":1.0,"z":1e+20}}"#
        );
        assert_eq!(dumps(&json!("\u{1F600}\u{7f}")), r#""\ud83d\ude00\u007f""#);
    }

    #[test]
    fn hashes_as_sam_does() {
        // From SAM's own translation of {"S3Bucket": "bucket", "S3Key": "key.zip"}.
        let code = json!({"S3Bucket": "bucket", "S3Key": "key.zip"});
        assert_eq!(
            logical_id("HelloFunctionVersion", &code),
            "HelloFunctionVersion32edd06e5c"
        );
    }
}
