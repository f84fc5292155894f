//! Metric alarms: PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric, DeleteAlarms,
//! SetAlarmState, Enable/DisableAlarmActions, DescribeAlarmHistory, and [`transition`], the
//! one place an alarm changes state (from the evaluator or SetAlarmState): the new state and
//! its reason, the history items, and the SNS notifications of its actions.
//!
//! An alarm is stored as the `MetricAlarm` document DescribeAlarms returns (timestamps in
//! epoch seconds, as both protocols carry them).

use serde_json::{json, Value};
use stratus_cloudwatch::alarm::{iso, Change, OPERATORS, TREAT_MISSING};
use stratus_cloudwatch::stats::{parse_percentile, STATISTICS};
use stratus_cloudwatch::store::HistoryItem;
use stratus_core::Error;

use super::input::*;
use super::metrics::{read_query, Query, What};
use super::{internal, Ctx};
use stratus_cloudwatch::math::{self, Series};

pub const STATES: [&str; 3] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

/// Most queries a metric-math alarm's `Metrics` holds (AWS's quota).
const MAX_METRICS: usize = 10;

fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationError", stratus_core::Kind::InvalidInput, message)
}

/// Runs an alarm operation off the async workers.
pub async fn blocking(
    c: &Ctx,
    v: Value,
    op: fn(&Ctx, Value) -> Result<Value, Error>,
) -> Result<Value, Error> {
    let c = c.clone();
    super::blocking(move || op(&c, v)).await
}

fn now_secs() -> f64 {
    stratus_metering::now_ms() as f64 / 1000.0
}

fn name_of(doc: &Value) -> &str {
    doc["AlarmName"].as_str().unwrap_or("")
}

/// The alarm's own checks, in the order AWS applies them.
fn check_alarm(v: &Value) -> Result<(), Error> {
    let name = req_str(v, "AlarmName")?;
    if name.is_empty() || name.len() > 255 {
        return Err(invalid(format!(
            "The value {name} for parameter AlarmName is invalid."
        )));
    }
    if !v["ThresholdMetricId"].is_null() {
        return Err(invalid(
            "ThresholdMetricId (anomaly detection bands) is not supported by this endpoint.",
        ));
    }
    let periods = req_int(v, "EvaluationPeriods")?;
    if periods < 1 {
        return Err(invalid(
            "The parameter EvaluationPeriods must be at least 1.",
        ));
    }
    let period = if v["Metrics"].is_null() {
        check_metric(v)?
    } else {
        check_math(v)?
    };
    let limit = if period >= 3600 { 7 * 86_400 } else { 86_400 };
    if period.saturating_mul(periods) > limit {
        return Err(invalid(format!(
            "The evaluation period multiplied by the number of periods cannot exceed {}.",
            if limit == 86_400 { "one day" } else { "7 days" }
        )));
    }
    check_rule(v, periods)
}

/// Periods an alarm accepts: 10, 30 or a multiple of 60 seconds.
fn check_alarm_period(period: i64, name: &str) -> Result<(), Error> {
    if period == 10 || period == 30 || (period >= 60 && period % 60 == 0) {
        return Ok(());
    }
    Err(invalid(format!(
        "The parameter {name} must be 10, 30 or a multiple of 60."
    )))
}

/// An alarm on one metric: its metric, statistic and period (returned).
fn check_metric(v: &Value) -> Result<i64, Error> {
    req_str(v, "MetricName")?;
    req_str(v, "Namespace")?;
    match (opt_str(v, "Statistic")?, opt_str(v, "ExtendedStatistic")?) {
        (Some(s), None) if STATISTICS.contains(&s) => {}
        (Some(s), None) => {
            return Err(invalid(format!(
                "The value {s} for parameter Statistic is invalid."
            )))
        }
        (None, Some(p)) if parse_percentile(p).is_some() => {}
        (None, Some(p)) => {
            return Err(invalid(format!(
                "The value {p} for parameter ExtendedStatistic is not supported."
            )))
        }
        _ => {
            return Err(combination(
                "Exactly one of Statistic and ExtendedStatistic must be specified.",
            ))
        }
    }
    let period = req_int(v, "Period")?;
    check_alarm_period(period, "Period")?;
    Ok(period)
}

