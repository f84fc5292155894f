//! The `AWS/Lambda` namespace, served from metering records: which metrics and dimension sets
//! each record feeds, and the samples of one metric.
//!
//! Every invocation feeds the account-wide set (no dimensions), `FunctionName`, and when the
//! caller named an alias or a version, `FunctionName` + `Resource` (`name:alias`,
//! `name:version`); an alias's invocations also feed `FunctionName` + `Resource` +
//! `ExecutedVersion`, as on AWS. The asynchronous invocation metrics ([`STORED`]) are not in
//! the records: the invoker writes them to the CloudWatch store as datapoints of this
//! namespace, and they are read from there.

use std::collections::{BTreeSet, BinaryHeap};

use stratus_metering::Record;

use crate::stats::Sample;
use crate::Dims;

pub const NAMESPACE: &str = "AWS/Lambda";

/// The metrics served, with their units.
pub const METRICS: &[(&str, &str)] = &[
    ("Invocations", "Count"),
    ("Errors", "Count"),
    ("Throttles", "Count"),
    ("Duration", "Milliseconds"),
    ("ConcurrentExecutions", "Count"),
    ("InitDuration", "Milliseconds"),
];

/// The metrics of this namespace kept as datapoints in the CloudWatch store (the invoker's
/// asynchronous invocation metrics), with their units.
pub const STORED: &[(&str, &str)] = &[
    ("AsyncEventsReceived", "Count"),
    ("AsyncEventAge", "Milliseconds"),
    ("AsyncEventsDropped", "Count"),
    ("DeadLetterErrors", "Count"),
    ("DestinationDeliveryFailures", "Count"),
];

/// Whether `metric` is read from the store rather than from the metering records.
pub fn is_stored(metric: &str) -> bool {
    STORED.iter().any(|(m, _)| *m == metric)
}

pub fn unit_of(metric: &str) -> Option<&'static str> {
    METRICS.iter().find(|(m, _)| *m == metric).map(|(_, u)| *u)
}

/// The `Resource` dimension of a record, when the caller qualified the function.
fn resource(r: &Record) -> Option<String> {
    match (&r.alias, r.version.as_str()) {
        (Some(alias), _) => Some(format!("{}:{alias}", r.function)),
        (None, "$LATEST") => None,
        (None, v) => Some(format!("{}:{v}", r.function)),
    }
}

/// The dimension sets a record feeds (each sorted by name).
pub fn dimension_sets(r: &Record, with_executed: bool) -> Vec<Dims> {
    let f = ("FunctionName".to_string(), r.function.clone());
    let mut sets = vec![vec![], vec![f.clone()]];
    if let Some(res) = resource(r) {
        sets.push(vec![f.clone(), ("Resource".into(), res.clone())]);
        if with_executed && r.alias.is_some() {
            sets.push(vec![
                ("ExecutedVersion".into(), r.version.clone()),
                f,
                ("Resource".into(), res),
            ]);
        }
    }
    sets
}

/// The value a record gives `metric`, if it gives one.
fn value(r: &Record, metric: &str) -> Option<f64> {
    let ran = r.outcome.ran();
    match metric {
        "Invocations" if ran => Some(1.0),
        "Errors" if ran => Some(if r.outcome.is_error() { 1.0 } else { 0.0 }),
        "Throttles" if !ran => Some(1.0),
        "Duration" if ran => Some(r.duration_ms),
        "InitDuration" => r.init_duration_ms,
        _ => None,
    }
}

/// Every (metric, dimensions) the records have data for.
pub fn list(records: &[Record]) -> BTreeSet<(String, Dims)> {
    let mut out = BTreeSet::new();
    for r in records {
        for (metric, _) in METRICS {
            let has =
                *metric == "ConcurrentExecutions" && r.outcome.ran() || value(r, metric).is_some();
            if has {
                let executed = *metric != "ConcurrentExecutions";
                for d in dimension_sets(r, executed) {
                    out.insert((metric.to_string(), d));
                }
            }
        }
    }
    out
}

