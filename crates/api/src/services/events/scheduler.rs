//! EventBridge Scheduler's REST-JSON API (signing name `scheduler`): schedules under
//! `/schedules/{Name}` and schedule groups under `/schedule-groups/{Name}`, kept in the events
//! store and fired by the [`fire`](super::fire) worker.
//!
//! `ScheduleExpressionTimezone` names an IANA zone of the system's time-zone database (UTC by
//! default): cron fields and `at()` are wall-clock times there. A `FLEXIBLE` window fires at
//! a random moment within `MaximumWindowInMinutes` after the scheduled time.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use rand::Rng as _;
use serde_json::{json, Map, Value};
use stratus_core::{Error, Kind, ACCOUNT_ID};
use stratus_events::schedule::Expression;
use stratus_events::store::{now_ms, Schedule};
use stratus_events::zone::Zone;

use super::deliver::{Delivery, Sender};
use super::EventsService;
use crate::auth::Caller;
use crate::wire::{json as reply, ApiResult};
use crate::{RawBody, Shared};

const DEFAULT_GROUP: &str = "default";

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/schedules", get(list_schedules))
        .route(
            "/schedules/{name}",
            post(create_schedule)
                .get(get_schedule)
                .put(update_schedule)
                .delete(delete_schedule),
        )
        .route("/schedule-groups", get(list_groups))
        .route(
            "/schedule-groups/{name}",
            post(create_group).get(get_group).delete(delete_group),
        )
}

fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationException", Kind::InvalidInput, message)
}

fn not_found(message: impl Into<String>) -> Error {
    Error::new("ResourceNotFoundException", Kind::NotFound, message)
}

fn schedule_arn(region: &str, group: &str, name: &str) -> String {
    format!("arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{name}")
}

fn group_arn(region: &str, name: &str) -> String {
    format!("arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule-group/{name}")
}

fn check_name(name: &str, member: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$"
        )));
    }
    Ok(())
}

fn body_map(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(crate::wire::json_body(body)) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(validation("The request body is not a JSON object.")),
    }
}

/// A date member (epoch seconds) in milliseconds, kept within 1970-9999 so the arithmetic on
/// it cannot overflow.
fn epoch_ms(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_f64)
        .map(|s| (s.clamp(0.0, 253_402_300_799.0) * 1000.0) as i64)
}

/// The next fire time of a schedule document after `now` (`None`: it will not fire again).
pub fn next_fire(svc: &EventsService, doc: &Map<String, Value>, now: i64) -> Option<i64> {
    if doc.get("State").and_then(Value::as_str) == Some("DISABLED") {
        return None;
    }
    let expr = Expression::parse(doc.get("ScheduleExpression")?.as_str()?, true).ok()?;
    let created = epoch_ms(doc.get("CreationDate")).unwrap_or(now);
    let start = epoch_ms(doc.get("StartDate")).unwrap_or(created);
    let from = now.max(start.saturating_sub(1));
    let zone = doc
        .get("ScheduleExpressionTimezone")
        .and_then(Value::as_str)
        .and_then(Zone::load)
        .unwrap_or_else(Zone::utc);
    let base = svc.next_fire(&expr, from, start, &zone)?;
    if epoch_ms(doc.get("EndDate")).is_some_and(|end| base > end) {
        return None;
    }
    Some(base + flexible_delay(svc, doc))
}

