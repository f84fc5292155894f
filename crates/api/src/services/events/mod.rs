//! EventBridge's JSON 1.1 protocol (`X-Amz-Target: AWSEvents.<Op>`, signing name `events`)
//! over the events store ([`stratus_events`]): buses, rules, targets, tags, PutEvents and
//! TestEventPattern.
//!
//! - this module: the service handle, dispatch, buses, rules, targets and tags.
//! - [`put`]: PutEvents: entries checked as AWS checks them, the event envelope.
//! - [`deliver`]: a matched event to its targets (Lambda through the durable async queue,
//!   SNS through the topics' publish path, SQS through [`deliver::SqsSender`]).
//! - [`fire`]: the worker that fires scheduled rules and Scheduler schedules.
//! - [`scheduler`]: EventBridge Scheduler's REST-JSON API.

pub mod deliver;
pub mod fire;
pub mod put;
pub mod scheduler;

use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};
use stratus_core::{Error, Kind};
use stratus_events::pattern::Pattern;
use stratus_events::schedule::{Expression, RULE_MESSAGE};
use stratus_events::store::{rule_arn, validation, Rule, Tags, Target, DEFAULT_BUS, MAX_TARGETS};
use stratus_events::zone::Zone;
use stratus_events::Events;

use super::json::Call;

/// The event buses service: its store, its schedule clock, and the SQS hook.
pub struct EventsService {
    pub store: Events,
    /// How many milliseconds one minute of a `rate()` lasts: 60000. Only tests shorten it,
    /// so a `rate(1 minute)` rule fires within seconds.
    pub minute_ms: i64,
    /// Where events for SQS targets go, once a queue service is wired in (unset: such
    /// deliveries are logged and dropped).
    pub sqs: OnceLock<Arc<dyn deliver::SqsSender>>,
    /// The platform's base URL, for the links in SNS notifications this service publishes.
    pub endpoint: String,
}

impl EventsService {
    pub fn new(store: Events, minute_ms: i64, endpoint: String) -> EventsService {
        EventsService {
            store,
            minute_ms: minute_ms.max(1),
            sqs: OnceLock::new(),
            endpoint,
        }
    }

    /// The first fire time after `now` of a scheduled, enabled rule (`None` otherwise).
    pub fn rule_next_fire(&self, rule: &Rule, now: i64) -> Option<i64> {
        if rule.state != "ENABLED" {
            return None;
        }
        let expr = Expression::parse(rule.schedule_expression.as_deref()?, false).ok()?;
        let start = if rule.created_ms > 0 {
            rule.created_ms
        } else {
            now
        };
        self.next_fire(&expr, now, start, &Zone::utc())
    }

    /// The first fire time of `expr` after `now`: a rate counted from `start` in periods
    /// scaled by [`EventsService::minute_ms`], a cron or `at()` in real time in `zone`.
    pub fn next_fire(&self, expr: &Expression, now: i64, start: i64, zone: &Zone) -> Option<i64> {
        match expr {
            Expression::Rate { seconds } => {
                // Checked: a rate of billions of days has no next time rather than a wrapped one.
                let period = seconds.checked_mul(self.minute_ms)?.checked_div(60)?.max(1);
                let periods = if now < start {
                    0
                } else {
                    (now - start) / period + 1
                };
                start.checked_add(periods.checked_mul(period)?)
            }
            _ => expr
                .next_after_in(from_ms(now), from_ms(start), zone)
                .map(stratus_core::clock::epoch_ms),
        }
    }
}

pub(crate) fn from_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The fault a request gets when its handler failed unexpectedly.
pub fn internal() -> Error {
    Error::new("InternalException", Kind::Internal, "Internal error")
}

