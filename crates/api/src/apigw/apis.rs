//! CreateApi (with quick create), GetApi, GetApis, UpdateApi, DeleteApi.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::Result;
use stratus_store::meta::Tx;

use super::model::*;
use super::{bad_request, new_id, now_iso, page, parse, store};
use crate::auth::Caller;
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

const ROUTE_SELECTION: &str = "$request.method $request.path";

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ApiInput {
    name: Option<String>,
    protocol_type: Option<String>,
    description: Option<String>,
    target: Option<String>,
    route_key: Option<String>,
    route_selection_expression: Option<String>,
    api_key_selection_expression: Option<String>,
    disable_execute_api_endpoint: Option<bool>,
    version: Option<String>,
    cors_configuration: Option<Value>,
    tags: Option<BTreeMap<String, String>>,
    ip_address_type: Option<String>,
}

/// Where an API is served: its own host name, `http://<id>.execute-api.localhost:<port>`, on
/// the port the request came in on (`*.localhost` resolves to the loopback address). Paths
/// then reach the function as they are, so an application's redirects and root-relative
/// links work; the path form (`/_aws/execute-api/<id>/...`) stays as a fallback.
pub fn endpoint(headers: &HeaderMap, api_id: &str) -> String {
    let port = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(crate::function_url::port_of);
    match port {
        Some(p) => format!("http://{api_id}.execute-api.localhost:{p}"),
        None => format!("http://{api_id}.execute-api.localhost"),
    }
}

fn render_api(api: &Api, headers: &HeaderMap) -> Value {
    let mut m = render(api);
    m.insert("apiEndpoint".into(), json!(endpoint(headers, &api.api_id)));
    Value::Object(m)
}

/// Checks the members CreateApi and UpdateApi share.
fn check_common(input: &ApiInput) -> Result<()> {
    if let Some(n) = &input.name {
        check_len("name", n, 1, 128)?;
    }
    if let Some(d) = &input.description {
        check_len("description", d, 0, 1024)?;
    }
    if let Some(v) = &input.version {
        check_len("version", v, 1, 64)?;
    }
    if let Some(e) = &input.route_selection_expression {
        if e != ROUTE_SELECTION {
            return Err(bad_request(format!(
                "Unsupported route selection expression for HTTP API: {e}"
            )));
        }
    }
    if let Some(t) = &input.target {
        if lambda_target(t).is_none() {
            return Err(bad_request(format!(
                "Invalid target: {t}. Stratus supports Lambda function ARNs as targets."
            )));
        }
    }
    if let Some(k) = &input.route_key {
        super::routing::parse_key(k)?;
    }
    if let Some(ip) = &input.ip_address_type {
        if ip != "ipv4" && ip != "dualstack" {
            return Err(bad_request(format!("Invalid ipAddressType: {ip}")));
        }
    }
    Ok(())
}

fn check_create(input: &ApiInput) -> Result<(String, String)> {
    let name = input
        .name
        .clone()
        .ok_or_else(|| bad_request("Invalid input: name is required"))?;
    let protocol = input
        .protocol_type
        .clone()
        .ok_or_else(|| bad_request("Invalid input: protocolType is required"))?;
    match protocol.as_str() {
        "HTTP" => {}
        "WEBSOCKET" => {
            return Err(bad_request(
                "WebSocket APIs are not supported; use protocolType HTTP",
            ))
        }
        p => return Err(bad_request(format!("Invalid protocolType: {p}"))),
    }
    if input.route_key.is_some() && input.target.is_none() {
        return Err(bad_request("routeKey can only be specified with target"));
    }
    check_common(input)?;
    Ok((name, protocol))
}

/// Quick create: an AWS_PROXY integration to the target, a route to it (`$default` unless a
/// route key is given) and an auto-deploying `$default` stage, all managed by the gateway.
fn quick_create(tx: &Tx, api: &str, target: &str, route_key: Option<&str>) -> Result<()> {
    let integration = Integration {
        integration_id: new_id(7),
        integration_type: "AWS_PROXY".into(),
        integration_uri: target.to_string(),
        integration_method: "POST".into(),
        payload_format_version: "2.0".into(),
        timeout_in_millis: 30_000,
        connection_type: "INTERNET".into(),
        description: None,
        api_gateway_managed: true,
    };
    let route = Route {
        route_id: new_id(7),
        route_key: route_key.unwrap_or("$default").to_string(),
        target: Some(format!("integrations/{}", integration.integration_id)),
        authorization_type: "NONE".into(),
        authorizer_id: None,
        authorization_scopes: Vec::new(),
        api_key_required: false,
        operation_name: None,
        api_gateway_managed: true,
    };
    let now = now_iso();
    let stage = Stage {
        stage_name: DEFAULT_STAGE.into(),
        auto_deploy: true,
        stage_variables: BTreeMap::new(),
        description: None,
        deployment_id: None,
        created_date: now.clone(),
        last_updated_date: now,
        default_route_settings: json!({"detailedMetricsEnabled": false}),
        route_settings: json!({}),
        tags: BTreeMap::new(),
        api_gateway_managed: true,
        last_deployment_status_message: None,
        access_log_settings: None,
    };
    tx.put_http_api_item(api, INTEGRATION, &integration.integration_id, &integration)?;
    tx.put_http_api_item(api, ROUTE, &route.route_id, &route)?;
    tx.put_http_api_item(api, STAGE, &stage.stage_name, &stage)?;
    store::auto_deploy(tx, api)
}