/// A random delay within a `FLEXIBLE` window (nothing for `OFF`).
fn flexible_delay(svc: &EventsService, doc: &Map<String, Value>) -> i64 {
    let window = doc.get("FlexibleTimeWindow");
    let flexible = window.and_then(|w| w.get("Mode")).and_then(Value::as_str) == Some("FLEXIBLE");
    let minutes = window
        .and_then(|w| w.get("MaximumWindowInMinutes"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if !flexible || minutes <= 0 {
        return 0;
    }
    rand::thread_rng().gen_range(0..minutes * svc.minute_ms)
}

/// Sends a fired schedule's input to its target.
pub fn send(state: &Shared, s: &Schedule) -> Result<(), Error> {
    let Some(target) = s.doc.get("Target").and_then(Value::as_object) else {
        return Ok(());
    };
    let arn = target
        .get("Arn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let input = target
        .get("Input")
        .and_then(Value::as_str)
        .unwrap_or("{}")
        .to_string();
    let region = arn.split(':').nth(3).unwrap_or("us-east-1").to_string();
    let mut d = Delivery::new(state, &region);
    if let Err(reason) = d.send(arn, input.clone(), Sender::Schedule) {
        let t = stratus_events::store::Target {
            id: s.name.clone(),
            arn: arn.to_string(),
            rest: target.clone(),
        };
        let schedule = s.doc.get("Arn").and_then(Value::as_str).unwrap_or_default();
        d.dead_letter(&t, &input, &reason, schedule);
    }
    d.commit()
}

/// Checks a Create/UpdateSchedule body and makes the stored document.
fn schedule_doc(
    svc: &EventsService,
    region: &str,
    name: &str,
    m: &Map<String, Value>,
    created: Option<&Value>,
) -> Result<(String, Map<String, Value>), Error> {
    check_name(name, "name")?;
    let group = m
        .get("GroupName")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_GROUP)
        .to_string();
    let expr = m
        .get("ScheduleExpression")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("1 validation error detected: Value null at 'scheduleExpression' failed to satisfy constraint: Member must not be null"))?;
    if expr.len() > 256 || Expression::parse(expr, true).is_err() {
        return Err(validation(format!("Invalid Schedule Expression {expr}.")));
    }
    if let Some(tz) = m.get("ScheduleExpressionTimezone").and_then(Value::as_str) {
        if Zone::load(tz).is_none() {
            return Err(validation(format!("Invalid time zone: {tz}.")));
        }
    }
    let window = m
        .get("FlexibleTimeWindow")
        .and_then(Value::as_object)
        .ok_or_else(|| validation("1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null"))?;
    match window.get("Mode").and_then(Value::as_str) {
        Some("OFF") => {}
        Some("FLEXIBLE") => {
            let ok = window
                .get("MaximumWindowInMinutes")
                .and_then(Value::as_i64)
                .is_some_and(|n| (1..=1440).contains(&n));
            if !ok {
                return Err(validation(
                    "MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE.",
                ));
            }
        }
        other => {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'flexibleTimeWindow.mode' failed to satisfy constraint: Member must satisfy enum value set: [OFF, FLEXIBLE]",
                other.unwrap_or("null")
            )))
        }
    }
    let target = m
        .get("Target")
        .and_then(Value::as_object)
        .ok_or_else(|| validation("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null"))?;
    for member in ["Arn", "RoleArn"] {
        let v = target.get(member).and_then(Value::as_str).unwrap_or("");
        if !v.starts_with("arn:") {
            return Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'target.{}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^arn:(aws[a-zA-Z-]*):[a-z0-9-]+:.*",
                member.to_ascii_lowercase().replace("rolearn", "roleArn")
            )));
        }
    }
    for (member, allowed) in [
        ("State", &["ENABLED", "DISABLED"][..]),
        ("ActionAfterCompletion", &["NONE", "DELETE"][..]),
    ] {
        if let Some(v) = m.get(member).and_then(Value::as_str) {
            if !allowed.contains(&v) {
                return Err(validation(format!(
                    "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    super::lower_first(member),
                    allowed.join(", ")
                )));
            }
        }
    }
    if let (Some(s), Some(e)) = (epoch_ms(m.get("StartDate")), epoch_ms(m.get("EndDate"))) {
        if e <= s {
            return Err(validation("The EndDate must be after the StartDate."));
        }
    }
    let now = now_ms();
    let mut doc = m.clone();
    doc.remove("ClientToken");
    doc.insert("Name".into(), name.into());
    doc.insert("GroupName".into(), group.as_str().into());
    doc.insert("Arn".into(), schedule_arn(region, &group, name).into());
    doc.entry("State").or_insert_with(|| "ENABLED".into());
    doc.entry("ActionAfterCompletion")
        .or_insert_with(|| "NONE".into());
    doc.insert(
        "CreationDate".into(),
        created
            .cloned()
            .unwrap_or_else(|| json!(now as f64 / 1000.0)),
    );
    doc.insert("LastModificationDate".into(), json!(now as f64 / 1000.0));
    let _ = svc;
    Ok((group, doc))
}