/// An alarm on a metric-math expression (`Metrics`): the queries read as GetMetricData reads
/// them, none of the single-metric members, exactly one query returning data, its expression
/// valid over the queries' ids, and one period for all (returned).
fn check_math(v: &Value) -> Result<i64, Error> {
    for single in [
        "MetricName",
        "Namespace",
        "Dimensions",
        "Period",
        "Unit",
        "Statistic",
        "ExtendedStatistic",
    ] {
        if !v[single].is_null() {
            return Err(validation(format!(
                "{single} should not be set if list of Metrics is set."
            )));
        }
    }
    let raw = list(v, "Metrics")?;
    if raw.is_empty() {
        return Err(missing("Metrics"));
    }
    if raw.len() > MAX_METRICS {
        return Err(invalid(format!(
            "The collection Metrics must not have a size greater than {MAX_METRICS}."
        )));
    }
    let queries: Vec<Query> = raw
        .iter()
        .enumerate()
        .map(|(i, q)| read_query(q, "Metrics", i + 1))
        .collect::<Result<_, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = queries.iter().find(|q| !seen.insert(q.id.as_str())) {
        return Err(validation(format!(
            "The values for parameter id in Metrics are not unique: {}",
            dup.id
        )));
    }
    if queries.iter().filter(|q| q.return_data).count() != 1 {
        return Err(validation(
            "Exactly one element of the metrics list should return data.",
        ));
    }
    // Expressions are checked in the order the evaluator computes them: over the metric
    // queries and the expressions before them.
    let mut ids: std::collections::BTreeMap<String, Series> = queries
        .iter()
        .filter(|q| matches!(q.what, What::Stat { .. }))
        .map(|q| (q.id.clone(), Series::new()))
        .collect();
    for q in &queries {
        if let What::Expression(e) = &q.what {
            math::evaluate(e, &ids).map_err(|m| {
                validation(format!(
                    "Invalid metrics list: error in expression '{}': {m}",
                    q.id
                ))
            })?;
            ids.insert(q.id.clone(), Series::new());
        }
    }
    let mut periods = raw.iter().filter_map(|q| {
        q["Period"]
            .as_i64()
            .or_else(|| q["MetricStat"]["Period"].as_i64())
    });
    let period = periods.next().ok_or_else(|| {
        validation("Metrics list must contain at least one metric with a period.")
    })?;
    check_alarm_period(period, "Metrics.member.N.MetricStat.Period")?;
    if periods.any(|p| p != period) {
        return Err(validation(
            "All metrics in the Metrics list of an alarm must have the same period.",
        ));
    }
    Ok(period)
}

/// The comparison, the number of datapoints, missing data and actions.
fn check_rule(v: &Value, periods: i64) -> Result<(), Error> {
    if let Some(n) = opt_int(v, "DatapointsToAlarm")? {
        if n < 1 || n > periods {
            return Err(invalid(
                "DatapointsToAlarm must be at least 1 and no more than EvaluationPeriods.",
            ));
        }
    }
    let op = req_str(v, "ComparisonOperator")?;
    if !OPERATORS.contains(&op) {
        return Err(invalid(format!(
            "The value {op} for parameter ComparisonOperator is not supported by this endpoint (anomaly detection bands are not offered)."
        )));
    }
    if opt_f64(v, "Threshold")?.is_none() {
        return Err(missing("Threshold"));
    }
    if let Some(t) = opt_str(v, "TreatMissingData")? {
        if !TREAT_MISSING.contains(&t) {
            return Err(invalid(format!(
                "The value {t} for parameter TreatMissingData is invalid."
            )));
        }
    }
    for list_name in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
        for arn in strings(v, list_name, 5)? {
            check_action(&arn)?;
        }
    }
    Ok(())
}

/// Alarm actions Stratus can carry out: SNS topics.
fn check_action(arn: &str) -> Result<(), Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(invalid(format!("Invalid arn syntax: {arn}")));
    }
    if parts[2] != "sns" {
        return Err(invalid(format!(
            "The action {arn} is not supported by this endpoint: alarm actions must be SNS topics."
        )));
    }
    Ok(())
}