/// Runs one operation (`op` is empty when the target is not EventBridge's).
pub fn run(call: Call) -> Result<Value, Error> {
    let svc = &call.state.stores.events;
    let body = parse(&call.body)?;
    let r = call.region.as_str();
    match call.op.as_str() {
        "CreateEventBus" => create_bus(svc, r, &body),
        "DescribeEventBus" => describe_bus(svc, r, &body),
        "ListEventBuses" => list_buses(svc, r, &body),
        "DeleteEventBus" => delete_bus(svc, &body),
        "PutRule" => put_rule(svc, r, &body),
        "DescribeRule" => describe_rule(svc, &body),
        "ListRules" => list_rules(svc, &body),
        "DeleteRule" => delete_rule(svc, &body),
        "EnableRule" => set_state(svc, &body, "ENABLED"),
        "DisableRule" => set_state(svc, &body, "DISABLED"),
        "PutTargets" => put_targets(svc, &body),
        "RemoveTargets" => remove_targets(svc, &body),
        "ListTargetsByRule" => list_targets(svc, &body),
        "ListRuleNamesByTarget" => rule_names_by_target(svc, &body),
        "TagResource" => tag(svc, &body),
        "UntagResource" => untag(svc, &body),
        "ListTagsForResource" => list_tags(svc, &body),
        "PutEvents" => put::put_events(&call.state, r, &body),
        "TestEventPattern" => test_event_pattern(&body),
        op => Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            format!("Unknown operation {op}"),
        )),
    }
}

use super::json::{object_body as parse, serialization};

/// A string member, if given (a value of another type is a serialization error).
pub(crate) fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serialization()),
    }
}

