//! Metric filters: PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter and
//! TestMetricFilter. A group's filters are stored with it (the engine's log store keeps them
//! as a JSON document); the engine evaluates them on what is written and hands the values to
//! its metric sink (`stratus_engine::logs::metrics`).

use serde::Deserialize;
use serde_json::{json, Value};
use stratus_cloudwatch::UNITS;
use stratus_core::log_pattern::Pattern;
use stratus_engine::logs::metrics::{parse_filters, MetricFilter, MetricTransformation};
use stratus_engine::logs::store::now_ms;
use stratus_engine::logs::LogStore;

use super::{index_token, limit, validate_group, LogsError, LogsResult};

/// AWS's quota of metric filters per log group.
const MAX_PER_GROUP: usize = 100;

fn stored(store: &LogStore, group: &str) -> Result<Vec<MetricFilter>, stratus_core::Error> {
    let doc = store
        .metric_filters(group)
        .map_err(LogsError::io)?
        .ok_or_else(LogsError::no_group)?;
    Ok(parse_filters(&doc))
}

fn save(
    store: &LogStore,
    group: &str,
    filters: &[MetricFilter],
) -> Result<(), stratus_core::Error> {
    let doc = if filters.is_empty() {
        String::new()
    } else {
        serde_json::to_string(filters).unwrap_or_default()
    };
    if store
        .set_metric_filters(group, &doc)
        .map_err(LogsError::io)?
    {
        Ok(())
    } else {
        Err(LogsError::no_group())
    }
}

/// How many metric filters a group has (DescribeLogGroups' `metricFilterCount`).
pub(super) fn count(store: &LogStore, group: &str) -> usize {
    store
        .metric_filters(group)
        .ok()
        .flatten()
        .map_or(0, |d| parse_filters(&d).len())
}

