//! CloudWatch's Query protocol (`Action=...&Version=2010-08-01`, form-encoded, XML answers),
//! as older SDKs, the Go SDK v1 (Terraform) and the aws CLI before smithy-rpc-v2-cbor speak
//! it. The form is turned into the same JSON value the other protocols carry, and the
//! operation's JSON answer into the XML the model's Query shapes describe, so the operations
//! are still written once.
//!
//! The form has no types, so member names carry them: CloudWatch's numeric, boolean and
//! timestamp members are few and their names are unique across its shapes (`Period`,
//! `ReturnData`, `StartTime`...). A value of the wrong kind stays a string, and the operation
//! refuses it with its own `InvalidParameterValue`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use stratus_core::{Error, Kind};

use crate::services::sns::xml::Xml;

pub const NS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// Members whose values are numbers.
const NUMBERS: &[&str] = &[
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "Value",
    "Values",
    "Counts",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
    "StorageResolution",
    "MaxRecords",
    "MaxDatapoints",
];

const BOOLEANS: &[&str] = &["ReturnData", "ActionsEnabled", "IncludeLinkedAccounts"];

/// Members whose values are timestamps (ISO 8601 on the wire, epoch seconds inside).
const TIMES: &[&str] = &["StartTime", "EndTime", "Timestamp", "StartDate", "EndDate"];

/// List members: the Query protocol sends an empty one as `Name=`.
const LISTS: &[&str] = &[
    "AlarmNames",
    "AlarmTypes",
    "Statistics",
    "ExtendedStatistics",
    "Dimensions",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "MetricData",
    "MetricDataQueries",
    "Metrics",
    "Values",
    "Counts",
];

/// Most parameters one form may carry: far more than any CloudWatch request needs (1,000
/// datapoints of a few members each), and a bound on the work a hostile form causes.
const MAX_PARAMS: usize = 20_000;
/// Deepest member path (`MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name`
/// has 9 parts).
const MAX_DEPTH: usize = 16;

/// A member path's parts, as parsed into a tree before being typed.
#[derive(Default)]
struct Node {
    text: Option<String>,
    children: BTreeMap<String, Node>,
}

/// The operation (`Action`) and its input as a JSON object.
pub fn decode(query: &str, body: &[u8]) -> Result<(String, Value), Error> {
    let mut root = Node::default();
    let mut action = None;
    let pairs = form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body));
    for (n, (k, v)) in pairs.enumerate() {
        if n >= MAX_PARAMS {
            return Err(super::input::invalid(
                "The request has too many parameters.",
            ));
        }
        match k.as_ref() {
            "Action" => action = Some(v.into_owned()),
            "Version" => {}
            key => {
                let parts: Vec<&str> = key.split('.').collect();
                if parts.len() > MAX_DEPTH || parts.iter().any(|p| p.is_empty()) {
                    return Err(super::input::invalid(format!(
                        "The parameter {key} is not recognized."
                    )));
                }
                let mut node = &mut root;
                for p in parts {
                    node = node.children.entry(p.to_string()).or_default();
                }
                node.text = Some(v.into_owned());
            }
        }
    }
    let action = action.ok_or_else(|| invalid_action(""))?;
    Ok((action, typed(&root, "")))
}

pub fn invalid_action(action: &str) -> Error {
    Error::new(
        "InvalidAction",
        Kind::InvalidInput,
        format!("The action {action} is not valid for this web service."),
    )
}

/// A node as JSON: `member.N` children make a list, `entry.N.key/value` a map, other
/// children a structure, and text a value typed by the member's `name`.
fn typed(node: &Node, name: &str) -> Value {
    if node.children.is_empty() {
        let text = node.text.as_deref().unwrap_or("");
        if text.is_empty() && LISTS.contains(&name) {
            return json!([]);
        }
        return scalar(text, name);
    }
    if let Some(members) = node.children.get("member") {
        return Value::Array(indexed(members).map(|m| typed(m, name)).collect());
    }
    if let Some(entries) = node.children.get("entry") {
        let map: Map<String, Value> = indexed(entries)
            .filter_map(|e| {
                let key = e.children.get("key")?.text.clone()?;
                Some((key, typed(e.children.get("value")?, name)))
            })
            .collect();
        return Value::Object(map);
    }
    Value::Object(
        node.children
            .iter()
            .map(|(k, child)| (k.clone(), typed(child, k)))
            .collect(),
    )
}

/// The children of a `member` or `entry` node in the order of their (1-based) numbers.
fn indexed(node: &Node) -> impl Iterator<Item = &Node> {
    let mut numbered: Vec<(u32, &Node)> = node
        .children
        .iter()
        .filter_map(|(k, n)| Some((k.parse::<u32>().ok()?, n)))
        .collect();
    numbered.sort_by_key(|(i, _)| *i);
    numbered.into_iter().map(|(_, n)| n)
}

fn scalar(text: &str, name: &str) -> Value {
    let as_string = || Value::String(text.to_string());
    if NUMBERS.contains(&name) {
        if let Ok(i) = text.parse::<i64>() {
            return json!(i);
        }
        return text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or_else(as_string, |f| json!(f));
    }
    if BOOLEANS.contains(&name) {
        return match text {
            "true" => json!(true),
            "false" => json!(false),
            _ => as_string(),
        };
    }
    if TIMES.contains(&name) {
        return parse_time(text).map_or_else(as_string, |s| json!(s));
    }
    as_string()
}

