//! Metric alarms: the rule an alarm document holds, its evaluation over the last periods'
//! datapoints, and the state reasons worded as CloudWatch words them.
//!
//! As in CloudWatch, the periods evaluated are the last complete ones: the period in
//! progress is left out until it ends, so a datapoint is judged on its whole period. An alarm
//! on a metric-math expression (`Metrics`) is evaluated the same way over the expression's
//! values, with the period of its queries. Missing datapoints follow `TreatMissingData`:
//! `missing` (the default) and `ignore` leave them out (all missing is `INSUFFICIENT_DATA`
//! for `missing`, no change for `ignore`), `breaching` and `notBreaching` count them as such.

use serde_json::{json, Value};

/// What an alarm compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `Sum`, `Average`... or a percentile (`p99`); empty for a metric-math alarm.
    pub statistic: String,
    pub extended: bool,
    pub period_s: i64,
    pub evaluation_periods: usize,
    pub datapoints_to_alarm: usize,
    pub operator: String,
    pub threshold: f64,
    pub treat_missing: String,
}

pub const OPERATORS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

pub const TREAT_MISSING: [&str; 4] = ["breaching", "notBreaching", "ignore", "missing"];

impl Rule {
    /// The rule of a stored alarm document (already validated by PutMetricAlarm).
    pub fn of(doc: &Value) -> Option<Rule> {
        let (statistic, extended) =
            match (doc["Statistic"].as_str(), doc["ExtendedStatistic"].as_str()) {
                (Some(s), _) => (s.to_string(), false),
                (None, Some(s)) => (s.to_string(), true),
                (None, None) if doc["Metrics"].is_array() => (String::new(), false),
                (None, None) => return None,
            };
        let evaluation_periods = doc["EvaluationPeriods"].as_u64()? as usize;
        let period_s = match doc["Period"].as_i64() {
            Some(p) => p,
            None => math_period(doc)?,
        };
        Some(Rule {
            statistic,
            extended,
            period_s,
            evaluation_periods,
            datapoints_to_alarm: doc["DatapointsToAlarm"]
                .as_u64()
                .map_or(evaluation_periods, |n| n as usize),
            operator: doc["ComparisonOperator"].as_str()?.to_string(),
            threshold: doc["Threshold"].as_f64()?,
            treat_missing: doc["TreatMissingData"]
                .as_str()
                .unwrap_or("missing")
                .to_string(),
        })
    }

    fn breaches(&self, v: f64) -> bool {
        match self.operator.as_str() {
            "GreaterThanOrEqualToThreshold" => v >= self.threshold,
            "GreaterThanThreshold" => v > self.threshold,
            "LessThanThreshold" => v < self.threshold,
            _ => v <= self.threshold,
        }
    }

    fn phrase(&self) -> &'static str {
        match self.operator.as_str() {
            "GreaterThanOrEqualToThreshold" => "greater than or equal to",
            "GreaterThanThreshold" => "greater than",
            "LessThanThreshold" => "less than",
            _ => "less than or equal to",
        }
    }

    /// The start of the first of the periods evaluated at `now_ms`: the last
    /// `evaluation_periods` complete ones (the period in progress is not one of them).
    pub fn window_start(&self, now_ms: i64) -> i64 {
        let p = self.period_s * 1000;
        (now_ms.div_euclid(p) - self.evaluation_periods as i64) * p
    }

    /// The end of the periods evaluated at `now_ms` (exclusive): the start of the period in
    /// progress.
    pub fn window_end(&self, now_ms: i64) -> i64 {
        let p = self.period_s * 1000;
        now_ms.div_euclid(p) * p
    }
}

/// The period of a metric-math alarm: the one its returned query names (an expression's
/// `Period`), else the period of its metric queries (which PutMetricAlarm keeps equal).
pub fn math_period(doc: &Value) -> Option<i64> {
    let queries = doc["Metrics"].as_array()?;
    let returned = queries
        .iter()
        .find(|q| q["ReturnData"] != Value::Bool(false));
    returned
        .and_then(|q| q["Period"].as_i64().or(q["MetricStat"]["Period"].as_i64()))
        .or_else(|| {
            queries
                .iter()
                .find_map(|q| q["MetricStat"]["Period"].as_i64())
        })
}

/// A state an evaluation moves an alarm to.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub state: &'static str,
    pub reason: String,
    /// The `StateReasonData` JSON.
    pub data: String,
}

/// One period's datapoint: its start, and its value if it had data.
pub type Point = (i64, Option<f64>);

