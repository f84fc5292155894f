//! Deployment groups of Lambda applications: CreateDeploymentGroup, GetDeploymentGroup,
//! ListDeploymentGroups, UpdateDeploymentGroup, DeleteDeploymentGroup.

use serde_json::{json, Map, Value};
use stratus_core::Error;

use super::{application, err, routing_of, store_error, text, CodeDeployService};

const DEFAULT_CONFIG: &str = "CodeDeployDefault.LambdaAllAtOnce";
const ROLLBACK_EVENTS: &[&str] = &[
    "DEPLOYMENT_FAILURE",
    "DEPLOYMENT_STOP_ON_ALARM",
    "DEPLOYMENT_STOP_ON_REQUEST",
];

fn group_name<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Error> {
    let name = text(m, key).ok_or_else(|| {
        err(
            "DeploymentGroupNameRequiredException",
            "Deployment Group name is required",
        )
    })?;
    if name.chars().count() > 100 {
        return Err(err(
            "InvalidDeploymentGroupNameException",
            "Deployment group name length exceeds the maximum of 100 characters",
        ));
    }
    Ok(name)
}

/// The group named in the request (under `key`), with its application's name.
pub(crate) fn existing(
    svc: &CodeDeployService,
    m: &Map<String, Value>,
    key: &str,
) -> Result<(String, String, Value), Error> {
    let app = application(svc, m)?;
    let app = app["applicationName"].as_str().unwrap_or("").to_string();
    let name = group_name(m, key)?.to_string();
    let doc = svc
        .store
        .group(&app, &name)
        .map_err(store_error)?
        .ok_or_else(|| {
            err(
                "DeploymentGroupDoesNotExistException",
                format!("No Deployment Group found for name: {name}"),
            )
        })?;
    Ok((app, name, doc))
}

/// Checks the members a create or update sets, and writes them into `doc`.
fn apply(svc: &CodeDeployService, m: &Map<String, Value>, doc: &mut Value) -> Result<(), Error> {
    if let Some(role) = m.get("serviceRoleArn") {
        let role = role.as_str().unwrap_or("");
        if !role.starts_with("arn:aws:iam::") || !role.contains(":role/") {
            return Err(err(
                "InvalidRoleException",
                "The service role ARN is not a valid IAM role ARN",
            ));
        }
        doc["serviceRoleArn"] = json!(role);
    }
    if let Some(name) = m.get("deploymentConfigName") {
        let name = name.as_str().unwrap_or("");
        routing_of(svc, name)?;
        doc["deploymentConfigName"] = json!(name);
    }
    if let Some(a) = m.get("alarmConfiguration") {
        doc["alarmConfiguration"] = alarm_configuration(a)?;
    }
    if let Some(r) = m.get("autoRollbackConfiguration") {
        doc["autoRollbackConfiguration"] = rollback_configuration(r)?;
    }
    if let Some(s) = m.get("deploymentStyle") {
        let ty = s["deploymentType"].as_str();
        let option = s["deploymentOption"].as_str();
        if ty != Some("BLUE_GREEN") || option != Some("WITH_TRAFFIC_CONTROL") {
            return Err(err(
                "InvalidDeploymentStyleException",
                "Lambda deployment groups need deploymentType BLUE_GREEN and deploymentOption \
                 WITH_TRAFFIC_CONTROL",
            ));
        }
    }
    for key in [
        "ec2TagFilters",
        "autoScalingGroups",
        "loadBalancerInfo",
        "ecsServices",
    ] {
        let given = m.get(key).is_some_and(|v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        });
        if given {
            return Err(err(
                "InvalidInputException",
                format!("{key} is not supported for the Lambda compute platform"),
            ));
        }
    }
    Ok(())
}