/// The samples of `metric` with exactly the dimensions `dims` (sorted by name).
pub fn samples(records: &[Record], metric: &str, dims: &Dims) -> Vec<Sample> {
    let executed = metric != "ConcurrentExecutions";
    let matching = records
        .iter()
        .filter(|r| dimension_sets(r, executed).iter().any(|d| d == dims));
    if metric == "ConcurrentExecutions" {
        return concurrency(matching.filter(|r| r.outcome.ran()).collect());
    }
    matching
        .filter_map(|r| value(r, metric).map(|v| Sample::one(r.start_ms, v)))
        .collect()
}

/// One sample per invocation start: how many invocations were running then, itself included
/// (the peak of a period is at one of its starts, so `Maximum` is the period's peak).
fn concurrency(mut runs: Vec<&Record>) -> Vec<Sample> {
    runs.sort_by_key(|r| r.start_ms);
    // Ends of the invocations still running, in microseconds, earliest on top.
    let mut ends = BinaryHeap::new();
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let start_us = r.start_ms * 1000;
        while ends
            .peek()
            .is_some_and(|std::cmp::Reverse(e)| *e <= start_us)
        {
            ends.pop();
        }
        ends.push(std::cmp::Reverse(
            start_us + (r.duration_ms * 1000.0) as i64,
        ));
        out.push(Sample::one(r.start_ms, ends.len() as f64));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_metering::{Outcome, Trigger};

    fn rec(start_ms: i64, alias: Option<&str>, version: &str, outcome: Outcome) -> Record {
        Record {
            request_id: "r".into(),
            function: "f".into(),
            version: version.into(),
            alias: alias.map(str::to_string),
            trigger: Trigger::Direct,
            start_ms,
            duration_ms: 100.0,
            billed_ms: 100,
            init_duration_ms: None,
            memory_mb: 128,
            max_memory_mb: 10,
            architecture: "x86_64".into(),
            outcome,
            cold: false,
        }
    }

    fn d(pairs: &[(&str, &str)]) -> Dims {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn dimensions_follow_the_qualifier() {
        let records = [
            rec(0, Some("live"), "3", Outcome::Success),
            rec(10, None, "2", Outcome::FunctionError),
            rec(20, None, "$LATEST", Outcome::Throttled),
        ];
        let inv = |dims: &Dims| samples(&records, "Invocations", dims).len();
        assert_eq!(inv(&d(&[])), 2);
        assert_eq!(inv(&d(&[("FunctionName", "f")])), 2);
        assert_eq!(inv(&d(&[("FunctionName", "f"), ("Resource", "f:live")])), 1);
        assert_eq!(inv(&d(&[("FunctionName", "f"), ("Resource", "f:2")])), 1);
        let executed = d(&[
            ("ExecutedVersion", "3"),
            ("FunctionName", "f"),
            ("Resource", "f:live"),
        ]);
        assert_eq!(inv(&executed), 1);
        let errors = samples(&records, "Errors", &d(&[("FunctionName", "f")]));
        assert_eq!(errors.iter().map(|s| s.sum).sum::<f64>(), 1.0);
        assert_eq!(samples(&records, "Throttles", &d(&[])).len(), 1);
        let listed = list(&records);
        assert!(listed.contains(&("Errors".to_string(), executed)));
        assert!(!listed
            .iter()
            .any(|(m, d)| m == "ConcurrentExecutions" && d.len() == 3));
    }

    #[test]
    fn concurrency_counts_overlapping_runs() {
        let records = [
            rec(0, None, "$LATEST", Outcome::Success),
            rec(50, None, "$LATEST", Outcome::Success),
            rec(99, None, "$LATEST", Outcome::Success),
            rec(150, None, "$LATEST", Outcome::Success),
            rec(300, None, "$LATEST", Outcome::Success),
        ];
        let got: Vec<f64> = samples(&records, "ConcurrentExecutions", &d(&[]))
            .iter()
            .map(|s| s.max)
            .collect();
        assert_eq!(got, vec![1.0, 2.0, 3.0, 2.0, 1.0]);
    }
}
