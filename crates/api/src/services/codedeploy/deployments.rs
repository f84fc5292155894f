//! Deployments: CreateDeployment (a Lambda AppSpec in the revision), GetDeployment,
//! BatchGetDeployments, ListDeployments, StopDeployment, PutLifecycleEventHookExecutionStatus,
//! ListDeploymentTargets and GetDeploymentTarget.
//!
//! A deployment is stored as the `deploymentInfo` AWS renders plus a `_drive` member (never
//! rendered) holding what the worker needs: the AppSpec's alias and versions, the traffic
//! routing, the alarms and rollback events in force, the phase and when it began, the
//! lifecycle events and the hooks' execution ids and statuses. The worker ([`super::drive`])
//! is the one writer of the alias; the API only records requests (a stop, a hook's status)
//! in the document, by compare-and-set on its revision.

use serde_json::{json, Map, Value};
use stratus_core::Error;
use stratus_deploy::appspec::AppSpec;
use stratus_deploy::store::Stored;

use super::groups::{alarm_configuration, existing, rollback_configuration};
use super::{application, err, now_ms, routing_of, seconds, store_error, text, CodeDeployService};
use crate::Shared;

/// The lifecycle events of a Lambda deployment, in order.
pub const EVENTS: [&str; 3] = ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"];

fn new_deployment_id() -> String {
    let tail = stratus_core::ids::random_chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9);
    format!("d-{tail}")
}

/// The AppSpec text of a revision.
fn appspec_text(revision: &Value) -> Result<&str, Error> {
    let content = match revision["revisionType"].as_str() {
        Some("AppSpecContent") => &revision["appSpecContent"]["content"],
        Some("String") => &revision["string"]["content"],
        _ => {
            return Err(err(
                "InvalidRevisionException",
                "Lambda deployments take an AppSpecContent or String revision",
            ))
        }
    };
    content.as_str().filter(|c| !c.is_empty()).ok_or_else(|| {
        err(
            "InvalidRevisionException",
            "The revision's AppSpec content is empty",
        )
    })
}

fn parse_appspec(revision: &Value) -> Result<AppSpec, Error> {
    let text = appspec_text(revision)?;
    let doc = stratus_stacks::yaml::parse(text).map_err(|e| {
        err(
            "InvalidRevisionException",
            format!("The AppSpec file is not valid YAML or JSON: {e}"),
        )
    })?;
    AppSpec::of(&doc).map_err(|e| err("InvalidRevisionException", e))
}

