//! Examples from AWS's "Content filtering in Amazon EventBridge event patterns" and the
//! TestEventPattern examples, each with events that must and must not match.

use serde_json::json;

use super::*;

fn p(text: &str) -> Pattern {
    Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn reason(text: &str) -> String {
    Pattern::parse(text).unwrap_err().0
}

/// The EC2 state-change event the docs use throughout.
fn ec2() -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated",
                   "c-count": 5, "d-count": 3, "x-limit": 301.8,
                   "source-ip": "10.0.0.123", "ipv6": "2001:db8::1"}
    })
}

#[test]
fn exact_values_and_arrays_as_or() {
    let e = ec2();
    assert!(p(r#"{"source": ["aws.ec2"]}"#).matches(&e));
    assert!(p(r#"{"source": ["aws.s3", "aws.ec2"]}"#).matches(&e));
    assert!(!p(r#"{"source": ["aws.s3"]}"#).matches(&e));
    assert!(p(r#"{"detail": {"state": ["terminated"]}}"#).matches(&e));
    assert!(!p(r#"{"detail": {"state": ["running"]}}"#).matches(&e));
    // A field the event does not have never matches a value.
    assert!(!p(r#"{"detail": {"nope": ["x"]}}"#).matches(&e));
    // Every field must match.
    assert!(!p(r#"{"source": ["aws.ec2"], "detail-type": ["other"]}"#).matches(&e));
}

#[test]
fn numbers_match_numerically_and_not_strings() {
    let pat = p(r#"{"detail": {"c-count": [5]}}"#);
    assert!(pat.matches(&json!({"detail": {"c-count": 5.0}})));
    assert!(pat.matches(&json!({"detail": {"c-count": 5}})));
    assert!(!pat.matches(&json!({"detail": {"c-count": "5"}})));
    assert!(!p(r#"{"detail": {"c-count": ["5"]}}"#).matches(&ec2()));
}

#[test]
fn null_booleans_and_empty_strings() {
    let pat = p(r#"{"detail": {"responseElements": [null]}}"#);
    assert!(pat.matches(&json!({"detail": {"responseElements": null}})));
    assert!(!pat.matches(&json!({"detail": {}})));
    let pat = p(r#"{"detail": {"eventVersion": [""]}}"#);
    assert!(pat.matches(&json!({"detail": {"eventVersion": ""}})));
    assert!(!pat.matches(&json!({"detail": {"eventVersion": null}})));
    let pat = p(r#"{"detail": {"ok": [true]}}"#);
    assert!(pat.matches(&json!({"detail": {"ok": true}})));
    assert!(!pat.matches(&json!({"detail": {"ok": "true"}})));
}

#[test]
fn event_arrays_match_when_any_element_does() {
    let pat = p(
        r#"{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}"#,
    );
    let e = json!({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]});
    assert!(pat.matches(&e));
    assert!(!pat.matches(&json!({"resources": ["arn:aws:ec2:us-east-1:999:instance/x"]})));
    // Arrays of objects: any element may match the nested pattern.
    let pat = p(r#"{"detail": {"items": {"sku": ["a1"]}}}"#);
    assert!(pat.matches(&json!({"detail": {"items": [{"sku": "b2"}, {"sku": "a1"}]}})));
    assert!(!pat.matches(&json!({"detail": {"items": [{"sku": "b2"}]}})));
}

#[test]
fn prefix_and_suffix() {
    let pat = p(r#"{"time": [{"prefix": "2017-10-02"}]}"#);
    assert!(pat.matches(&json!({"time": "2017-10-02T18:43:48Z"})));
    assert!(!pat.matches(&json!({"time": "2017-10-03T18:43:48Z"})));
    assert!(!pat.matches(&json!({"time": 20171002})));
    let pat = p(r#"{"source": [{"prefix": {"equals-ignore-case": "EventBridge"}}]}"#);
    assert!(pat.matches(&json!({"source": "eventbridge.test"})));
    assert!(!pat.matches(&json!({"source": "event"})));
    let pat = p(r#"{"FileName": [{"suffix": ".png"}]}"#);
    assert!(pat.matches(&json!({"FileName": "image.png"})));
    assert!(!pat.matches(&json!({"FileName": "image.PNG"})));
    let pat = p(r#"{"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}"#);
    assert!(pat.matches(&json!({"FileName": "image.PNG"})));
}

#[test]
fn anything_but_forms() {
    let e = |state: Value| json!({"detail": {"state": state}});
    let pat = p(r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#);
    assert!(pat.matches(&e(json!("running"))));
    assert!(!pat.matches(&e(json!("initializing"))));
    // The field must exist.
    assert!(!pat.matches(&json!({"detail": {}})));
    let pat = p(r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#);
    assert!(pat.matches(&e(json!("running"))));
    assert!(!pat.matches(&e(json!("stopped"))));
    let pat = p(r#"{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}"#);
    assert!(pat.matches(&json!({"detail": {"x-limit": 301.8}})));
    assert!(!pat.matches(&json!({"detail": {"x-limit": 300.0}})));
    let pat = p(r#"{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}"#);
    assert!(pat.matches(&e(json!("running"))));
    assert!(!pat.matches(&e(json!("initializing"))));
    let pat = p(r#"{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}"#);
    assert!(pat.matches(&json!({"detail": {"FileName": "a.png"}})));
    assert!(!pat.matches(&json!({"detail": {"FileName": "a.txt"}})));
    let pat = p(r#"{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}"#);
    assert!(pat.matches(&json!({"detail": {"FilePath": "/usr/bin/x"}})));
    assert!(!pat.matches(&json!({"detail": {"FilePath": "/usr/lib/x"}})));
    let pat =
        p(r#"{"detail": {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}}"#);
    assert!(!pat.matches(&json!({"detail": {"FilePath": "/usr/bin/x"}})));
    assert!(pat.matches(&json!({"detail": {"FilePath": "/usr/share/x"}})));
    let pat = p(
        r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}}"#,
    );
    assert!(!pat.matches(&e(json!("STOPPED"))));
    assert!(pat.matches(&e(json!("running"))));
}

#[test]
fn numeric_ranges() {
    let pat = p(r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}"#);
    assert!(pat.matches(&ec2()));
    let pat = p(r#"{"detail": {"c-count": [{"numeric": [">", 5]}]}}"#);
    assert!(!pat.matches(&ec2()));
    let pat = p(r#"{"detail": {"c-count": [{"numeric": [">=", 5]}]}}"#);
    assert!(pat.matches(&ec2()));
    assert!(!pat.matches(&json!({"detail": {"c-count": "7"}})));
}

#[test]
fn exists() {
    let pat = p(r#"{"detail": {"state": [{"exists": true}]}}"#);
    assert!(pat.matches(&ec2()));
    assert!(!pat.matches(&json!({"detail": {}})));
    let pat = p(r#"{"detail": {"state": [{"exists": false}]}}"#);
    assert!(!pat.matches(&ec2()));
    assert!(pat.matches(&json!({"detail": {}})));
    // Exists works on leaves only: an object is not a leaf.
    let pat = p(r#"{"detail": [{"exists": true}]}"#);
    assert!(!pat.matches(&ec2()));
}

#[test]
fn cidr_v4_and_v6() {
    let pat = p(r#"{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}"#);
    assert!(pat.matches(&ec2()));
    assert!(!pat.matches(&json!({"detail": {"source-ip": "10.0.1.5"}})));
    assert!(!pat.matches(&json!({"detail": {"source-ip": "not an ip"}})));
    let pat = p(r#"{"detail": {"ipv6": [{"cidr": "2001:db8::/32"}]}}"#);
    assert!(pat.matches(&ec2()));
    assert!(!pat.matches(&json!({"detail": {"ipv6": "2001:db9::1"}})));
    let pat = p(r#"{"detail": {"source-ip": [{"cidr": "10.0.0.123/32"}]}}"#);
    assert!(pat.matches(&ec2()));
}

#[test]
fn equals_ignore_case_and_wildcards() {
    let pat =
        p(r#"{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}"#);
    assert!(pat.matches(&ec2()));
    let pat = p(r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#);
    assert!(pat.matches(&json!({"EventBusArn": "arn:aws:events:us-east-1:123:event-bus/x"})));
    assert!(!pat.matches(&json!({"EventBusArn": "arn:aws:events:us-west-2:123:event-bus/x"})));
    let pat = p(r#"{"f": [{"wildcard": "*.png"}]}"#);
    assert!(pat.matches(&json!({"f": "dir/a.png"})));
    assert!(!pat.matches(&json!({"f": "dir/a.pngx"})));
    let pat = p(r#"{"f": [{"wildcard": "a\\*b"}]}"#);
    assert!(pat.matches(&json!({"f": "a*b"})));
    assert!(!pat.matches(&json!({"f": "axb"})));
    let pat = p(r#"{"f": [{"wildcard": "a*b*c"}]}"#);
    assert!(pat.matches(&json!({"f": "aXXbYYbc"})));
    assert!(!pat.matches(&json!({"f": "aXXcYYb"})));
}

#[test]
fn or_of_sub_patterns() {
    let pat = p(
        r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
        {"d-count": [{"numeric": ["<", 10]}]}, {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}"#,
    );
    assert!(pat.matches(&ec2()));
    assert!(pat.matches(&json!({"detail": {"d-count": 1}})));
    assert!(!pat.matches(&json!({"detail": {"d-count": 11}})));
    let pat = p(
        r#"{"source": ["aws.ec2"], "$or": [{"detail": {"state": ["running"]}},
        {"detail-type": [{"prefix": "EC2"}]}]}"#,
    );
    assert!(pat.matches(&ec2()));
    assert!(!pat.matches(&json!({"source": "aws.ec2", "detail-type": "x", "detail": {}})));
}

#[test]
fn invalid_patterns_get_aws_reasons() {
    assert_eq!(
        reason(r#"{"source": "aws.ec2"}"#),
        "\"source\" must be an object or an array"
    );
    assert_eq!(
        reason(r#"{"a": [{"foo": 1}]}"#),
        "Unrecognized match type foo"
    );
    assert_eq!(
        reason(r#"{"a": [{"prefix": 1}]}"#),
        "prefix match pattern must be a string"
    );
    assert_eq!(
        reason(r#"{"a": [{"exists": "yes"}]}"#),
        "exists match pattern must be either true or false."
    );
    assert_eq!(
        reason(r#"{"a": [{"numeric": [">", "x"]}]}"#),
        "Value of > must be numeric"
    );
    assert_eq!(
        reason(r#"{"a": [{"numeric": ["!", 1]}]}"#),
        "Unrecognized numeric range operator: !"
    );
    assert_eq!(
        reason(r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#),
        "Bottom must be less than top"
    );
    assert_eq!(
        reason(r#"{"a": [{"wildcard": "a**b"}]}"#),
        "Consecutive wildcard characters at pos 2"
    );
    assert_eq!(
        reason(r#"{"a": [{"cidr": "10.0.0.0/33"}]}"#),
        "Nonstandard IP address: 10.0.0.0/33"
    );
    assert_eq!(reason(r#"{"a": []}"#), "Empty arrays are not allowed");
    assert_eq!(
        reason(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
        "Only one key allowed in match expression"
    );
    assert_eq!(
        reason(r#"{"$or": [{"a": ["x"]}]}"#),
        "Or relationship must have at least 2 branches"
    );
    assert_eq!(reason("[1]"), "Filter is not an object");
    assert!(reason("{").starts_with("Filter is not valid JSON"));
    let e = Pattern::parse(r#"{"a": "b"}"#).unwrap_err().into_error();
    assert_eq!(e.code, "InvalidEventPatternException");
    assert!(e
        .message
        .starts_with("Event pattern is not valid. Reason: "));
}

#[test]
fn limits_are_enforced_before_the_work() {
    let long = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(MAX_PATTERN_CHARS));
    assert!(reason(&long).contains("exceeds the maximum"));
    // Deep nesting is refused at the limit, without recursing past it.
    let deep = format!("{}[1]{}", r#"{"a":"#.repeat(40), "}".repeat(40));
    assert!(reason(&deep).contains("nesting"));
    // Nested $or multiply: 11 × 11 × 11 branches is over 1000 combinations.
    let or11 = |inner: &str| {
        let branches: Vec<String> = (0..11)
            .map(|i| format!(r#"{{"f{i}": ["x"]{inner}}}"#))
            .collect();
        format!(r#"{{"$or": [{}]}}"#, branches.join(","))
    };
    let two = or11("");
    assert!(Pattern::parse(&two).is_ok());
    let three = format!(r#"{{"a": {}, "b": {}, "c": {}}}"#, two, two, two);
    assert!(reason(&three).contains("combinations"));
}

#[test]
fn wildcard_matching_stays_linear_on_hostile_input() {
    let pat = p(r#"{"f": [{"wildcard": "*a*a*a*a*a*a*a*a*a*b"}]}"#);
    let s = "a".repeat(5000);
    let start = std::time::Instant::now();
    assert!(!pat.matches(&json!({ "f": s })));
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}
