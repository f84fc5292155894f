//! CloudWatch Logs' JSON 1.1 protocol (`X-Amz-Target: Logs_20140328.<Op>`) over the engine's
//! [`LogStore`](stratus_engine::logs::LogStore): the log groups functions write to
//! (`/aws/lambda/<name>`) and any a user creates.
//!
//! - this module: dispatch, errors, groups, streams and retention.
//! - [`events`]: reading (GetLogEvents, FilterLogEvents) and writing (PutLogEvents) events.
//! - [`insights`]: Logs Insights queries (StartQuery, GetQueryResults, StopQuery,
//!   DescribeQueries), in the language of `stratus_core::log_query`.
//! - [`metric_filters`]: PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter and
//!   TestMetricFilter.
//! - filter patterns are `stratus_core::log_pattern`.

mod events;
mod insights;
mod metric_filters;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::{Error, Kind, ACCOUNT_ID};
use stratus_engine::logs::LogStore;

use super::json::Call;

/// The errors CloudWatch Logs answers, as core errors (rendered by the JSON protocol's one
/// renderer, [`super::json::render`]). A namespace of constructors, so call sites name the
/// service's wording.
pub struct LogsError;

type LogsResult = Result<Value, Error>;

impl LogsError {
    /// A client error named by `code`.
    fn named(code: &'static str, message: impl Into<String>) -> Error {
        let kind = match code {
            "ResourceNotFoundException" => Kind::NotFound,
            "ResourceAlreadyExistsException" => Kind::Conflict,
            "UnknownOperationException" => Kind::UnknownOperation,
            _ => Kind::InvalidInput,
        };
        Error::new(code, kind, message)
    }
    fn invalid(message: impl Into<String>) -> Error {
        Self::named("InvalidParameterException", message)
    }
    fn no_group() -> Error {
        Self::named(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }
    fn no_stream() -> Error {
        Self::named(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
    }
    /// A constraint from the service model, worded as AWS's validation layer words it.
    fn constraint(value: impl std::fmt::Display, member: &str, text: &str) -> Error {
        Self::invalid(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {text}"
        ))
    }
    fn missing(member: &str) -> Error {
        Self::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }
    fn io(e: std::io::Error) -> Error {
        tracing::error!(%e, "log store");
        internal()
    }
}

/// The fault a request gets when the log store failed, or its handler did (a panic).
pub fn internal() -> Error {
    Error::new(
        "ServiceUnavailableException",
        Kind::Unavailable,
        "The service cannot complete the request.",
    )
}

/// Runs one operation (`op` is empty when the target is not CloudWatch Logs').
pub fn run(call: Call) -> LogsResult {
    let engine = call.state.invoker.engine();
    match call.op.as_str() {
        "StartQuery" => insights::start(engine, parse(&call.body)?),
        "GetQueryResults" => insights::results(parse(&call.body)?),
        "StopQuery" => insights::stop(parse(&call.body)?),
        "DescribeQueries" => insights::describe(parse(&call.body)?),
        _ => operation(engine.logs(), &call.region, &call.op, &call.body),
    }
}

fn operation(store: &LogStore, region: &str, op: &str, body: &[u8]) -> LogsResult {
    match op {
        "CreateLogGroup" => create_group(store, parse(body)?),
        "DeleteLogGroup" => delete_group(store, parse(body)?),
        "DescribeLogGroups" => describe_groups(store, region, parse(body)?),
        "CreateLogStream" => create_stream(store, parse(body)?),
        "DeleteLogStream" => delete_stream(store, parse(body)?),
        "DescribeLogStreams" => describe_streams(store, region, parse(body)?),
        "PutRetentionPolicy" => put_retention(store, parse(body)?),
        "DeleteRetentionPolicy" => delete_retention(store, parse(body)?),
        "GetLogEvents" => events::get(store, parse(body)?),
        "FilterLogEvents" => events::filter(store, parse(body)?),
        "PutLogEvents" => events::put(store, parse(body)?),
        "PutMetricFilter" => metric_filters::put(store, parse(body)?),
        "DeleteMetricFilter" => metric_filters::delete(store, parse(body)?),
        "DescribeMetricFilters" => metric_filters::describe(store, parse(body)?),
        "TestMetricFilter" => metric_filters::test(parse(body)?),
        _ => Err(LogsError::named(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        )),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let text = crate::wire::json_text(body)
        .map_err(|e| LogsError::named("SerializationException", e.to_string()))?;
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            LogsError::named("SerializationException", e.to_string())
        } else {
            LogsError::named(
                "SerializationException",
                "Start of structure or map found where not expected.",
            )
        }
    })
}

