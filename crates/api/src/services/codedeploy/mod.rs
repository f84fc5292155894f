//! CodeDeploy's JSON 1.1 protocol (`X-Amz-Target: CodeDeploy_20141006.<Op>`, signing name
//! `codedeploy`) for Lambda deployments, over the deploy store ([`stratus_deploy`]).
//!
//! - this module: the service handle, dispatch, errors, applications and configurations.
//! - [`groups`]: deployment groups.
//! - [`deployments`]: CreateDeployment (with its AppSpec), GetDeployment, ListDeployments,
//!   StopDeployment, PutLifecycleEventHookExecutionStatus, deployment targets.
//! - [`drive`]: the worker that runs deployments: hooks, traffic shifts, alarms, rollbacks.

pub mod deployments;
pub mod drive;
pub mod groups;

use std::sync::Arc;

use serde_json::{json, Map, Value};
use stratus_core::{Error, Kind};
use stratus_deploy::routing::{self, Routing};
use stratus_deploy::store::DeployDb;

use super::json::Call;

/// The CodeDeploy service: its store and the length of its minute.
pub struct CodeDeployService {
    pub store: Arc<DeployDb>,
    /// How many milliseconds one minute of a configuration's intervals and of a hook's
    /// timeout lasts: 60000, shortened only for demonstrations and tests.
    pub minute_ms: i64,
}

impl CodeDeployService {
    pub fn new(store: Arc<DeployDb>, minute_ms: i64) -> CodeDeployService {
        CodeDeployService {
            store,
            minute_ms: minute_ms.max(1),
        }
    }
}

/// The fault a request gets when its handler failed unexpectedly.
pub fn internal() -> Error {
    Error::new("InternalFailure", Kind::Internal, "Internal error")
}

pub(crate) fn store_error(e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, "codedeploy store");
    internal()
}

/// A CodeDeploy error (all are client errors, status 400).
pub(crate) fn err(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(code, Kind::InvalidInput, message)
}

/// Runs one operation (`op` is empty when the target is not CodeDeploy's).
pub fn run(call: Call) -> Result<Value, Error> {
    let svc = &call.state.stores.deploy;
    let body = parse(&call.body)?;
    let r = call.region.as_str();
    match call.op.as_str() {
        "CreateApplication" => create_application(svc, &body),
        "GetApplication" => get_application(svc, &body),
        "BatchGetApplications" => batch_get_applications(svc, &body),
        "ListApplications" => list_applications(svc),
        "DeleteApplication" => delete_application(svc, &body),
        "CreateDeploymentConfig" => create_config(svc, &body),
        "GetDeploymentConfig" => get_config(svc, &body),
        "ListDeploymentConfigs" => list_configs(svc),
        "DeleteDeploymentConfig" => delete_config(svc, &body),
        "CreateDeploymentGroup" => groups::create(svc, &body),
        "GetDeploymentGroup" => groups::get(svc, &body),
        "ListDeploymentGroups" => groups::list(svc, &body),
        "UpdateDeploymentGroup" => groups::update(svc, &body),
        "DeleteDeploymentGroup" => groups::delete(svc, &body),
        "CreateDeployment" => deployments::create(&call.state, r, &body),
        "GetDeployment" => deployments::get(svc, &body),
        "BatchGetDeployments" => deployments::batch_get(svc, &body),
        "ListDeployments" => deployments::list(svc, &body),
        "StopDeployment" => deployments::stop(svc, &body),
        "PutLifecycleEventHookExecutionStatus" => deployments::put_hook_status(svc, &body),
        "ListDeploymentTargets" => deployments::list_targets(svc, &body),
        "GetDeploymentTarget" => deployments::get_target(svc, r, &body),
        op => Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            format!("Unknown operation {op}"),
        )),
    }
}

use super::json::object_body as parse;

/// A non-empty string member.
pub(crate) fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The time as CodeDeploy's JSON renders it: epoch seconds.
pub(crate) fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn now_ms() -> i64 {
    stratus_metering::now_ms()
}

fn check_name(name: &str, what: &str) -> Result<(), Error> {
    if name.chars().count() > 100 {
        return Err(err(
            "InvalidApplicationNameException",
            format!("{what} name length exceeds the maximum of 100 characters"),
        ));
    }
    Ok(())
}

/// The application named in the request, which must exist.
pub(crate) fn application(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = text(m, "applicationName").ok_or_else(|| {
        err(
            "ApplicationNameRequiredException",
            "The name of the application is required.",
        )
    })?;
    check_name(name, "Application")?;
    svc.store
        .application(name)
        .map_err(store_error)?
        .ok_or_else(|| {
            err(
                "ApplicationDoesNotExistException",
                format!("No application found for name: {name}"),
            )
        })
}

fn create_application(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = text(m, "applicationName").ok_or_else(|| {
        err(
            "ApplicationNameRequiredException",
            "The name of the application is required.",
        )
    })?;
    check_name(name, "Application")?;
    match m.get("computePlatform").and_then(Value::as_str) {
        Some("Lambda") => {}
        Some("Server") | Some("ECS") | None => {
            return Err(err(
                "InvalidComputePlatformException",
                "Only the Lambda compute platform is supported",
            ))
        }
        Some(other) => {
            return Err(err(
                "InvalidComputePlatformException",
                format!("Invalid compute platform: {other}"),
            ))
        }
    }
    let id = stratus_core::ids::uuid().to_string();
    let doc = json!({
        "applicationId": id,
        "applicationName": name,
        "createTime": seconds(now_ms()),
        "linkedToGitHub": false,
        "computePlatform": "Lambda",
    });
    if !svc
        .store
        .create_application(name, &doc)
        .map_err(store_error)?
    {
        return Err(err(
            "ApplicationAlreadyExistsException",
            format!("Application already exists with the name {name}"),
        ));
    }
    Ok(json!({ "applicationId": id }))
}