pub fn put_metric_alarm(c: &Ctx, v: Value) -> Result<Value, Error> {
    check_alarm(&v)?;
    let db = &c.state.stores.cloudwatch;
    let name = req_str(&v, "AlarmName")?.to_string();
    let old = db.alarm(&name).map_err(internal)?;
    let now = now_secs();
    let mut doc = json!({
        "AlarmName": name,
        "AlarmArn": format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", c.region, stratus_core::ACCOUNT_ID),
        "AlarmConfigurationUpdatedTimestamp": now,
        "ActionsEnabled": opt_bool(&v, "ActionsEnabled")?.unwrap_or(true),
        "OKActions": strings(&v, "OKActions", 5)?,
        "AlarmActions": strings(&v, "AlarmActions", 5)?,
        "InsufficientDataActions": strings(&v, "InsufficientDataActions", 5)?,
        "StateValue": "INSUFFICIENT_DATA",
        "StateReason": "Unchecked: Initial alarm creation",
        "StateUpdatedTimestamp": now,
        "StateTransitionedTimestamp": now,
        "EvaluationPeriods": v["EvaluationPeriods"],
        "Threshold": v["Threshold"],
        "ComparisonOperator": v["ComparisonOperator"],
        "TreatMissingData": opt_str(&v, "TreatMissingData")?.unwrap_or("missing"),
    });
    match v["Metrics"].as_array() {
        Some(metrics) => doc["Metrics"] = json!(metrics.iter().map(math_query).collect::<Vec<_>>()),
        None => {
            doc["MetricName"] = v["MetricName"].clone();
            doc["Namespace"] = v["Namespace"].clone();
            doc["Dimensions"] = dims_json(&dimensions(&v, "Dimensions")?);
            doc["Period"] = v["Period"].clone();
        }
    }
    for copied in [
        "AlarmDescription",
        "Statistic",
        "ExtendedStatistic",
        "Unit",
        "DatapointsToAlarm",
        "EvaluateLowSampleCountPercentile",
    ] {
        if !v[copied].is_null() {
            doc[copied] = v[copied].clone();
        }
    }
    // An update replaces the configuration and leaves the state as it was.
    let verb = match &old {
        Some(old) => {
            for kept in [
                "StateValue",
                "StateReason",
                "StateReasonData",
                "StateUpdatedTimestamp",
                "StateTransitionedTimestamp",
            ] {
                if !old[kept].is_null() {
                    doc[kept] = old[kept].clone();
                }
            }
            "updated"
        }
        None => "created",
    };
    let kind = if verb == "created" {
        "Create"
    } else {
        "Update"
    };
    let history = HistoryItem {
        name: name.clone(),
        ts_ms: stratus_metering::now_ms(),
        kind: "ConfigurationUpdate".into(),
        summary: format!("Alarm \"{name}\" {verb}"),
        data: json!({"version": "1.0", "type": kind, (format!("{verb}Alarm")): doc}).to_string(),
    };
    db.put_alarm(&name, &doc, &history).map_err(internal)?;
    Ok(json!({}))
}

/// A metric-math alarm's query as DescribeAlarms returns it: the members AWS keeps, with
/// `ReturnData` spelled out.
fn math_query(q: &Value) -> Value {
    let mut out = json!({"Id": q["Id"], "ReturnData": q["ReturnData"] != json!(false)});
    for kept in ["Expression", "Label", "Period", "AccountId"] {
        if !q[kept].is_null() {
            out[kept] = q[kept].clone();
        }
    }
    if q["MetricStat"].is_object() {
        let mut stat = q["MetricStat"].clone();
        let dims = dimensions(&stat["Metric"], "Dimensions").unwrap_or_default();
        stat["Metric"]["Dimensions"] = dims_json(&dims);
        out["MetricStat"] = stat;
    }
    out
}