/// Evaluates `points` (one per period, oldest first) for an alarm in `current` state; the
/// change, if the state moves.
pub fn evaluate(rule: &Rule, current: &str, points: &[Point], now_ms: i64) -> Option<Change> {
    let present: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect();
    let missing = points.len() - present.len();
    let by_missing = match rule.treat_missing.as_str() {
        "breaching" => Some(true),
        "notBreaching" => Some(false),
        _ => None,
    };
    if present.is_empty() && by_missing.is_none() {
        if rule.treat_missing == "ignore" || current == "INSUFFICIENT_DATA" {
            return None;
        }
        let reason = format!(
            "Insufficient Data: {} {} unknown.",
            plural(points.len(), "datapoint"),
            if points.len() == 1 { "was" } else { "were" }
        );
        return Some(change("INSUFFICIENT_DATA", reason, rule, points, now_ms));
    }
    let breaching: Vec<(i64, f64)> = present
        .iter()
        .copied()
        .filter(|(_, v)| rule.breaches(*v))
        .rev()
        .collect();
    let fine: Vec<(i64, f64)> = present
        .iter()
        .copied()
        .filter(|(_, v)| !rule.breaches(*v))
        .rev()
        .collect();
    let breach_count = breaching.len() + if by_missing == Some(true) { missing } else { 0 };
    let state = if breach_count >= rule.datapoints_to_alarm {
        "ALARM"
    } else {
        "OK"
    };
    if state == current {
        return None;
    }
    let reason = if state == "ALARM" {
        crossed(rule, current, state, breach_count, &breaching, "")
    } else if current == "INSUFFICIENT_DATA" {
        let n = fine.len().max(1);
        format!(
            "Threshold Crossed: {} [{}] {} not {} the threshold ({:?}).",
            plural(n, "datapoint"),
            listing(&fine),
            if n == 1 { "was" } else { "were" },
            rule.phrase(),
            rule.threshold
        )
    } else {
        let n = fine.len()
            + if by_missing == Some(false) {
                missing
            } else {
                0
            };
        crossed(rule, current, state, n, &fine, "not ")
    };
    Some(change(state, reason, rule, points, now_ms))
}

