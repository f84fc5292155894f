//! CreateIntegration, GetIntegration(s), UpdateIntegration, DeleteIntegration. Stratus serves
//! Lambda proxy integrations (`AWS_PROXY`), with payload format 2.0 or 1.0.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::Result;

use super::model::*;
use super::{bad_request, conflict, new_id, page, parse, store};
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct IntegrationInput {
    integration_type: Option<String>,
    integration_uri: Option<String>,
    integration_method: Option<String>,
    payload_format_version: Option<String>,
    timeout_in_millis: Option<i64>,
    connection_type: Option<String>,
    description: Option<String>,
}

fn check(input: &IntegrationInput) -> Result<()> {
    match input.integration_type.as_deref() {
        None | Some("AWS_PROXY") => {}
        Some("HTTP_PROXY") => {
            return Err(bad_request(
                "HTTP_PROXY integrations are not supported; use AWS_PROXY with a Lambda function",
            ))
        }
        Some(t) => {
            return Err(bad_request(format!(
                "Invalid integration type {t} for an HTTP API. Supported types are AWS_PROXY and HTTP_PROXY."
            )))
        }
    }
    if let Some(uri) = &input.integration_uri {
        if lambda_target(uri).is_none() {
            return Err(bad_request(format!(
                "Invalid integration URI specified: {uri}. AWS_PROXY integrations take a Lambda function ARN."
            )));
        }
    }
    if let Some(v) = &input.payload_format_version {
        check_payload_format(v)?;
    }
    if let Some(ms) = input.timeout_in_millis {
        check_timeout(ms)?;
    }
    if let Some(m) = &input.integration_method {
        if m != "POST" {
            return Err(bad_request(
                "Lambda proxy integrations must use integrationMethod POST",
            ));
        }
    }
    if let Some(c) = &input.connection_type {
        if c != "INTERNET" {
            return Err(bad_request(format!("Unsupported connectionType: {c}")));
        }
    }
    if let Some(d) = &input.description {
        check_len("description", d, 0, 1024)?;
    }
    Ok(())
}

fn create(input: IntegrationInput) -> Result<Integration> {
    if input.integration_type.is_none() {
        return Err(bad_request("Invalid input: integrationType is required"));
    }
    check(&input)?;
    let uri = input
        .integration_uri
        .ok_or_else(|| bad_request("Integration URI is required for AWS_PROXY integrations"))?;
    let version = input.payload_format_version.ok_or_else(|| {
        bad_request("PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs")
    })?;
    Ok(Integration {
        integration_id: new_id(7),
        integration_type: "AWS_PROXY".into(),
        integration_uri: uri,
        integration_method: "POST".into(),
        payload_format_version: version,
        timeout_in_millis: input.timeout_in_millis.map_or(30_000, |ms| ms as u32),
        connection_type: "INTERNET".into(),
        description: input.description,
        api_gateway_managed: false,
    })
}

pub async fn create_integration(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: IntegrationInput = parse(&body.0)?;
    let i = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let i = create(input.clone())?;
        tx.put_http_api_item(&api, INTEGRATION, &i.integration_id, &i)?;
        store::auto_deploy(tx, &api)?;
        Ok(i)
    })?;
    Ok(json(201, Value::Object(render(&i))))
}

pub async fn get_integration(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    let i = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::integration(tx, &api, &id)
    })?;
    Ok(json(200, Value::Object(render(&i))))
}

pub async fn get_integrations(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all: Vec<Integration> = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.http_api_items(&api, INTEGRATION)
    })?;
    let (items, next) = page(all, |i| &i.integration_id, &q)?;
    let items: Vec<Value> = items.iter().map(|i| Value::Object(render(i))).collect();
    let mut out = json!({ "items": items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(json(200, out))
}

pub async fn update_integration(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: IntegrationInput = parse(&body.0)?;
    check(&input)?;
    let i = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let mut i = store::integration(tx, &api, &id)?;
        if let Some(v) = input.integration_uri.clone() {
            i.integration_uri = v;
        }
        if let Some(v) = input.payload_format_version.clone() {
            i.payload_format_version = v;
        }
        if let Some(v) = input.timeout_in_millis {
            i.timeout_in_millis = v as u32;
        }
        if let Some(v) = input.description.clone() {
            i.description = Some(v);
        }
        tx.put_http_api_item(&api, INTEGRATION, &id, &i)?;
        store::auto_deploy(tx, &api)?;
        Ok(i)
    })?;
    Ok(json(200, Value::Object(render(&i))))
}

pub async fn delete_integration(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::integration(tx, &api, &id)?;
        let target = format!("integrations/{id}");
        let routes: Vec<Route> = tx.http_api_items(&api, ROUTE)?;
        if let Some(r) = routes.iter().find(|r| r.target.as_deref() == Some(&target)) {
            return Err(conflict(format!(
                "Integration {id} is in use by route {}. Remove the route's target first.",
                r.route_id
            )));
        }
        tx.delete_http_api_item(&api, INTEGRATION, &id)?;
        store::auto_deploy(tx, &api)
    })?;
    Ok(no_content())
}