pub async fn create_api(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: ApiInput = parse(&body.0)?;
    let (name, protocol_type) = check_create(&input)?;
    let api = Api {
        api_id: new_id(10),
        name,
        protocol_type,
        description: input.description.clone(),
        created_date: now_iso(),
        route_selection_expression: ROUTE_SELECTION.into(),
        api_key_selection_expression: input
            .api_key_selection_expression
            .clone()
            .unwrap_or_else(|| "$request.header.x-api-key".into()),
        disable_execute_api_endpoint: input.disable_execute_api_endpoint.unwrap_or(false),
        version: input.version.clone(),
        cors_configuration: input.cors_configuration.clone(),
        tags: input.tags.clone().unwrap_or_default(),
        ip_address_type: input
            .ip_address_type
            .clone()
            .unwrap_or_else(|| "ipv4".into()),
        region: c.region.clone(),
    };
    s.stores.meta.tx(|tx| {
        tx.put_http_api(&api.api_id, &api)?;
        match &input.target {
            Some(t) => quick_create(tx, &api.api_id, t, input.route_key.as_deref()),
            None => Ok(()),
        }
    })?;
    Ok(json(201, render_api(&api, &headers)))
}

pub async fn get_api(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let api = s.stores.meta.tx(|tx| store::api(tx, &id))?;
    Ok(json(200, render_api(&api, &headers)))
}

pub async fn get_apis(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let all: Vec<Api> = s
        .stores
        .meta
        .tx(|tx| tx.http_apis_after("", usize::MAX >> 1))?;
    let (items, next) = page(all, |a| &a.api_id, &q)?;
    let items: Vec<Value> = items.iter().map(|a| render_api(a, &headers)).collect();
    let mut out = json!({ "items": items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(json(200, out))
}

/// Applies `target` / `routeKey` to a quick-created API's managed integration and route.
fn update_managed(tx: &Tx, api: &str, input: &ApiInput) -> Result<()> {
    let not_quick =
        || bad_request("Only APIs created with quick create can update target or routeKey");
    if let Some(t) = &input.target {
        let mut i = tx
            .http_api_items::<Integration>(api, INTEGRATION)?
            .into_iter()
            .find(|i| i.api_gateway_managed)
            .ok_or_else(not_quick)?;
        i.integration_uri = t.clone();
        tx.put_http_api_item(api, INTEGRATION, &i.integration_id, &i)?;
    }
    if let Some(k) = &input.route_key {
        let mut r = tx
            .http_api_items::<Route>(api, ROUTE)?
            .into_iter()
            .find(|r| r.api_gateway_managed)
            .ok_or_else(not_quick)?;
        r.route_key = k.clone();
        tx.put_http_api_item(api, ROUTE, &r.route_id, &r)?;
    }
    store::auto_deploy(tx, api)
}

pub async fn update_api(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: ApiInput = parse(&body.0)?;
    check_common(&input)?;
    let api = s.stores.meta.tx(|tx| {
        let mut api = store::api(tx, &id)?;
        if let Some(p) = &input.protocol_type {
            if p != &api.protocol_type {
                return Err(bad_request("protocolType cannot be changed"));
            }
        }
        if input.target.is_some() || input.route_key.is_some() {
            update_managed(tx, &id, &input)?;
        }
        apply(&mut api, input.clone());
        tx.put_http_api(&id, &api)?;
        Ok(api)
    })?;
    Ok(json(200, render_api(&api, &headers)))
}

fn apply(api: &mut Api, input: ApiInput) {
    if let Some(v) = input.name {
        api.name = v;
    }
    if let Some(v) = input.description {
        api.description = Some(v);
    }
    if let Some(v) = input.disable_execute_api_endpoint {
        api.disable_execute_api_endpoint = v;
    }
    if let Some(v) = input.version {
        api.version = Some(v);
    }
    if let Some(v) = input.cors_configuration {
        api.cors_configuration = Some(v);
    }
    if let Some(v) = input.api_key_selection_expression {
        api.api_key_selection_expression = v;
    }
    if let Some(v) = input.ip_address_type {
        api.ip_address_type = v;
    }
}

pub async fn delete_api(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &id)?;
        tx.delete_http_api(&id)
    })?;
    Ok(no_content())
}
