//! YAML templates to JSON values, CloudFormation's way: the short-form tags (`!Ref`, `!Sub`,
//! `!GetAtt A.B`...) become their long forms while the tree is built, plain scalars become
//! booleans, numbers and nulls as the YAML core schema reads them, and quoted ones stay
//! strings.
//!
//! The tree is built from the parser's events on an explicit stack (no recursion), with the
//! depth and the number of nodes (aliases included, so an alias bomb cannot blow up) bounded.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper documents are refused: every later pass over the tree recurses.
pub const MAX_DEPTH: usize = 100;
/// Nodes a document may expand to, aliases counted each time they are used.
pub const MAX_NODES: usize = 1_000_000;

/// A node under construction: its container and the tag that applies when it closes.
enum Open {
    Seq(Vec<Value>, Option<Tag>, usize),
    Map(
        Map<String, Value>,
        Option<String>,
        Option<Tag>,
        usize,
        Marker,
    ),
}

pub fn parse(text: &str) -> Result<Value, String> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut nodes = 0usize;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| not_well_formed(e.marker()))?;
        let done = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => None,
            Event::Alias(id) => {
                let value = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| not_well_formed(&mark))?;
                nodes += count(&value);
                Some((value, 0))
            }
            Event::Scalar(text, style, anchor, tag) => Some((
                tagged(scalar(text, style, tag.as_ref()), tag, &mark)?,
                anchor,
            )),
            Event::SequenceStart(anchor, tag) => {
                push_depth(&stack, &mark)?;
                stack.push(Open::Seq(Vec::new(), tag, anchor));
                None
            }
            Event::MappingStart(anchor, tag) => {
                push_depth(&stack, &mark)?;
                stack.push(Open::Map(Map::new(), None, tag, anchor, mark));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, tag, anchor)) => {
                    Some((tagged(Value::Array(items), tag, &mark)?, anchor))
                }
                Some(Open::Map(map, _, tag, anchor, _)) => {
                    Some((tagged(Value::Object(map), tag, &mark)?, anchor))
                }
                None => return Err(not_well_formed(&mark)),
            },
        };
        let Some((value, anchor)) = done else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err("Template format error: YAML template is too large.".into());
        }
        if anchor > 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(value);
                }
            }
            Some(Open::Seq(items, _, _)) => items.push(value),
            Some(Open::Map(map, key, _, _, start)) => match key.take() {
                None => *key = Some(key_text(value).ok_or_else(|| not_well_formed(&mark))?),
                Some(k) => {
                    if map.contains_key(&k) {
                        return Err(format!(
                            "Template format error: YAML not well-formed. (line {}, column {})",
                            start.line(),
                            start.col() + 1
                        ));
                    }
                    map.insert(k, value);
                }
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn push_depth(stack: &[Open], mark: &Marker) -> Result<(), String> {
    if stack.len() >= MAX_DEPTH {
        return Err(not_well_formed(mark));
    }
    Ok(())
}

fn not_well_formed(mark: &Marker) -> String {
    format!(
        "Template format error: YAML not well-formed. (line {}, column {})",
        mark.line(),
        mark.col() + 1
    )
}

fn count(value: &Value) -> usize {
    // Iterative, like everything that walks an untrusted tree here.
    let mut todo = vec![value];
    let mut n = 0;
    while let Some(v) = todo.pop() {
        n += 1;
        match v {
            Value::Array(items) => todo.extend(items.iter()),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    n
}

/// A mapping key: scalars only, written as CloudFormation reads them.
fn key_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// A scalar's value: quoted, block and explicitly `!!str`-tagged scalars are strings; plain
/// ones follow the core schema. A CloudFormation tag's scalar is always a string.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.handle == "!" || t.suffix == "str") {
        return Value::String(text);
    }
    match text.as_str() {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(n) = number(&text) {
        return Value::Number(n);
    }
    Value::String(text)
}

fn number(text: &str) -> Option<Number> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        // A leading zero is kept as a string, as YAML 1.2 would not read it as octal either
        // and a template's "0123" is an account or an id, not a number.
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        return text.parse::<i64>().ok().map(Number::from);
    }
    let valid = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// Applies a short-form tag: `!Ref x` → `{"Ref": x}`, `!GetAtt A.B` → `{"Fn::GetAtt": [A, B]}`,
/// `!Condition c` → `{"Condition": c}`, `!Name v` → `{"Fn::Name": v}`.
fn tagged(value: Value, tag: Option<Tag>, mark: &Marker) -> Result<Value, String> {
    let Some(tag) = tag else { return Ok(value) };
    if tag.handle != "!" {
        return Ok(value);
    }
    let name = tag.suffix.as_str();
    let key = match name {
        "Ref" | "Condition" => name.to_string(),
        "GetAtt" => {
            let value = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((a, b)) => Value::Array(vec![a.into(), b.into()]),
                    None => Value::String(s),
                },
                other => other,
            };
            return Ok(single("Fn::GetAtt", value));
        }
        "Sub" | "Join" | "If" | "Equals" | "Select" | "Split" | "FindInMap" | "GetAZs"
        | "Base64" | "ImportValue" | "Not" | "And" | "Or" | "Cidr" | "Length" | "ToJsonString"
        | "Transform" => format!("Fn::{name}"),
        _ => {
            return Err(format!(
                "Template format error: YAML not well-formed. (line {}, column {})",
                mark.line(),
                mark.col() + 1
            ))
        }
    };
    Ok(single(&key, value))
}