pub fn create(state: &Shared, region: &str, m: &Map<String, Value>) -> Result<Value, Error> {
    let svc = &state.stores.deploy;
    application(svc, m)?;
    let (app, group_name, group) = existing(svc, m, "deploymentGroupName")?;
    let revision = m
        .get("revision")
        .filter(|r| r.is_object())
        .ok_or_else(|| err("RevisionRequiredException", "The revision is required"))?;
    let spec = parse_appspec(revision)?;
    let config = match m.get("deploymentConfigName") {
        Some(c) => c.as_str().unwrap_or("").to_string(),
        None => group["deploymentConfigName"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    };
    let routing = routing_of(svc, &config)?;
    let alarms = match m.get("overrideAlarmConfiguration") {
        Some(a) => alarm_configuration(a)?,
        None => group["alarmConfiguration"].clone(),
    };
    let rollback = match m.get("autoRollbackConfiguration") {
        Some(r) => rollback_configuration(r)?,
        None => group["autoRollbackConfiguration"].clone(),
    };
    let description = text(m, "description").unwrap_or("");
    if description.chars().count() > 1000 {
        return Err(err(
            "DescriptionTooLongException",
            "The description is too long: at most 1000 characters",
        ));
    }
    let id = new_deployment_id();
    let now = now_ms();
    let hook = |f: &Option<String>| {
        f.as_ref().map(|f| {
            json!({"function": f, "id": stratus_core::ids::uuid().to_string(), "status": "Pending"})
        })
    };
    let doc = json!({
        "applicationName": app,
        "deploymentGroupName": group_name,
        "deploymentConfigName": config,
        "deploymentId": id,
        "revision": revision,
        "status": "Created",
        "createTime": seconds(now),
        "creator": "user",
        "description": description,
        "ignoreApplicationStopFailures": false,
        "autoRollbackConfiguration": rollback,
        "updateOutdatedInstancesOnly": false,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "instanceTerminationWaitTimeStarted": false,
        "fileExistsBehavior": "DISALLOW",
        "computePlatform": "Lambda",
        "overrideAlarmConfiguration": alarms,
        "deploymentOverview": overview("Pending"),
        "_drive": {
            "region": region,
            "function": spec.function,
            "alias": spec.alias,
            "current": spec.current_version,
            "target": spec.target_version,
            "routing": routing.to_json(),
            "phase": "Start",
            "weight": 0,
            "hooks": {
                "BeforeAllowTraffic": hook(&spec.before_allow_traffic),
                "AfterAllowTraffic": hook(&spec.after_allow_traffic),
            },
            "events": EVENTS.iter().map(|e| (e.to_string(), json!({"lifecycleEventName": e, "status": "Pending"}))).collect::<Map<_, _>>(),
        },
    });
    let active = svc
        .store
        .create_deployment(&id, &app, &group_name, now, &doc)
        .map_err(store_error)?;
    if let Some(active) = active {
        return Err(err(
            "DeploymentLimitExceededException",
            format!(
                "The Deployment Group '{group_name}' already has an active Deployment '{active}'"
            ),
        ));
    }
    Ok(json!({ "deploymentId": id }))
}

/// The `deploymentOverview` of the one Lambda target in `status`.
pub fn overview(status: &str) -> Value {
    let mut o = json!({"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0});
    o[status] = json!(1);
    o
}

/// A stored deployment as AWS renders it: without the worker's members.
pub fn render(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Some(m) = out.as_object_mut() {
        m.retain(|k, _| !k.starts_with('_'));
    }
    out
}

fn deployment_id(m: &Map<String, Value>) -> Result<&str, Error> {
    let id = text(m, "deploymentId").ok_or_else(|| {
        err(
            "DeploymentIdRequiredException",
            "The deployment ID is required",
        )
    })?;
    if !id.starts_with("d-") || id.len() > 20 {
        return Err(err(
            "InvalidDeploymentIdException",
            format!("Specified DeploymentId is not in the valid format: {id}"),
        ));
    }
    Ok(id)
}

/// The deployment named in the request, as stored.
fn stored(svc: &CodeDeployService, id: &str) -> Result<Stored, Error> {
    svc.store
        .deployment(id)
        .map_err(store_error)?
        .ok_or_else(|| {
            err(
                "DeploymentDoesNotExistException",
                format!("The deployment {id} could not be found."),
            )
        })
}

pub fn get(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let id = deployment_id(m)?;
    Ok(json!({ "deploymentInfo": render(&stored(svc, id)?.doc) }))
}

pub fn batch_get(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let mut out = Vec::new();
    for id in m
        .get("deploymentIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = id
            .as_str()
            .and_then(|id| svc.store.deployment(id).ok().flatten())
        {
            out.push(render(&s.doc));
        }
    }
    Ok(json!({ "deploymentsInfo": out }))
}

pub fn list(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let (app, group) = match (text(m, "applicationName"), text(m, "deploymentGroupName")) {
        (None, Some(_)) => {
            return Err(err(
                "ApplicationNameRequiredException",
                "The name of the application is required.",
            ))
        }
        (Some(_), Some(_)) => {
            let (app, group, _) = existing(svc, m, "deploymentGroupName")?;
            (Some(app), Some(group))
        }
        (Some(_), None) => {
            let app = application(svc, m)?;
            (app["applicationName"].as_str().map(str::to_string), None)
        }
        (None, None) => (None, None),
    };
    let statuses: Vec<String> = m
        .get("includeOnlyStatuses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ids = svc
        .store
        .deployments(app.as_deref(), group.as_deref(), &statuses)
        .map_err(store_error)?;
    Ok(json!({ "deployments": ids }))
}

/// Changes a deployment's document by compare-and-set, retried while another writer wins.
fn change(
    svc: &CodeDeployService,
    id: &str,
    f: impl Fn(&mut Value) -> Result<(), Error>,
) -> Result<Value, Error> {
    for _ in 0..20 {
        let s = stored(svc, id)?;
        let mut doc = s.doc;
        f(&mut doc)?;
        if svc
            .store
            .update_deployment(id, s.rev, &doc)
            .map_err(store_error)?
        {
            return Ok(doc);
        }
    }
    Err(super::internal())
}

fn is_over(doc: &Value) -> bool {
    matches!(
        doc["status"].as_str(),
        Some("Succeeded" | "Failed" | "Stopped")
    )
}

pub fn stop(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let id = deployment_id(m)?;
    // Traffic goes back to the current version unless the caller asks otherwise.
    let rollback = m
        .get("autoRollbackEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    change(svc, id, |doc| {
        if is_over(doc) {
            return Err(err(
                "DeploymentAlreadyCompletedException",
                format!("The deployment {id} has already completed."),
            ));
        }
        doc["_drive"]["stop"] = json!({ "rollback": rollback });
        Ok(())
    })?;
    Ok(json!({"status": "Pending", "statusMessage": "Stopping Active deployment"}))
}

pub fn put_hook_status(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let id = deployment_id(m)?;
    let hook_id = text(m, "lifecycleEventHookExecutionId")
        .unwrap_or("")
        .to_string();
    let status = match text(m, "status") {
        Some(s @ ("Succeeded" | "Failed")) => s.to_string(),
        _ => {
            return Err(err(
                "InvalidLifecycleEventHookExecutionStatusException",
                "The status must be Succeeded or Failed",
            ))
        }
    };
    change(svc, id, |doc| {
        let hooks = doc["_drive"]["hooks"].as_object_mut();
        let hook = hooks
            .into_iter()
            .flat_map(|h| h.values_mut())
            .find(|h| h["id"].as_str() == Some(hook_id.as_str()))
            .ok_or_else(|| {
                err(
                    "InvalidLifecycleEventHookExecutionIdException",
                    format!("No lifecycle event hook execution found for id: {hook_id}"),
                )
            })?;
        if matches!(hook["status"].as_str(), Some("Succeeded" | "Failed")) {
            return Err(err(
                "LifecycleEventAlreadyCompletedException",
                "The lifecycle event hook execution already has its status",
            ));
        }
        hook["status"] = json!(status);
        Ok(())
    })?;
    Ok(json!({ "lifecycleEventHookExecutionId": hook_id }))
}

fn target_id(doc: &Value) -> String {
    let d = &doc["_drive"];
    format!(
        "{}:{}",
        d["function"].as_str().unwrap_or(""),
        d["alias"].as_str().unwrap_or("")
    )
}

pub fn list_targets(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let id = deployment_id(m)?;
    let s = stored(svc, id)?;
    Ok(json!({ "targetIds": [target_id(&s.doc)] }))
}

pub fn get_target(
    svc: &CodeDeployService,
    region: &str,
    m: &Map<String, Value>,
) -> Result<Value, Error> {
    let id = deployment_id(m)?;
    let s = stored(svc, id)?;
    let target = text(m, "targetId").ok_or_else(|| {
        err(
            "DeploymentTargetIdRequiredException",
            "A deployment target ID is required",
        )
    })?;
    if target != target_id(&s.doc) {
        return Err(err(
            "DeploymentTargetDoesNotExistException",
            format!("The deployment target {target} could not be found."),
        ));
    }
    let d = &s.doc["_drive"];
    let events: Vec<Value> = EVENTS.iter().map(|e| d["events"][e].clone()).collect();
    let status = match s.doc["status"].as_str() {
        Some("Created") => "Pending",
        Some("Stopped") => "Failed",
        Some(other) => other,
        None => "Unknown",
    };
    let arn = stratus_core::arn::function_arn(
        region,
        d["function"].as_str().unwrap_or(""),
        d["alias"].as_str(),
    );
    Ok(json!({ "deploymentTarget": {
        "deploymentTargetType": "LambdaTarget",
        "lambdaTarget": {
            "deploymentId": id,
            "targetId": target,
            "targetArn": arn,
            "status": status,
            "lastUpdatedAt": seconds(s.driven_ms.max(1)),
            "lifecycleEvents": events,
            "lambdaFunctionInfo": {
                "functionName": d["function"],
                "functionAlias": d["alias"],
                "currentVersion": d["current"],
                "targetVersion": d["target"],
                "targetVersionWeight": d["weight"].as_f64().unwrap_or(0.0) / 100.0,
            },
        },
    }}))
}
