use super::*;
use crate::template::{read_body, Template};
use serde_json::json;

struct Fake;

impl Resolver for Fake {
    fn reference(&self, id: &str) -> Result<Value> {
        Ok(Value::String(format!("phys-{id}")))
    }
    fn attribute(&self, id: &str, attr: &str) -> Result<Value> {
        Ok(Value::String(format!("{id}.{attr}")))
    }
    fn import(&self, name: &str) -> Option<String> {
        (name == "Shared").then(|| "imported".to_string())
    }
}

const TEMPLATE: &str = r#"
Parameters:
  Env: {Type: String, Default: prod}
  Sizes: {Type: CommaDelimitedList, Default: "1,2,3"}
Mappings:
  Regions:
    us-east-1: {Ami: ami-1}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Condition IsDev, !Equals [1, "1"]]]
Resources:
  B:
    Type: AWS::S3::Bucket
"#;

fn with<T>(f: impl FnOnce(&Context) -> T) -> T {
    let template = Template::from_value(read_body(TEMPLATE).unwrap()).unwrap();
    let params = crate::params::resolve(
        &template.parameters,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let pseudo = Pseudo {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        stack_name: "app".into(),
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/x".into(),
        partition: "aws".into(),
        url_suffix: "amazonaws.com".into(),
        notification_arns: vec![],
    };
    let conditions = evaluate_conditions(&template, &params, &pseudo).unwrap();
    let ctx = Context {
        template: &template,
        params: &params,
        pseudo: &pseudo,
        conditions: &conditions,
        resolver: &Fake,
    };
    f(&ctx)
}

fn eval(v: Value) -> Result<Option<Value>> {
    with(|c| c.eval(&v))
}

#[test]
fn conditions_evaluate_and_name_each_other() {
    with(|c| {
        assert!(c.conditions["IsProd"]);
        assert!(!c.conditions["IsDev"]);
        assert!(c.conditions["Both"]);
    });
}

#[test]
fn ref_getatt_and_pseudo_parameters() {
    assert_eq!(eval(json!({"Ref": "B"})).unwrap(), Some(json!("phys-B")));
    assert_eq!(eval(json!({"Ref": "Env"})).unwrap(), Some(json!("prod")));
    assert_eq!(
        eval(json!({"Ref": "Sizes"})).unwrap(),
        Some(json!(["1", "2", "3"]))
    );
    assert_eq!(
        eval(json!({"Ref": "AWS::Region"})).unwrap(),
        Some(json!("us-east-1"))
    );
    assert_eq!(eval(json!({"Ref": "AWS::NoValue"})).unwrap(), None);
    assert_eq!(
        eval(json!({"Fn::GetAtt": ["B", "Arn"]})).unwrap(),
        Some(json!("B.Arn"))
    );
    assert_eq!(
        eval(json!({"Fn::GetAtt": "B.Arn"})).unwrap(),
        Some(json!("B.Arn"))
    );
}

#[test]
fn sub_both_forms_and_literals() {
    assert_eq!(
        eval(json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${B}/${B.Arn}/${!Literal}"})).unwrap(),
        Some(json!("arn:aws:s3:::phys-B/B.Arn/${Literal}"))
    );
    assert_eq!(
        eval(json!({"Fn::Sub": ["${X}-${Env}", {"X": {"Ref": "AWS::AccountId"}}]})).unwrap(),
        Some(json!("123456789012-prod"))
    );
    let e = eval(json!({"Fn::Sub": "${bad name}"})).unwrap_err();
    assert_eq!(e.message, "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, periods, and colons");
}

#[test]
fn join_select_split_base64_azs_map() {
    assert_eq!(
        eval(json!({"Fn::Join": ["-", ["a", 1, {"Ref": "Env"}]]})).unwrap(),
        Some(json!("a-1-prod"))
    );
    assert_eq!(
        eval(json!({"Fn::Select": ["1", {"Ref": "Sizes"}]})).unwrap(),
        Some(json!("2"))
    );
    assert_eq!(
        eval(json!({"Fn::Split": [",", "a,b"]})).unwrap(),
        Some(json!(["a", "b"]))
    );
    assert_eq!(
        eval(json!({"Fn::Base64": "hi"})).unwrap(),
        Some(json!("aGk="))
    );
    assert_eq!(
        eval(json!({"Fn::GetAZs": ""})).unwrap(),
        Some(json!(["us-east-1a", "us-east-1b", "us-east-1c"]))
    );
    assert_eq!(
        eval(json!({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Ami"]})).unwrap(),
        Some(json!("ami-1"))
    );
    assert_eq!(
        eval(json!({"Fn::FindInMap": ["Regions", "eu-west-1", "Ami"]}))
            .unwrap_err()
            .message,
        "Template error: Unable to get mapping for Regions::eu-west-1::Ami"
    );
    assert_eq!(
        eval(json!({"Fn::Select": [5, ["a"]]})).unwrap_err().message,
        "Template error: Fn::Select cannot select nonexistent value at index 5"
    );
    assert!(eval(json!({"Fn::Join": ["-"]}))
        .unwrap_err()
        .message
        .starts_with("Template error: every Fn::Join object requires two parameters"));
}

#[test]
fn if_and_novalue_drop_keys_and_items() {
    let v = eval(json!({
        "A": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
        "B": {"Fn::If": ["IsProd", "yes", "no"]},
        "L": ["a", {"Ref": "AWS::NoValue"}, "b"]
    }))
    .unwrap()
    .unwrap();
    assert_eq!(v, json!({"B": "yes", "L": ["a", "b"]}));
}

#[test]
fn import_value() {
    assert_eq!(
        eval(json!({"Fn::ImportValue": "Shared"})).unwrap(),
        Some(json!("imported"))
    );
    assert_eq!(
        eval(json!({"Fn::ImportValue": {"Fn::Sub": "${AWS::StackName}-x"}}))
            .unwrap_err()
            .message,
        "No export named app-x found."
    );
}

#[test]
fn conditions_cannot_name_resources_or_cycle() {
    let read = |t: &str| Template::from_value(read_body(t).unwrap()).unwrap();
    let p = Pseudo::default();
    let t = read(
        "Conditions:\n  C: !Equals [!Ref B, x]\nResources:\n  B:\n    Type: AWS::S3::Bucket\n",
    );
    let e = evaluate_conditions(&t, &Default::default(), &p).unwrap_err();
    assert_eq!(e.message, "Template format error: Unresolved dependencies [B]. Cannot reference resources in the Conditions block of the template");
    let t = read("Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\nResources:\n  R:\n    Type: AWS::S3::Bucket\n");
    assert!(evaluate_conditions(&t, &Default::default(), &p)
        .unwrap_err()
        .message
        .contains("Circular dependency between conditions"));
}
