//! The `deployment_driver` worker: every tick it drives each deployment not over (claimed
//! first by a conditional UPDATE of its driven time, so in a cluster one node drives it).
//!
//! A deployment goes Created → InProgress → BeforeAllowTraffic (the hook function invoked
//! asynchronously with `{"DeploymentId", "LifecycleEventHookExecutionId"}`, then awaited
//! until PutLifecycleEventHookExecutionStatus reports, at most an hour) → AllowTraffic (the
//! alias's weights moved on the configuration's schedule, counted from when traffic began to
//! move) → AfterAllowTraffic → Succeeded, with the alias on the target version and no extra
//! weights. At every tick a stop request or an alarm of the group in `ALARM` ends it (Stopped
//! or Failed) and, as does a failed hook, puts the alias back on the current version.
//!
//! Everything is in the stored document and the schedule is a function of the time traffic
//! began to move, so a restarted server resumes a deployment where its schedule says it is.
//! Minutes are the service's `minute_ms` long.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use serde_json::{json, Value};
use stratus_core::names::FunctionRef;
use stratus_core::Error;
use stratus_deploy::routing::Routing;
use stratus_invoke::{EventQueue, NewEvent, Trigger};

use super::deployments::{overview, EVENTS};
use super::{now_ms, seconds, store_error};
use crate::lambda::aliases::{apply_update, AliasChange};
use crate::{AppState, Shared};

/// How often deployments are driven.
pub const TICK: Duration = Duration::from_millis(250);

/// AWS's wording when alarms stop a deployment.
const ALARM_MESSAGE: &str = "One or more alarms have been activated according to the Amazon \
     CloudWatch metrics you selected, and the affected deployments have been stopped. \
     Activated alarms: ";

/// Runs until the application is dropped, driving deployments every `tick`.
pub async fn run(state: Weak<AppState>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || drive_all(&state, tick)).await;
        match done {
            Ok(Err(e)) => tracing::warn!(error = %e.message, "driving deployments"),
            Err(e) => tracing::error!(error = %e, "driving deployments panicked"),
            Ok(Ok(())) => {}
        }
    }
}

/// Drives every deployment not over and not driven within the last half tick.
pub fn drive_all(state: &Shared, tick: Duration) -> Result<(), Error> {
    let store = &state.stores.deploy.store;
    for (id, s) in store.active().map_err(store_error)? {
        let now = now_ms();
        if now - s.driven_ms < tick.as_millis() as i64 / 2 {
            continue;
        }
        if !store.claim(&id, s.driven_ms, now).map_err(store_error)? {
            continue;
        }
        let mut doc = s.doc;
        step(state, &mut doc, now);
        // A request (a stop, a hook's status) that changed the document meanwhile wins;
        // the next tick sees it, and the alias changes made here are made again alike.
        if !store
            .update_deployment(&id, s.rev, &doc)
            .map_err(store_error)?
        {
            tracing::debug!(deployment = %id, "deployment changed while driven");
        }
    }
    Ok(())
}

/// One tick of one deployment.
fn step(state: &Shared, doc: &mut Value, now: i64) {
    if doc["status"] == "Created" {
        doc["status"] = json!("InProgress");
        doc["startTime"] = seconds(now);
        doc["deploymentOverview"] = overview("InProgress");
        if let Err(e) = check_lambda(state, &doc["_drive"]) {
            let msg = e.message;
            return finish(
                state,
                doc,
                now,
                "Failed",
                "INVALID_LAMBDA_CONFIGURATION",
                &msg,
                false,
            );
        }
        enter(doc, "BeforeAllowTraffic", now);
    }
    if let Some(stop) = doc["_drive"].get("stop").filter(|s| s.is_object()) {
        let rollback = stop["rollback"].as_bool().unwrap_or(true);
        let msg = "The deployment was stopped manually.";
        return finish(state, doc, now, "Stopped", "MANUAL_STOP", msg, rollback);
    }
    if let Some(names) = alarms_in_alarm(state, doc) {
        let msg = format!("{ALARM_MESSAGE}{names}");
        return finish(state, doc, now, "Failed", "ALARM_ACTIVE", &msg, true);
    }
    let phase = doc["_drive"]["phase"].as_str().unwrap_or("").to_string();
    match phase.as_str() {
        "BeforeAllowTraffic" | "AfterAllowTraffic" => match hook(state, doc, &phase, now) {
            Hook::Waiting => {}
            Hook::Failed(msg) => finish(
                state,
                doc,
                now,
                "Failed",
                "HOOK_EXECUTION_FAILURE",
                &msg,
                true,
            ),
            Hook::Done if phase == "BeforeAllowTraffic" => {
                event(doc, &phase, "Succeeded", now);
                enter(doc, "AllowTraffic", now);
                doc["_drive"]["trafficStartMs"] = json!(now);
                traffic(state, doc, now);
            }
            Hook::Done => {
                event(doc, &phase, "Succeeded", now);
                doc["status"] = json!("Succeeded");
                doc["completeTime"] = seconds(now);
                doc["deploymentOverview"] = overview("Succeeded");
            }
        },
        "AllowTraffic" => traffic(state, doc, now),
        _ => {}
    }
}