/// An ISO 8601 timestamp (what the Query serializers send) or epoch seconds, as epoch seconds.
fn parse_time(text: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The `<{Op}Response>` of an answer: its members under `<{Op}Result>`, or only the
/// metadata for an operation without output.
pub fn response(op: &str, output: &Value, request_id: &str) -> String {
    let mut x = Xml::default();
    let mut doc = format!("<{op}Response xmlns=\"{NS}\">");
    if output.as_object().is_some_and(|m| !m.is_empty()) {
        x.open(&format!("{op}Result"));
        members(&mut x, output);
        x.close(&format!("{op}Result"));
    }
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    doc.push_str(&x.into_string());
    doc.push_str(&format!("</{op}Response>"));
    doc
}

/// `<ErrorResponse>`: Sender or Receiver, the Query code and the message.
pub fn error(code: &str, message: &str, fault: &str, request_id: &str) -> String {
    let mut x = Xml::default();
    x.open("Error")
        .leaf("Type", fault)
        .leaf("Code", code)
        .leaf("Message", message)
        .close("Error")
        .leaf("RequestId", request_id);
    format!(
        "<ErrorResponse xmlns=\"{NS}\">{}</ErrorResponse>",
        x.into_string()
    )
}

fn members(x: &mut Xml, v: &Value) {
    if let Some(m) = v.as_object() {
        for (k, child) in m {
            element(x, k, child, is_time(k));
        }
    }
}

/// One member: lists as `<member>`s, maps (a datapoint's `ExtendedStatistics`) as
/// `<entry><key/><value/></entry>`, timestamps (`time`) in ISO 8601.
fn element(x: &mut Xml, name: &str, v: &Value, time: bool) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            x.open(name);
            for item in items {
                element(x, "member", item, time);
            }
            x.close(name);
        }
        Value::Object(m) if name == "ExtendedStatistics" => {
            x.open(name);
            for (k, val) in m {
                x.open("entry").leaf("key", k);
                element(x, "value", val, false);
                x.close("entry");
            }
            x.close(name);
        }
        Value::Object(_) => {
            x.open(name);
            members(x, v);
            x.close(name);
        }
        Value::Number(n) if !time => {
            x.leaf(name, &n.to_string());
        }
        Value::Number(n) => {
            let ms = (n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            x.leaf(name, &iso(ms));
        }
        Value::Bool(b) => {
            x.leaf(name, if *b { "true" } else { "false" });
        }
        Value::String(s) => {
            x.leaf(name, s);
        }
    }
}

/// `...Timestamp` members, and GetMetricData's `Timestamps` list.
fn is_time(name: &str) -> bool {
    name.ends_with("Timestamp") || name == "Timestamps"
}

/// `2026-12-06T12:00:00.000Z`.
pub fn iso(ms: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(fmt)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_typed_json() {
        let body = "Action=GetMetricData&Version=2010-08-01\
            &MetricDataQueries.member.2.Id=b&MetricDataQueries.member.2.Expression=a%2A2\
            &MetricDataQueries.member.1.Id=a&MetricDataQueries.member.1.ReturnData=false\
            &MetricDataQueries.member.1.MetricStat.Period=60\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=FunctionName\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=f\
            &StartTime=2026-12-06T12%3A00%3A00Z&EndTime=2026-12-06T12%3A00%3A00.500Z\
            &AlarmNames=&Threshold=2.5&MaxDatapoints=ten";
        let (op, v) = decode("", body.as_bytes()).unwrap();
        assert_eq!(op, "GetMetricData");
        let q = &v["MetricDataQueries"];
        assert_eq!(q[0]["Id"], "a");
        assert_eq!(q[0]["ReturnData"], false);
        assert_eq!(q[0]["MetricStat"]["Period"], 60);
        assert_eq!(q[0]["MetricStat"]["Metric"]["Dimensions"][0]["Value"], "f");
        assert_eq!(q[1]["Expression"], "a*2");
        assert_eq!(v["StartTime"], 1_796_558_400.0);
        assert_eq!(v["EndTime"], 1_796_558_400.5);
        assert_eq!(v["AlarmNames"], json!([]));
        assert_eq!(v["Threshold"], 2.5);
        assert_eq!(
            v["MaxDatapoints"], "ten",
            "left for the operation to refuse"
        );
        assert_eq!(decode("", b"Version=1").unwrap_err().code, "InvalidAction");
        let deep = format!("Action=X&{}=1", vec!["a"; 40].join("."));
        assert!(decode("", deep.as_bytes()).is_err());
    }

    #[test]
    fn answers_are_written_as_query_xml() {
        let out = json!({
            "Label": "Errors",
            "Datapoints": [{"Timestamp": 1_796_558_400.0, "Sum": 2.0, "Unit": "Count",
                            "ExtendedStatistics": {"p99": 1.5}}],
            "Flag": true, "Gone": null, "Timestamps": [1_796_558_400.0], "Values": [3],
        });
        let xml = response("GetMetricStatistics", &out, "rid");
        assert!(xml.starts_with("<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><GetMetricStatisticsResult>"), "{xml}");
        assert!(xml.contains("<Datapoints><member>"));
        assert!(xml.contains("<Timestamp>2026-12-06T12:00:00.000Z</Timestamp>"));
        assert!(xml.contains("<ExtendedStatistics><entry><key>p99</key><value>1.5</value></entry></ExtendedStatistics>"));
        assert!(xml.contains("<Flag>true</Flag>") && !xml.contains("Gone"));
        assert!(xml.contains("<Timestamps><member>2026-12-06T12:00:00.000Z</member></Timestamps>"));
        assert!(xml.contains("<Values><member>3</member></Values>"));
        assert!(xml.ends_with("<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetMetricStatisticsResponse>"));
        let empty = response("PutMetricData", &json!({}), "rid");
        assert!(!empty.contains("PutMetricDataResult"));
        let e = error("InvalidParameterValue", "bad <x>", "Sender", "rid");
        assert!(e.contains("<Code>InvalidParameterValue</Code><Message>bad &lt;x&gt;</Message>"));
    }
}
