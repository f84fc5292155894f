//! Filter patterns against the examples of AWS's "Filter pattern syntax" page.

use super::*;

fn m(p: &str, msg: &str) -> bool {
    Pattern::parse(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .matches(msg)
}

fn invalid(p: &str) {
    assert_eq!(Pattern::parse(p).unwrap_err(), INVALID, "{p}");
}

#[test]
fn terms_phrases_options_and_exclusions() {
    assert!(m("", "anything"));
    assert!(m("ERROR db", "ERROR: db down"));
    assert!(!m("ERROR db", "ERROR: cache down"));
    assert!(!m("error", "ERROR"));
    assert!(m("\"db down\"", "ERROR: db down"));
    assert!(!m("\"db down\"", "down db"));
    assert!(m("?WARN ?ERROR", "WARN x"));
    assert!(!m("?WARN ?ERROR", "INFO x"));
    assert!(!m("ERROR -retrying", "ERROR retrying"));
    invalid("\"unterminated");
}

#[test]
fn regex_patterns() {
    assert!(m("%ERROR|WARN%", "a WARN here"));
    assert!(!m("%ERROR|WARN%", "INFO"));
    assert!(m("%[0-9]{3}%", "status 404"));
    invalid("%unclosed");
    invalid("%(%");
}

const CLOUDTRAIL: &str = r#"{
  "eventType": "UpdateTrail",
  "sourceIPAddress": "123.123.123.123",
  "arrayKey": ["value", "another value"],
  "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
  "SomeObject": null,
  "cognitoViaPoolId": true,
  "latency": 750,
  "user": {"id": 1, "email": "John.Doe@example.com"},
  "users": [{"id": 2, "email": "John.Doe@example.com"}]
}"#;

#[test]
fn json_comparisons_from_the_documentation() {
    let c = CLOUDTRAIL;
    assert!(m(r#"{ $.eventType = "UpdateTrail" }"#, c));
    assert!(!m(r#"{ $.eventType = "CreateTrail" }"#, c));
    assert!(m(
        "{ $.sourceIPAddress != 123.123.* }",
        &c.replace("123.123.123.123", "9.9.9.9")
    ));
    assert!(!m("{ $.sourceIPAddress != 123.123.* }", c));
    assert!(m(r#"{ $.arrayKey[0] = "value" }"#, c));
    assert!(m("{ $.objectList[1].id = 2 }", c));
    assert!(m("{ $.SomeObject IS NULL }", c));
    assert!(m("{ $.SomeOtherObject NOT EXISTS }", c));
    assert!(!m("{ $.eventType NOT EXISTS }", c));
    assert!(m("{ $.cognitoViaPoolId IS TRUE }", c));
    assert!(!m("{ $.cognitoViaPoolId IS FALSE }", c));
    assert!(m("{ $.latency > 500 }", c));
    assert!(m("{ $.latency >= 750 && $.latency <= 750 }", c));
    assert!(!m("{ $.latency < 500 }", c));
    assert!(m("{ $.latency != 5 }", c));
    assert!(m("{ $.eventType = Update* }", c));
    assert!(m(r#"{ $.eventType = "*Trail" }"#, c));
    assert!(m("{ $.eventType = %Up.ate% }", c));
    assert!(m(
        r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#,
        c
    ));
    assert!(m(
        r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.latency > 700 }"#,
        c
    ));
    assert!(!m(
        r#"{ ($.user.id = 2 && $.latency > 700) || $.x = 1 }"#,
        c
    ));
    // A missing field matches no comparison; a text event matches no JSON pattern.
    assert!(!m("{ $.missing != 1 }", c));
    assert!(!m(r#"{ $.level = "INFO" }"#, "INFO not json"));
}

#[test]
fn json_patterns_that_are_refused() {
    invalid("{ }");
    invalid("{ $.a = }");
    invalid("{ $.a > abc }");
    invalid("{ $.a = 1");
    invalid("{ a = 1 }");
    invalid("{ ($.a = 1 }");
    invalid("{ $.a IS MAYBE }");
    invalid("{ $.a = 1 && }");
    invalid("{ $.a[x] = 1 }");
}

#[test]
fn nesting_is_bounded() {
    let ok = format!(
        "{{ {}$.a = 1{} }}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(m(&ok, r#"{"a": 1}"#));
    let deep = format!("{{ {}$.a = 1{} }}", "(".repeat(400), ")".repeat(400));
    invalid(&deep);
    // Long flat chains add no depth.
    let long = format!("{{ {} }}", vec!["$.a = 1"; 50].join(" && "));
    assert!(m(&long, r#"{"a": 1}"#));
}

const ACCESS: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

#[test]
fn space_delimited_from_the_documentation() {
    let a = ACCESS;
    assert!(m(
        "[ip, user, username, timestamp, request, status_code, bytes]",
        a
    ));
    assert!(!m(
        "[ip, user, username, timestamp, request, status_code]",
        a
    ));
    assert!(m(
        "[ip, user, username, timestamp, request = \"*html*\", status_code = 4*, bytes]",
        a
    ));
    assert!(m("[ip, user, ..., status_code = 404, bytes > 1000]", a));
    assert!(!m("[ip, user, ..., status_code = 404, bytes > 2000]", a));
    assert!(m("[..., status_code = 500 || status_code = 404, bytes]", a));
    assert!(m("[ip = %127\\.0\\.0\\.[1-9]%, ...]", a));
    assert!(!m("[ip != 127.0.0.1, ...]", a));
    assert!(m("[..., size]", "a b 3"));
    assert!(!m("[a, b, c, d, ...]", "x y z"));
    let fields = Pattern::parse("[ip, user, ..., status_code, bytes]")
        .unwrap()
        .fields(a)
        .unwrap();
    assert_eq!(fields.get("$bytes").as_deref(), Some("1534"));
    assert_eq!(fields.get("$ip").as_deref(), Some("127.0.0.1"));
}

#[test]
fn space_delimited_refusals() {
    invalid("[]");
    invalid("[a, b = ]");
    invalid("[a, b, c = 1 && d = 2]");
    invalid("[a, , b]");
}

#[test]
fn json_fields_feed_metric_values() {
    let p = Pattern::parse("{ $.latency > 1 }").unwrap();
    assert_eq!(
        p.fields(CLOUDTRAIL).unwrap().get("$.latency").as_deref(),
        Some("750")
    );
    assert!(p.can_select("$.latency"));
    assert!(!Pattern::parse("ERROR").unwrap().can_select("$.x"));
}

#[test]
fn hostile_patterns_are_refused_not_panics() {
    for p in [
        "{",
        "[",
        "{ $",
        "{ $.",
        "{ $.a[ }",
        "{ $.a = \"",
        "[a = %",
        "{ ((( }",
        "%%",
    ] {
        assert!(Pattern::parse(p).is_err(), "{p}");
    }
    assert!(Pattern::parse(&"a".repeat(MAX_LEN + 1)).is_err());
}