/// Whether the function, alias and both versions exist.
fn check_lambda(state: &Shared, d: &Value) -> Result<(), Error> {
    let f = d["function"].as_str().unwrap_or("");
    let f = FunctionRef::parse(f)?.name;
    let alias = d["alias"].as_str().unwrap_or("");
    state.stores.meta.tx(|tx| {
        let missing = |what: String| Error::invalid(what);
        tx.function(&f)?
            .ok_or_else(|| missing(format!("The Lambda function {f} does not exist")))?;
        tx.alias(&f, alias)?
            .ok_or_else(|| missing(format!("The alias {alias} of {f} does not exist")))?;
        for v in [&d["current"], &d["target"]] {
            let v = v.as_str().unwrap_or("");
            tx.version(&f, v)?
                .ok_or_else(|| missing(format!("Version {v} of {f} does not exist")))?;
        }
        Ok(())
    })
}

fn enter(doc: &mut Value, phase: &str, now: i64) {
    doc["_drive"]["phase"] = json!(phase);
    event(doc, phase, "InProgress", now);
}

/// Records a lifecycle event's status (with its start and end times).
fn event(doc: &mut Value, name: &str, status: &str, now: i64) {
    let e = &mut doc["_drive"]["events"][name];
    if status == "InProgress" {
        e["startTime"] = seconds(now);
    } else if e.get("startTime").is_some() {
        e["endTime"] = seconds(now);
    }
    e["status"] = json!(status);
}

/// The names of the deployment's alarms now in `ALARM`, if its alarm checks are on.
fn alarms_in_alarm(state: &Shared, doc: &Value) -> Option<String> {
    let cfg = &doc["overrideAlarmConfiguration"];
    if cfg["enabled"].as_bool() != Some(true) {
        return None;
    }
    let firing: Vec<&str> = cfg["alarms"]
        .as_array()?
        .iter()
        .filter_map(|a| a["name"].as_str())
        .filter(|name| {
            let alarm = state.stores.cloudwatch.alarm(name).ok().flatten();
            alarm.is_some_and(|a| a["StateValue"] == "ALARM")
        })
        .collect();
    (!firing.is_empty()).then(|| firing.join(", "))
}

enum Hook {
    Waiting,
    Done,
    Failed(String),
}

/// Advances a lifecycle hook: invokes its function once, then waits for its status.
fn hook(state: &Shared, doc: &mut Value, phase: &str, now: i64) -> Hook {
    let minute = state.stores.deploy.minute_ms;
    let id = doc["deploymentId"].as_str().unwrap_or("").to_string();
    let region = doc["_drive"]["region"].as_str().unwrap_or("").to_string();
    let h = &mut doc["_drive"]["hooks"][phase];
    if !h.is_object() {
        return Hook::Done;
    }
    let function = h["function"].as_str().unwrap_or("").to_string();
    match h["status"].as_str() {
        Some("Pending") => {
            let exec = h["id"].as_str().unwrap_or("").to_string();
            if let Err(e) = invoke_hook(state, &region, &function, &id, &exec) {
                return Hook::Failed(format!(
                    "The {phase} hook function {function} could not be invoked: {}",
                    e.message
                ));
            }
            h["status"] = json!("InProgress");
            h["startMs"] = json!(now);
            Hook::Waiting
        }
        Some("InProgress") => {
            let started = h["startMs"].as_i64().unwrap_or(now);
            if now - started > 60 * minute {
                return Hook::Failed(format!(
                    "The {phase} hook function {function} did not report its status within an hour"
                ));
            }
            Hook::Waiting
        }
        Some("Succeeded") => Hook::Done,
        _ => Hook::Failed(format!(
            "The {phase} hook function {function} reported the status Failed"
        )),
    }
}