/// A required string member (AWS's validation message when it is missing).
pub(crate) fn req_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Error> {
    opt_str(m, key)?.ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(key)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Checks a name against `[\.\-_A-Za-z0-9]+` of at most `max` characters (`slash` also allows
/// `/`, as bus names do).
fn check_name(value: &str, member: &str, max: usize, slash: bool) -> Result<(), Error> {
    if value.is_empty() || value.len() > max {
        return Err(Error::constraint(
            value,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    let ok = value.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || (slash && b == b'/')
    });
    if !ok {
        let pattern = if slash {
            "[/\\.\\-_A-Za-z0-9]+"
        } else {
            "[\\.\\-_A-Za-z0-9]+"
        };
        return Err(Error::constraint(
            value,
            member,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

/// A bus named by name or ARN (`EventBusName`), the default bus when absent.
pub(crate) fn bus_name(m: &Map<String, Value>, key: &str) -> Result<String, Error> {
    let raw = opt_str(m, key)?.unwrap_or(DEFAULT_BUS);
    Ok(raw
        .rsplit_once(":event-bus/")
        .map_or(raw, |(_, n)| n)
        .to_string())
}

fn tags_of(m: &Map<String, Value>) -> Result<Tags, Error> {
    let mut tags = Tags::new();
    for t in m
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = t.get("Key").and_then(Value::as_str).unwrap_or_default();
        let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(validation("Invalid tag."));
        }
        tags.insert(key.to_string(), value.to_string());
    }
    Ok(tags)
}

fn tag_list(tags: &Tags) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// `Limit` and `NextToken` of a listing (the token is the last name of the previous page).
fn paging(m: &Map<String, Value>) -> Result<(usize, String), Error> {
    let limit = match m.get("Limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => {
                return Err(Error::constraint(
                    v,
                    "limit",
                    "Member must have value less than or equal to 100",
                ))
            }
        },
    };
    Ok((limit, opt_str(m, "NextToken")?.unwrap_or("").to_string()))
}

fn page<T>(
    mut items: Vec<T>,
    limit: usize,
    name: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if items.len() > limit {
        items.truncate(limit);
        let token = items.last().map(name);
        (items, token)
    } else {
        (items, None)
    }
}

// ---- buses ----

fn create_bus(svc: &EventsService, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    check_name(name, "name", 256, true)?;
    if name == DEFAULT_BUS {
        return Err(Error::new(
            "ResourceAlreadyExistsException",
            Kind::Conflict,
            "Event bus default already exists.",
        ));
    }
    if name.contains('/') && opt_str(m, "EventSourceName")?.is_none() {
        return Err(validation("Event bus name must not contain '/'."));
    }
    let description = opt_str(m, "Description")?;
    let arn = svc
        .store
        .create_bus(region, name, description, &tags_of(m)?)?;
    let mut out = json!({"EventBusArn": arn});
    if let Some(d) = description {
        out["Description"] = d.into();
    }
    Ok(out)
}

fn bus_json(b: &stratus_events::store::Bus) -> Value {
    let mut v = json!({
        "Name": b.name, "Arn": b.arn,
        "CreationTime": seconds(b.created_ms), "LastModifiedTime": seconds(b.created_ms),
    });
    if let Some(d) = &b.description {
        v["Description"] = d.as_str().into();
    }
    v
}

fn describe_bus(svc: &EventsService, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = bus_name(m, "Name")?;
    let bus = svc
        .store
        .bus(region, &name)?
        .ok_or_else(|| stratus_events::store::bus_not_found(&name))?;
    Ok(bus_json(&bus))
}

fn list_buses(svc: &EventsService, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let (limit, after) = paging(m)?;
    let prefix = opt_str(m, "NamePrefix")?.unwrap_or("");
    let buses = svc.store.list_buses(region, prefix, &after, limit + 1)?;
    let (buses, token) = page(buses, limit, |b| b.name.clone());
    let mut out = json!({"EventBuses": buses.iter().map(bus_json).collect::<Vec<_>>()});
    if let Some(t) = token {
        out["NextToken"] = t.into();
    }
    Ok(out)
}

fn delete_bus(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    svc.store.delete_bus(name)?;
    Ok(json!({}))
}

// ---- rules ----

fn put_rule(svc: &EventsService, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    check_name(name, "name", 64, false)?;
    let bus = bus_name(m, "EventBusName")?;
    let pattern = opt_str(m, "EventPattern")?;
    let schedule = opt_str(m, "ScheduleExpression")?;
    if pattern.is_none() && schedule.is_none() {
        return Err(validation(
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        ));
    }
    if let Some(p) = pattern {
        Pattern::parse(p).map_err(|e| e.into_error())?;
    }
    if let Some(s) = schedule {
        if s.len() > 256 || Expression::parse(s, false).is_err() {
            return Err(validation(RULE_MESSAGE));
        }
        if bus != DEFAULT_BUS {
            return Err(validation(
                "ScheduleExpression is supported only on the default event bus.",
            ));
        }
    }
    let state = opt_str(m, "State")?.unwrap_or("ENABLED");
    if !matches!(
        state,
        "ENABLED" | "DISABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    ) {
        return Err(Error::constraint(
            state,
            "state",
            "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
        ));
    }
    let now = stratus_events::store::now_ms();
    let rule = Rule {
        name: name.to_string(),
        arn: rule_arn(region, &bus, name),
        event_bus_name: bus.clone(),
        event_pattern: pattern.map(str::to_string),
        schedule_expression: schedule.map(str::to_string),
        state: state.to_string(),
        description: opt_str(m, "Description")?.map(str::to_string),
        role_arn: opt_str(m, "RoleArn")?.map(str::to_string),
        created_by: Some(stratus_core::ACCOUNT_ID.to_string()),
        created_ms: now,
        tags: tags_of(m)?,
    };
    // A replaced rule's rate keeps counting from now: its schedule starts again.
    let next = svc.rule_next_fire(&rule, now);
    let arn = svc.store.put_rule(&rule, next)?;
    Ok(json!({"RuleArn": arn}))
}

fn describe_rule(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    let rule = svc.store.rule(&bus_name(m, "EventBusName")?, name)?;
    Ok(serde_json::to_value(&rule).unwrap_or_default())
}

fn list_rules(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let (limit, after) = paging(m)?;
    let prefix = opt_str(m, "NamePrefix")?.unwrap_or("");
    let rules = svc
        .store
        .list_rules(&bus_name(m, "EventBusName")?, prefix, &after, limit + 1)?;
    let (rules, token) = page(rules, limit, |r| r.name.clone());
    let mut out = json!({"Rules": rules});
    if let Some(t) = token {
        out["NextToken"] = t.into();
    }
    Ok(out)
}

fn delete_rule(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    svc.store.delete_rule(&bus_name(m, "EventBusName")?, name)?;
    Ok(json!({}))
}

fn set_state(svc: &EventsService, m: &Map<String, Value>, state: &str) -> Result<Value, Error> {
    let name = req_str(m, "Name")?;
    let now = stratus_events::store::now_ms();
    svc.store
        .set_state(&bus_name(m, "EventBusName")?, name, state, |r| {
            svc.rule_next_fire(r, now)
        })?;
    Ok(json!({}))
}

// ---- targets ----

/// Checks one target as PutTargets does; the reason names the target.
fn check_target(t: &Map<String, Value>) -> Result<Target, Error> {
    let id = req_str(t, "Id")?;
    check_name(id, "targets.member.id", 64, false)?;
    let arn = req_str(t, "Arn")?;
    if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
        return Err(validation(format!(
            "Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
        )));
    }
    let given = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|k| t.get(**k).is_some_and(|v| !v.is_null()))
        .count();
    if given > 1 {
        return Err(validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        )));
    }
    if let Some(input) = opt_str(t, "Input")? {
        if serde_json::from_str::<Value>(input).is_err() {
            return Err(validation(format!(
                "Input for target {id} is not valid JSON text."
            )));
        }
    }
    if let Some(path) = opt_str(t, "InputPath")? {
        stratus_events::transform::check_path(path)
            .map_err(|_| validation(format!("Invalid InputPath for target {id}.")))?;
    }
    if let Some(tr) = t.get("InputTransformer").filter(|v| !v.is_null()) {
        let tr: stratus_events::transform::InputTransformer =
            serde_json::from_value(tr.clone()).map_err(|_| serialization())?;
        stratus_events::transform::check_transformer(&tr).map_err(|e| {
            validation(format!(
                "InputTransformer for target {id} is not valid: {e}"
            ))
        })?;
    }
    if let Some(rp) = t.get("RetryPolicy").and_then(Value::as_object) {
        if let Some(n) = rp.get("MaximumRetryAttempts").and_then(Value::as_i64) {
            if !(0..=185).contains(&n) {
                return Err(Error::constraint(
                    n,
                    "targets.member.retryPolicy.maximumRetryAttempts",
                    "Member must have value less than or equal to 185",
                ));
            }
        }
        if let Some(n) = rp.get("MaximumEventAgeInSeconds").and_then(Value::as_i64) {
            if !(60..=86_400).contains(&n) {
                return Err(Error::constraint(
                    n,
                    "targets.member.retryPolicy.maximumEventAgeInSeconds",
                    "Member must have value between 60 and 86400",
                ));
            }
        }
    }
    let mut rest = t.clone();
    rest.remove("Id");
    rest.remove("Arn");
    Ok(Target {
        id: id.to_string(),
        arn: arn.to_string(),
        rest,
    })
}

