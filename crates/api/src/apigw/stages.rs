//! CreateStage, GetStage(s), UpdateStage, DeleteStage, and the deployments stages serve:
//! CreateDeployment, GetDeployment(s), DeleteDeployment.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::Result;

use super::access_log::AccessLogSettings;
use super::model::*;
use super::{bad_request, conflict, now_iso, page, parse, store};
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct StageInput {
    stage_name: Option<String>,
    auto_deploy: Option<bool>,
    stage_variables: Option<BTreeMap<String, String>>,
    description: Option<String>,
    deployment_id: Option<String>,
    default_route_settings: Option<Value>,
    route_settings: Option<Value>,
    tags: Option<BTreeMap<String, String>>,
    access_log_settings: Option<AccessLogSettings>,
}

fn check(input: &StageInput) -> Result<()> {
    if let Some(v) = &input.stage_variables {
        check_stage_variables(v)?;
    }
    if let Some(d) = &input.description {
        check_len("description", d, 0, 1024)?;
    }
    if let Some(a) = &input.access_log_settings {
        super::access_log::check(a)?;
    }
    Ok(())
}

fn new_stage(name: String, input: StageInput) -> Stage {
    let now = now_iso();
    Stage {
        stage_name: name,
        auto_deploy: input.auto_deploy.unwrap_or(false),
        stage_variables: input.stage_variables.unwrap_or_default(),
        description: input.description,
        deployment_id: input.deployment_id,
        created_date: now.clone(),
        last_updated_date: now,
        default_route_settings: input
            .default_route_settings
            .unwrap_or_else(|| json!({"detailedMetricsEnabled": false})),
        route_settings: input.route_settings.unwrap_or_else(|| json!({})),
        tags: input.tags.unwrap_or_default(),
        api_gateway_managed: false,
        last_deployment_status_message: None,
        access_log_settings: input.access_log_settings,
    }
}

fn list<T: serde::Serialize>(items: Vec<T>, next: Option<String>) -> Value {
    let items: Vec<Value> = items.iter().map(|i| Value::Object(render(i))).collect();
    let mut out = json!({ "items": items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    out
}

pub async fn create_stage(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: StageInput = parse(&body.0)?;
    let name = input
        .stage_name
        .clone()
        .ok_or_else(|| bad_request("Invalid input: stageName is required"))?;
    check_stage_name(&name)?;
    check(&input)?;
    let stage = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        if tx.http_api_item::<Stage>(&api, STAGE, &name)?.is_some() {
            return Err(conflict(format!("Stage {name} already exists")));
        }
        if let Some(d) = &input.deployment_id {
            store::deployment(tx, &api, d)?;
        }
        let mut stage = new_stage(name.clone(), input.clone());
        tx.put_http_api_item(&api, STAGE, &name, &stage)?;
        if stage.auto_deploy {
            let d = store::deploy(tx, &api, None, true)?;
            store::point(tx, &api, &mut stage, &d.deployment_id)?;
        }
        Ok(stage)
    })?;
    Ok(json(201, Value::Object(render(&stage))))
}

pub async fn get_stage(
    State(s): State<Shared>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult {
    let stage = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::stage(tx, &api, &name)
    })?;
    Ok(json(200, Value::Object(render(&stage))))
}

pub async fn get_stages(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all: Vec<Stage> = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.http_api_items(&api, STAGE)
    })?;
    let (items, next) = page(all, |s| &s.stage_name, &q)?;
    Ok(json(200, list(items, next)))
}

fn apply(stage: &mut Stage, input: StageInput) {
    if let Some(v) = input.auto_deploy {
        stage.auto_deploy = v;
    }
    if let Some(v) = input.stage_variables {
        stage.stage_variables = v;
    }
    if let Some(v) = input.description {
        stage.description = Some(v);
    }
    if let Some(v) = input.default_route_settings {
        stage.default_route_settings = v;
    }
    if let Some(v) = input.route_settings {
        stage.route_settings = v;
    }
    if let Some(v) = input.access_log_settings {
        stage.access_log_settings = Some(v);
    }
    stage.last_updated_date = now_iso();
}

pub async fn update_stage(
    State(s): State<Shared>,
    Path((api, name)): Path<(String, String)>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: StageInput = parse(&body.0)?;
    check(&input)?;
    let stage = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let mut stage = store::stage(tx, &api, &name)?;
        let deployment = input.deployment_id.clone();
        if let Some(d) = &deployment {
            store::deployment(tx, &api, d)?;
        }
        let was_auto = stage.auto_deploy;
        apply(&mut stage, input.clone());
        tx.put_http_api_item(&api, STAGE, &name, &stage)?;
        if let Some(d) = deployment {
            store::point(tx, &api, &mut stage, &d)?;
        } else if stage.auto_deploy && !was_auto {
            let d = store::deploy(tx, &api, None, true)?;
            store::point(tx, &api, &mut stage, &d.deployment_id)?;
        }
        Ok(stage)
    })?;
    Ok(json(200, Value::Object(render(&stage))))
}

pub async fn delete_stage(
    State(s): State<Shared>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::stage(tx, &api, &name)?;
        tx.delete_http_api_item(&api, STAGE, &name)
    })?;
    Ok(no_content())
}

/// DeleteAccessLogSettings: the stage stops logging.
pub async fn delete_access_log_settings(
    State(s): State<Shared>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let mut stage = store::stage(tx, &api, &name)?;
        stage.access_log_settings = None;
        tx.put_http_api_item(&api, STAGE, &name, &stage)
    })?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeploymentInput {
    stage_name: Option<String>,
    description: Option<String>,
}

pub async fn create_deployment(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: DeploymentInput = parse(&body.0)?;
    if let Some(d) = &input.description {
        check_len("description", d, 0, 1024)?;
    }
    let d = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let stage = match &input.stage_name {
            Some(n) => Some(store::stage(tx, &api, n)?),
            None => None,
        };
        let d = store::deploy(tx, &api, input.description.clone(), false)?;
        if let Some(mut stage) = stage {
            store::point(tx, &api, &mut stage, &d.deployment_id)?;
        }
        Ok(d)
    })?;
    Ok(json(201, Value::Object(render(&d))))
}

pub async fn get_deployment(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    let d = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::deployment(tx, &api, &id)
    })?;
    Ok(json(200, Value::Object(render(&d))))
}

pub async fn get_deployments(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all: Vec<Deployment> = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.http_api_items(&api, DEPLOYMENT)
    })?;
    let (items, next) = page(all, |d| &d.deployment_id, &q)?;
    Ok(json(200, list(items, next)))
}

pub async fn delete_deployment(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::deployment(tx, &api, &id)?;
        let stages: Vec<Stage> = tx.http_api_items(&api, STAGE)?;
        if stages
            .iter()
            .any(|s| s.deployment_id.as_deref() == Some(&id))
        {
            return Err(bad_request(
                "Active stages pointing to this deployment must be moved or deleted",
            ));
        }
        tx.delete_http_api_item(&api, DEPLOYMENT, &id)?;
        tx.delete_http_api_item(&api, SNAPSHOT, &id)
    })?;
    Ok(no_content())
}
