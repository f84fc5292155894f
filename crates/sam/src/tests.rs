//! Each case in `tests/cases` is a SAM template (`<name>.input.json`) and what the transform
//! must make of it (`<name>.output.json`), compared as JSON; `<name>.error.txt` holds the
//! message of a template that must fail.

use std::path::Path;

use serde_json::Value;

use crate::{transform, Context};

fn ctx() -> Context {
    Context {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        stack_name: "app".into(),
        partition: "aws".into(),
    }
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("cases directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".input.json").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "only {} cases found", names.len());
    let mut failed = Vec::new();
    for name in &names {
        let input = read(&dir.join(format!("{name}.input.json")));
        let result = transform(&input, &ctx());
        let error_file = dir.join(format!("{name}.error.txt"));
        if error_file.exists() {
            let expected = std::fs::read_to_string(&error_file).unwrap();
            match result {
                Err(e) if e.to_string() == expected.trim_end() => {}
                Err(e) => failed.push(format!(
                    "{name}: error\n  got:      {e}\n  expected: {}",
                    expected.trim_end()
                )),
                Ok(v) => failed.push(format!("{name}: expected an error, got {v}")),
            }
            continue;
        }
        let expected = read(&dir.join(format!("{name}.output.json")));
        match result {
            Ok(got) if got == expected => {}
            Ok(got) => failed.push(format!(
                "{name}: output differs\n  got:      {}\n  expected: {}",
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&expected).unwrap()
            )),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        names.len(),
        failed.join("\n")
    );
}

#[test]
fn deep_nesting_is_refused_before_any_recursion() {
    let mut v = serde_json::json!("leaf");
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    let mut template = serde_json::json!({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}});
    template["Resources"]["T"]["Metadata"] = v;
    let err = transform(&template, &ctx()).expect_err("too deep");
    assert!(
        err.to_string().contains("nested more than 200 levels"),
        "{err}"
    );
    // Values are dropped iteratively here, as serde_json's drop of so deep a value recurses.
    let mut stack = vec![template];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    for v in [
        serde_json::json!(null),
        serde_json::json!([1]),
        serde_json::json!({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": []}}}),
        serde_json::json!({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": 1, "Events": {"E": 3}}}}}),
        serde_json::json!({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"InlineCode": "x", "Handler": "a", "Runtime": "python3.12", "Events": {"E": {"Type": "S3", "Properties": {"Bucket": {"Ref": "F"}, "Events": 1}}}}}}}),
        serde_json::json!({"Globals": [], "Resources": {}}),
        serde_json::json!({"Resources": {"A": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": {"Authorizers": {"J": {"JwtConfiguration": 5}}}}}}}),
    ] {
        assert!(transform(&v, &ctx()).is_err(), "{v}");
    }
}

/// Every value of every case's template, one at a time, replaced by values of the other JSON
/// types: the transform must answer (a template or an error) and never panic.
#[test]
fn no_panic_when_any_value_is_replaced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let hostile = [
        serde_json::json!(null),
        serde_json::json!(7),
        serde_json::json!("x"),
        serde_json::json!([{"Ref": "Nope"}]),
        serde_json::json!({"Ref": "Nope"}),
        serde_json::json!({}),
    ];
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).expect("cases directory") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".input.json") {
            continue;
        }
        let input = read(&path);
        let mut pointers = Vec::new();
        collect_pointers(&input, String::new(), &mut pointers);
        for pointer in &pointers {
            for value in &hostile {
                let mut mutated = input.clone();
                if let Some(slot) = mutated.pointer_mut(pointer) {
                    *slot = value.clone();
                }
                let _ = transform(&mutated, &ctx());
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "only {tried} mutations tried");
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                collect_pointers(v, format!("{at}/{key}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                collect_pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn other_transforms_in_a_list_are_kept() {
    let template = serde_json::json!({
        "Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}
    });
    let out = transform(&template, &ctx()).expect("transformed");
    assert_eq!(
        out["Transform"],
        serde_json::json!(["AWS::LanguageExtensions"])
    );
    let only = serde_json::json!({
        "Transform": ["AWS::Serverless-2016-10-31"],
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}
    });
    assert!(transform(&only, &ctx())
        .expect("transformed")
        .get("Transform")
        .is_none());
}