pub fn describe_alarms(c: &Ctx, v: Value) -> Result<Value, Error> {
    let names = strings(&v, "AlarmNames", 100)?;
    let prefix = opt_str(&v, "AlarmNamePrefix")?;
    if !names.is_empty() && prefix.is_some() {
        return Err(combination(
            "AlarmNamePrefix and AlarmNames cannot be specified together.",
        ));
    }
    let state = opt_str(&v, "StateValue")?;
    if let Some(s) = state.filter(|s| !STATES.contains(s)) {
        return Err(invalid(format!(
            "The value {s} for parameter StateValue is invalid."
        )));
    }
    let action = opt_str(&v, "ActionPrefix")?;
    let types = strings(&v, "AlarmTypes", 2)?;
    let max = opt_int(&v, "MaxRecords")?.unwrap_or(50);
    if !(1..=100).contains(&max) {
        return Err(invalid(format!(
            "The value {max} for parameter MaxRecords is invalid: it must be between 1 and 100."
        )));
    }
    let after = opt_str(&v, "NextToken")?.unwrap_or("");
    let metric_alarms = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
    let all = c.state.stores.cloudwatch.alarms().map_err(internal)?;
    let mut matching = all.into_iter().map(|(doc, _)| doc).filter(|doc| {
        let name = name_of(doc);
        metric_alarms
            && name > after
            && (names.is_empty() || names.iter().any(|n| n == name))
            && prefix.is_none_or(|p| name.starts_with(p))
            && state.is_none_or(|s| doc["StateValue"] == s)
            && action.is_none_or(|p| actions_of(doc).any(|a| a.starts_with(p)))
    });
    let page: Vec<Value> = matching.by_ref().take(max as usize).collect();
    let mut out = json!({"MetricAlarms": page, "CompositeAlarms": []});
    if matching.next().is_some() {
        if let Some(last) = page.last() {
            out["NextToken"] = json!(name_of(last));
        }
    }
    Ok(out)
}

fn actions_of(doc: &Value) -> impl Iterator<Item = &str> {
    ["AlarmActions", "OKActions", "InsufficientDataActions"]
        .into_iter()
        .flat_map(move |k| doc[k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
}

pub fn describe_alarms_for_metric(c: &Ctx, v: Value) -> Result<Value, Error> {
    let name = req_str(&v, "MetricName")?;
    let namespace = req_str(&v, "Namespace")?;
    let dims = dims_json(&dimensions(&v, "Dimensions")?);
    let all = c.state.stores.cloudwatch.alarms().map_err(internal)?;
    let same = |doc: &Value, key: &str| v[key].is_null() || doc[key] == v[key];
    let alarms: Vec<Value> = all
        .into_iter()
        .map(|(doc, _)| doc)
        .filter(|doc| {
            doc["MetricName"] == name
                && doc["Namespace"] == namespace
                && (v["Dimensions"].is_null() || sorted_dims(doc) == dims)
                && ["Statistic", "ExtendedStatistic", "Period", "Unit"]
                    .iter()
                    .all(|k| same(doc, k))
        })
        .collect();
    Ok(json!({"MetricAlarms": alarms}))
}

fn sorted_dims(doc: &Value) -> Value {
    let mut dims = doc["Dimensions"].as_array().cloned().unwrap_or_default();
    dims.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    Value::Array(dims)
}

pub fn delete_alarms(c: &Ctx, v: Value) -> Result<Value, Error> {
    let names = strings(&v, "AlarmNames", 100)?;
    let db = &c.state.stores.cloudwatch;
    for n in &names {
        if db.alarm(n).map_err(internal)?.is_none() {
            return Err(not_found(format!("1 or more alarms not found: {n}")));
        }
    }
    db.delete_alarms(&names).map_err(internal)?;
    Ok(json!({}))
}

pub fn set_alarm_state(c: &Ctx, v: Value) -> Result<Value, Error> {
    let name = req_str(&v, "AlarmName")?;
    let state = req_str(&v, "StateValue")?;
    if !STATES.contains(&state) {
        return Err(invalid(format!(
            "The value {state} for parameter StateValue is invalid."
        )));
    }
    let reason = req_str(&v, "StateReason")?;
    let data = opt_str(&v, "StateReasonData")?;
    if let Some(d) = data {
        if serde_json::from_str::<Value>(d).is_err() {
            return Err(Error::new(
                "InvalidFormat",
                stratus_core::Kind::InvalidInput,
                "The parameter StateReasonData must be valid JSON.",
            ));
        }
    }
    let doc = c
        .state
        .stores
        .cloudwatch
        .alarm(name)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("Alarm {name} not found")))?;
    let state = STATES.into_iter().find(|s| *s == state).unwrap_or("OK");
    let change = Change {
        state,
        reason: reason.to_string(),
        data: data.unwrap_or("").to_string(),
    };
    transition(&c.state, doc, &change, stratus_metering::now_ms())?;
    Ok(json!({}))
}