fn single(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_string(), value);
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "A: !Ref X\nB: !GetAtt Fn.Arn\nC: !Sub 'x-${AWS::Region}'\nD: !Join ['', [a, !Ref B]]\n\
             E: !If [Cond, 1, !Ref AWS::NoValue]\nF: !Condition IsProd\nG: !GetAZs ''\n\
             H: !Select [0, !Split [',', 'a,b']]\nI: !FindInMap [M, K, V]\nJ: !Base64 hi\n\
             K: !ImportValue Exp\nL: !Not [!Equals [a, b]]\nM: !And [!Condition A, !Or [!Condition B]]\n",
        )
        .unwrap();
        assert_eq!(v["A"], json!({"Ref": "X"}));
        assert_eq!(v["B"], json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        assert_eq!(v["C"], json!({"Fn::Sub": "x-${AWS::Region}"}));
        assert_eq!(v["D"], json!({"Fn::Join": ["", ["a", {"Ref": "B"}]]}));
        assert_eq!(
            v["E"],
            json!({"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(v["F"], json!({"Condition": "IsProd"}));
        assert_eq!(v["G"], json!({"Fn::GetAZs": ""}));
        assert_eq!(
            v["H"],
            json!({"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]})
        );
        assert_eq!(v["I"], json!({"Fn::FindInMap": ["M", "K", "V"]}));
        assert_eq!(v["J"], json!({"Fn::Base64": "hi"}));
        assert_eq!(v["K"], json!({"Fn::ImportValue": "Exp"}));
        assert_eq!(v["L"], json!({"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}));
        assert_eq!(
            v["M"],
            json!({"Fn::And": [{"Condition": "A"}, {"Fn::Or": [{"Condition": "B"}]}]})
        );
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let v = parse("a: 1\nb: '1'\nc: true\nd: 1.5\ne: ~\nf: 0123\ng: 2010-09-09\nh: |\n  x\n")
            .unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": null,
            "f": "0123", "g": "2010-09-09", "h": "x\n"})
        );
        // A tag's scalar stays a string even when it looks like a number.
        assert_eq!(parse("a: !Ref 10").unwrap(), json!({"a": {"Ref": "10"}}));
        // The sequence form of GetAtt is kept.
        assert_eq!(
            parse("a: !GetAtt [R, Arn]").unwrap(),
            json!({"a": {"Fn::GetAtt": ["R", "Arn"]}})
        );
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let v = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(v["b"], json!({"k": "v"}));
    }

    #[test]
    fn bad_yaml_names_its_line() {
        let e = parse("a: [1, 2\nb: c").unwrap_err();
        assert!(
            e.starts_with("Template format error: YAML not well-formed. (line"),
            "{e}"
        );
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(
            e.starts_with("Template format error: YAML not well-formed."),
            "{e}"
        );
        assert!(parse("a: !Bogus x").is_err());
    }

    #[test]
    fn hostile_documents_are_bounded() {
        let deep = "[".repeat(5000);
        assert!(parse(&deep).is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb += &format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n");
        }
        assert!(parse(&bomb).unwrap_err().contains("too large"));
    }
}