fn invoke_hook(
    state: &Shared,
    region: &str,
    function: &str,
    deployment: &str,
    execution: &str,
) -> Result<(), Error> {
    let f = FunctionRef::parse(function)?;
    if !state
        .invoker
        .function_exists(&f.name, f.qualifier.as_deref())
    {
        return Err(Error::not_found(format!("Function not found: {function}")));
    }
    let payload = json!({"DeploymentId": deployment, "LifecycleEventHookExecutionId": execution});
    state.invoker.enqueue_all(vec![NewEvent {
        function: f.name,
        qualifier: f.qualifier,
        payload: payload.to_string().into_bytes(),
        trigger: Trigger::Async,
        region: region.to_string(),
        request_id: None,
        trace: None,
    }])
}

/// Moves the alias's weights to what the schedule says now; once at 100 %, the alias points
/// at the target version and the AfterAllowTraffic hook follows.
fn traffic(state: &Shared, doc: &mut Value, now: i64) {
    let d = &doc["_drive"];
    let routing = Routing::of(Some(&d["routing"])).unwrap_or(Routing::AllAtOnce);
    let started = d["trafficStartMs"].as_i64().unwrap_or(now);
    let weight = routing.weight_at(now - started, state.stores.deploy.minute_ms);
    if d["weight"].as_u64() == Some(u64::from(weight)) {
        return;
    }
    let (current, target) = (str_of(&d["current"]), str_of(&d["target"]));
    let routed = if weight >= 100 {
        route(state, doc, &target, BTreeMap::new())
    } else {
        let w = BTreeMap::from([(target, f64::from(weight) / 100.0)]);
        route(state, doc, &current, w)
    };
    if let Err(e) = routed {
        let msg = format!("The alias could not be updated: {}", e.message);
        return finish(
            state,
            doc,
            now,
            "Failed",
            "INVALID_LAMBDA_CONFIGURATION",
            &msg,
            true,
        );
    }
    doc["_drive"]["weight"] = json!(weight);
    if weight >= 100 {
        event(doc, "AllowTraffic", "Succeeded", now);
        enter(doc, "AfterAllowTraffic", now);
        step_after(state, doc, now);
    }
}

/// Runs the AfterAllowTraffic phase at once when traffic has just finished moving.
fn step_after(state: &Shared, doc: &mut Value, now: i64) {
    match hook(state, doc, "AfterAllowTraffic", now) {
        Hook::Waiting => {}
        Hook::Failed(msg) => finish(
            state,
            doc,
            now,
            "Failed",
            "HOOK_EXECUTION_FAILURE",
            &msg,
            true,
        ),
        Hook::Done => {
            event(doc, "AfterAllowTraffic", "Succeeded", now);
            doc["status"] = json!("Succeeded");
            doc["completeTime"] = seconds(now);
            doc["deploymentOverview"] = overview("Succeeded");
        }
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// Points the alias at `version` with `weights`, through UpdateAlias's own path.
fn route(
    state: &Shared,
    doc: &Value,
    version: &str,
    weights: BTreeMap<String, f64>,
) -> Result<(), Error> {
    let d = &doc["_drive"];
    let f = FunctionRef::parse(d["function"].as_str().unwrap_or(""))?.name;
    let region = d["region"].as_str().unwrap_or("");
    let alias = d["alias"].as_str().unwrap_or("");
    let change = AliasChange {
        function_version: Some(version.to_string()),
        weights: Some(weights),
        ..AliasChange::default()
    };
    state
        .stores
        .meta
        .tx(|tx| apply_update(tx, region, &f, alias, &change))?;
    Ok(())
}

/// Ends a deployment: its status and error, the alias back on the current version when
/// `rollback`, the lifecycle event in progress failed and the rest skipped.
fn finish(
    state: &Shared,
    doc: &mut Value,
    now: i64,
    status: &str,
    code: &str,
    message: &str,
    rollback: bool,
) {
    let rolled_back = rollback && doc["_drive"]["weight"].as_u64().unwrap_or(0) > 0 && {
        let current = str_of(&doc["_drive"]["current"]);
        match route(state, doc, &current, BTreeMap::new()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e.message, "rolling a deployment's alias back");
                false
            }
        }
    };
    if rolled_back {
        doc["_drive"]["weight"] = json!(0);
        doc["rollbackInfo"] = json!({
            "rollbackMessage": format!(
                "Traffic was shifted back to version {} of the alias.",
                str_of(&doc["_drive"]["current"])
            ),
        });
    }
    for name in EVENTS {
        match doc["_drive"]["events"][name]["status"].as_str() {
            Some("InProgress") => event(doc, name, "Failed", now),
            Some("Pending") => event(doc, name, "Skipped", now),
            _ => {}
        }
    }
    doc["status"] = json!(status);
    doc["errorInformation"] = json!({"code": code, "message": message});
    doc["completeTime"] = seconds(now);
    doc["deploymentOverview"] = overview(if status == "Stopped" {
        "Skipped"
    } else {
        "Failed"
    });
}