fn switch_actions(c: &Ctx, v: &Value, enabled: bool) -> Result<Value, Error> {
    let db = &c.state.stores.cloudwatch;
    for name in strings(v, "AlarmNames", 100)? {
        if let Some(mut doc) = db.alarm(&name).map_err(internal)? {
            doc["ActionsEnabled"] = json!(enabled);
            db.update_alarm(&name, &doc, &[]).map_err(internal)?;
        }
    }
    Ok(json!({}))
}

pub fn enable_alarm_actions(c: &Ctx, v: Value) -> Result<Value, Error> {
    switch_actions(c, &v, true)
}

pub fn disable_alarm_actions(c: &Ctx, v: Value) -> Result<Value, Error> {
    switch_actions(c, &v, false)
}

pub fn describe_alarm_history(c: &Ctx, v: Value) -> Result<Value, Error> {
    let name = opt_str(&v, "AlarmName")?;
    let kind = opt_str(&v, "HistoryItemType")?;
    if let Some(k) = kind.filter(|k| !["ConfigurationUpdate", "StateUpdate", "Action"].contains(k))
    {
        return Err(invalid(format!(
            "The value {k} for parameter HistoryItemType is invalid."
        )));
    }
    let from = opt_time(&v, "StartDate")?.unwrap_or(0);
    let to = opt_time(&v, "EndDate")?.unwrap_or(i64::MAX);
    let max = opt_int(&v, "MaxRecords")?.unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(invalid(format!(
            "The value {max} for parameter MaxRecords is invalid: it must be between 1 and 100."
        )));
    }
    let skip: usize = match opt_str(&v, "NextToken")? {
        None => 0,
        Some(t) => t.parse().map_err(|_| {
            Error::new(
                "InvalidNextToken",
                stratus_core::Kind::InvalidInput,
                "Invalid NextToken",
            )
        })?,
    };
    let mut items = c
        .state
        .stores
        .cloudwatch
        .history(name, from, to)
        .map_err(internal)?;
    items.retain(|h| kind.is_none_or(|k| h.kind == k));
    if opt_str(&v, "ScanBy")? == Some("TimestampAscending") {
        items.reverse();
    }
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(max as usize)
        .map(|h| {
            json!({
                "AlarmName": h.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": secs(h.ts_ms),
                "HistoryItemType": h.kind,
                "HistorySummary": h.summary,
                "HistoryData": h.data,
            })
        })
        .collect();
    let mut out = json!({"AlarmHistoryItems": page});
    if skip + (max as usize) < items.len() {
        out["NextToken"] = json!((skip + max as usize).to_string());
    }
    Ok(out)
}

