//! The `AWS/Lambda` metrics of asynchronous invocation, which no invocation record carries:
//! `AsyncEventsReceived` (an event queued), `AsyncEventAge` (how long it waited, when an
//! attempt starts running it), `AsyncEventsDropped` (it ended without a successful run),
//! `DeadLetterErrors` and `DestinationDeliveryFailures` (its outcome could not be sent to its
//! dead-letter queue or destination). They go to the metric sink the server sets (the
//! CloudWatch store's queued writer), under the dimension sets AWS gives them: none,
//! `FunctionName`, and `FunctionName` + `Resource` when the event named a qualifier.

use stratus_engine::logs::metrics::MetricDatum;

use crate::queue::now_ms;
use crate::Invoker;

pub const NAMESPACE: &str = "AWS/Lambda";

/// The data points of one value of `name` for an event of `function` (`qualifier` as the
/// caller named it), one per dimension set.
pub fn data(
    function: &str,
    qualifier: Option<&str>,
    name: &str,
    unit: &str,
    value: f64,
    ts_ms: i64,
) -> Vec<MetricDatum> {
    let f = ("FunctionName".to_string(), function.to_string());
    let mut sets = vec![vec![], vec![f.clone()]];
    if let Some(q) = qualifier.filter(|q| *q != "$LATEST") {
        sets.push(vec![f, ("Resource".to_string(), format!("{function}:{q}"))]);
    }
    sets.into_iter()
        .map(|dimensions| MetricDatum {
            namespace: NAMESPACE.to_string(),
            name: name.to_string(),
            value,
            unit: Some(unit.to_string()),
            dimensions,
            timestamp: ts_ms,
        })
        .collect()
}

impl Invoker {
    /// Records one value of an asynchronous invocation metric, if a sink is set.
    pub(crate) fn async_metric(
        &self,
        function: &str,
        qualifier: Option<&str>,
        name: &str,
        value: f64,
    ) {
        let Some(sink) = self.metrics.get() else {
            return;
        };
        let unit = if name == "AsyncEventAge" {
            "Milliseconds"
        } else {
            "Count"
        };
        sink.record(data(function, qualifier, name, unit, value, now_ms()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_event_feeds_three_dimension_sets() {
        let d = data("f", Some("live"), "AsyncEventAge", "Milliseconds", 12.0, 5);
        let sets: Vec<_> = d.iter().map(|m| m.dimensions.clone()).collect();
        assert_eq!(sets.len(), 3);
        assert_eq!(
            sets[2],
            vec![
                ("FunctionName".to_string(), "f".to_string()),
                ("Resource".to_string(), "f:live".to_string())
            ]
        );
        assert!(d
            .iter()
            .all(|m| m.namespace == "AWS/Lambda" && m.value == 12.0));
        assert_eq!(data("f", Some("$LATEST"), "x", "Count", 1.0, 5).len(), 2);
        assert_eq!(data("f", None, "x", "Count", 1.0, 5).len(), 2);
    }
}