async fn create_schedule(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult<Response> {
    let svc = &s.stores.events;
    let m = body_map(&body.0)?;
    let (group, doc) = schedule_doc(svc, &c.region, &name, &m, None)?;
    let next = next_fire(svc, &doc, now_ms());
    let arn = doc["Arn"].clone();
    svc.store.put_schedule(
        &Schedule {
            group,
            name,
            doc,
            next_fire_ms: next,
        },
        true,
    )?;
    Ok(reply(200, json!({"ScheduleArn": arn})))
}

async fn update_schedule(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult<Response> {
    let svc = &s.stores.events;
    let m = body_map(&body.0)?;
    let group = m
        .get("GroupName")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_GROUP);
    let old = svc
        .store
        .schedule(group, &name)?
        .ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
    let (group, doc) = schedule_doc(svc, &c.region, &name, &m, old.doc.get("CreationDate"))?;
    let next = next_fire(svc, &doc, now_ms());
    let arn = doc["Arn"].clone();
    svc.store.put_schedule(
        &Schedule {
            group,
            name,
            doc,
            next_fire_ms: next,
        },
        false,
    )?;
    Ok(reply(200, json!({"ScheduleArn": arn})))
}

fn group_param(q: &HashMap<String, String>) -> &str {
    q.get("groupName").map_or(DEFAULT_GROUP, String::as_str)
}

async fn get_schedule(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let found = s
        .stores
        .events
        .store
        .schedule(group_param(&q), &name)?
        .ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
    Ok(reply(200, Value::Object(found.doc)))
}

async fn delete_schedule(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if !s
        .stores
        .events
        .store
        .delete_schedule(group_param(&q), &name)?
    {
        return Err(not_found(format!("Schedule {name} does not exist.")).into());
    }
    Ok(reply(200, json!({})))
}

async fn list_schedules(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let limit: usize = q
        .get("MaxResults")
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(100);
    let after = q.get("NextToken").cloned().unwrap_or_default();
    let (ag, an) = after.split_once('/').unwrap_or(("", ""));
    let state = q.get("State").map(String::as_str);
    let mut found = s.stores.events.store.list_schedules(
        q.get("ScheduleGroup").map(String::as_str),
        q.get("NamePrefix").map_or("", String::as_str),
        (ag, an),
        limit + 1,
    )?;
    found.retain(|x| state.is_none_or(|st| x.doc.get("State").and_then(Value::as_str) == Some(st)));
    let token = (found.len() > limit).then(|| {
        found.truncate(limit);
        found
            .last()
            .map(|l| format!("{}/{}", l.group, l.name))
            .unwrap_or_default()
    });
    let items: Vec<Value> = found
        .iter()
        .map(|x| {
            let d = &x.doc;
            json!({
                "Arn": d.get("Arn"), "Name": x.name, "GroupName": x.group,
                "State": d.get("State"), "CreationDate": d.get("CreationDate"),
                "LastModificationDate": d.get("LastModificationDate"),
                "Target": {"Arn": d.get("Target").and_then(|t| t.get("Arn"))},
            })
        })
        .collect();
    let mut out = json!({"Schedules": items});
    if let Some(t) = token {
        out["NextToken"] = t.into();
    }
    Ok(reply(200, out))
}

fn group_json(region: &str, name: &str, doc: &Map<String, Value>) -> Value {
    let created = doc
        .get("CreationDate")
        .and_then(Value::as_f64)
        .map(|ms| ms / 1000.0);
    json!({"Arn": group_arn(region, name), "Name": name, "State": "ACTIVE",
        "CreationDate": created, "LastModificationDate": created})
}

async fn create_group(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult<Response> {
    check_name(&name, "name")?;
    let _ = body_map(&body.0)?;
    let doc = json!({"CreationDate": now_ms()});
    let doc = doc.as_object().cloned().unwrap_or_default();
    s.stores.events.store.create_group(&name, &doc)?;
    Ok(reply(
        200,
        json!({"ScheduleGroupArn": group_arn(&c.region, &name)}),
    ))
}

async fn get_group(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let doc = s
        .stores
        .events
        .store
        .group(&name)?
        .ok_or_else(|| not_found(format!("Schedule group {name} does not exist.")))?;
    Ok(reply(200, group_json(&c.region, &name, &doc)))
}

async fn delete_group(State(s): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    if name == DEFAULT_GROUP {
        return Err(validation("Cannot delete the default schedule group.").into());
    }
    s.stores.events.store.delete_group(&name)?;
    Ok(reply(200, json!({})))
}

async fn list_groups(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let groups = s
        .stores
        .events
        .store
        .list_groups(q.get("NamePrefix").map_or("", String::as_str))?;
    let items: Vec<Value> = groups
        .iter()
        .map(|(n, d)| group_json(&c.region, n, d))
        .collect();
    Ok(reply(200, json!({"ScheduleGroups": items})))
}