/// Moves an alarm to `change.state`: the document, a `StateUpdate` history item, and, with
/// actions enabled, the notification to each SNS topic of the new state's actions (each
/// recorded as an `Action` item, failures included).
pub fn transition(
    state: &crate::Shared,
    mut doc: Value,
    change: &Change,
    now_ms: i64,
) -> Result<(), Error> {
    let name = name_of(&doc).to_string();
    let old_state = doc["StateValue"]
        .as_str()
        .unwrap_or("INSUFFICIENT_DATA")
        .to_string();
    let old_reason = doc["StateReason"].clone();
    let now = now_ms as f64 / 1000.0;
    doc["StateValue"] = json!(change.state);
    doc["StateReason"] = json!(change.reason);
    if change.data.is_empty() {
        doc.as_object_mut().map(|m| m.remove("StateReasonData"));
    } else {
        doc["StateReasonData"] = json!(change.data);
    }
    doc["StateUpdatedTimestamp"] = json!(now);
    if old_state != change.state {
        doc["StateTransitionedTimestamp"] = json!(now);
    }
    let reason_data: Value = serde_json::from_str(&change.data).unwrap_or(Value::Null);
    let mut history = vec![HistoryItem {
        name: name.clone(),
        ts_ms: now_ms,
        kind: "StateUpdate".into(),
        summary: format!("Alarm updated from {old_state} to {}", change.state),
        data: json!({
            "version": "1.0",
            "oldState": {"stateValue": old_state, "stateReason": old_reason},
            "newState": {"stateValue": change.state, "stateReason": change.reason, "stateReasonData": reason_data},
        })
        .to_string(),
    }];
    if doc["ActionsEnabled"] != json!(false) {
        history.extend(notify(state, &doc, &old_state, now_ms));
    }
    state
        .stores
        .cloudwatch
        .update_alarm(&name, &doc, &history)
        .map_err(internal)?;
    Ok(())
}

/// Publishes the alarm notification to each topic of the state's actions.
fn notify(state: &crate::Shared, doc: &Value, old_state: &str, now_ms: i64) -> Vec<HistoryItem> {
    let new_state = doc["StateValue"].as_str().unwrap_or("");
    let list = match new_state {
        "ALARM" => "AlarmActions",
        "OK" => "OKActions",
        _ => "InsufficientDataActions",
    };
    let arns: Vec<String> = strings(doc, list, 5).unwrap_or_default();
    if arns.is_empty() {
        return vec![];
    }
    let region = doc["AlarmArn"]
        .as_str()
        .and_then(|a| a.split(':').nth(3))
        .unwrap_or("us-east-1");
    let (subject, message) = notification(doc, old_state, region, now_ms);
    let name = name_of(doc);
    arns.iter()
        .map(|arn| {
            let sent = crate::services::sns::publish::publish_for_service(
                state,
                region,
                &state.stores.events.endpoint,
                arn,
                &message,
                Some(&subject),
            );
            let (summary, data) = match sent {
                Ok(id) => (
                    format!("Successfully executed action {arn}"),
                    json!({"actionState": "Succeeded", "notificationResource": arn, "stateUpdateTimestamp": now_ms, "publishedMessage": id}),
                ),
                Err(e) => (
                    format!("Failed to execute action {arn}. Received error: \"{}\"", e.message),
                    json!({"actionState": "Failed", "notificationResource": arn, "stateUpdateTimestamp": now_ms, "error": e.message}),
                ),
            };
            HistoryItem {
                name: name.to_string(),
                ts_ms: now_ms,
                kind: "Action".into(),
                summary,
                data: data.to_string(),
            }
        })
        .collect()
}