/// A group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GroupRef {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
}

impl GroupRef {
    fn resolve(&self) -> Result<String, Error> {
        match (&self.log_group_name, &self.log_group_identifier) {
            (Some(_), Some(_)) => Err(LogsError::invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            )),
            (Some(n), None) => validate_group(n).map(|()| n.clone()),
            (None, Some(id)) => Ok(group_from_identifier(id)),
            (None, None) => Err(LogsError::missing("logGroupName")),
        }
    }

    /// The name of a group that must exist.
    fn existing(&self, store: &LogStore) -> Result<String, Error> {
        let name = self.resolve()?;
        if store.group_exists(&name).map_err(LogsError::io)? {
            Ok(name)
        } else {
            Err(LogsError::no_group())
        }
    }
}

fn group_from_identifier(id: &str) -> String {
    match id.split_once(":log-group:") {
        Some((_, rest)) => rest.strip_suffix(":*").unwrap_or(rest).to_string(),
        None => id.to_string(),
    }
}

fn validate_group(name: &str) -> Result<(), stratus_core::Error> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c));
    if name.is_empty() || name.len() > 512 {
        return Err(LogsError::constraint(
            name,
            "logGroupName",
            "Member must have length between 1 and 512",
        ));
    }
    if !ok_chars {
        return Err(LogsError::constraint(
            name,
            "logGroupName",
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

fn validate_stream(name: &str) -> Result<(), stratus_core::Error> {
    if name.is_empty() || name.len() > 512 {
        return Err(LogsError::constraint(
            name,
            "logStreamName",
            "Member must have length between 1 and 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(LogsError::constraint(
            name,
            "logStreamName",
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

/// `limit`, checked against the model's range, or its default.
fn limit(value: Option<i64>, max: i64, default: usize) -> Result<usize, stratus_core::Error> {
    match value {
        None => Ok(default),
        Some(n) if n < 1 => Err(LogsError::constraint(
            n,
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n > max => Err(LogsError::constraint(
            n,
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// A paging token that is an index into a listing.
fn index_token(token: Option<&str>) -> Result<usize, stratus_core::Error> {
    match token {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("i/")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LogsError::invalid("The specified nextToken is invalid.")),
    }
}

fn group_arn(region: &str, name: &str) -> String {
    format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupOnly {
    #[serde(flatten)]
    group: GroupRef,
}

fn create_group(store: &LogStore, req: GroupOnly) -> LogsResult {
    let name = req.group.resolve()?;
    if store.create_group(&name).map_err(LogsError::io)? {
        Ok(json!({}))
    } else {
        Err(LogsError::named(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
        ))
    }
}

fn delete_group(store: &LogStore, req: GroupOnly) -> LogsResult {
    let name = req.group.resolve()?;
    if store.delete_group(&name).map_err(LogsError::io)? {
        Ok(json!({}))
    } else {
        Err(LogsError::no_group())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeGroups {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn describe_groups(store: &LogStore, region: &str, req: DescribeGroups) -> LogsResult {
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(LogsError::invalid(
            "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.",
        ));
    }
    let limit = limit(req.limit, 50, 50)?;
    let start = index_token(req.next_token.as_deref())?;
    let pattern = req.log_group_name_pattern.map(|p| p.to_lowercase());
    let groups: Vec<_> = store
        .groups()
        .map_err(LogsError::io)?
        .into_iter()
        .filter(|g| {
            req.log_group_name_prefix
                .as_deref()
                .is_none_or(|p| g.name.starts_with(p))
                && pattern
                    .as_deref()
                    .is_none_or(|p| g.name.to_lowercase().contains(p))
        })
        .collect();
    let page: Vec<Value> = groups
        .iter()
        .skip(start)
        .take(limit)
        .map(|g| {
            let arn = group_arn(region, &g.name);
            let mut v = json!({
                "logGroupName": g.name,
                "creationTime": g.creation_time,
                "metricFilterCount": metric_filters::count(store, &g.name),
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            });
            if let Some(days) = g.retention_days {
                v["retentionInDays"] = json!(days);
            }
            v
        })
        .collect();
    let mut out = json!({ "logGroups": page });
    if start + limit < groups.len() {
        out["nextToken"] = json!(format!("i/{}", start + limit));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRef {
    #[serde(flatten)]
    group: GroupRef,
    log_stream_name: Option<String>,
}

impl StreamRef {
    fn names(&self, store: &LogStore) -> Result<(String, String), stratus_core::Error> {
        let stream = self
            .log_stream_name
            .clone()
            .ok_or_else(|| LogsError::missing("logStreamName"))?;
        validate_stream(&stream)?;
        Ok((self.group.existing(store)?, stream))
    }
}

fn create_stream(store: &LogStore, req: StreamRef) -> LogsResult {
    let (group, stream) = req.names(store)?;
    if store
        .create_stream(&group, &stream)
        .map_err(LogsError::io)?
    {
        Ok(json!({}))
    } else {
        Err(LogsError::named(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
        ))
    }
}

fn delete_stream(store: &LogStore, req: StreamRef) -> LogsResult {
    let (group, stream) = req.names(store)?;
    if store
        .delete_stream(&group, &stream)
        .map_err(LogsError::io)?
    {
        Ok(json!({}))
    } else {
        Err(LogsError::no_stream())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeStreams {
    #[serde(flatten)]
    group: GroupRef,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn describe_streams(store: &LogStore, region: &str, req: DescribeStreams) -> LogsResult {
    let by_time = match req.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::constraint(
                other,
                "orderBy",
                "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
            ))
        }
    };
    if by_time && req.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let limit = limit(req.limit, 50, 50)?;
    let start = index_token(req.next_token.as_deref())?;
    let group = req.group.resolve()?;
    let mut streams = store
        .streams(&group)
        .map_err(LogsError::io)?
        .ok_or_else(LogsError::no_group)?;
    if let Some(p) = &req.log_stream_name_prefix {
        streams.retain(|s| s.name.starts_with(p.as_str()));
    }
    if by_time {
        streams.sort_by(|a, b| {
            (a.last_event.unwrap_or(a.creation_time), &a.name)
                .cmp(&(b.last_event.unwrap_or(b.creation_time), &b.name))
        });
    } else {
        streams.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if req.descending {
        streams.reverse();
    }
    let arn = group_arn(region, &group);
    let page: Vec<Value> = streams
        .iter()
        .skip(start)
        .take(limit)
        .map(|s| {
            let mut v = json!({
                "logStreamName": s.name,
                "creationTime": s.creation_time,
                "arn": format!("{arn}:log-stream:{}", s.name),
                "storedBytes": s.stored_bytes,
            });
            if let (Some(first), Some(last), Some(ing)) =
                (s.first_event, s.last_event, s.last_ingestion)
            {
                v["firstEventTimestamp"] = json!(first);
                v["lastEventTimestamp"] = json!(last);
                v["lastIngestionTime"] = json!(ing);
            }
            v
        })
        .collect();
    let mut out = json!({ "logStreams": page });
    if start + limit < streams.len() {
        out["nextToken"] = json!(format!("i/{}", start + limit));
    }
    Ok(out)
}

const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutRetention {
    #[serde(flatten)]
    group: GroupRef,
    retention_in_days: Option<i64>,
}

fn put_retention(store: &LogStore, req: PutRetention) -> LogsResult {
    let days = req
        .retention_in_days
        .ok_or_else(|| LogsError::missing("retentionInDays"))?;
    if !RETENTION_DAYS.contains(&days) {
        let set: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        return Err(LogsError::constraint(
            days,
            "retentionInDays",
            &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
        ));
    }
    let group = req.group.existing(store)?;
    store
        .set_retention(&group, Some(days as u32))
        .map_err(LogsError::io)?;
    // Expire what the new policy already excludes now rather than at the next periodic sweep.
    store.sweep();
    Ok(json!({}))
}

fn delete_retention(store: &LogStore, req: GroupOnly) -> LogsResult {
    let group = req.group.existing(store)?;
    store.set_retention(&group, None).map_err(LogsError::io)?;
    Ok(json!({}))
}
