//! Typed reads and writes of an HTTP API's resources inside one metadata transaction, with
//! API Gateway's not-found messages, and deployments: a deployment freezes the API's routes and
//! integrations; a stage serves the deployment it points at, and stages with `autoDeploy` get a
//! fresh one after every change.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use stratus_core::{Result, ACCOUNT_ID};
use stratus_store::meta::Tx;

use super::model::*;
use super::{new_id, not_found, now_iso};

pub fn api(tx: &Tx, id: &str) -> Result<Api> {
    tx.http_api(id)?.ok_or_else(|| {
        not_found(format!(
            "Invalid API identifier specified {ACCOUNT_ID}:{id}"
        ))
    })
}

fn item<T: DeserializeOwned>(tx: &Tx, api: &str, kind: &str, id: &str, what: &str) -> Result<T> {
    tx.http_api_item(api, kind, id)?
        .ok_or_else(|| not_found(format!("Invalid {what} identifier specified {id}")))
}

pub fn integration(tx: &Tx, api: &str, id: &str) -> Result<Integration> {
    item(tx, api, INTEGRATION, id, "Integration")
}

pub fn route(tx: &Tx, api: &str, id: &str) -> Result<Route> {
    item(tx, api, ROUTE, id, "Route")
}

pub fn stage(tx: &Tx, api: &str, name: &str) -> Result<Stage> {
    item(tx, api, STAGE, name, "stage")
}

pub fn deployment(tx: &Tx, api: &str, id: &str) -> Result<Deployment> {
    item(tx, api, DEPLOYMENT, id, "Deployment")
}

/// Freezes the API's current routes, integrations and authorizers into a new deployment.
pub fn deploy(tx: &Tx, api: &str, description: Option<String>, auto: bool) -> Result<Deployment> {
    let snapshot = Snapshot {
        routes: tx.http_api_items(api, ROUTE)?,
        integrations: tx.http_api_items(api, INTEGRATION)?,
        authorizers: tx.http_api_items(api, super::authorizers::AUTHORIZER)?,
    };
    let d = Deployment {
        deployment_id: new_id(6),
        created_date: now_iso(),
        description,
        auto_deployed: auto,
        deployment_status: "DEPLOYED".into(),
    };
    tx.put_http_api_item(api, SNAPSHOT, &d.deployment_id, &snapshot)?;
    tx.put_http_api_item(api, DEPLOYMENT, &d.deployment_id, &d)?;
    Ok(d)
}

/// Points a stage at a deployment.
pub fn point(tx: &Tx, api: &str, stage: &mut Stage, deployment_id: &str) -> Result<()> {
    stage.deployment_id = Some(deployment_id.to_string());
    stage.last_updated_date = now_iso();
    stage.last_deployment_status_message = Some(format!(
        "Successfully deployed stage with deployment ID '{deployment_id}'"
    ));
    tx.put_http_api_item(api, STAGE, &stage.stage_name, stage)
}

/// After a change to routes or integrations: deploys to every stage with `autoDeploy`, and
/// forgets the automatic deployments no stage uses any more.
pub fn auto_deploy(tx: &Tx, api: &str) -> Result<()> {
    let stages: Vec<Stage> = tx.http_api_items(api, STAGE)?;
    let mut auto: Vec<Stage> = stages.into_iter().filter(|s| s.auto_deploy).collect();
    if auto.is_empty() {
        return Ok(());
    }
    let d = deploy(tx, api, None, true)?;
    let previous: BTreeSet<String> = auto
        .iter()
        .filter_map(|s| s.deployment_id.clone())
        .collect();
    for s in &mut auto {
        point(tx, api, s, &d.deployment_id)?;
    }
    prune(tx, api, previous)
}

/// Deletes automatic deployments among `candidates` that no stage points at.
fn prune(tx: &Tx, api: &str, candidates: BTreeSet<String>) -> Result<()> {
    let used: BTreeSet<String> = tx
        .http_api_items::<Stage>(api, STAGE)?
        .into_iter()
        .filter_map(|s| s.deployment_id)
        .collect();
    for id in candidates.difference(&used) {
        let d: Option<Deployment> = tx.http_api_item(api, DEPLOYMENT, id)?;
        if d.is_some_and(|d| d.auto_deployed) {
            tx.delete_http_api_item(api, DEPLOYMENT, id)?;
            tx.delete_http_api_item(api, SNAPSHOT, id)?;
        }
    }
    Ok(())
}

/// What a stage serves, if it has been deployed.
pub fn served(tx: &Tx, api: &str, stage: &Stage) -> Result<Option<Snapshot>> {
    match &stage.deployment_id {
        Some(id) => tx.http_api_item(api, SNAPSHOT, id),
        None => Ok(None),
    }
}
