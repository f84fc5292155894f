//! What a target receives of an event: the whole event, a constant `Input`, the part an
//! `InputPath` names, or an `InputTransformer`'s template filled from the event.
//!
//! Templates follow AWS's rules: a `<var>` inside a JSON string is replaced by the value's
//! text (a string without its quotes, escaped for the string it lands in); outside a string
//! it is replaced by the value's JSON. A template that is not JSON (a bare sentence) is sent
//! as text, each variable replaced by its text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most entries of an `InputPathsMap`.
pub const MAX_PATHS: usize = 100;
/// The longest `InputTemplate`.
pub const MAX_TEMPLATE: usize = 8192;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_paths_map: BTreeMap<String, String>,
    #[serde(default)]
    pub input_template: String,
}

/// What rule fired, for the predefined `<aws.events.*>` variables.
pub struct Context<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    pub ingestion_time: &'a str,
}

/// Checks a JSONPath of the subset accepted: `$`, then `.name` or `['name']` or `[n]` steps.
pub fn check_path(path: &str) -> Result<(), String> {
    steps(path)
        .map(|_| ())
        .ok_or_else(|| format!("Invalid JSONPath: {path}"))
}

/// Checks a transformer as PutTargets does: names, paths and the template's size.
pub fn check_transformer(t: &InputTransformer) -> Result<(), String> {
    if t.input_paths_map.len() > MAX_PATHS {
        return Err(format!(
            "InputPathsMap must have at most {MAX_PATHS} entries"
        ));
    }
    for (name, path) in &t.input_paths_map {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid || name.starts_with("aws.") {
            return Err(format!("Invalid InputPathsMap key: {name}"));
        }
        check_path(path)?;
    }
    if t.input_template.is_empty() || t.input_template.chars().count() > MAX_TEMPLATE {
        return Err(format!(
            "InputTemplate must be between 1 and {MAX_TEMPLATE} characters"
        ));
    }
    Ok(())
}

enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// The value at `path` in `event`, if there is one.
pub fn select<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    steps(path)?.iter().try_fold(event, |v, s| match s {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// The payload for a target: `input` wins, then `input_path`, then `transformer`, else the
/// whole event.
pub fn payload(
    event: &Value,
    input: Option<&str>,
    input_path: Option<&str>,
    transformer: Option<&InputTransformer>,
    ctx: &Context<'_>,
) -> String {
    if let Some(input) = input {
        return input.to_string();
    }
    if let Some(path) = input_path {
        return select(event, path).map_or_else(|| "null".into(), Value::to_string);
    }
    match transformer {
        Some(t) => fill(t, event, ctx),
        None => event.to_string(),
    }
}

/// Fills a transformer's template from `event`.
pub fn fill(t: &InputTransformer, event: &Value, ctx: &Context<'_>) -> String {
    let lookup = |name: &str| -> Option<Value> {
        match name {
            "aws.events.rule-arn" => Some(Value::from(ctx.rule_arn)),
            "aws.events.rule-name" => Some(Value::from(ctx.rule_name)),
            "aws.events.event.ingestion-time" => Some(Value::from(ctx.ingestion_time)),
            "aws.events.event" | "aws.events.event.json" => Some(event.clone()),
            _ => t
                .input_paths_map
                .get(name)
                .map(|p| select(event, p).cloned().unwrap_or(Value::Null)),
        }
    };
    let template = &t.input_template;
    let json_like = matches!(template.trim_start().chars().next(), Some('{' | '[' | '"'));
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                if let Some(v) = lookup(name) {
                    out.push_str(&render(&v, in_string || !json_like));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        if json_like {
            if escaped {
                escaped = false;
            } else if c == '\\' && in_string {
                escaped = true;
            } else if c == '"' {
                in_string = !in_string;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A value as it lands in the template: inside a string its text (escaped for a JSON
/// string), elsewhere its JSON.
fn render(v: &Value, as_text: bool) -> String {
    if !as_text {
        return v.to_string();
    }
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let quoted = Value::from(text).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context<'static> {
        Context {
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r",
            rule_name: "r",
            ingestion_time: "2026-12-06T05:00:00Z",
        }
    }

    fn event() -> Value {
        json!({"id": "e1", "time": "2026-12-06T05:00:00Z", "detail": {
            "instance-id": "i-123", "state": "RUNNING", "count": 3, "tags": ["a", "b"]}})
    }

    fn transformer(paths: &[(&str, &str)], template: &str) -> InputTransformer {
        InputTransformer {
            input_paths_map: paths
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            input_template: template.into(),
        }
    }

    #[test]
    fn input_and_input_path() {
        let e = event();
        assert_eq!(
            payload(&e, Some("{\"k\":1}"), None, None, &ctx()),
            "{\"k\":1}"
        );
        assert_eq!(
            payload(&e, None, Some("$.detail.state"), None, &ctx()),
            "\"RUNNING\""
        );
        assert_eq!(
            payload(&e, None, Some("$.detail.tags[1]"), None, &ctx()),
            "\"b\""
        );
        assert_eq!(payload(&e, None, None, None, &ctx()), e.to_string());
    }

    #[test]
    fn json_templates_quote_by_position() {
        let t = transformer(
            &[
                ("instance", "$.detail.instance-id"),
                ("state", "$.detail.state"),
                ("n", "$.detail.count"),
                ("tags", "$.detail.tags"),
            ],
            r#"{"msg": "<instance> is <state>", "state": <state>, "n": <n>, "tags": <tags>, "rule": "<aws.events.rule-name>"}"#,
        );
        let out: Value = serde_json::from_str(&fill(&t, &event(), &ctx())).unwrap();
        assert_eq!(
            out,
            json!({"msg": "i-123 is RUNNING", "state": "RUNNING", "n": 3, "tags": ["a", "b"], "rule": "r"})
        );
    }

    #[test]
    fn string_templates_and_escaping() {
        let t = transformer(&[("state", "$.detail.state")], r#""The state is <state>""#);
        assert_eq!(fill(&t, &event(), &ctx()), r#""The state is RUNNING""#);
        let t = transformer(&[("state", "$.detail.state")], "state <state> now");
        assert_eq!(fill(&t, &event(), &ctx()), "state RUNNING now");
        let quoted = json!({"detail": {"q": "say \"hi\""}});
        let t = transformer(&[("q", "$.detail.q")], r#"{"q": "<q>"}"#);
        let out: Value = serde_json::from_str(&fill(&t, &quoted, &ctx())).unwrap();
        assert_eq!(out["q"], "say \"hi\"");
        // The whole event, predefined.
        let t = transformer(&[], r#"{"e": <aws.events.event>}"#);
        let out: Value = serde_json::from_str(&fill(&t, &event(), &ctx())).unwrap();
        assert_eq!(out["e"], event());
    }

    #[test]
    fn bad_transformers_are_refused() {
        assert!(check_transformer(&transformer(&[("ok", "$.detail")], "<ok>")).is_ok());
        assert!(check_transformer(&transformer(&[("aws.x", "$.detail")], "x")).is_err());
        assert!(check_transformer(&transformer(&[("a", "detail")], "x")).is_err());
        assert!(check_transformer(&transformer(&[("a b", "$.a")], "x")).is_err());
        assert!(check_transformer(&transformer(&[], "")).is_err());
    }
}