fn validate_name(name: &str) -> Result<(), stratus_core::Error> {
    if name.is_empty() || name.len() > 512 {
        return Err(LogsError::constraint(
            name,
            "filterName",
            "Member must have length between 1 and 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(LogsError::constraint(
            name,
            "filterName",
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

fn parse_pattern(text: &str) -> Result<Pattern, stratus_core::Error> {
    if text.len() > 1024 {
        return Err(LogsError::constraint(
            "...",
            "filterPattern",
            "Member must have length less than or equal to 1024",
        ));
    }
    Pattern::parse(text).map_err(LogsError::invalid)
}

fn validate_transformation(
    t: &MetricTransformation,
    pattern: &Pattern,
) -> Result<(), stratus_core::Error> {
    let member = "metricTransformations.1.member";
    for (value, name) in [
        (&t.metric_name, "metricName"),
        (&t.metric_namespace, "metricNamespace"),
    ] {
        if value.len() > 255 || value.contains([':', '*', '$']) || value.is_empty() {
            return Err(LogsError::constraint(
                value,
                &format!("{member}.{name}"),
                "Member must satisfy regular expression pattern: [^:*$]*",
            ));
        }
    }
    let v = &t.metric_value;
    let selectable = v.starts_with('$') && pattern.can_select(v);
    if v.is_empty() || v.len() > 100 || (!selectable && v.parse::<f64>().is_err()) {
        return Err(LogsError::invalid("Invalid metric value"));
    }
    if let Some(u) = &t.unit {
        if !UNITS.contains(&u.as_str()) {
            return Err(LogsError::constraint(
                u,
                &format!("{member}.unit"),
                &format!("Member must satisfy enum value set: [{}]", UNITS.join(", ")),
            ));
        }
    }
    if let Some(dims) = &t.dimensions {
        if dims.len() > 3 {
            return Err(LogsError::invalid(
                "A metric filter can have at most 3 dimensions.",
            ));
        }
        if t.default_value.is_some() && !dims.is_empty() {
            return Err(LogsError::invalid(
                "Metric filters with dimensions cannot have a default value.",
            ));
        }
        if dims.values().any(|sel| !pattern.can_select(sel)) {
            return Err(LogsError::invalid("Invalid dimension value"));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutFilter {
    log_group_name: Option<String>,
    filter_name: Option<String>,
    filter_pattern: Option<String>,
    metric_transformations: Option<Vec<MetricTransformation>>,
}

pub(super) fn put(store: &LogStore, req: PutFilter) -> LogsResult {
    let group = req
        .log_group_name
        .ok_or_else(|| LogsError::missing("logGroupName"))?;
    validate_group(&group)?;
    let name = req
        .filter_name
        .ok_or_else(|| LogsError::missing("filterName"))?;
    validate_name(&name)?;
    let text = req
        .filter_pattern
        .ok_or_else(|| LogsError::missing("filterPattern"))?;
    let pattern = parse_pattern(&text)?;
    let transformations = req
        .metric_transformations
        .ok_or_else(|| LogsError::missing("metricTransformations"))?;
    if transformations.len() != 1 {
        return Err(LogsError::constraint(
            "[...]",
            "metricTransformations",
            "Member must have length less than or equal to 1",
        ));
    }
    validate_transformation(&transformations[0], &pattern)?;
    let mut filters = stored(store, &group)?;
    let filter = MetricFilter {
        filter_name: name.clone(),
        filter_pattern: text,
        metric_transformations: transformations,
        creation_time: now_ms(),
    };
    let full = filters.len() >= MAX_PER_GROUP;
    match filters.iter_mut().find(|f| f.filter_name == name) {
        Some(existing) => *existing = filter,
        None if full => {
            return Err(LogsError::named(
                "LimitExceededException",
                "Resource limit exceeded.",
            ))
        }
        None => filters.push(filter),
    }
    filters.sort_by(|a, b| a.filter_name.cmp(&b.filter_name));
    save(store, &group, &filters)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteFilter {
    log_group_name: Option<String>,
    filter_name: Option<String>,
}

pub(super) fn delete(store: &LogStore, req: DeleteFilter) -> LogsResult {
    let group = req
        .log_group_name
        .ok_or_else(|| LogsError::missing("logGroupName"))?;
    validate_group(&group)?;
    let name = req
        .filter_name
        .ok_or_else(|| LogsError::missing("filterName"))?;
    validate_name(&name)?;
    let mut filters = stored(store, &group)?;
    let before = filters.len();
    filters.retain(|f| f.filter_name != name);
    if filters.len() == before {
        return Err(LogsError::named(
            "ResourceNotFoundException",
            "The specified metric filter does not exist.",
        ));
    }
    save(store, &group, &filters)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeFilters {
    log_group_name: Option<String>,
    filter_name_prefix: Option<String>,
    metric_name: Option<String>,
    metric_namespace: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub(super) fn describe(store: &LogStore, req: DescribeFilters) -> LogsResult {
    if req.filter_name_prefix.is_some() && req.log_group_name.is_none() {
        return Err(LogsError::invalid(
            "The parameter logGroupName is required when filterNamePrefix is specified.",
        ));
    }
    if req.metric_name.is_some() != req.metric_namespace.is_some() {
        return Err(LogsError::invalid(
            "The parameters metricName and metricNamespace must be specified together.",
        ));
    }
    let limit = limit(req.limit, 50, 50)?;
    let start = index_token(req.next_token.as_deref())?;
    let groups: Vec<String> = match &req.log_group_name {
        Some(g) => {
            validate_group(g)?;
            vec![g.clone()]
        }
        None => store
            .groups()
            .map_err(LogsError::io)?
            .into_iter()
            .map(|g| g.name)
            .collect(),
    };
    let mut all: Vec<Value> = Vec::new();
    for g in &groups {
        let filters = match stored(store, g) {
            Ok(f) => f,
            // Gone since it was listed.
            Err(_) if req.log_group_name.is_none() => continue,
            Err(e) => return Err(e),
        };
        for f in filters {
            let prefix_ok = req
                .filter_name_prefix
                .as_deref()
                .is_none_or(|p| f.filter_name.starts_with(p));
            let metric_ok = req.metric_name.as_deref().is_none_or(|m| {
                f.metric_transformations.iter().any(|t| {
                    t.metric_name == m
                        && Some(t.metric_namespace.as_str()) == req.metric_namespace.as_deref()
                })
            });
            if prefix_ok && metric_ok {
                let mut v = serde_json::to_value(&f).unwrap_or_default();
                v["logGroupName"] = json!(g);
                v["applyOnTransformedLogs"] = json!(false);
                all.push(v);
            }
        }
    }
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let mut out = json!({ "metricFilters": page });
    if start + limit < all.len() {
        out["nextToken"] = json!(format!("i/{}", start + limit));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TestFilter {
    filter_pattern: Option<String>,
    log_event_messages: Option<Vec<String>>,
}

pub(super) fn test(req: TestFilter) -> LogsResult {
    let text = req
        .filter_pattern
        .ok_or_else(|| LogsError::missing("filterPattern"))?;
    let messages = req
        .log_event_messages
        .ok_or_else(|| LogsError::missing("logEventMessages"))?;
    if messages.is_empty() || messages.len() > 50 {
        return Err(LogsError::constraint(
            "[...]",
            "logEventMessages",
            "Member must have length between 1 and 50",
        ));
    }
    let pattern = parse_pattern(&text)?;
    let matches: Vec<Value> = messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let fields = pattern.fields(m)?;
            let extracted: serde_json::Map<String, Value> = pattern
                .extracted(&fields)
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            Some(json!({
                "eventNumber": i + 1,
                "eventMessage": m,
                "extractedValues": extracted,
            }))
        })
        .collect();
    Ok(json!({ "matches": matches }))
}
