//! PutEvents: each entry checked as AWS checks it (a failed entry gets its own `ErrorCode` and
//! `ErrorMessage`, the others go on), wrapped in the event envelope, matched against the
//! enabled rules of its bus and handed to their targets. The request is answered once every
//! delivery is durable: Lambda invocations in the async queue, SNS messages published.

use serde_json::{json, Map, Value};
use stratus_core::Error;
use stratus_events::pattern::Pattern;
use stratus_events::store::DEFAULT_BUS;

use super::deliver::{deliver, Delivery};
use super::{opt_str, validation};
use crate::Shared;

/// Most entries in one request.
const MAX_ENTRIES: usize = 10;
/// The most the entries of one request may add up to (AWS counts each entry's members).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// An event's envelope, as rules match it and targets receive it.
pub fn envelope(
    region: &str,
    source: &str,
    detail_type: &str,
    detail: Value,
    resources: Vec<Value>,
    time: &str,
) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": stratus_core::ACCOUNT_ID,
        "time": time,
        "region": region,
        "resources": resources,
        "detail": detail,
    })
}

/// Now, as the envelope's `time` (seconds, UTC).
pub fn time_now() -> String {
    iso(time::OffsetDateTime::now_utc())
}

pub fn iso(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// The size AWS counts for one entry: its strings in UTF-8.
fn entry_size(e: &Map<String, Value>) -> usize {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map_or(0, str::len);
    let resources: usize = e.get("Resources").and_then(Value::as_array).map_or(0, |r| {
        r.iter().filter_map(Value::as_str).map(str::len).sum()
    });
    s("Source")
        + s("DetailType")
        + s("Detail")
        + resources
        + if e.get("Time").is_some() { 14 } else { 0 }
}

/// One entry's refusal (`ErrorCode`, `ErrorMessage`).
type EntryError = (&'static str, String);

fn required(member: &str) -> EntryError {
    (
        "InvalidArgument",
        format!("Parameter {member} is not valid. Reason: {member} is a required argument."),
    )
}

/// Checks one entry and builds its event.
fn event_of(region: &str, e: &Map<String, Value>) -> Result<(String, Value), EntryError> {
    let text = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let source = text("Source").ok_or_else(|| required("Source"))?;
    let detail_type = text("DetailType").ok_or_else(|| required("DetailType"))?;
    let detail = text("Detail").ok_or_else(|| required("Detail"))?;
    let detail: Value = match serde_json::from_str(detail) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(("MalformedDetail", "Detail is malformed.".into())),
    };
    if source.starts_with("aws.") {
        return Err((
            "NotAuthorizedForSourceException",
            "Not authorized for the source.".into(),
        ));
    }
    let resources: Vec<Value> = match e.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => r.clone(),
        Some(_) => {
            return Err((
                "InvalidArgument",
                "Parameter Resources is not valid.".into(),
            ))
        }
    };
    let time = match e.get("Time") {
        None | Some(Value::Null) => time_now(),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s as i64).ok())
            .map(iso)
            .unwrap_or_else(time_now),
        Some(Value::String(s)) => s.clone(),
        Some(_) => time_now(),
    };
    let bus = e
        .get("EventBusName")
        .and_then(Value::as_str)
        .map(|b| b.rsplit_once(":event-bus/").map_or(b, |(_, n)| n))
        .unwrap_or(DEFAULT_BUS)
        .to_string();
    Ok((
        bus,
        envelope(region, source, detail_type, detail, resources, &time),
    ))
}

pub fn put_events(state: &Shared, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let _ = opt_str(m, "EndpointId")?;
    let entries = m.get("Entries").and_then(Value::as_array).ok_or_else(|| {
        Error::validation("1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null")
    })?;
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(Error::validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length {}",
            if entries.is_empty() { "greater than or equal to 1" } else { "less than or equal to 10" }
        )));
    }
    let mut objects = Vec::new();
    for e in entries {
        objects.push(
            e.as_object()
                .ok_or_else(|| validation("Entries must be objects."))?,
        );
    }
    let total: usize = objects.iter().map(|e| entry_size(e)).sum();
    if total > MAX_REQUEST_BYTES {
        return Err(validation(
            "Total size of the entries in the request is over the limit.",
        ));
    }
    let svc = &state.stores.events;
    let mut delivery = Delivery::new(state, region);
    let mut results = Vec::new();
    let mut failed = 0;
    for e in objects {
        let (bus, event) = match event_of(region, e) {
            Ok(x) => x,
            Err((code, message)) => {
                failed += 1;
                results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                continue;
            }
        };
        if svc.store.bus(region, &bus)?.is_none() {
            failed += 1;
            results.push(json!({"ErrorCode": "ResourceNotFoundException",
                "ErrorMessage": format!("Event bus {bus} does not exist.")}));
            continue;
        }
        route(state, &mut delivery, &bus, &event)?;
        results.push(json!({"EventId": event["id"]}));
    }
    delivery.commit()?;
    Ok(json!({"FailedEntryCount": failed, "Entries": results}))
}

/// Hands `event` to the targets of every enabled rule of `bus` whose pattern it matches.
fn route(state: &Shared, delivery: &mut Delivery, bus: &str, event: &Value) -> Result<(), Error> {
    for (rule, targets) in state.stores.events.store.pattern_rules(bus)? {
        let matched = rule
            .event_pattern
            .as_deref()
            .and_then(|p| Pattern::parse(p).ok())
            .is_some_and(|p| p.matches(event));
        if matched {
            deliver(delivery, event, &rule, &targets);
        }
    }
    Ok(())
}

/// Puts an event another service emits (`source`, `detail-type`, `resources`, `detail`, as
/// S3 sends for a bucket with EventBridge enabled) on the default bus of `region`: enveloped
/// and routed as PutEvents does, without PutEvents' refusal of `aws.` sources.
pub fn put_service_event(state: &Shared, region: &str, e: &Value) -> Result<(), Error> {
    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    let resources = e
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let detail = e.get("detail").cloned().unwrap_or_else(|| json!({}));
    let event = envelope(
        region,
        text("source"),
        text("detail-type"),
        detail,
        resources,
        &time_now(),
    );
    let mut delivery = Delivery::new(state, region);
    route(state, &mut delivery, DEFAULT_BUS, &event)?;
    delivery.commit()
}
