//! An event source mapping as Lambda's API shows it, and the checks Create and Update make,
//! with AWS's messages. The stored document is the rendered one: what Get returns is what
//! was stored, with the state moved on (Creating → Enabled, Updating → Enabled/Disabled).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_core::{Error, Kind};

use crate::source::SourceKind;

/// One mapping, in the API's field names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Mapping {
    #[serde(rename = "UUID")]
    pub uuid: String,
    pub event_source_arn: String,
    pub function_arn: String,
    pub batch_size: i64,
    pub maximum_batching_window_in_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub starting_position: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub starting_position_timestamp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parallelization_factor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bisect_batch_on_function_error: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maximum_record_age_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tumbling_window_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_config: Option<Value>,
    #[serde(default)]
    pub function_response_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filter_criteria: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scaling_config: Option<Value>,
    pub last_modified: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_processing_result: Option<String>,
    pub state: String,
    pub state_transition_reason: String,
    pub event_source_mapping_arn: String,
}

pub const ENABLED: &str = "Enabled";
pub const DISABLED: &str = "Disabled";

impl Mapping {
    /// The source kind of this mapping (its ARN was checked at create).
    pub fn kind(&self) -> Option<SourceKind> {
        SourceKind::of_arn(&self.event_source_arn)
    }

    /// The function name and qualifier its FunctionArn names.
    pub fn function(&self) -> (String, Option<String>) {
        let after = self
            .function_arn
            .split_once(":function:")
            .map_or(self.function_arn.as_str(), |(_, f)| f);
        match after.split_once(':') {
            Some((n, q)) => (n.to_string(), Some(q.to_string())),
            None => (after.to_string(), None),
        }
    }

    pub fn enabled(&self) -> bool {
        self.state == ENABLED
    }

    /// The OnFailure destination ARN, if set.
    pub fn on_failure(&self) -> Option<&str> {
        self.destination_config.as_ref()?["OnFailure"]["Destination"].as_str()
    }

    pub fn reports_item_failures(&self) -> bool {
        self.function_response_types
            .iter()
            .any(|t| t == "ReportBatchItemFailures")
    }
}

/// The time now, in epoch seconds to the millisecond (as AWS's LastModified).
pub fn now_secs() -> f64 {
    let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    ms as f64 / 1000.0
}

pub fn arn(region: &str, uuid: &str) -> String {
    format!(
        "arn:aws:lambda:{region}:{}:event-source-mapping:{uuid}",
        stratus_core::ACCOUNT_ID
    )
}

fn int(v: &Value, member: &str) -> Result<Option<i64>, Error> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_i64().map(Some).ok_or_else(|| {
            Error::invalid(format!("Invalid request body: {member} must be an integer"))
        }),
    }
}

/// `value` within `lo..=hi`, with the model's constraint message.
fn within(value: i64, lo: i64, hi: i64, member: &str) -> Result<i64, Error> {
    if value < lo {
        return Err(Error::constraint(
            value,
            member,
            &format!("Member must have value greater than or equal to {lo}"),
        ));
    }
    if value > hi {
        return Err(Error::constraint(
            value,
            member,
            &format!("Member must have value less than or equal to {hi}"),
        ));
    }
    Ok(value)
}

fn unsupported(member: &str, kind: SourceKind) -> Error {
    Error::invalid(format!(
        "Unsupported {member} for {} event sources.",
        kind.name()
    ))
}

/// Applies the settings of a Create or Update body to `m` (a new mapping carries the
/// defaults of its source kind). Only members present change; every one is checked.
pub fn apply(m: &mut Mapping, body: &Value, kind: SourceKind, creating: bool) -> Result<(), Error> {
    let stream = kind == SourceKind::DynamoDbStream;
    if let Some(n) = int(body, "BatchSize")? {
        m.batch_size = within(n, 1, 10_000, "batchSize")?;
    }
    if let Some(n) = int(body, "MaximumBatchingWindowInSeconds")? {
        m.maximum_batching_window_in_seconds = within(n, 0, 300, "maximumBatchingWindowInSeconds")?;
    }
    if kind == SourceKind::Sqs && m.batch_size > 10 && m.maximum_batching_window_in_seconds == 0 {
        return Err(Error::invalid(
            "Maximum batch size is 10 when MaximumBatchingWindowInSeconds is not set.",
        ));
    }
    if creating {
        starting_position(m, body, kind)?;
    } else if body.get("StartingPosition").is_some_and(|v| !v.is_null()) {
        return Err(Error::invalid(
            "StartingPosition cannot be updated after the event source mapping is created.",
        ));
    }
    stream_settings(m, body, kind)?;
    if let Some(types) = body.get("FunctionResponseTypes").filter(|v| !v.is_null()) {
        m.function_response_types = response_types(types)?;
    }
    if let Some(f) = body.get("FilterCriteria").filter(|v| !v.is_null()) {
        check_filter_criteria(f)?;
        m.filter_criteria = Some(f.clone());
    }
    if let Some(s) = body.get("ScalingConfig").filter(|v| !v.is_null()) {
        if stream {
            return Err(unsupported("ScalingConfig", kind));
        }
        if let Some(n) = int(s, "MaximumConcurrency")? {
            within(n, 2, 1000, "scalingConfig.maximumConcurrency")?;
        }
        m.scaling_config = Some(s.clone());
    }
    if let Some(e) = body.get("Enabled").and_then(Value::as_bool) {
        m.state = if e { ENABLED } else { DISABLED }.to_string();
    }
    Ok(())
}