fn put_targets(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let rule = req_str(m, "Rule")?;
    let bus = bus_name(m, "EventBusName")?;
    let list = m
        .get("Targets")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::validation("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null"))?;
    if list.is_empty() || list.len() > 10 {
        return Err(Error::validation(format!(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length {}",
            if list.is_empty() { "greater than or equal to 1" } else { "less than or equal to 10" }
        )));
    }
    let mut targets = Vec::new();
    for t in list {
        let t = t.as_object().ok_or_else(serialization)?;
        targets.push(check_target(t)?);
    }
    if targets.len() > MAX_TARGETS {
        return Err(Error::new(
            "LimitExceededException",
            Kind::InvalidInput,
            "The requested resource exceeds the maximum number allowed.",
        ));
    }
    svc.store.put_targets(&bus, rule, &targets)?;
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

fn remove_targets(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let rule = req_str(m, "Rule")?;
    let ids: Vec<String> = m
        .get("Ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(Error::validation("1 validation error detected: Value null at 'ids' failed to satisfy constraint: Member must not be null"));
    }
    let missing = svc
        .store
        .remove_targets(&bus_name(m, "EventBusName")?, rule, &ids)?;
    let failed: Vec<Value> = missing
        .iter()
        .map(|id| {
            json!({"TargetId": id, "ErrorCode": "ResourceNotFoundException",
            "ErrorMessage": format!("Target {id} does not exist on rule {rule}.")})
        })
        .collect();
    Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
}

pub(crate) fn target_json(t: &Target) -> Value {
    let mut v = Value::Object(t.rest.clone());
    v["Id"] = t.id.as_str().into();
    v["Arn"] = t.arn.as_str().into();
    v
}

fn list_targets(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let rule = req_str(m, "Rule")?;
    let targets = svc.store.targets(&bus_name(m, "EventBusName")?, rule)?;
    Ok(json!({"Targets": targets.iter().map(target_json).collect::<Vec<_>>()}))
}

fn rule_names_by_target(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let arn = req_str(m, "TargetArn")?;
    let names = svc
        .store
        .rule_names_by_target(&bus_name(m, "EventBusName")?, arn)?;
    Ok(json!({"RuleNames": names}))
}