/// "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (06/12/26 12:00:00)] was greater
/// than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
fn crossed(rule: &Rule, from: &str, to: &str, n: usize, shown: &[(i64, f64)], not: &str) -> String {
    let minimum = if to == "ALARM" {
        rule.datapoints_to_alarm
    } else {
        (rule.evaluation_periods + 1).saturating_sub(rule.datapoints_to_alarm)
    };
    format!(
        "Threshold Crossed: {n} out of the last {} datapoints [{}] {} {not}{} the threshold ({:?}) (minimum {} for {from} -> {to} transition).",
        rule.evaluation_periods,
        listing(shown),
        if n == 1 { "was" } else { "were" },
        rule.phrase(),
        rule.threshold,
        plural(minimum, "datapoint"),
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `5.0 (06/12/26 12:00:00), 4.0 (06/12/26 11:59:00)`: newest first.
fn listing(points: &[(i64, f64)]) -> String {
    let fmt = time::macros::format_description!(
        "[day]/[month]/[year repr:last_two] [hour]:[minute]:[second]"
    );
    points
        .iter()
        .map(|(t, v)| format!("{v:?} ({})", at(*t).format(fmt).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn at(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// CloudWatch's timestamps in notifications and reason data: `2026-12-06T12:00:00.000+0000`.
pub fn iso(ms: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    at(ms).format(fmt).unwrap_or_default()
}

fn change(
    state: &'static str,
    reason: String,
    rule: &Rule,
    points: &[Point],
    now_ms: i64,
) -> Change {
    let recent: Vec<f64> = points.iter().filter_map(|(_, v)| *v).collect();
    let evaluated: Vec<Value> = points
        .iter()
        .rev()
        .map(|(t, v)| match v {
            Some(v) => json!({"timestamp": iso(*t), "value": v}),
            None => json!({"timestamp": iso(*t)}),
        })
        .collect();
    let mut data = json!({
        "version": "1.0",
        "queryDate": iso(now_ms),
        "startDate": iso(points.first().map_or(now_ms, |p| p.0)),
        "period": rule.period_s,
        "recentDatapoints": recent,
        "threshold": rule.threshold,
        "evaluatedDatapoints": evaluated,
    });
    // A metric-math alarm has no statistic of its own.
    if !rule.statistic.is_empty() {
        let key = if rule.extended {
            "extendedStatistic"
        } else {
            "statistic"
        };
        data[key] = json!(rule.statistic);
    }
    Change {
        state,
        reason,
        data: data.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(periods: usize, to_alarm: usize, missing: &str) -> Rule {
        Rule {
            statistic: "Sum".into(),
            extended: false,
            period_s: 60,
            evaluation_periods: periods,
            datapoints_to_alarm: to_alarm,
            operator: "GreaterThanThreshold".into(),
            threshold: 1.0,
            treat_missing: missing.into(),
        }
    }

    // 2026-12-06T12:00:00Z
    const NOON: i64 = 1_796_558_400_000;

    #[test]
    fn a_breach_alarms_with_aws_wording() {
        let c = evaluate(
            &rule(1, 1, "missing"),
            "OK",
            &[(NOON, Some(5.0))],
            NOON + 5_000,
        )
        .unwrap();
        assert_eq!(c.state, "ALARM");
        assert_eq!(
            c.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (06/12/26 12:00:00)] was greater than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
        );
        let data: Value = serde_json::from_str(&c.data).unwrap();
        assert_eq!(data["startDate"], "2026-12-06T12:00:00.000+0000");
        assert_eq!(data["recentDatapoints"], json!([5.0]));
        assert_eq!(
            evaluate(&rule(1, 1, "missing"), "ALARM", &[(NOON, Some(5.0))], NOON),
            None
        );
    }

    #[test]
    fn m_out_of_n_and_recovery() {
        let r = rule(3, 2, "missing");
        let pts = [
            (NOON, Some(2.0)),
            (NOON + 60_000, Some(0.0)),
            (NOON + 120_000, Some(3.0)),
        ];
        let c = evaluate(&r, "INSUFFICIENT_DATA", &pts, NOON).unwrap();
        assert!(c.reason.starts_with("Threshold Crossed: 2 out of the last 3 datapoints [3.0 (06/12/26 12:02:00), 2.0 (06/12/26 12:00:00)] were greater"), "{}", c.reason);
        assert!(c
            .reason
            .ends_with("(minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition)."));
        let calm = [
            (NOON, Some(0.0)),
            (NOON + 60_000, None),
            (NOON + 120_000, Some(1.0)),
        ];
        let ok = evaluate(&r, "ALARM", &calm, NOON).unwrap();
        assert_eq!(ok.state, "OK");
        assert!(ok.reason.contains("were not greater than the threshold (1.0) (minimum 2 datapoints for ALARM -> OK transition)."), "{}", ok.reason);
        let first = evaluate(
            &rule(1, 1, "missing"),
            "INSUFFICIENT_DATA",
            &[(NOON, Some(0.0))],
            NOON,
        )
        .unwrap();
        assert_eq!(first.reason, "Threshold Crossed: 1 datapoint [0.0 (06/12/26 12:00:00)] was not greater than the threshold (1.0).");
    }

    #[test]
    fn missing_data_follows_treat_missing_data() {
        let none = [(NOON, None)];
        let c = evaluate(&rule(1, 1, "missing"), "OK", &none, NOON).unwrap();
        assert_eq!(
            (c.state, c.reason.as_str()),
            (
                "INSUFFICIENT_DATA",
                "Insufficient Data: 1 datapoint was unknown."
            )
        );
        assert_eq!(evaluate(&rule(1, 1, "ignore"), "OK", &none, NOON), None);
        assert_eq!(
            evaluate(&rule(1, 1, "breaching"), "OK", &none, NOON)
                .unwrap()
                .state,
            "ALARM"
        );
        assert_eq!(
            evaluate(&rule(1, 1, "notBreaching"), "ALARM", &none, NOON)
                .unwrap()
                .state,
            "OK"
        );
    }

    #[test]
    fn the_window_is_the_last_complete_periods() {
        let r = rule(3, 1, "missing");
        assert_eq!(r.window_start(NOON + 59_000), NOON - 180_000);
        assert_eq!(r.window_end(NOON + 59_000), NOON);
        assert_eq!(
            r.window_start(NOON),
            NOON - 180_000,
            "a period ends at its next start"
        );
    }

    #[test]
    fn a_math_alarm_takes_its_period_from_its_queries() {
        let doc = json!({
            "EvaluationPeriods": 2, "DatapointsToAlarm": 1, "Threshold": 20.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                {"Id": "e", "Expression": "100 * errors / invocations", "ReturnData": true},
                {"Id": "errors", "ReturnData": false, "MetricStat": {"Period": 10, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}}},
            ],
        });
        let r = Rule::of(&doc).unwrap();
        assert_eq!((r.period_s, r.statistic.as_str()), (10, ""));
        let c = evaluate(&r, "OK", &[(NOON, Some(50.0)), (NOON + 10_000, None)], NOON).unwrap();
        let data: Value = serde_json::from_str(&c.data).unwrap();
        assert!(data.get("statistic").is_none() && data["period"] == 10);
    }
}