/// An `alarmConfiguration`, checked as AWS checks it.
pub(crate) fn alarm_configuration(a: &Value) -> Result<Value, Error> {
    let alarms: Vec<Value> = a["alarms"].as_array().cloned().unwrap_or_default();
    if alarms.len() > 10 {
        return Err(err(
            "AlarmsLimitExceededException",
            "The maximum number of alarms for a deployment group (10) was exceeded",
        ));
    }
    let mut names = Vec::new();
    for alarm in &alarms {
        match alarm["name"].as_str() {
            Some(n) if !n.is_empty() && n.len() <= 255 => names.push(json!({"name": n})),
            _ => {
                return Err(err(
                    "InvalidAlarmConfigException",
                    "The alarm configuration is invalid: each alarm needs a name",
                ))
            }
        }
    }
    let enabled = a["enabled"].as_bool().unwrap_or(false);
    if enabled && names.is_empty() {
        return Err(err(
            "InvalidAlarmConfigException",
            "The alarm configuration is enabled but names no alarm",
        ));
    }
    Ok(json!({
        "enabled": enabled,
        "ignorePollAlarmFailure": a["ignorePollAlarmFailure"].as_bool().unwrap_or(false),
        "alarms": names,
    }))
}

/// An `autoRollbackConfiguration`, checked as AWS checks it.
pub(crate) fn rollback_configuration(r: &Value) -> Result<Value, Error> {
    let mut events = Vec::new();
    for e in r["events"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        match e.as_str() {
            Some(e) if ROLLBACK_EVENTS.contains(&e) => events.push(json!(e)),
            _ => {
                return Err(err(
                    "InvalidAutoRollbackConfigException",
                    "The automatic rollback configuration names an unknown event",
                ))
            }
        }
    }
    let enabled = r["enabled"].as_bool().unwrap_or(false);
    if enabled && events.is_empty() {
        return Err(err(
            "InvalidAutoRollbackConfigException",
            "Automatic rollback is enabled but names no event",
        ));
    }
    Ok(json!({ "enabled": enabled, "events": events }))
}

pub fn create(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let app = application(svc, m)?;
    let app = app["applicationName"].as_str().unwrap_or("");
    let name = group_name(m, "deploymentGroupName")?;
    if text(m, "serviceRoleArn").is_none() {
        return Err(err("RoleRequiredException", "Role ARN is required"));
    }
    let id = stratus_core::ids::uuid().to_string();
    let mut doc = json!({
        "applicationName": app,
        "deploymentGroupId": id,
        "deploymentGroupName": name,
        "deploymentConfigName": DEFAULT_CONFIG,
        "ec2TagFilters": [],
        "onPremisesInstanceTagFilters": [],
        "autoScalingGroups": [],
        "triggerConfigurations": [],
        "alarmConfiguration": {"enabled": false, "ignorePollAlarmFailure": false, "alarms": []},
        "autoRollbackConfiguration": {"enabled": false, "events": []},
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "outdatedInstancesStrategy": "UPDATE",
        "computePlatform": "Lambda",
        "terminationHookEnabled": false,
    });
    apply(svc, m, &mut doc)?;
    if !svc
        .store
        .create_group(app, name, &doc)
        .map_err(store_error)?
    {
        return Err(err(
            "DeploymentGroupAlreadyExistsException",
            format!("A deployment group with the name {name} already exists for this application"),
        ));
    }
    Ok(json!({ "deploymentGroupId": id }))
}

pub fn get(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let (_, _, doc) = existing(svc, m, "deploymentGroupName")?;
    Ok(json!({ "deploymentGroupInfo": doc }))
}

pub fn list(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let app = application(svc, m)?;
    let app = app["applicationName"].as_str().unwrap_or("");
    let groups = svc.store.groups(app).map_err(store_error)?;
    Ok(json!({ "applicationName": app, "deploymentGroups": groups }))
}

pub fn update(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let (app, old, mut doc) = existing(svc, m, "currentDeploymentGroupName")?;
    let new = match m.get("newDeploymentGroupName") {
        Some(_) => group_name(m, "newDeploymentGroupName")?.to_string(),
        None => old.clone(),
    };
    apply(svc, m, &mut doc)?;
    doc["deploymentGroupName"] = json!(new);
    if !svc
        .store
        .replace_group(&app, &old, &new, &doc)
        .map_err(store_error)?
    {
        return Err(err(
            "DeploymentGroupAlreadyExistsException",
            format!("A deployment group with the name {new} already exists for this application"),
        ));
    }
    Ok(json!({ "hooksNotCleanedUp": [] }))
}

pub fn delete(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let app = application(svc, m)?;
    let app = app["applicationName"].as_str().unwrap_or("");
    let name = group_name(m, "deploymentGroupName")?;
    svc.store.delete_group(app, name).map_err(store_error)?;
    Ok(json!({ "hooksNotCleanedUp": [] }))
}