// ---- tags ----

fn tag(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let arn = req_str(m, "ResourceARN")?;
    let add = tags_of(m)?;
    svc.store.update_tags(arn, |t| t.extend(add.clone()))?;
    Ok(json!({}))
}

fn untag(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let arn = req_str(m, "ResourceARN")?;
    let keys: Vec<String> = m
        .get("TagKeys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    svc.store.update_tags(arn, |t| {
        for k in &keys {
            t.remove(k);
        }
    })?;
    Ok(json!({}))
}

fn list_tags(svc: &EventsService, m: &Map<String, Value>) -> Result<Value, Error> {
    let arn = req_str(m, "ResourceARN")?;
    Ok(json!({"Tags": tag_list(&svc.store.tags(arn)?)}))
}

// ---- TestEventPattern ----

/// The members an event must have for TestEventPattern.
const EVENT_MEMBERS: [&str; 6] = ["id", "account", "source", "time", "region", "detail-type"];

fn test_event_pattern(m: &Map<String, Value>) -> Result<Value, Error> {
    let pattern = req_str(m, "EventPattern")?;
    let event = req_str(m, "Event")?;
    let pattern = Pattern::parse(pattern).map_err(|e| e.into_error())?;
    let event: Value = serde_json::from_str(event)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| validation("Parameter Event is not valid."))?;
    if let Some(missing) = EVENT_MEMBERS.iter().find(|k| event.get(**k).is_none()) {
        return Err(validation(format!(
            "Parameter Event is not valid. Reason: Provided Event is missing required field: {missing}"
        )));
    }
    Ok(json!({"Result": pattern.matches(&event)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(minute_ms: i64) -> (tempfile::TempDir, EventsService) {
        let dir = tempfile::tempdir().unwrap();
        let store = Events::open(&stratus_db::Location::Sqlite(dir.path().into())).unwrap();
        (
            dir,
            EventsService::new(store, minute_ms, "http://localhost".into()),
        )
    }

    #[test]
    fn a_rate_missed_for_many_periods_fires_once_then_keeps_its_beat() {
        let (_d, svc) = service(60_000);
        let rate = Expression::parse("rate(1 minute)", false).unwrap();
        let start = 1_000_000;
        // Ten and a half periods later (the server was down): the next time is the coming
        // period boundary, not the first missed one, so the backlog fires once.
        let now = start + 10 * 60_000 + 30_000;
        assert_eq!(
            svc.next_fire(&rate, now, start, &Zone::utc()),
            Some(start + 11 * 60_000)
        );
        assert_eq!(
            svc.next_fire(&rate, start, start, &Zone::utc()),
            Some(start + 60_000)
        );
    }

    #[test]
    fn a_shorter_minute_scales_rates_but_not_crons() {
        let (_d, svc) = service(1_000);
        let rate = Expression::parse("rate(5 minutes)", false).unwrap();
        assert_eq!(svc.next_fire(&rate, 0, 0, &Zone::utc()), Some(5_000));
        let cron = Expression::parse("cron(0 3 * * ? *)", false).unwrap();
        assert_eq!(
            svc.next_fire(&cron, 0, 0, &Zone::utc()),
            Some(3 * 3_600_000)
        );
    }

    #[test]
    fn a_rate_too_long_to_represent_has_no_fire_time() {
        let (_d, svc) = service(60_000);
        let huge = Expression::parse("rate(99999999999999 days)", false).unwrap();
        assert_eq!(svc.next_fire(&huge, 0, 0, &Zone::utc()), None);
    }

    #[test]
    fn disabled_and_pattern_rules_have_no_fire_time() {
        let (_d, svc) = service(60_000);
        let mut rule = Rule {
            schedule_expression: Some("rate(1 minute)".into()),
            state: "DISABLED".into(),
            created_ms: 5,
            ..Rule::default()
        };
        assert_eq!(svc.rule_next_fire(&rule, 10), None);
        rule.state = "ENABLED".into();
        // A rate counts from the rule's creation.
        assert_eq!(svc.rule_next_fire(&rule, 10), Some(60_005));
        rule.schedule_expression = None;
        assert_eq!(svc.rule_next_fire(&rule, 10), None);
    }
}