fn get_application(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    Ok(json!({ "application": application(svc, m)? }))
}

fn batch_get_applications(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let names = m.get("applicationNames").and_then(Value::as_array);
    let mut out = Vec::new();
    for n in names.map(Vec::as_slice).unwrap_or(&[]) {
        let one = Map::from_iter([("applicationName".to_string(), n.clone())]);
        out.push(application(svc, &one)?);
    }
    Ok(json!({ "applicationsInfo": out }))
}

fn list_applications(svc: &CodeDeployService) -> Result<Value, Error> {
    Ok(json!({ "applications": svc.store.applications().map_err(store_error)? }))
}

fn delete_application(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = text(m, "applicationName").ok_or_else(|| {
        err(
            "ApplicationNameRequiredException",
            "The name of the application is required.",
        )
    })?;
    // Deleting an application that does not exist succeeds, as on AWS.
    svc.store.delete_application(name).map_err(store_error)?;
    Ok(json!({}))
}

/// The traffic routing of a configuration (predefined or custom).
pub(crate) fn routing_of(svc: &CodeDeployService, name: &str) -> Result<Routing, Error> {
    if let Some(r) = routing::predefined(name) {
        return Ok(r);
    }
    let doc = svc
        .store
        .config(name)
        .map_err(store_error)?
        .ok_or_else(|| {
            err(
                "DeploymentConfigDoesNotExistException",
                format!("No deployment configuration found for name: {name}"),
            )
        })?;
    Routing::of(doc.get("trafficRoutingConfig")).map_err(|_| internal())
}

fn config_doc(name: &str, id: &str, created_ms: i64, r: &Routing) -> Value {
    json!({
        "deploymentConfigId": id,
        "deploymentConfigName": name,
        "createTime": seconds(created_ms),
        "computePlatform": "Lambda",
        "trafficRoutingConfig": r.to_json(),
    })
}

fn config_name(m: &Map<String, Value>) -> Result<&str, Error> {
    let name = text(m, "deploymentConfigName").ok_or_else(|| {
        err(
            "DeploymentConfigNameRequiredException",
            "Deployment configuration name is required",
        )
    })?;
    if name.chars().count() > 100 {
        return Err(err(
            "InvalidDeploymentConfigNameException",
            "Deployment configuration name length exceeds the maximum of 100 characters",
        ));
    }
    Ok(name)
}

fn create_config(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = config_name(m)?;
    if m.get("computePlatform").and_then(Value::as_str) != Some("Lambda") {
        return Err(err(
            "InvalidComputePlatformException",
            "Only the Lambda compute platform is supported",
        ));
    }
    if m.contains_key("minimumHealthyHosts") {
        return Err(err(
            "InvalidMinimumHealthyHostValueException",
            "Minimum healthy hosts are not used by the Lambda compute platform",
        ));
    }
    let r = Routing::of(m.get("trafficRoutingConfig")).map_err(|_| {
        err(
            "InvalidTrafficRoutingConfigurationException",
            routing::INVALID,
        )
    })?;
    if name.starts_with("CodeDeployDefault.") || routing::predefined(name).is_some() {
        return Err(err(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration with the name {name} already exists"),
        ));
    }
    let id = stratus_core::ids::uuid().to_string();
    let doc = config_doc(name, &id, now_ms(), &r);
    if !svc.store.create_config(name, &doc).map_err(store_error)? {
        return Err(err(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration with the name {name} already exists"),
        ));
    }
    Ok(json!({ "deploymentConfigId": id }))
}

fn get_config(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = config_name(m)?;
    if let Some(r) = routing::predefined(name) {
        // Predefined configurations have fixed ids and no creation time worth telling.
        return Ok(
            json!({ "deploymentConfigInfo": config_doc(name, &predefined_id(name), 0, &r) }),
        );
    }
    let doc = svc
        .store
        .config(name)
        .map_err(store_error)?
        .ok_or_else(|| {
            err(
                "DeploymentConfigDoesNotExistException",
                format!("No deployment configuration found for name: {name}"),
            )
        })?;
    Ok(json!({ "deploymentConfigInfo": doc }))
}

/// A stable id for a predefined configuration: its place in the list.
fn predefined_id(name: &str) -> String {
    let i = routing::PREDEFINED.iter().position(|(n, _)| *n == name);
    format!("00000000-0000-0000-0000-{:012}", i.unwrap_or(0) + 1)
}

fn list_configs(svc: &CodeDeployService) -> Result<Value, Error> {
    let mut names: Vec<String> = routing::PREDEFINED
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.extend(svc.store.configs().map_err(store_error)?);
    names.sort();
    Ok(json!({ "deploymentConfigsList": names }))
}

fn delete_config(svc: &CodeDeployService, m: &Map<String, Value>) -> Result<Value, Error> {
    let name = config_name(m)?;
    if routing::predefined(name).is_some() {
        return Err(err(
            "InvalidOperationException",
            "The default deployment configurations cannot be deleted",
        ));
    }
    if svc.store.config_in_use(name).map_err(store_error)? {
        return Err(err(
            "DeploymentConfigInUseException",
            format!("The deployment configuration {name} is in use by a deployment group"),
        ));
    }
    svc.store.delete_config(name).map_err(store_error)?;
    Ok(json!({}))
}
