//! Metrics from logs: a group's metric filters (stored with it, in the shape of CloudWatch
//! Logs' `MetricFilter`) and embedded-metric-format lines (`_aws.CloudWatchMetrics`) turn the
//! events written to it into [`MetricDatum`]s, handed to a [`MetricSink`]. Stratus has no
//! metric store here: the sink is the hook a metrics service plugs in with
//! [`LogStore::set_metric_sink`](super::LogStore::set_metric_sink). Until one is set nothing is
//! evaluated, so ingestion costs nothing extra. A filter's `defaultValue` (what a period
//! without a match reports) is the sink's to apply, as it owns the periods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_core::log_pattern::{json_object, Pattern};

/// One value for one metric, as a metric filter or an EMF line produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatum {
    pub namespace: String,
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
    pub dimensions: Vec<(String, String)>,
    /// The event's timestamp, epoch ms.
    pub timestamp: i64,
}

/// Where metric values from logs go (the CloudWatch metrics service, when there is one).
pub trait MetricSink: Send + Sync {
    fn record(&self, data: Vec<MetricDatum>);
}

/// A metric filter as CloudWatch Logs' API shapes it (the group's stored document is a JSON
/// array of these).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricFilter {
    pub filter_name: String,
    #[serde(default)]
    pub filter_pattern: String,
    pub metric_transformations: Vec<MetricTransformation>,
    pub creation_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTransformation {
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// Parses a group's stored document ("" is no filters).
pub fn parse_filters(doc: &str) -> Vec<MetricFilter> {
    if doc.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(doc).unwrap_or_default()
}

type Compiled = Arc<Vec<(MetricFilter, Pattern)>>;

/// How many groups' compiled filters are cached before the cache starts over.
const MAX_CACHED: usize = 10_000;

#[derive(Default)]
pub struct Metrics {
    sink: RwLock<Option<Arc<dyn MetricSink>>>,
    filters: Mutex<HashMap<String, Compiled>>,
}

impl Metrics {
    pub fn set_sink(&self, sink: Arc<dyn MetricSink>) {
        *self.sink.write().unwrap() = Some(sink);
    }

    pub fn sink(&self) -> Option<Arc<dyn MetricSink>> {
        self.sink.read().unwrap().clone()
    }

    /// Drops a group's cached filters (they changed).
    pub fn forget(&self, group: &str) {
        self.filters.lock().unwrap().remove(group);
    }

    /// The group's compiled filters, from the cache or `load` (the stored document).
    pub fn filters(&self, group: &str, load: impl FnOnce() -> String) -> Compiled {
        if let Some(c) = self.filters.lock().unwrap().get(group) {
            return c.clone();
        }
        let compiled: Vec<_> = parse_filters(&load())
            .into_iter()
            .filter_map(|f| Pattern::parse(&f.filter_pattern).ok().map(|p| (f, p)))
            .collect();
        let compiled = Arc::new(compiled);
        let mut cache = self.filters.lock().unwrap();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(group.to_string(), compiled.clone());
        compiled
    }
}

/// The metric values one event produces through `filters` and, if it is an EMF line, its
/// own directives.
pub fn evaluate(
    filters: &[(MetricFilter, Pattern)],
    ts: i64,
    message: &str,
    out: &mut Vec<MetricDatum>,
) {
    for (f, pattern) in filters {
        let Some(fields) = pattern.fields(message) else {
            continue;
        };
        for t in &f.metric_transformations {
            let Some(value) = transformation_value(&t.metric_value, |s| fields.get(s)) else {
                continue;
            };
            let dimensions = t
                .dimensions
                .iter()
                .flatten()
                .filter_map(|(k, sel)| fields.get(sel).map(|v| (k.clone(), v)))
                .collect();
            out.push(MetricDatum {
                namespace: t.metric_namespace.clone(),
                name: t.metric_name.clone(),
                value,
                unit: t.unit.clone(),
                dimensions,
                timestamp: ts,
            });
        }
    }
    emf(ts, message, out);
}

/// A transformation's value: a number, or a `$` selector into the event's fields.
pub fn transformation_value(spec: &str, get: impl Fn(&str) -> Option<String>) -> Option<f64> {
    if spec.starts_with('$') {
        get(spec)?.trim().parse().ok()
    } else {
        spec.trim().parse().ok()
    }
}

/// Metrics of an embedded-metric-format line: each directive of `_aws.CloudWatchMetrics`,
/// each of its dimension sets, each metric (a number or an array of numbers, at the root).
pub fn emf(ts: i64, message: &str, out: &mut Vec<MetricDatum>) {
    if !message.contains("CloudWatchMetrics") {
        return;
    }
    let Some(doc) = json_object(message) else {
        return;
    };
    let Some(directives) = doc["_aws"]["CloudWatchMetrics"].as_array() else {
        return;
    };
    let ts = doc["_aws"]["Timestamp"].as_i64().unwrap_or(ts);
    for d in directives {
        let Some(namespace) = d["Namespace"].as_str() else {
            continue;
        };
        let sets: Vec<Vec<(String, String)>> = match d["Dimensions"].as_array() {
            Some(sets) if !sets.is_empty() => sets
                .iter()
                .filter_map(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|k| doc[k].as_str().map(|v| (k.to_string(), v.to_string())))
                        .collect()
                })
                .collect(),
            _ => vec![Vec::new()],
        };
        for m in d["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = m["Name"].as_str() else {
                continue;
            };
            let values: Vec<f64> = match &doc[name] {
                Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
                v => v.as_f64().into_iter().collect(),
            };
            for dims in &sets {
                for v in &values {
                    out.push(MetricDatum {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        value: *v,
                        unit: m["Unit"].as_str().map(str::to_string),
                        dimensions: dims.clone(),
                        timestamp: ts,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_become_metrics() {
        let line = r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"shop","Dimensions":[["service"]],"Metrics":[{"Name":"latency","Unit":"Milliseconds"}]}]},"service":"cart","latency":[12,15]}"#;
        let mut out = Vec::new();
        emf(1, line, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].namespace, "shop");
        assert_eq!(out[0].value, 12.0);
        assert_eq!(out[1].value, 15.0);
        assert_eq!(out[0].unit.as_deref(), Some("Milliseconds"));
        assert_eq!(out[0].dimensions, vec![("service".into(), "cart".into())]);
        assert_eq!(out[0].timestamp, 1_700_000_000_000);
        let mut none = Vec::new();
        emf(1, r#"{"CloudWatchMetrics": 1}"#, &mut none);
        emf(1, "CloudWatchMetrics not json", &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn filters_extract_values_and_dimensions() {
        let f: MetricFilter = serde_json::from_value(serde_json::json!({
            "filterName": "lat", "filterPattern": "{ $.latency > 0 }", "creationTime": 0,
            "metricTransformations": [{"metricName": "L", "metricNamespace": "N",
                "metricValue": "$.latency", "dimensions": {"Svc": "$.svc"}}]
        }))
        .unwrap();
        let p = Pattern::parse(&f.filter_pattern).unwrap();
        let mut out = Vec::new();
        evaluate(&[(f, p)], 5, r#"{"latency": 42, "svc": "a"}"#, &mut out);
        evaluate(&[], 5, "plain", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, 42.0);
        assert_eq!(out[0].dimensions, vec![("Svc".into(), "a".into())]);
    }
}