/// StartingPosition (+Timestamp): required for a stream, refused for a queue.
fn starting_position(m: &mut Mapping, body: &Value, kind: SourceKind) -> Result<(), Error> {
    let pos = body["StartingPosition"].as_str();
    if kind == SourceKind::Sqs {
        if pos.is_some() {
            return Err(unsupported("StartingPosition", kind));
        }
        return Ok(());
    }
    let Some(pos) = pos else {
        return Err(Error::invalid(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.",
        ));
    };
    if !["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"].contains(&pos) {
        return Err(Error::constraint(
            pos,
            "startingPosition",
            "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
        ));
    }
    let ts = body["StartingPositionTimestamp"].as_f64();
    if pos == "AT_TIMESTAMP" && ts.is_none() {
        return Err(Error::invalid(
            "StartingPositionTimestamp must be specified when StartingPosition is AT_TIMESTAMP.",
        ));
    }
    m.starting_position = Some(pos.to_string());
    m.starting_position_timestamp = ts.filter(|_| pos == "AT_TIMESTAMP");
    Ok(())
}

/// The settings only a stream takes.
fn stream_settings(m: &mut Mapping, body: &Value, kind: SourceKind) -> Result<(), Error> {
    let stream = kind == SourceKind::DynamoDbStream;
    let only_streams = |member: &str| -> Result<(), Error> {
        match body.get(member).filter(|v| !v.is_null()) {
            Some(_) if !stream => Err(unsupported(member, kind)),
            _ => Ok(()),
        }
    };
    for member in [
        "ParallelizationFactor",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "TumblingWindowInSeconds",
        "DestinationConfig",
    ] {
        only_streams(member)?;
    }
    if let Some(n) = int(body, "ParallelizationFactor")? {
        m.parallelization_factor = Some(within(n, 1, 10, "parallelizationFactor")?);
    }
    if let Some(b) = body
        .get("BisectBatchOnFunctionError")
        .and_then(Value::as_bool)
    {
        m.bisect_batch_on_function_error = Some(b);
    }
    if let Some(n) = int(body, "MaximumRetryAttempts")? {
        m.maximum_retry_attempts = Some(within(n, -1, 10_000, "maximumRetryAttempts")?);
    }
    if let Some(n) = int(body, "MaximumRecordAgeInSeconds")? {
        within(n, -1, 604_800, "maximumRecordAgeInSeconds")?;
        if (0..60).contains(&n) {
            return Err(Error::constraint(
                n,
                "maximumRecordAgeInSeconds",
                "Member must have value greater than or equal to 60",
            ));
        }
        m.maximum_record_age_in_seconds = Some(n);
    }
    if let Some(n) = int(body, "TumblingWindowInSeconds")? {
        m.tumbling_window_in_seconds = Some(within(n, 0, 900, "tumblingWindowInSeconds")?);
    }
    if let Some(d) = body.get("DestinationConfig").filter(|v| !v.is_null()) {
        if let Some(dest) = d["OnFailure"]["Destination"].as_str() {
            let ok = ["arn:aws:sqs:", "arn:aws:sns:", "arn:aws:s3:::"]
                .iter()
                .any(|p| dest.starts_with(p));
            if !ok {
                return Err(Error::invalid(format!(
                    "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={dest})) is invalid."
                )));
            }
        }
        m.destination_config = Some(d.clone());
    }
    Ok(())
}

fn response_types(v: &Value) -> Result<Vec<String>, Error> {
    let list = v.as_array().ok_or_else(|| {
        Error::invalid("Invalid request body: FunctionResponseTypes must be a list")
    })?;
    list.iter()
        .map(|t| match t.as_str() {
            Some("ReportBatchItemFailures") => Ok("ReportBatchItemFailures".to_string()),
            other => Err(Error::constraint(
                other.unwrap_or("null"),
                "functionResponseTypes",
                "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]",
            )),
        })
        .collect()
}