/// The SNS subject and message of a state change, as CloudWatch writes them.
pub fn notification(doc: &Value, old_state: &str, region: &str, now_ms: i64) -> (String, String) {
    let name = name_of(doc);
    let state = doc["StateValue"].as_str().unwrap_or("");
    let region_name = region_name(region);
    let mut subject = format!("{state}: \"{name}\" in {region_name}");
    if subject.len() > 100 {
        let mut cut = 100;
        while !subject.is_char_boundary(cut) {
            cut -= 1;
        }
        subject.truncate(cut);
    }
    let (stat_type, stat) = match doc["ExtendedStatistic"].as_str() {
        Some(p) => ("ExtendedStatistic", p.to_string()),
        None => (
            "Statistic",
            doc["Statistic"].as_str().unwrap_or("").to_uppercase(),
        ),
    };
    let dims: Vec<Value> = doc["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| json!({"value": d["Value"], "name": d["Name"]}))
        .collect();
    let ms = |k: &str| (doc[k].as_f64().unwrap_or(0.0) * 1000.0) as i64;
    let mut trigger = json!({
        "MetricName": doc["MetricName"],
        "Namespace": doc["Namespace"],
        "StatisticType": stat_type,
        "Unit": doc.get("Unit").cloned().unwrap_or(Value::Null),
        "Dimensions": dims,
        "Period": doc["Period"],
        "EvaluationPeriods": doc["EvaluationPeriods"],
        "DatapointsToAlarm": doc.get("DatapointsToAlarm").cloned().unwrap_or(doc["EvaluationPeriods"].clone()),
        "ComparisonOperator": doc["ComparisonOperator"],
        "Threshold": doc["Threshold"],
        "TreatMissingData": doc["TreatMissingData"],
        "EvaluateLowSampleCountPercentile": doc.get("EvaluateLowSampleCountPercentile").cloned().unwrap_or(json!("")),
    });
    trigger[stat_type] = json!(stat);
    if let Some(metrics) = doc["Metrics"].as_array() {
        trigger = math_trigger(doc, metrics);
    }
    let message = json!({
        "AlarmName": name,
        "AlarmDescription": doc.get("AlarmDescription").cloned().unwrap_or(Value::Null),
        "AWSAccountId": stratus_core::ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": iso(ms("AlarmConfigurationUpdatedTimestamp")),
        "NewStateValue": state,
        "NewStateReason": doc["StateReason"],
        "StateChangeTime": iso(now_ms),
        "Region": region_name,
        "AlarmArn": doc["AlarmArn"],
        "OldStateValue": old_state,
        "OKActions": doc["OKActions"],
        "AlarmActions": doc["AlarmActions"],
        "InsufficientDataActions": doc["InsufficientDataActions"],
        "Trigger": trigger,
    });
    (subject, message.to_string())
}

/// The `Trigger` of a metric-math alarm's notification: the rule and its queries, with
/// dimensions spelt `{value, name}` as in single-metric triggers.
fn math_trigger(doc: &Value, metrics: &[Value]) -> Value {
    let queries: Vec<Value> = metrics
        .iter()
        .map(|q| {
            let mut q = q.clone();
            if let Some(dims) = q["MetricStat"]["Metric"]["Dimensions"].as_array() {
                let spelt: Vec<Value> = dims
                    .iter()
                    .map(|d| json!({"value": d["Value"], "name": d["Name"]}))
                    .collect();
                q["MetricStat"]["Metric"]["Dimensions"] = json!(spelt);
            }
            q
        })
        .collect();
    json!({
        "Period": stratus_cloudwatch::alarm::math_period(doc),
        "EvaluationPeriods": doc["EvaluationPeriods"],
        "DatapointsToAlarm": doc.get("DatapointsToAlarm").cloned().unwrap_or(doc["EvaluationPeriods"].clone()),
        "ComparisonOperator": doc["ComparisonOperator"],
        "Threshold": doc["Threshold"],
        "TreatMissingData": doc["TreatMissingData"],
        "EvaluateLowSampleCountPercentile": doc.get("EvaluateLowSampleCountPercentile").cloned().unwrap_or(json!("")),
        "Metrics": queries,
    })
}

/// The region's name as notifications spell it ("US East (N. Virginia)"); the code for a
/// region not in the table.
fn region_name(region: &str) -> String {
    let name = match region {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "ca-central-1" => "Canada (Central)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-north-1" => "EU (Stockholm)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-northeast-2" => "Asia Pacific (Seoul)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "sa-east-1" => "South America (Sao Paulo)",
        other => other,
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm() -> Value {
        json!({
            "AlarmName": "errors", "MetricName": "Errors", "Namespace": "AWS/Lambda",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanThreshold",
        })
    }

    #[test]
    fn alarm_checks() {
        assert!(check_alarm(&alarm()).is_ok());
        let with = |k: &str, v: Value| {
            let mut a = alarm();
            a[k] = v;
            check_alarm(&a).unwrap_err().code
        };
        assert_eq!(with("Period", json!(45)), "InvalidParameterValue");
        assert_eq!(
            with("ExtendedStatistic", json!("p99")),
            "InvalidParameterCombination"
        );
        assert_eq!(with("DatapointsToAlarm", json!(2)), "InvalidParameterValue");
        assert_eq!(
            with("ComparisonOperator", json!("LessThanLowerThreshold")),
            "InvalidParameterValue"
        );
        assert_eq!(
            with(
                "AlarmActions",
                json!(["arn:aws:lambda:us-east-1:0:function:f"])
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            with("EvaluationPeriods", json!(1441)),
            "InvalidParameterValue"
        );
        let mut no_threshold = alarm();
        no_threshold.as_object_mut().unwrap().remove("Threshold");
        assert_eq!(
            check_alarm(&no_threshold).unwrap_err().code,
            "MissingParameter"
        );
    }

    fn math_alarm() -> Value {
        json!({
            "AlarmName": "rate", "EvaluationPeriods": 1, "Threshold": 20.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                {"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": true},
                {"Id": "errors", "ReturnData": false, "MetricStat": {"Period": 60, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}}},
                {"Id": "invocations", "ReturnData": false, "MetricStat": {"Period": 60, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations"}}},
            ],
        })
    }

    #[test]
    fn math_alarm_checks() {
        assert!(check_alarm(&math_alarm()).is_ok());
        let err = |a: &Value| {
            let e = check_alarm(a).unwrap_err();
            (e.code, e.message)
        };
        let mut mixed = math_alarm();
        mixed["Statistic"] = json!("Sum");
        assert_eq!(
            err(&mixed),
            (
                "ValidationError",
                "Statistic should not be set if list of Metrics is set.".into()
            )
        );
        let mut two = math_alarm();
        two["Metrics"][1]["ReturnData"] = json!(true);
        assert_eq!(
            err(&two),
            (
                "ValidationError",
                "Exactly one element of the metrics list should return data.".into()
            )
        );
        let mut none = math_alarm();
        none["Metrics"][0]["ReturnData"] = json!(false);
        assert_eq!(err(&none).0, "ValidationError");
        let mut unknown = math_alarm();
        unknown["Metrics"][0]["Expression"] = json!("errors / calls");
        assert!(err(&unknown).1.contains("unknown id 'calls'"));
        let mut itself = math_alarm();
        itself["Metrics"][0]["Expression"] = json!("rate + 1");
        assert_eq!(err(&itself).0, "ValidationError");
        let mut periods = math_alarm();
        periods["Metrics"][2]["MetricStat"]["Period"] = json!(120);
        assert_eq!(err(&periods).0, "ValidationError");
        let mut both = math_alarm();
        both["Metrics"][1]["Expression"] = json!("1");
        assert_eq!(err(&both).0, "InvalidParameterCombination");
        let mut dup = math_alarm();
        dup["Metrics"][2]["Id"] = json!("errors");
        assert_eq!(err(&dup).0, "ValidationError");
        let mut bad_id = math_alarm();
        bad_id["Metrics"][1]["Id"] = json!("Errors");
        assert_eq!(err(&bad_id).0, "InvalidParameterValue");
        let mut empty = math_alarm();
        empty["Metrics"] = json!([]);
        assert_eq!(err(&empty).0, "MissingParameter");
    }

    #[test]
    fn notifications_are_shaped_as_cloudwatch_sends_them() {
        let mut doc = alarm();
        doc["AlarmArn"] = json!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:errors");
        doc["StateValue"] = json!("ALARM");
        doc["StateReason"] = json!("Threshold Crossed");
        doc["Dimensions"] = json!([{"Name": "FunctionName", "Value": "f"}]);
        let (subject, message) = notification(&doc, "OK", "us-east-1", 0);
        assert_eq!(subject, "ALARM: \"errors\" in US East (N. Virginia)");
        let m: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(m["NewStateValue"], "ALARM");
        assert_eq!(m["OldStateValue"], "OK");
        assert_eq!(m["StateChangeTime"], "1970-01-01T00:00:00.000+0000");
        assert_eq!(m["Trigger"]["Statistic"], "SUM");
        assert_eq!(
            m["Trigger"]["Dimensions"],
            json!([{"value": "f", "name": "FunctionName"}])
        );
        assert_eq!(m["Trigger"]["DatapointsToAlarm"], 1);
    }
}
