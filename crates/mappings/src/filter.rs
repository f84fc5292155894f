//! FilterCriteria: which records reach the function. A record passes when any filter's
//! pattern matches it (no filters: every record). Patterns are EventBridge's event-pattern
//! language (`stratus_events::pattern`), as on AWS: exact values, prefix, suffix,
//! anything-but, numeric, exists, cidr, equals-ignore-case, wildcard and `$or`.

use serde_json::Value;
use stratus_events::pattern::Pattern;

/// Whether `record` passes `criteria` (a mapping's FilterCriteria). A pattern that no longer
/// parses (it was checked when stored) matches nothing.
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
            .and_then(|p| Pattern::parse(p).ok())
            .is_some_and(|p| p.matches(record))
    })
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
        let prefix = json!({"dynamodb": {"NewImage": {"kind": {"S": [{"prefix": "ord"}]}}}});
        assert!(matches(Some(&criteria(prefix)), &rec));
        let not = json!({"eventName": [{"anything-but": ["INSERT"]}]});
        assert!(!matches(Some(&criteria(not)), &rec));
        assert!(!matches(Some(&criteria(json!({"missing": ["x"]}))), &rec));
    }
}