/// FilterCriteria: up to 5 filters (this is the per-mapping quota AWS starts with), each
/// Pattern a JSON object. Which records a pattern matches is decided by
/// [`crate::filter::matches`].
pub fn check_filter_criteria(f: &Value) -> Result<(), Error> {
    let filters = f["Filters"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if filters.len() > 5 {
        return Err(Error::constraint(
            f["Filters"].to_string(),
            "filterCriteria.filters",
            "Member must have length less than or equal to 5",
        ));
    }
    for filter in filters {
        let pattern = filter["Pattern"].as_str().unwrap_or("");
        if stratus_events::pattern::Pattern::parse(pattern).is_err() {
            return Err(Error::invalid("Invalid filter pattern definition."));
        }
    }
    Ok(())
}

/// The error for a second mapping of one source to one function.
pub fn duplicate(kind: SourceKind, source: &str, function: &str, uuid: &str) -> Error {
    let message = match kind {
        SourceKind::Sqs => format!(
            "An event source mapping with SQS arn (\" {source} \") and function (\" {function} \") already exists. Please update or delete the existing mapping with UUID {uuid}"
        ),
        SourceKind::DynamoDbStream => format!(
            "The event source arn (\" {source} \") and function (\" {function} \") provided mapping already exists. Please update or delete the existing mapping with UUID {uuid}"
        ),
    };
    Error::new("ResourceConflictException", Kind::Conflict, message)
}

/// A new mapping's defaults for its source kind (BatchSize 10 for SQS, 100 for a stream;
/// retries and record age unbounded, -1, for a stream).
pub fn new_mapping(region: &str, source: &str, function_arn: &str, kind: SourceKind) -> Mapping {
    let uuid = uuid::Uuid::new_v4().to_string();
    let stream = kind == SourceKind::DynamoDbStream;
    Mapping {
        event_source_mapping_arn: arn(region, &uuid),
        uuid,
        event_source_arn: source.to_string(),
        function_arn: function_arn.to_string(),
        batch_size: if stream { 100 } else { 10 },
        maximum_batching_window_in_seconds: 0,
        starting_position: None,
        starting_position_timestamp: None,
        parallelization_factor: stream.then_some(1),
        bisect_batch_on_function_error: stream.then_some(false),
        maximum_retry_attempts: stream.then_some(-1),
        maximum_record_age_in_seconds: stream.then_some(-1),
        tumbling_window_in_seconds: stream.then_some(0),
        destination_config: stream.then(|| serde_json::json!({"OnFailure": {}})),
        function_response_types: Vec::new(),
        filter_criteria: None,
        scaling_config: None,
        last_modified: now_secs(),
        last_processing_result: stream.then(|| "No records processed".to_string()),
        state: ENABLED.to_string(),
        state_transition_reason: "User action".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STREAM: &str =
        "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000";

    fn create(kind: SourceKind, body: Value) -> Result<Mapping, Error> {
        let mut m = new_mapping(
            "us-east-1",
            STREAM,
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            kind,
        );
        apply(&mut m, &body, kind, true).map(|_| m)
    }

    #[test]
    fn defaults_follow_the_source() {
        let m = create(
            SourceKind::DynamoDbStream,
            json!({"StartingPosition": "LATEST"}),
        )
        .unwrap();
        assert_eq!((m.batch_size, m.maximum_retry_attempts), (100, Some(-1)));
        let q = create(SourceKind::Sqs, json!({})).unwrap();
        assert_eq!((q.batch_size, q.parallelization_factor), (10, None));
        assert_eq!(m.function(), ("f".to_string(), None));
    }

    #[test]
    fn bad_settings_get_aws_errors() {
        let e = |kind, body| create(kind, body).unwrap_err().message;
        assert!(e(SourceKind::DynamoDbStream, json!({})).contains("startingPosition"));
        assert!(e(
            SourceKind::DynamoDbStream,
            json!({"StartingPosition": "LATEST", "BatchSize": 10001})
        )
        .contains("less than or equal to 10000"));
        assert!(e(SourceKind::Sqs, json!({"BatchSize": 11})).contains("Maximum batch size is 10"));
        assert!(e(
            SourceKind::Sqs,
            json!({"ScalingConfig": {"MaximumConcurrency": 1}})
        )
        .contains("greater than or equal to 2"));
        assert!(e(
            SourceKind::DynamoDbStream,
            json!({"StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 5}})
        )
        .contains("ScalingConfig"));
        assert_eq!(
            e(
                SourceKind::Sqs,
                json!({"FilterCriteria": {"Filters": [{"Pattern": "nope"}]}})
            ),
            "Invalid filter pattern definition."
        );
        assert!(e(
            SourceKind::DynamoDbStream,
            json!({"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 10})
        )
        .contains("greater than or equal to 60"));
        assert!(e(
            SourceKind::DynamoDbStream,
            json!({"StartingPosition": "LATEST", "FunctionResponseTypes": ["Nope"]})
        )
        .contains("ReportBatchItemFailures"));
    }
}
