//! FilterCriteria: which records reach the function. A record passes when any filter's
//! pattern matches it (no filters: every record).
//!
//! HOOK: the full event-pattern language (prefix, suffix, anything-but, numeric, exists,
//! cidr, wildcard, `$or`, …) is the events crate's (`stratus_events::pattern`); this module
//! is where it plugs in. Until then [`pattern_matches`] knows the common core of it: nested
//! objects, and arrays of exact values. A rule of any other shape (an operator object) is not
//! understood here and lets the record through rather than dropping data.

use serde_json::Value;

/// Whether `record` passes `criteria` (a mapping's FilterCriteria).
pub fn matches(criteria: Option<&Value>, record: &Value) -> bool {
    let Some(filters) = criteria.and_then(|c| c["Filters"].as_array()) else {
        return true;
    };
    if filters.is_empty() {
        return true;
    }
    filters.iter().any(|f| {
        f["Pattern"]
            .as_str()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .is_some_and(|p| pattern_matches(&p, record))
    })
}

/// One pattern against one value: every key of the pattern must match.
pub fn pattern_matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(k, p)| match value.get(k) {
            Some(v) => pattern_matches(p, v),
            None => false,
        }),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            // An operator (`{"prefix": …}`): the pattern language's, not known here.
            Value::Object(_) => true,
            literal => literal == value || value.as_array().is_some_and(|vs| vs.contains(literal)),
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn criteria(pattern: Value) -> Value {
        json!({"Filters": [{"Pattern": pattern.to_string()}]})
    }

    #[test]
    fn exact_values_in_nested_fields_select_records() {
        let rec =
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "order"}}}});
        assert!(matches(None, &rec));
        assert!(matches(
            Some(&criteria(json!({"eventName": ["INSERT", "MODIFY"]}))),
            &rec
        ));
        assert!(!matches(
            Some(&criteria(json!({"eventName": ["REMOVE"]}))),
            &rec
        ));
        let deep = json!({"dynamodb": {"NewImage": {"kind": {"S": ["order"]}}}});
        assert!(matches(Some(&criteria(deep)), &rec));
        let other = json!({"dynamodb": {"NewImage": {"kind": {"S": ["refund"]}}}});
        assert!(!matches(Some(&criteria(other)), &rec));
        assert!(!matches(Some(&criteria(json!({"missing": ["x"]}))), &rec));
    }
}
